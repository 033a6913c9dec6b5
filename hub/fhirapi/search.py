"""Search and history Bundles: paging links, totals, _include/_revinclude, warnings."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from hub.clock import utcnow
from hub.errors import BadRequest
from hub.fhirapi import auditlog
from hub.fhirapi.interactions import Ctx, history
from hub.fhirapi.subsetting import subset
from hub.fhirapi.validation import check_type
from hub.fhirstore.compartments import visible_only
from hub.fhirstore.dates import date_range, instant
from hub.fhirstore.query import Cursor, parse_search
from hub.fhirstore.repository import Page, StoredResource


def _bundle(kind: str) -> dict:
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": instant(utcnow())}, "type": kind}


def history_entry(base: str, v: StoredResource) -> dict[str, Any]:
    """One entry of a history Bundle: the version with the request that made it."""
    url = f"{v.type}/{v.id}"
    if v.deleted:
        method, status = "DELETE", "204 No Content"
    elif v.version_id == 1:  # created by POST, or by PUT with the client's id
        method, status = v.method or "POST", "201 Created"
    elif v.created:  # a PUT after a delete creates the resource again
        method, status = "PUT", "201 Created"
    else:
        method, status = "PUT", "200 OK"
    entry: dict[str, Any] = {"fullUrl": f"{base}/{url}"}
    body = v.json()
    if body is not None:
        entry["resource"] = body
    entry["request"] = {"method": method, "url": url if method != "POST" else v.type}
    entry["response"] = {"status": status, "etag": v.etag,
                         "lastModified": instant(v.last_updated)}
    return entry


def _entry(base: str, res: StoredResource, mode: str | None = None, q=None) -> dict:
    content: Any = res.json()  # the stored text as is, unless subsetted
    if content is not None and q is not None and (q.summary or q.elements):  # _elements: the matches only
        content = subset(res.content or {}, q.summary, q.elements if mode == "match" else ())
    entry: dict[str, Any] = {"fullUrl": f"{base}/{res.type}/{res.id}", "resource": content}
    if mode:
        entry["search"] = {"mode": mode}
    return entry


def warnings_outcome(warnings: list[str]) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "warning", "code": "not-supported", "diagnostics": w}
                      for w in warnings]}


#: Bounds of ``_include:iterate`` / ``_revinclude:iterate``: rounds and included resources.
MAX_INCLUDE_ROUNDS = 5
MAX_INCLUDED = 1000


def _included(ctx: Ctx, q, page: list[StoredResource], hidden: set[str]
              ) -> list[StoredResource]:
    """What ``_include``/``_revinclude`` add to the page: every include applied to the
    matches, then the ``:iterate`` ones to what the previous round added, until a round
    adds nothing new (at most MAX_INCLUDE_ROUNDS rounds and MAX_INCLUDED resources; a
    warning says when the bound cut it short). Only resources the caller may see count."""
    repo = ctx.repo
    seen = {(r.type, r.id) for r in page}
    out: list[StoredResource] = []
    frontier: list[StoredResource] = page
    includes, revincludes = q.includes, q.revincludes
    for _ in range(MAX_INCLUDE_ROUNDS):
        if not frontier or not (includes or revincludes):
            return out
        by_type: dict[str, list[str]] = {}
        for res in frontier:
            by_type.setdefault(res.type, []).append(res.id)
        found: list[StoredResource] = []
        for rtype, ids in by_type.items():
            incs = [i for i in includes if i.source in ("*", rtype)]
            found += repo.included(rtype, ids, incs) + repo.revincluded(rtype, ids,
                                                                         revincludes)
        frontier = []
        for res in visible_only(repo.session, ctx.compartment, found, ctx.client):
            if (res.type, res.id) in seen:
                continue
            seen.add((res.type, res.id))
            if not ctx.principal.allows(res.type, "r"):
                hidden.add(res.type)
                continue
            if len(out) >= MAX_INCLUDED:
                q.warnings.append(f"_include/_revinclude stopped at {MAX_INCLUDED} "
                                  "included resources")
                return out
            out.append(res)
            frontier.append(res)
        includes = [i for i in includes if i.iterate]
        revincludes = [i for i in revincludes if i.iterate]
    if frontier and (includes or revincludes):
        q.warnings.append(f"_include:iterate stopped after {MAX_INCLUDE_ROUNDS} rounds")
    return out


def search(ctx: Ctx, rtype: str, items: list[tuple[str, str]], *, base: str,
           strict: bool = False) -> dict:
    """The searchset Bundle of a search on ``rtype`` (items: the request's parameters)."""
    check_type(rtype)
    if rtype == "AuditEvent":
        return auditlog.search(ctx, items, base=base)
    ctx.require(rtype, "s")
    ctx.access.searched("search-type", rtype, auditlog.searched_patients(rtype, items))
    q = parse_search(rtype, items, strict=strict, default_count=ctx.default_count,
                     local_base=ctx.repo.local_base,
                     max_count=ctx.max_count)
    q.compartment, q.client = ctx.compartment, ctx.client
    bundle = _bundle("searchset")
    repo = ctx.repo
    total = None
    # SMART: searching is ``s``, the bodies of the matches are reads (``r``): without
    # ``r`` the matches are counted, not returned (a scope is a ceiling: 200, left out)
    readable = ctx.principal.allows(rtype, "r")
    if not readable:
        q.warnings.append(f"the scope allows searching {rtype} (s) but not reading it "
                          f"(r): the matches are counted, not returned")
    want_total = q.total != "none" or q.summary == "count" or q.count == 0 or not readable
    links = [{"relation": "self",
              "url": f"{base}/{rtype}?{q.link_query(q.offset, q.cursor)}"}]
    entries: list[dict] = []
    if q.summary != "count" and q.count > 0 and readable:
        found = repo.page(q, with_total=want_total)  # the count in the page's statement
        page = found.resources
        if want_total and not found.more and not q.offset and q.cursor is None:
            # the first page holds every match: it is the total
            total = len(page)
        elif want_total:
            total = found.total
        if total is not None:
            bundle["total"] = total
        entries = [_entry(base, r, "match", q) for r in page]
        hidden: set[str] = set()
        entries += [_entry(base, res, "include", q)
                    for res in _included(ctx, q, page, hidden)]
        if hidden:
            q.warnings.append("included resources of type(s) " + ", ".join(sorted(hidden))
                              + " were left out: the scope does not allow reading them")
        links += _page_links(q, found, f"{base}/{rtype}")
    if want_total and total is None:
        total = repo.count(q)
        bundle["total"] = total
    bundle["link"] = links
    if q.warnings:
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}",
                        "resource": warnings_outcome(q.warnings),
                        "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def _page_links(q, found: Page, url: str) -> list[dict]:
    """first/previous/next links: keyset cursors when the page has keys, else offsets."""
    if found.keys is None:
        links = []
        if q.offset:
            prev = max(0, q.offset - q.count)
            links += [{"relation": "first", "url": f"{url}?{q.link_query(0)}"},
                      {"relation": "previous", "url": f"{url}?{q.link_query(prev)}"}]
        if found.more:
            links.append({"relation": "next",
                          "url": f"{url}?{q.link_query(q.offset + q.count)}"})
        return links
    backwards = q.cursor is not None and q.cursor.before
    has_prev = found.more if backwards else (q.cursor is not None and
                                             q.cursor.key is not None)
    has_next = backwards or found.more
    links = []
    if has_prev and found.keys and found.snapshot is not None:
        key, rid = found.keys[0]
        prev = Cursor(found.snapshot, key, rid, before=True)
        links += [{"relation": "first", "url": f"{url}?{q.link_query(0)}"},
                  {"relation": "previous", "url": f"{url}?{q.link_query(0, prev)}"}]
    if has_next and found.keys and found.snapshot is not None:
        key, rid = found.keys[-1]
        links.append({"relation": "next",
                      "url": f"{url}?{q.link_query(0, Cursor(found.snapshot, key, rid))}"})
    return links


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
    entries = [history_entry(base, v) for v in versions]
    if entries:
        bundle["entry"] = entries
    return bundle
