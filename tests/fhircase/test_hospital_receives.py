"""The seen scenario of issue 11: a non-partner FHIR client posts one transaction for a
hospital discharge; the case it opens is delivered to the hospital partner it names (by
NPI: the client's Organization carries it), a Medplum peer with ``--check-references``:
every reference the hospital gets resolves there."""

from __future__ import annotations

import pytest
from case_data import river
from flows.flow_world import HubHarness, Peer, assert_references_resolve
from peer_fhir import running_peer

from hub.sync.partners import Partner, Timeouts

from .discharge import HOSPITAL_NPI, MRN_SYSTEM, NPI, Discharge, ids_by_name

pytestmark = pytest.mark.integration
RECEIVES = ("Condition", "Goal", "CareTeam", "CarePlan")


@pytest.fixture(scope="module")
def ehr_base():
    with running_peer(check_references=True) as base:
        yield base


@pytest.fixture
def hub(app, ehr_base):
    partner = Partner(id="lakeside", kind="hospital", base_url=ehr_base,
                      organization_identifier=f"{NPI}|{HOSPITAL_NPI}", receives=RECEIVES,
                      poll_seconds=300, timeouts=Timeouts(connect=0.5, read=5.0))
    harness = HubHarness(app, {"lakeside": partner})
    yield harness
    harness.close()


def test_the_hospital_named_by_npi_receives_the_case(client, auth_headers, hub, ehr_base):
    ehr = Peer(ehr_base)
    d = Discharge()
    at_ehr = ehr.create({"resourceType": "Patient", "name": [{"family": "River"}],
                         "identifier": [{"system": MRN_SYSTEM, "value": d.mrn}]})
    resp = client.post("/fhir", json=d.bundle(), headers={
        **auth_headers("system/*.cruds"), "Content-Type": "application/fhir+json"})
    assert resp.status_code == 200, resp.get_json()
    ids = ids_by_name(d, resp.get_json())
    [case_id] = {r.case_id for r in hub.rows(partner_id="lakeside")}
    assert {r.resource_type for r in hub.rows(partner_id="lakeside")} == set(RECEIVES)
    hub.drain()
    assert not hub.dead(), [(r.resource_type, r.last_error) for r in hub.dead()]
    [plan] = ehr.ours("CarePlan", ids["plan"])  # the client's CarePlan, the case's
    assert_references_resolve(ehr, plan, patient_at_ehr=at_ehr["id"])
    [team] = ehr.ours("CareTeam", ids["team"])
    assert plan["careTeam"] == [{"reference": f"CareTeam/{team['id']}"}]
    assert len(ehr.search("CarePlan", subject=f"Patient/{at_ehr['id']}")) == 1
    assert hub.case(case_id).patient_id == ids["patient"]


def _managed_only(d: Discharge, managing: dict) -> dict:
    """The discharge naming the hospital only as the episode's managing organization."""
    team = d.resources["team"]
    team["participant"] = [{k: v for k, v in p.items() if k != "onBehalfOf"}
                           for p in team["participant"]]
    d.resources["admission"].pop("serviceProvider")
    d.resources["episode"]["managingOrganization"] = managing
    return d.bundle()


@pytest.mark.parametrize("by", ["reference", "identifier"])
def test_a_hospital_named_only_as_managing_organization_receives_the_case(
        client, auth_headers, hub, ehr_base, by):
    ehr = Peer(ehr_base)
    d = Discharge()
    at_ehr = ehr.create({"resourceType": "Patient", "name": [{"family": "River"}],
                         "identifier": [{"system": MRN_SYSTEM, "value": d.mrn}]})
    managing = {"reference": d.urls["hospital"]} if by == "reference" else {
        "identifier": {"system": NPI, "value": HOSPITAL_NPI},
        "display": "Lakeside General Hospital"}
    resp = client.post("/fhir", json=_managed_only(d, managing), headers={
        **auth_headers("system/*.cruds"), "Content-Type": "application/fhir+json"})
    assert resp.status_code == 200, resp.get_json()
    ids = ids_by_name(d, resp.get_json())
    [case_id] = {r.case_id for r in hub.rows(partner_id="lakeside")}
    case = client.get(f"/api/cases/{case_id}", headers=auth_headers("system/Case.r")).get_json()
    expected = {"reference": f"Organization/{ids['hospital']}"} if by == "reference" else {
        "identifier": {"system": NPI, "value": HOSPITAL_NPI, "kind": "other"}}
    assert {k: v for k, v in case["managing_organization"].items()
            if k in expected} == expected
    episode = client.get(f"/fhir/EpisodeOfCare/{ids['episode']}",
                         headers=auth_headers("system/*.cruds")).get_json()
    assert episode["managingOrganization"] == (
        {"reference": f"Organization/{ids['hospital']}"} if by == "reference" else managing)
    hub.drain()
    assert not hub.dead(), [(r.resource_type, r.last_error) for r in hub.dead()]
    [plan] = ehr.ours("CarePlan", ids["plan"])
    assert_references_resolve(ehr, plan, patient_at_ehr=at_ehr["id"])


def test_a_case_api_case_managed_by_the_hospital_is_queued_for_it(client, auth_headers, hub):
    body = river()
    body["managing_organization"] = {"name": "Lakeside General Hospital",
                                     "identifier": {"system": NPI, "value": HOSPITAL_NPI}}
    resp = client.post("/api/cases", json=body, headers=auth_headers("system/Case.cruds"))
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    assert case["managing_organization"]["name"] == "Lakeside General Hospital"
    assert {r.case_id for r in hub.rows(partner_id="lakeside")} == {case["id"]}
    api = {**auth_headers("system/Case.cruds"), "Content-Type": "application/merge-patch+json"}

    def patch(version: int, changes: dict) -> dict:
        resp = client.patch(f"/api/cases/{case['id']}", json=changes,
                            headers={**api, "If-Match": f'W/"{version}"'})
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    before = len(hub.rows(partner_id="lakeside"))
    case = patch(case["version"], {"care_team": body["care_team"][:-1]})
    assert len(hub.rows(partner_id="lakeside")) > before  # the CareTeam changed: queued
    # taken away: later changes are no longer queued for the hospital
    before = len(hub.rows(partner_id="lakeside"))
    renamed = [{**m, "name": "Alex Morgan-Lee"} if m["id"] == "cm" else m
               for m in body["care_team"][:-1]]
    case = patch(case["version"], {"managing_organization": None, "care_team": renamed})
    assert case["managing_organization"] is None
    assert len(hub.rows(partner_id="lakeside")) == before
