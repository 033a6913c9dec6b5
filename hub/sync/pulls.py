"""Pulls as outbox work: scheduled like deliveries, so they get leases, retries, backoff and
every executor (in-process thread, ``hub worker``, Celery) for free.

- **Schedule** (``schedule_pulls``, each round of the worker loop): for every configured
  partner and every resource type it is pulled for (``pull_types``), enqueue one ``pull``
  row when none is pending or in flight and the partner's ``poll_seconds`` have passed
  since the last one. Pull rows are ordered under the key ``pull/{type}`` (not a case), so
  they never hold up the case deliveries to the same partner.
- **Fetch** (``fetch_changes``, called by ``hub.sync.deliver`` for a ``pull`` row; network
  only): FHIR partners are searched with ``_lastUpdated=gt{cursor}&_sort=_lastUpdated``,
  following ``next`` links, and, for servers that page without links (Medplum in memory),
  continuing keyset-style from the newest ``_lastUpdated`` seen; the partner Patients the
  changes point at are read (for their identifiers), and for Tasks the version history (so
  moves between two polls are replayed step by step). agency-json partners are read with
  ``changes_since(cursor)``. What was read becomes the row's response.
- **Apply**: not here. The ``pull`` handlers the runtime registers (``hub.flows``, see
  ``hub.flows.pulled``) apply the changes to the cases, then move the cursor
  (``hub.sync.cursors``). A handler that fails leaves the cursor where it was, so the next
  pull reads the same changes again: applying is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, text

from hub.adapters.errors import PartnerRejected
from hub.clock import utcnow
from hub.store.db import Database
from hub.store.sync_tables import outbox
from hub.sync.cursors import latest_last_updated
from hub.sync.outbox import ACTIVE, Delivery, enqueue

log = logging.getLogger(__name__)

#: The pseudo resource type of the agency-json change feed (its items are referral states).
REFERRAL_FEED = "Referral"
#: What is pulled from each kind of partner, by (kind, protocol).
PULL_TYPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("hospital", "fhir"): ("Encounter", "CarePlan", "CareTeam"),
    ("agency", "fhir"): ("Task", "Encounter"),
    ("agency", "agency-json"): (REFERRAL_FEED,),
}
#: Resources asked per search page, and the bound on pages read by one pull.
PAGE_SIZE = 100
MAX_PAGES = 50
#: ``resource_id`` of pull rows (a pull is about a partner's feed, not one resource).
PULL_RESOURCE_ID = "_changes"
#: The elements of a resource that point at its patient (the Patients fetched with a pull).
PATIENT_LINKS = ("subject", "patient", "for")


def pull_types(partner) -> tuple[str, ...]:
    """The resource types pulled from ``partner`` (by its kind and protocol)."""
    return PULL_TYPES.get((partner.kind, partner.protocol), ())


def pull_key(resource_type: str) -> str:
    """The ordering key (``case_id`` column) of the pull rows of one resource type."""
    return f"pull/{resource_type}"


# -- scheduling -----------------------------------------------------------------------------

def _pull_wanted(session, partner_id: str, resource_type: str,
                 due_after: datetime | None) -> bool:
    """No pull of this type is pending or in flight, nor was one made after ``due_after``."""
    recent: list[ColumnElement[bool]] = [outbox.c.status.in_(ACTIVE)]
    if due_after is not None:
        recent.append(outbox.c.created_at > due_after)
    row = session.execute(select(outbox.c.id).where(
        outbox.c.partner_id == partner_id, outbox.c.operation == "pull",
        outbox.c.resource_type == resource_type, or_(*recent)).limit(1)).first()
    return row is None


def _serialize(session) -> None:
    """Two schedulers (worker processes on PostgreSQL) must not both enqueue a pull."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7363102519)"))


def request_pull(session, partner_id: str, resource_type: str,
                 now: datetime | None = None) -> int | None:
    """Enqueue a pull now (an operator's "pull now", tests) unless one is already pending or
    in flight; its id, or None. In the caller's transaction."""
    _serialize(session)
    if not _pull_wanted(session, partner_id, resource_type, None):
        return None
    return enqueue(session, partner_id=partner_id, resource_type=resource_type,
                   resource_id=PULL_RESOURCE_ID, operation="pull",
                   case_id=pull_key(resource_type), now=now)


def schedule_pulls(db: Database, partners: Mapping, now: datetime | None = None) -> list[int]:
    """Enqueue the pulls that are due; their outbox ids. One short transaction.

    A pull is due for (partner, type) when none is pending or in flight and none was
    enqueued in the last ``poll_seconds`` of the partner.
    """
    now = now or utcnow()
    wanted = [(p, t) for p in (partners or {}).values() for t in pull_types(p)]
    if not wanted:
        return []
    ids: list[int] = []
    with db.sessions() as session:
        _serialize(session)
        for partner, rtype in wanted:
            due_after = now - timedelta(seconds=partner.poll_seconds)
            if _pull_wanted(session, partner.id, rtype, due_after):
                ids.append(enqueue(session, partner_id=partner.id, resource_type=rtype,
                                   resource_id=PULL_RESOURCE_ID, operation="pull",
                                   case_id=pull_key(rtype), now=now))
        session.commit()
    if ids:
        log.info("scheduled %d pull(s)", len(ids))
    return ids


# -- fetching (network only) ----------------------------------------------------------------

def fetch_changes(delivery: Delivery, adapter) -> dict:
    """What changed at the partner since ``delivery.cursor`` (the pull row's response)."""
    if delivery.resource_type == REFERRAL_FEED and hasattr(adapter, "changes_since") \
            and hasattr(adapter, "send_referral"):
        return _fetch_referral_feed(delivery, adapter)
    return _fetch_fhir(delivery, adapter)


def _fetch_referral_feed(delivery: Delivery, client) -> dict:
    pages = [{"referrals": page.referrals, "cursor": page.cursor}
             for page in client.changes_since(delivery.cursor)]
    return {"kind": "agency-json", "cursor_before": delivery.cursor, "pages": pages}


def _matches(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry") or []
            if (e.get("search") or {}).get("mode", "match") == "match" and e.get("resource")]


def _has_next(bundle: dict) -> bool:
    return any(link.get("relation") == "next" for link in bundle.get("link") or [])


def _fetch_fhir(delivery: Delivery, client) -> dict:
    rtype, cursor = delivery.resource_type, delivery.cursor
    base = {"_sort": "_lastUpdated", "_count": str(PAGE_SIZE)}
    query = dict(base, _lastUpdated=f"gt{cursor}") if cursor else dict(base)
    found: list[dict] = []
    seen: set[tuple] = set()

    def take(resources: list[dict]) -> int:
        fresh = 0
        for r in resources:
            key = (r.get("id"), (r.get("meta") or {}).get("versionId"))
            if key not in seen:
                seen.add(key)
                found.append(r)
                fresh += 1
        return fresh

    pages, last = 0, {}
    for bundle in client.search_pages(rtype, query, max_pages=MAX_PAGES):
        pages += 1
        last = bundle
        take(_matches(bundle))
    # a server that pages without next links: continue from the newest change seen
    # (``ge``, so changes sharing that instant are not skipped; duplicates are dropped)
    while pages < MAX_PAGES and not _has_next(last) and len(_matches(last)) >= PAGE_SIZE:
        newest = latest_last_updated(found, None)
        if newest is None:
            break
        last = next(iter(client.search_pages(rtype, dict(base, _lastUpdated=f"ge{newest}"),
                                             max_pages=MAX_PAGES)))
        pages += 1
        if not take(_matches(last)):
            break
    found.sort(key=lambda r: _instant((r.get("meta") or {}).get("lastUpdated")))
    return {"kind": "fhir", "cursor_before": cursor,
            "cursor": latest_last_updated(found, cursor), "resources": found,
            "patients": _fetch_patients(client, found),
            "histories": _fetch_histories(client, found) if rtype == "Task" else {}}


def _instant(value: str | None) -> datetime:
    if not value:
        return datetime.min.replace(tzinfo=utcnow().tzinfo)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _fetch_patients(client, resources: list[dict]) -> dict[str, dict]:
    """The partner's Patients the changes point at: only their identifiers are kept."""
    out: dict[str, dict] = {}
    for resource in resources:
        for key in PATIENT_LINKS:
            target = ((resource.get(key) or {}) if isinstance(resource.get(key), dict)
                      else {}).get("reference") or ""
            if not target.startswith("Patient/") or target.count("/") != 1:
                continue
            pid = target.split("/", 1)[1]
            if pid in out:
                continue
            try:
                patient = client.read("Patient", pid).resource or {}
            except PartnerRejected as exc:
                if exc.status not in (404, 410):
                    raise
                patient = {}
            out[pid] = {"identifier": patient.get("identifier") or []}
    return out


def _fetch_histories(client, tasks: list[dict]) -> dict[str, list[dict]]:
    """Every version of each changed Task, oldest first (moves between two polls)."""
    out: dict[str, list[dict]] = {}
    for task in tasks:
        tid = task.get("id")
        if not tid or tid in out:
            continue
        try:
            bundle = client.get(f"Task/{tid}/_history").resource or {}
        except PartnerRejected:
            out[tid] = [task]
            continue
        versions = [e["resource"] for e in bundle.get("entry") or [] if e.get("resource")]
        versions.sort(key=lambda r: _instant((r.get("meta") or {}).get("lastUpdated")))
        out[tid] = versions or [task]
    return out


__all__ = ["MAX_PAGES", "PAGE_SIZE", "PATIENT_LINKS", "PULL_RESOURCE_ID", "PULL_TYPES",
           "REFERRAL_FEED", "fetch_changes", "pull_key", "pull_types", "request_pull",
           "schedule_pulls"]
