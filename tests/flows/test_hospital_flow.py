"""Hospital flow over real HTTP: the hub against a Medplum peer standing in for the EHR.

The hub pushes the case's CarePlan and CareTeam (through a fault proxy: 500 bursts, a
429 with Retry-After, a held answer, the EHR unreachable), the test plays the hospital
(admits, discharges with NUBC 06 home health, edits the pushed CarePlan), the hub pulls
Encounter / CarePlan / CareTeam changes and the case is compared with the EHR: nothing
missing, nothing duplicated.
"""

from __future__ import annotations

import uuid
from datetime import UTC

import pytest
from case_data import physician, river
from peer_fhir import running_peer
from sqlalchemy import delete

from hub import cases as c
from hub.flows.hospital import HOME_HEALTH_SERVICE, home_health_referral_id
from hub.mappings.identity import resource_id
from hub.store.sync_tables import sync_cursors
from hub.sync import pulls
from hub.sync.partners import Partner, Timeouts
from hub.sync.pulls import schedule_pulls

from .flow_world import Fault, FaultProxy, HubHarness, Peer, assert_references_resolve

pytestmark = pytest.mark.integration

HOSPITAL_ORG = "Organization/st-marys"
AGENCY_ORG = "Organization/sunrise-hh"
MRN = ("urn:oid:2.16.840.1.113883.19.5.1", "MRN-RIVER-0001")
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NUBC = "https://www.nubc.org/CodeSystem/PatDischargeStatus"


@pytest.fixture(scope="module")
def ehr_base():
    # referential integrity on write, as a HAPI FHIR JPA server: what the hub sends must
    # refer only to what the EHR holds; the hospital's own Organization exists at the hospital
    with running_peer(check_references=True,
                      organization=(HOSPITAL_ORG, "St Mary's Hospital")) as base:
        yield base


@pytest.fixture
def proxy(ehr_base):
    with FaultProxy(ehr_base) as proxy:
        yield proxy


@pytest.fixture
def ehr(ehr_base):
    return Peer(ehr_base)


@pytest.fixture
def hub(app, proxy):
    partners = {
        "st-marys": Partner(id="st-marys", kind="hospital", base_url=proxy.base_url,
                            organization=HOSPITAL_ORG, receives=("CarePlan", "CareTeam"),
                            poll_seconds=300, timeouts=Timeouts(connect=0.5, read=1.0)),
        # an agency in the care team: the discharge referral is proposed to it
        "sunrise": Partner(id="sunrise", kind="agency", base_url="http://127.0.0.1:9/fhir",
                           organization=AGENCY_ORG, receives=("ServiceRequest", "Task"),
                           poll_seconds=3600, timeouts=Timeouts(connect=0.5, read=1.0)),
    }
    harness = HubHarness(app, partners)
    yield harness
    harness.close()


def _case_body(mrn_value: str) -> dict:
    body = river()
    body["patient"]["identifiers"][0]["value"] = mrn_value
    body["encounters"] = []
    for member in body["care_team"]:
        if member["id"] == "neuro":
            member["on_behalf_of"] = {"name": "St Mary's Hospital", "reference": HOSPITAL_ORG}
    body["care_team"].append({"id": "hh", "name": "Sunrise intake nurse",
                              "role": {"system": "http://snomed.info/sct",
                                       "code": "224535009", "display": "Registered nurse"},
                              "on_behalf_of": {"name": "Sunrise Home Health",
                                               "reference": AGENCY_ORG}})
    return body


def _open_case(client, auth_headers, mrn_value: str) -> dict:
    resp = client.post("/api/cases", json=_case_body(mrn_value),
                       headers=auth_headers("system/*.cruds"))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _hospital_patient(ehr: Peer, mrn_value: str) -> dict:
    return ehr.create({"resourceType": "Patient",
                       "identifier": [{"system": MRN[0], "value": mrn_value},
                                      {"system": "urn:st-marys:patient", "value": "P-1"}],
                       "name": [{"family": "River", "given": ["Sam"]}]})


def _admission(patient: dict, visit: str, start: str) -> dict:
    return {"resourceType": "Encounter", "status": "in-progress",
            "identifier": [{"system": "urn:st-marys:visit", "value": visit}],
            "class": {"system": V3, "code": "IMP", "display": "inpatient encounter"},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "serviceProvider": {"reference": HOSPITAL_ORG, "display": "St Mary's Hospital"},
            "period": {"start": start}}


def _displays(node):
    """``node`` with each Reference reduced to its display (references differ per server)."""
    if isinstance(node, list):
        return [_displays(v) for v in node]
    if isinstance(node, dict):
        if "reference" in node or ("identifier" in node and "type" in node
                                   and set(node) <= {"identifier", "type", "display"}):
            return {"display": node.get("display")}
        return {k: _displays(v) for k, v in node.items()}
    return node


def _strip(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in ("meta", "id", "identifier")}


def test_push_pull_discharge_to_home_health(app, client, auth_headers, hub, proxy, ehr):
    mrn = f"MRN-{uuid.uuid4().hex[:8]}"
    # the EHR answers two 500s, then a 429 with Retry-After, then holds an answer too long
    proxy.inject(Fault(status=500, method="POST"), Fault(status=500, method="POST"),
                 Fault(status=429, headers={"Retry-After": "1"}, method="POST"),
                 Fault(slow=1.5, method="POST", path="CareTeam"))
    case = _open_case(client, auth_headers, mrn)
    rows = hub.drain()
    assert not hub.dead()
    assert proxy.count("POST", "/CarePlan", 500) + proxy.count("POST", "/CareTeam", 500) == 2
    plan_id, team_id = resource_id(case["id"], "careplan"), resource_id(case["id"], "careteam")
    [plan] = ehr.ours("CarePlan", plan_id)  # the held answer was retried: still one copy
    [_team] = ehr.ours("CareTeam", team_id)
    assert {(r.resource_type, r.operation) for r in rows} == {("CarePlan", "create"),
                                                              ("CareTeam", "create")}

    # a revision reaches the EHR as an update of the same copy
    resp = client.post(f"/api/cases/{case['id']}/plan/approval",
                       json={"approved_by": physician()},
                       headers={**auth_headers("system/*.cruds"), "If-Match": 'W/"1"'})
    assert resp.status_code == 200, resp.get_json()
    proxy.down()  # connection refused for a while
    hub.worker.run_once()
    proxy.up()
    hub.drain()
    [plan] = ehr.ours("CarePlan", plan_id)
    with app.app_context():
        stored = client.get(f"/fhir/CarePlan/{plan_id}",
                            headers=auth_headers("system/*.rs")).get_json()
    # the same content; references rewritten for the EHR, each one resolving there
    assert _strip(_displays(plan)) == _strip(_displays(stored))
    assert_references_resolve(ehr, plan, patient_at_ehr=None)

    # our own copies come back in the pull: recognised, the case does not change
    version = hub.case(case["id"]).version
    hub.pull("st-marys", "CarePlan", "CareTeam")
    assert hub.case(case["id"]).version == version

    # the hospital admits the patient (its own Patient, carrying the MRN)
    patient = _hospital_patient(ehr, mrn)
    admission = ehr.create(_admission(patient, "V-1", "2026-11-20T08:00:00Z"))
    proxy.inject(Fault(status=503, method="GET", path="Encounter"),
                 Fault(slow=1.5, method="GET", path="Encounter"))
    hub.pull("st-marys", "Encounter")
    got = hub.case(case["id"])
    assert [(e.kind, e.status) for e in got.encounters] == [
        (c.EncounterKind.INPATIENT, c.EncounterStatus.IN_PROGRESS)]
    assert not got.referrals

    # ... and discharges home under home-health care (NUBC 06)
    admission["status"] = "finished"
    admission["period"]["end"] = "2026-11-25T10:00:00Z"
    admission["hospitalization"] = {"dischargeDisposition": {"coding": [
        {"system": NUBC, "code": "06", "display": "Home under care of home health"}]}}
    ehr.update(admission)
    hub.pull("st-marys", "Encounter")
    got = hub.case(case["id"])
    [enc] = got.encounters
    assert (enc.status, enc.discharge_disposition) == (c.EncounterStatus.FINISHED,
                                                      c.DischargeDisposition.HOME_HEALTH)
    [referral] = got.referrals
    assert referral.id == home_health_referral_id(case["id"], enc.id)
    assert referral.status == c.ReferralStatus.DRAFT
    assert referral.service.code == HOME_HEALTH_SERVICE.code
    assert referral.agency is not None and referral.agency.reference == AGENCY_ORG
    notes = [n for n in got.notes if "home-health referral" in n.text]
    assert len(notes) == 1
    # a draft is never sent to the agency
    assert not hub.rows(partner_id="sunrise")

    # pulling everything again (cursor lost) changes nothing: idempotent
    version = got.version
    with hub.db.engine.begin() as conn:
        conn.execute(delete(sync_cursors))
    hub.pull("st-marys", "Encounter", "CarePlan", "CareTeam")
    again = hub.case(case["id"])
    assert again.version == version
    assert len(again.encounters) == 1 and len(again.referrals) == 1
    assert len([n for n in again.notes if "home-health referral" in n.text]) == 1

    # the hospital revises the pushed CarePlan: applied to the case, not echoed back
    plan = ehr.ours("CarePlan", plan_id)[0]
    plan["status"] = "on-hold"
    ehr.update(plan)
    queued = len(hub.rows(partner_id="st-marys", operation="update"))
    hub.pull("st-marys", "CarePlan")
    assert hub.case(case["id"]).plan.status == c.PlanStatus.ON_HOLD
    assert len(hub.rows(partner_id="st-marys", operation="update")) == queued

    # end: the EHR and the case agree, nothing missing or duplicated, nothing dead
    assert len(ehr.ours("CarePlan", plan_id)) == len(ehr.ours("CareTeam", team_id)) == 1
    hospital_encounters = ehr.search("Encounter", subject=f"Patient/{patient['id']}")
    final = hub.case(case["id"])
    assert sorted((e["status"], e["period"].get("end")) for e in hospital_encounters) == \
        sorted((e.status.value, e.end.isoformat().replace("+00:00", "Z") if e.end else None)
               for e in final.encounters)
    assert not hub.dead()


def test_pull_follows_paging_and_matches_only_hub_patients(app, client, auth_headers, hub,
                                                           ehr, monkeypatch):
    monkeypatch.setattr(pulls, "PAGE_SIZE", 2)  # the peer pages without next links
    mrn = f"MRN-{uuid.uuid4().hex[:8]}"
    case = _open_case(client, auth_headers, mrn)
    hub.drain()
    hub.pull("st-marys", "Encounter")  # catch up with earlier tests' encounters
    patient = _hospital_patient(ehr, mrn)
    stranger = ehr.create({"resourceType": "Patient", "identifier": [
        {"system": MRN[0], "value": f"OTHER-{uuid.uuid4().hex[:8]}"}]})
    for i in range(5):
        ehr.create(_admission(patient, f"P-{mrn}-{i}", f"2026-10-0{i + 1}T08:00:00Z"))
    ehr.create(_admission(stranger, f"S-{mrn}", "2026-10-09T08:00:00Z"))
    [row] = [r for r in hub.pull("st-marys", "Encounter")
             if r.operation == "pull" and r.id == max(
                 x.id for x in hub.rows(operation="pull"))]
    assert row.response["applied"] == 5 and row.response["unmatched"] == 1, row.response
    got = hub.case(case["id"])
    assert len(got.encounters) == 5
    assert len({e.id for e in got.encounters}) == 5


def test_pulls_are_scheduled_once_per_partner_type_and_interval(app, hub):
    from datetime import datetime, timedelta

    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    partners = hub.adapters.partners
    first = schedule_pulls(hub.db, partners, now)
    # hospital: Encounter, CarePlan, CareTeam; FHIR agency: Task, Encounter
    assert len(first) == 5
    assert schedule_pulls(hub.db, partners, now + timedelta(seconds=301)) == []  # pending
    with hub.db.engine.begin() as conn:
        from sqlalchemy import update

        from hub.store.sync_tables import outbox
        conn.execute(update(outbox).values(status="done"))
    assert schedule_pulls(hub.db, partners, now + timedelta(seconds=200)) == []  # too soon
    again = schedule_pulls(hub.db, partners, now + timedelta(seconds=301))
    assert len(again) == 3  # the hospital's poll_seconds (300) passed, not the agency's
    rows = hub.rows(operation="pull")
    assert {r.case_id for r in rows} == {"pull/Encounter", "pull/CarePlan", "pull/CareTeam",
                                         "pull/Task"}


def test_partners_do_not_activate_a_plan_no_physician_approved(
        client, auth_headers, hub, ehr):
    """The plan approval rule holds on the partner paths: a pulled hospital CarePlan set
    active is refused and recorded (a note on the case, the pull's refused items); an
    agency's write of the case's CarePlan through the hub's FHIR API is answered 422;
    nothing changes. Once a physician approved the plan, the partner's active applies."""
    mrn = f"MRN-{uuid.uuid4().hex[:8]}"
    body = _case_body(mrn)
    body["referrals"] = [{"id": "hh", "service": {
        "system": HOME_HEALTH_SERVICE.system, "code": HOME_HEALTH_SERVICE.code,
        "display": HOME_HEALTH_SERVICE.display}, "status": "requested",
        "agency": {"name": "Sunrise Home Health", "reference": AGENCY_ORG}}]
    resp = client.post("/api/cases", json=body, headers=auth_headers("system/*.cruds"))
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    hub.drain()
    plan_id = resource_id(case["id"], "careplan")
    [at_ehr] = ehr.ours("CarePlan", plan_id)
    ehr.update({**at_ehr, "status": "active"})
    version = hub.case(case["id"]).version
    rows = hub.pull("st-marys", "CarePlan")
    [pull] = [r for r in rows if r.operation == "pull" and r.resource_type == "CarePlan"]
    [refused] = pull.response["refused_items"]
    assert refused["resource"].startswith("CarePlan/") and "approved" in refused["error"]
    got = hub.case(case["id"])
    assert got.plan.status == c.PlanStatus.DRAFT
    assert any("was not applied" in n.text and "approved" in n.text for n in got.notes)
    assert got.version == version + 1  # the note only

    agency = {**auth_headers("system/CarePlan.cruds", AGENCY_ORG),
              "Content-Type": "application/fhir+json"}
    ours = client.get(f"/fhir/CarePlan/{plan_id}", headers=agency)
    assert ours.status_code == 200, ours.get_json()  # the referral's supporting info
    resp = client.put(f"/fhir/CarePlan/{plan_id}", json={**ours.get_json(), "status": "active"},
                      headers=agency)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert "approved" in resp.get_json()["issue"][0]["diagnostics"]
    assert client.get(f"/fhir/CarePlan/{plan_id}", headers=agency).get_json() == \
        ours.get_json()
    assert hub.case(case["id"]).plan.status == c.PlanStatus.DRAFT

    resp = client.post(f"/api/cases/{case['id']}/plan/approval",
                       json={"approved_by": physician()},
                       headers={**auth_headers("system/*.cruds"),
                                "If-Match": f'W/"{hub.case(case["id"]).version}"'})
    assert resp.status_code == 200, resp.get_json()
    ours = client.get(f"/fhir/CarePlan/{plan_id}", headers=agency).get_json()
    resp = client.put(f"/fhir/CarePlan/{plan_id}", json={**ours, "status": "active"},
                      headers=agency)
    assert resp.status_code == 200, resp.get_json()
    assert hub.case(case["id"]).plan.status == c.PlanStatus.ACTIVE
