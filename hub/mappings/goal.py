"""Goal <-> a goal of the individualized plan (``Case.plan.goals``)."""

from __future__ import annotations

from typing import Any

from hub import cases
from hub.mappings.codes import GOAL_ACHIEVEMENT_FROM, GOAL_LIFECYCLE, GOAL_LIFECYCLE_FROM
from hub.mappings.condition import condition_reference
from hub.mappings.datatypes import (
    achievement_concept,
    concept_lookup,
    fhir_date,
    local_ref,
    narrative,
    parse_date,
)
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import (
    find_hub_identifier,
    hub_identifier,
    part_id_from_identifier,
    reference,
    resource_id,
)
from hub.mappings.patient import patient_reference

KIND = "goal"


def goal_id(case_id: str, goal_id_: str) -> str:
    return resource_id(case_id, KIND, goal_id_)


def goal_reference(case_id: str, gid: str, display: str | None = None) -> dict[str, Any]:
    return reference("Goal", case_id, KIND, gid, display)


def goal_to_fhir(case: cases.Case, goal: cases.Goal) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Goal",
        "id": goal_id(case.id, goal.id),
        "text": narrative("Goal", [("description", goal.description),
                                   ("status", goal.lifecycle_status.value)]),
        "identifier": [hub_identifier(case.id, KIND, goal.id)],
        "lifecycleStatus": GOAL_LIFECYCLE[goal.lifecycle_status],
    }
    if goal.achievement_status is not None:
        out["achievementStatus"] = achievement_concept(goal.achievement_status)
    out["description"] = {"text": goal.description}
    out["subject"] = patient_reference(case)
    if goal.target_date is not None:
        out["target"] = [{"dueDate": fhir_date(goal.target_date)}]
    if goal.addresses:
        out["addresses"] = [condition_reference(case.id, cid) for cid in goal.addresses]
    return out


def ref_part_id(ref: dict[str, Any], kind: str, case_id: str | None, index: dict[str, str]) -> str | None:
    """The case part id a Reference points to: its hub identifier, else the resolved id."""
    found = part_id_from_identifier(ref.get("identifier"), kind, case_id)
    if found is not None:
        return found
    target = local_ref(ref.get("reference"))
    return index.get(target) if target else None


def goal_description(data: dict[str, Any]) -> str:
    desc = data.get("description") or {}
    text = desc.get("text")
    if not text:
        for c in desc.get("coding") or []:
            text = c.get("display") or c.get("code")
            if text:
                break
    if not text:
        raise MappingError("Goal.description", "a description text or coding is required")
    return str(text)


def goal_from_fhir(data: dict[str, Any], case_id: str | None = None, report: Report | None = None,
                   index: dict[str, str] | None = None) -> cases.Goal:
    """An R4 Goal as a plan goal. ``index`` maps ``Condition/<id>`` to condition part ids."""
    report = report if report is not None else Report()
    index = index or {}
    if data.get("resourceType") != "Goal":
        raise MappingError("resourceType", "expected a Goal")
    lifecycle = GOAL_LIFECYCLE_FROM.get(data.get("lifecycleStatus"))
    if lifecycle is None:
        raise MappingError("Goal.lifecycleStatus", f"unknown status {data.get('lifecycleStatus')!r}")
    achievement = None
    if data.get("achievementStatus"):
        achievement = concept_lookup(data["achievementStatus"], GOAL_ACHIEVEMENT_FROM,
                                     "Goal.achievementStatus", report)
    target_date = None
    targets = data.get("target") or []
    for i, t in enumerate(targets):
        if "dueDate" in t and target_date is None:
            target_date = parse_date(t["dueDate"], f"Goal.target[{i}].dueDate")
        elif set(t) - {"dueDate"}:
            report.unsupported(f"Goal.target[{i}]", "only target.dueDate is kept on the case")
    addresses = []
    for i, ref in enumerate(data.get("addresses") or []):
        cid = ref_part_id(ref, "condition", case_id, index)
        if cid is None:
            target = local_ref(ref.get("reference"))
            if target and target.startswith("Condition/"):
                cid = target.split("/", 1)[1]
            else:
                report.unsupported(f"Goal.addresses[{i}]", "only Condition targets are kept")
                continue
        addresses.append(cid)
    part = find_hub_identifier(data, KIND, case_id) or data.get("id")
    kwargs = {"id": part} if part else {}
    return cases.Goal(description=goal_description(data), lifecycle_status=lifecycle,
                      achievement_status=achievement, target_date=target_date,
                      addresses=addresses, **kwargs)


def apply_goal(case: cases.Case, data: dict[str, Any], report: Report | None = None) -> Report:
    """Apply an inbound Goal (a partner's update) onto the case: lifecycle and achievement.

    The goal is matched by hub identifier, by its FHIR id, then by description; an unmatched
    goal is added to the plan. Unknown achievement codes leave the achievement as it was and
    are reported.
    """
    report = report if report is not None else Report()
    by_id = {g.id: g for g in case.plan.goals}
    target = None
    part = find_hub_identifier(data, KIND, case.id)
    if part in by_id:
        target = by_id[part]
    if target is None and data.get("id"):
        for g in case.plan.goals:
            if goal_id(case.id, g.id) == data["id"] or g.id == data["id"]:
                target = g
                break
    if target is None:
        try:
            desc = goal_description(data)
        except MappingError:
            desc = None
        target = next((g for g in case.plan.goals if g.description == desc), None)
    incoming = goal_from_fhir(data, case.id, report)
    if target is None:
        case.plan.goals.append(incoming)
        report.note("Goal", f"goal {incoming.id} added to the plan")
        return report
    target.lifecycle_status = incoming.lifecycle_status
    if incoming.achievement_status is not None:
        target.achievement_status = incoming.achievement_status
    if incoming.target_date is not None:
        target.target_date = incoming.target_date
    return report
