"""``/api/cases/<id>/eligibility-requests``, ``/prior-authorizations``, ``/coverage-requests``
and ``POST /notifications/pas``."""

from __future__ import annotations

import json

import pytest

from hub import cases as c
from hub.flows import insurer_answers as answers

from .conftest import FUNDING, ORG, decisions, item, load_case, outbox_rows, run_validator
from .insurer_server import Decision, claim_response, notification, response_bundle

D = c.DecisionStatus
FHIR_JSON = "application/fhir+json"


def _pa(api, case, *codes, version=None):
    return api.post(f"/api/cases/{case['id']}/prior-authorizations",
                    {"funding_id": FUNDING, "items": [item(x) for x in codes]},
                    version=case["version"] if version is None else version)


def test_prior_authorization_accepted_with_status_link(api, case, db):
    resp = _pa(api, case, "S9500", "G0299")
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert resp.headers["ETag"] == f'W/"{case["version"] + 1}"'
    assert resp.headers["Location"] == body["status"] == \
        f"/api/cases/{case['id']}/coverage-requests/{body['id']}"
    assert body["state"] == "submitted" and body["resource"].startswith("Claim/")
    status = api.get(resp.headers["Location"])
    assert status.status_code == 200
    got = status.get_json()
    assert got["state"] == "submitted" and got["delivery"]["status"] == "pending"
    assert [i["status"] for i in got["items"]] == ["authorization-submitted"] * 2


def test_eligibility_request_accepted(api, case):
    resp = api.post(f"/api/cases/{case['id']}/eligibility-requests",
                    {"funding_id": FUNDING, "purposes": ["benefits"],
                     "services": [item("G0299")["service"]], "serviced": "2026-03-01"},
                    version=case["version"])
    assert resp.status_code == 202, resp.get_json()
    listed = api.get(f"/api/cases/{case['id']}/coverage-requests").get_json()
    assert listed["total"] == 1
    assert listed["items"][0]["kind"] == "eligibility"
    assert listed["items"][0]["purposes"] == ["benefits"]


def test_if_match_required_and_checked(api, case, db):
    url = f"/api/cases/{case['id']}/prior-authorizations"
    body = {"funding_id": FUNDING, "items": [item("S9500")]}
    assert api.post(url, body).status_code == 428
    assert api.post(url, body, version=case["version"] + 5).status_code == 412
    assert _pa(api, case, "S9500").status_code == 202
    assert _pa(api, case, "G0299").status_code == 412  # the same If-Match again
    assert len(outbox_rows(db, operation="submit")) == 1


def test_validation_names_each_failing_field(api, case):
    resp = api.post(f"/api/cases/{case['id']}/prior-authorizations",
                    {"funding_id": "bad id!", "items": [{"service": {"system": "x"}},
                                                        {"service": item("A")["service"],
                                                         "quantity": 0, "colour": "red"}],
                     "priority": "asap"}, version=case["version"])
    assert resp.status_code == 422
    errors = resp.get_json()["errors"]
    assert set(errors) == {"funding_id", "items.0.service.code", "items.1.quantity",
                           "items.1.colour", "priority"}
    resp = api.post(f"/api/cases/{case['id']}/eligibility-requests",
                    {"funding_id": FUNDING, "purposes": ["benefits", "nope"]},
                    version=case["version"])
    assert resp.status_code == 422 and set(resp.get_json()["errors"]) == {"purposes.1"}
    assert api.post(f"/api/cases/{case['id']}/prior-authorizations",
                    {"funding_id": FUNDING, "items": []},
                    version=case["version"]).get_json()["errors"] == {
        "items": ["Length must be between 1 and 50."]}


def test_no_insurer_partner_is_a_clear_422(api, case, partners, db):
    partners._partners.clear()
    resp = _pa(api, case, "S9500")
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {
        "funding_id": [f"no insurer partner is configured for {ORG}"]}
    assert load_case(db, case["id"]).version == case["version"]
    assert outbox_rows(db, operation="submit") == []


def test_open_request_for_the_same_service_conflicts(api, case):
    assert _pa(api, case, "S9500").status_code == 202
    resp = _pa(api, case, "G0299", "S9500", version=case["version"] + 1)
    assert resp.status_code == 409
    assert list(resp.get_json()["errors"]) == ["items.1.service"]


def test_unknown_case_and_request(api, case):
    assert _pa(api, {"id": "nope", "version": 1}, "S9500").status_code == 404
    assert api.get(f"/api/cases/{case['id']}/coverage-requests/nope").status_code == 404


# --- notifications -------------------------------------------------------------------------


@pytest.fixture
def pended(api, case, db, partners):
    """A prior authorization whose synchronous answer was pended (A4)."""
    resp = _pa(api, case, "S9500")
    request_id = resp.get_json()["id"]
    [row] = outbox_rows(db, operation="submit")
    claim = row["payload"]["entry"][0]["resource"]
    first = response_bundle(claim_response(claim, {"S9500": Decision("A4")}, rid="cr-7",
                                           created="2026-03-01T10:00:00Z"),
                            "https://insurer.example/fhir")
    answers.apply_pas_response(db, first, claim_id=claim["id"], partners=partners.partners)
    final = response_bundle(claim_response(claim, {"S9500": Decision(
        "A1", "AUTH-77", ("2026-03-02", "2026-04-01"))}, rid="cr-7",
        created="2026-03-01T12:00:00Z"), "https://insurer.example/fhir")
    return {"case": case, "claim": claim, "request_id": request_id,
            "notification": notification(final, 1, subscription="Subscription/hub-pas")}


def _notify(client, headers, body, content_type=FHIR_JSON):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post("/notifications/pas", data=data,
                       headers={**headers, "Content-Type": content_type})


def test_notification_applied_once(client, auth_headers, pended, db, api, tmp_path):
    insurer = auth_headers("system/ClaimResponse.c", organization=ORG)
    version = load_case(db, pended["case"]["id"]).version
    first = _notify(client, insurer, pended["notification"])
    assert first.status_code == 200, first.get_json()
    assert first.mimetype == FHIR_JSON
    assert "applied: prior authorization approved" in first.get_json()["issue"][0]["diagnostics"]
    got = decisions(db, pended["case"]["id"])["S9500"]
    assert (got.status, got.authorization_number) == (D.AUTH_APPROVED, "AUTH-77")
    assert load_case(db, pended["case"]["id"]).version == version + 1
    again = _notify(client, insurer, pended["notification"])
    assert again.status_code == 200
    assert again.get_json()["issue"][0]["diagnostics"].startswith("already applied")
    assert load_case(db, pended["case"]["id"]).version == version + 1
    state = api.get(f"/api/cases/{pended['case']['id']}/coverage-requests/"
                    f"{pended['request_id']}").get_json()
    assert state["state"] == "approved" and state["items"][0]["authorization_number"] == "AUTH-77"
    assert not run_validator([first.get_json(), again.get_json()], tmp_path)


def test_handshake_is_acknowledged(client, auth_headers, pended):
    insurer = auth_headers("system/ClaimResponse.c", organization=ORG)
    body = notification({}, 0, subscription="Subscription/hub-pas", kind="handshake")
    resp = _notify(client, insurer, body)
    assert resp.status_code == 200
    assert resp.get_json()["issue"][0]["diagnostics"] == "handshake acknowledged"


def test_notification_auth(client, auth_headers, pended, db):
    body = pended["notification"]
    resp = _notify(client, {}, body)
    assert resp.status_code == 401 and resp.get_json()["resourceType"] == "OperationOutcome"
    assert _notify(client, auth_headers("system/ClaimResponse.r", organization=ORG),
                   body).status_code == 403
    assert _notify(client, auth_headers("system/ClaimResponse.c"), body).status_code == 403
    other = _notify(client, auth_headers("system/ClaimResponse.c",
                                         organization="Organization/other-payer"), body)
    assert other.status_code == 422  # not a request sent to that insurer
    assert other.get_json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.request"]
    assert decisions(db, pended["case"]["id"])["S9500"].status == D.AUTH_PENDED


@pytest.mark.parametrize("mutate,status,path", [
    (lambda b: "not json", 400, None),
    (lambda b: [b], 400, None),
    (lambda b: {**b, "type": "collection", "entry": [  # valid as a collection (bdl-3/bdl-4)
        {k: v for k, v in e.items() if k not in ("request", "response")} for e in b["entry"]]},
     422, "Bundle.type"),
    (lambda b: {**b, "type": "collection"}, 422, "Bundle.entry[0].request"),  # bdl-3
    (lambda b: {**b, "entry": b["entry"][1:]}, 422, "Bundle.entry[0].resource"),
    (lambda b: {**b, "entry": b["entry"][:1]}, 422, "Bundle.entry"),
    (lambda b: _set_param(b, "type", "valueCode", "gossip"), 422,
     "Bundle.entry[0].resource.parameter[type]"),
    (lambda b: _set_param(b, "topic", "valueCanonical", "http://x/topic"), 422,
     "Bundle.entry[0].resource.parameter[topic]"),
    (lambda b: _set_response(b, "request", {"reference": "Claim/unknown"}), 422,
     "Bundle.entry[1].resource.request"),
    (lambda b: _set_response(b, "use", "claim"), 422, "Bundle.entry[1].resource.use"),
    # strict R4 JSON (hub.fhirjson): types, bindings, duplicate keys
    (lambda b: _set_response(b, "outcome", "done"), 422,
     "Bundle.entry[1].resource.entry[0].resource.outcome"),
    (lambda b: _set_response(b, "created", "yesterday"), 400,
     "Bundle.entry[1].resource.entry[0].resource.created"),
    (lambda b: json.dumps(b)[:-1] + ', "type": "history"}', 400, "Bundle.type"),
])
def test_bad_notifications(client, auth_headers, pended, db, mutate, status, path):
    insurer = auth_headers("system/ClaimResponse.c", organization=ORG)
    body = mutate(json.loads(json.dumps(pended["notification"])))
    resp = _notify(client, insurer, body)
    assert resp.status_code == status, resp.get_json()
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    if path:
        assert outcome["issue"][0]["expression"] == [path]
    assert decisions(db, pended["case"]["id"])["S9500"].status == D.AUTH_PENDED


def test_notification_content_type(client, auth_headers, pended):
    insurer = auth_headers("system/ClaimResponse.c", organization=ORG)
    assert _notify(client, insurer, pended["notification"], "text/plain").status_code == 415


def _set_param(bundle, name, key, value):
    for p in bundle["entry"][0]["resource"]["parameter"]:
        if p["name"] == name:
            p[key] = value
    return bundle


def _set_response(bundle, key, value):
    bundle["entry"][1]["resource"]["entry"][0]["resource"][key] = value
    return bundle


def test_coverage_requests_refuse_codes_that_cannot_be_fhir(api, case, db):
    bad = {**item("A"), "service": {"system": "HCPCS", "code": "S9500"},
           "category": {"system": "https://codesystem.x12.org/005010/1365", "code": " 42"}}
    resp = api.post(f"/api/cases/{case['id']}/prior-authorizations",
                    {"funding_id": FUNDING, "items": [bad]}, version=case["version"])
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"items.0.service.system", "items.0.category.code"}
    resp = api.post(f"/api/cases/{case['id']}/eligibility-requests",
                    {"funding_id": FUNDING, "purposes": ["benefits"],
                     "services": [{"system": "not a uri", "code": "S9500"}]},
                    version=case["version"])
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"services.0.system"}
    assert outbox_rows(db, operation="submit") == []
