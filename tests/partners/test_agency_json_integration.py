"""agency-json over real HTTP on loopback: the hub's client against our agency server.

The hub side is played by this test: a tiny delivery loop with the real retry policy
(``hub.sync.retry.RetryPolicy``, tiny delays; the waits it asks for are recorded, so a
Retry-After shows without sleeping it), and a puller that applies each page of the change
feed to a Case in memory before storing the page's cursor.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from hub import cases as c
from hub.adapters.agency_json import AgencyConflict, AgencyJsonClient
from hub.adapters.errors import PartnerError, PartnerRejected, PartnerUnavailable
from hub.adapters.smart_auth import ApiKeyAuth
from hub.mappings.agency_json import (
    apply_referral_state,
    referral_to_agency_json,
    visit_encounter_id,
)
from hub.sync.retry import RetryPolicy

from .agency_case import referral_case
from .agency_json_server import Fault
from .conftest import API_KEY
from .schemas import assert_valid

pytestmark = pytest.mark.integration

UTC = UTC
POLICY = RetryPolicy(max_attempts=8, base_delay=0.005, max_delay=0.02)


class Hub:
    """The hub's side: deliveries with retries, and a cursor-keeping puller."""

    def __init__(self, client: AgencyJsonClient, case: c.Case) -> None:
        self.client = client
        self.case = case
        self.cursor: str | None = None
        self.waits: list[float] = []
        self.errors: list[PartnerError] = []

    def deliver(self, call, *args):
        for attempt in range(1, POLICY.max_attempts + 1):
            try:
                return call(*args)
            except PartnerError as exc:
                self.errors.append(exc)
                decision = POLICY.decide(exc, attempt)
                if decision.dead:
                    raise
                self.waits.append(decision.retry_in)
                time.sleep(min(decision.retry_in, 0.02))  # scaled down for the tests
        raise AssertionError("unreachable")

    def send(self, referral: c.Referral):
        body = referral_to_agency_json(self.case, referral)  # computed once per delivery
        return self.deliver(self.client.send_referral, body)

    def pull_once(self) -> int:
        applied = 0
        for page in self.client.changes_since(self.cursor):
            assert_valid("changes", {"referrals": page.referrals, "next": page.next,
                                     "until": page.cursor})
            for item in page.referrals:
                apply_referral_state(self.case, item)
                applied += 1
            self.cursor = page.cursor  # stored after the page is applied
        return applied

    def pull(self) -> int:
        return self.deliver(self.pull_once)


@pytest.fixture
def case():
    return referral_case()


@pytest.fixture
def hub(client, case):
    return Hub(client, case)


def work_the_referral(agency, rid: str) -> None:
    start = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    agency.accept(rid, agency_reference="EP-1")
    agency.start(rid)
    agency.record_visit(rid, "V-1", start, start + timedelta(hours=1), clinician="Alex Nurse",
                        role="RN", summary="Start of care, first dose given.")
    agency.complete(rid)


def assert_in_step(case: c.Case, rid: str) -> None:
    ref = case.referral(rid)
    assert ref.status == c.ReferralStatus.COMPLETED
    assert [h.status for h in ref.history] == ["requested", "accepted", "in-progress",
                                               "completed"]
    visits = [e for e in case.encounters if e.referral == rid]
    assert len(visits) == 1
    assert visits[0].id == visit_encounter_id(rid, "V-1")
    assert visits[0].kind == c.EncounterKind.HOME_VISIT
    assert visits[0].status == c.EncounterStatus.FINISHED
    assert [n.text for n in case.notes] == ["Start of care, first dose given."]


# --- the happy path -----------------------------------------------------------

def test_referral_sent_twice_is_one_referral_then_pulled_to_completion(agency, hub, case):
    ref = case.referrals[0]
    first = hub.send(ref)
    again = hub.send(ref)
    assert (first.created, first.status, again.created, again.status) == (True, 201, False, 200)
    assert first.location.endswith(f"/referrals/{ref.id}")
    assert_valid("referral-state", first.state)
    assert list(agency.referrals) == [ref.id]
    assert agency.count("POST", "/referrals") == 2

    assert hub.pull() == 1  # requested, by the hub: nothing to move
    assert ref.status == c.ReferralStatus.REQUESTED and hub.cursor is not None

    work_the_referral(agency, ref.id)
    assert_valid("referral-state", hub.client.get_referral(ref.id))
    hub.pull()
    assert_in_step(case, ref.id)

    before = copy.deepcopy(case)
    assert hub.pull() == 1  # updated_since is inclusive: the last referral comes again...
    hub.cursor = None
    assert hub.pull() == 1  # ...and pulling everything from the start...
    assert case == before  # ...changes nothing, duplicates nothing


def ticking(start=datetime(2026, 3, 2, 12, 0, tzinfo=UTC)):
    """A clock one second later at every call."""
    now = [start]

    def clock():
        now[0] += timedelta(seconds=1)
        return now[0]
    return clock


def test_the_feed_pages_with_next_cursors(agency_server, agency):
    agency.clock = ticking()
    client = AgencyJsonClient("sunrise", agency_server.base_url, page_limit=2,
                              auth=ApiKeyAuth("X-Api-Key", API_KEY), timeout=(0.5, 0.5))
    cases = [referral_case(f"r-{n}", f"case-{n}") for n in range(5)]
    for one in cases:
        client.send_referral(referral_to_agency_json(one, one.referrals[0]))
    agency.accept("r-3")
    pages = list(client.changes_since(None))
    assert [len(p.referrals) for p in pages] == [2, 2, 1]
    assert [p.next is None for p in pages] == [False, False, True]
    ids = [r["id"] for p in pages for r in p.referrals]
    assert sorted(ids) == [f"r-{n}" for n in range(5)] and ids[-1] == "r-3"
    # from the last watermark: only what changed at or after it
    assert [r["id"] for p in client.changes_since(pages[-1].cursor) for r in p.referrals] \
        == ["r-3"]
    client.close()


def test_cancel_by_the_hub(agency, hub, case):
    ref = case.referrals[0]
    hub.send(ref)
    agency.accept(ref.id)
    hub.pull()
    ref.move(c.ReferralStatus.CANCELLED, c.Actor.REQUESTER, "patient moved away")
    state = hub.deliver(hub.client.cancel_referral, ref.id, "patient moved away")
    assert state["status"] == "cancelled" and state["history"][-1]["by"] == "hub"
    assert hub.deliver(hub.client.cancel_referral, ref.id, "patient moved away")[
        "status"] == "cancelled"  # idempotent
    hub.pull()
    assert ref.status == c.ReferralStatus.CANCELLED
    with pytest.raises(ValueError):
        agency.start(ref.id)  # the agency cannot work a cancelled referral


def test_cancelling_a_completed_referral_is_a_conflict_not_retried(agency, hub, case):
    ref = case.referrals[0]
    hub.send(ref)
    work_the_referral(agency, ref.id)
    with pytest.raises(AgencyConflict):
        hub.deliver(hub.client.cancel_referral, ref.id, "too late")
    assert len(hub.errors) == 1  # dead at once: a human must look


def test_same_id_with_other_content_is_refused_not_overwritten(agency, hub, case):
    ref = case.referrals[0]
    hub.send(ref)
    case.patient.contact.phone = "+1-555-0142"  # the case changed: a new delivery's body
    with pytest.raises(AgencyConflict):
        hub.send(ref)
    assert agency.referrals[ref.id].document["patient"]["phone"] == "+1-555-0100"


# --- the agency's own checks --------------------------------------------------------------------

def test_wrong_or_missing_api_key_is_401(agency_server, agency, case):
    for auth in (ApiKeyAuth("X-Api-Key", "wrong"), None):
        client = AgencyJsonClient("sunrise", agency_server.base_url, auth=auth,
                                  timeout=(0.5, 0.5))
        with pytest.raises(PartnerRejected) as err:
            client.send_referral(referral_to_agency_json(case, case.referrals[0]))
        assert err.value.status == 401 and "unauthorized" in str(err.value)
        client.close()
    assert agency.referrals == {}


def test_agency_refuses_bad_requests_with_problem_details(agency_server, agency, case):
    url = agency_server.base_url + "/referrals"
    body = referral_to_agency_json(case, case.referrals[0])
    key = {"X-Api-Key": API_KEY}
    missing = requests.post(url, json=body, headers=key, timeout=1)
    other = requests.post(url, json=body, headers=key | {"Idempotency-Key": "x"}, timeout=1)
    bad = dict(body, patient=dict(body["patient"], birth_date="19/07/1948"))
    invalid = requests.post(url, json=bad, headers=key | {"Idempotency-Key": bad["id"]},
                            timeout=1)
    unknown = requests.get(url + "/nope", headers=key, timeout=1)
    cursor = requests.get(url, params={"cursor": "%%%"}, headers=key, timeout=1)
    assert [r.status_code for r in (missing, other, invalid, unknown, cursor)] == [
        400, 400, 422, 404, 400]
    for r in (missing, other, invalid, unknown, cursor):
        assert r.headers["Content-Type"] == "application/problem+json"
        assert_valid("problem", r.json())
    assert other.json()["code"] == "idempotency_key_mismatch"
    assert invalid.json()["errors"][0]["field"] == "patient.birth_date"
    assert "1948" not in invalid.text  # the value is not echoed
    assert agency.referrals == {}


# --- faults -----------------------------------------------------------

def test_a_burst_of_500s_then_success(agency, hub, case):
    ref = case.referrals[0]
    agency.fail_next(3, 500, method="POST")
    result = hub.send(ref)
    assert result.created and len(hub.errors) == 3
    assert all(isinstance(e, PartnerUnavailable) and e.status == 500 for e in hub.errors)
    work_the_referral(agency, ref.id)
    agency.fail_next(2, 503, method="GET")
    hub.pull()
    assert list(agency.referrals) == [ref.id]
    assert_in_step(case, ref.id)


def test_a_429_with_retry_after_is_honoured(agency, hub, case):
    ref = case.referrals[0]
    agency.throttle_next("1", method="POST")
    hub.send(ref)
    assert hub.errors[0].status == 429 and hub.errors[0].retry_after == 1.0
    assert hub.waits[0] >= 1.0  # the policy waits at least what the agency asked
    agency.throttle_next("2", status=503, method="GET")
    work_the_referral(agency, ref.id)
    hub.pull()
    assert hub.errors[1].status == 503 and hub.waits[1] >= 2.0
    assert list(agency.referrals) == [ref.id]
    assert_in_step(case, ref.id)


def test_a_timeout_after_the_agency_stored_it_still_makes_one_referral(agency, hub, case):
    ref = case.referrals[0]
    agency.slow_next(0.6, method="POST")  # stored, but answered after the client gave up
    result = hub.send(ref)
    assert isinstance(hub.errors[0], PartnerUnavailable) and "timed out" in str(hub.errors[0])
    assert (result.created, result.status) == (False, 200)  # the retry found the first copy
    assert list(agency.referrals) == [ref.id]
    work_the_referral(agency, ref.id)
    agency.slow_next(0.6, method="GET")
    hub.pull()
    assert_in_step(case, ref.id)


def test_agency_restarted_keeps_its_data_and_the_hub_catches_up(agency_server, agency, hub,
                                                                 case):
    ref = case.referrals[0]
    hub.send(ref)
    agency.accept(ref.id)
    hub.pull()
    agency_server.stop()
    with pytest.raises(PartnerUnavailable):
        hub.client.get_referral(ref.id)  # connection refused
    attempts: list[int] = []

    def send_while_the_agency_comes_back(body):
        attempts.append(1)
        if len(attempts) == 2:  # back between the first and the second attempt, whatever the load
            agency_server.start()
        return hub.client.send_referral(body)

    # retried until the agency is back: 200, the same referral
    hub.deliver(send_while_the_agency_comes_back, referral_to_agency_json(case, ref))
    assert len(attempts) == 2
    assert any(isinstance(e, PartnerUnavailable) for e in hub.errors)
    assert list(agency.referrals) == [ref.id]
    agency.start(ref.id)
    agency.record_visit(ref.id, "V-1", datetime(2026, 3, 3, 9, tzinfo=UTC),
                        datetime(2026, 3, 3, 10, tzinfo=UTC), clinician="Alex Nurse", role="RN",
                        summary="Start of care, first dose given.")
    agency.complete(ref.id)
    agency_server.restart()
    hub.pull()
    assert_in_step(case, ref.id)


def test_a_failure_in_the_middle_of_paging_resumes_from_the_stored_cursor(agency_server,
                                                                          agency):
    agency.clock = ticking()
    client = AgencyJsonClient("sunrise", agency_server.base_url, page_limit=1,
                              auth=ApiKeyAuth("X-Api-Key", API_KEY), timeout=(0.5, 0.5))
    many = [referral_case(f"r-{n}", f"case-{n}") for n in range(3)]
    for one in many:
        client.send_referral(referral_to_agency_json(one, one.referrals[0]))
    for one in many:
        work_the_referral(agency, one.referrals[0].id)
    by_id = {one.referrals[0].id: one for one in many}
    applied: list[str] = []

    class Multi(Hub):  # one feed, several cases
        def pull_once(self):
            for page in self.client.changes_since(self.cursor):
                for item in page.referrals:
                    apply_referral_state(by_id[item["id"]], item)
                    applied.append(item["id"])
                self.cursor = page.cursor

    hub = Multi(client, many[0])
    agency.inject(Fault(method="GET", path="/referrals"),  # page 1 passes...
                  Fault(status=500, method="GET", path="/referrals"))  # ...page 2 fails
    with pytest.raises(PartnerUnavailable):
        hub.pull_once()
    assert applied == ["r-0"] and hub.cursor is not None  # page 1 applied and checkpointed
    hub.pull()
    assert applied == ["r-0", "r-0", "r-1", "r-2"]  # resumed at the watermark (inclusive)
    for one in many:
        assert_in_step(one, one.referrals[0].id)
    client.close()
