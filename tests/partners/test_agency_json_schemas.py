"""The agency-json examples and what the hub sends validate against the JSON Schemas."""

from __future__ import annotations

import copy
import json

import pytest

from hub.mappings.agency_json import referral_to_agency_json

from .agency_case import referral_case
from .schemas import EXAMPLES, SCHEMAS, assert_valid, errors, validator

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


@pytest.mark.parametrize("name", SCHEMAS)
def test_schemas_are_valid_draft_2020_12(name):
    validator(name)  # check_schema raises on an invalid schema


def test_every_schema_has_examples():
    covered = {p.name.split(".", 1)[0] for p in EXAMPLE_FILES}
    assert covered == set(SCHEMAS)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_validates_against_its_schema(path):
    assert_valid(path.name.split(".", 1)[0], json.loads(path.read_text()))


def test_the_full_example_is_exactly_what_the_mapping_sends():
    case = referral_case()
    body = referral_to_agency_json(case, case.referrals[0])
    assert_valid("referral", body)
    assert body == load("referral.full.json")


def test_schema_refuses_what_the_protocol_forbids():
    state = load("referral-state.completed.json")
    bad = copy.deepcopy(state)
    bad["status"] = "done"
    assert tuple(p for p, _m in errors("referral-state", bad)) == ("status", )
    bad = copy.deepcopy(load("referral-state.rejected.json"))
    del bad["status_reason"]
    assert errors("referral-state", bad)
    bad = copy.deepcopy(state)
    bad["history"][1]["by"] = "someone"
    assert [p for p, _m in errors("referral-state", bad)] == ["history[1].by"]
    referral = load("referral.full.json")
    bad = copy.deepcopy(referral)
    bad["status"] = "requested"  # the hub's status is not part of the document
    assert errors("referral", bad)
    bad = copy.deepcopy(referral)
    bad["patient"]["birth_date"] = "19-07-1948"
    assert {p for p, _m in errors("referral", bad)} == {"patient.birth_date"}
    bad = copy.deepcopy(referral)
    bad["frequency"]["unit"] = "fortnight"
    assert errors("referral", bad)


def test_agency_states_may_carry_members_the_hub_does_not_know():
    state = load("referral-state.in-progress.json")
    state["care_coordinator"] = "someone at the agency"  # forward compatible
    assert_valid("referral-state", state)
