"""Later FHIR writes of a case's resources change the case under its rules, or are
refused; a DELETE is a case move or a 409 (issue 11 item 1). The case and its FHIR view
never disagree."""

from __future__ import annotations

import pytest
from case_data import river

from .discharge import MRN_SYSTEM, Discharge, ids_by_name

FHIR = "application/fhir+json"


@pytest.fixture
def h(auth_headers):
    return {**auth_headers("system/*.cruds"), "Content-Type": FHIR}


@pytest.fixture
def opened(client, h, auth_headers):
    """(discharge, ids by name, case id) of a case opened by the discharge transaction."""
    d = Discharge()
    resp = client.post("/fhir", json=d.bundle(), headers=h)
    assert resp.status_code == 200, resp.get_json()
    ids = ids_by_name(d, resp.get_json())
    found = client.get(f"/api/cases?identifier={MRN_SYSTEM}|{d.mrn}",
                       headers=auth_headers("system/Case.rs")).get_json()["items"]
    return d, ids, found[0]["id"]


def case_of(client, auth_headers, case_id: str) -> dict:
    resp = client.get(f"/api/cases/{case_id}", headers=auth_headers("system/Case.r"))
    assert resp.status_code == 200
    return resp.get_json()


def read(client, h, rtype: str, rid: str) -> dict:
    resp = client.get(f"/fhir/{rtype}/{rid}", headers=h)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def put(client, h, resource: dict):
    return client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource,
                      headers=h)


def test_a_revoked_plan_with_a_new_title_is_refused_and_nothing_changes(
        client, h, auth_headers, opened):
    _, ids, case_id = opened
    before = case_of(client, auth_headers, case_id)
    plan = read(client, h, "CarePlan", ids["plan"])
    hacked = {**plan, "status": "revoked", "title": "HACKED by non-partner"}
    resp = put(client, h, hacked)
    assert resp.status_code == 409, resp.get_json()
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "cancel or close the case" in outcome["issue"][0]["diagnostics"]
    assert read(client, h, "CarePlan", ids["plan"]) == plan
    assert case_of(client, auth_headers, case_id)["version"] == before["version"]


def test_an_active_plan_before_approval_is_refused(client, h, opened):
    _, ids, _ = opened
    plan = read(client, h, "CarePlan", ids["plan"])
    resp = put(client, h, {**plan, "status": "active"})
    assert resp.status_code == 422, resp.get_json()
    assert "approved" in resp.get_json()["issue"][0]["diagnostics"]


def test_a_goal_written_through_fhir_changes_the_case(client, h, auth_headers, opened):
    _, ids, case_id = opened
    before = case_of(client, auth_headers, case_id)
    goal = read(client, h, "Goal", ids["goal-walk"])
    goal["description"] = {"text": "Walk 1 km independently"}
    goal["note"] = [{"text": "kept: the case does not model goal notes"}]
    resp = put(client, h, goal)
    assert resp.status_code == 200, resp.get_json()
    after = case_of(client, auth_headers, case_id)
    assert after["version"] == before["version"] + 1
    assert [g["description"] for g in after["plan"]["goals"]] == [
        "Walk 1 km independently", "Live at home without help"]
    stored = read(client, h, "Goal", ids["goal-walk"])
    assert stored["description"] == {"text": "Walk 1 km independently"}
    assert stored["note"] == goal["note"]


def test_the_episode_written_through_fhir_changes_the_case_manager_and_status(
        client, h, auth_headers, opened):
    _, ids, case_id = opened
    episode = read(client, h, "EpisodeOfCare", ids["episode"])
    episode["careManager"] = {"display": "Jo Linden"}
    resp = put(client, h, episode)
    assert resp.status_code == 200, resp.get_json()
    case = case_of(client, auth_headers, case_id)
    assert case["case_manager"]["name"] == "Jo Linden"
    # planned -> active skips the case's steps: refused as PUT /api/cases would
    resp = put(client, h, {**read(client, h, "EpisodeOfCare", ids["episode"]),
                           "status": "active"})
    assert resp.status_code == 409, resp.get_json()
    assert case_of(client, auth_headers, case_id)["status"] == "intake"


def test_deleting_the_episode_cancels_the_case(client, h, auth_headers, opened):
    _, ids, case_id = opened
    resp = client.delete(f"/fhir/EpisodeOfCare/{ids['episode']}", headers=h)
    assert resp.status_code == 204
    case = case_of(client, auth_headers, case_id)
    assert case["status"] == "cancelled"
    episode = read(client, h, "EpisodeOfCare", ids["episode"])  # the record stays
    assert episode["status"] == "cancelled"
    # a cancelled case is not changed any more
    goal = read(client, h, "Goal", ids["goal-home"])
    resp = put(client, h, {**goal, "description": {"text": "changed"}})
    assert resp.status_code == 409, resp.get_json()


def test_deleting_another_resource_of_the_case_is_refused(client, h, opened):
    _, ids, _ = opened
    resp = client.delete(f"/fhir/Goal/{ids['goal-walk']}", headers=h)
    assert resp.status_code == 409, resp.get_json()
    diagnostics = resp.get_json()["issue"][0]["diagnostics"]
    assert "deleting its EpisodeOfCare" in diagnostics
    assert read(client, h, "Goal", ids["goal-walk"])["lifecycleStatus"] == "proposed"


def test_a_client_without_case_rights_may_not_change_a_case_resource(
        client, auth_headers, h, opened):
    _, ids, _ = opened
    plan = read(client, h, "CarePlan", ids["plan"])
    narrow = {**auth_headers("system/CarePlan.cruds"), "Content-Type": FHIR}
    resp = put(client, narrow, {**plan, "title": "mine"})
    assert resp.status_code == 403, resp.get_json()


def test_one_rule_breaking_entry_refuses_the_whole_transaction(client, h, auth_headers,
                                                               opened):
    _, ids, case_id = opened
    version = case_of(client, auth_headers, case_id)["version"]
    goal = read(client, h, "Goal", ids["goal-walk"])
    plan = read(client, h, "CarePlan", ids["plan"])
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {**goal, "description": {"text": "changed"}},
         "request": {"method": "PUT", "url": f"Goal/{goal['id']}"}},
        {"resource": {**plan, "status": "revoked"},
         "request": {"method": "PUT", "url": f"CarePlan/{plan['id']}"}}]}
    resp = client.post("/fhir", json=bundle, headers=h)
    assert resp.status_code == 409, resp.get_json()
    assert read(client, h, "Goal", ids["goal-walk"]) == goal
    assert case_of(client, auth_headers, case_id)["version"] == version


def test_the_hub_projected_plan_of_an_api_case_is_guarded_too(client, h, auth_headers):
    body = river()
    resp = client.post("/api/cases", json=body, headers=auth_headers("system/Case.cruds"))
    assert resp.status_code == 201, resp.get_json()
    case_id = resp.get_json()["id"]
    plans = client.get(f"/fhir/CarePlan?identifier=https://fhir-case-hub.org/fhir/"
                       f"NamingSystem/careplan|{case_id}", headers=h).get_json()
    [plan] = [e["resource"] for e in plans["entry"]]
    resp = put(client, h, {**plan, "status": "revoked", "title": "HACKED by non-partner"})
    assert resp.status_code == 409, resp.get_json()
    assert read(client, h, "CarePlan", plan["id"])["title"] == plan["title"]
    episode = plan["extension"][0]["valueReference"]["reference"]
    assert client.delete(f"/fhir/{episode}", headers=h).status_code == 204
    assert case_of(client, auth_headers, case_id)["status"] == "cancelled"


def test_new_resources_join_the_case_in_a_later_transaction(client, h, auth_headers, opened):
    d, ids, case_id = opened
    plan = read(client, h, "CarePlan", ids["plan"])
    new_goal = "urn:uuid:6a1f2f7e-0d8e-4a55-a1c2-3d0b7f1e9c01"
    new_request = "urn:uuid:6a1f2f7e-0d8e-4a55-a1c2-3d0b7f1e9c02"
    patient = {"reference": f"Patient/{ids['patient']}"}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": new_goal, "request": {"method": "POST", "url": "Goal"}, "resource": {
            "resourceType": "Goal", "lifecycleStatus": "proposed",
            "description": {"text": "Climb stairs"}, "subject": patient}},
        {"request": {"method": "PUT", "url": f"CarePlan/{plan['id']}"},
         "resource": {**plan, "goal": [*plan["goal"], {"reference": new_goal}]}},
        {"fullUrl": new_request, "request": {"method": "POST", "url": "ServiceRequest"},
         "resource": {**d.resources["referral"], "subject": patient, "extension": [{
             "url": "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare",
             "valueReference": {"reference": f"EpisodeOfCare/{ids['episode']}"}}],
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84478008",
                                  "display": "Occupational therapy"}]},
             "insurance": [{"reference": f"Coverage/{ids['coverage']}"}]}}]}
    resp = client.post("/fhir", json=bundle, headers=h)
    assert resp.status_code == 200, resp.get_json()
    goal_id = resp.get_json()["entry"][0]["response"]["location"].split("/")[1]
    request_id = resp.get_json()["entry"][2]["response"]["location"].split("/")[1]
    case = case_of(client, auth_headers, case_id)
    assert [g["description"] for g in case["plan"]["goals"]][-1] == "Climb stairs"
    assert sorted(r["service"]["code"] for r in case["referrals"]) == ["84478008", "91251008"]
    stored = read(client, h, "CarePlan", ids["plan"])
    assert f"Goal/{goal_id}" in [g["reference"] for g in stored["goal"]]
    assert read(client, h, "ServiceRequest", request_id)["status"] == "draft"
    patient_ref = f"Patient/{ids['patient']}"
    total = client.get(f"/fhir/ServiceRequest?subject={patient_ref}&_summary=count",
                       headers=h).get_json()["total"]
    assert total == 2  # the client's two, no copy beside them


STATUS_REASON = "https://fhir-case-hub.org/fhir/StructureDefinition/status-reason"


def _cancel_reasons(case: dict) -> list[str | None]:
    return [h["reason"] for h in case["status_history"] if h["status"] == "cancelled"]


def test_a_delete_records_that_no_reason_was_given(client, h, auth_headers, opened):
    _, ids, case_id = opened
    assert client.delete(f"/fhir/EpisodeOfCare/{ids['episode']}", headers=h).status_code == 204
    [reason] = _cancel_reasons(case_of(client, auth_headers, case_id))
    assert reason.startswith("reason not given: EpisodeOfCare deleted through the FHIR API")


def test_a_cancel_takes_the_clients_reason_or_records_none_was_given(
        client, h, auth_headers, opened):
    _, ids, case_id = opened
    episode = read(client, h, "EpisodeOfCare", ids["episode"])
    given = {**episode, "status": "cancelled", "extension": [
        *episode["extension"], {"url": STATUS_REASON,
                                "valueString": "patient moved to another region"}]}
    resp = put(client, h, given)
    assert resp.status_code == 200, resp.get_json()
    case = case_of(client, auth_headers, case_id)
    assert case["status"] == "cancelled"
    assert _cancel_reasons(case) == ["patient moved to another region"]
    stored = read(client, h, "EpisodeOfCare", ids["episode"])
    reasons = [e["valueString"] for s in stored["statusHistory"] for e in s["extension"]
               if e["url"] == STATUS_REASON]
    assert reasons == ["patient moved to another region"]


def test_a_cancel_without_a_reason_does_not_reuse_an_earlier_moves_reason(
        client, h, auth_headers, opened):
    _, ids, case_id = opened
    version = case_of(client, auth_headers, case_id)["version"]
    resp = client.post(f"/api/cases/{case_id}/transitions",
                       json={"to": "assessment", "reason": "assessment visit booked"},
                       headers={**auth_headers("system/Case.cruds"),
                                "If-Match": f'W/"{version}"'})
    assert resp.status_code == 200, resp.get_json()
    episode = read(client, h, "EpisodeOfCare", ids["episode"])
    assert any(e.get("valueString") == "assessment visit booked"
               for s in episode["statusHistory"] for e in s["extension"])
    # echoed back with the new status only: the earlier move's reason is not this one's
    resp = put(client, h, {**episode, "status": "cancelled"})
    assert resp.status_code == 200, resp.get_json()
    [reason] = _cancel_reasons(case_of(client, auth_headers, case_id))
    assert reason.startswith("reason not given: EpisodeOfCare set to cancelled")
