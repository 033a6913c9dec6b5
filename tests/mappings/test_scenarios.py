"""The four scenario cases: golden FHIR fixtures equal what the mappings produce now, the
fixtures pass the independent validator, and they read back into the same cases."""

from __future__ import annotations

import json

import pytest
from fhircheck import assert_valid
from scenarios import FIXTURES, SCENARIOS, fixture_name

from hub.fhir import parse_resource
from hub.mappings.case_bundle import case_from_fhir, case_to_fhir


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_committed_fixtures_equal_current_mapping(name):
    produced = {fixture_name(r): r for r in case_to_fhir(SCENARIOS[name]())}
    folder = FIXTURES / name
    committed = {p.name: json.loads(p.read_text()) for p in folder.glob("*.json")}
    assert sorted(committed) == sorted(produced), (
        "fixtures out of date: run tests.scenarios.write_fixtures()")
    for key, resource in produced.items():
        assert committed[key] == resource, key


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fixtures_read_back_into_the_case(name):
    resources = [json.loads(p.read_text()) for p in (FIXTURES / name).glob("*.json")]
    for r in resources:
        parse_resource(r)
    assert case_from_fhir(resources) == SCENARIOS[name]()


def test_fixtures_pass_the_independent_validator(tmp_path):
    resources = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*/*.json"))]
    assert len(resources) >= 4 * 6
    assert_valid(resources, tmp_path)


def test_river_careplan_is_us_core_shaped():
    plan = next(r for r in case_to_fhir(SCENARIOS["river"]())
                if r["resourceType"] == "CarePlan")
    assert plan["intent"] == "plan" and plan["text"]["status"] == "generated"
    categories = [c["coding"][0]["code"] for c in plan["category"]]
    assert categories == ["assess-plan", "clinical"]
    requests = {f"ServiceRequest/{r['id']}" for r in case_to_fhir(SCENARIOS["river"]())
                if r["resourceType"] == "ServiceRequest"}
    for a in plan["activity"]:
        if "reference" in a:  # carried out by a referral: R4 cpl-3 forbids detail beside it
            assert "detail" not in a and a["reference"]["reference"] in requests
            assert a["extension"][0]["url"].endswith("/planned-activity")
        else:
            assert a["detail"]["status"]
    assert sum("reference" in a for a in plan["activity"]) == 3  # physio, neuropsych, OT
    assert [g["reference"].split("/")[0] for g in plan["goal"]] == ["Goal"] * 3


# --- what each scenario has to show (issue #3) -----------------------------------------------

def _of(name: str, rtype: str) -> list[dict]:
    return [r for r in case_to_fhir(SCENARIOS[name]()) if r["resourceType"] == rtype]


def _coding(cc: dict) -> tuple[str, str]:
    return cc["coding"][0]["system"], cc["coding"][0]["code"]


def _decisions(coverage: dict) -> dict[str, dict]:
    """service code -> {sub-extension url: value} of the coverage-decision extensions."""
    out = {}
    for e in coverage.get("extension") or []:
        subs = {x["url"]: next(v for k, v in x.items() if k.startswith("value"))
                for x in e["extension"]}
        out[subs["service"]["code"]] = subs
    return out


V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def test_river_insurance_primary_stay_then_outpatient_rehab_and_phone_reviews():
    coverages = sorted(_of("river", "Coverage"), key=lambda r: r["order"])
    assert _coding(coverages[0]["type"]) == (V3, "HIP")
    assert coverages[1]["type"]["coding"][0]["code"] == "pay"  # co-payments, self-pay
    encounters = _of("river", "Encounter")
    classes = [e["class"]["code"] for e in encounters]
    assert classes[0] == "IMP" and {"AMB", "VR"} <= set(classes)
    stay = encounters[0]
    assert stay["status"] == "finished"
    assert stay["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] in (
        "home", "rehab")
    assert sum(e["class"]["code"] == "VR" for e in encounters) >= 2
    assert {r["status"] for r in _of("river", "Task")} <= {"accepted", "in-progress"}


def test_osteomyelitis_home_infusion_denied_by_insurer_paid_by_charity():
    coverages = sorted(_of("osteomyelitis", "Coverage"), key=lambda r: r["order"])
    insurer, charity = coverages
    assert insurer["order"] == 1 and _coding(insurer["type"]) == (V3, "HIP")
    assert charity["order"] == 2 and _coding(charity["type"]) == (V3, "CHAR")
    denied = _decisions(insurer)["S9500"]
    assert denied["status"]["code"] == "authorization-denied"
    assert _decisions(charity)["S9500"]["status"]["code"] == "covered"
    stay = next(e for e in _of("osteomyelitis", "Encounter") if e["class"]["code"] == "IMP")
    assert stay["status"] == "finished"
    assert _coding(stay["hospitalization"]["dischargeDisposition"]) == (
        "https://www.nubc.org/CodeSystem/PatDischargeStatus", "06")
    tasks = _of("osteomyelitis", "Task")
    assert tasks and all(t["status"] == "accepted" for t in tasks)
    assert all(t["code"]["coding"][0]["code"] == "fulfill" and t["owner"] for t in tasks)
    requests = _of("osteomyelitis", "ServiceRequest")
    assert {sr["status"] for sr in requests} == {"active"}
    assert all(len(sr["insurance"]) == 2 for sr in requests)


def test_hiv_medication_and_labs_covered_monthly_phone_reviews():
    coverage, = _of("hiv", "Coverage")
    decisions = _decisions(coverage)
    assert {"J05AR20", "20447-9", "24467-3"} <= set(decisions)
    assert {d["status"]["code"] for d in decisions.values()} == {"covered"}
    calls = [e for e in _of("hiv", "Encounter") if e["class"]["code"] == "VR"]
    assert len(calls) >= 3
    plan, = _of("hiv", "CarePlan")
    timed = [a for a in plan["activity"]
             if "scheduledTiming" in (a.get("detail") or {})
             or any(x["url"] == "scheduled" for e in a.get("extension") or []
                    for x in e["extension"])]
    assert len(timed) == 3  # medication, adherence checks, bloodwork: all with a frequency


def test_stroke_discharged_to_rehab_with_an_approved_authorization():
    coverage, = _of("stroke", "Coverage")
    irf = _decisions(coverage)["52052004"]
    assert irf["status"]["code"] == "authorization-approved"
    assert irf["authorizationNumber"] and irf["period"]["start"] and irf["period"]["end"]
    acute = next(e for e in _of("stroke", "Encounter")
                 if e.get("hospitalization", {}).get("dischargeDisposition"))
    assert acute["class"]["code"] == "IMP"
    assert _coding(acute["hospitalization"]["dischargeDisposition"]) == (
        "http://terminology.hl7.org/CodeSystem/discharge-disposition", "rehab")
    task, = _of("stroke", "Task")
    assert task["status"] == "completed"
    assert [h["extension"][0]["valueCode"] for h in task["extension"]] == [
        "requested", "accepted", "in-progress", "completed"]
    assert task["output"][0]["valueReference"]["reference"].startswith("Encounter/")
