"""Backport IG topic-based Subscriptions: handshake, heartbeat, case opened, plan changed,
payload contents, $status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

from case_data import river

from hub.clock import utcnow
from hub.mappings.episode import episode_id
from hub.store.uow import UnitOfWork
from hub.subscriptions.spec import PROFILE_NOTIFICATION
from hub.subscriptions.topics import TOPIC_BASE
from hub.sync import notify
from subscriptions.conftest import topic_subscription

CASE_SCOPE = "system/Case.cruds"


def _params(bundle: dict) -> dict:
    return {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}


def _subscribe(hub, body: dict) -> dict:
    resp = hub.post("/fhir/Subscription", body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _open_case(hub) -> dict:
    resp = hub.client.post("/api/cases", json=river(), headers=hub.auth_headers(CASE_SCOPE))
    assert resp.status_code == 201, resp.get_json()
    return resp


def test_handshake_activates_and_case_opened_notifies(hub, subscriber):
    app, _ = subscriber
    sub = _subscribe(hub, topic_subscription(hub.hooks, "case-opened",
                                             headers=["X-Secret: abc"]))
    assert sub["status"] == "requested"
    rows = hub.drain()
    assert [json.loads(json.dumps(r.options))["type"] for r in rows] == ["handshake"]
    handshake = app.bundles("handshake")[0]
    assert handshake["type"] == "history"
    assert handshake["meta"]["profile"] == [PROFILE_NOTIFICATION]
    params = _params(handshake)
    assert params["status"]["valueCode"] == "requested"
    assert params["subscription"]["valueReference"]["reference"].endswith(
        f"/Subscription/{sub['id']}")
    assert app.received[0].headers["x-secret"] == "abc"
    assert handshake["entry"][0]["request"] == {
        "method": "GET", "url": f"http://hub.test/fhir/Subscription/{sub['id']}/$status"}
    assert hub.get(f"/fhir/Subscription/{sub['id']}").get_json()["status"] == "active"

    _open_case(hub)
    hub.drain()
    events = app.bundles("event-notification")
    assert len(events) == 1
    params = _params(events[0])
    assert params["topic"]["valueCanonical"] == f"{TOPIC_BASE}/case-opened"
    assert params["status"]["valueCode"] == "active"
    assert params["events-since-subscription-start"]["valueString"] == "1"
    parts = {p["name"]: p for p in params["notification-event"]["part"]}
    assert parts["event-number"]["valueString"] == "1"
    focus = parts["focus"]["valueReference"]["reference"]
    assert focus.startswith("http://hub.test/fhir/EpisodeOfCare/")
    entry = events[0]["entry"][1]
    assert entry["fullUrl"] == focus and "resource" not in entry  # id-only
    assert entry["request"]["method"] == "POST"

    status = hub.get(f"/fhir/Subscription/{sub['id']}/$status").get_json()
    assert status["type"] == "searchset"
    sp = _params({"entry": status["entry"]})
    assert sp["type"]["valueCode"] == "query-status" and sp["status"]["valueCode"] == "active"
    assert sp["events-since-subscription-start"]["valueString"] == "1"


def test_plan_changed_with_full_resource_and_a_filter(hub, subscriber):
    app, _ = subscriber
    case = _open_case(hub)
    cid = case.get_json()["id"]
    episode = hub.get(f"/fhir/EpisodeOfCare?identifier={cid}").get_json()
    hub.drain()
    plans = hub.get("/fhir/CarePlan").get_json()["entry"]
    plan = plans[0]["resource"]
    patient = plan["subject"]["reference"]
    sub = _subscribe(hub, topic_subscription(
        hub.hooks, "plan-changed", content="full-resource",
        filters=[f"CarePlan?patient={patient}"]))
    other = _subscribe(hub, topic_subscription(
        hub.hooks + "/other", "plan-changed", filters=["CarePlan?patient=Patient/nobody"]))
    hub.drain()
    assert len(app.bundles("handshake")) == 2
    body = river()
    body["plan"]["goals"][0]["description"] = "Walk 1 km independently"
    body["plan"]["period"]["end"] = "2027-06-03"
    resp = hub.client.put(f"/api/cases/{cid}", json=body, headers={
        **hub.auth_headers(CASE_SCOPE), "If-Match": case.headers["ETag"]})
    assert resp.status_code == 200, resp.get_json()
    hub.drain()
    events = app.bundles("event-notification")
    assert len(events) == 1, (episode, [r.path for r in app.received])
    assert app.received[-1].path == "/hooks"  # not the other subscription's endpoint
    entry = events[0]["entry"][1]
    assert entry["resource"]["resourceType"] == "CarePlan"
    assert entry["resource"]["period"]["end"] == "2027-06-03"
    assert entry["request"] == {"method": "PUT", "url": f"CarePlan/{entry['resource']['id']}"}
    assert _params(events[0])["subscription"]["valueReference"]["reference"].endswith(sub["id"])
    assert other["id"] != sub["id"]


def test_empty_payload_carries_no_focus(hub, subscriber):
    app, _ = subscriber
    _subscribe(hub, topic_subscription(hub.hooks, "case-opened", content="empty"))
    _open_case(hub)  # before the handshake: a requested subscription is not notified
    hub.drain()
    assert app.bundles("event-notification") == []
    hub.client.post("/api/cases", json={**river(), "program": "second program"},
                    headers=hub.auth_headers(CASE_SCOPE))
    hub.drain()
    event = app.bundles("event-notification")[0]
    assert len(event["entry"]) == 1
    params = _params(event)
    assert "topic" not in params
    assert {p["name"] for p in params["notification-event"]["part"]} == {
        "event-number", "timestamp"}


def test_heartbeat_after_its_period(hub, subscriber):
    app, _ = subscriber
    sub = _subscribe(hub, topic_subscription(hub.hooks, "referral-status-changed",
                                             heartbeat=60))
    hub.drain()
    assert notify.schedule_heartbeats(hub.db, utcnow()) == []  # not due yet
    later = utcnow() + timedelta(seconds=61)
    assert len(notify.schedule_heartbeats(hub.db, later)) == 1
    assert notify.schedule_heartbeats(hub.db, later) == []  # once per period
    hub.drain()
    beat = app.bundles("heartbeat")
    assert len(beat) == 1
    params = _params(beat[0])
    assert params["status"]["valueCode"] == "active"
    assert params["subscription"]["valueReference"]["reference"].endswith(sub["id"])
    assert len(beat[0]["entry"]) == 1
    assert len(notify.schedule_heartbeats(hub.db, later + timedelta(seconds=61))) == 1


def test_notifications_and_answers_are_valid_r4(hub, subscriber):
    """The independent validator on what the hub sends and answers."""
    import fhir_validator

    app, _ = subscriber
    full = _subscribe(hub, topic_subscription(hub.hooks, "case-opened",
                                              content="full-resource", heartbeat=30))
    _subscribe(hub, topic_subscription(hub.hooks, "case-opened", content="id-only"))
    _subscribe(hub, topic_subscription(hub.hooks, "case-opened", content="empty"))
    hub.drain()
    _open_case(hub)
    hub.drain()
    notify.schedule_heartbeats(hub.db, utcnow() + timedelta(seconds=31))
    hub.drain()
    sent = app.bundles()
    assert {_params(b)["type"]["valueCode"] for b in sent} == {
        "handshake", "event-notification", "heartbeat"}
    answers = [hub.get(f"/fhir/Subscription/{full['id']}").get_json(),
               hub.get(f"/fhir/Subscription/{full['id']}/$status").get_json(),
               hub.get("/fhir/Subscription?status=active").get_json()]
    fhir_validator.assert_valid(sent + answers)


def test_review_due_by_the_calendar(hub, subscriber):
    app, _ = subscriber
    sub = _subscribe(hub, topic_subscription(hub.hooks, "review-due"))
    hub.drain()
    case = _open_case(hub).get_json()
    with UnitOfWork(hub.db) as uow:
        due = uow.cases.get(case["id"]).next_review_due
    notify.schedule(hub.db, datetime.combine(due - timedelta(days=1), time(), UTC))
    hub.drain()
    assert app.bundles("event-notification") == []  # not due yet
    notify.schedule(hub.db, datetime.combine(due, time(), UTC))
    notify.schedule(hub.db, datetime.combine(due, time(12), UTC))  # once a day
    hub.drain()
    events = app.bundles("event-notification")
    assert len(events) == 1
    params = _params(events[0])
    assert params["topic"]["valueCanonical"] == f"{TOPIC_BASE}/review-due"
    assert params["subscription"]["valueReference"]["reference"].endswith(sub["id"])
    focus = events[0]["entry"][1]["fullUrl"]
    assert focus == f"http://hub.test/fhir/EpisodeOfCare/{episode_id(case['id'])}"
