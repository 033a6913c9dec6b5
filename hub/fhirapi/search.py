"""Search and history Bundles: paging links, totals, _include/_revinclude, warnings."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from hub.fhirstore.compartments import visible_only
from hub.clock import utcnow
from hub.fhirstore.dates import date_range, instant
from hub.fhirapi.interactions import Ctx, history
from hub.fhirstore.query import parse_search
from hub.errors import BadRequest
from hub.fhirstore.repository import StoredResource


def _bundle(kind: str) -> dict:
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": instant(utcnow())}, "type": kind}


def _entry(base: str, res: StoredResource, mode: str | None = None) -> dict:
    entry = {"fullUrl": f"{base}/{res.type}/{res.id}", "resource": res.content}
    if mode:
        entry["search"] = {"mode": mode}
    return entry


def warnings_outcome(warnings: list[str]) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "warning", "code": "not-supported", "diagnostics": w}
                      for w in warnings]}


def search(ctx: Ctx, rtype: str, items: list[tuple[str, str]], *, base: str,
           strict: bool = False) -> dict:
    """The searchset Bundle of a search on ``rtype`` (items: the request's parameters)."""
    from hub.fhirapi.validation import check_type

    check_type(rtype)
    ctx.require(rtype, "s")
    q = parse_search(rtype, items, strict=strict, default_count=ctx.default_count,
                     local_base=ctx.repo.local_base,
                     max_count=ctx.max_count)
    q.compartment = ctx.compartment
    bundle = _bundle("searchset")
    repo = ctx.repo
    total = None
    if q.total != "none" or q.summary == "count" or q.count == 0:
        total = repo.count(q)
        bundle["total"] = total
    links = [{"relation": "self", "url": f"{base}/{rtype}?{q.link_query(q.offset)}"}]
    entries: list[dict] = []
    if q.summary != "count" and q.count > 0:
        page = repo.search(q)
        entries = [_entry(base, r, "match") for r in page]
        ids = [r.id for r in page]
        extra = visible_only(repo.session, ctx.compartment,
                             repo.included(rtype, ids, q.includes)
                             + repo.revincluded(rtype, ids, q.revincludes))
        seen = {(r.type, r.id) for r in page}
        hidden = set()
        for res in extra:
            if (res.type, res.id) in seen:
                continue
            seen.add((res.type, res.id))
            if not ctx.principal.allows(res.type, "r"):
                hidden.add(res.type)
                continue
            entries.append(_entry(base, res, "include"))
        if hidden:
            q.warnings.append("included resources of type(s) " + ", ".join(sorted(hidden))
                              + " were left out: the scope does not allow reading them")
        more = (q.offset + q.count < total) if total is not None else len(page) == q.count
        if q.offset:
            links.append({"relation": "first", "url": f"{base}/{rtype}?{q.link_query(0)}"})
            prev = max(0, q.offset - q.count)
            links.append({"relation": "previous",
                          "url": f"{base}/{rtype}?{q.link_query(prev)}"})
        if more:
            links.append({"relation": "next",
                          "url": f"{base}/{rtype}?{q.link_query(q.offset + q.count)}"})
    bundle["link"] = links
    if q.warnings:
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}",
                        "resource": warnings_outcome(q.warnings),
                        "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def history_bundle(ctx: Ctx, rtype: str, rid: str | None, args, *, base: str) -> dict:
    """The history Bundle of a resource or a type (``_since``, ``_count``, ``_offset``)."""
    since = None
    if args.get("_since"):
        try:
            since = date_range(args["_since"])[0]
        except ValueError:
            raise BadRequest(f"_since is not a valid instant: {args['_since']!r}") from None
    try:
        count = max(1, min(int(args.get("_count", ctx.default_count)), ctx.max_count))
        offset = max(0, int(args.get("_offset", 0)))
    except ValueError:
        raise BadRequest("_count and _offset must be integers") from None
    versions, total = history(ctx, rtype, rid, since, count, offset)
    bundle = _bundle("history")
    bundle["total"] = total
    path = f"{base}/{rtype}" + (f"/{rid}" if rid else "") + "/_history"
    extra = "&" + urlencode({"_since": args["_since"]}) if since else ""
    links = [{"relation": "self", "url": f"{path}?_count={count}&_offset={offset}{extra}"}]
    if offset + count < total:
        links.append({"relation": "next",
                      "url": f"{path}?_count={count}&_offset={offset + count}{extra}"})
    bundle["link"] = links
    entries = []
    for v in versions:
        url = f"{v.type}/{v.id}"
        if v.deleted:
            method, status = "DELETE", "204 No Content"
        elif v.version_id == 1:  # created by POST, or by PUT with the client's id
            method, status = v.method or "POST", "201 Created"
        else:
            method, status = "PUT", "200 OK"
        entry = {"fullUrl": f"{base}/{url}"}
        if v.content is not None:
            entry["resource"] = v.content
        entry["request"] = {"method": method, "url": url if method != "POST" else v.type}
        entry["response"] = {"status": status, "etag": v.etag,
                             "lastModified": instant(v.last_updated)}
        entries.append(entry)
    if entries:
        bundle["entry"] = entries
    return bundle
