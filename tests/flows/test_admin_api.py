"""``/admin/deliveries``: list, read and replay dead deliveries; scopes and partner clients."""

from __future__ import annotations

import pytest

from hub.sync import outbox
from hub.sync.partners import Partner, Timeouts
from hub.sync.retry import RetryPolicy

from .flow_world import HubHarness

READ = "system/Delivery.rs"
WRITE = "system/Delivery.rs system/Delivery.u"


@pytest.fixture
def dead(app):
    """Two deliveries dead-lettered against a partner nobody listens for, one done."""
    partner = Partner(id="gone", kind="hospital", base_url="http://127.0.0.1:9/fhir",
                      organization="Organization/gone", receives=("CarePlan",),
                      timeouts=Timeouts(connect=0.2, read=0.2))
    harness = HubHarness(app, {"gone": partner})
    harness.worker.policy = RetryPolicy(max_attempts=1)
    with harness.db.sessions() as session:
        for i in range(2):
            outbox.enqueue(session, partner_id="gone", case_id=f"case-{i}",
                           resource_type="CarePlan", resource_id=f"cp-{i}", operation="create",
                           payload={"resourceType": "CarePlan", "id": f"cp-{i}",
                                    "status": "active", "intent": "plan",
                                    "subject": {"display": "secret name"}})
        session.commit()
    harness.drain()
    yield harness
    harness.close()


def test_list_get_and_replay(client, auth_headers, dead):
    rows = client.get("/admin/deliveries?status=dead&partner=gone",
                      headers=auth_headers(READ))
    assert rows.status_code == 200
    listed = rows.get_json()
    assert [d["status"] for d in listed] == ["dead", "dead"]
    assert all("payload" not in d and "response" not in d for d in listed)
    assert "secret name" not in rows.get_data(as_text=True)
    assert listed[0]["last_error"]
    assert client.get("/admin/deliveries?partner=other",
                      headers=auth_headers(READ)).get_json() == []

    first = listed[0]["id"]
    one = client.get(f"/admin/deliveries/{first}?include=payload", headers=auth_headers(READ))
    assert one.status_code == 200 and one.get_json()["payload"]["id"] == "cp-0"
    assert "payload" not in client.get(f"/admin/deliveries/{first}",
                                       headers=auth_headers(READ)).get_json()
    assert client.get("/admin/deliveries/999999", headers=auth_headers(READ)).status_code == 404

    resp = client.post(f"/admin/deliveries/{first}/retry", headers=auth_headers(WRITE))
    assert resp.status_code == 200 and resp.get_json() == {"replayed": [first]}
    again = client.get(f"/admin/deliveries/{first}", headers=auth_headers(READ)).get_json()
    assert (again["status"], again["attempts"]) == ("pending", 0)
    # only dead deliveries are replayed
    assert client.post(f"/admin/deliveries/{first}/retry",
                       headers=auth_headers(WRITE)).status_code == 409

    assert client.post("/admin/deliveries/retry", headers=auth_headers(WRITE)).status_code == 400
    resp = client.post("/admin/deliveries/retry?all_dead=true", headers=auth_headers(WRITE))
    assert resp.status_code == 200 and resp.get_json() == {"replayed": [listed[1]["id"]]}
    statuses = [d["status"] for d in client.get("/admin/deliveries?partner=gone",
                                                headers=auth_headers(READ)).get_json()]
    assert statuses == ["pending", "pending"]


def test_bad_filters_are_refused(client, auth_headers, dead):
    assert client.get("/admin/deliveries?status=lost",
                      headers=auth_headers(READ)).status_code == 400
    assert client.get("/admin/deliveries?limit=0", headers=auth_headers(READ)).status_code == 400


def test_tokens_and_scopes(client, auth_headers, dead):
    assert client.get("/admin/deliveries").status_code == 401
    assert client.post("/admin/deliveries/retry?all_dead=true").status_code == 401
    assert client.get("/admin/deliveries",
                      headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    other = auth_headers("system/Task.rs")
    assert client.get("/admin/deliveries", headers=other).status_code == 403
    read_only = auth_headers(READ)
    [row] = client.get("/admin/deliveries?limit=1", headers=read_only).get_json()
    assert client.post(f"/admin/deliveries/{row['id']}/retry",
                       headers=read_only).status_code == 403
    assert client.post("/admin/deliveries/retry?all_dead=true",
                       headers=read_only).status_code == 403
    partner = auth_headers(WRITE, organization="Organization/gone")
    assert client.get("/admin/deliveries", headers=partner).status_code == 403
    assert client.post("/admin/deliveries/retry?all_dead=true",
                       headers=partner).status_code == 403
    # nothing was replayed by the refused calls
    dead_now = client.get("/admin/deliveries?status=dead", headers=read_only).get_json()
    assert len(dead_now) == 2
