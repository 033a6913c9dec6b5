"""What a FHIR client gets back after its writes opened or changed a case (issue 11):
the transaction-response names each resource's final version (the case's projection
wrote onto it after the entry ran), and what the client wrote that the case does not
model stays on its resources."""

from __future__ import annotations

import pytest

from .discharge import Discharge, ids_by_name

FHIR = "application/fhir+json"
CLIENT_EXT = {"url": "http://example.org/fhir/StructureDefinition/ward",
              "valueString": "orthopaedics 3"}


@pytest.fixture
def h(auth_headers):
    return {**auth_headers("system/*.cruds"), "Content-Type": FHIR}


def read(client, h, rtype: str, rid: str):
    resp = client.get(f"/fhir/{rtype}/{rid}", headers=h)
    assert resp.status_code == 200, resp.get_json()
    return resp


def test_the_transaction_response_carries_each_resources_final_version(client, h):
    d = Discharge()
    resp = client.post("/fhir", json=d.bundle(), headers=h)
    assert resp.status_code == 200, resp.get_json()
    entries = resp.get_json()["entry"]
    ids = ids_by_name(d, resp.get_json())
    rewritten = 0
    for name, entry in zip(d.resources, entries):
        rtype = d.resources[name]["resourceType"]
        now = read(client, h, rtype, ids[name])
        version = now.get_json()["meta"]["versionId"]
        assert entry["response"]["etag"] == now.headers["ETag"] == f'W/"{version}"', name
        assert entry["response"]["location"] == f"{rtype}/{ids[name]}/_history/{version}"
        assert entry["response"]["lastModified"] == now.get_json()["meta"]["lastUpdated"]
        assert entry["resource"] == now.get_json(), name
        rewritten += version != "1"
    assert rewritten >= 8  # the case's projection wrote onto the client's resources

    plan_entry = entries[list(d.resources).index("plan")]
    plan = plan_entry["resource"]
    resp = client.put(f"/fhir/CarePlan/{plan['id']}", json={**plan, "title": "Home plan"},
                      headers={**h, "If-Match": plan_entry["response"]["etag"]})
    assert resp.status_code == 200, resp.get_json()


def test_what_the_case_does_not_model_stays_on_the_clients_resources(client, h,
                                                                     auth_headers):
    d = Discharge()
    plan = d.resources["plan"]
    plan["extension"].append(CLIENT_EXT)
    plan["note"] = [{"authorReference": {"reference": d.urls["physician"],
                                         "display": "Dr Robin Vale"},
                     "time": "2026-11-29T09:00:00Z", "text": "No weight bearing for 6 weeks"}]
    d.resources["condition"]["note"] = [{"authorString": "Dr Robin Vale",
                                         "text": "Displaced fracture, operated"}]
    resp = client.post("/fhir", json=d.bundle(), headers=h)
    assert resp.status_code == 200, resp.get_json()
    ids = ids_by_name(d, resp.get_json())

    def stored(name: str) -> dict:
        return read(client, h, d.resources[name]["resourceType"], ids[name]).get_json()

    def check() -> None:
        now = stored("plan")
        assert now["title"] == "Discharge plan"
        assert now["description"] == "Rehabilitation at home"
        assert CLIENT_EXT in now["extension"]
        [note] = now["note"]
        assert note["authorReference"] == {"reference": f"Practitioner/{ids['physician']}",
                                           "display": "Dr Robin Vale"}
        assert "authorString" not in note and note["text"] == "No weight bearing for 6 weeks"
        assert stored("team")["name"] == "Discharge team"
        assert stored("condition")["note"] == d.resources["condition"]["note"]

    check()
    [case] = client.get(f"/api/cases?identifier={d.resources['patient']['identifier'][0]['system']}"
                        f"|{d.mrn}", headers=auth_headers("system/Case.rs")).get_json()["items"]
    before = stored("plan")["meta"]["versionId"]
    # a case change through the case API projects the case onto them again
    resp = client.patch(f"/api/cases/{case['id']}", json={"program": "home-rehabilitation"},
                        headers={**auth_headers("system/Case.cruds"),
                                 "Content-Type": "application/merge-patch+json",
                                 "If-Match": f'W/"{case["version"]}"'})
    assert resp.status_code == 200, resp.get_json()
    check()
    # the client renames its plan: kept, the case does not own the title
    plan_now = stored("plan")
    resp = client.put(f"/fhir/CarePlan/{ids['plan']}",
                      json={**plan_now, "title": "Home rehabilitation plan"}, headers=h)
    assert resp.status_code == 200, resp.get_json()
    assert stored("plan")["title"] == "Home rehabilitation plan"
    assert int(stored("plan")["meta"]["versionId"]) > int(before)
