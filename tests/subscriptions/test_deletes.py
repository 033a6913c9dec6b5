"""Deletes and Subscriptions (issue 11): a criteria-based Subscription hears of the delete
of a resource that matched (an empty POST; with a payload a DELETE of
``[endpoint]/[Type]/[id]``, as HAPI does), not of one that did not; topic-based ones only
when the topic's trigger includes delete (no hub topic does)."""

from __future__ import annotations

from subscriptions.conftest import criteria_subscription, topic_subscription


def _patient(hub, gender: str) -> dict:
    resp = hub.post("/fhir/Patient", {"resourceType": "Patient", "gender": gender,
                                      "name": [{"family": "Delete"}]})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _delete(hub, ref: str) -> None:
    assert hub.client.delete(f"/fhir/{ref}", headers=hub.headers()).status_code == 204


def test_the_delete_of_a_matching_resource_is_notified_with_its_id(hub, subscriber):
    app, _ = subscriber
    for path, payload in (("/full", "application/fhir+json"), ("/empty", None)):
        resp = hub.post("/fhir/Subscription", criteria_subscription(
            hub.hooks + path, "Patient?gender=female", payload=payload))
        assert resp.status_code == 201, resp.get_json()
    match = _patient(hub, "female")
    other = _patient(hub, "male")
    hub.drain()
    app.received.clear()
    _delete(hub, f"Patient/{match['id']}")
    _delete(hub, f"Patient/{other['id']}")  # never matched: no notification
    rows = hub.drain()
    assert all(r.status == "done" for r in rows), [(r.status, r.last_error) for r in rows]
    got = sorted((r.method, r.path, r.body) for r in app.received)
    assert got == [("DELETE", f"/hooks/full/Patient/{match['id']}", b""),
                   ("POST", "/hooks/empty", b"")]


def test_a_resource_changed_out_of_the_criteria_then_deleted_is_not_notified(hub, subscriber):
    app, _ = subscriber
    hub.post("/fhir/Subscription", criteria_subscription(
        hub.hooks, "Patient?gender=female", payload="application/fhir+json"))
    patient = _patient(hub, "male")
    hub.put(f"/fhir/Patient/{patient['id']}", {**patient, "gender": "female"})
    hub.put(f"/fhir/Patient/{patient['id']}", {**patient, "gender": "male"})
    hub.drain()
    assert [r.method for r in app.received] == ["PUT"]  # the female version only
    _delete(hub, f"Patient/{patient['id']}")
    hub.drain()
    assert [r.method for r in app.received] == ["PUT"]


def test_a_bound_owner_hears_of_the_delete_of_a_resource_of_its_compartment(hub, subscriber):
    app, _ = subscriber
    org = "Organization/agency-del"
    assert hub.put(f"/fhir/{org}", {"resourceType": "Organization", "id": "agency-del",
                                    "name": "agency"}).status_code in (200, 201)
    bound = hub.headers("system/Subscription.cruds system/Task.rs", org)
    resp = hub.post("/fhir/Subscription", criteria_subscription(
        hub.hooks + "/bound", "Task?status=requested", payload="application/fhir+json"),
        headers=bound)
    assert resp.status_code == 201, resp.get_json()
    patient = _patient(hub, "female")
    mine, theirs = (hub.post("/fhir/Task", {
        "resourceType": "Task", "status": "requested", "intent": "order",
        "for": {"reference": f"Patient/{patient['id']}"},
        "owner": {"reference": owner}}).get_json() for owner in (org, "Organization/else"))
    hub.drain()
    app.received.clear()
    _delete(hub, f"Task/{theirs['id']}")  # outside its compartment: nothing
    _delete(hub, f"Task/{mine['id']}")
    hub.drain()
    assert [(r.method, r.path) for r in app.received] == [
        ("DELETE", f"/hooks/bound/Task/{mine['id']}")]


def test_a_topic_without_delete_in_its_trigger_is_not_notified_of_a_delete(hub, subscriber):
    app, _ = subscriber
    hub.post("/fhir/Subscription", topic_subscription(hub.hooks, "plan-changed"))
    hub.drain()  # the handshake: active
    patient = _patient(hub, "female")
    plan = hub.post("/fhir/CarePlan", {
        "resourceType": "CarePlan", "status": "draft", "intent": "plan",
        "subject": {"reference": f"Patient/{patient['id']}"}}).get_json()
    hub.put(f"/fhir/CarePlan/{plan['id']}", {**plan, "title": "changed"})
    hub.drain()
    assert len(app.bundles("event-notification")) == 1
    _delete(hub, f"CarePlan/{plan['id']}")
    hub.drain()
    assert len(app.bundles("event-notification")) == 1


def test_a_topic_notification_of_a_deleted_focus_carries_its_id_without_a_resource():
    from hub.subscriptions.notifications import notification_bundle

    event = {"event": 3, "timestamp": "2026-11-30T12:00:00Z", "focus": "CarePlan/p1",
             "version": 4, "created": False, "deleted": True}
    bundle = notification_bundle(base="http://hub.test/fhir", sub_id="s1", status="active",
                                 type_="event-notification", events=3,
                                 timestamp=event["timestamp"], content="full-resource",
                                 event=event)
    focus = bundle["entry"][1]
    assert focus == {"fullUrl": "http://hub.test/fhir/CarePlan/p1",
                     "request": {"method": "DELETE", "url": "CarePlan/p1"},
                     "response": {"status": "204 No Content", "etag": 'W/"4"'}}
