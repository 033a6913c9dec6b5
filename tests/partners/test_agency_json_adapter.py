"""AgencyJsonClient against mocked HTTP (responses): headers, idempotency, paging, errors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import pytest
import requests
import responses
from responses import matchers

from hub.adapters.agency_json import AgencyConflict, AgencyJsonClient
from hub.adapters.errors import (
    PartnerConfigError,
    PartnerConflict,
    PartnerError,
    PartnerRejected,
    PartnerThrottled,
    PartnerUnavailable,
)
from hub.adapters.smart_auth import ApiKeyAuth

from .schemas import EXAMPLES

BASE = "https://api.sunrise-hh.example/hub/v1"
RID = "5d2c7a4e-8f0b-4b1e-9a6c-2f1e0d9c8b7a"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


@pytest.fixture
def client():
    adapter = AgencyJsonClient("sunrise", BASE, auth=ApiKeyAuth("X-Api-Key", "k-123"),
                               timeout=(1.0, 2.0), page_limit=2)
    yield adapter
    adapter.close()


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def problem(status: int, code: str) -> dict:
    return {"title": "x", "status": status, "code": code,
            "detail": "Rowan Example, born 1948-07-19"}  # an agency echoing patient data


# --- configuration -----------------------------------------------------------

def partner(**auth):
    return SimpleNamespace(id="sunrise", base_url=BASE,
                           auth=SimpleNamespace(**{"type": "api-key", "header": "X-Agency-Key",
                                                   "key_env": "HUB_SECRET_SUNRISE", **auth}),
                           timeouts=SimpleNamespace(connect=3.0, read=7.0))


def test_from_partner_reads_the_key_from_the_named_environment_variable(mocked):
    adapter = AgencyJsonClient.from_partner(partner(), {"HUB_SECRET_SUNRISE": "s3cret"})
    assert adapter.timeout == (3.0, 7.0)
    mocked.get(f"{BASE}/referrals/{RID}", json=example("referral-state.requested.json"),
               match=[matchers.header_matcher({"X-Agency-Key": "s3cret"})])
    adapter.get_referral(RID)


def test_from_partner_refuses_a_missing_key_or_another_auth_type():
    with pytest.raises(PartnerConfigError) as err:
        AgencyJsonClient.from_partner(partner(), {})
    assert "HUB_SECRET_SUNRISE" in str(err.value) and err.value.retryable
    with pytest.raises(PartnerConfigError):
        AgencyJsonClient.from_partner(partner(type="smart-backend"), {"HUB_SECRET_SUNRISE": "x"})


# --- the interactions -----------------------------------------------------------

def test_send_referral_posts_with_key_idempotency_key_and_timeout(client, mocked):
    body = example("referral.full.json")
    mocked.post(f"{BASE}/referrals", status=201, json=example("referral-state.requested.json"),
                headers={"Location": f"{BASE}/referrals/{RID}"},
                match=[matchers.json_params_matcher(body),
                       matchers.header_matcher({"X-Api-Key": "k-123", "Idempotency-Key": RID,
                                                "Content-Type": "application/json",
                                                "Accept": "application/json"}),
                       matchers.request_kwargs_matcher({"timeout": (1.0, 2.0)})])
    result = client.send_referral(body)
    assert result.created and result.status == 201
    assert result.state["status"] == "requested"
    assert result.location == f"{BASE}/referrals/{RID}"


def test_send_referral_again_is_200_not_created(client, mocked):
    mocked.post(f"{BASE}/referrals", status=200, json=example("referral-state.requested.json"))
    result = client.send_referral(example("referral.full.json"))
    assert not result.created and result.status == 200


def test_same_id_other_content_is_a_conflict_that_is_not_retried(client, mocked):
    mocked.post(f"{BASE}/referrals", status=409, json=problem(409, "referral_conflict"),
                content_type="application/problem+json")
    with pytest.raises(AgencyConflict) as err:
        client.send_referral(example("referral.full.json"))
    assert isinstance(err.value, PartnerConflict) and err.value.status == 409
    assert not err.value.retryable
    assert "referral_conflict" in str(err.value)
    assert "Rowan" not in str(err.value)  # the agency's detail is not put in the message
    assert err.value.problem["code"] == "referral_conflict"


def test_a_referral_without_id_is_not_sent(client):
    with pytest.raises(PartnerError):
        client.send_referral({"patient": {}})


def test_get_referral(client, mocked):
    mocked.get(f"{BASE}/referrals/{RID}", json=example("referral-state.completed.json"),
               match=[matchers.header_matcher({"X-Api-Key": "k-123"}),
                      matchers.request_kwargs_matcher({"timeout": (1.0, 2.0)})])
    assert client.get_referral(RID)["status"] == "completed"


def test_ids_are_quoted_in_paths(client, mocked):
    mocked.get(f"{BASE}/referrals/a%2Fb", json=example("referral-state.requested.json"))
    client.get_referral("a/b")


def test_cancel_referral_posts_the_reason(client, mocked):
    mocked.post(f"{BASE}/referrals/{RID}/cancel", json=example("referral-state.cancelled.json"),
                match=[matchers.json_params_matcher({"reason": "moved away",
                                                     "cancelled_at": "2026-03-02T18:00:00Z"}),
                       matchers.header_matcher({"X-Api-Key": "k-123"}),
                       matchers.request_kwargs_matcher({"timeout": (1.0, 2.0)})])
    state = client.cancel_referral(RID, "moved away", cancelled_at="2026-03-02T18:00:00Z")
    assert state["status"] == "cancelled"
    with pytest.raises(ValueError):
        client.cancel_referral(RID, " ")


def test_cancelling_a_final_referral_is_a_conflict(client, mocked):
    mocked.post(f"{BASE}/referrals/{RID}/cancel", status=409, json=problem(409, "referral_final"))
    with pytest.raises(AgencyConflict) as err:
        client.cancel_referral(RID, "moved away")
    assert "referral_final" in err.value.message


# --- change feed -----------------------------------------------------------

def test_changes_since_follows_next_cursors_and_hands_out_watermarks(client, mocked):
    page1 = example("changes.page-1.json")
    page2 = {"referrals": [example("referral-state.completed.json")], "next": "c2",
             "until": "2026-04-14T17:00:00Z"}
    page3 = {"referrals": [], "next": None, "until": "2026-04-14T17:00:00Z"}
    mocked.get(f"{BASE}/referrals", json=page1, match=[
        matchers.query_param_matcher({"updated_since": "2026-03-01T00:00:00Z", "limit": "2"}),
        matchers.header_matcher({"X-Api-Key": "k-123"}),
        matchers.request_kwargs_matcher({"timeout": (1.0, 2.0)})])
    mocked.get(f"{BASE}/referrals", json=page2, match=[
        matchers.query_param_matcher({"cursor": page1["next"], "limit": "2"})])
    mocked.get(f"{BASE}/referrals", json=page3, match=[
        matchers.query_param_matcher({"cursor": "c2", "limit": "2"})])
    pages = list(client.changes_since("2026-03-01T00:00:00Z"))
    assert [len(p.referrals) for p in pages] == [2, 1, 0]
    assert [p.cursor for p in pages] == ["2026-03-02T15:10:00Z", "2026-04-14T17:00:00Z",
                                         "2026-04-14T17:00:00Z"]


def test_changes_since_nothing_pulls_everything_and_keeps_the_cursor_on_empty(client, mocked):
    mocked.get(f"{BASE}/referrals", json={"referrals": [], "next": None, "until": None},
               match=[matchers.query_param_matcher({"limit": "2"})])
    (page,) = client.changes_since(None)
    assert page.referrals == [] and page.cursor is None


def test_a_repeated_cursor_stops_the_paging(client, mocked):
    loop = {"referrals": [], "next": "same", "until": None}
    mocked.get(f"{BASE}/referrals", json=loop)
    with pytest.raises(PartnerError, match="repeats"):
        list(client.changes_since("2026-03-01T00:00:00Z"))


def test_paging_is_bounded(mocked):
    adapter = AgencyJsonClient("sunrise", BASE, max_pages=3)
    for n in range(3):
        mocked.get(f"{BASE}/referrals", json={"referrals": [], "next": f"c{n}", "until": None})
    with pytest.raises(PartnerError, match="more than 3"):
        list(adapter.changes_since(None))


@pytest.mark.parametrize("body", [{"next": None}, {"referrals": {}, "next": None},
                                  {"referrals": [], "next": 7}, ["not", "an", "object"]])
def test_malformed_feed_pages_are_partner_errors(client, mocked, body):
    mocked.get(f"{BASE}/referrals", json=body)
    with pytest.raises(PartnerError) as err:
        list(client.changes_since(None))
    assert not err.value.retryable


def test_non_json_answer_is_a_partner_error(client, mocked):
    mocked.get(f"{BASE}/referrals/{RID}", body="<html>maintenance</html>")
    with pytest.raises(PartnerError, match="non-JSON"):
        client.get_referral(RID)


# --- errors -----------------------------------------------------------

@pytest.mark.parametrize("status,cls,retryable", [
    (400, PartnerRejected, False), (401, PartnerRejected, False), (403, PartnerRejected, False),
    (404, PartnerRejected, False), (422, PartnerRejected, False),
    (408, PartnerUnavailable, True), (409, AgencyConflict, False),
    (429, PartnerThrottled, True), (500, PartnerUnavailable, True),
    (502, PartnerUnavailable, True), (503, PartnerUnavailable, True),
])
def test_every_http_error_maps_to_its_partner_error(client, mocked, status, cls, retryable):
    mocked.get(f"{BASE}/referrals/{RID}", status=status, json=problem(status, "unavailable"))
    with pytest.raises(cls) as err:
        client.get_referral(RID)
    assert type(err.value) is cls
    assert err.value.status == status and err.value.retryable is retryable
    assert err.value.partner == "sunrise"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_exposed(client, mocked, status):
    mocked.get(f"{BASE}/referrals/{RID}", status=status, headers={"Retry-After": "120"},
               json=problem(status, "rate_limited"))
    with pytest.raises(PartnerUnavailable) as err:
        client.get_referral(RID)
    assert err.value.retry_after == 120.0


def test_retry_after_http_date_is_exposed_in_seconds(client, mocked):
    when = datetime.now(UTC) + timedelta(seconds=90)
    mocked.get(f"{BASE}/referrals/{RID}", status=429,
               headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(PartnerThrottled) as err:
        client.get_referral(RID)
    assert 80 <= err.value.retry_after <= 91


@pytest.mark.parametrize("header", [None, "soon"])
def test_missing_or_bad_retry_after_is_none(client, mocked, header):
    mocked.get(f"{BASE}/referrals/{RID}", status=429,
               headers={"Retry-After": header} if header else {})
    with pytest.raises(PartnerThrottled) as err:
        client.get_referral(RID)
    assert err.value.retry_after is None


@pytest.mark.parametrize("exc", [requests.ConnectTimeout("t"), requests.ReadTimeout("t"),
                                 requests.ConnectionError("refused")])
def test_timeouts_and_refused_connections_are_unavailable(client, mocked, exc):
    mocked.post(f"{BASE}/referrals", body=exc)
    with pytest.raises(PartnerUnavailable) as err:
        client.send_referral(example("referral.full.json"))
    assert err.value.retryable and err.value.response is None


def test_nothing_of_the_patient_is_logged(client, mocked, caplog):
    caplog.set_level(logging.DEBUG, logger="hub.adapters.agency_json")
    mocked.post(f"{BASE}/referrals", status=201, json=example("referral-state.requested.json"))
    mocked.post(f"{BASE}/referrals", status=409, json=problem(409, "referral_conflict"))
    mocked.post(f"{BASE}/referrals", body=requests.ReadTimeout("t"))
    client.send_referral(example("referral.full.json"))
    for _ in range(2):
        with pytest.raises(PartnerError) as err:
            client.send_referral(example("referral.full.json"))
        assert "Example" not in str(err.value) and "1948" not in str(err.value)
    text = caplog.text
    assert "/referrals" in text
    for secret in ("Example", "Rowan", "1948-07-19", "MRN-000123", "555", "k-123"):
        assert secret not in text
