"""Hospital EHR flow (DOMAIN.md section 6): care-plan exchange, admissions and discharges.

- **Push**: the case's CarePlan and CareTeam are queued by the projection for every
  hospital partner concerned by the case that ``receives`` them (create, then update with
  If-Match); nothing to do here.
- **Pull** (``hub.sync.pulls`` fetches, ``hub.flows.pulled`` applies): changed
  Encounters, CarePlans and CareTeams (``_lastUpdated=gt{cursor}``) are matched to their
  case -- by a hub identifier on the resource or what it links to, else by the
  identifiers (MRN...) of the hospital's Patient it is about, which must name the patient
  of exactly one open case -- and applied with ``apply_encounter``, ``apply_careplan``,
  ``apply_careteam``. Our own copies coming back are skipped.
- **Discharge planning**: a discharge to home health (NUBC 06,
  ``needs_home_health_referral``) opens the referral workflow in the same transaction: a
  draft home-health referral on the case (the agency from the case's care team when
  exactly one configured agency is in it, named by reference or by identifier, else unset)
  and a note for the case manager.

The Encounter handler serves agencies' visit Encounters too (hub.flows.agency).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from hub import cases as c
from hub.flows.pulled import PullContext
from hub.mappings import careplan, careteam, encounter
from hub.mappings.codes import HOME_HEALTH_CATEGORY
from hub.mappings.datatypes import local_ref
from hub.mappings.errors import Report
from hub.partner_match import party_names_partner

#: The service of the referral a home-health discharge opens (X12 service type 42).
HOME_HEALTH_SERVICE = c.Code(*HOME_HEALTH_CATEGORY)
_REFERRAL_NS = uuid.UUID("3b9e51d2-0c8a-5f7e-b1a4-6d2f8e0c7a93")


def home_health_referral_id(case_id: str, encounter_id: str) -> str:
    """The deterministic id of the referral a discharge opens (once per encounter)."""
    return str(uuid.uuid5(_REFERRAL_NS, f"{case_id}/discharge/{encounter_id}"))


def agency_from_care_team(case: c.Case, partners: Mapping, resources=None) -> c.Party | None:
    """The care team's home-health agency: the one configured agency partner whose
    Organization the care team names (a member organization or a member's employer), by
    reference or by identifier (``hub.partner_match``; ``resources``: the FHIR store, for
    the identifiers of the Organizations the members reference)."""
    agencies = [p for p in (partners or {}).values() if p.kind == "agency"
                and (p.organization or p.organization_identifier)]
    found: dict[str, c.Party] = {}
    for member in case.care_team:
        if member.period is not None and member.period.end is not None:
            continue
        parties = [member.on_behalf_of]
        if member.kind == c.MemberKind.ORGANIZATION:
            parties.append(c.Party(member.name, member.identifier,
                                   f"Organization/{member.id}"))
        for party in parties:
            for agency in agencies:
                if party is not None and party_names_partner(agency, party, resources):
                    found.setdefault(agency.id, _proposed(party))
    return next(iter(found.values())) if len(found) == 1 else None


def _proposed(party: c.Party) -> c.Party:
    """The referral's agency: the care team's party, its reference made local."""
    ref = local_ref(party.reference) if party.reference else None
    return c.Party(party.name, party.identifier, ref)


def open_home_health_referral(case: c.Case, data: dict, partners: Mapping,
                               resources=None) -> c.Referral | None:
    """Add the draft home-health referral and the case manager's note for a discharge to
    home health (idempotent: one per discharge encounter)."""
    enc = encounter.find_encounter(case, data)
    key = enc.id if enc is not None else (data.get("id") or "discharge")
    referral_id = home_health_referral_id(case.id, key)
    if any(r.id == referral_id for r in case.referrals):
        return None
    agency = agency_from_care_team(case, partners, resources)
    referral = c.Referral(
        service=c.Code(HOME_HEALTH_SERVICE.system, HOME_HEALTH_SERVICE.code,
                       HOME_HEALTH_SERVICE.display),
        agency=agency, id=referral_id, status=c.ReferralStatus.DRAFT,
        reason="Discharged from hospital to home health care")
    case.referrals.append(referral)
    when = enc.end.date().isoformat() if enc is not None and enc.end else "recently"
    who = f"; agency proposed from the care team: {agency.name}" if agency else \
        "; choose the agency"
    case.notes.append(c.Note(
        text=f"Hospital discharge to home health ({when}): a draft home-health referral "
             f"was opened{who}. Review it and request it.",
        author="hub (discharge planning)",
        id=str(uuid.uuid5(_REFERRAL_NS, f"{referral_id}/note"))))
    return referral


def apply_pulled_encounter(uow, case: c.Case, data: dict, report: Report,
                           ctx: PullContext) -> None:
    encounter.apply_encounter(case, data, report)
    if encounter.needs_home_health_referral(report):
        open_home_health_referral(case, data, ctx.partners, uow.resources)


def apply_pulled_careplan(uow, case: c.Case, data: dict, report: Report,
                          ctx: PullContext) -> None:
    careplan.apply_careplan(case, data, report=report)


def apply_pulled_careteam(uow, case: c.Case, data: dict, report: Report,
                          ctx: PullContext) -> None:
    careteam.apply_careteam(case, data, report=report)


__all__ = ["HOME_HEALTH_SERVICE", "agency_from_care_team", "apply_pulled_encounter",
           "home_health_referral_id", "open_home_health_referral"]
