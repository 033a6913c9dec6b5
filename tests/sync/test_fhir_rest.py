"""The FHIR REST adapter against a faked transport (responses)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import responses
from responses import matchers

from hub.adapters.errors import (
    PartnerConflict,
    PartnerError,
    PartnerRejected,
    PartnerThrottled,
    PartnerUnavailable,
    outcome_text,
    parse_retry_after,
)
from hub.adapters.fhir_rest import FhirRestClient
from hub.adapters.smart_auth import ApiKeyAuth

BASE = "https://ehr.example.test/fhir"
OUTCOME = {"resourceType": "OperationOutcome", "issue": [
    {"severity": "error", "code": "invalid", "diagnostics": "CarePlan.status is required",
     "expression": ["CarePlan.status"]}]}


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def client():
    c = FhirRestClient("st-marys", BASE, timeout=(1.0, 2.0))
    yield c
    c.close()


def careplan(**extra) -> dict:
    return {"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/p1"}, **extra}


def test_read_sends_fhir_accept_and_a_timeout(http, client):
    seen = {}

    def callback(request):
        seen["accept"] = request.headers["Accept"]
        seen["timeout"] = request.req_kwargs["timeout"]
        return 200, {"ETag": 'W/"7"'}, json.dumps(careplan(id="cp1"))

    http.add_callback("GET", f"{BASE}/CarePlan/cp1", callback=callback)
    resp = client.read("CarePlan", "cp1")
    assert seen == {"accept": "application/fhir+json", "timeout": (1.0, 2.0)}
    assert (resp.resource_id, resp.version_id) == ("cp1", "7")


def test_every_call_has_a_timeout(http, client):
    timeouts = []

    def callback(request):
        timeouts.append(request.req_kwargs["timeout"])
        return 201, {"Location": f"{BASE}/CarePlan/x/_history/1"}, json.dumps(careplan(id="x"))

    for method, url in (("GET", f"{BASE}/metadata"), ("POST", f"{BASE}/CarePlan"),
                        ("PUT", f"{BASE}/CarePlan/x"), ("DELETE", f"{BASE}/CarePlan/x"),
                        ("POST", f"{BASE}/Claim/$submit"), ("GET", f"{BASE}/CarePlan")):
        http.add_callback(method, url, callback=callback)
    client.capabilities()
    client.create(careplan())
    client.update(careplan(id="x"))
    client.delete("CarePlan", "x")
    client.submit("Claim", {"resourceType": "Bundle", "type": "collection"})
    list(client.search("CarePlan"))
    assert timeouts == [(1.0, 2.0)] * 6


def test_search_follows_next_links(http, client):
    page2 = f"{BASE}?_getpages=abc&_offset=2"
    http.get(f"{BASE}/Encounter", match=[matchers.query_param_matcher(
        {"patient": "p1", "class": "IMP"})], json={
        "resourceType": "Bundle", "type": "searchset",
        "link": [{"relation": "self", "url": f"{BASE}/Encounter?patient=p1"},
                 {"relation": "next", "url": page2}],
        "entry": [{"resource": {"resourceType": "Encounter", "id": "e1"},
                   "search": {"mode": "match"}},
                  {"resource": {"resourceType": "Encounter", "id": "e2"}},
                  {"resource": {"resourceType": "Patient", "id": "p1"},
                   "search": {"mode": "include"}}]})
    http.get(page2, json={"resourceType": "Bundle", "type": "searchset",
                          "entry": [{"resource": {"resourceType": "Encounter", "id": "e3"}}]})
    ids = [r["id"] for r in client.search("Encounter", {"patient": "p1", "class": "IMP"})]
    assert ids == ["e1", "e2", "e3"]


def test_paging_link_to_another_host_is_refused(http, client):
    http.get(f"{BASE}/Task", json={"resourceType": "Bundle", "type": "searchset",
                                   "link": [{"relation": "next",
                                             "url": "https://evil.test/fhir?page=2"}]})
    with pytest.raises(PartnerError, match="leaves"):
        list(client.search("Task"))


def test_changes_since_uses_last_updated_gt(http, client):
    since = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    http.get(f"{BASE}/Encounter", match=[matchers.query_param_matcher(
        {"_lastUpdated": "gt2026-11-01T08:00:00+00:00", "_sort": "_lastUpdated",
         "class": "IMP"})], json={"resourceType": "Bundle", "type": "searchset"})
    assert list(client.changes_since("Encounter", since, {"class": "IMP"})) == []


def test_create_sends_if_none_exist_and_reads_location(http, client):
    http.post(f"{BASE}/CarePlan", status=201, json=careplan(id="remote-9"),
              headers={"Location": f"{BASE}/CarePlan/remote-9/_history/1"},
              match=[matchers.header_matcher({"If-None-Exist": "identifier=urn:x|CarePlan/1",
                                              "Content-Type": "application/fhir+json"})])
    resp = client.create(careplan(), if_none_exist="identifier=urn:x|CarePlan/1")
    assert (resp.status, resp.resource_id, resp.version_id) == (201, "remote-9", "1")


def test_update_sends_if_match_as_weak_etag(http, client):
    http.put(f"{BASE}/CarePlan/cp1", json=careplan(id="cp1"), headers={"ETag": 'W/"4"'},
             match=[matchers.header_matcher({"If-Match": 'W/"3"'}),
                    matchers.json_params_matcher(careplan(id="cp1"))])
    assert client.update(careplan(id="cp1"), if_match="3").version_id == "4"


def test_submit_posts_to_the_operation(http, client):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": []}
    http.post(f"{BASE}/Claim/$submit", json={"resourceType": "Bundle", "id": "r1"},
              match=[matchers.json_params_matcher(bundle)])
    assert client.submit("Claim", bundle).resource["id"] == "r1"


@pytest.mark.parametrize(("status", "error", "retryable"), [
    (500, PartnerUnavailable, True), (502, PartnerUnavailable, True),
    (503, PartnerUnavailable, True), (408, PartnerUnavailable, True),
    (400, PartnerRejected, False), (404, PartnerRejected, False),
    (422, PartnerRejected, False), (409, PartnerConflict, True),
    (412, PartnerConflict, False), (429, PartnerThrottled, True),
])
def test_status_codes_map_to_error_classes(http, client, status, error, retryable):
    http.post(f"{BASE}/CarePlan", status=status, json=OUTCOME)
    with pytest.raises(error) as caught:
        client.create(careplan())
    assert type(caught.value) is error
    assert caught.value.retryable is retryable
    assert caught.value.status == status
    assert caught.value.response.status_code == status
    assert caught.value.outcome == OUTCOME
    assert caught.value.partner == "st-marys"


def test_rejection_carries_the_operation_outcome_text(http, client):
    http.post(f"{BASE}/CarePlan", status=422, json=OUTCOME)
    with pytest.raises(PartnerRejected) as caught:
        client.create(careplan())
    assert "CarePlan.status is required @ CarePlan.status" in caught.value.describe()
    assert outcome_text(OUTCOME) == "error/invalid: CarePlan.status is required @ CarePlan.status"


def test_connection_error_and_timeout_are_unavailable(http, client):
    http.get(f"{BASE}/CarePlan/a", body=requests.ConnectionError("refused"))
    http.get(f"{BASE}/CarePlan/b", body=requests.ReadTimeout("slow"))
    with pytest.raises(PartnerUnavailable, match="failed"):
        client.read("CarePlan", "a")
    with pytest.raises(PartnerUnavailable, match="timed out"):
        client.read("CarePlan", "b")


def test_429_retry_after_seconds(http, client):
    http.post(f"{BASE}/CarePlan", status=429, headers={"Retry-After": "120"})
    with pytest.raises(PartnerThrottled) as caught:
        client.create(careplan())
    assert caught.value.retry_after == 120


def test_429_retry_after_http_date(http, client):
    when = datetime.now(UTC) + timedelta(seconds=90)
    http.post(f"{BASE}/CarePlan", status=429,
              headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(PartnerThrottled) as caught:
        client.create(careplan())
    assert 85 <= caught.value.retry_after <= 90


def test_503_retry_after_is_kept():
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 23 Nov 2026 12:00:30 GMT", now) == 30
    assert parse_retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("0", now) == 0


def test_delete_of_a_gone_resource_is_fine(http, client):
    http.delete(f"{BASE}/CarePlan/x", status=410, json=OUTCOME)
    assert client.delete("CarePlan", "x").status == 410


def test_api_key_header_is_sent(http):
    c = FhirRestClient("agency", BASE, auth=ApiKeyAuth("X-Api-Key", "k-123"), timeout=1)
    http.get(f"{BASE}/Task/t1", json={"resourceType": "Task", "id": "t1"},
             match=[matchers.header_matcher({"X-Api-Key": "k-123"})])
    assert c.read("Task", "t1").resource_id == "t1"
    c.close()


def test_non_json_answer_is_a_partner_error(http, client):
    http.get(f"{BASE}/CarePlan/x", body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(PartnerError, match="non-JSON"):
        client.read("CarePlan", "x")
