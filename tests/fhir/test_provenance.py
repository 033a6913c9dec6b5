"""Provenance of partner writes, on the full referral-inbox walk of an agency (DOMAIN 5.2).

Each create/update/delete by a client bound to an Organization stores, in the same
transaction, a Provenance of the written version with that organization as author.
"""

import pytest
from partner_world import AGENCY_A, AGENCY_B, ref, visit

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


@pytest.fixture
def agency_a(fhir_as):
    return fhir_as("system/*.cruds", organization=AGENCY_A)


def _provenances(client, target: str) -> list[dict]:
    body = client.get(f"/fhir/Provenance?target={target}&_sort=_lastUpdated&_count=50")
    assert body.status_code == 200
    return [e["resource"] for e in body.get_json().get("entry", [])
            if e["search"]["mode"] == "match"]


def _check(prov: dict, target: str, operation: str, org: str = AGENCY_A) -> None:
    assert prov["target"] == [{"reference": target}]
    assert prov["recorded"].endswith("Z")
    assert prov["activity"]["coding"][0]["system"] == DATA_OPERATION
    assert prov["activity"]["coding"][0]["code"] == operation
    (agent,) = prov["agent"]
    assert agent["who"] == {"reference": org} and "onBehalfOf" not in agent
    assert agent["type"]["coding"][0] == {"system": PARTICIPANT, "code": "author",
                                          "display": "Author"}


def _put_task(client, t: dict, **changes) -> dict:
    resp = client.put(f"/fhir/Task/{t['id']}", {**t, **changes},
                      headers={"If-Match": f'W/"{t["meta"]["versionId"]}"'})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_referral_inbox_walk_leaves_provenance_at_each_step(world, fhir, agency_a):
    since = world["task_a"]["meta"]["lastUpdated"]
    # discover new work, with the referral itself
    inbox = agency_a.get(f"/fhir/Task?owner={AGENCY_A}&status=requested"
                         f"&_include=Task:focus&_lastUpdated=ge{since}").get_json()
    matches = [e["resource"] for e in inbox["entry"] if e["search"]["mode"] == "match"]
    included = [e["resource"] for e in inbox["entry"] if e["search"]["mode"] == "include"]
    assert [ref(t) for t in matches] == [ref(world["task_a"])]
    assert [ref(r) for r in included] == [ref(world["sr_a"])]
    task, sr = matches[0], included[0]
    # fetch the context the referral points at
    for link in (sr["subject"], *sr["supportingInfo"], *sr["insurance"],
                 *sr["reasonReference"]):
        assert agency_a.get(f"/fhir/{link['reference']}").status_code == 200
    created_by_hub = _provenances(fhir, ref(task))
    assert len(created_by_hub) == 1  # the hub's create; reads leave no Provenance
    # accept, start, report the visit, complete
    task = _put_task(agency_a, task, status="accepted")
    task = _put_task(agency_a, task, status="in-progress",
                     businessStatus={"text": "first visit scheduled"})
    resp = agency_a.post("/fhir/Encounter", visit(ref(world["patient1"]), ref(sr), AGENCY_A))
    assert resp.status_code == 201
    encounter = resp.get_json()
    task = _put_task(agency_a, task, status="completed", output=[{
        "type": {"coding": [{"system": "http://hl7.org/fhir/us/sdoh-clinicalcare/"
                                       "CodeSystem/SDOHCC-CodeSystemTemporaryCodes",
                             "code": "resulting-activity"}]},
        "valueReference": {"reference": ref(encounter)}}])
    assert task["meta"]["versionId"] == "4"
    provs = _provenances(fhir, ref(task))[1:]
    assert len(provs) == 3
    for prov, version in zip(provs, ("2", "3", "4")):
        _check(prov, f"{ref(task)}/_history/{version}", "UPDATE")
    (created,) = _provenances(fhir, ref(encounter))
    _check(created, f"{ref(encounter)}/_history/1", "CREATE")
    # the agency reads its visit and its Provenance; searchable by agent too
    assert agency_a.get(f"/fhir/{ref(encounter)}").status_code == 200
    mine = agency_a.get(f"/fhir/Provenance?agent={AGENCY_A}").get_json()
    assert mine["total"] == 4
    assert agency_a.get(f"/fhir/Provenance/{created['id']}").status_code == 200
    body = agency_a.get(f"/fhir/Task?_id={task['id']}&_revinclude=Provenance:target")
    assert len([e for e in body.get_json()["entry"]
                if e["search"]["mode"] == "include"]) == 3


def test_delete_by_a_partner_is_recorded_and_stays_visible_to_it(world, fhir, agency_a):
    doc = world["document1"]
    made = agency_a.post("/fhir/Observation", {
        "resourceType": "Observation", "status": "final", "code": {"text": "Pain score"},
        "subject": {"reference": ref(world["patient1"])},
        "basedOn": [{"reference": ref(world["sr_a"])}],
        "valueInteger": 3}).get_json()
    assert agency_a.delete(f"/fhir/{ref(made)}").status_code == 204
    assert agency_a.get(f"/fhir/{ref(made)}").status_code == 410
    create, delete = _provenances(fhir, ref(made))
    _check(create, f"{ref(made)}/_history/1", "CREATE")
    _check(delete, f"{ref(made)}/_history/2", "DELETE")
    assert agency_a.get(f"/fhir/{ref(doc)}").status_code == 200


def test_hub_writes_get_provenance_refused_writes_none(world, fhir, agency_a):
    task = world["task_a"]
    _put_task(fhir, task, priority="urgent")
    _create, update = _provenances(fhir, ref(task))
    assert update["target"] == [{"reference": f"{ref(task)}/_history/2"}]
    (agent,) = update["agent"]
    assert agent["who"]["type"] == "Device" and agent["who"]["identifier"]["value"]
    assert update["activity"]["coding"][0]["code"] == "UPDATE"
    total = fhir.get("/fhir/Provenance").get_json()["total"]
    # an illegal move (requested -> completed) is refused: nothing stored, no Provenance
    resp = agency_a.put(f"/fhir/Task/{task['id']}", {**task, "status": "completed"},
                        headers={"If-Match": 'W/"2"'})
    assert resp.status_code == 409
    assert len(_provenances(fhir, ref(task))) == 2
    # an Encounter outside the compartment is refused after its write: rolled back
    resp = agency_a.post("/fhir/Encounter", visit(ref(world["patient2"]),
                                                  ref(world["sr_b"]), AGENCY_A))
    assert resp.status_code == 403
    assert fhir.get("/fhir/Provenance").get_json()["total"] == total
    assert fhir.get("/fhir/Encounter").get_json()["total"] == 0


def test_provenance_is_only_in_its_agents_compartment(world, fhir, fhir_as, agency_a):
    task = _put_task(agency_a, world["task_a"], status="accepted")
    _, prov = _provenances(fhir, ref(task))
    agency_b = fhir_as("system/*.cruds", organization=AGENCY_B)
    assert agency_b.get(f"/fhir/Provenance/{prov['id']}").status_code == 404
    assert agency_b.get("/fhir/Provenance").get_json()["total"] == 0
    assert agency_a.get(f"/fhir/Provenance?target={ref(task)}").get_json()["total"] == 1


def test_transaction_by_a_partner_records_each_write(world, fhir, agency_a):
    task = world["task_a"]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6a1f1f7e-1c51-4a4a-9d43-6b1b4c1f0001",
         "resource": visit(ref(world["patient1"]), ref(world["sr_a"]), AGENCY_A),
         "request": {"method": "POST", "url": "Encounter"}},
        {"resource": {**task, "status": "accepted", "output": [{
            "type": {"text": "visit"},
            "valueReference": {"reference": "urn:uuid:6a1f1f7e-1c51-4a4a-9d43-6b1b4c1f0001"}}]},
         "request": {"method": "PUT", "url": ref(task), "ifMatch": 'W/"1"'}}]}
    resp = agency_a.post("/fhir", bundle)
    assert resp.status_code == 200, resp.get_json()
    provs = fhir.get(f"/fhir/Provenance?agent={AGENCY_A}").get_json()
    targets = sorted(p["resource"]["target"][0]["reference"].split("/")[0]
                     for p in provs["entry"])
    assert targets == ["Encounter", "Task"]
