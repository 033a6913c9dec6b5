"""Issue 9 item 3: SMART v2 scopes read exactly (c create, r read, u update, d delete,
s search), tried as a client holding one letter too few would."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from hub.fhirstore.tables import resources

FHIR = "application/fhir+json"
FAMILY, BIRTH = "Quillfeather", "1950-02-03"
PATIENT = {"resourceType": "Patient", "name": [{"family": FAMILY}], "birthDate": BIRTH,
           "identifier": [{"system": "urn:mrn", "value": "MRN-1"}]}


def _rows(app) -> int:
    with app.extensions["hub.db"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(resources)).scalar_one()


@pytest.fixture
def existing(client, auth_headers):
    resp = client.post("/fhir/Patient", data=json.dumps(PATIENT),
                       headers={**auth_headers("system/*.cruds"), "Content-Type": FHIR})
    assert resp.status_code == 201
    return resp.get_json()["id"]


def _post(client, hdr, url, body, **headers):
    return client.post(url, data=json.dumps(body),
                       headers={**hdr, "Content-Type": FHIR, **headers})


def test_create_only_cannot_read_through_if_none_exist(client, auth_headers, existing, app):
    rows = _rows(app)
    c_only = auth_headers("system/Patient.c")
    resp = _post(client, c_only, "/fhir/Patient", PATIENT, **{"If-None-Exist":
                                                               "identifier=urn:mrn|MRN-1"})
    assert resp.status_code == 403  # a conditional create is a search: s
    # with c and s, a match is acknowledged without handing back the patient
    cs = auth_headers("system/Patient.cs")
    resp = _post(client, cs, "/fhir/Patient", PATIENT, **{"If-None-Exist":
                                                           "identifier=urn:mrn|MRN-1"})
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert FAMILY not in text and existing not in text and BIRTH not in text
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert "Location" not in resp.headers and "ETag" not in resp.headers
    assert _rows(app) == rows
    # a reader gets the match, as before
    crs = auth_headers("system/Patient.crs")
    resp = _post(client, crs, "/fhir/Patient", PATIENT, **{"If-None-Exist":
                                                            "identifier=urn:mrn|MRN-1"})
    assert resp.status_code == 200 and resp.get_json()["id"] == existing
    # the same through a transaction entry
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": "urn:uuid:7f1e5d0e-1c0a-4c43-9a83-0d5bdb4f9a10", "resource": PATIENT,
        "request": {"method": "POST", "url": "Patient",
                    "ifNoneExist": "identifier=urn:mrn|MRN-1"}}]}
    resp = _post(client, cs, "/fhir", bundle)
    assert resp.status_code == 200
    assert FAMILY not in resp.get_data(as_text=True)
    assert existing not in resp.get_data(as_text=True)


def test_update_only_cannot_create_through_put(client, auth_headers, existing, app):
    rows = _rows(app)
    u_only = auth_headers("system/Patient.u")
    resp = client.put("/fhir/Patient/brand-new", data=json.dumps(
        {**PATIENT, "id": "brand-new"}), headers={**u_only, "Content-Type": FHIR})
    assert resp.status_code == 403
    assert _rows(app) == rows
    # updating what exists is what u is for
    resp = client.put(f"/fhir/Patient/{existing}", data=json.dumps(
        {**PATIENT, "id": existing, "gender": "female"}),
        headers={**u_only, "Content-Type": FHIR})
    assert resp.status_code == 200
    cu = auth_headers("system/Patient.cu")
    resp = client.put("/fhir/Patient/brand-new", data=json.dumps(
        {**PATIENT, "id": "brand-new"}), headers={**cu, "Content-Type": FHIR})
    assert resp.status_code == 201


def test_conditional_update_and_delete_need_search(client, auth_headers, existing):
    resp = client.put("/fhir/Patient?identifier=urn:mrn|MRN-1", data=json.dumps(PATIENT),
                      headers={**auth_headers("system/Patient.cu"), "Content-Type": FHIR})
    assert resp.status_code == 403
    resp = client.delete("/fhir/Patient?identifier=urn:mrn|MRN-1",
                         headers=auth_headers("system/Patient.d"))
    assert resp.status_code == 403
    assert client.get(f"/fhir/Patient/{existing}",
                      headers=auth_headers("system/Patient.r")).status_code == 200


def test_task_client_cannot_probe_patients_with_conditional_references(client, auth_headers,
                                                                      existing, app):
    rows = _rows(app)
    tasks = auth_headers("system/Task.cruds")
    answers = []
    for family in (FAMILY, "Nobody"):  # a match and no match must look the same
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": {"resourceType": "Task", "status": "requested", "intent": "order",
                         "for": {"reference": f"Patient?family={family}&birthdate={BIRTH}"}},
            "request": {"method": "POST", "url": "Task"}}]}
        resp = _post(client, tasks, "/fhir", bundle)
        answers.append((resp.status_code, resp.get_json()["issue"][0]["code"]))
    assert answers == [(403, "forbidden"), (403, "forbidden")]
    assert _rows(app) == rows


def test_search_without_read_returns_no_bodies(client, auth_headers, existing):
    s_only = auth_headers("system/Patient.s")
    resp = client.get(f"/fhir/Patient?family={FAMILY}", headers=s_only)
    assert resp.status_code == 200
    bundle = resp.get_json()
    assert bundle["total"] == 1
    assert [e["search"]["mode"] for e in bundle.get("entry", [])] == ["outcome"]
    assert existing not in resp.get_data(as_text=True)
    assert BIRTH not in resp.get_data(as_text=True)
    # the type history is a search of versions: bodies need r
    assert client.get("/fhir/Patient/_history", headers=s_only).status_code == 403
    assert client.get("/fhir/Patient/_history",
                      headers=auth_headers("system/Patient.r")).status_code == 403
    rs = auth_headers("system/Patient.rs")
    assert client.get("/fhir/Patient/_history", headers=rs).status_code == 200
    found = client.get(f"/fhir/Patient?family={FAMILY}", headers=rs).get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == [existing]
    # read alone cannot search
    assert client.get(f"/fhir/Patient?family={FAMILY}",
                      headers=auth_headers("system/Patient.r")).status_code == 403
