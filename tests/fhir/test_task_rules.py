"""The referral Task state machine on PUT: owner vs requester moves, reasons, 409/422."""

import pytest
from fhirapi_helpers import task

AGENCY = "Organization/agency-1"


@pytest.fixture
def agency(fhir_as):
    return fhir_as("system/*.cruds", organization=AGENCY)


def _put(client, t: dict, **changes):
    body = {**t, **changes}
    return client.put(f"/fhir/Task/{t['id']}", body,
                      headers={"If-Match": f'W/"{t["meta"]["versionId"]}"'})


def test_owner_walks_the_referral_to_completion(fhir, agency):
    t = fhir.create(task("Patient/p1", owner=AGENCY))
    for status in ("received", "accepted", "in-progress", "completed"):
        resp = _put(agency, t, status=status)
        assert resp.status_code == 200, resp.get_json()
        t = resp.get_json()
    assert t["meta"]["versionId"] == "5"


def test_owner_cannot_skip_to_completed(fhir, agency):
    t = fhir.create(task("Patient/p1", owner=AGENCY))
    resp = _put(agency, t, status="completed")
    assert resp.status_code == 409
    issue = resp.get_json()["issue"][0]
    assert issue["code"] == "business-rule" and issue["expression"] == ["Task.status"]
    assert fhir.get(f"/fhir/Task/{t['id']}").get_json()["meta"]["versionId"] == "1"


def test_requester_cannot_accept_but_may_cancel_with_reason(fhir):
    t = fhir.create(task("Patient/p1", owner=AGENCY))
    assert _put(fhir, t, status="accepted").status_code == 409
    no_reason = _put(fhir, t, status="cancelled")
    assert no_reason.status_code == 422
    assert no_reason.get_json()["issue"][0]["expression"] == ["Task.statusReason.text"]
    ok = _put(fhir, t, status="cancelled", statusReason={"text": "patient moved"})
    assert ok.status_code == 200


def test_reject_needs_a_reason(fhir, agency):
    t = fhir.create(task("Patient/p1", owner=AGENCY))
    assert _put(agency, t, status="rejected").status_code == 422
    assert _put(agency, t, status="rejected",
                statusReason={"text": "no capacity"}).status_code == 200


def test_other_organization_may_not_change_the_task(fhir, fhir_as):
    t = fhir.create(task("Patient/p1", owner=AGENCY))
    other = fhir_as("system/*.cruds", organization="Organization/agency-2")
    # outside its compartment: 404, the same answer as for a Task that does not exist
    assert _put(other, t, status="accepted").status_code == 404
    assert fhir.get(f"/fhir/Task/{t['id']}").get_json()["status"] == "requested"


def test_agency_claims_an_open_referral(fhir, agency):
    t = fhir.create(task("Patient/p1"))
    resp = _put(agency, t, status="accepted", owner={"reference": AGENCY})
    assert resp.status_code == 200 and resp.get_json()["owner"]["reference"] == AGENCY


def test_entered_in_error_from_any_state_and_unchanged_status(fhir, agency):
    t = fhir.create(task("Patient/p1", owner=AGENCY))
    same = _put(agency, t, businessStatus={"text": "visit scheduled"})
    assert same.status_code == 200
    t = same.get_json()
    assert _put(fhir, t, status="entered-in-error").status_code == 200


def test_transition_rule_applies_inside_transactions(fhir, agency):
    t = fhir.create(task("Patient/p1", owner=AGENCY))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": {**t, "status": "completed"},
        "request": {"method": "PUT", "url": f"Task/{t['id']}", "ifMatch": 'W/"1"'}}]}
    resp = agency.post("/fhir", bundle)
    assert resp.status_code == 409
