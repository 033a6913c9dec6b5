"""Integration over real HTTP on loopback: a worker thread delivers to a partner that
refuses connections, answers bursts of 5xx, throttles with Retry-After and answers too
late; in the end the partner holds exactly the expected resources, once each."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from hub.sync import ledger, outbox
from hub.sync.registry import DEFAULT_IDENTIFIER_SYSTEM, Adapters
from hub.sync.retry import RetryPolicy
from hub.sync.worker import Worker, WorkerThread

from .conftest import loopback_partner
from .partner_server import Fault

pytestmark = pytest.mark.integration

CASES, PLANS_PER_CASE = 4, 3


def _enqueue_all(db) -> dict[str, str]:
    """Per case: creates of 3 CarePlans, then an update of the first; expected titles."""
    expected = {}
    with db.sessions() as session:
        for c in range(CASES):
            for p in range(PLANS_PER_CASE):
                local = f"cp-{c}-{p}"
                outbox.enqueue(session, partner_id="st-marys", case_id=f"case-{c}",
                               resource_type="CarePlan", resource_id=local, operation="create",
                               payload={"resourceType": "CarePlan", "status": "active",
                                        "intent": "plan", "title": "v1",
                                        "subject": {"reference": f"Patient/{c}"}})
                expected[local] = "v1"
            local = f"cp-{c}-0"
            outbox.enqueue(session, partner_id="st-marys", case_id=f"case-{c}",
                           resource_type="CarePlan", resource_id=local, operation="update",
                           payload={"resourceType": "CarePlan", "status": "active",
                                    "intent": "plan", "title": "v2",
                                    "subject": {"reference": f"Patient/{c}"}})
            expected[local] = "v2"
        session.commit()
    return expected


def _rows(db) -> list[outbox.Delivery]:
    with db.sessions() as session:
        return outbox.list_deliveries(session, limit=1000)


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_faults_end_with_exactly_the_expected_resources(db, partner_server, partner_app):
    # a short read timeout, so the "slow" fault outlasts it
    registry = Adapters({"st-marys": loopback_partner(partner_server, read_timeout=0.3)})
    policy = RetryPolicy(max_attempts=50, base_delay=0.01, max_delay=0.05)
    worker = Worker(db, registry, "loopback", policy=policy, lease_seconds=10, concurrency=3)
    expected = _enqueue_all(db)
    partner_server.stop()  # connection refused until it comes back
    thread = WorkerThread(worker, idle_seconds=0.02, error_seconds=0.05).start()
    try:
        _wait(lambda: any(r.attempts >= 2 and "failed" in (r.last_error or "")
                          for r in _rows(db)), 5, "connection-refused retries")
        partner_app.inject(Fault(500), Fault(502), Fault(500),
                           Fault(429, headers={"Retry-After": "1"}),
                           Fault(slow=0.8, method="POST"), Fault(503), Fault(slow=0.8))
        partner_server.start()
        _wait(lambda: all(r.status == "done" for r in _rows(db)), 20, "every delivery done")
    finally:
        thread.stop(10)
        registry.close()

    rows = _rows(db)
    assert Counter(r.status for r in rows) == {"done": CASES * (PLANS_PER_CASE + 1)}
    assert not partner_app.faults  # every fault was met
    assert max(r.attempts for r in rows) > 1
    stored = partner_app.all("CarePlan")
    by_local = Counter(i["value"] for r in stored for i in r["identifier"]
                       if i["system"] == DEFAULT_IDENTIFIER_SYSTEM)
    assert by_local == Counter({f"CarePlan/{local}": 1 for local in expected})  # no dup, none missing
    titles = {i["value"].split("/")[1]: r["title"] for r in stored for i in r["identifier"]}
    assert titles == expected
    # the slow create was stored by the partner; its retry found it (200), not a copy
    statuses = Counter(status for status, _cond in partner_app.creates)
    assert statuses[201] == CASES * PLANS_PER_CASE and statuses[200] >= 1
    assert all(cond and cond.startswith("identifier=") for _s, cond in partner_app.creates)
    with db.engine.connect() as conn:
        for local in expected:
            link = ledger.get_link(conn, "CarePlan", local, "st-marys")
            remote = next(r for r in stored if r["id"] == link.remote_id)
            assert link.remote_version == remote["meta"]["versionId"]
