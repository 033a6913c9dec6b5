"""The whole record in one call, and system-level reads for incremental sync.

* ``EpisodeOfCare/{id}/$everything`` (the hub's own operation, ``EPISODE_EVERYTHING``): the
  episode, its Patient and every resource of its case (CarePlans, Goals, Conditions,
  CareTeams, Coverages, Encounters, ServiceRequests, Tasks...), plus what references the
  episode.
* ``Patient/{id}/$everything`` (R4): the Patient, the resources that reference it (its
  compartment) and the resources those reference.
* ``GET [base]/_history``: the history of every type the caller may read.
* ``GET [base]?_type=A,B&...``: a search over several types, common parameters only
  (``_id``, ``_lastUpdated``); any other parameter is 400.

Each leaves its query in the request's AuditEvent (``ctx.access``; the patient for
``$everything``). All are searchset/history Bundles paged with ``_count``/``_offset``. The caller needs ``r``
and ``s`` on the focal type (SMART: ``rs`` on what is returned); resources of a type it
may not read, or outside its compartment, are left out: hidden looks like absent.
``$everything`` takes ``_since`` (last updated), ``_type`` and ``_count``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from hub.clock import utcnow
from hub.errors import BadRequest, Issue
from hub.fhirapi import interactions as ia
from hub.fhirapi.interactions import Ctx
from hub.fhirapi.search import history_entry
from hub.fhirstore import systemwide
from hub.fhirstore.compartments import visible_only
from hub.fhirstore.dates import date_range, instant
from hub.fhirstore.repository import StoredResource
from hub.fhirstore.searchparams import SUPPORTED_TYPES
from hub.mappings.aliases import with_aliases
from hub.mappings.case_bundle import case_to_fhir
from hub.mappings.codes import HUB_CANONICAL
from hub.mappings.identity import find_hub_identifier
from hub.store import case_resource_repo

EPISODE_EVERYTHING = f"{HUB_CANONICAL}/OperationDefinition/EpisodeOfCare-everything"
PATIENT_EVERYTHING = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
#: Parameters of each request kind (``_format`` is the content negotiation's).
EVERYTHING_PARAMS = frozenset({"_since", "_type", "_count", "_offset", "_format"})
HISTORY_PARAMS = frozenset({"_since", "_count", "_offset", "_format"})
SYSTEM_SEARCH_PARAMS = frozenset({"_type", "_id", "_lastUpdated", "_count", "_offset",
                                  "_format"})
_REF = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


def _bad(message: str, param: str) -> BadRequest:
    return BadRequest(message, issues=[Issue(message, code="not-supported", path=param)])


def _check_params(items: Sequence[tuple[str, str]], allowed: frozenset[str]) -> None:
    for name, _ in items:
        if name not in allowed:
            raise _bad(f"the parameter {name} is not supported here (supported: "
                       f"{', '.join(sorted(allowed - {'_format'}))})", name)


def _one(items, name: str) -> str | None:
    values = [v for k, v in items if k == name]
    if len(values) > 1:
        raise _bad(f"{name} may be given once", name)
    return values[0] if values else None


def _paging(ctx: Ctx, items) -> tuple[int, int]:
    try:
        count = int(_one(items, "_count") or ctx.default_count)
        offset = int(_one(items, "_offset") or 0)
    except ValueError:
        raise _bad("_count and _offset must be integers", "_count") from None
    return max(1, min(count, ctx.max_count)), max(0, offset)


def _since(items) -> datetime | None:
    text = _one(items, "_since")
    if text is None:
        return None
    try:
        return date_range(text)[0]
    except ValueError:
        raise _bad(f"_since is not a valid instant: {text!r}", "_since") from None


def _types(items) -> list[str] | None:
    """The ``_type`` values (comma-separated, repeatable); None when absent."""
    values = [t.strip() for k, v in items if k == "_type" for t in v.split(",") if t.strip()]
    if not values and not any(k == "_type" for k, _ in items):
        return None
    unknown = [t for t in values if t not in SUPPORTED_TYPES]
    if unknown or not values:
        raise _bad(f"_type names no served resource type: {', '.join(unknown) or '(empty)'}",
                   "_type")
    return list(dict.fromkeys(values))


def _readable(ctx: Ctx, types: Iterable[str]) -> list[str]:
    return [t for t in types if ctx.may(t, "r") and ctx.may(t, "s")]


def _bundle(kind: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": instant(utcnow())}, "type": kind}


def _links(url: str, items, offset: int, count: int, total: int) -> list[dict[str, str]]:
    keep = [(k, v) for k, v in items if k not in ("_offset", "_count", "_format")]

    def link(at: int) -> str:
        query = urlencode([*keep, ("_count", str(count)), ("_offset", str(at))])
        return f"{url}?{query}"

    links = [{"relation": "self", "url": link(offset)}]
    if offset:
        links += [{"relation": "first", "url": link(0)},
                  {"relation": "previous", "url": link(max(0, offset - count))}]
    if offset + count < total:
        links.append({"relation": "next", "url": link(offset + count)})
    return links


def _searchset(base: str, url: str, items, found: list[StoredResource], offset: int,
               count: int) -> dict[str, Any]:
    bundle = _bundle("searchset")
    bundle["total"] = len(found)
    bundle["link"] = _links(url, items, offset, count, len(found))
    entries = [{"fullUrl": f"{base}/{r.type}/{r.id}", "resource": r.content,
                "search": {"mode": "match"}} for r in found[offset:offset + count]]
    if entries:
        bundle["entry"] = entries
    return bundle


def _local_refs(value: Any) -> Iterable[tuple[str, str]]:
    """(type, id) of every relative literal reference in a resource."""
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            m = _REF.match(ref)
            if m:
                yield m.group(1), m.group(2)
        for key, item in value.items():
            if key != "reference":
                yield from _local_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _local_refs(item)


def _gather(ctx: Ctx, members: list[tuple[str, str]], items, base: str,
            url: str) -> dict[str, Any]:
    """The searchset of ``members`` the caller may read, by ``_type`` and ``_since``."""
    _check_params(items, EVERYTHING_PARAMS)
    count, offset = _paging(ctx, items)
    since = _since(items)
    wanted = set(_readable(ctx, _types(items) or SUPPORTED_TYPES))
    pairs = [p for p in dict.fromkeys(members) if p[0] in wanted]
    found = visible_only(ctx.repo.session, ctx.compartment, ctx.repo.read_many(pairs),
                         ctx.client)
    if since is not None:
        found = [r for r in found if r.last_updated >= since]
    return _searchset(base, url, items, found, offset, count)


def episode_everything(ctx: Ctx, eid: str, items, *, base: str) -> dict[str, Any]:
    """``EpisodeOfCare/{id}/$everything``: the case as a searchset Bundle."""
    ctx.require("EpisodeOfCare", "rs")
    episode = ia.read(ctx, "EpisodeOfCare", eid).resource
    assert episode is not None and episode.content is not None
    members = [("EpisodeOfCare", eid)]
    case_id = find_hub_identifier(episode.content, "case")
    case = ctx.uow.cases.get(case_id) if case_id else None
    if case is not None:
        # a case opened through /fhir is the client's resources (hub.fhircase)
        aliases = case_resource_repo.aliases(ctx.uow.session, case.id)
        members += [(r["resourceType"], r["id"])
                    for r in with_aliases(case_to_fhir(case), aliases)]
    members += list(_local_refs(episode.content))
    members += systemwide.referencing(ctx.repo.session, "EpisodeOfCare", eid)
    patient = (episode.content.get("patient") or {}).get("reference")
    ctx.access.searched("operation", "EpisodeOfCare", [patient] if patient else [])
    return _gather(ctx, members, items, base, f"{base}/EpisodeOfCare/{eid}/$everything")


def patient_everything(ctx: Ctx, pid: str, items, *, base: str) -> dict[str, Any]:
    """``Patient/{id}/$everything`` (R4): the patient compartment and what it references."""
    ctx.require("Patient", "rs")
    patient = ia.read(ctx, "Patient", pid).resource
    assert patient is not None
    members = [("Patient", pid), *systemwide.referencing(ctx.repo.session, "Patient", pid)]
    ctx.access.searched("operation", "Patient", [f"Patient/{pid}"])
    referenced: list[tuple[str, str]] = []
    for res in ctx.repo.read_many(members):
        referenced += _local_refs(res.content)
    return _gather(ctx, members + referenced, items, base,
                   f"{base}/Patient/{pid}/$everything")


def _stored(row: Any) -> StoredResource:
    m = row._mapping
    res = StoredResource(m["res_type"], m["res_id"], m["version_id"], m["last_updated"],
                         bool(m["deleted"]), systemwide.loads(row), m.get("method"))
    res.created = res.version_id == 1 or bool(m.get("after_delete"))
    return res


def system_history(ctx: Ctx, items, *, base: str) -> dict[str, Any]:
    """``GET [base]/_history``: every version of the types the caller may read and search,
    newest first (``_since``, ``_count``, ``_offset``)."""
    _check_params(items, HISTORY_PARAMS)
    count, offset = _paging(ctx, items)
    since = _since(items)
    ctx.access.searched("history-system", "", [])
    rows, total = systemwide.history(ctx.repo.session, _readable(ctx, SUPPORTED_TYPES),
                                     ctx.compartment, since, count, offset, ctx.client)
    bundle = _bundle("history")
    bundle["total"] = total
    bundle["link"] = _links(f"{base}/_history", items, offset, count, total)
    entries = [history_entry(base, _stored(r)) for r in rows]
    if entries:
        bundle["entry"] = entries
    return bundle


_PREFIXES = ("gt", "ge", "lt", "le", "eq")


def _last_updated(items) -> list[tuple[str, datetime]]:
    bounds: list[tuple[str, datetime]] = []
    for name, value in items:
        if name != "_lastUpdated":
            continue
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix not in _PREFIXES:
            raise _bad(f"_lastUpdated prefix {prefix!r} is not supported here",
                       "_lastUpdated")
        try:
            low, high = date_range(text)
        except ValueError:
            raise _bad(f"_lastUpdated is not a valid date: {value!r}", "_lastUpdated") from None
        if prefix in ("gt", "le"):
            bounds.append((prefix, high))
        elif prefix in ("ge", "lt"):
            bounds.append((prefix, low))
        else:
            bounds += [("ge", low), ("le", high)]
    return bounds


def system_search(ctx: Ctx, items, *, base: str) -> dict[str, Any]:
    """``GET [base]?_type=A,B&_lastUpdated=gt...&_id=...``: current resources of several
    types, oldest change first. Each named type needs ``s`` (403); those the caller may
    not read (``r``) are left out. Without ``_type``: every type it may read and search."""
    _check_params(items, SYSTEM_SEARCH_PARAMS)
    count, offset = _paging(ctx, items)
    named = _types(items)
    for rtype in named or ():
        ctx.require(rtype, "s")
    types = _readable(ctx, named or SUPPORTED_TYPES)
    ctx.access.searched("search-system", ",".join(named or ()), [])
    ids = [i.strip() for k, v in items if k == "_id" for i in v.split(",") if i.strip()]
    rows, total = systemwide.search(ctx.repo.session, types, ctx.compartment, ids,
                                    _last_updated(items), count, offset, ctx.client)
    bundle = _bundle("searchset")
    bundle["total"] = total
    bundle["link"] = _links(base, items, offset, count, total)
    entries = [{"fullUrl": f"{base}/{r.res_type}/{r.res_id}", "resource": systemwide.loads(r),
                "search": {"mode": "match"}} for r in rows]
    if entries:
        bundle["entry"] = entries
    return bundle
