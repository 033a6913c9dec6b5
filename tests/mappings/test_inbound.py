"""FHIR -> case: a hospital's CarePlan, CareTeam and Goal updates applied onto a case."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from scenarios import river

from hub import cases as c
from hub.mappings.careplan import apply_careplan, careplan_to_fhir
from hub.mappings.careteam import apply_careteam, careteam_to_fhir
from hub.mappings.case_bundle import case_from_fhir, case_to_fhir
from hub.mappings.errors import MappingError, Report
from hub.mappings.goal import apply_goal, goal_to_fhir


def test_hospital_updates_our_careplan():
    case = river()
    plan = careplan_to_fhir(case)
    hospital = copy.deepcopy(plan)
    hospital["status"] = "on-hold"
    pt = next(a for a in hospital["activity"] if a["id"] == "act-pt")
    # physio is carried out by a referral: the activity references its ServiceRequest and
    # the planned activity (status included) rides in the planned-activity extension
    planned = next(e for e in pt["extension"] if e["url"].endswith("/planned-activity"))
    next(x for x in planned["extension"] if x["url"] == "status")["valueCode"] = "on-hold"
    pt["progress"].append({"text": "Paused: new femur X-ray pending."})
    hospital["activity"].append({"detail": {"kind": "ServiceRequest", "status": "scheduled",
                                            "description": "Speech therapy assessment"}})
    hospital["basedOn"] = [{"reference": "CarePlan/hospital-master"}]
    report = apply_careplan(case, hospital)
    assert case.plan.status == c.PlanStatus.ON_HOLD
    act = next(a for a in case.plan.activities if a.id == "act-pt")
    assert act.status == c.ActivityStatus.ON_HOLD
    assert act.progress[-1] == "Paused: new femur X-ray pending."
    assert case.plan.activities[-1].description == "Speech therapy assessment"
    assert "CarePlan.basedOn" in report.paths()
    # applying the same CarePlan again changes nothing (no duplicate activity or progress)
    before = copy.deepcopy(case)
    apply_careplan(case, hospital)
    assert case == before


def test_foreign_careplan_activity_matched_by_code_and_unknown_codes_reported():
    case = river()
    hospital = {"resourceType": "CarePlan", "id": "h1", "status": "active", "intent": "plan",
                "subject": {"reference": "Patient/x"},
                "activity": [{"detail": {"code": {"coding": [{
                    "system": "http://snomed.info/sct", "code": "84478008"}]},
                    "status": "completed", "kind": "ServiceRequest"}},
                    {"detail": {"status": "bogus-status", "description": "Odd"}}]}
    report = apply_careplan(case, hospital)
    assert next(a for a in case.plan.activities if a.id == "act-ot").status == (
        c.ActivityStatus.COMPLETED)
    unknown = report.unknown_codes
    assert unknown and unknown[0].code == "bogus-status"
    assert case.plan.activities[-1].status == c.ActivityStatus.UNKNOWN


def test_goal_achievement_update_and_unknown_code_kept_in_report():
    case = river()
    goal = goal_to_fhir(case, case.plan.goals[0])
    goal["achievementStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                       "goal-achievement", "code": "achieved"}]}
    goal["lifecycleStatus"] = "completed"
    apply_goal(case, goal)
    assert case.plan.goals[0].achievement_status == c.GoalAchievement.ACHIEVED
    assert case.plan.goals[0].lifecycle_status == c.GoalLifecycle.COMPLETED
    goal["achievementStatus"] = {"coding": [{"system": "http://example.org/x", "code": "meh"}]}
    report = apply_goal(case, goal)
    assert case.plan.goals[0].achievement_status == c.GoalAchievement.ACHIEVED
    assert [(i.system, i.code) for i in report.unknown_codes] == [("http://example.org/x", "meh")]


def test_careplan_referencing_goals_updates_them():
    case = river()
    goal = goal_to_fhir(case, case.plan.goals[1])
    goal["achievementStatus"]["coding"][0]["code"] = "no-progress"
    plan = careplan_to_fhir(case)
    apply_careplan(case, plan, resources={f"Goal/{goal['id']}": goal})
    assert case.plan.goals[1].achievement_status == c.GoalAchievement.NO_PROGRESS


def test_careteam_members_added_and_ended():
    case = river()
    team = careteam_to_fhir(case)
    team["participant"] = [p for p in team["participant"] if p["id"] != "m-ot"]
    team["participant"][1]["period"] = {"start": "2024-03-01", "end": "2024-04-01"}
    team["participant"].append({
        "role": [{"coding": [{"system": "http://snomed.info/sct", "code": "224535009",
                              "display": "Registered nurse"}]}],
        "member": {"reference": "Practitioner/nurse-7", "display": "Nurse Kay"}})
    report = apply_careteam(case, team, today=date(2024, 4, 2))
    by_name = {m.name: m for m in case.care_team}
    assert by_name["Nurse Kay"].role.code == "224535009"
    assert by_name["Dr. Ana Ortiz"].period == c.Period(date(2024, 3, 1), date(2024, 4, 1))
    assert by_name["Jo Banks, OT"].period.end == date(2024, 4, 2)
    assert len(report.items) >= 3
    before = copy.deepcopy(case)
    apply_careteam(case, team, today=date(2024, 4, 2))
    assert case == before


def test_careteam_without_roles_is_refused_with_the_path():
    case = river()
    team = {"resourceType": "CareTeam", "participant": [
        {"member": {"reference": "Practitioner/p", "display": "P"}}]}
    with pytest.raises(MappingError) as err:
        apply_careteam(case, team)
    assert err.value.path == "CareTeam.participant[0].role"


def test_activity_carried_by_a_referral_is_a_reference_and_round_trips():
    case = river()
    case.referrals.append(c.Referral(id="ref-pt", service=c.Code("http://snomed.info/sct",
                                                                 "91251008"),
                                     agency=c.Party("Springfield Rehab Clinic"),
                                     activity="act-pt"))
    plan = careplan_to_fhir(case)
    act = next(a for a in plan["activity"] if a["id"] == "act-pt")
    assert act["reference"]["reference"].startswith("ServiceRequest/") and "detail" not in act
    resources = list(case_to_fhir(case))
    back = case_from_fhir(resources)
    assert back.plan == case.plan


def test_case_from_fhir_errors_name_the_path():
    with pytest.raises(MappingError) as err:
        case_from_fhir([{"resourceType": "Patient", "id": "p"}])
    assert err.value.path == "EpisodeOfCare"
    resources = case_to_fhir(river())
    episode = next(r for r in resources if r["resourceType"] == "EpisodeOfCare")
    episode["type"] = []
    with pytest.raises(MappingError) as err:
        case_from_fhir(resources)
    assert err.value.path == "EpisodeOfCare.type"


def test_report_as_operation_outcome():
    report = Report()
    report.unknown_code("Goal.achievementStatus", "http://x", "y")
    oo = report.as_operation_outcome()
    assert oo["issue"][0]["expression"] == ["Goal.achievementStatus"]


def test_a_partners_careplan_does_not_activate_a_plan_no_physician_approved():
    case = river()
    case.plan.status, case.plan.approved_by, case.plan.approved_at = \
        c.PlanStatus.DRAFT, None, None
    plan = careplan_to_fhir(case)
    with pytest.raises(c.CaseRuleError, match="approved"):
        apply_careplan(case, {**plan, "status": "active"})
    assert case.plan.status == c.PlanStatus.DRAFT
    apply_careplan(case, {**plan, "status": "on-hold"})  # other statuses: as before
    assert case.plan.status == c.PlanStatus.ON_HOLD
