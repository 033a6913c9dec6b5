"""An EpisodeOfCare posted through ``/fhir`` opens a case, with what belongs to it.

The case is read from the client's resources with the pure mappings
(``mappings.case_bundle.case_from_fhir``) after each joined resource was given its place
in the case (a hub identifier on a copy: ``<case id>/<the client's id>``), opened under
the rules of ``POST /api/cases`` (``services.start_case``: intake, one open case per
patient and program, 409 naming the open one) and recorded as the owner of those
resources (``store.case_resource_repo``): the projection writes the case onto them, so no
second CarePlan or CareTeam appears beside the client's, and later writes of them change
the case (``changes``). Everything happens in the request's transaction: a refused
opening refuses every entry.
"""

from __future__ import annotations

import logging
from typing import Any

from hub import cases as c
from hub.errors import BusinessRuleFailed, Issue, ValidationFailed
from hub.fhircase.gather import CASE_LEVEL, Lookup, Part, joined_parts
from hub.mappings.case_bundle import case_from_fhir
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import hub_identifier, resource_id
from hub.services import rule_error, start_case
from hub.store import case_resource_repo
from hub.store.case_resource_repo import CaseResource

log = logging.getLogger(__name__)

#: Episode statuses an EpisodeOfCare that opens a case may have (the case starts at
#: intake, shown as ``planned``).
OPENING_STATUSES = frozenset({"planned", "waitlist", "active"})


def hub_id(case_id: str, part: Part) -> str:
    """The id the hub gives the part (``hub.mappings.identity``)."""
    if part.kind in CASE_LEVEL:
        return resource_id(case_id, part.kind)
    return resource_id(case_id, part.kind, part.part_id)


def tagged(case_id: str, part: Part) -> dict[str, Any]:
    """A copy of the part's resource carrying the hub identifier of its place in the case."""
    copy = dict(part.resource)
    value_part = None if part.kind in CASE_LEVEL else part.part_id
    copy["identifier"] = [*(part.resource.get("identifier") or []),
                          hub_identifier(case_id, part.kind, value_part)]
    return copy


def mapping_refused(err: MappingError) -> ValidationFailed:
    return ValidationFailed(str(err), issues=[Issue(message=str(err), path=err.path)])


def _check_opening(episode: dict[str, Any], case: c.Case) -> None:
    if episode.get("status") not in OPENING_STATUSES:
        raise BusinessRuleFailed(
            f"an EpisodeOfCare that opens a case is {', '.join(sorted(OPENING_STATUSES))} "
            f"(the case starts at intake), not {episode.get('status')!r}",
            path="EpisodeOfCare.status")
    if case.plan.status == c.PlanStatus.ACTIVE:
        raise rule_error(c.CaseRuleError(
            "the plan becomes active only after a physician approved it: post the CarePlan "
            "as draft, approve it (POST /api/cases/{id}/plan/approval) and activate the case",
            "plan.approved_by"))
    if case.plan.status != c.PlanStatus.DRAFT:
        raise BusinessRuleFailed(f"a new case's plan is a draft, not {case.plan.status}",
                                 path="CarePlan.status")


def open_from_episode(uow, episode: dict[str, Any], written: list[dict[str, Any]],
                      lookup: Lookup, by: str | None, partners=None) -> c.Case:
    """Open the case of ``episode`` (a live EpisodeOfCare the request wrote)."""
    patient, parts = joined_parts(episode, written, lookup)
    case_id = c.new_id()
    resources = [patient] + [tagged(case_id, p) for p in parts]
    try:
        case = case_from_fhir(resources, Report())
    except MappingError as err:
        raise mapping_refused(err) from None
    _check_opening(episode, case)
    start_case(uow, case, by=by, case_id=case_id, patient=patient["id"], partners=partners)
    uow.write_added_cases()  # the case's row first: its case_resources rows refer to it
    case_resource_repo.add(uow.session, case.id, [
        CaseResource(p.resource["resourceType"], hub_id(case.id, p), p.resource["id"],
                     p.owned) for p in parts])
    log.info("case %s opened through /fhir with %d resources", case.id, len(parts))
    return case
