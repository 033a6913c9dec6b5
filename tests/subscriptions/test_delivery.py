"""Notifications through the outbox: retries, dead letter, replay, error status and count,
order per subscription, the owner's compartment, the endpoint allowlist."""

from __future__ import annotations

import json

from click.testing import CliRunner

from hub.adapters.outbound import under_prefix
from hub.cli import main
from hub.store.uow import UnitOfWork
from subscriptions.conftest import FHIR_JSON, criteria_subscription, topic_subscription

AGENCY_A, AGENCY_B = "Organization/agency-a", "Organization/agency-b"


def _subscribe(hub, body: dict, headers: dict | None = None) -> dict:
    resp = hub.post("/fhir/Subscription", body, headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _event_numbers(app) -> list[int]:
    out = []
    for bundle in app.bundles("event-notification"):
        params = {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}
        parts = {p["name"]: p for p in params["notification-event"]["part"]}
        out.append(int(parts["event-number"]["valueString"]))
    return out


def _referrals(hub) -> dict[str, dict]:
    """Two agencies, a patient, a referral (ServiceRequest + Task) owned by each."""
    made: dict[str, dict] = {}
    for ref in (AGENCY_A, AGENCY_B):
        rid = ref.split("/")[1]
        assert hub.put(f"/fhir/{ref}", {"resourceType": "Organization", "id": rid,
                                        "name": rid}).status_code in (200, 201)
    patient = hub.post("/fhir/Patient", {"resourceType": "Patient", "name": [
        {"family": "Brook"}]}).get_json()
    for key, org in (("a", AGENCY_A), ("b", AGENCY_B)):
        sr = hub.post("/fhir/ServiceRequest", {
            "resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{patient['id']}"},
            "performer": [{"reference": org}]}).get_json()
        made[key] = hub.post("/fhir/Task", {
            "resourceType": "Task", "status": "requested", "intent": "order",
            "for": {"reference": f"Patient/{patient['id']}"},
            "focus": {"reference": f"ServiceRequest/{sr['id']}"},
            "owner": {"reference": org}}).get_json()
    return made


def _set_status(hub, task: dict, status: str) -> dict:
    """The owning agency moves its referral Task on (REFERRAL_TRANSITIONS, owner)."""
    body = {**task, "status": status}
    body.pop("meta", None)
    owner = task["owner"]["reference"]
    headers = {**hub.auth_headers("system/Task.cruds", owner), "Content-Type": FHIR_JSON,
               "If-Match": f'W/"{task["meta"]["versionId"]}"'}
    resp = hub.client.put(f"/fhir/Task/{task['id']}", data=json.dumps(body), headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_subscriber_down_retries_dead_letter_error_status_and_replay(hub, subscriber,
                                                                    database_url):
    app, _ = subscriber
    sub = _subscribe(hub, topic_subscription(hub.hooks, "referral-status-changed"))
    hub.drain()
    assert hub.get(f"/fhir/Subscription/{sub['id']}").get_json()["status"] == "active"
    app.status = 503
    tasks = _referrals(hub)
    rows = [r for r in hub.drain() if r.options["type"] == "event-notification"]
    assert [r.status for r in rows] == ["dead", "dead"]
    assert all(r.attempts == 3 for r in rows)  # the retry policy's attempt limit
    assert "503" in rows[0].last_error
    # error after 3 consecutive failures (HUB_SUBSCRIPTION_MAX_FAILURES), written then
    read = hub.get(f"/fhir/Subscription/{sub['id']}").get_json()
    assert read["status"] == "error"
    assert read["error"].startswith("3 consecutive delivery failures (3 since")
    # $status counts on: 2 notifications x 3 attempts
    status = hub.get(f"/fhir/Subscription/{sub['id']}/$status").get_json()
    params = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}
    assert params["status"]["valueCode"] == "error"
    assert params["error"]["valueCodeableConcept"]["text"].startswith(
        "6 consecutive delivery failures (6 since")

    app.status = 200
    result = CliRunner().invoke(main, ["--database-url", database_url, "deliveries",
                                       "retry", "--all-dead"])
    assert result.exit_code == 0, result.output
    rows = [r for r in hub.drain() if r.options["type"] == "event-notification"]
    assert [r.status for r in rows] == ["done", "done"]
    assert sorted(_event_numbers(app)) == [1, 2]
    bundles = app.bundles("event-notification")
    focus = {b["entry"][1]["fullUrl"].rsplit("/", 1)[1] for b in bundles}
    assert focus == {tasks["a"]["id"], tasks["b"]["id"]}
    read = hub.get(f"/fhir/Subscription/{sub['id']}").get_json()
    assert read["status"] == "active" and "error" not in read  # delivered again


def test_a_failed_handshake_is_an_error(hub, subscriber):
    app, _ = subscriber
    app.status = 404
    sub = _subscribe(hub, topic_subscription(hub.hooks, "case-opened"))
    rows = hub.drain()
    assert [r.status for r in rows] == ["dead"]  # 404: not retried
    read = hub.get(f"/fhir/Subscription/{sub['id']}").get_json()
    assert read["status"] == "error" and "404" in read["error"]


def test_notifications_of_one_subscription_keep_their_order(hub, subscriber):
    app, _ = subscriber
    _subscribe(hub, topic_subscription(hub.hooks, "referral-status-changed"))
    hub.drain()
    tasks = _referrals(hub)
    task = tasks["a"]
    for status in ("received", "accepted", "in-progress", "completed"):
        task = _set_status(hub, task, status)
    app.fail_next = 2  # the first event fails twice, the others wait behind it
    worker = hub.runtime.worker("order", policy=hub.worker.policy, concurrency=4,
                                lease_seconds=30)
    try:
        for _ in range(50):
            if not worker.run_once():
                break
    finally:
        worker.close()
    assert _event_numbers(app) == [1, 2, 3, 4, 5, 6]
    statuses = [b["entry"][1]["fullUrl"] for b in app.bundles("event-notification")]
    assert len(statuses) == 6


def test_a_bound_client_hears_only_of_its_compartment(hub, subscriber):
    app, _ = subscriber
    tasks = _referrals(hub)
    bound = {**hub.auth_headers("system/Task.rs system/Subscription.cruds",
                                AGENCY_A), "Content-Type": FHIR_JSON}
    topic = _subscribe(hub, topic_subscription(hub.hooks + "/topic", "referral-status-changed",
                                               content="full-resource"), bound)
    _subscribe(hub, criteria_subscription(hub.hooks + "/criteria", "Task?status=accepted"),
               bound)
    hub.drain()
    assert hub.get(f"/fhir/Subscription/{topic['id']}", bound).status_code == 200
    _set_status(hub, tasks["a"], "accepted")
    _set_status(hub, tasks["b"], "accepted")
    hub.drain()
    events = app.bundles("event-notification")
    assert [b["entry"][1]["resource"]["id"] for b in events] == [tasks["a"]["id"]]
    posts = [r for r in app.received if r.path == "/hooks/criteria"]
    assert len(posts) == 1


def test_the_owner_is_checked_again_when_the_notification_is_sent(hub, subscriber):
    app, _ = subscriber
    headers = {**hub.auth_headers("system/Task.rs system/Subscription.cruds"),
               "Content-Type": FHIR_JSON}
    _subscribe(hub, criteria_subscription(hub.hooks, "Task?status=requested"), headers)
    _referrals(hub)
    with UnitOfWork(hub.db) as uow:
        for client in uow.clients.list():
            if client.scope == "system/Task.rs system/Subscription.cruds":
                uow.clients.revoke(client.client_id)
        uow.commit()
    rows = hub.drain()
    assert [r.status for r in rows] == ["done", "done"]
    assert all("skipped" in r.response for r in rows)
    assert app.received == []


def test_endpoints_outside_the_allowlist_are_refused(hub, make_app, auth_headers, subscriber):
    body = topic_subscription(hub.hooks + "-evil", "case-opened")
    resp = hub.post("/fhir/Subscription", body)
    assert resp.status_code == 422
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == ["Subscription.channel.endpoint"]
    closed = make_app()  # HUB_SUBSCRIPTION_ENDPOINTS empty: every rest-hook refused
    resp = closed.test_client().post(
        "/fhir/Subscription", data=json.dumps(
            topic_subscription(hub.hooks, "case-opened")),
        headers={**auth_headers(), "Content-Type": FHIR_JSON})
    assert resp.status_code == 422
    assert resp.get_json()["issue"][0]["expression"] == ["Subscription.channel.endpoint"]
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    with hub.db.engine.connect() as conn:
        from sqlalchemy import func, select

        from hub.store.subscription_tables import subscriptions
        assert conn.execute(select(func.count()).select_from(subscriptions)).scalar_one() == 0


def test_prefixes_end_at_a_path_boundary():
    prefixes = ("https://hooks.example/fhir", "http://127.0.0.1:9000/")
    assert under_prefix("https://hooks.example/fhir", prefixes)
    assert under_prefix("https://hooks.example/fhir/a?b=1", prefixes)
    assert under_prefix("http://127.0.0.1:9000/x", prefixes)
    for url in ("https://hooks.example/fhir-x", "https://hooks.example/fhirx",
                "https://hooks.example.evil/fhir", "https://user@hooks.example/fhir",
                "https://hooks.example/fhir#x", "ftp://hooks.example/fhir",
                "http://127.0.0.1:90001/", "http://127.0.0.1:9000"):
        assert not under_prefix(url, prefixes), url
