"""R4 criteria-based Subscriptions: a matching write notifies, a non-matching one does not."""

from __future__ import annotations

from subscriptions.conftest import criteria_subscription


def _patient(mrn: str, family: str = "Lake") -> dict:
    return {"resourceType": "Patient", "identifier": [
        {"system": "http://hospital.example/mrn", "value": mrn}],
        "name": [{"family": family}], "gender": "female"}


def test_a_matching_write_notifies_and_a_non_matching_one_does_not(hub, subscriber):
    app, _ = subscriber
    resp = hub.post("/fhir/Subscription", criteria_subscription(
        hub.hooks + "/patients", "Patient?gender=female", payload="application/fhir+json",
        headers=["Authorization: Bearer s3cret"]))
    assert resp.status_code == 201, resp.get_json()
    sub = resp.get_json()
    assert sub["status"] == "active"  # R4 criteria-based: no handshake
    assert "header" not in sub["channel"]  # a secret: never returned
    match = hub.post("/fhir/Patient", _patient("SUB-1")).get_json()
    other = _patient("SUB-2")
    other["gender"] = "male"
    assert hub.post("/fhir/Patient", other).status_code == 201
    rows = hub.drain()
    assert [r.status for r in rows] == ["done"]
    assert len(app.received) == 1
    got = app.received[0]
    assert got.method == "PUT" and got.path == f"/hooks/patients/Patient/{match['id']}"
    assert got.headers["authorization"] == "Bearer s3cret"
    assert got.json["id"] == match["id"]
    read = hub.get(f"/fhir/Subscription/{sub['id']}").get_json()
    assert read["status"] == "active" and "header" not in read["channel"]


def test_without_payload_the_notification_is_an_empty_post(hub, subscriber):
    app, _ = subscriber
    assert hub.post("/fhir/Subscription", criteria_subscription(
        hub.hooks, "Patient?identifier=http://hospital.example/mrn|SUB-3")).status_code == 201
    hub.post("/fhir/Patient", _patient("SUB-3"))
    hub.post("/fhir/Patient", _patient("SUB-4"))
    hub.drain()
    assert [(r.method, r.path, r.body) for r in app.received] == [("POST", "/hooks", b"")]
