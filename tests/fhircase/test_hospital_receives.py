"""The seen scenario of issue 11: a non-partner FHIR client posts one transaction for a
hospital discharge; the case it opens is delivered to the hospital partner it names (by
NPI: the client's Organization carries it), a Medplum peer with ``--check-references``:
every reference the hospital gets resolves there."""

from __future__ import annotations

import pytest
from flows.flow_world import HubHarness, Peer, assert_references_resolve
from peer_fhir import start_peer, stop_peer

from hub.sync.partners import Partner, Timeouts

from .discharge import HOSPITAL_NPI, MRN_SYSTEM, NPI, Discharge, ids_by_name

pytestmark = pytest.mark.integration
RECEIVES = ("Condition", "Goal", "CareTeam", "CarePlan")


@pytest.fixture(scope="module")
def ehr_base():
    base, proc = start_peer(check_references=True)
    yield base
    stop_peer(proc)


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
