"""CarePlan <-> the individualized plan (``Case.plan``) and the case notes.

status (request-status), ``intent=plan``, category = US Core ``assess-plan`` + the hub
cm-model, subject, period, author (case manager), careTeam, addresses -> Conditions,
goal -> Goals, note = the case notes (Annotation ``id`` = note id), generated narrative.
Activities keep their id as the activity element ``id``:

* an activity some referral carries out -> ``activity.reference`` to the referral
  ServiceRequest; the planned activity itself (kind, status, code, schedule...) travels in the
  ``planned-activity`` hub extension on the activity element, since R4 forbids ``detail``
  beside ``reference`` (cpl-3);
* any other activity -> ``activity.detail`` (status required).

Physician approval and the revision time are hub extensions.
"""

from __future__ import annotations

import uuid
from typing import Any

from hub import cases
from hub.mappings.careteam import careteam_reference, member_reference_by_id
from hub.mappings.codes import (
    ACTIVITY_KIND,
    ACTIVITY_KIND_FROM,
    ACTIVITY_STATUS,
    ACTIVITY_STATUS_FROM,
    ASSESS_PLAN,
    CASE_MODEL,
    EXT_PLAN_APPROVAL,
    EXT_PLAN_REVISED,
    EXT_PLANNED_ACTIVITY,
    PERIOD_UNIT,
    PERIOD_UNIT_FROM,
    PLAN_STATUS,
    PLAN_STATUS_FROM,
)
from hub.mappings.condition import condition_reference
from hub.mappings.datatypes import (
    code_from_concept,
    code_to_concept,
    concept,
    ext,
    fhir_datetime,
    find_ext,
    local_ref,
    narrative,
    parse_datetime,
    party_from_reference,
    party_to_reference,
    period_from_fhir,
    period_to_fhir,
)
from hub.mappings.episode import episode_reference
from hub.mappings.errors import MappingError, Report
from hub.mappings.goal import apply_goal, goal_from_fhir, goal_reference, ref_part_id
from hub.mappings.identity import hub_identifier, resource_id
from hub.mappings.patient import display_name, patient_reference

KIND = "careplan"
EPISODE_EXT = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"


def careplan_id(case_id: str) -> str:
    return resource_id(case_id, KIND)


# --- outbound ---------------------------------------------------------------------------

def _timing(freq: cases.Frequency, period: cases.Period | None) -> dict[str, Any]:
    repeat: dict[str, Any] = {}
    bounds = period_to_fhir(period)
    if bounds:
        repeat["boundsPeriod"] = bounds
    repeat.update({"frequency": freq.count, "period": freq.period,
                   "periodUnit": PERIOD_UNIT[freq.unit]})
    return {"repeat": repeat}


def _referral_for(case: cases.Case, activity: cases.Activity) -> cases.Referral | None:
    return next((r for r in case.referrals if r.activity == activity.id), None)


def _detail(case: cases.Case, act: cases.Activity) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": ACTIVITY_KIND[act.kind]}
    if act.code is not None:
        d["code"] = code_to_concept(act.code)
    if act.goals:
        d["goal"] = [goal_reference(case.id, g) for g in act.goals]
    d["status"] = ACTIVITY_STATUS[act.status]
    if act.frequency is not None:
        d["scheduledTiming"] = _timing(act.frequency, act.period)
    elif period_to_fhir(act.period):
        d["scheduledPeriod"] = period_to_fhir(act.period)
    if act.performer is not None:
        d["performer"] = [member_reference_by_id(case, act.performer)]
    d["description"] = act.description
    return d


def _planned_activity_ext(case: cases.Case, act: cases.Activity) -> dict[str, Any]:
    """The planned activity as a complex hub extension (for referenced activities)."""
    d = _detail(case, act)
    subs = [ext("kind", valueCode=d["kind"]), ext("status", valueCode=d["status"]),
            ext("description", valueString=d["description"])]
    if "code" in d:
        subs.append(ext("code", valueCoding=d["code"]["coding"][0]))
    for g in d.get("goal", []):
        subs.append(ext("goal", valueReference=g))
    if "scheduledTiming" in d:
        subs.append(ext("scheduled", valueTiming=d["scheduledTiming"]))
    if "scheduledPeriod" in d:
        subs.append(ext("scheduled", valuePeriod=d["scheduledPeriod"]))
    for p in d.get("performer", []):
        subs.append(ext("performer", valueReference=p))
    return {"url": EXT_PLANNED_ACTIVITY, "extension": subs}


def activity_to_fhir(case: cases.Case, act: cases.Activity) -> dict[str, Any]:
    out: dict[str, Any] = {"id": act.id}
    referral = _referral_for(case, act)
    if referral is not None:
        out["extension"] = [_planned_activity_ext(case, act)]
    if act.progress:
        out["progress"] = [{"text": t} for t in act.progress]
    if referral is not None:
        out["reference"] = {"reference": f"ServiceRequest/{resource_id(case.id, 'referral', referral.id)}",
                            "display": act.description}
    else:
        out["detail"] = _detail(case, act)
    return out


def careplan_to_fhir(case: cases.Case) -> dict[str, Any]:
    plan = case.plan
    extensions = [ext(EPISODE_EXT, valueReference=episode_reference(case))]
    if plan.approved_by is not None or plan.approved_at is not None:
        subs = []
        if plan.approved_by is not None:
            subs.append(ext("approvedBy", valueReference=party_to_reference(plan.approved_by)))
        if plan.approved_at is not None:
            subs.append(ext("approvedAt", valueDateTime=fhir_datetime(plan.approved_at)))
        extensions.append({"url": EXT_PLAN_APPROVAL, "extension": subs})
    if plan.revised_at is not None:
        extensions.append(ext(EXT_PLAN_REVISED, valueDateTime=fhir_datetime(plan.revised_at)))
    rows = [("status", plan.status.value), ("model", case.model.value)]
    rows += [("goal", f"{g.description} ({g.lifecycle_status.value})") for g in plan.goals]
    rows += [("activity", f"{a.description} ({a.status.value})") for a in plan.activities]
    if plan.approved_by is not None:
        rows.append(("approved by", plan.approved_by.name))
    out: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": careplan_id(case.id),
        "text": narrative(f"Case plan for {display_name(case.patient)}", rows),
        "extension": extensions,
        "identifier": [hub_identifier(case.id, KIND)],
        "status": PLAN_STATUS[plan.status],
        "intent": "plan",
        "category": [concept(*ASSESS_PLAN), concept(*CASE_MODEL[case.model])],
        "title": "Case management plan",
        "subject": patient_reference(case),
    }
    period = period_to_fhir(plan.period)
    if period:
        out["period"] = period
    if case.case_manager is not None:
        out["author"] = party_to_reference(case.case_manager)
    out["careTeam"] = [careteam_reference(case)]
    conditions = case.assessment.conditions if case.assessment else []
    if conditions:
        out["addresses"] = [condition_reference(case.id, c.id, c.code.display)
                            for c in conditions]
    if plan.goals:
        out["goal"] = [goal_reference(case.id, g.id) for g in plan.goals]
    if plan.activities:
        out["activity"] = [activity_to_fhir(case, a) for a in plan.activities]
    if case.notes:
        notes = []
        for n in case.notes:
            a: dict[str, Any] = {"id": n.id}
            if n.author is not None:
                a["authorString"] = n.author
            a["time"] = fhir_datetime(n.at)
            a["text"] = n.text
            notes.append(a)
        out["note"] = notes
    return out


# --- inbound ----------------------------------------------------------------------------

def _frequency(timing: dict[str, Any], path: str,
               report: Report) -> tuple[cases.Frequency | None, cases.Period | None]:
    repeat = timing.get("repeat") or {}
    bounds = period_from_fhir(repeat.get("boundsPeriod"), f"{path}.repeat.boundsPeriod")
    if "frequency" not in repeat or "periodUnit" not in repeat:
        if repeat or timing.get("event") or timing.get("code"):
            report.unsupported(path, "only frequency/period/periodUnit timings are kept")
        return None, bounds
    unit = PERIOD_UNIT_FROM.get(repeat["periodUnit"])
    if unit is None:
        report.unknown_code(f"{path}.repeat.periodUnit", "http://unitsofmeasure.org",
                            repeat["periodUnit"])
        return None, bounds
    period = repeat.get("period", 1)
    if int(period) != period:
        report.unsupported(f"{path}.repeat.period", "fractional periods are not kept")
        return None, bounds
    return cases.Frequency(count=int(repeat["frequency"]), period=int(period), unit=unit), bounds


def _goal_ids(refs: list[dict[str, Any]], case_id: str | None, index: dict[str, str]) -> list[str]:
    out = []
    for ref in refs:
        gid = ref_part_id(ref, "goal", case_id, index)
        if gid is None and ref.get("reference"):
            gid = str(local_ref(ref["reference"])).split("/")[-1].lstrip("#")
        if gid is not None:
            out.append(gid)
    return out


def _performer_id(refs: list[dict[str, Any]], path: str, case_id: str | None, index: dict[str, str],
                  report: Report) -> str | None:
    if not refs:
        return None
    if len(refs) > 1:
        report.unsupported(path, "only the first performer is kept on the case")
    pid = ref_part_id(refs[0], "care-team-member", case_id, index)
    if pid is None:
        pid = local_ref(refs[0].get("reference")) or refs[0].get("display")
    return pid


def _activity_fields(fields: dict[str, Any], path: str, case_id: str | None, index: dict[str, str],
                     report: Report) -> dict[str, Any]:
    """Activity keyword arguments from a detail-shaped dict."""
    kw: dict[str, Any] = {}
    kind = fields.get("kind")
    if kind is not None:
        found = ACTIVITY_KIND_FROM.get(kind)
        if found is None:
            report.unknown_code(f"{path}.kind", None, kind)
        else:
            kw["kind"] = found
    status = ACTIVITY_STATUS_FROM.get(fields.get("status"))
    if status is None:
        report.unknown_code(f"{path}.status", "http://hl7.org/fhir/care-plan-activity-status",
                            fields.get("status"))
        status = cases.ActivityStatus.UNKNOWN
    kw["status"] = status
    if fields.get("code") is not None:
        kw["code"] = code_from_concept(fields["code"], f"{path}.code", required=False)
    description = fields.get("description")
    if not description and fields.get("code"):
        description = fields["code"].get("text") or next(
            (c.get("display") or c.get("code") for c in fields["code"].get("coding", [])
             if c.get("display") or c.get("code")), None)
    if not description:
        raise MappingError(f"{path}.description", "an activity needs a description or code")
    kw["description"] = description
    kw["goals"] = _goal_ids(fields.get("goal") or [], case_id, index)
    if "scheduledTiming" in fields:
        kw["frequency"], kw["period"] = _frequency(fields["scheduledTiming"],
                                                   f"{path}.scheduledTiming", report)
    elif "scheduledPeriod" in fields:
        kw["period"] = period_from_fhir(fields["scheduledPeriod"], f"{path}.scheduledPeriod")
    elif "scheduledString" in fields:
        report.unsupported(f"{path}.scheduledString", "a textual schedule is not kept")
    kw["performer"] = _performer_id(fields.get("performer") or [], f"{path}.performer",
                                    case_id, index, report)
    return kw


def _planned_fields(extension: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for sub in extension.get("extension") or []:
        url = sub.get("url")
        if url in ("kind", "status"):
            fields[url] = sub.get("valueCode")
        elif url == "description":
            fields["description"] = sub.get("valueString")
        elif url == "code":
            fields["code"] = {"coding": [sub["valueCoding"]]}
        elif url == "goal":
            fields.setdefault("goal", []).append(sub["valueReference"])
        elif url == "performer":
            fields.setdefault("performer", []).append(sub["valueReference"])
        elif url == "scheduled" and "valueTiming" in sub:
            fields["scheduledTiming"] = sub["valueTiming"]
        elif url == "scheduled" and "valuePeriod" in sub:
            fields["scheduledPeriod"] = sub["valuePeriod"]
    return fields


def activity_from_fhir(data: dict[str, Any], path: str, plan_key: str, case_id: str | None,
                       index: dict[str, str], report: Report) -> cases.Activity:
    aid = data.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{plan_key}#{path}"))
    progress = [p["text"] for p in data.get("progress") or [] if p.get("text")]
    planned = find_ext(data, EXT_PLANNED_ACTIVITY)
    if "detail" in data:
        kw = _activity_fields(data["detail"], f"{path}.detail", case_id, index, report)
    elif planned is not None:
        kw = _activity_fields(_planned_fields(planned), f"{path}.extension", case_id, index,
                              report)
    elif "reference" in data:
        ref = data["reference"]
        target = local_ref(ref.get("reference")) or ""
        rtype = target.split("/", 1)[0]
        kw = {"description": ref.get("display") or target or "activity",
              "status": cases.ActivityStatus.UNKNOWN}
        if ACTIVITY_KIND_FROM.get(rtype) is not None:
            kw["kind"] = ACTIVITY_KIND_FROM[rtype]
        else:
            report.unsupported(f"{path}.reference", f"activity target {rtype or target} "
                               "is kept by reference only")
    else:
        raise MappingError(path, "an activity needs a detail or a reference")
    return cases.Activity(id=aid, progress=progress, **kw)


def careplan_from_fhir(data: dict[str, Any], case_id: str | None = None, report: Report | None = None,
                       index: dict[str, str] | None = None,
                       resources: dict[str, dict[str, Any]] | None = None
                       ) -> tuple[cases.Plan, list[cases.Note]]:
    """An R4 CarePlan as the plan and the case notes.

    ``index`` maps ``Type/id`` of produced resources to case part ids; ``resources`` maps
    ``Type/id`` to Goal resources (contained Goals are read from the CarePlan itself).
    """
    report = report if report is not None else Report()
    index = dict(index or {})
    resources = dict(resources or {})
    if data.get("resourceType") != "CarePlan":
        raise MappingError("resourceType", "expected a CarePlan")
    for c in data.get("contained") or []:
        resources[f"#{c.get('id')}"] = c
        if c.get("resourceType") == "Goal":
            index.setdefault(f"#{c.get('id')}", c.get("id"))
    status = PLAN_STATUS_FROM.get(data.get("status"))
    if status is None:
        raise MappingError("CarePlan.status", f"unknown status {data.get('status')!r}")
    if data.get("intent") not in ("plan", None):
        report.unsupported("CarePlan.intent", f"intent {data.get('intent')} read as a plan")
    plan_key = data.get("id") or "careplan"
    approved_by = approved_at = revised_at = None
    approval = find_ext(data, EXT_PLAN_APPROVAL)
    for sub in (approval or {}).get("extension") or []:
        if sub.get("url") == "approvedBy":
            approved_by = party_from_reference(sub["valueReference"],
                                               "CarePlan.extension[plan-approval]", report)
        elif sub.get("url") == "approvedAt":
            approved_at = parse_datetime(sub["valueDateTime"], "CarePlan.extension[plan-approval]")
    revised = find_ext(data, EXT_PLAN_REVISED)
    if revised is not None:
        revised_at = parse_datetime(revised["valueDateTime"], "CarePlan.extension[plan-revised]")
    goals = []
    for i, ref in enumerate(data.get("goal") or []):
        target = local_ref(ref.get("reference"))
        resource = resources.get(target) if target else None
        if resource is None:
            report.unsupported(f"CarePlan.goal[{i}]", "goal resource not available")
            continue
        goals.append(goal_from_fhir(resource, case_id, report, index))
    activities = [activity_from_fhir(a, f"CarePlan.activity[{i}]", plan_key, case_id, index,
                                     report)
                  for i, a in enumerate(data.get("activity") or [])]
    notes = []
    for i, n in enumerate(data.get("note") or []):
        at = parse_datetime(n.get("time"), f"CarePlan.note[{i}].time") if n.get("time") else None
        kw: dict[str, Any] = {"id": n["id"]} if n.get("id") else {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{plan_key}#note{i}"))}
        if at is not None:
            kw["at"] = at
        author = n.get("authorString") or (n.get("authorReference") or {}).get("display")
        notes.append(cases.Note(text=n["text"], author=author, **kw))
    plan = cases.Plan(status=status,
                      period=period_from_fhir(data.get("period"), "CarePlan.period"),
                      approved_by=approved_by, approved_at=approved_at, goals=goals,
                      activities=activities, revised_at=revised_at)
    return plan, notes


def apply_careplan(case: cases.Case, data: dict[str, Any], resources: dict[str, dict[str, Any]] | None = None,
                   report: Report | None = None) -> Report:
    """Apply a partner's CarePlan onto the case.

    Updates the plan status (``Case.set_plan_status``: not active before a physician
    approved the plan, CaseRuleError), each matched activity's status and progress (matched by element
    id, then by code, then by description; unmatched activities are added), the goals the
    plan references (``apply_goal``) and adds new notes. Returns the report of what was added,
    ignored or not understood.
    """
    report = report if report is not None else Report()
    resources = dict(resources or {})
    for c in data.get("contained") or []:
        resources[f"#{c.get('id')}"] = c
    status = PLAN_STATUS_FROM.get(data.get("status"))
    if status is None:
        report.unknown_code("CarePlan.status", "http://hl7.org/fhir/request-status",
                            data.get("status"))
    elif status != case.plan.status:
        case.set_plan_status(status)  # CaseRuleError: active before approval
        report.note("CarePlan.status", f"plan status set to {status.value}")
    plan_key = data.get("id") or "careplan"
    for i, raw in enumerate(data.get("activity") or []):
        path = f"CarePlan.activity[{i}]"
        try:
            incoming = activity_from_fhir(raw, path, plan_key, case.id, {}, report)
        except MappingError as exc:
            report.unsupported(exc.path, exc.message, severity="warning")
            continue
        target = _match_activity(case, incoming, raw)
        if target is None:
            case.plan.activities.append(incoming)
            report.note(path, f"activity {incoming.description!r} added")
            continue
        if "detail" in raw or find_ext(raw, EXT_PLANNED_ACTIVITY) is not None:
            target.status = incoming.status
        for text in incoming.progress:
            if text not in target.progress:
                target.progress.append(text)
    for i, ref in enumerate(data.get("goal") or []):
        resource = resources.get(local_ref(ref.get("reference")) or "")
        if resource is None:
            report.unsupported(f"CarePlan.goal[{i}]", "goal resource not available")
            continue
        apply_goal(case, resource, report)
    known = {n.id for n in case.notes} | {n.text for n in case.notes}
    _, notes = careplan_from_fhir({**data, "goal": [], "activity": [], "contained": []},
                                  case.id, Report())
    for n in notes:
        if n.id not in known and n.text not in known:
            case.notes.append(n)
    for key in ("basedOn", "replaces", "partOf", "supportingInfo", "contributor", "encounter"):
        if key in data:
            report.unsupported(f"CarePlan.{key}", "not modelled by the case; kept in the store")
    return report


def _match_activity(case: cases.Case, incoming: cases.Activity,
                    raw: dict[str, Any]) -> cases.Activity | None:
    acts = case.plan.activities
    if raw.get("id"):
        for a in acts:
            if a.id == raw["id"]:
                return a
    if incoming.code is not None:
        for a in acts:
            if a.code is not None and (a.code.system, a.code.code) == (incoming.code.system,
                                                                        incoming.code.code):
                return a
    return next((a for a in acts if a.description == incoming.description), None)

