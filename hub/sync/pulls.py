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
- **Apply** (the ``@on_delivered("pull", type)`` handlers of ``hub.flows``, helpers here):
  each changed resource is matched to its case and applied in one unit of work
  (``UnitOfWork.save_case``: a new version, projected on commit); then the cursor moves
  (``hub.sync.cursors``). A handler that fails leaves the cursor where it was, so the next pull reads the same
  changes again: applying is idempotent (our own writes coming back are recognised by
  the version in the sync ledger and skipped; re-applied states change nothing).

**Which case a pulled resource belongs to** (``case_for``): (1) a hub identifier on the
resource or on what it links to (``hub.inbound.case_id_of``), after the partner's ids of
resources the hub created there were translated back to the hub's ids through the sync
ledger; else (2) the patient: the identifiers (MRN, member id...) of the partner's Patient
the resource's ``subject``/``patient``/``for`` points at, or of a logical reference, must
name the patient of exactly one open case. Anything else is not about a hub patient and
is skipped.

A change the case rules refuse (an illegal referral move, an unreadable resource) is not
dropped silently: the case gets a note for the case manager (once per partner version) and
the pull's summary lists it.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text, update

from hub import cases as c
from hub.adapters.errors import PartnerRejected
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import is_hub_system
from hub.store.concurrency import retrying
from hub.store.db import Database
from hub.store.sync_tables import outbox, sync_links
from hub.sync.cursors import latest_last_updated, set_cursor
from hub.sync.outbox import ACTIVE, Delivery, enqueue, utcnow

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
_NOTE_NS = uuid.UUID("8d0f3a52-61c4-5b5e-9f3e-1c2a7b9e4d10")
_PATIENT_LINKS = ("subject", "patient", "for")
_OPEN = [s for s in c.CaseStatus if s not in c.FINAL_CASE_STATUSES]


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
    recent = [outbox.c.status.in_(ACTIVE)]
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
        for key in _PATIENT_LINKS:
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


# -- applying -------------------------------------------------------------------------------

@dataclass
class PullContext:
    """What an applier may need besides the case and the resource."""

    partner_id: str
    partners: Mapping
    remote_id: str | None = None
    patients: dict = field(default_factory=dict)
    histories: dict = field(default_factory=dict)

    @property
    def partner(self):
        return self.partners.get(self.partner_id)

    def versions(self, resource: dict) -> list[dict]:
        """The partner's versions of ``resource`` up to this one, oldest first."""
        history = self.histories.get(self.remote_id or "") or []
        version = (resource.get("meta") or {}).get("versionId")
        out = []
        for v in history:
            out.append(v)
            if version and (v.get("meta") or {}).get("versionId") == version:
                break
        return out or [resource]


#: ``apply(uow, case, data, report, ctx)``: map the partner's resource onto the case.
Applier = Callable[[object, c.Case, dict, Report, PullContext], None]


def partners_of(outcome) -> Mapping:
    """The configured partners, from the delivery's in-process context or the settings."""
    partners = (getattr(outcome, "context", None) or {}).get("partners")
    if partners is None:
        from hub.config import Settings
        from hub.sync.partners import load_partners

        partners = load_partners(Settings.from_env().partners_file or None)
    return partners


def _remote_link(session, partner_id: str, rtype: str, remote_id: str):
    return session.execute(select(sync_links).where(
        sync_links.c.partner_id == partner_id, sync_links.c.local_type == rtype,
        sync_links.c.remote_id == remote_id)).first()


def translate_references(session, partner_id: str, resource: dict) -> dict:
    """A copy of ``resource`` whose references to the partner's copies of hub resources
    (``Type/{partner id}``) name the hub's ids instead, found in the sync ledger."""
    cache: dict[str, str] = {}

    def local(target: str) -> str:
        if target not in cache:
            cache[target] = target
            if target.count("/") == 1:
                rtype, rid = target.split("/")
                row = _remote_link(session, partner_id, rtype, rid)
                if row is not None:
                    cache[target] = f"{rtype}/{row.local_id}"
        return cache[target]

    def walk(node):
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            if isinstance(out.get("reference"), str):
                out["reference"] = local(out["reference"])
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(copy.deepcopy(resource))


def case_for(uow, data: dict, patients: Mapping[str, dict] | None = None) -> str | None:
    """The case a pulled resource belongs to (see the module docstring), or None."""
    from hub.inbound import case_id_of
    from hub.store.case_repo import CaseFilter

    found = case_id_of(uow, data)
    if found is not None:
        return found
    identifiers: list[dict] = []
    for key in _PATIENT_LINKS:
        ref = data.get(key)
        if not isinstance(ref, dict):
            continue
        if isinstance(ref.get("identifier"), dict):
            identifiers.append(ref["identifier"])
        target = ref.get("reference") or ""
        if target.startswith("Patient/"):
            identifiers += (patients or {}).get(target.split("/", 1)[1], {}).get(
                "identifier") or []
    candidates: set[str] = set()
    for ident in identifiers:
        system, value = ident.get("system"), ident.get("value")
        if not system or not value or is_hub_system(system):
            continue
        page = uow.cases.list(CaseFilter(status=_OPEN, identifier=f"{system}|{value}"),
                              limit=5)
        candidates |= {case.id for case in page.items}
    return candidates.pop() if len(candidates) == 1 else None


def apply_to_case(db: Database, partners: Mapping, case_id: str,
                  change: Callable[[object, c.Case], None], *,
                  no_echo: frozenset = frozenset()) -> str:
    """Run ``change(uow, case)`` in one unit of work: the case saved (a new version,
    projected on commit) when it changed. ``applied``, ``unchanged`` or ``missing``.
    CaseRuleError / MappingError from ``change`` propagate (nothing stored). A concurrent
    case write re-runs it on a fresh copy (``hub.store.concurrency.retrying``)."""

    def work(uow) -> str:
        case = uow.cases.get(case_id)
        if case is None:
            return "missing"
        before = copy.deepcopy(case)
        change(uow, case)
        if case == before:
            uow.commit()  # ledger bookkeeping the change may have made
            return "unchanged"
        uow.save_case(case, no_echo=no_echo)
        uow.commit()
        return "applied"

    return retrying(db, work, partners=partners, what="pulled change")


def note_refusal(db: Database, partners: Mapping, case_id: str, partner_id: str,
                 what: str, key: str, error: Exception) -> None:
    """A note on the case that a partner's change was refused (once per ``key``)."""
    note_id = str(uuid.uuid5(_NOTE_NS, f"{partner_id}/{key}"))
    message = getattr(error, "message", None) or str(error)

    def change(uow, case):
        if any(n.id == note_id for n in case.notes):
            return
        case.notes.append(c.Note(
            text=f"An update from partner {partner_id} ({what}) was not applied and needs "
                 f"a person to check it: {message}", author="hub sync", id=note_id))

    try:
        apply_to_case(db, partners, case_id, change)
    except Exception:  # noqa: BLE001 - the pull summary still lists the refusal
        log.exception("could not note a refused %s on its case", what)


def _finish(db: Database, delivery: Delivery, cursor: str | None, summary: dict) -> None:
    """Move the cursor (after applying) and keep only the summary in the pull row."""
    with db.sessions() as session:
        if cursor is not None:
            set_cursor(session, delivery.partner_id, delivery.resource_type, cursor)
        session.execute(update(outbox).where(outbox.c.id == delivery.id)
                        .values(response=summary))
        session.commit()


def apply_fhir_pull(db: Database, delivery: Delivery, outcome, apply: Applier) -> dict:
    """Apply every resource of a FHIR pull, then move the cursor; the summary."""
    partners = partners_of(outcome)
    changes = outcome.response or {}
    counts: Counter = Counter()
    refused: list[dict] = []
    for resource in changes.get("resources") or []:
        result = _apply_resource(db, partners, delivery, changes, resource, apply, refused)
        counts[result] += 1
    summary = {"pulled": sum(counts.values()), **counts, "refused_items": refused,
               "cursor_before": changes.get("cursor_before"), "cursor": changes.get("cursor")}
    _finish(db, delivery, changes.get("cursor"), summary)
    log.info("pull #%s %s from %s: %s", delivery.id, delivery.resource_type,
             delivery.partner_id, dict(counts))
    return summary


def _apply_resource(db, partners, delivery, changes, resource, apply, refused) -> str:
    from hub.store.uow import UnitOfWork

    pid, rtype = delivery.partner_id, resource.get("resourceType")
    rid = resource.get("id")
    version = (resource.get("meta") or {}).get("versionId")
    with UnitOfWork(db, partners) as uow:
        link = _remote_link(uow.session, pid, rtype, rid) if rid else None
        if link is not None and version and link.remote_version == version:
            return "echo"  # the copy we wrote ourselves
        data = translate_references(uow.session, pid, resource)
        if link is not None:
            data["id"] = link.local_id
        case_id = case_for(uow, data, changes.get("patients"))
    if case_id is None:
        return "unmatched"
    ctx = PullContext(pid, partners, rid, changes.get("patients") or {},
                      changes.get("histories") or {})

    def change(uow, case):
        apply(uow, case, data, Report(), ctx)
        if link is not None and version:
            uow.session.execute(update(sync_links).where(
                sync_links.c.partner_id == pid, sync_links.c.local_type == rtype,
                sync_links.c.local_id == link.local_id).values(remote_version=version))

    no_echo = frozenset({(pid, rtype, link.local_id)}) if link is not None else frozenset()
    try:
        return apply_to_case(db, partners, case_id, change, no_echo=no_echo)
    except (c.CaseRuleError, MappingError) as err:
        message = getattr(err, "message", None) or str(err)
        log.warning("pull #%s: %s/%s from %s refused: %s", delivery.id, rtype, rid, pid,
                    message)
        refused.append({"resource": f"{rtype}/{rid}", "version": version, "error": message})
        note_refusal(db, partners, case_id, pid, f"{rtype}/{rid}", f"{rtype}/{rid}/{version}",
                     err)
        return "refused"


def referral_case_id(session, partner_id: str, referral_id: str) -> str | None:
    """The case of a referral sent to an agency-json partner (from its ``send`` row)."""
    return session.execute(select(outbox.c.case_id).where(
        outbox.c.partner_id == partner_id, outbox.c.operation == "send",
        outbox.c.resource_type == REFERRAL_FEED,
        outbox.c.resource_id == referral_id).limit(1)).scalar_one_or_none()


def apply_referral_feed(db: Database, delivery: Delivery, outcome,
                        apply: Callable[[object, c.Case, dict, Report], None]) -> dict:
    """Apply an agency-json change feed page by page, storing each page's cursor after it."""
    partners = partners_of(outcome)
    changes = outcome.response or {}
    counts: Counter = Counter()
    refused: list[dict] = []
    cursor = changes.get("cursor_before")
    for page in changes.get("pages") or []:
        for state in page.get("referrals") or []:
            rid = state.get("id") if isinstance(state, dict) else None
            with db.sessions() as session:
                case_id = referral_case_id(session, delivery.partner_id, rid) if rid else None
            if case_id is None:
                counts["unmatched"] += 1
                continue
            try:
                counts[apply_to_case(db, partners, case_id,
                                     lambda uow, case, s=state: apply(uow, case, s,
                                                                      Report()))] += 1
            except (c.CaseRuleError, MappingError) as err:
                message = getattr(err, "message", None) or str(err)
                log.warning("pull #%s: referral %s from %s refused: %s", delivery.id, rid,
                            delivery.partner_id, message)
                refused.append({"referral": rid, "updated_at": state.get("updated_at"),
                                "error": message})
                counts["refused"] += 1
                note_refusal(db, partners, case_id, delivery.partner_id, f"referral {rid}",
                             f"referral/{rid}/{state.get('updated_at')}", err)
        if page.get("cursor"):
            cursor = page["cursor"]
            with db.sessions() as session:
                set_cursor(session, delivery.partner_id, delivery.resource_type, cursor)
                session.commit()
    summary = {"pulled": sum(counts.values()), **counts, "refused_items": refused,
               "cursor_before": changes.get("cursor_before"), "cursor": cursor}
    _finish(db, delivery, None, summary)
    log.info("pull #%s referrals from %s: %s", delivery.id, delivery.partner_id,
             dict(counts))
    return summary


__all__ = ["PAGE_SIZE", "PULL_TYPES", "PullContext", "REFERRAL_FEED", "apply_fhir_pull",
           "apply_referral_feed", "apply_to_case", "case_for", "fetch_changes",
           "partners_of", "pull_key", "pull_types", "referral_case_id", "request_pull",
           "schedule_pulls", "translate_references"]
