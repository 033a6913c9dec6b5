"""ServiceRequest + Task <-> one referral of the case (``Case.referrals``).

The referral is a ServiceRequest (``intent=order``, ``performer`` = the agency, status kept
in step with the Task: active / completed / revoked) and a Task (``code`` task-code#fulfill,
``intent=order``, ``focus`` the ServiceRequest, ``owner`` the agency or absent for an open
referral, ``status`` with ``statusReason.text``, ``businessStatus``, ``restriction.period``,
``output`` resulting-activity -> the visits). The referral's status history rides on the
Task as the hub extension ``status-history`` and the plan activity it carries out on the
ServiceRequest as ``referral-activity``, its place in ``Case.referrals`` as ``case-rank``.

Inbound, ``apply_task`` takes an agency's Task update and validates the move with
``Referral.move(to, Actor.OWNER, reason)``: an illegal move raises ``CaseRuleError``.
"""

from __future__ import annotations

from typing import Any

from hub import cases
from hub.mappings.codes import (
    EXT_CASE_RANK,
    EXT_REFERRAL_ACTIVITY,
    EXT_STATUS_HISTORY,
    FULFILL,
    REFERRAL_SR_STATUS,
    RESULTING_ACTIVITY,
    TASK_CODE,
)
from hub.mappings.coverage import coverage_reference
from hub.mappings.datatypes import (
    code_from_concept,
    code_to_concept,
    concept,
    fhir_datetime,
    find_ext,
    find_exts,
    first_text,
    local_ref,
    narrative,
    parse_datetime,
    party_from_reference,
    party_to_reference,
    period_from_fhir,
    period_to_fhir,
    position,
)
from hub.mappings.encounter import encounter_reference
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import find_hub_identifier, hub_identifier, reference, resource_id
from hub.mappings.patient import patient_reference

KIND = "referral"  # the ServiceRequest
TASK_KIND = "task"
CAREPLAN_KIND = "careplan"
CONDITION_KIND = "condition"

_TASK_STATUS = {s.value for s in cases.ReferralStatus}
_RECIPIENT_TYPES = ("Organization", "Practitioner", "PractitionerRole", "RelatedPerson",
                    "Patient", "Group")


def service_request_id(case_id: str, referral_id: str) -> str:
    return resource_id(case_id, KIND, referral_id)


def task_id(case_id: str, referral_id: str) -> str:
    return resource_id(case_id, TASK_KIND, referral_id)


def service_request_reference(case_id: str, referral_id: str) -> dict[str, Any]:
    return reference("ServiceRequest", case_id, KIND, referral_id)


def _requester(case: cases.Case) -> dict[str, Any] | None:
    return party_to_reference(case.case_manager) if case.case_manager is not None else None


def _reason_conditions(case: cases.Case, referral: cases.Referral) -> list[str]:
    """Condition ids the referral serves: those the goals of its plan activity address."""
    if referral.activity is None:
        return []
    goals = {g.id: g for g in case.plan.goals}
    out: list[str] = []
    for a in case.plan.activities:
        if a.id == referral.activity:
            for gid in a.goals:
                for cid in (goals[gid].addresses if gid in goals else []):
                    if cid not in out:
                        out.append(cid)
    return out


def referral_rank(case: cases.Case, referral: cases.Referral) -> int | None:
    """1-based position of the referral in ``Case.referrals`` (None if not listed)."""
    return position(case.referrals, referral)


def service_request_to_fhir(case: cases.Case, referral: cases.Referral) -> dict[str, Any]:
    """The referral as an R4 ServiceRequest (status in step with the Task)."""
    out: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": service_request_id(case.id, referral.id),
        "text": narrative("Referral", [("service", referral.service.display
                                        or referral.service.code),
                                       ("agency", referral.agency.name if referral.agency
                                        else "open referral"),
                                       ("status", referral.status.value)]),
    }
    extensions = []
    rank = referral_rank(case, referral)
    if rank is not None:
        extensions.append({"url": EXT_CASE_RANK, "valuePositiveInt": rank})
    if referral.activity is not None:
        extensions.append({"url": EXT_REFERRAL_ACTIVITY, "valueString": referral.activity})
    if extensions:
        out["extension"] = extensions
    out.update({
        "identifier": [hub_identifier(case.id, KIND, referral.id)],
        "status": REFERRAL_SR_STATUS[referral.status],
        "intent": "order",
        "code": code_to_concept(referral.service),
        "subject": patient_reference(case),
    })
    period = period_to_fhir(referral.period)
    if period is not None:
        out["occurrencePeriod"] = period
    if referral.requested_at is not None:
        out["authoredOn"] = fhir_datetime(referral.requested_at)
    requester = _requester(case)
    if requester is not None:
        out["requester"] = requester
    if referral.agency is not None:
        out["performer"] = [party_to_reference(referral.agency)]
    if referral.reason is not None:
        out["reasonCode"] = [{"text": referral.reason}]
    conditions = _reason_conditions(case, referral)
    if conditions:
        out["reasonReference"] = [reference("Condition", case.id, CONDITION_KIND, cid)
                                  for cid in conditions]
    coverages = [coverage_reference(case.id, f.id, f.payer.name) for f in case.funding_in_order()]
    if coverages:
        out["insurance"] = coverages
    out["supportingInfo"] = [reference("CarePlan", case.id, CAREPLAN_KIND)]
    return out


def _history_ext(history: list[cases.StatusChange]) -> list[dict[str, Any]]:
    out = []
    for h in history:
        subs = [{"url": "status", "valueCode": h.status},
                {"url": "at", "valueDateTime": fhir_datetime(h.at)}]
        if h.reason is not None:
            subs.append({"url": "reason", "valueString": h.reason})
        if h.by is not None:
            subs.append({"url": "by", "valueString": h.by})
        out.append({"url": EXT_STATUS_HISTORY, "extension": subs})
    return out


def _history_from(data: dict[str, Any], path: str) -> list[cases.StatusChange]:
    out = []
    for i, e in enumerate(find_exts(data, EXT_STATUS_HISTORY)):
        subs = {s.get("url"): s for s in e.get("extension") or []}
        status = (subs.get("status") or {}).get("valueCode")
        at = parse_datetime((subs.get("at") or {}).get("valueDateTime"), f"{path}[{i}].at")
        if status is None or at is None:
            raise MappingError(f"{path}[{i}]", "a status change needs a status and a time")
        out.append(cases.StatusChange(status=status, at=at,
                                      reason=(subs.get("reason") or {}).get("valueString"),
                                      by=(subs.get("by") or {}).get("valueString")))
    return out


def recipients_of(referral: cases.Referral) -> list[dict[str, Any]]:
    """``Task.restriction.recipient``: the agencies the referral is offered to, when it
    names candidates, else its agency (the owner); none: an open referral offered to every
    agency. Partners' compartments read it (``hub.fhirstore.compartments.offered_to``)."""
    parties = referral.offered_to or ([referral.agency] if referral.agency else [])
    return [_recipient(p) for p in parties]


def _recipient(party: cases.Party) -> dict[str, Any]:
    """A recipient Reference: R4 allows no HealthcareService there (such an agency is
    named by identifier and display only)."""
    ref = party_to_reference(party)
    parts = str(ref.get("reference") or "").split("/")
    if len(parts) < 2 or parts[-2] not in _RECIPIENT_TYPES:
        ref.pop("reference", None)
    return ref


def _offered_from(task: dict[str, Any], agency: cases.Party | None,
                  report: Report) -> list[cases.Party]:
    """The referral's candidates from ``restriction.recipient`` (the owner alone, as
    ``recipients_of`` writes it for an assigned referral, names no candidates)."""
    parties = []
    for i, value in enumerate((task.get("restriction") or {}).get("recipient") or []):
        party = party_from_reference(value, f"Task.restriction.recipient[{i}]", report)
        if party is not None:
            parties.append(party)
    if agency is not None and len(parties) == 1 and _same_party(parties[0], agency):
        return []
    return parties


def task_to_fhir(case: cases.Case, referral: cases.Referral) -> dict[str, Any]:
    """The referral's fulfilment Task (hub-hosted; the agency updates it)."""
    out: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id(case.id, referral.id),
        "text": narrative("Referral task", [("status", referral.status.value),
                                            ("owner", referral.agency.name if referral.agency
                                             else "open referral")]),
    }
    if referral.history:
        out["extension"] = _history_ext(referral.history)
    out.update({
        "identifier": [hub_identifier(case.id, TASK_KIND, referral.id)],
        "status": referral.status.value,
    })
    if referral.status_reason is not None:
        out["statusReason"] = {"text": referral.status_reason}
    if referral.business_status is not None:
        out["businessStatus"] = {"text": referral.business_status}
    out.update({
        "intent": "order",
        "code": concept(*FULFILL),
    })
    if referral.description is not None:
        out["description"] = referral.description
    out["focus"] = service_request_reference(case.id, referral.id)
    out["for"] = patient_reference(case)
    if referral.requested_at is not None:
        out["authoredOn"] = fhir_datetime(referral.requested_at)
    requester = _requester(case)
    if requester is not None:
        out["requester"] = requester
    if referral.agency is not None:
        out["owner"] = party_to_reference(referral.agency)
    restriction: dict[str, Any] = {}
    period = period_to_fhir(referral.period)
    if period is not None:
        restriction["period"] = period
    recipients = recipients_of(referral)
    if recipients:
        restriction["recipient"] = recipients
    if restriction:
        out["restriction"] = restriction
    visits = [e for e in case.encounters if e.referral == referral.id]
    if visits:
        out["output"] = [{"type": concept(*RESULTING_ACTIVITY),
                          "valueReference": encounter_reference(case.id, e.id)} for e in visits]
    return out


def referral_to_fhir(case: cases.Case, referral: cases.Referral) -> list[dict[str, Any]]:
    """``[ServiceRequest, Task]`` of one referral."""
    return [service_request_to_fhir(case, referral), task_to_fhir(case, referral)]


def _part(data: dict[str, Any] | None, kind: str, case_id: str | None) -> str | None:
    if not data:
        return None
    found = find_hub_identifier(data, kind, case_id)
    if found is not None and case_id is None and "/" in found:
        found = found.split("/", 1)[1]
    return found


def _task_status(task: dict[str, Any], report: Report) -> cases.ReferralStatus:
    status = task.get("status")
    if status == "ready":  # R4: no acceptance step needed; Gravity excludes it
        report.unsupported("Task.status", "ready taken as accepted", "warning")
        return cases.ReferralStatus.ACCEPTED
    if status not in _TASK_STATUS:
        raise MappingError("Task.status", f"unknown task status {status!r}")
    return cases.ReferralStatus(status)


def check_fulfill_task(task: dict[str, Any]) -> None:
    """MappingError unless the Task is a fulfilment Task (a referral)."""
    if task.get("resourceType") != "Task":
        raise MappingError("resourceType", "expected a Task")
    codes = {(c.get("system"), c.get("code")) for c in (task.get("code") or {}).get("coding") or []}
    if (TASK_CODE, "fulfill") not in codes:
        raise MappingError("Task.code", "only fulfil Tasks (task-code#fulfill) are referrals")
    if task.get("intent") != "order":
        raise MappingError("Task.intent", "a referral Task has intent order")


def referral_from_fhir(service_request: dict[str, Any] | None, task: dict[str, Any] | None = None,
                       case_id: str | None = None,
                       report: Report | None = None) -> cases.Referral:
    """A referral from its ServiceRequest and (optionally) Task. The Task decides the status
    when present; otherwise it is derived from the ServiceRequest status."""
    report = report if report is not None else Report()
    sr = service_request or {}
    if service_request is not None and sr.get("resourceType") != "ServiceRequest":
        raise MappingError("resourceType", "expected a ServiceRequest")
    if task is not None:
        check_fulfill_task(task)
    if not sr.get("code"):
        raise MappingError("ServiceRequest.code", "a referral needs the service code")
    service = code_from_concept(sr.get("code"), "ServiceRequest.code")
    if sr.get("code", {}).get("text") and not service.display:
        service.display = sr["code"]["text"]
    status: cases.ReferralStatus | None
    if task is not None:
        status = _task_status(task, report)
    else:
        status = {"draft": cases.ReferralStatus.DRAFT, "active": cases.ReferralStatus.REQUESTED,
                  "on-hold": cases.ReferralStatus.ON_HOLD,
                  "completed": cases.ReferralStatus.COMPLETED,
                  "revoked": cases.ReferralStatus.CANCELLED,
                  "entered-in-error": cases.ReferralStatus.ENTERED_IN_ERROR}.get(sr.get("status", ""))
        if status is None:
            raise MappingError("ServiceRequest.status", f"unsupported status {sr.get('status')!r}")
    t = task or {}
    agency = None
    if t.get("owner"):
        agency = party_from_reference(t["owner"], "Task.owner", report)
    elif sr.get("performer"):
        agency = party_from_reference(sr["performer"][0], "ServiceRequest.performer[0]", report)
        if len(sr["performer"]) > 1:
            report.unsupported("ServiceRequest.performer", "only performer[0] is kept")
    reason = first_text(sr.get("reasonCode"), "ServiceRequest.reasonCode", report)
    period = period_from_fhir(sr.get("occurrencePeriod"), "ServiceRequest.occurrencePeriod")
    if period is None:
        period = period_from_fhir((t.get("restriction") or {}).get("period"),
                                  "Task.restriction.period")
    if sr.get("occurrenceTiming") or sr.get("occurrenceDateTime"):
        report.unsupported("ServiceRequest.occurrence[x]", "only occurrencePeriod is kept")
    requested = t.get("authoredOn") or sr.get("authoredOn")
    activity = find_ext(sr, EXT_REFERRAL_ACTIVITY)
    part = _part(sr, KIND, case_id) or _part(t, TASK_KIND, case_id) or sr.get("id")
    kwargs = {"id": part} if part else {}
    return cases.Referral(
        service=service, agency=agency, status=status,
        description=t.get("description"), reason=reason,
        status_reason=(t.get("statusReason") or {}).get("text"),
        business_status=((t.get("businessStatus") or {}).get("text")
                         or _first_display(t.get("businessStatus"))),
        activity=activity.get("valueString") if activity else None,
        period=period,
        requested_at=parse_datetime(requested, "Task.authoredOn" if t.get("authoredOn")
                                    else "ServiceRequest.authoredOn"),
        history=_history_from(t, "Task.extension[status-history]"),
        offered_to=_offered_from(t, agency, report), **kwargs)


def _first_display(cc: dict[str, Any] | None) -> str | None:
    for c in (cc or {}).get("coding") or []:
        if c.get("display") or c.get("code"):
            return str(c.get("display") or c.get("code"))
    return None


def find_referral(case: cases.Case, task: dict[str, Any]) -> cases.Referral | None:
    """The referral an inbound Task is about: hub identifier, Task id, then focus."""
    ids = {r.id: r for r in case.referrals}
    part = _part(task, TASK_KIND, case.id)
    if part in ids:
        return ids[part]
    for r in case.referrals:
        if task.get("id") == task_id(case.id, r.id):
            return r
    focus = task.get("focus") or {}
    part = _part({"identifier": [focus.get("identifier")]} if focus.get("identifier") else None,
                 KIND, case.id)
    if part in ids:
        return ids[part]
    target = local_ref(focus.get("reference"))
    for r in case.referrals:
        if target == f"ServiceRequest/{service_request_id(case.id, r.id)}":
            return r
    return None


def _same_party(a: cases.Party, b: cases.Party) -> bool:
    if a.reference and b.reference:
        return local_ref(a.reference) == local_ref(b.reference)
    if a.identifier is not None and b.identifier is not None:
        return (a.identifier.system, a.identifier.value) == (b.identifier.system,
                                                             b.identifier.value)
    return a.name == b.name


def _names(party: cases.Party, who: cases.Party) -> bool:
    """Whether ``party`` names ``who`` (the writing agency as the hub knows it) by
    reference or by identifier: either is enough, a different reference never matches."""
    if party.reference and who.reference:
        return local_ref(party.reference) == local_ref(who.reference)
    return party.identifier is not None and who.identifier is not None and (
        (party.identifier.system, party.identifier.value)
        == (who.identifier.system, who.identifier.value))


def _same_agency(a: cases.Party, b: cases.Party, claimant: cases.Party | None) -> bool:
    """The same party, or both name the writing agency (one by its Organization
    reference, the other by its identifier, per the partners file)."""
    return _same_party(a, b) or (claimant is not None and _names(a, claimant)
                                 and _names(b, claimant))


def apply_task(case: cases.Case, task: dict[str, Any], report: Report | None = None,
               claimant: cases.Party | None = None) -> Report:
    """Apply an agency's Task update (accept, reject, start, hold, fail, complete).

    The status move is validated by ``Referral.move(to, Actor.OWNER, reason)``: an illegal
    move raises ``CaseRuleError`` (HTTP 409/422 upstream). An open referral is claimed by the
    Task's owner; a Task owned by another agency than the referral's raises CaseRuleError.
    ``claimant``: the writing agency as the hub knows it (its Organization reference and
    identifier from the partners file): an owner naming it one way matches a candidate or
    agency the case names the other way.
    """
    report = report if report is not None else Report()
    check_fulfill_task(task)
    referral = find_referral(case, task)
    if referral is None:
        raise MappingError("Task.focus", "the Task is not about a referral of this case")
    owner = None
    if task.get("owner"):
        owner = party_from_reference(task["owner"], "Task.owner", report)
    if owner is not None:
        if referral.agency is None:
            if referral.offered_to and not any(_same_agency(p, owner, claimant)
                                               for p in referral.offered_to):
                raise cases.CaseRuleError("the referral is not offered to that agency",
                                          "agency")
            if claimant is not None and _names(owner, claimant):  # keep both of its names
                owner = cases.Party(owner.name, owner.identifier or claimant.identifier,
                                    owner.reference or claimant.reference)
            referral.agency = owner
            report.note("Task.owner", f"open referral claimed by {owner.name}")
        elif not _same_agency(referral.agency, owner, claimant):
            raise cases.CaseRuleError("the Task is owned by another agency than the referral's",
                                      "agency")
    to = _task_status(task, report)
    reason = (task.get("statusReason") or {}).get("text")
    at = parse_datetime(task.get("lastModified"), "Task.lastModified")
    if to != referral.status:
        before = referral.status
        referral.move(to, cases.Actor.OWNER, reason, at=at)
        report.note("Task.status", f"referral {before} -> {to}")
    business = (task.get("businessStatus") or {}).get("text") or _first_display(
        task.get("businessStatus"))
    if business != referral.business_status and task.get("businessStatus") is not None:
        referral.business_status = business
        report.note("Task.businessStatus", f"business status {business}")
    for i, out in enumerate(task.get("output") or []):
        ref = local_ref((out.get("valueReference") or {}).get("reference"))
        if ref and ref.startswith("Encounter/"):
            known = any(ref == f"Encounter/{resource_id(case.id, 'encounter', e.id)}"
                        or ref == f"Encounter/{e.id}" for e in case.encounters)
            if not known:
                report.unsupported(f"Task.output[{i}]", f"visit {ref} not yet received",
                                   "warning")
        elif ref:
            report.unsupported(f"Task.output[{i}]", f"{ref} is kept in the stored Task only")
    case.follow_referrals()  # the plan activity the referral carries out follows it
    return report


__all__ = ["apply_task", "check_fulfill_task", "find_referral", "recipients_of",
           "referral_from_fhir", "referral_rank", "referral_to_fhir", "service_request_id",
           "service_request_reference", "service_request_to_fhir", "task_id", "task_to_fhir"]
