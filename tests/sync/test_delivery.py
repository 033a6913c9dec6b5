"""deliver + Worker against a loopback FHIR partner: idempotent effects, the ledger, retries,
dead letters, 412 conflicts and replay (also through ``hub deliveries``)."""

from __future__ import annotations

import copy
import json
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner

from hub.commands.deliveries import command as deliveries_cli
from hub.config import Settings
from hub.store.sync_tables import sync_links
from hub.sync import ledger, outbox
from hub.sync.deliver import deliver
from hub.sync.registry import DEFAULT_IDENTIFIER_SYSTEM, Adapters
from hub.sync.retry import RetryPolicy
from hub.sync.worker import Worker, run_once

from .conftest import FAST
from .partner_server import Fault

HUB_ID = DEFAULT_IDENTIFIER_SYSTEM


def careplan(local_id: str, title: str = "plan") -> dict:
    return {"resourceType": "CarePlan", "id": local_id, "status": "active", "intent": "plan",
            "title": title, "subject": {"reference": "Patient/p1"},
            "meta": {"versionId": "5", "lastUpdated": "2026-11-23T10:00:00Z"}}


def enqueue(db, local_id: str, operation: str = "create", *, case_id: str = "case-1",
            partner_id: str = "st-marys", payload: dict | None = None, **kw) -> int:
    with db.sessions() as session:
        row_id = outbox.enqueue(session, partner_id=partner_id, case_id=case_id,
                                resource_type=kw.pop("resource_type", "CarePlan"),
                                resource_id=local_id, operation=operation,
                                payload=payload if payload is not None else careplan(local_id),
                                **kw)
        session.commit()
    return row_id


def row(db, row_id: int) -> outbox.Delivery:
    with db.sessions() as session:
        return outbox.get_delivery(session, row_id)


def link(db, local_id: str, partner_id: str = "st-marys") -> ledger.Link | None:
    with db.engine.connect() as conn:
        return ledger.get_link(conn, "CarePlan", local_id, partner_id)


def drain(worker: Worker, until, timeout: float = 8.0) -> None:
    """Run the worker until ``until()`` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "worker did not get there in time"
        if not worker.run_once():
            time.sleep(0.01)


@pytest.fixture
def worker(db, adapters):
    w = Worker(db, adapters, "w-test", policy=FAST, lease_seconds=30, concurrency=2)
    yield w
    w.close()


def test_create_is_conditional_on_the_hub_identifier(db, worker, partner_app):
    row_id = enqueue(db, "cp-1")
    assert worker.run_once() == 1
    done = row(db, row_id)
    assert (done.status, done.attempts, done.last_status) == ("done", 1, 201)
    [stored] = partner_app.all("CarePlan")
    assert stored["identifier"] == [{"system": HUB_ID, "value": "CarePlan/cp-1"}]
    assert stored["id"] != "cp-1"  # the partner chose its id
    assert stored["meta"]["versionId"] == "1"  # our meta was not sent
    lk = link(db, "cp-1")
    assert (lk.remote_id, lk.remote_version, lk.last_error) == (stored["id"], "1", None)
    assert lk.last_ack_at is not None


def test_a_delivery_leaves_the_rows_payload_as_it_was(db, adapters, partner_app):
    # the request body is a shallow copy of the payload with our identifier in a new list:
    # the payload (a retry, or a create again after a loss, sends it again) is unchanged
    payload = careplan("cp-1") | {"identifier": [{"system": "urn:x", "value": "7"}]}
    enqueue(db, "cp-1", payload=payload)
    [claimed] = outbox.claim(db, "w", limit=1)
    before = copy.deepcopy(claimed.payload)
    assert deliver(claimed, adapters).ok
    assert claimed.payload == before
    [stored] = partner_app.all("CarePlan")
    assert stored["identifier"] == [{"system": "urn:x", "value": "7"},
                                    {"system": HUB_ID, "value": "CarePlan/cp-1"}]


def test_a_replayed_create_finds_the_first_copy(db, worker, partner_app):
    first = enqueue(db, "cp-1")
    worker.run_once()
    second = enqueue(db, "cp-1")  # at-least-once: the same create delivered again
    worker.run_once()
    assert row(db, first).status == row(db, second).status == "done"
    assert len(partner_app.all("CarePlan")) == 1
    assert row(db, second).last_status == 200


def test_update_uses_if_match_from_the_ledger(db, worker, partner_app):
    enqueue(db, "cp-1")
    update = enqueue(db, "cp-1", "update", payload=careplan("cp-1", "revised"))
    drain(worker, lambda: row(db, update).status == "done")
    assert link(db, "cp-1").remote_version == "2"
    puts = [(m, s) for m, _p, s in partner_app.requests if m == "PUT"]
    assert puts == [("PUT", 200)]
    [stored] = partner_app.all("CarePlan")
    assert (stored["title"], stored["meta"]["versionId"]) == ("revised", "2")
    assert stored["identifier"] == [{"system": HUB_ID, "value": "CarePlan/cp-1"}]


def test_412_records_the_conflict_and_dead_letters(db, worker, partner_app):
    enqueue(db, "cp-1")
    worker.run_once()
    [stored] = partner_app.all("CarePlan")
    partner_app.put_resource(dict(stored, title="changed at the hospital"))  # version 2
    row_id = enqueue(db, "cp-1", "update", payload=careplan("cp-1", "ours"))
    worker.run_once()
    dead = row(db, row_id)
    assert (dead.status, dead.last_status, dead.attempts) == ("dead", 412, 1)
    assert "412" in dead.last_error and "OperationOutcome" in dead.last_error
    lk = link(db, "cp-1")
    assert (lk.remote_version, lk.conflict_version) == ("1", "2")
    assert lk.conflict_at is not None and "412" in lk.last_error
    assert partner_app.all("CarePlan")[0]["title"] == "changed at the hospital"  # untouched
    # a plain replay conflicts again: never overwrite blindly
    with db.sessions() as session:
        outbox.replay(session, [row_id])
        session.commit()
    worker.run_once()
    assert row(db, row_id).status == "dead"
    # a human looked at version 2 and accepts it as the base of our update
    with db.sessions() as session:
        outbox.replay(session, [row_id], accept_remote_version=True)
        session.commit()
    worker.run_once()
    assert row(db, row_id).status == "done"
    assert partner_app.all("CarePlan")[0]["title"] == "ours"
    assert (link(db, "cp-1").remote_version, link(db, "cp-1").conflict_version) == ("3", None)


def test_put_by_id_creates_then_updates_with_if_match(db, worker, partner_app):
    enqueue(db, "cp-9", "put")
    worker.run_once()
    enqueue(db, "cp-9", "put", payload=careplan("cp-9", "second"))
    worker.run_once()
    [stored] = partner_app.all("CarePlan")
    assert (stored["id"], stored["title"], stored["meta"]["versionId"]) == ("cp-9", "second", "2")
    assert link(db, "cp-9").remote_id == "cp-9"


def test_update_without_a_link_is_dead_letters_not_dropped(db, worker):
    row_id = enqueue(db, "never-created", "update")
    worker.run_once()
    dead = row(db, row_id)
    assert dead.status == "dead" and "no link" in dead.last_error


def test_burst_of_500_is_retried_until_delivered(db, worker, partner_app):
    partner_app.inject(Fault(500), Fault(502), Fault(503))
    row_id = enqueue(db, "cp-1")
    drain(worker, lambda: row(db, row_id).status == "done")
    assert row(db, row_id).attempts == 4
    assert len(partner_app.all("CarePlan")) == 1


def test_rejection_is_dead_at_once_with_the_operation_outcome(db, worker, partner_app):
    partner_app.inject(Fault(422))
    row_id = enqueue(db, "cp-1")
    worker.run_once()
    dead = row(db, row_id)
    assert (dead.status, dead.attempts, dead.last_status) == ("dead", 1, 422)
    outcome = json.loads(dead.last_error.split("OperationOutcome: ", 1)[1])
    assert outcome["issue"][0]["diagnostics"] == "injected 422"
    assert dead.response == outcome


def test_attempt_limit_dead_letters(db, adapters, partner_app):
    partner_app.inject(*[Fault(500)] * 3)
    row_id = enqueue(db, "cp-1")
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005)
    w = Worker(db, adapters, "w", policy=policy, concurrency=1)
    drain(w, lambda: row(db, row_id).status == "dead")
    assert row(db, row_id).attempts == 3
    assert "500" in row(db, row_id).last_error
    w.close()


def test_retry_after_sets_the_next_attempt(db, worker, partner_app):
    partner_app.inject(Fault(429, headers={"Retry-After": "30"}))
    row_id = enqueue(db, "cp-1")
    before = outbox.utcnow()
    worker.run_once()
    waiting = row(db, row_id)
    assert waiting.status == "pending" and waiting.last_status == 429
    assert waiting.next_attempt_at >= before + timedelta(seconds=30)
    assert worker.run_once() == 0


def test_unknown_partner_is_retried_then_dead(db, adapters):
    row_id = enqueue(db, "cp-1", partner_id="gone")
    policy = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002)
    w = Worker(db, adapters, "w", policy=policy, concurrency=1)
    drain(w, lambda: row(db, row_id).status == "dead")
    assert "unknown partner gone" in row(db, row_id).last_error
    w.close()


def test_submit_keeps_the_partners_answer(db, worker):
    claim = {"resourceType": "Bundle", "type": "collection",
             "identifier": [{"system": "urn:x", "value": "pas-1"}]}
    row_id = enqueue(db, "pas-1", "submit", resource_type="Claim", payload=claim)
    worker.run_once()
    done = row(db, row_id)
    assert done.status == "done"
    assert done.response["resourceType"] == "ClaimResponse"


def test_one_case_stays_in_order_through_retries(db, worker, partner_app):
    partner_app.inject(Fault(500), Fault(500))
    first = enqueue(db, "cp-1")
    second = enqueue(db, "cp-2")
    other_case = enqueue(db, "cp-3", case_id="case-2")
    drain(worker, lambda: all(row(db, i).status == "done" for i in (first, second, other_case)))
    posts = [p for m, p, s in partner_app.requests if m == "POST" and s in (200, 201)]
    titles = [r["identifier"][0]["value"] for r in partner_app.all("CarePlan")]
    assert sorted(titles) == ["CarePlan/cp-1", "CarePlan/cp-2", "CarePlan/cp-3"]
    assert len(posts) == 3
    # cp-2 was created after cp-1 (partner ids are sequential)
    by_value = {r["identifier"][0]["value"]: int(r["id"][1:]) for r in partner_app.all("CarePlan")}
    assert by_value["CarePlan/cp-1"] < by_value["CarePlan/cp-2"]


def test_run_once_function(db, adapters):
    enqueue(db, "cp-1")
    assert run_once(db, adapters, "w-fn", policy=FAST) == 1


# -- hub deliveries -------------------------------------------------------------------------

def test_cli_lists_and_replays_dead_letters(db, worker, partner_app, database_url):
    partner_app.inject(Fault(400))
    row_id = enqueue(db, "cp-1")
    worker.run_once()
    runner = CliRunner()
    settings = Settings(database_url=database_url)
    listed = runner.invoke(deliveries_cli, ["list", "--status", "dead", "--json"], obj=settings)
    assert listed.exit_code == 0, listed.output
    [dead] = json.loads(listed.output)
    assert (dead["id"], dead["status"], dead["last_status"]) == (row_id, "dead", 400)
    text = runner.invoke(deliveries_cli, ["list"], obj=settings).output
    assert f"#{row_id}" in text and "dead" in text and "http=400" in text
    retried = runner.invoke(deliveries_cli, ["retry", "--all-dead"], obj=settings)
    assert retried.exit_code == 0 and f"#{row_id}" in retried.output
    assert row(db, row_id).status == "pending"
    worker.run_once()
    assert row(db, row_id).status == "done"
    again = runner.invoke(deliveries_cli, ["retry", str(row_id)], obj=settings)
    assert again.exit_code != 0 and "not dead" in again.output
    usage = runner.invoke(deliveries_cli, ["retry"], obj=settings)
    assert usage.exit_code != 0


def test_in_process_worker_thread(app, partner_server, partner_app, tmp_path):
    from hub.store.db import Database
    from hub.sync.worker import start_worker_thread

    partners = tmp_path / "partners.json"
    partners.write_text(json.dumps({"partners": [{
        "id": "st-marys", "kind": "hospital", "base_url": partner_server.base_url,
        "timeouts": {"connect": 1, "read": 2}}]}))
    runtime = app.extensions["hub.runtime"]
    runtime.use_adapters(Adapters(partners_file=str(partners)))  # the runtime's registry
    assert start_worker_thread(app) is None  # settings.sync_worker is off in tests
    app.extensions["hub.settings"].sync_worker = True
    handle = start_worker_thread(app, policy=FAST, idle_seconds=0.02)
    db: Database = app.extensions["hub.db"]
    try:
        assert runtime.sync_worker is handle and handle.alive
        row_id = enqueue(db, "cp-1")
        deadline = time.monotonic() + 5
        while row(db, row_id).status != "done":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        handle.stop(5)
        handle.worker.adapters.close()
    assert not handle.alive
    assert len(partner_app.all("CarePlan")) == 1
    with db.engine.connect() as conn:
        assert conn.execute(sync_links.select()).first().partner_id == "st-marys"


def test_registry_overrides_are_used(db, adapters):
    calls = []

    class FakeAdapter:
        def operation(self, resource_type, name, body):
            calls.append((resource_type, name))
            from hub.adapters.fhir_rest import FhirResponse

            return FhirResponse(status=200, resource={"resourceType": "Bundle", "id": "b"})

    registry = Adapters({}, overrides={"fake": FakeAdapter()})
    enqueue(db, "e-1", "submit", partner_id="fake", resource_type="CoverageEligibilityRequest",
            payload={"resourceType": "CoverageEligibilityRequest"})
    run_once(db, registry, "w", policy=FAST)
    assert calls == [("CoverageEligibilityRequest", "$submit")]
