"""Agency flows over real HTTP: an agency's FHIR server (Medplum peer, behind a fault
proxy) and an agency-json agency (tests/partners' server, with its fault switches and a
restart that keeps its data). The test plays the agency (accept, visit, complete in its own
system); the hub pushes referrals and pulls the agency's work back; each test ends by
comparing the agency's records with the case: nothing missing, nothing duplicated.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from case_data import river
from partners.agency_json_server import AgencyJsonPartner, AgencyServer
from partners.agency_json_server import Fault as JsonFault
from peer_fhir import running_peer
from sqlalchemy import delete

from hub import cases as c
from hub.mappings.agency_json import visit_encounter_id
from hub.mappings.identity import resource_id
from hub.store.sync_tables import sync_cursors
from hub.sync.partners import Auth, Partner, Timeouts

from .flow_world import Fault, FaultProxy, HubHarness, Peer, assert_references_resolve

pytestmark = pytest.mark.integration

FHIR_AGENCY = "Organization/sunrise-hh"
JSON_AGENCY = "Organization/dawn-hh"
API_KEY = "flow-test-agency-key"
UTC = UTC
SERVICE = {"system": "http://snomed.info/sct", "code": "91251008",
           "display": "Physical therapy procedure"}


def _body(referrals: list[dict]) -> dict:
    body = river()
    body["encounters"] = []
    body["referrals"] = referrals
    return body


def _referral(rid: str, agency_ref: str, name: str, status: str = "requested") -> dict:
    return {"id": rid, "service": SERVICE, "agency": {"name": name, "reference": agency_ref},
            "status": status, "reason": "physiotherapy at home after discharge"}


def _open(client, headers, body) -> dict:
    resp = client.post("/api/cases", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _drop(body: dict, path: str) -> None:
    parts = path.split(".")
    node = body
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.get(part)
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def _edit_case(client, headers, case_id: str, change) -> dict:
    """GET the case, ``change(body)``, PUT it back (the server-set fields left out)."""
    body = client.get(f"/api/cases/{case_id}", headers=headers).get_json()
    version = body["version"]
    change(body)
    for _ in range(3):
        resp = client.put(f"/api/cases/{case_id}", json=body,
                          headers={**headers, "If-Match": f'W/"{version}"'})
        errors = (resp.get_json() or {}).get("errors") or {}
        read_only = [p for p, m in errors.items()
                     if "read-only" in " ".join(m) or "Unknown field" in " ".join(m)]
        if resp.status_code != 422 or not read_only:
            break
        for path in read_only:
            _drop(body, path)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _set_referral(client, headers, case_id: str, rid: str, status: str,
                  reason: str | None = None) -> dict:
    def change(body):
        for ref in body["referrals"]:
            if ref["id"] == rid:
                ref["status"] = status
                if reason:
                    ref["status_reason"] = reason
    return _edit_case(client, headers, case_id, change)


# -- an agency with a FHIR server ------------------------------------------------------------

@pytest.fixture(scope="module")
def agency_base():
    # referential integrity on write (as HAPI FHIR JPA): what the hub sends must refer only
    # to what the agency holds; the agency's own Organization exists there
    with running_peer(check_references=True,
                      organization=(FHIR_AGENCY, "Sunrise Home Health")) as base:
        yield base


@pytest.fixture
def fhir_hub(app, agency_base):
    proxy = FaultProxy(agency_base).up()
    partner = Partner(id="sunrise", kind="agency", base_url=proxy.base_url,
                      organization=FHIR_AGENCY, receives=("ServiceRequest", "Task"),
                      poll_seconds=900, timeouts=Timeouts(connect=0.5, read=1.0),
                      patient="create")  # the agency gets the patient from the hub
    harness = HubHarness(app, {"sunrise": partner})
    yield harness, proxy, Peer(agency_base)
    harness.close()
    proxy.down()


def test_fhir_agency_accepts_visits_and_completes(client, auth_headers, fhir_hub):
    hub, proxy, agency = fhir_hub
    headers = auth_headers("system/*.cruds")
    proxy.inject(Fault(status=500, method="POST", path="Task"),
                 Fault(status=429, headers={"Retry-After": "1"}, method="POST"),
                 Fault(slow=1.5, method="POST", path="ServiceRequest"))
    case = _open(client, headers, _body([
        _referral("pt-home", FHIR_AGENCY, "Sunrise Home Health"),
        _referral("pt-later", FHIR_AGENCY, "Sunrise Home Health", "draft")]))
    hub.drain()
    assert not hub.dead()
    sr_id = resource_id(case["id"], "referral", "pt-home")
    task_id = resource_id(case["id"], "task", "pt-home")
    [sr] = agency.ours("ServiceRequest", sr_id)
    [task] = agency.ours("Task", task_id)
    assert task["status"] == "requested"
    # what the agency got refers only to what it holds: its copy of the ServiceRequest
    # (sent first), the patient created there (policy ``patient: create``, once, found by
    # the case's MRN), logical references to the rest
    assert task["focus"]["reference"] == f"ServiceRequest/{sr['id']}"
    assert_references_resolve(agency, sr, patient_at_ehr=None)
    assert_references_resolve(agency, task, patient_at_ehr=None)
    mrn = case["patient"]["identifiers"][0]
    patients = agency.search("Patient", identifier=f"{mrn['system']}|{mrn['value']}")
    assert [p["id"] for p in patients] == [task["for"]["reference"].split("/")[1]]
    assert sr["subject"]["reference"] == task["for"]["reference"]
    assert hub.rows(partner_id="sunrise")[0].resource_type == "ServiceRequest"
    # the draft referral is not sent
    assert not agency.ours("Task", resource_id(case["id"], "task", "pt-later"))

    # the agency works its own copy between two polls: accept, visit, start, complete
    task["status"] = "accepted"
    task = agency.update(task)
    visit = agency.create({
        "resourceType": "Encounter", "status": "finished",
        "identifier": [{"system": "urn:sunrise:visit", "value": f"VIS-{task['id'][:8]}"}],
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH",
                  "display": "home health"},
        "subject": task["for"], "basedOn": [{"reference": f"ServiceRequest/{sr['id']}"}],
        "serviceProvider": {"reference": FHIR_AGENCY},
        "period": {"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T10:00:00Z"}})
    task["status"] = "in-progress"
    task = agency.update(task)
    task["status"] = "completed"
    task["output"] = [{"type": {"text": "visit"},
                       "valueReference": {"reference": f"Encounter/{visit['id']}"}}]
    task = agency.update(task)

    proxy.inject(Fault(status=500, method="GET", path="Task"),
                 Fault(slow=1.5, method="GET", path="Encounter"))
    hub.pull("sunrise", "Task", "Encounter")
    got = hub.case(case["id"])
    referral = got.referral("pt-home")
    assert referral.status == c.ReferralStatus.COMPLETED
    assert [h.status for h in referral.history if h.by == "owner"] == [
        "accepted", "in-progress", "completed"]
    visits = [e for e in got.encounters if e.kind == c.EncounterKind.HOME_VISIT]
    assert [(v.status, v.referral) for v in visits] == [(c.EncounterStatus.FINISHED, "pt-home")]
    # the agency's own moves are not pushed back to it
    assert not [r for r in hub.rows(partner_id="sunrise") if r.operation == "update"]

    # pulling everything again changes nothing
    version = got.version
    with hub.db.engine.begin() as conn:
        conn.execute(delete(sync_cursors))
    hub.pull("sunrise", "Task", "Encounter")
    assert hub.case(case["id"]).version == version

    # the hub cancels a second referral: the agency's Task is cancelled (If-Match)
    _set_referral(client, headers, case["id"], "pt-later", "requested")
    hub.drain()
    later = resource_id(case["id"], "task", "pt-later")
    [task2] = agency.ours("Task", later)
    task2["status"] = "accepted"
    agency.update(task2)
    hub.pull("sunrise", "Task")
    _set_referral(client, headers, case["id"], "pt-later", "cancelled",
                  "patient moved out of the area")
    hub.drain()
    assert not hub.dead(), [(r.operation, r.resource_type, r.last_error) for r in hub.dead()]
    [task2] = agency.ours("Task", later)
    assert task2["status"] == "cancelled"

    # end: every sent referral exactly once at the agency, statuses as in the case
    final = hub.case(case["id"])
    for ref in final.referrals:
        copies = agency.ours("Task", resource_id(case["id"], "task", ref.id))
        assert len(copies) == 1 and copies[0]["status"] == ref.status.value
        assert len(agency.ours("ServiceRequest",
                               resource_id(case["id"], "referral", ref.id))) == 1
    agency_visits = agency.search("Encounter", **{"based-on": f"ServiceRequest/{sr['id']}"})
    assert len(agency_visits) == len([e for e in final.encounters
                                      if e.kind == c.EncounterKind.HOME_VISIT]) == 1


# -- an agency-json agency -------------------------------------------------------------------

@pytest.fixture
def json_hub(app):
    agency = AgencyJsonPartner(api_key=API_KEY)
    server = AgencyServer(agency).start()
    partner = Partner(id="dawn", kind="agency", protocol="agency-json",
                      base_url=server.base_url, organization=JSON_AGENCY,
                      auth=Auth(type="api-key", header="X-Api-Key", key_env="HUB_TEST_DAWN"),
                      poll_seconds=900, timeouts=Timeouts(connect=0.5, read=0.5))
    harness = HubHarness(app, {"dawn": partner}, environ={"HUB_TEST_DAWN": API_KEY})
    yield harness, agency, server
    harness.close()
    server.stop()


def test_agency_json_send_work_pull_cancel_with_faults_and_restart(client, auth_headers,
                                                                   json_hub):
    hub, agency, server = json_hub
    headers = auth_headers("system/*.cruds")
    # two 500s, then an answer lost after the agency stored the referral
    agency.fail_next(2, method="POST", path="/referrals")
    agency.slow_next(1.0, method="POST", path="/referrals")
    case = _open(client, headers, _body([_referral("r-one", JSON_AGENCY, "Dawn Home Health")]))
    hub.drain()
    assert not hub.dead(), [(r.operation, r.last_error) for r in hub.dead()]
    assert list(agency.referrals) == ["r-one"]
    assert agency.count("POST", "/referrals", 200) == 1  # the retry found the stored one
    [send] = hub.rows(partner_id="dawn", operation="send")
    assert send.payload["id"] == "r-one"

    # the agency works it; the hub pulls through a 429 with Retry-After
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    agency.accept("r-one", agency_reference="EP-1")
    agency.record_visit("r-one", "V-1", start, start + timedelta(hours=1), clinician="Alex Nurse",
                        role="RN", summary="First visit done")
    agency.start("r-one")
    agency.inject(JsonFault(status=429, headers={"Retry-After": "1"}, method="GET"))
    hub.pull("dawn", "Referral")
    got = hub.case(case["id"])
    assert got.referral("r-one").status == c.ReferralStatus.IN_PROGRESS
    [visit] = [e for e in got.encounters if e.kind == c.EncounterKind.HOME_VISIT]
    assert visit.id == visit_encounter_id("r-one", "V-1")

    # a second referral while the agency is down (connection refused), then it restarts
    # with its data
    server.stop()
    _edit_case(client, headers, case["id"], lambda body: body["referrals"].append(
        _referral("r-two", JSON_AGENCY, "Dawn Home Health")))
    hub.worker.run_once()
    assert hub.rows(partner_id="dawn", operation="send")[-1].attempts >= 1
    server.start()
    hub.drain()
    assert sorted(agency.referrals) == ["r-one", "r-two"]

    # the hub cancels r-two; the agency completes r-one
    _set_referral(client, headers, case["id"], "r-two", "cancelled", "service no longer needed")
    agency.complete("r-one")
    hub.drain()
    assert agency.state("r-two")["status"] == "cancelled"
    hub.pull("dawn", "Referral")
    # everything again from the start: nothing changes
    version = hub.case(case["id"]).version
    with hub.db.engine.begin() as conn:
        conn.execute(delete(sync_cursors))
    hub.pull("dawn", "Referral")
    final = hub.case(case["id"])
    assert final.version == version

    # end: the agency's records and the case agree
    assert not hub.dead()
    assert sorted(agency.referrals) == sorted(r.id for r in final.referrals)
    for ref in final.referrals:
        state = agency.state(ref.id)
        assert state["status"] == ref.status.value
        visits = {visit_encounter_id(ref.id, v["id"]) for v in state["visits"]}
        assert visits == {e.id for e in final.encounters if e.referral == ref.id}
    assert len(hub.rows(partner_id="dawn", operation="send")) == 2
    assert len(hub.rows(partner_id="dawn", operation="cancel")) == 1
