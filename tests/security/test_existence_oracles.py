"""Issue 9.4, as the attacker tries it: telling a hidden resource from one that never was.

Agency A probes ids of patient 2 (in agency B's compartment) and random ids with every
interaction; each pair must answer the same status and the same body (the id it sent
aside).
"""

import json
import uuid

import pytest
from partner_world import AGENCY_A, ref


@pytest.fixture
def agency_a(fhir_as):
    return fhir_as("system/*.cruds", organization=AGENCY_A)


def _answer(resp, rid: str) -> tuple[int, str]:
    body = resp.get_data(as_text=True).replace(rid, "<id>")
    if body:
        data = json.loads(body)
        data.pop("id", None)
        data.pop("meta", None)  # a Bundle's own id and time
        body = json.dumps(data, sort_keys=True)
    return resp.status_code, body


def _same(hidden_resp, hidden_id: str, absent_resp, absent_id: str) -> tuple[int, str]:
    a, b = _answer(hidden_resp, hidden_id), _answer(absent_resp, absent_id)
    assert a == b
    return a


def _probe(world, fhir):
    hidden = world["patient2"]
    absent = str(uuid.uuid4())
    assert fhir.get(f"/fhir/Patient/{hidden['id']}").status_code == 200
    return hidden, absent


def test_put_by_id_with_and_without_if_match(world, fhir, agency_a):
    hidden, absent = _probe(world, fhir)
    for headers in ({}, {"If-Match": 'W/"1"'}, {"If-Match": 'W/"9"'}):
        answers = [agency_a.put(f"/fhir/Patient/{rid}", {**hidden, "id": rid,
                                                          "gender": "male"},
                                headers=headers) for rid in (hidden["id"], absent)]
        status, _ = _same(answers[0], hidden["id"], answers[1], absent)
        assert status == 404
    assert fhir.get(f"/fhir/Patient/{hidden['id']}").get_json() == hidden
    assert fhir.get(f"/fhir/Patient/{absent}").status_code == 404


def test_conditional_update_on_id(world, fhir, agency_a):
    hidden, absent = _probe(world, fhir)
    for with_id in (True, False):
        answers = []
        for rid in (hidden["id"], absent):
            body = {**hidden, "gender": "male"}
            if with_id:
                body["id"] = rid
            else:
                body.pop("id")
            answers.append(agency_a.put(f"/fhir/Patient?_id={rid}", body))
        status, _ = _same(answers[0], hidden["id"], answers[1], absent)
        assert status in (403, 404)
    assert fhir.get(f"/fhir/Patient/{hidden['id']}").get_json() == hidden
    assert fhir.get("/fhir/Patient?_summary=count").get_json()["total"] == 3


def test_reads_history_delete_and_conditional_create(world, fhir, agency_a):
    hidden, absent = _probe(world, fhir)
    for method, url in (("GET", "/fhir/Patient/{}"), ("GET", "/fhir/Patient/{}/_history/1"),
                        ("GET", "/fhir/Patient/{}/_history"), ("DELETE", "/fhir/Patient/{}"),
                        ("GET", "/fhir/Patient?_id={}"),
                        ("GET", "/fhir/Task?patient=Patient/{}")):
        answers = [agency_a.request(method, url.format(rid)) for rid in (hidden["id"], absent)]
        _same(answers[0], hidden["id"], answers[1], absent)
    # conditional create: the hidden match is not found, so no 200 with its body
    visit = {"resourceType": "Encounter", "status": "finished",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                       "code": "HH"},
             "subject": {"reference": ref(world["patient1"])},
             "basedOn": [{"reference": ref(world["sr_a"])}],
             "serviceProvider": {"reference": AGENCY_A}}
    for rid in (hidden["id"], absent):
        resp = agency_a.post("/fhir/Patient", {k: v for k, v in hidden.items()
                                               if k not in ("id", "meta")},
                             headers={"If-None-Exist": f"_id={rid}"})
        assert resp.status_code == 403
    for rid in (hidden["id"], absent):
        resp = agency_a.post("/fhir/Encounter", visit,
                             headers={"If-None-Exist": f"subject=Patient/{rid}"})
        assert resp.status_code == 201
    assert fhir.get(f"/fhir/Patient/{hidden['id']}").get_json() == hidden


def test_transaction_entries(world, fhir, agency_a):
    hidden, absent = _probe(world, fhir)
    answers = []
    for rid in (hidden["id"], absent):
        for entry in ({"request": {"method": "GET", "url": f"Patient/{rid}"}},
                      {"request": {"method": "PUT", "url": f"Patient/{rid}"},
                       "resource": {**hidden, "id": rid}},
                      {"request": {"method": "DELETE", "url": f"Patient/{rid}"}},
                      {"request": {"method": "PUT", "url": f"Patient?_id={rid}"},
                       "resource": {**hidden, "id": rid}}):
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
            answers.append((rid, agency_a.post("/fhir", bundle)))
            batch = {**bundle, "type": "batch"}
            answers.append((rid, agency_a.post("/fhir", batch)))
    half = len(answers) // 2
    for (hid, h), (aid, a) in zip(answers[:half], answers[half:]):
        _same(h, hid, a, aid)
    assert fhir.get(f"/fhir/Patient/{hidden['id']}").get_json() == hidden
