"""``/fhir/AuditEvent``: the audit log, read and searched by auditors only.

An auditor is a client of the hub itself (bound to no Organization) whose scopes name
AuditEvent explicitly (``system/AuditEvent.rs``; a wildcard ``system/*.rs`` is not
enough). Anyone else gets 403 for every AuditEvent request, whatever the id, so nothing
about the log is revealed; a bound partner never sees an AuditEvent. No one creates,
updates or deletes one through the API (``interactions.SERVER_WRITTEN``).

Search parameters: ``date`` (``recorded``, with ge/gt/le/lt/eq prefixes), ``agent``
(client id or ``Organization/x``), ``entity`` (``Type/id``), ``patient`` (``Patient/x``
or ``x``), ``_id``, ``_count``, ``_offset``; newest first.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from hub.audit import log as audit_log
from hub.clock import utcnow
from hub.errors import BadRequest, Forbidden, Issue, NotFound
from hub.fhirstore.dates import date_range, instant
from hub.fhirstore.repository import StoredResource
from hub.fhirstore.searchparams import split_reference

PARAMS = ("date", "agent", "entity", "patient", "_id", "_count", "_offset")
_PATIENT_PARAMS = {"patient", "subject", "beneficiary", "for"}


def require_auditor(principal, perm: str) -> None:
    """403 unless the caller is one of the hub's clients with an explicit AuditEvent scope."""
    if principal.organization is None and any(
            s.context == "system" and s.resource == "AuditEvent" and perm in s.perms
            for s in principal.scopes):
        return
    message = "AuditEvents are for auditors only: a scope naming AuditEvent is needed"
    raise Forbidden(message, issues=[Issue(message, code="forbidden")])


def read(ctx, rid: str) -> StoredResource:
    """One AuditEvent, shaped as a stored version (``content``, ``etag``)."""
    require_auditor(ctx.principal, "r")
    found, _ = audit_log.search(ctx.uow.session, ids=[rid], count=1)
    if not found:
        raise NotFound(f"AuditEvent/{rid} is not known", issues=[Issue(
            f"AuditEvent/{rid} is not known", code="not-found")])
    event = found[0]
    recorded = date_range(event["recorded"])[0]
    return StoredResource("AuditEvent", rid, 1, recorded, False, event)


def _dates(values: list[str]):
    since = until = None
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") \
            else ("eq", value)
        try:
            low, high = date_range(text)
        except ValueError:
            raise BadRequest(f"date is not a FHIR date: {value!r}", path="date") from None
        if prefix in ("ge", "eq"):
            since = max(since, low) if since else low
        if prefix == "gt":
            start = high + timedelta(microseconds=1)
            since = max(since, start) if since else start
        if prefix in ("le", "eq"):
            end = high + timedelta(microseconds=1)
            until = min(until, end) if until else end
        if prefix == "lt":
            until = min(until, low) if until else low
    return since, until


def _references(values: list[str], default_type: str | None = None) -> list[str]:
    out = []
    for value in values:
        for part in value.split(","):
            target = split_reference(part.strip())
            if target and (target[0] or default_type):
                out.append(f"{target[0] or default_type}/{target[1]}")
            elif part.strip():
                out.append(part.strip())
    return out


def search(ctx, items: list[tuple[str, str]], *, base: str) -> dict:
    """The searchset Bundle of AuditEvents matching ``items``."""
    require_auditor(ctx.principal, "s")
    given: dict[str, list[str]] = {}
    for key, value in items:
        if key in ("_format", "_total"):
            continue
        if key not in PARAMS:
            raise BadRequest(f"AuditEvent cannot be searched by {key!r}: use "
                             + ", ".join(PARAMS), path=key)
        given.setdefault(key, []).append(value)
    try:
        count = max(0, min(int((given.get("_count") or [ctx.default_count])[-1]),
                           ctx.max_count))
        offset = max(0, int((given.get("_offset") or ["0"])[-1]))
    except ValueError:
        raise BadRequest("_count and _offset must be integers") from None
    since, until = _dates(given.get("date", []))
    events, total = audit_log.search(
        ctx.uow.session, since=since, until=until,
        agents=_references(given.get("agent", [])),
        entities=_references(given.get("entity", [])),
        patients=_references(given.get("patient", []), "Patient"),
        ids=[i for v in given.get("_id", []) for i in v.split(",")], count=count,
        offset=offset)
    query = [(k, v) for k, v in items if k not in ("_count", "_offset")]
    links = [{"relation": "self", "url": f"{base}/AuditEvent?" + urlencode(
        [*query, ("_count", str(count)), ("_offset", str(offset))])}]
    if offset + count < total:
        links.append({"relation": "next", "url": f"{base}/AuditEvent?" + urlencode(
            [*query, ("_count", str(count)), ("_offset", str(offset + count))])})
    bundle = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
              "meta": {"lastUpdated": instant(utcnow())}, "type": "searchset",
              "total": total, "link": links}
    if events:
        bundle["entry"] = [{"fullUrl": f"{base}/AuditEvent/{e['id']}", "resource": e,
                            "search": {"mode": "match"}} for e in events]
    return bundle


def searched_patients(rtype: str, items: list[tuple[str, str]]) -> list[str]:
    """The Patient references a search asks about (its patient entities in the log)."""
    out: list[str] = []
    for key, value in items:
        name = key.split(":")[0].split(".")[0]
        if name in _PATIENT_PARAMS or (rtype == "Patient" and name == "_id"):
            out.extend(r for r in _references([value], "Patient") if r.startswith("Patient/"))
    return list(dict.fromkeys(out))
