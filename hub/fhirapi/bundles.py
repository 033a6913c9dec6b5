"""Transaction and batch Bundles (``POST /fhir``).

A transaction runs in one database transaction: all entries or none. Entries are
processed in the FHIR order (DELETE, POST, PUT/PATCH, GET); POST entries get their ids
first so that ``urn:uuid:`` fullUrls and conditional references (``Patient?identifier=``)
in any resource are rewritten to ``Type/id`` before anything is stored. A batch runs each
entry in its own transaction and reports each entry's status and OperationOutcome.
The response lists the entries in the order of the request. An entry naming an operation
(``POST ValueSet/$lookup``) is not run (404, not-supported): in a batch that entry alone, in
a transaction the whole Bundle before anything runs (all or nothing, R4 http.html). GET
entries honour ``ifNoneMatch`` / ``ifModifiedSince`` (304).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl

from hub.clock import utcnow
from hub.errors import BadRequest, HubError, Issue, MethodNotAllowed, NotFound, PreconditionFailed
from hub.fhirapi import interactions as ia
from hub.fhirapi.search import search
from hub.fhirapi.validation import check_type, validate_bundle
from hub.fhirstore.dates import date_range, instant
from hub.fhirstore.searchparams import SUPPORTED_TYPES, split_reference

_STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass
class Entry:
    index: int
    method: str
    path: str  # Type, Type/id, Type/id/_history/v
    query: list[tuple[str, str]]
    full_url: str | None
    resource: dict | None
    request: dict
    new_id: str | None = None
    response: dict = field(default_factory=dict)


def _entries(bundle: dict) -> list[Entry]:
    out = []
    for i, raw in enumerate(bundle.get("entry") or []):
        req = (raw or {}).get("request") or {}
        method, url = str(req.get("method", "")).upper(), req.get("url")
        if method not in _ORDER or not isinstance(url, str) or not url:
            raise BadRequest(f"Bundle.entry[{i}] needs request.method and request.url",
                             path=f"Bundle.entry[{i}].request")
        path, _, qs = url.lstrip("/").partition("?")
        resource = raw.get("resource")
        if method in ("POST", "PUT") and not isinstance(resource, dict):
            raise BadRequest(f"Bundle.entry[{i}] ({method}) needs a resource",
                             path=f"Bundle.entry[{i}].resource")
        out.append(Entry(i, method, path, parse_qsl(qs, keep_blank_values=True),
                         raw.get("fullUrl"), resource, req))
    return out


def _status(code: int) -> str:
    return _STATUS_TEXT.get(code, str(code))


def _body(e: Entry) -> dict[str, Any]:
    """The resource of a POST/PUT entry (its presence was checked when the Bundle was read)."""
    return cast(dict[str, Any], e.resource)


def _write_entry(res, code: int, prefer: str | None, message: str) -> dict:
    response: dict[str, Any] = {"status": _status(code)}
    if res is not None and res.content is not None:
        response.update(location=f"{res.type}/{res.id}/_history/{res.version_id}",
                        etag=res.etag, lastModified=instant(res.last_updated))
    entry = {"response": response}
    if prefer == "OperationOutcome":
        response["outcome"] = {"resourceType": "OperationOutcome", "issue": [{
            "severity": "information", "code": "informational", "diagnostics": message}]}
    elif prefer != "minimal" and res is not None and res.content is not None:
        entry["resource"] = res.content
    return entry


def _resolve_references(ctx: ia.Ctx, node, refmap: dict[str, str]) -> None:
    """Rewrite urn:uuid and conditional references inside a resource, in place."""
    if isinstance(node, list):
        for item in node:
            _resolve_references(ctx, item, refmap)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "reference" and isinstance(value, str):
            if value in refmap:
                node[key] = refmap[value]
            elif value.startswith(("urn:uuid:", "urn:oid:")):
                raise BadRequest(f"reference {value} does not resolve to an entry",
                                 issues=[Issue(f"reference {value} does not resolve",
                                               code="not-found")])
            elif "?" in value:
                node[key] = _conditional_reference(ctx, value)
        else:
            _resolve_references(ctx, value, refmap)


def _conditional_reference(ctx: ia.Ctx, value: str) -> str:
    """The ``Type/id`` of the single match of a conditional reference. It is a search
    whose answer (the id) the caller gets back: ``s`` and ``r`` on the target type."""
    rtype, _, qs = value.partition("?")
    check_type(rtype)
    ctx.require(rtype, "rs")
    matches = ia.find_conditional(ctx, rtype, parse_qsl(qs, keep_blank_values=True))
    if len(matches) != 1:
        raise PreconditionFailed(f"conditional reference {value} matches {len(matches)} "
                                 "resources (exactly one needed)")
    return matches[0].reference


def _operation(e: Entry) -> str | None:
    """The ``$name`` of an operation entry (``POST ValueSet/$lookup``), else None."""
    return next((p for p in e.path.split("/") if p.startswith("$")), None)


def _unsupported_operation(e: Entry, op: str) -> HubError:
    """No operation runs inside a Bundle here (the hub has no terminology service, and
    its own operations are GETs of their own URL): the entry is refused as not supported,
    with a 404 as any request naming a type or operation the hub does not serve."""
    rtype = e.path.split("/")[0]
    served = rtype in SUPPORTED_TYPES or rtype == ""
    why = f"{op} is not an operation this server runs in a Bundle" if served else \
        f"{rtype} is not a type this server serves, so neither is {rtype}/{op}"
    return NotFound(why, issues=[Issue(why, code="not-supported",
                                       path=f"Bundle.entry[{e.index}].request.url")])


def _not_modified(e: Entry, found) -> bool:
    """A conditional read in a Bundle (``ifNoneMatch`` / ``ifModifiedSince``, R4
    http.html#cread) whose version the client holds: answered 304."""
    none_match = e.request.get("ifNoneMatch")
    if isinstance(none_match, str):  # it decides alone when given (RFC 9110 13.2.2)
        return none_match.strip() in ("*", found.etag, found.etag.removeprefix("W/"))
    since = e.request.get("ifModifiedSince")
    if isinstance(since, str):
        try:
            stamp = date_range(since)[0]
        except ValueError:
            return False
        return found.last_updated.replace(tzinfo=None) <= stamp.replace(tzinfo=None)
    return False


def _execute(ctx: ia.Ctx, e: Entry, base: str, prefer: str | None) -> dict:
    """Run one entry; its response entry."""
    parts = e.path.split("/")
    rtype = parts[0]
    op = _operation(e)
    if op is not None:
        raise _unsupported_operation(e, op)
    if_match = ia.if_match_version(e.request.get("ifMatch"))
    if e.method == "DELETE" and len(parts) == 2:
        result = ia.delete(ctx, rtype, parts[1])
        return _write_entry(None, 204, prefer, result.message)
    if e.method == "DELETE" and len(parts) == 1 and e.query:
        result = ia.conditional_delete(ctx, rtype, e.query)
        return _write_entry(None, 204, prefer, result.message)
    if e.method == "POST" and len(parts) == 1:
        result = ia.create(ctx, rtype, _body(e), e.request.get("ifNoneExist"), e.new_id)
        return _write_entry(result.resource, result.status, prefer, result.message)
    if e.method == "PUT" and len(parts) == 2:
        result = ia.update(ctx, rtype, parts[1], _body(e), if_match)
        return _write_entry(result.resource, result.status, prefer, result.message)
    if e.method == "PUT" and len(parts) == 1 and e.query:
        result = ia.conditional_update(ctx, rtype, e.query, _body(e), if_match,
                                       server_id=e.new_id)
        return _write_entry(result.resource, result.status, prefer, result.message)
    if e.method in ("GET", "HEAD"):
        if len(parts) == 1:
            return {"resource": search(ctx, rtype, e.query, base=base),
                    "response": {"status": "200 OK"}}
        found = ia.read(ctx, rtype, parts[1]) if len(parts) == 2 else \
            ia.vread(ctx, rtype, parts[1], parts[3]) if len(parts) == 4 and \
            parts[2] == "_history" else None
        if found is None or found.resource is None:
            raise BadRequest(f"unsupported GET {e.path}")
        if _not_modified(e, found.resource):
            return {"response": {"status": "304 Not Modified", "etag": found.resource.etag,
                                 "lastModified": instant(found.resource.last_updated)}}
        return {"resource": found.resource.content,
                "response": {"status": "200 OK", "etag": found.resource.etag,
                             "lastModified": instant(found.resource.last_updated)}}
    raise MethodNotAllowed(f"{e.method} {e.path} is not supported in a Bundle")


def _prepare(ctx: ia.Ctx, entries: list[Entry]) -> None:
    """Assign ids to POST entries, map fullUrls, rewrite references (transaction only)."""
    refmap: dict[str, str] = {}
    for e in entries:
        rtype = e.path.split("/")[0]
        if e.method == "POST":
            e.new_id = ia._new_id()
            if e.request.get("ifNoneExist"):
                matches = ia.find_conditional(ctx, rtype, parse_qsl(
                    e.request["ifNoneExist"].split("?", 1)[-1], keep_blank_values=True))
                if len(matches) == 1:
                    e.new_id = matches[0].id
            target = f"{rtype}/{e.new_id}"
        elif e.method == "PUT" and "/" in e.path:
            target = "/".join(e.path.split("/")[:2])
        elif e.method == "PUT" and e.query:
            matches = ia.find_conditional(ctx, rtype, e.query)
            e.new_id = matches[0].id if len(matches) == 1 else (
                (e.resource or {}).get("id") or ia._new_id())
            target = f"{rtype}/{e.new_id}"
        else:
            continue
        if e.full_url:
            refmap[e.full_url] = target
            split = split_reference(e.full_url)
            if split and e.full_url.startswith("http"):
                refmap[f"{split[0]}/{split[1]}"] = target
    for e in entries:
        if e.resource is not None:
            _resolve_references(ctx, e.resource, refmap)


def _with_entry(err: HubError, e: Entry) -> HubError:
    rtype = e.path.split("/")[0]
    for issue in err.issues:
        issue.message = f"Bundle.entry[{e.index}] ({e.method} {e.path}): {issue.message}"
        if issue.path and (issue.path == rtype or issue.path.startswith(rtype + ".")):
            issue.path = f"Bundle.entry[{e.index}].resource{issue.path[len(rtype):]}"
    err.message = err.issues[0].message if err.issues else err.message
    return err


def transaction(ctx: ia.Ctx, bundle: dict, base: str, prefer: str | None) -> dict:
    """Process a transaction Bundle in ``ctx``'s transaction; HubError fails all of it."""
    validate_bundle(bundle)
    entries = _entries(bundle)
    for e in entries:  # all or nothing (R4 http.html#transaction): refused before any runs
        op = _operation(e)
        if op is not None:
            raise _with_entry(_unsupported_operation(e, op), e)
    _check_duplicates(entries)
    order = sorted(entries, key=lambda e: (_ORDER[e.method], e.index))
    for e in entries:
        if e.resource is not None:
            e.resource = _copy(e.resource)
    _prepare(ctx, entries)
    ctx.deferred = []
    for e in order:
        try:
            e.response = _execute(ctx, e, base, prefer)
        except HubError as err:
            raise _with_entry(err, e) from None
    ia.run_deferred(ctx)
    return _response_bundle("transaction-response", entries)


def _copy(node):
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _check_duplicates(entries: list[Entry]) -> None:
    seen = set()
    for e in entries:
        if e.method in ("PUT", "DELETE") and "/" in e.path:
            key = "/".join(e.path.split("/")[:2])
            if key in seen:
                raise BadRequest(f"{key} appears in more than one entry of the transaction",
                                 path=f"Bundle.entry[{e.index}].request.url")
            seen.add(key)


def batch(run_entry, bundle: dict, base: str, prefer: str | None) -> dict:
    """Process a batch: ``run_entry(fn)`` runs ``fn(ctx)`` in its own transaction."""
    validate_bundle(bundle)
    entries = _entries(bundle)
    for e in entries:
        try:
            e.response = run_entry(lambda ctx, e=e: _batch_entry(ctx, e, base, prefer))
        except HubError as err:
            e.response = {"response": {"status": str(err.status),
                                       "outcome": err.to_operation_outcome()}}
    return _response_bundle("batch-response", entries)


def _batch_entry(ctx: ia.Ctx, e: Entry, base: str, prefer: str | None) -> dict:
    if e.resource is not None:
        e.resource = _copy(e.resource)
        _resolve_references(ctx, e.resource, {})
    return _execute(ctx, e, base, prefer)


def final_versions(response: dict, read) -> None:
    """Answer the written resources of a transaction-response Bundle (or of one batch
    entry's response) as they are now, in place: a finish hook (the case projection) may
    have written a newer version onto a resource after its entry ran, and an If-Match with
    the entry's ``etag`` must hold. ``read(type, id)`` is the store's current version."""
    entries = response.get("entry") if response.get("resourceType") == "Bundle" \
        else [response]
    for entry in entries or []:
        answer = entry.get("response") if isinstance(entry, dict) else None
        if not isinstance(answer, dict):
            continue
        location = answer.get("location")
        if not isinstance(location, str) or "/_history/" not in location:
            continue
        rtype, rid = location.split("/_history/")[0].split("/")[-2:]
        now = read(rtype, rid)
        if now is None or now.deleted or location.endswith(f"/_history/{now.version_id}"):
            continue
        answer.update(location=f"{rtype}/{rid}/_history/{now.version_id}", etag=now.etag,
                      lastModified=instant(now.last_updated))
        if "resource" in entry:
            entry["resource"] = now.content


def _response_bundle(kind: str, entries: list[Entry]) -> dict:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                              "meta": {"lastUpdated": instant(utcnow())}, "type": kind}
    if entries:  # FHIR JSON has no empty arrays: an empty transaction answers no entry
        bundle["entry"] = [e.response for e in sorted(entries, key=lambda x: x.index)]
    return bundle
