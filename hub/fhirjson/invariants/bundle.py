"""Invariants of Bundle (bdl-1..12) and Parameters (inv-1)."""

from __future__ import annotations

from typing import Any

from hub.fhirjson.invariants.common import Found, has, has_choice

_BUNDLE_REQUEST = ("batch", "transaction", "history")
_BUNDLE_RESPONSE = ("batch-response", "transaction-response", "history")


def bdl_bundle(obj: dict) -> Found:
    kind = obj.get("type")
    entries = [(i, e) for i, e in enumerate(obj.get("entry") or []) if isinstance(e, dict)]
    # bdl-1: total.empty() or (type = 'searchset') or (type = 'history')
    if has(obj, "total") and kind not in ("searchset", "history"):
        yield ("total only in a searchset or history Bundle", ".total", "bdl-1")
    for i, entry in entries:
        # bdl-2: entry.search.empty() or (type = 'searchset')
        if "search" in entry and kind != "searchset":
            yield ("entry.search only in a searchset Bundle", f".entry[{i}].search", "bdl-2")
        # bdl-3: entry.all(request.exists() = (%resource.type = 'batch' or 'transaction' or
        # 'history'))
        if ("request" in entry) != (kind in _BUNDLE_REQUEST):
            yield (("every entry of a batch, transaction or history Bundle needs a request"
                    if kind in _BUNDLE_REQUEST else
                    "entry.request only in a batch, transaction or history Bundle"),
                   f".entry[{i}].request", "bdl-3")
        # bdl-4: entry.all(response.exists() = (%resource.type = 'batch-response' or
        # 'transaction-response' or 'history'))
        if ("response" in entry) != (kind in _BUNDLE_RESPONSE):
            yield (("every entry of a batch-response, transaction-response or history Bundle "
                    "needs a response" if kind in _BUNDLE_RESPONSE else
                    "entry.response only in a batch-response, transaction-response or "
                    "history Bundle"), f".entry[{i}].response", "bdl-4")
    # bdl-7: (type = 'history') or entry.where(fullUrl.exists()).select(fullUrl &
    # resource.meta.versionId).isDistinct()
    if kind != "history":
        seen: set[tuple[Any, Any]] = set()
        for i, entry in entries:
            if "fullUrl" not in entry:
                continue
            resource = entry.get("resource")
            meta = resource.get("meta") if isinstance(resource, dict) else None
            key = (entry["fullUrl"], meta.get("versionId") if isinstance(meta, dict) else None)
            if key in seen:
                yield ("fullUrl (with meta.versionId) must be unique in a Bundle other than "
                       "history", f".entry[{i}].fullUrl", "bdl-7")
            seen.add(key)
    if kind == "document":
        # bdl-9: identifier.system.exists() and identifier.value.exists()
        ident = obj.get("identifier")
        if not (isinstance(ident, dict) and has(ident, "system") and has(ident, "value")):
            yield ("a document Bundle needs an identifier with a system and a value",
                   ".identifier", "bdl-9")
        # bdl-10: timestamp.hasValue()
        if "timestamp" not in obj:
            yield ("a document Bundle needs a timestamp", ".timestamp", "bdl-10")
        # bdl-11: entry.first().resource.is(Composition)
        if _first_resource_type(obj) != "Composition":
            yield ("the first entry of a document Bundle is a Composition", ".entry[0]",
                   "bdl-11")
    # bdl-12: type = 'message' implies entry.first().resource.is(MessageHeader)
    if kind == "message" and _first_resource_type(obj) != "MessageHeader":
        yield ("the first entry of a message Bundle is a MessageHeader", ".entry[0]", "bdl-12")


def _first_resource_type(bundle: dict) -> Any:
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        return None
    resource = entries[0].get("resource")
    return resource.get("resourceType") if isinstance(resource, dict) else None


def bdl_entry(obj: dict) -> Found:
    # bdl-5: resource.exists() or request.exists() or response.exists()
    if not has(obj, "resource", "request", "response"):
        yield ("an entry needs a resource, a request or a response", "", "bdl-5")
    # bdl-8: fullUrl.exists() implies fullUrl.contains('/_history/').not()
    if isinstance(obj.get("fullUrl"), str) and "/_history/" in obj["fullUrl"]:
        yield ("fullUrl cannot be a version-specific reference", ".fullUrl", "bdl-8")


def parameters_inv_1(obj: dict) -> Found:
    # (part.exists() and value.empty() and resource.empty()) or (part.empty() and
    # (value.exists() xor resource.exists()))
    value, resource = has_choice(obj, "value"), "resource" in obj
    if "part" in obj:
        if value or resource:
            yield ("a parameter has parts, or a value or a resource", "", "inv-1")
    elif value == resource:
        yield ("a parameter has either a value[x] or a resource", "", "inv-1")
