"""The whole record in one call (issue 11 item 5): EpisodeOfCare/$everything (the case),
Patient/$everything (R4), system-level _history and ``GET /fhir?_type=`` for incremental
sync; within the caller's scopes and compartment, hidden looking like absent."""

from __future__ import annotations

import time

from case_data import river

from hub.clock import utcnow
from hub.fhirstore.dates import instant
from hub.mappings.identity import resource_id

FHIR = "application/fhir+json"


def open_river(client, h, **extra) -> str:
    resp = client.post("/api/cases", json={**river(), **extra}, headers=h)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def types_of(bundle) -> list[str]:
    return [e["resource"]["resourceType"] for e in bundle.get("entry", [])]


def all_pages(client, h, url) -> list[dict]:
    seen, pages = [], 0
    while url:
        bundle = client.get(url.replace("http://hub.test", ""), headers=h).get_json()
        assert bundle["resourceType"] == "Bundle", bundle
        seen += bundle.get("entry", [])
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"),
                   None)
        pages += 1
        assert pages < 50
    return seen


def test_episode_everything_is_the_case(client, auth_headers):
    h = auth_headers("system/*.cruds")
    case_id = open_river(client, h)
    eid = resource_id(case_id, "case")
    resp = client.get(f"/fhir/EpisodeOfCare/{eid}/$everything?_count=100", headers=h)
    assert resp.status_code == 200
    bundle = resp.get_json()
    assert bundle["type"] == "searchset"
    types = types_of(bundle)
    assert types[0] == "EpisodeOfCare"
    assert {"Patient", "CarePlan", "Goal", "CareTeam", "Condition", "Coverage"} <= set(types)
    assert bundle["total"] == len(types)
    # _type narrows, _count pages, and the pages add up to the whole
    only = client.get(f"/fhir/EpisodeOfCare/{eid}/$everything?_type=Goal,CarePlan",
                      headers=h).get_json()
    assert set(types_of(only)) == {"Goal", "CarePlan"}
    paged = all_pages(client, h, f"/fhir/EpisodeOfCare/{eid}/$everything?_count=3")
    assert sorted(e["fullUrl"] for e in paged) == sorted(e["fullUrl"] for e in bundle["entry"])
    # another case's record is not in it
    other = open_river(client, h, program="hiv")
    again = client.get(f"/fhir/EpisodeOfCare/{eid}/$everything?_count=100",
                       headers=h).get_json()
    episodes = [e["resource"]["id"] for e in again["entry"]
                if e["resource"]["resourceType"] == "EpisodeOfCare"]
    assert episodes == [eid] and resource_id(other, "case") not in episodes


def test_everything_within_scopes_and_compartment(client, auth_headers):
    h = auth_headers("system/*.cruds")
    eid = resource_id(open_river(client, h), "case")
    narrow = auth_headers("system/EpisodeOfCare.rs system/Patient.rs")
    bundle = client.get(f"/fhir/EpisodeOfCare/{eid}/$everything", headers=narrow).get_json()
    assert set(types_of(bundle)) == {"EpisodeOfCare", "Patient"}
    no_search = auth_headers("system/EpisodeOfCare.r")
    assert client.get(f"/fhir/EpisodeOfCare/{eid}/$everything",
                      headers=no_search).status_code == 403
    # a client bound to an Organization the case does not involve: like a missing episode
    bound = auth_headers("system/*.rs", organization="Organization/stranger")
    hidden = client.get(f"/fhir/EpisodeOfCare/{eid}/$everything", headers=bound)
    missing = client.get("/fhir/EpisodeOfCare/no-such-episode/$everything", headers=bound)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json()["issue"][0]["code"] == missing.get_json()["issue"][0]["code"]
    assert client.get("/fhir/Observation/x/$everything", headers=h).status_code == 404


def test_patient_everything(client, auth_headers):
    h = auth_headers("system/*.cruds")
    case_id = open_river(client, h)
    pid = resource_id(case_id, "patient")
    bundle = client.get(f"/fhir/Patient/{pid}/$everything?_count=200", headers=h).get_json()
    types = types_of(bundle)
    assert types[0] == "Patient"
    assert {"EpisodeOfCare", "CarePlan", "Goal", "Condition", "Coverage"} <= set(types)
    # a second patient's resources are not in the first one's record
    other = client.post("/fhir/Patient", json={"resourceType": "Patient",
                                               "name": [{"family": "Else"}]},
                        headers={**h, "Content-Type": FHIR}).get_json()["id"]
    assert f"Patient/{other}" not in {f"{t}/{e['resource']['id']}" for t, e in
                                      zip(types, bundle["entry"])}
    alone = client.get(f"/fhir/Patient/{other}/$everything", headers=h).get_json()
    assert types_of(alone)[0] == "Patient"
    # beside the Patient only the Provenance of its creation (Provenance.target: in the
    # patient compartment), none of the River case's resources
    for entry in alone["entry"][1:]:
        assert entry["resource"]["resourceType"] == "Provenance"
        assert f"Patient/{other}" in str(entry["resource"]["target"])
    future = instant(utcnow()).replace(instant(utcnow())[:4], "2999")
    empty = client.get(f"/fhir/Patient/{pid}/$everything?_since={future}", headers=h)
    assert empty.status_code == 200 and empty.get_json()["total"] == 0
    bad = client.get(f"/fhir/Patient/{pid}/$everything?start=2020", headers=h)
    assert bad.status_code == 400
    assert bad.get_json()["issue"][0]["expression"] == ["start"]
    missing = client.get("/fhir/Patient/nobody/$everything", headers=h)
    assert missing.status_code == 404


def test_system_history_and_type_search_for_incremental_sync(client, auth_headers):
    # (the types of this test only: every write leaves a server-written Provenance too)
    h = auth_headers("system/Patient.cruds system/Organization.cruds")
    org = client.post("/fhir/Organization", json={"resourceType": "Organization",
                                                  "name": "First"},
                      headers={**h, "Content-Type": FHIR}).get_json()["id"]
    time.sleep(0.01)
    mark = instant(utcnow())
    time.sleep(0.01)
    pat = client.post("/fhir/Patient", json={"resourceType": "Patient",
                                             "name": [{"family": "Later"}]},
                      headers={**h, "Content-Type": FHIR}).get_json()["id"]
    assert client.delete(f"/fhir/Organization/{org}", headers=h).status_code == 204
    history = client.get("/fhir/_history", headers=h).get_json()
    assert history["type"] == "history" and history["total"] == 3
    methods = [(e["request"]["method"], e["request"]["url"]) for e in history["entry"]]
    assert methods == [("DELETE", f"Organization/{org}"), ("POST", "Patient"),
                       ("POST", "Organization")]
    paged = all_pages(client, h, "/fhir/_history?_count=1")
    assert len(paged) == 3
    since = client.get(f"/fhir/_history?_since={mark}", headers=h).get_json()
    assert since["total"] == 2
    # system search: only current, live resources, oldest change first
    found = client.get("/fhir?_type=Patient,Organization", headers=h).get_json()
    assert [(e["resource"]["resourceType"], e["resource"]["id"]) for e in found["entry"]] == [
        ("Patient", pat)]
    later = client.get(f"/fhir?_lastUpdated=gt{mark}", headers=h).get_json()
    assert later["total"] == 1
    before = client.get(f"/fhir?_type=Patient&_lastUpdated=lt{mark}", headers=h).get_json()
    assert before["total"] == 0
    by_id = client.get(f"/fhir?_id={pat}", headers=h).get_json()
    assert by_id["total"] == 1
    bad = client.get("/fhir?_type=Patient&name=Later", headers=h)
    assert bad.status_code == 400 and bad.get_json()["issue"][0]["expression"] == ["name"]
    assert client.get("/fhir?_type=Nope", headers=h).status_code == 400
    # scopes: a named type needs s; unnamed types the caller may not read are left out
    patients_only = auth_headers("system/Patient.rs")
    assert client.get("/fhir?_type=Organization", headers=patients_only).status_code == 403
    assert types_of(client.get("/fhir", headers=patients_only).get_json()) == ["Patient"]
    hist = client.get("/fhir/_history", headers=patients_only).get_json()
    assert {e["request"]["url"].split("/")[0] for e in hist["entry"]} == {"Patient"}
    # a bound client sees only its compartment: the Patient is not in it
    bound = auth_headers("system/*.rs", organization="Organization/stranger")
    assert client.get("/fhir?_type=Patient", headers=bound).get_json()["total"] == 0
    assert client.get("/fhir/_history", headers=bound).get_json()["total"] == 0


def test_capability_statement_declares_them(client):
    cs = client.get("/fhir/metadata").get_json()
    rest = cs["rest"][0]
    assert {"history-system", "search-system"} <= {i["code"] for i in rest["interaction"]}
    ops = {r["type"]: r.get("operation") for r in rest["resource"]}
    assert ops["EpisodeOfCare"][0]["name"] == "everything"
    assert ops["EpisodeOfCare"][0]["definition"].endswith(
        "/OperationDefinition/EpisodeOfCare-everything")
    assert ops["Patient"][0]["definition"] == (
        "http://hl7.org/fhir/OperationDefinition/Patient-everything")
