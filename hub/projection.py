"""Projecting the case record into the FHIR resource store and the partners' outbox.

Called by the services inside the write's transaction: the case change, the new resource
versions and the outbox rows commit together or not at all. A resource gets a new version
only when its content changed; elements the case does not model are kept from the
previous version (``hub.mappings.merge``). Each changed resource is queued for every
partner that receives its type and is concerned by the case (the partner's Organization
appears in the case: care team, funding payer, encounter facility, referral agency).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from hub import cases as c
from hub.mappings.case_bundle import case_to_fhir
from hub.mappings.merge import merge_onto_previous
from hub.store.sync_tables import outbox, sync_links
from hub.sync.outbox import enqueue


@dataclass(frozen=True)
class Written:
    """A resource version the projection stored."""

    resource_type: str
    id: str
    version_id: int


def _without_meta(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k != "meta"}


def organizations_of(case: c.Case) -> set[str]:
    """The Organization references the case names (who is concerned by it)."""
    parties: list[c.Party | None] = [case.case_manager]
    parties += [m.on_behalf_of for m in case.care_team]
    parties += [f.payer for f in case.funding]
    parties += [e.facility for e in case.encounters]
    parties += [r.agency for r in case.referrals]
    refs = {p.reference for p in parties if p is not None and p.reference}
    refs |= {f"Organization/{m.id}" for m in case.care_team
             if m.kind == c.MemberKind.ORGANIZATION}
    return {r for r in refs if r.startswith("Organization/")}


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


def project_case(uow, case: c.Case, partners: Mapping | None = None,
                 skip: set[tuple[str, str]] = frozenset()) -> list[Written]:
    """Store new versions of the case's changed resources and queue them for partners.

    ``skip`` names resources (type, id) not to rewrite: the one a partner has just written
    and whose change the case was updated from.
    """
    written: list[Written] = []
    concerned = [p for p in (partners or {}).values()
                 if p.organization and p.organization in organizations_of(case)]
    for resource in case_to_fhir(case):
        rtype, rid = resource["resourceType"], resource["id"]
        if (rtype, rid) in skip:
            continue
        previous = uow.resources.read(rtype, rid)
        before = None if previous is None or previous.deleted else previous.content
        content = merge_onto_previous(resource, before)
        if before is not None and _without_meta(content) == _without_meta(before):
            continue
        stored = uow.resources.update(rtype, rid, content)
        written.append(Written(rtype, rid, stored.version_id))
        for partner in concerned:
            if rtype not in partner.receives:
                continue
            op = "update" if _known_to_partner(uow.session, partner.id, rtype, rid) else "create"
            enqueue(uow.session, partner_id=partner.id, resource_type=rtype, resource_id=rid,
                    operation=op, payload=stored.content, case_id=case.id,
                    resource_version=str(stored.version_id))
    return written
