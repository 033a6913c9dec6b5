"""Batches: one statement claims many rows, one transaction records their outcomes.

Order per (partner, case) holds under batch claims by two workers at once; a batch never
outlives its lease (rows whose lease is too short for a delivery are given back); a row
whose lease another worker took is not recorded by the first one.
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest

from hub.sync import ledger, outbox
from hub.sync.registry import Adapters
from hub.sync.worker import Worker

from .conftest import FAST, loopback_partner
from .partner_server import FhirPartner, PartnerServer
from .test_outbox import add, ids

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.integration


class RecordingPartner(FhirPartner):
    """The loopback partner, also logging each stored version (resource id, title) and
    the client port of each request (one port per TCP connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: list[tuple[str, str]] = []
        self.ports: list[str] = []

    def __call__(self, environ, start_response):
        self.ports.append(environ.get("REMOTE_PORT", ""))
        return super().__call__(environ, start_response)

    def _store(self, resource: dict) -> dict:
        self.stored.append((resource["id"], resource.get("title", "")))
        return super()._store(resource)


def plan(local_id: str, revision: int) -> dict:
    return {"resourceType": "CarePlan", "id": local_id, "status": "active", "intent": "plan",
            "title": f"revision {revision}", "subject": {"reference": "Patient/p1"}}


def test_a_batch_takes_the_first_row_of_each_case(db):
    first = [add(db, f"case-{c}", f"r{c}-0") for c in range(3)]
    for c in range(3):
        add(db, f"case-{c}", f"r{c}-1")
    batch = outbox.claim(db, "w", limit=50, now=T0)
    assert ids(batch) == first  # the second rows wait behind the first ones
    assert {d.claimed_until for d in batch} == {T0 + timedelta(seconds=300)}
    assert outbox.claim(db, "w2", limit=50, now=T0) == []
    kept = outbox.finish(db, "w", [outbox.Done(d, remote_id=f"x{d.id}", remote_version="1")
                                   for d in batch], now=T0)
    assert kept == set(first)
    assert len(outbox.claim(db, "w2", limit=50, now=T0)) == 3


@pytest.mark.parametrize("pipelined, concurrency", [(False, 2), (True, 1), (True, 3)])
def test_two_batch_workers_keep_the_order_of_each_case(db, pipelined, concurrency):
    """Two workers at once, each calling ``run_once`` or the steps of its pipeline (rows
    kept in flight while it records and claims, ``hub.sync.pipeline``)."""
    partner = RecordingPartner()
    server = PartnerServer(partner).start()
    registry = Adapters({"st-marys": loopback_partner(server)})
    n_cases, revisions = 7 if pipelined else 6, 5 if pipelined else 4
    try:
        for revision in range(revisions):
            for c in range(n_cases):
                with db.sessions() as session:
                    outbox.enqueue(session, partner_id="st-marys", case_id=f"case-{c}",
                                   resource_type="CarePlan", resource_id=f"cp-{c}",
                                   operation="create" if revision == 0 else "update",
                                   payload=plan(f"cp-{c}", revision))
                    session.commit()
        workers = [Worker(db, registry, f"w{i}", policy=FAST, lease_seconds=30,
                          concurrency=concurrency, batch=4) for i in range(2)]
        errors: list[BaseException] = []

        def run(worker: Worker) -> None:
            try:
                deadline = time.monotonic() + 30
                with worker.pipeline() if pipelined else nullcontext() as pipeline:
                    step = pipeline.step if pipeline is not None else worker.run_once
                    while time.monotonic() < deadline:
                        if not step():
                            with db.sessions() as session:
                                if outbox.counts(session)["done"] == n_cases * revisions:
                                    return
                            time.sleep(0.01)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        for w in workers:
            w.close()
        assert not errors
        with db.sessions() as session:
            counts = outbox.counts(session)
            done = outbox.list_deliveries(session, status="done", limit=100)
        assert counts["done"] == n_cases * revisions and counts["dead"] == 0
        assert {d.claimed_by for d in done} == {None}
        # each copy went through its revisions in order, each update on the version before
        by_remote: dict[str, list[str]] = {}
        for remote_id, title in partner.stored:
            by_remote.setdefault(remote_id, []).append(title)
        assert len(by_remote) == n_cases
        for titles in by_remote.values():
            assert titles == [f"revision {r}" for r in range(revisions)]
        assert partner.count("PUT", 412) == 0
        with db.engine.connect() as conn:
            links = [ledger.get_link(conn, "CarePlan", f"cp-{c}", "st-marys")
                     for c in range(n_cases)]
        # each link names the partner's copy and the version of the last revision
        assert sorted(link.remote_id for link in links) == sorted(by_remote)
        assert {link.remote_version for link in links} == {str(revisions)}
    finally:
        registry.close()
        server.stop()


class SteppingClock:
    """Each reading is ``step`` later than the one before (a slow partner, without
    waiting): the worker reads the clock to claim, before each delivery, and to record."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self.now, self.step = start - step, step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def test_a_batch_gives_back_the_rows_its_lease_cannot_cover(db, partner_server):
    registry = Adapters({"st-marys": loopback_partner(partner_server)})
    rows = [add(db, f"case-{c}", f"r{c}") for c in range(3)]
    # lease 60 s: a delivery may take 30 s; each clock reading is 20 s later
    worker = Worker(db, registry, "slow", policy=FAST, lease_seconds=60, concurrency=1,
                    batch=3, clock=SteppingClock(T0, timedelta(seconds=20)))
    try:
        # claimed at T0 (until T0+60); first row at T0+20 (30 s left: delivered), second
        # at T0+40 and third at T0+60 (too little left: given back, not attempted)
        assert worker.run_once() == 1
    finally:
        worker.close()
        registry.close()
    with db.sessions() as session:
        first, *others = [outbox.get_delivery(session, r) for r in rows]
    assert first.status == "done"
    for row in others:
        assert (row.status, row.attempts, row.claimed_by, row.claimed_until) == \
            ("pending", 0, None, None)
    again = outbox.claim(db, "w2", limit=10, now=T0 + timedelta(seconds=61))
    assert ids(again) == rows[1:] and {d.attempts for d in again} == {1}


def test_a_batch_whose_lease_was_taken_records_nothing(db):
    rows = [add(db, f"case-{c}", f"r{c}") for c in range(2)]
    mine = outbox.claim(db, "killed", limit=10, lease_seconds=60, now=T0)
    theirs = outbox.claim(db, "w2", limit=1, lease_seconds=60, now=T0 + timedelta(seconds=61))
    assert ids(theirs) == rows[:1]
    # the first worker comes back: only the row nobody took is still its own
    kept = outbox.finish(db, "killed", [
        outbox.Done(mine[0], remote_id="late", remote_version="1"),
        outbox.Failed(mine[1], "boom", http_status=500, retry_in=5.0)],
        now=T0 + timedelta(seconds=62))
    assert kept == {rows[1]}
    assert outbox.release(db, "killed", mine) == 0  # nothing of it is in flight now
    with db.sessions() as session:
        taken, failed = (outbox.get_delivery(session, r) for r in rows)
    assert (taken.status, taken.claimed_by, taken.attempts) == ("in-flight", "w2", 2)
    assert (failed.status, failed.last_error, failed.claimed_by) == ("pending", "boom", None)
    with db.engine.connect() as conn:
        assert ledger.get_link(conn, "CarePlan", "r0", "st-marys") is None  # w2's to write
        assert ledger.get_link(conn, "CarePlan", "r1", "st-marys").last_error == "boom"


def test_a_batch_of_one_partner(db):
    a = add(db, "case-a", "a", partner_id="x")
    add(db, "case-b", "b", partner_id="y")
    assert ids(outbox.claim(db, "w", limit=10, now=T0, partner_id="x")) == [a]


class KeepAliveServer:
    """``app`` served by waitress on 127.0.0.1 in a thread: waitress keeps HTTP/1.1
    connections open (werkzeug's server, the other partners', closes each one).

    The serving thread alone closes the sockets, once its loop has seen ``stop`` (woken by
    the server's trigger): closing them from another thread while its ``select`` waits on
    them fails it with "Bad file descriptor"."""

    def __init__(self, app) -> None:
        from waitress.server import create_server

        self._map: dict = {}
        self._stopping = threading.Event()
        self._server = create_server(app, map=self._map, host="127.0.0.1", port=0, threads=4)
        self.base_url = f"http://127.0.0.1:{self._server.effective_port}{app.base}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from waitress import wasyncore

        while not self._stopping.is_set():
            wasyncore.loop(timeout=1.0, map=self._map, count=1)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        wasyncore.close_all(self._map)

    def stop(self) -> None:
        self._stopping.set()
        self._server.pull_trigger()  # wakes the loop now
        self._thread.join(10)
        assert not self._thread.is_alive()


def test_deliveries_to_a_partner_reuse_its_keep_alive_connections(db):
    partner = RecordingPartner()
    server = KeepAliveServer(partner)
    registry = Adapters({"st-marys": loopback_partner(server)})
    rows = [add(db, f"case-{c}", f"r{c}") for c in range(12)]
    worker = Worker(db, registry, "w", policy=FAST, lease_seconds=30, concurrency=2, batch=12)
    try:
        assert worker.run_once() == 12
    finally:
        worker.close()
        registry.close()
        server.stop()
    with db.sessions() as session:
        assert {outbox.get_delivery(session, r).status for r in rows} == {"done"}
    # one session per partner: 12 calls over at most one connection per delivery thread
    assert len(partner.ports) == 12 and len(set(partner.ports)) <= 2


def test_two_outcomes_for_one_link_in_a_batch_are_both_kept(db):
    # a resource two cases point at: one case's row goes through, the other's fails
    ids_ = [add(db, f"case-{c}", "shared") for c in range(2)]
    batch = outbox.claim(db, "w", limit=10, now=T0)
    assert ids(batch) == ids_
    kept = outbox.finish(db, "w", [
        outbox.Done(batch[0], remote_id="remote-9", remote_version="4", sent_hash="h"),
        outbox.Failed(batch[1], "422 refused", http_status=422, retry_in=None)], now=T0)
    assert kept == set(ids_)
    with db.engine.connect() as conn:
        link = ledger.get_link(conn, "CarePlan", "shared", "st-marys")
    assert (link.remote_id, link.remote_version, link.sent_hash, link.last_ack_at,
            link.last_error) == ("remote-9", "4", "h", T0, "422 refused")
