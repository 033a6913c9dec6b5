"""hub.sync.references: rewriting a hub resource's references for one partner (pure parts
and the patient look-up against a stand-in partner client)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hub.sync.references import PartnerReferences, UnresolvedReference, rewrite, targets

HUB = "urn:fhir-case-hub:resource"
PLAN = {
    "resourceType": "CarePlan", "id": "plan-1",
    "subject": {"reference": "Patient/p-1", "display": "Sam River"},
    "careTeam": [{"reference": "CareTeam/t-1"}],
    "goal": [{"reference": "Goal/g-1", "identifier": {"system": "urn:goal", "value": "walk"}}],
    "author": {"reference": "Practitioner/cm-1", "display": "Alex Morgan"},
    "contained": [{"resourceType": "Goal", "id": "x"}],
    "addresses": [{"reference": "#x"}, {"reference": "http://other.example/fhir/Condition/9"}],
    "partOf": [{"reference": "CarePlan/plan-1"}],
}


class FakePartner:
    """Answers Patient searches from a dict; records creates."""

    def __init__(self, patients: dict[str, list[dict]]) -> None:
        self.patients = patients
        self.searched: list[str] = []
        self.created: list[tuple[dict, str]] = []

    def search(self, rtype, params):
        self.searched.append(params["identifier"])
        return iter(self.patients.get(params["identifier"], []))

    def create(self, resource, if_none_exist=None):
        self.created.append((resource, if_none_exist))
        return SimpleNamespace(resource_id="new-patient")


def _resolver(adapter, *, links=None, policy="match", receives=("CarePlan", "CareTeam")):
    return PartnerReferences(
        links={"CareTeam/t-1": "remote-team"} if links is None else links, receives=receives,
        patient={"reference": "Patient/p-1",
                 "identifier": [{"system": "urn:mrn", "value": "M1"}],
                 "resource": {"resourceType": "Patient", "id": "p-1",
                              "identifier": [{"system": "urn:mrn", "value": "M1"}],
                              "generalPractitioner": [{"reference": "Practitioner/gp"}]}},
        policy=policy, adapter=adapter, identifier_system=HUB)


def test_targets_are_the_other_hub_resources_in_order():
    assert targets(PLAN) == [("Patient", "p-1"), ("CareTeam", "t-1"), ("Goal", "g-1"),
                             ("Practitioner", "cm-1")]


def test_partner_ids_its_patient_and_logical_references():
    adapter = FakePartner({"urn:mrn|M1": [{"resourceType": "Patient", "id": "ehr-7"}]})
    out = rewrite(PLAN, _resolver(adapter))
    assert out["subject"] == {"reference": "Patient/ehr-7", "display": "Sam River"}
    assert out["careTeam"] == [{"reference": "CareTeam/remote-team"}]
    # not received by the partner: logical, its own identifier kept, else the hub's
    assert out["goal"] == [{"type": "Goal", "identifier": {"system": "urn:goal",
                                                           "value": "walk"}}]
    assert out["author"] == {"display": "Alex Morgan", "type": "Practitioner",
                             "identifier": {"system": HUB, "value": "Practitioner/cm-1"}}
    # contained, absolute and self references are left alone; the input is not changed
    assert out["addresses"] == PLAN["addresses"] and out["partOf"] == PLAN["partOf"]
    assert PLAN["subject"]["reference"] == "Patient/p-1"
    assert adapter.searched == ["urn:mrn|M1"] and not adapter.created


def test_patient_not_at_partner_is_logical_or_created_per_policy():
    adapter = FakePartner({})
    out = rewrite(PLAN, _resolver(adapter))
    assert out["subject"] == {"display": "Sam River", "type": "Patient",
                              "identifier": {"system": "urn:mrn", "value": "M1"}}
    out = rewrite(PLAN, _resolver(adapter, policy="create"))
    assert out["subject"]["reference"] == "Patient/new-patient"
    [(body, condition)] = adapter.created
    assert condition == "identifier=urn:mrn|M1" and "id" not in body
    assert "reference" not in body["generalPractitioner"][0]  # the patient's refs too


def test_a_received_target_not_yet_at_the_partner_is_an_error():
    with pytest.raises(UnresolvedReference, match="CareTeam/t-1"):
        rewrite(PLAN, _resolver(FakePartner({}), links={}))
