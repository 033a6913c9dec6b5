"""Projecting the case record into the FHIR resource store and the partners' outbox.

A case opened through ``/fhir`` is projected onto the resources its client posted
(``store.case_resource_repo.aliases``, ``mappings.aliases``): no second CarePlan beside
the client's. Called by the unit of work on commit (``project_saved``, the runtime's
``Database.case_projector``) for every case saved in it, inside the write's transaction:
the case change, the new resource versions and the outbox rows commit together or not at
all. A resource gets a new version
only when its content changed; elements the case does not model are kept from the
previous version (``hub.mappings.merge``). Each changed resource is queued for every
partner that receives its type and is concerned by the case (the partner's Organization
appears in the case: managing organization, care team, funding payer, encounter facility,
referral agency).
What a queued resource points at that the partner receives but has not got is queued too,
and before it: the rows of one (partner, case) go out in order, so at delivery the ledger
knows the partner's id of every target (``hub.sync.references`` rewrites them then).

Referrals: an agency with a FHIR server gets the referral's ServiceRequest and Task once
requested (never drafts) and afterwards only the hub's cancellation (the agency owns the
Task; its moves are pulled back). An agency-json partner gets a ``send`` row when a
referral addressed to it becomes requested and a ``cancel`` row when a sent one is
cancelled, in the same transaction as the case change.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import select

from hub import cases as c
from hub.fhirjson.strict import require_valid_outgoing
from hub.mappings.agency_json import referral_to_agency_json
from hub.mappings.aliases import with_aliases
from hub.mappings.case_bundle import case_to_fhir
from hub.mappings.identity import is_hub_system
from hub.mappings.merge import merge_onto_previous
from hub.mappings.meta import strip_meta
from hub.partner_match import (
    agency_references,
    concerned_partners,
    party_names_partner,
    references_name_partner,
)
from hub.store import case_resource_repo
from hub.store.sync_tables import outbox, sync_links
from hub.sync.outbox import enqueue
from hub.sync.references import targets


@dataclass(frozen=True)
class Written:
    """A resource version the projection stored."""

    resource_type: str
    id: str
    version_id: int


def _known_to_partner(session, partner_id: str, rtype: str, rid: str) -> bool:
    """Whether the partner has (or has been sent) this resource: update, not create."""
    linked = session.execute(select(sync_links.c.local_id).where(
        sync_links.c.partner_id == partner_id, sync_links.c.local_type == rtype,
        sync_links.c.local_id == rid).limit(1)).first()
    if linked:
        return True
    queued = session.execute(select(outbox.c.id).where(
        outbox.c.partner_id == partner_id, outbox.c.resource_type == rtype,
        outbox.c.resource_id == rid).limit(1)).first()
    return queued is not None


@dataclass
class _Queued:
    """A resource version to send to one partner."""

    rtype: str
    rid: str
    content: dict
    version: int
    operation: str


def _reference_options(partner, patient: dict | None) -> dict:
    """The row's options for ``hub.sync.references``: rewrite references for the partner,
    its patient found by the case's identifiers (the MRN; the hub's own only if none)."""
    options: dict = {"references": "partner"}
    if patient is None:
        return options
    idents = [i for i in patient.get("identifier") or [] if not is_hub_system(i.get("system"))]
    info: dict = {"reference": f"Patient/{patient['id']}",
                  "identifier": idents or list(patient.get("identifier") or [])}
    if getattr(partner, "patient", "match") == "create":
        info["resource"] = patient
    options["patient"] = info
    return options


def _with_dependencies(uow, partner, queued: list[_Queued]) -> list[_Queued]:
    """``queued`` plus what it points at that the partner receives but has not got: the
    current version of each, created before what points at it."""
    out = list(queued)
    have = {(q.rtype, q.rid) for q in out}
    index = 0
    while index < len(out):
        for rtype, rid in targets(out[index].content):
            if (rtype, rid) in have or rtype not in partner.receives or rtype == "Patient":
                continue
            if partner.kind == "agency" and rtype in REFERRAL_TYPES:
                continue  # a referral's resources go together (``_agency_gets``)
            have.add((rtype, rid))
            if _known_to_partner(uow.session, partner.id, rtype, rid):
                continue
            stored = uow.resources.read(rtype, rid)
            if stored is None or stored.deleted:
                continue
            out.append(_Queued(rtype, rid, stored.content, stored.version_id, "create"))
        index += 1
    return out


def _in_dependency_order(queued: list[_Queued]) -> list[_Queued]:
    """What a resource points at first (a cycle is cut where it closes)."""
    by_key = {(q.rtype, q.rid): q for q in queued}
    done: set[tuple[str, str]] = set()
    visiting: set[tuple[str, str]] = set()
    ordered: list[_Queued] = []

    def visit(item: _Queued) -> None:
        key = (item.rtype, item.rid)
        if key in done or key in visiting:
            return
        visiting.add(key)
        for target in targets(item.content):
            if target in by_key:
                visit(by_key[target])
        visiting.discard(key)
        done.add(key)
        ordered.append(item)

    for item in queued:
        visit(item)
    return ordered


def project_saved(uow, saved) -> list[Written]:
    """The unit of work's projector: project one saved case (``hub.store.uow.SavedCase``)
    for its partners (else the unit of work's), skipping what it says."""
    partners = saved.partners if saved.partners is not None else uow.partners
    return project_case(uow, saved.case, partners, skip=saved.skip, no_echo=saved.no_echo)


def project_case(uow, case: c.Case, partners: Mapping | None = None,
                 skip: Set[tuple[str, str]] = frozenset(),
                 no_echo: Set[tuple[str, str, str]] = frozenset()) -> list[Written]:
    """Store new versions of the case's changed resources and queue them for partners.

    ``skip`` names resources (type, id) not to rewrite: the one a partner has just written
    and whose change the case was updated from. ``no_echo`` names (partner id, type, id)
    to store but not send back: a partner's own change pulled from it.
    """
    written: list[Written] = []
    concerned = concerned_partners(case, partners or {}, uow.resources)
    queues: dict[str, list[_Queued]] = {p.id: [] for p in concerned}
    # a case whose row is not written yet has no case_resources rows: they refer to it
    aliases = {} if uow.unwritten(case.id) else case_resource_repo.aliases(uow.session, case.id)
    resources = [agency_references(r, partners or {})
                 for r in with_aliases(case_to_fhir(case), aliases)]
    wanted = [(r["resourceType"], r["id"]) for r in resources]
    current = uow.resources.current_many([key for key in wanted if key not in skip])
    changes, befores = [], []
    for resource, (rtype, rid) in zip(resources, wanted):
        if (rtype, rid) in skip:
            continue
        previous = current.get((rtype, rid))
        before = None if previous is None or previous.deleted else previous.content
        content = merge_onto_previous(resource, before)
        if before is not None and strip_meta(content, None) == strip_meta(before, None):
            continue
        require_valid_outgoing(content)  # nothing invalid is stored or queued for a partner
        changes.append((rtype, rid, content, previous))
        befores.append(before)
    versions = uow.resources.new_versions(changes)
    uow.write_added_cases()  # a new case's own rows (``add_case``), then its versions: the
    # first INSERT takes SQLite's write lock, after the versions were built
    for stored, before in zip(uow.resources.store_versions(versions), befores):
        rtype, rid = stored.type, stored.id
        written.append(Written(rtype, rid, stored.version_id))
        for partner in concerned:
            if rtype not in partner.receives or partner.protocol != "fhir":
                continue
            if (partner.id, rtype, rid) in no_echo:
                continue
            known = _known_to_partner(uow.session, partner.id, rtype, rid)
            if partner.kind == "agency" and rtype in REFERRAL_TYPES \
                    and not _agency_gets(uow.resources, partner, stored.content,
                                         before, known):
                continue
            queues[partner.id].append(_Queued(rtype, rid, stored.content, stored.version_id,
                                              "update" if known else "create"))
    patient = next((r for r in resources if r["resourceType"] == "Patient"), None)
    for partner in concerned:
        queued = _with_dependencies(uow, partner, queues[partner.id])
        options = _reference_options(partner, patient)
        for item in _in_dependency_order(queued):
            enqueue(uow.session, partner_id=partner.id, resource_type=item.rtype,
                    resource_id=item.rid, operation=item.operation, payload=item.content,
                    case_id=case.id, resource_version=str(item.version), options=options)
    _queue_agency_json_calls(uow, case, partners or {})
    return written


# -- referrals to agencies ------------------------------------------------------------------

#: The resources of a referral (hub.mappings.referral).
REFERRAL_TYPES = ("ServiceRequest", "Task")
#: Statuses the requester (the hub) moves a referral to after it was sent: the only
#: changes pushed to the agency, which owns the Task from then on (Gravity push variant).
_REQUESTER_TASK = {"cancelled", "entered-in-error"}
_REQUESTER_SR = {"revoked", "entered-in-error"}


def _addressed_to(resources, content: dict, partner) -> bool:
    """Whether the referral resource names ``partner``'s Organization as its agency (by
    reference or identifier, ``hub.partner_match``)."""
    if content.get("resourceType") == "Task":
        refs = [content.get("owner")]
    else:
        refs = list(content.get("performer") or [])
    return references_name_partner(partner, refs, resources)


def _agency_gets(resources, partner, content: dict, before: dict | None,
                 known: bool) -> bool:
    """An agency with a FHIR server gets a referral's ServiceRequest and Task when they are
    addressed to it: created once requested (never as drafts), then only the requester's
    own moves (cancel, entered-in-error); the agency's moves come back by pull."""
    if not _addressed_to(resources, content, partner):
        return False
    status = content.get("status")
    if not known:
        return status != "draft"
    moves = _REQUESTER_TASK if content.get("resourceType") == "Task" else _REQUESTER_SR
    return status in moves and (before or {}).get("status") != status


def _queued(session, partner_id: str, referral_id: str, operation: str) -> bool:
    return session.execute(select(outbox.c.id).where(
        outbox.c.partner_id == partner_id, outbox.c.operation == operation,
        outbox.c.resource_type == "Referral", outbox.c.resource_id == referral_id)
        .limit(1)).first() is not None


def _queue_agency_json_calls(uow, case: c.Case, partners: Mapping) -> None:
    """Referrals to agency-json partners: a ``send`` when one becomes requested, a ``cancel``
    when a sent one is cancelled. The referral document is built here, in the write's
    transaction, and kept in the row: every retry sends the same bytes."""
    targets = [p for p in partners.values() if p.protocol == "agency-json"
               and (p.organization or p.organization_identifier)]
    if not targets:
        return
    for referral in case.referrals:
        partner = next((p for p in targets
                        if party_names_partner(p, referral.agency, uow.resources)), None)
        if partner is None:
            continue
        sent = _queued(uow.session, partner.id, referral.id, "send")
        if referral.status == c.ReferralStatus.REQUESTED and not sent:
            enqueue(uow.session, partner_id=partner.id, resource_type="Referral",
                    resource_id=referral.id, operation="send", case_id=case.id,
                    payload=referral_to_agency_json(case, referral))
        elif referral.status == c.ReferralStatus.CANCELLED and sent \
                and not _queued(uow.session, partner.id, referral.id, "cancel"):
            last = referral.history[-1] if referral.history else None
            body = {"reason": referral.status_reason or "cancelled by the case manager"}
            if last is not None and last.status == c.ReferralStatus.CANCELLED.value:
                body["cancelled_at"] = last.at.astimezone(UTC).replace(
                    microsecond=0).isoformat().replace("+00:00", "Z")
            enqueue(uow.session, partner_id=partner.id, resource_type="Referral",
                    resource_id=referral.id, operation="cancel", case_id=case.id,
                    payload=body)
