"""The README's FHIR-only walk-through, request by request (docs/walkthrough/): open a case
by transaction, subscribe, change the plan, receive the notification, read $everything."""

from __future__ import annotations

import json
from pathlib import Path

WALK = Path(__file__).resolve().parents[2] / "docs" / "walkthrough"


def test_the_readme_walk_through(hub, subscriber):
    app, _ = subscriber
    subscription = json.loads((WALK / "subscription.json").read_text())
    subscription["channel"]["endpoint"] = hub.hooks + "/plans"  # the listener's port
    resp = hub.post("/fhir/Subscription", subscription)
    assert resp.status_code == 201, resp.get_json()
    sub = resp.get_json()
    hub.drain()  # the handshake
    assert app.received[0].headers["authorization"] == "Bearer listener-secret"
    assert hub.get(f"/fhir/Subscription/{sub['id']}").get_json()["status"] == "active"

    opened = hub.post("/fhir", json.loads((WALK / "discharge.json").read_text()))
    assert opened.status_code == 200, opened.get_json()
    locations = [e["response"]["location"].split("/_history")[0]
                 for e in opened.get_json()["entry"]]
    plan_ref = next(loc for loc in locations if loc.startswith("CarePlan/"))
    episode_ref = next(loc for loc in locations if loc.startswith("EpisodeOfCare/"))
    cases = hub.client.get("/api/cases", headers=hub.auth_headers())
    assert cases.status_code == 200 and len(cases.get_json()["items"]) == 1

    plan = hub.get(f"/fhir/{plan_ref}")
    body = plan.get_json()
    body["description"] = "Rehabilitation at home, then outpatient physiotherapy"
    resp = hub.client.put(f"/fhir/{plan_ref}", data=json.dumps(body), headers={
        **hub.headers(), "If-Match": plan.headers["ETag"]})
    assert resp.status_code == 200, resp.get_json()
    hub.drain()
    events = app.bundles("event-notification")
    assert len(events) == 1
    focus = events[0]["entry"][1]
    assert focus["fullUrl"] == f"http://hub.test/fhir/{plan_ref}"
    assert focus["resource"]["description"].endswith("outpatient physiotherapy")

    everything = hub.get(f"/fhir/{episode_ref}/$everything").get_json()
    types = {e["resource"]["resourceType"] for e in everything["entry"]}
    assert {"EpisodeOfCare", "Patient", "CarePlan", "Goal", "CareTeam", "Condition",
            "Coverage", "Encounter", "ServiceRequest", "Task"} <= types
