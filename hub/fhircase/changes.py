"""FHIR writes of a case's resources change the case, under its rules, or are refused.

A write by a client with case rights (``system/Case.u``) of a resource the case owns (its
EpisodeOfCare, CarePlan, CareTeam, Goals, Conditions, Encounters, referral ServiceRequests
and Tasks, Coverages: the client's own after ``opening``, or the hub's carrying a hub
identifier) is read back into the case: the case's FHIR view (``case_to_fhir``, under the
client's ids) with the written resources in place of their views, the hub's own
identifiers and extensions kept where the client left them out, is mapped to a case
(``case_from_fhir``) and applied with the rules of ``PUT /api/cases``
(``services.replace_parts``: a changed plan needs approval again, referral moves are the
requester's, a closed case is not changed), an EpisodeOfCare status is a case transition
(``Case.transition``), and the plan's status follows the case: a CarePlan written with
another status is refused (422 while the plan is not approved, 409 otherwise). The case
gets a new version and is projected on commit, so the stored resources are the case's
(elements the case does not model stay as the client wrote them).

A DELETE of the case's EpisodeOfCare ends the case (cancelled; closed from transition)
and the episode stays readable with that status. A cancellation's reason is the one the
client gave (the hub's ``status-reason`` extension on the EpisodeOfCare, or on the
statusHistory entry it adds, with PUT); without one (always with DELETE) it is recorded
as ``reason not given: ... through the FHIR API by <client>``, never made up. A DELETE of
any other resource of the case is refused (409, saying what to do instead). A client
without case rights may not change a case's resource (403).
"""

from __future__ import annotations

import logging
from typing import Any

from hub import cases as c
from hub.errors import Conflict, Forbidden
from hub.fhirapi.hooks import WriteEvent
from hub.fhircase.gather import Lookup
from hub.fhircase.joining import case_of, linked_case, new_parts
from hub.fhircase.opening import hub_id, mapping_refused, tagged
from hub.mappings.aliases import with_aliases
from hub.mappings.case_bundle import case_from_fhir, case_to_fhir
from hub.mappings.codes import EXT_CASE_STATUS, EXT_STATUS_REASON, HUB_CANONICAL
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import is_hub_system
from hub.services import replace_parts, rule_error
from hub.store import case_resource_repo
from hub.store.case_resource_repo import CaseResource

log = logging.getLogger(__name__)


def owning_case(uow, event: WriteEvent, *, unrecorded: bool = False) -> str | None:
    """The case whose resource ``event`` wrote (its previous version's), or the existing
    case a resource it created names as its own (``joining.linked_case``).

    ``unrecorded``: no case can have recorded the created resource yet, so its own case is
    not looked up (``case_resources``), only the case it names."""
    if event.before is not None:
        return case_of(uow, event.resource_type, event.id, event.before)
    found = None if unrecorded else case_of(uow, event.resource_type, event.id, {})
    if found is None and event.after is not None:
        found = linked_case(uow, event.after)
    return found


def _is_hub_extension(ext: dict[str, Any]) -> bool:
    return str(ext.get("url", "")).startswith(HUB_CANONICAL)


def with_hub_parts(new: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """``new`` plus the hub's identifiers and extensions of ``view`` it left out (the
    client need not echo what the hub keeps on its resources). An EpisodeOfCare whose
    status the client changed drops the hub's exact case status: the new status counts."""
    out = dict(new)
    idents = list(new.get("identifier") or [])
    idents += [i for i in view.get("identifier") or []
               if is_hub_system(i.get("system")) and i not in idents]
    if idents:
        out["identifier"] = idents
    urls = {e.get("url") for e in new.get("extension") or []}
    exts = list(new.get("extension") or [])
    exts += [e for e in view.get("extension") or []
             if _is_hub_extension(e) and e.get("url") not in urls]
    if new.get("resourceType") == "EpisodeOfCare" and new.get("status") != view.get("status"):
        exts = [e for e in exts if e.get("url") != EXT_CASE_STATUS]
    if exts:
        out["extension"] = exts
    return out


def _refuse_rule(err: c.CaseRuleError, what: str):
    err.message = f"{what}: {err.message}"
    return rule_error(err)


#: How a case move through ``/fhir`` that needed a reason and got none is recorded (the
#: console shows it as such): never a made-up reason.
REASON_NOT_GIVEN = "reason not given"


def _given_reason(episode: dict[str, Any], before: dict[str, Any]) -> str | None:
    """The reason the client gave for the episode's new status: the hub's status-reason
    extension on the EpisodeOfCare, or on a statusHistory entry of that status it added
    (the entries it echoed from the previous version carry earlier moves' reasons)."""
    for e in episode.get("extension") or []:
        if e.get("url") == EXT_STATUS_REASON and str(e.get("valueString") or "").strip():
            return str(e["valueString"]).strip()
    known = before.get("statusHistory") or []
    for h in reversed(episode.get("statusHistory") or []):
        if h in known or h.get("status") != episode.get("status"):
            continue
        for e in h.get("extension") or []:
            if e.get("url") == EXT_STATUS_REASON and str(e.get("valueString") or "").strip():
                return str(e["valueString"]).strip()
    return None


def not_given(what: str, by: str | None) -> str:
    """The recorded reason of a cancellation without one: says so, and how it came."""
    return f"{REASON_NOT_GIVEN}: {what} through the FHIR API by {by or 'a client'}"


def _reason(episode: dict[str, Any], before: dict[str, Any], target: c.CaseStatus,
            by: str | None) -> str | None:
    """The client's reason; a cancellation without one is recorded as not given; other
    moves need none (as ``POST /api/cases/{id}/transitions``)."""
    given = _given_reason(episode, before)
    if given is not None or target != c.CaseStatus.CANCELLED:
        return given
    return not_given(f"EpisodeOfCare set to {episode.get('status')}", by)


def _plan_check(case: c.Case, intended: c.PlanStatus, before: c.PlanStatus,
                approval: tuple, approval_before: tuple, what: str) -> None:
    """The plan's status and approval follow the case: a CarePlan may not set them."""
    if intended != before and intended != case.plan.status:
        if intended == c.PlanStatus.ACTIVE and not case.plan.approved:
            raise _refuse_rule(c.CaseRuleError(
                "the plan becomes active only after a physician approved it "
                f"(POST /api/cases/{case.id}/plan/approval), then the case is activated",
                "plan.approved_by"), what)
        raise Conflict(
            f"{what}: the plan's status follows case {case.id} ({case.status}, plan "
            f"{case.plan.status}), it is not set to {intended} on its own: cancel or close "
            "the case instead (its EpisodeOfCare's status, or POST /api/cases/{id}/"
            "transition)", path="CarePlan.status")
    if approval != approval_before:
        raise _refuse_rule(c.CaseRuleError(
            f"a plan is approved by a physician through POST /api/cases/{case.id}/plan/"
            "approval, not by writing the CarePlan", "plan.approved_by"), what)


def apply_writes(uow, case: c.Case, events: list[WriteEvent], by: str | None,
                 lookup: Lookup) -> None:
    """Map the written resources onto ``case`` under its rules (HubError: refused)."""
    aliases = case_resource_repo.aliases(uow.session, case.id)
    view = {f"{r['resourceType']}/{r['id']}": r
            for r in with_aliases(case_to_fhir(case), aliases)}
    what = ", ".join(sorted({f"{e.resource_type}/{e.id}" for e in events}))
    latest = {f"{e.resource_type}/{e.id}": e.after for e in events if e.after is not None}
    written = {key: with_hub_parts(after, view[key]) for key, after in latest.items()
               if key in view}
    joined = new_parts(case.id, view, latest, lookup)
    if not written and not joined:
        return
    resources = {**view, **written, **{p.key: tagged(case.id, p) for p in joined}}
    try:
        new = case_from_fhir(list(resources.values()), Report())
    except MappingError as err:
        raise mapping_refused(err) from None
    case_resource_repo.add(uow.session, case.id, [
        CaseResource(p.resource["resourceType"], hub_id(case.id, p), p.resource["id"])
        for p in joined])
    plan_before = case.plan.status
    approval_before = (case.plan.approved_by, case.plan.approved_at)
    intended, approval = new.plan.status, (new.plan.approved_by, new.plan.approved_at)
    new.plan.status = case.plan.status  # both follow the case, checked below
    new.plan.approved_by, new.plan.approved_at = approval_before
    try:
        replace_parts(case, new)
        if new.status != case.status:
            key = next((k for k in written if k.startswith("EpisodeOfCare/")), "")
            case.transition(new.status, reason=_reason(written.get(key, {}),
                                                       view.get(key, {}), new.status, by),
                            by=by)
    except c.CaseRuleError as err:
        raise _refuse_rule(err, what) from None
    if any(k.startswith("CarePlan/") for k in written):
        _plan_check(case, intended, plan_before, approval, approval_before, what)


def apply_delete(case: c.Case, event: WriteEvent, by: str | None) -> None:
    """A DELETE of the case's EpisodeOfCare ends the case; any other is refused."""
    what = f"{event.resource_type}/{event.id}"
    if event.resource_type != "EpisodeOfCare":
        raise Conflict(
            f"{what} belongs to case {case.id} and is not deleted on its own: change it with "
            "PUT (a Goal cancelled, a ServiceRequest revoked, a member's period ended...) or "
            "end the case by deleting its EpisodeOfCare", path=event.resource_type)
    if not case.is_open:
        raise Conflict(f"{what}: case {case.id} is already {case.status}; its record is kept",
                       path="EpisodeOfCare")
    target = c.CaseStatus.CLOSED if case.status == c.CaseStatus.TRANSITION \
        else c.CaseStatus.CANCELLED
    reason = not_given("EpisodeOfCare deleted", by) \
        if target == c.CaseStatus.CANCELLED else None
    try:
        case.transition(target, reason=reason, by=by)
    except c.CaseRuleError as err:
        raise _refuse_rule(err, what) from None


def change_cases(uow, events: list[WriteEvent], principal, partners,
                 skip_cases: set[str], lookup: Lookup) -> None:
    """Apply the request's writes of case resources to their cases (one save each)."""
    by_case: dict[str, list[WriteEvent]] = {}
    # a resource created under an id the server made up in this request is recorded by no
    # case (``case_resources``) unless a case this request opened recorded it: only then
    # can looking its case up find one (the opened one, skipped below)
    for event in events:
        case_id = owning_case(uow, event, unrecorded=event.server_id and not skip_cases)
        if case_id is not None and case_id not in skip_cases:
            by_case.setdefault(case_id, []).append(event)
    for case_id, case_events in by_case.items():
        what = f"{case_events[0].resource_type}/{case_events[0].id}"
        if not principal.allows("Case", "u"):
            raise Forbidden(f"{what} belongs to case {case_id}: changing it needs case rights "
                            "(system/Case.u)", path=case_events[0].resource_type)
        case = uow.cases.get(case_id)
        if case is None:
            continue  # a hub identifier of a case this hub does not hold
        by = principal.client_id
        deletes = [e for e in case_events if e.after is None]
        if deletes:
            for event in deletes:
                apply_delete(case, event, by)
        else:
            apply_writes(uow, case, case_events, by, lookup)
        uow.save_case(case, partners=partners)
        log.info("case %s changed through /fhir to version %s", case.id, case.version)
