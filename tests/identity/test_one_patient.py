"""One patient per identity (issue 11 item 2): Patients matched by their MRN, on the FHIR API
and the case API, and one open case per patient and program; enforced in the database."""

from __future__ import annotations

import sqlalchemy as sa
from case_data import river

from hub.fhirstore.tables import patient_identities
from hub.fhirstore.tables import resources as R
from hub.store.case_tables import open_cases

FHIR = "application/fhir+json"
RIVER_MRN = ("urn:oid:2.16.840.1.113883.19.5.1", "MRN-RIVER-0001")


def fhir_patient(value: str = "MRN-1", system: str = RIVER_MRN[0], family: str = "River"):
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["Ada"]}],
            "identifier": [{"system": "https://other.example/ids", "value": "x-" + value},
                           {"system": system, "value": value}]}


def post(client, h, body, **headers):
    return client.post("/fhir/Patient", json=body,
                       headers={**h, "Content-Type": FHIR, **headers})


def count_patients(app) -> int:
    with app.extensions["hub.db"].engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(R).where(
            R.c.res_type == "Patient", R.c.current.is_(True),
            R.c.deleted.is_(False))).scalar_one()


def rows(app, table) -> list:
    with app.extensions["hub.db"].engine.connect() as conn:
        return list(conn.execute(sa.select(table)))


def test_fhir_create_of_a_known_mrn_is_409_and_stores_nothing(app, client, auth_headers):
    h = auth_headers("system/Patient.cruds")
    first = post(client, h, fhir_patient())
    assert first.status_code == 201
    again = post(client, h, fhir_patient(family="Other"))
    assert again.status_code == 409
    body = again.get_json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["code"] == "duplicate"
    assert issue["expression"] == ["Patient.identifier[1]"]
    assert first.get_json()["id"] in issue["diagnostics"]
    assert count_patients(app) == 1
    # a PUT making a new Patient with the same MRN: refused as well
    put = client.put("/fhir/Patient/other-one", json={**fhir_patient(), "id": "other-one"},
                     headers={**h, "Content-Type": FHIR})
    assert put.status_code == 409
    assert count_patients(app) == 1
    # the holder itself may be updated with its MRN
    pid = first.get_json()["id"]
    upd = client.put(f"/fhir/Patient/{pid}", json={**fhir_patient(family="Riv"), "id": pid},
                     headers={**h, "Content-Type": FHIR})
    assert upd.status_code == 200


def test_conditional_create_links_to_the_existing_patient(client, auth_headers, app):
    h = auth_headers("system/Patient.cruds")
    pid = post(client, h, fhir_patient()).get_json()["id"]
    again = post(client, h, fhir_patient(),
                 **{"If-None-Exist": f"identifier={RIVER_MRN[0]}|MRN-1"})
    assert again.status_code == 200
    assert again.get_json()["id"] == pid
    assert count_patients(app) == 1


def test_other_systems_and_deleted_patients_do_not_block(client, auth_headers, app):
    h = auth_headers("system/Patient.cruds")
    # not an MRN system: two Patients may share it
    assert post(client, h, fhir_patient(system="http://hospital.example/mrn")).status_code == 201
    assert post(client, h, fhir_patient(system="http://hospital.example/mrn")).status_code == 201
    pid = post(client, h, fhir_patient("MRN-2")).get_json()["id"]
    assert client.delete(f"/fhir/Patient/{pid}", headers=h).status_code == 204
    assert post(client, h, fhir_patient("MRN-2")).status_code == 201
    # an update dropping the MRN gives it up
    other = post(client, h, fhir_patient("MRN-3")).get_json()["id"]
    body = {**fhir_patient("MRN-3"), "id": other}
    body["identifier"] = body["identifier"][:1]
    assert client.put(f"/fhir/Patient/{other}", json=body,
                      headers={**h, "Content-Type": FHIR}).status_code == 200
    assert post(client, h, fhir_patient("MRN-3")).status_code == 201


def test_mrn_systems_are_configurable(make_app, auth_headers):
    app = make_app(patient_identifier_systems="http://hospital.example/mrn, urn:x")
    client = app.test_client()
    h = auth_headers("system/Patient.cruds")
    sys_ = "http://hospital.example/mrn"
    assert post(client, h, fhir_patient(system=sys_)).status_code == 201
    assert post(client, h, fhir_patient(system=sys_)).status_code == 409
    # the default system is no MRN system of this app
    assert post(client, h, fhir_patient()).status_code == 201
    assert post(client, h, fhir_patient()).status_code == 201


def test_case_api_reuses_the_patient_and_keeps_one_open_case_per_program(
        app, client, auth_headers):
    h = auth_headers("system/Case.cruds system/Patient.cruds system/EpisodeOfCare.rs")
    first = client.post("/api/cases", json=river(), headers=h)
    assert first.status_code == 201
    case_id = first.get_json()["id"]
    dup = client.post("/api/cases", json=river(), headers=h)
    assert dup.status_code == 409
    assert case_id in dup.get_json()["message"]
    assert [r.case_id for r in rows(app, open_cases)] == [case_id]
    # another program: a second case, on the same Patient
    other = client.post("/api/cases", json={**river(), "program": "hiv"}, headers=h)
    assert other.status_code == 201
    assert count_patients(app) == 1
    found = client.get(f"/fhir/Patient?identifier={RIVER_MRN[0]}|{RIVER_MRN[1]}",
                       headers=h).get_json()
    assert found["total"] == 1
    pid = found["entry"][0]["resource"]["id"]
    eps = client.get(f"/fhir/EpisodeOfCare?patient=Patient/{pid}", headers=h).get_json()
    assert eps["total"] == 2
    # a FHIR create of that MRN is refused now that the case made the Patient
    assert post(client, h, fhir_patient(RIVER_MRN[1])).status_code == 409
    # the case closed (cancelled): the program is free again, for the same Patient
    etag = first.headers["ETag"]
    moved = client.post(f"/api/cases/{case_id}/transitions",
                        json={"to": "cancelled", "reason": "duplicate intake"},
                        headers={**h, "If-Match": etag})
    assert moved.status_code == 200, moved.get_json()
    again = client.post("/api/cases", json=river(), headers=h)
    assert again.status_code == 201
    assert count_patients(app) == 1
    assert {r.patient_id for r in rows(app, open_cases)} == {pid}


def test_case_api_links_to_a_patient_made_over_fhir(app, client, auth_headers):
    h = auth_headers("system/Case.cruds system/Patient.cruds system/EpisodeOfCare.rs")
    pid = post(client, h, fhir_patient(RIVER_MRN[1])).get_json()["id"]
    made = client.post("/api/cases", json=river(), headers=h)
    assert made.status_code == 201
    assert count_patients(app) == 1
    eps = client.get(f"/fhir/EpisodeOfCare?patient=Patient/{pid}", headers=h).get_json()
    assert eps["total"] == 1
    assert [(r.system, r.value, r.patient_id) for r in rows(app, patient_identities)] == [
        (*RIVER_MRN, pid)]
