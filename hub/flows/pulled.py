"""Applying pulled changes to cases: the ``pull`` handlers' common part.

``hub.sync.pulls`` schedules pulls and fetches what changed at the partner (network only);
the ``pull`` handlers the runtime registers (``hub.flows.handlers``) call
``apply_fhir_pull`` / ``apply_referral_feed`` here: each changed resource is matched to
its case and applied in one unit of work (``UnitOfWork.save_case``: a new version,
projected on commit); then the cursor moves (``hub.sync.cursors``). A handler that fails
leaves the cursor where it was, so the next pull reads the same changes again: applying
is idempotent (our own writes coming back are recognised by the version in the sync
ledger and skipped; re-applied states change nothing).

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

from sqlalchemy import select, update

from hub import cases as c
from hub.inbound import case_id_of
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import is_hub_system
from hub.observability.safe_errors import safe_trace
from hub.store.case_repo import CaseFilter
from hub.store.concurrency import retrying
from hub.store.db import Database
from hub.store.sync_tables import outbox, sync_links
from hub.store.uow import UnitOfWork
from hub.sync.cursors import set_cursor
from hub.sync.outbox import Delivery
from hub.sync.pulls import PATIENT_LINKS, REFERRAL_FEED

log = logging.getLogger(__name__)

_NOTE_NS = uuid.UUID("8d0f3a52-61c4-5b5e-9f3e-1c2a7b9e4d10")
_OPEN = [s for s in c.CaseStatus if s not in c.FINAL_CASE_STATUSES]


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
    found = case_id_of(uow, data)
    if found is not None:
        return found
    identifiers: list[dict] = []
    for key in PATIENT_LINKS:
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
    except Exception as exc:
        log.error("could not note a refused %s on its case: %s", what, safe_trace(exc))


def _finish(db: Database, delivery: Delivery, cursor: str | None, summary: dict) -> None:
    """Move the cursor (after applying) and keep only the summary in the pull row."""
    with db.sessions() as session:
        if cursor is not None:
            set_cursor(session, delivery.partner_id, delivery.resource_type, cursor)
        session.execute(update(outbox).where(outbox.c.id == delivery.id)
                        .values(response=summary))
        session.commit()


def apply_fhir_pull(db: Database, delivery: Delivery, outcome, apply: Applier,
                    partners: Mapping) -> dict:
    """Apply every resource of a FHIR pull, then move the cursor; the summary."""
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
                        apply: Callable[[object, c.Case, dict, Report], None],
                        partners: Mapping) -> dict:
    """Apply an agency-json change feed page by page, storing each page's cursor after it."""
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
            def change(uow, case, state: dict = state) -> None:
                apply(uow, case, state, Report())

            try:
                counts[apply_to_case(db, partners, case_id, change)] += 1
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


__all__ = ["PullContext", "apply_fhir_pull", "apply_referral_feed", "apply_to_case",
           "case_for", "note_refusal", "referral_case_id", "translate_references"]
