"""An EpisodeOfCare posted through /fhir opens a case (issue 11 item 1): the hospital
discharge transaction of the issue, a single POST, a rule-breaking entry, the client's
resources being the case's (no second CarePlan)."""

from __future__ import annotations

import pytest

from .discharge import MRN_SYSTEM, Discharge, ids_by_name

FHIR = "application/fhir+json"


@pytest.fixture
def h(auth_headers):
    return {**auth_headers("system/*.cruds"), "Content-Type": FHIR}


def post(client, h, bundle):
    return client.post("/fhir", json=bundle, headers=h)


def cases_for(client, auth_headers, mrn: str) -> list[dict]:
    resp = client.get(f"/api/cases?identifier={MRN_SYSTEM}|{mrn}",
                      headers=auth_headers("system/Case.rs"))
    assert resp.status_code == 200, resp.get_json()
    return [client.get(f"/api/cases/{c['id']}", headers=auth_headers("system/Case.rs"))
            .get_json() for c in resp.get_json()["items"]]


def count(client, h, rtype: str, **params) -> int:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    resp = client.get(f"/fhir/{rtype}?{query}&_summary=count", headers=h)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["total"]


def test_the_discharge_transaction_opens_a_case_on_the_clients_resources(client, h,
                                                                         auth_headers):
    d = Discharge()
    resp = post(client, h, d.bundle())
    assert resp.status_code == 200, resp.get_json()
    ids = ids_by_name(d, resp.get_json())
    [case] = cases_for(client, auth_headers, d.mrn)
    assert case["status"] == "intake"
    assert case["program"] == "trauma-rehabilitation"
    assert [g["description"] for g in case["plan"]["goals"]] == [
        "Walk 500 m independently", "Live at home without help"]
    assert [c["code"]["code"] for c in case["assessment"]["conditions"]] == ["71620000"]
    assert [r["status"] for r in case["referrals"]] == ["draft"]
    assert [e["kind"] for e in case["encounters"]] == ["inpatient"]
    assert len(case["funding"]) == 1

    # no second CarePlan, CareTeam, EpisodeOfCare, Goal, Condition, ...: the client's are the case's
    patient = f"Patient/{ids['patient']}"
    for rtype, n in (("CarePlan", 1), ("CareTeam", 1), ("Goal", 2), ("Condition", 1),
                     ("Encounter", 1), ("ServiceRequest", 1), ("Task", 1), ("Coverage", 1)):
        param = "for" if rtype == "Task" else "beneficiary" if rtype == "Coverage" else "subject"
        assert count(client, h, rtype, **{param: patient}) == n, rtype
    assert count(client, h, "EpisodeOfCare", patient=patient) == 1
    assert count(client, h, "Patient", identifier=f"{MRN_SYSTEM}|{d.mrn}") == 1

    plan = client.get(f"/fhir/CarePlan/{ids['plan']}", headers=h).get_json()
    assert plan["status"] == "draft"
    assert plan["description"] == "Rehabilitation at home"  # not modelled: kept
    assert {g["reference"] for g in plan["goal"]} == {
        f"Goal/{ids['goal-walk']}", f"Goal/{ids['goal-home']}"}
    assert plan["careTeam"] == [{"reference": f"CareTeam/{ids['team']}"}]
    episode = client.get(f"/fhir/EpisodeOfCare/{ids['episode']}", headers=h).get_json()
    assert {"system": "https://fhir-case-hub.org/fhir/NamingSystem/case",
            "value": case["id"], "use": "secondary"} in episode["identifier"]
    assert episode["managingOrganization"] == {"reference": f"Organization/{ids['hospital']}"}
    assert episode["team"] == [{"reference": f"CareTeam/{ids['team']}"}]


def test_a_rest_post_of_an_episode_opens_a_case(client, h, auth_headers):
    d = Discharge()
    resp = post(client, h, d.bundle("patient", "manager"))
    ids = ids_by_name(d, resp.get_json(), "patient", "manager")
    episode = dict(d.resources["episode"])
    episode.update(patient={"reference": f"Patient/{ids['patient']}"},
                   careManager={"reference": f"Practitioner/{ids['manager']}",
                                "display": "Alex Morgan"})
    for key in ("diagnosis", "team", "managingOrganization"):
        episode.pop(key)
    resp = client.post("/fhir/EpisodeOfCare", json=episode, headers=h)
    assert resp.status_code == 201, resp.get_json()
    [case] = cases_for(client, auth_headers, d.mrn)
    body = resp.get_json()
    assert body["meta"]["versionId"] == "2"  # answered as the case made it
    assert any(i["value"] == case["id"] for i in body["identifier"])


def test_one_open_case_per_patient_and_program_refuses_the_whole_transaction(
        client, h, auth_headers):
    first = Discharge()
    assert post(client, h, first.bundle()).status_code == 200
    [case] = cases_for(client, auth_headers, first.mrn)
    again = Discharge()
    again.resources["patient"] = dict(again.resources["patient"])
    # the same patient, found by MRN (conditional create: the stored Patient)
    bundle = again.bundle()
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["request"]["ifNoneExist"] = f"identifier={MRN_SYSTEM}|{first.mrn}"
            entry["resource"]["identifier"][0]["value"] = first.mrn
    resp = post(client, h, bundle)
    assert resp.status_code == 409, resp.get_json()
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert case["id"] in outcome["issue"][0]["diagnostics"]
    assert len(cases_for(client, auth_headers, first.mrn)) == 1
    assert count(client, h, "Organization", name="Lakeside") == 1  # nothing else stored


def test_an_active_plan_without_approval_refuses_the_whole_transaction(client, h,
                                                                       auth_headers):
    d = Discharge(plan_status="active")
    resp = post(client, h, d.bundle())
    assert resp.status_code == 422, resp.get_json()
    issue = resp.get_json()["issue"][0]
    assert "approved" in issue["diagnostics"]
    assert cases_for(client, auth_headers, d.mrn) == []
    assert count(client, h, "Patient", identifier=f"{MRN_SYSTEM}|{d.mrn}") == 0
    assert count(client, h, "Organization", name="Lakeside") == 0


def test_a_client_without_case_rights_opens_no_case(client, auth_headers):
    d = Discharge()
    for key in ("diagnosis", "team"):
        d.resources["episode"].pop(key)
    h = {**auth_headers("system/Patient.cruds system/Practitioner.cruds "
                        "system/Organization.cruds system/EpisodeOfCare.cruds"),
         "Content-Type": FHIR}
    resp = post(client, h, d.bundle("hospital", "patient", "manager", "episode"))
    assert resp.status_code == 200, resp.get_json()
    assert cases_for(client, auth_headers, d.mrn) == []
    ids = ids_by_name(d, resp.get_json(), "hospital", "patient", "manager", "episode")
    episode = client.get(f"/fhir/EpisodeOfCare/{ids['episode']}", headers=h).get_json()
    assert episode["meta"]["versionId"] == "1"  # a plain FHIR resource


def test_an_episode_that_is_not_case_management_stays_a_plain_resource(client, h,
                                                                      auth_headers):
    d = Discharge()
    episode = d.resources["episode"]
    episode.pop("extension")
    episode["type"] = [{"text": "home care"}]
    for key in ("diagnosis", "team"):
        episode.pop(key)
    resp = post(client, h, d.bundle("hospital", "patient", "manager", "episode"))
    assert resp.status_code == 200, resp.get_json()
    assert cases_for(client, auth_headers, d.mrn) == []


def test_a_put_create_of_the_episode_opens_a_case(client, h, auth_headers):
    d = Discharge()
    resp = post(client, h, d.bundle("patient", "manager"))
    ids = ids_by_name(d, resp.get_json(), "patient", "manager")
    episode = {**d.resources["episode"], "id": "discharge-episode-1",
               "patient": {"reference": f"Patient/{ids['patient']}"},
               "careManager": {"reference": f"Practitioner/{ids['manager']}",
                               "display": "Alex Morgan"}}
    for key in ("diagnosis", "team", "managingOrganization"):
        episode.pop(key)
    resp = client.put("/fhir/EpisodeOfCare/discharge-episode-1", json=episode, headers=h)
    assert resp.status_code == 201, resp.get_json()
    [case] = cases_for(client, auth_headers, d.mrn)
    assert case["case_manager"]["name"] == "Alex Morgan"
    # the same again is an update of the case's episode, not a second case
    resp = client.put("/fhir/EpisodeOfCare/discharge-episode-1", json=episode, headers=h)
    assert resp.status_code == 200, resp.get_json()
    assert len(cases_for(client, auth_headers, d.mrn)) == 1


def test_everything_of_the_clients_episode_is_the_case(client, h):
    d = Discharge()
    resp = post(client, h, d.bundle())
    ids = ids_by_name(d, resp.get_json())
    bundle = client.get(f"/fhir/EpisodeOfCare/{ids['episode']}/$everything?_count=100",
                        headers=h).get_json()
    found = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for name in ("patient", "plan", "goal-walk", "goal-home", "team", "condition",
                 "coverage", "admission", "referral", "task"):
        rtype = d.resources[name]["resourceType"]
        assert f"{rtype}/{ids[name]}" in found, name
