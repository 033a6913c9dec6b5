"""The scenario case records in the /api/cases input format (``fixtures/cases/*.json``):
up to date with the scenario builders, valid for the input schema, and accepted by the API."""

from __future__ import annotations

import json

import pytest
from scenarios import CASE_INPUTS, GENERATED_CASE_INPUTS, SCENARIOS, case_input

from hub.schemas import case_input_schema

FILES = sorted(p.name for p in CASE_INPUTS.glob("*.json"))


def _read(name: str) -> dict:
    return json.loads((CASE_INPUTS / name).read_text())


def test_every_scenario_has_a_case_input_file():
    assert set(FILES) >= {f"{name}.json" for name in SCENARIOS}


@pytest.mark.parametrize("name", GENERATED_CASE_INPUTS)
def test_generated_case_inputs_equal_the_scenarios(name):
    assert _read(f"{name}.json") == case_input(SCENARIOS[name]()), (
        "fixtures/cases out of date: run tests.scenarios.write_fixtures()")


@pytest.mark.parametrize("file", FILES)
def test_case_inputs_load_through_the_input_schema(file):
    case = case_input_schema().load(_read(file))
    name = file.removesuffix(".json")
    if name in GENERATED_CASE_INPUTS:  # the editable parts are the scenario's, exactly
        assert case_input(case) == case_input(SCENARIOS[name]())
        scenario = SCENARIOS[name]()
        for part in ("funding", "encounters", "care_team", "assessment", "patient"):
            assert getattr(case, part) == getattr(scenario, part), part
        assert [(r.id, r.status, r.activity) for r in case.referrals] == [
            (r.id, r.status, r.activity) for r in scenario.referrals]


@pytest.fixture
def headers(auth_headers):
    return auth_headers("system/Case.cruds")


@pytest.mark.parametrize("file", FILES)
def test_case_inputs_post_through_the_api(client, headers, file):
    body = _read(file)
    resp = client.post("/api/cases", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    stored = client.get(resp.headers["Location"], headers=headers)
    assert stored.status_code == 200
    got = stored.get_json()
    for part in ("funding", "encounters"):
        assert [x["id"] for x in got.get(part) or []] == [x["id"] for x in body.get(part, [])]
    assert [(r["id"], r["status"]) for r in got.get("referrals") or []] == [
        (r["id"], r.get("status", "draft")) for r in body.get("referrals", [])]
