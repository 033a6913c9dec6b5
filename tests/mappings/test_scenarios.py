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
    assert all("detail" in a and a["detail"]["status"] for a in plan["activity"])
    assert [g["reference"].split("/")[0] for g in plan["goal"]] == ["Goal"] * 3
