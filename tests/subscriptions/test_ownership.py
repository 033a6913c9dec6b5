"""A client sees and changes only the Subscriptions it created (issue 11): another
client's answer as a missing one (404, absent from searches and histories), its update
is refused and its delete changes nothing; the owner keeps the history of a deleted one."""

from __future__ import annotations

from subscriptions.conftest import criteria_subscription

OTHER = "system/Subscription.cruds system/Patient.rs"


def _issue_code(resp) -> str:
    return resp.get_json()["issue"][0]["code"]


def _ids(bundle: dict) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry") or [] if "resource" in e}


def test_another_clients_subscription_is_as_absent(hub, subscriber):
    mine = hub.post("/fhir/Subscription", criteria_subscription(
        hub.hooks + "/a", "Patient?gender=female")).get_json()
    sid = mine["id"]
    other = hub.headers(OTHER)
    theirs = hub.post("/fhir/Subscription", criteria_subscription(
        hub.hooks + "/b", "Patient?gender=male"), headers=other)
    assert theirs.status_code == 201, theirs.get_json()

    missing = hub.get("/fhir/Subscription/no-such-subscription", headers=other)
    for path in (f"/fhir/Subscription/{sid}", f"/fhir/Subscription/{sid}/_history",
                 f"/fhir/Subscription/{sid}/_history/1", f"/fhir/Subscription/{sid}/$status"):
        resp = hub.get(path, headers=other)
        assert resp.status_code == 404 == missing.status_code, path
        assert _issue_code(resp) == _issue_code(missing), path
    for path in ("/fhir/Subscription", "/fhir/Subscription/_history", "/fhir/_history",
                 "/fhir?_type=Subscription", f"/fhir/Subscription?_id={sid}"):
        resp = hub.get(path, headers=other)
        assert resp.status_code == 200, (path, resp.get_json())
        assert sid not in _ids(resp.get_json()), path
    assert _ids(hub.get("/fhir/Subscription", headers=other).get_json()) == {
        theirs.get_json()["id"]}
    count = hub.get("/fhir/Subscription?_summary=count", headers=other).get_json()
    assert count["total"] == 1

    hijack = {**mine, "channel": {"type": "rest-hook", "endpoint": hub.hooks + "/b"}}
    resp = hub.put(f"/fhir/Subscription/{sid}", hijack, headers=other)
    assert resp.status_code == 404, resp.get_json()
    assert hub.client.delete(f"/fhir/Subscription/{sid}", headers=other).status_code == 204
    kept = hub.get(f"/fhir/Subscription/{sid}")
    assert kept.status_code == 200
    assert kept.get_json()["channel"]["endpoint"] == hub.hooks + "/a"
    assert kept.get_json()["meta"]["versionId"] == "1"
    assert hub.get("/fhir/Subscription").get_json()["total"] == 1  # the owner: its own


def test_the_owner_keeps_a_deleted_subscription_others_cannot_take_its_id(hub, subscriber):
    app, _ = subscriber
    sid = hub.post("/fhir/Subscription", criteria_subscription(
        hub.hooks, "Patient?gender=female")).get_json()["id"]
    assert hub.client.delete(f"/fhir/Subscription/{sid}", headers=hub.headers()).status_code \
        == 204
    assert hub.get(f"/fhir/Subscription/{sid}").status_code == 410
    history = hub.get(f"/fhir/Subscription/{sid}/_history").get_json()
    assert history["total"] == 2
    other = hub.headers(OTHER)
    assert hub.get(f"/fhir/Subscription/{sid}", headers=other).status_code == 404
    retake = criteria_subscription(hub.hooks + "/b", "Patient?gender=female")
    resp = hub.put(f"/fhir/Subscription/{sid}", {**retake, "id": sid}, headers=other)
    assert resp.status_code == 404, resp.get_json()
    # a deleted subscription notifies nothing; created again by its owner, it does
    hub.post("/fhir/Patient", {"resourceType": "Patient", "gender": "female"})
    hub.drain()
    assert app.received == []
    again = criteria_subscription(hub.hooks + "/again", "Patient?gender=female")
    resp = hub.put(f"/fhir/Subscription/{sid}", {**again, "id": sid})
    assert resp.status_code == 201, resp.get_json()
    hub.post("/fhir/Patient", {"resourceType": "Patient", "gender": "female"})
    hub.drain()
    assert [r.path for r in app.received] == ["/hooks/again"]
