"""Partner writes through the FHIR API update the case record, in the same transaction.

An agency's Task change (accept, reject, start, hold, complete), its visit Encounter, a
hospital's Encounter, CarePlan, CareTeam or Goal, an insurer's CoverageEligibilityResponse
or PAS ClaimResponse: each is applied to the case it belongs to through the pure
``apply_*`` mappings, under the case's rules (a CarePlan does not make a plan active
before a physician approved it: ``Case.set_plan_status``). A PAS ClaimResponse goes
through the insurer flow (``hub.flows.insurer_answers``), which keeps the hub's copy and
ignores repeated or older answers. An illegal move refuses the
whole write (409/422 OperationOutcome);
otherwise the case is saved through the FHIR write's unit of work (``save_case``): it gets a
new version and, when the write commits, the case's other resources are re-projected (e.g.
the referral ServiceRequest becomes ``completed`` with its Task), in the same transaction.

Only writes by clients bound to a partner Organization are applied: the hub's own apps
change cases through ``/api/cases``.
"""

from __future__ import annotations

import logging
from functools import partial

from flask import current_app

from hub import cases as c
from hub.errors import Issue, NotFound, ValidationFailed
from hub.fhirapi.hooks import WriteEvent, register_write_hook
from hub.flows import insurer_answers
from hub.mappings import careplan, careteam, eligibility, encounter, goal, referral
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import is_hub_system
from hub.partner_match import partner_of_organization, partner_party
from hub.services import rule_error

log = logging.getLogger(__name__)

#: Reference elements followed to find the case of a partner's resource.
_CASE_LINKS = ("focus", "basedOn", "episodeOfCare", "request", "partOf", "for", "subject")


def _request_resource(uow, data: dict, rtype: str) -> dict | None:
    ref = (data.get("request") or {}).get("reference") or ""
    if ref.startswith(f"{rtype}/"):
        stored = uow.resources.read(rtype, ref.split("/", 1)[1])
        if stored is not None and not stored.deleted:
            return stored.content
    return None


def _apply_eligibility(uow, case, data, report):
    request = _request_resource(uow, data, "CoverageEligibilityRequest")
    req = eligibility.eligibility_request_from_fhir(request, case=case) if request else None
    return eligibility.apply_eligibility_response(case, data, request=req, report=report)


def _claimant(principal) -> c.Party:
    """The writing agency as the hub knows it: its Organization and, from the partners
    file, its identifier (never taken from anything a partner writes)."""
    partner = partner_of_organization(current_app.extensions["hub.runtime"].partners,
                                      principal.organization)
    if partner is None:
        return c.Party(principal.organization, None, principal.organization)
    return partner_party(partner)


def _apply_task(uow, case, data, report, claimant: c.Party | None = None):
    return referral.apply_task(case, data, report, claimant=claimant)


APPLIERS = {
    "Task": _apply_task,
    "Encounter": lambda uow, case, data, report: encounter.apply_encounter(case, data, report),
    "CarePlan": lambda uow, case, data, report: careplan.apply_careplan(case, data,
                                                                        report=report),
    "CareTeam": lambda uow, case, data, report: careteam.apply_careteam(case, data,
                                                                        report=report),
    "Goal": lambda uow, case, data, report: goal.apply_goal(case, data, report),
    "CoverageEligibilityResponse": _apply_eligibility,
}


def _hub_case_ids(element) -> set[str]:
    """Case ids in hub identifiers anywhere in a resource or reference."""
    found: set[str] = set()
    if isinstance(element, dict):
        if is_hub_system(element.get("system")) and isinstance(element.get("value"), str):
            found.add(element["value"].split("/", 1)[0])
        for value in element.values():
            found |= _hub_case_ids(value)
    elif isinstance(element, list):
        for value in element:
            found |= _hub_case_ids(value)
    return found


def case_id_of(uow, data: dict) -> str | None:
    """The case a partner's resource belongs to: its own hub identifier, a hub identifier
    on its links, or the hub identifier of a stored resource it links to."""
    own = _hub_case_ids(data.get("identifier"))
    if len(own) == 1:
        return own.pop()
    links = [data.get(k) for k in _CASE_LINKS if data.get(k)]
    linked = _hub_case_ids(links)
    if len(linked) == 1:
        return linked.pop()
    for link in links:
        for ref in link if isinstance(link, list) else [link]:
            target = (ref or {}).get("reference") or ""
            if target.count("/") != 1:
                continue
            rtype, rid = target.split("/")
            stored = uow.resources.read(rtype, rid)
            if stored is not None and not stored.deleted:
                ids = _hub_case_ids(stored.content.get("identifier"))
                if len(ids) == 1:
                    return ids.pop()
    return None


def on_partner_write(uow, event: WriteEvent) -> None:
    """The write hook: apply a partner's resource to its case (or refuse the write)."""
    principal = event.principal
    if not getattr(principal, "organization", None) or event.after is None:
        return
    if event.resource_type == "ClaimResponse":
        _on_claim_response(uow, event)
        return
    apply = APPLIERS.get(event.resource_type)
    if apply is None:
        return
    case_id = case_id_of(uow, event.after)
    if case_id is None:
        return  # not about a case of the hub (e.g. a partner's own record)
    case = uow.cases.get(case_id)
    if case is None:
        raise NotFound(f"the case of this {event.resource_type} is unknown")
    report = Report()
    if event.resource_type == "Task":  # an owner naming the agency by reference or NPI
        apply = partial(_apply_task, claimant=_claimant(principal))
    try:
        apply(uow, case, event.after, report)
    except c.CaseRuleError as err:
        raise rule_error(err) from None
    except MappingError as err:
        raise ValidationFailed(str(err), issues=[Issue(message=str(err),
                                                       path=getattr(err, "path", None))]) from None
    # a concurrent case change raises StaleCase: the FHIR runner re-runs the whole write
    uow.save_case(case, partners=current_app.extensions["hub.runtime"].partners,
                  skip={(event.resource_type, event.id)})
    log.info("applied %s/%s to case version %s (%d report items)", event.resource_type,
             event.id, case.version, len(report.items))


def _on_claim_response(uow, event: WriteEvent) -> None:
    """An insurer's PAS answer POSTed to the hub: applied like a notification or a polled
    answer (the hub keeps its copy; the same answer twice or an older one changes nothing)."""
    if event.after is None or case_id_of(uow, event.after) is None:
        return  # not about a request of the hub
    try:
        insurer_answers.apply_pas_response_in(
            uow, event.after, insurer=event.principal.organization,
            partners=current_app.extensions["hub.runtime"].partners)
    except MappingError as err:
        raise ValidationFailed(str(err), issues=[Issue(message=str(err), path=err.path)]) from None


def init_app(app) -> None:
    register_write_hook(app, on_partner_write)
