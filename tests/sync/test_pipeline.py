"""The worker's pipeline: rows stay in flight while outcomes are recorded and more claimed.

One transaction records a step's outcomes and claims the next rows (the next row of a case
just finished included, never one behind a row still in flight); outcomes a failed step
could not record are recorded by the next one; closing the pipeline records every row in
flight. Order per (partner, case) with two pipelining workers at once:
``test_outbox_batch.test_two_batch_workers_keep_the_order_of_each_case``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.sync import ledger, outbox
from hub.sync.worker import Worker

from .conftest import FAST
from .test_outbox import add, ids
from .test_outbox_batch import T0, SteppingClock

pytestmark = pytest.mark.integration


def test_finishing_and_claiming_in_one_transaction(db):
    first = [add(db, f"case-{c}", f"r{c}-0") for c in range(2)]
    second = [add(db, f"case-{c}", f"r{c}-1") for c in range(2)]
    kept, batch = outbox.finish_and_claim(db, "w", [], limit=10, now=T0)
    assert kept == set() and ids(batch) == first
    # case-0's first row is done: its second row is claimed in the same transaction;
    # case-1's first row is still in flight, so its second row stays behind it
    kept, batch = outbox.finish_and_claim(
        db, "w", [outbox.Done(batch[0], remote_id="x0", remote_version="1")], limit=10,
        now=T0)
    assert kept == {first[0]} and ids(batch) == [second[0]]
    with db.engine.connect() as conn:
        assert ledger.get_link(conn, "CarePlan", "r0-0", "st-marys").remote_id == "x0"
    # limit 0 only records
    assert outbox.finish_and_claim(db, "w", [outbox.Done(batch[0], remote_id="x1")],
                                   limit=0, now=T0) == ({second[0]}, [])


def test_a_row_whose_lease_was_taken_is_not_recorded_by_the_step(db):
    rows = [add(db, f"case-{c}", f"r{c}") for c in range(2)]
    _kept, mine = outbox.finish_and_claim(db, "slow", [], limit=10, lease_seconds=60,
                                          now=T0)
    theirs = outbox.claim(db, "w2", limit=1, lease_seconds=60, now=T0 + timedelta(seconds=61))
    assert ids(theirs) == rows[:1]
    kept, claimed = outbox.finish_and_claim(
        db, "slow", [outbox.Done(d, remote_id="late") for d in mine], limit=10,
        now=T0 + timedelta(seconds=62))
    assert kept == {rows[1]} and claimed == []
    with db.sessions() as session:
        taken = outbox.get_delivery(session, rows[0])
    assert (taken.status, taken.claimed_by) == ("in-flight", "w2")
    with db.engine.connect() as conn:
        assert ledger.get_link(conn, "CarePlan", "r0", "st-marys") is None


def test_closing_the_pipeline_records_the_rows_in_flight(db, adapters):
    rows = [add(db, f"case-{c}", f"r{c}") for c in range(6)]
    worker = Worker(db, adapters, "w", policy=FAST, lease_seconds=30, concurrency=2,
                    batch=6)
    try:
        with worker.pipeline() as pipeline:
            assert pipeline.step() > 0  # claimed all six, some may still be in flight
    finally:
        worker.close()
    with db.sessions() as session:
        assert {outbox.get_delivery(session, r).status for r in rows} == {"done"}


def test_outcomes_a_failed_step_could_not_record_are_recorded_by_the_next(db, adapters,
                                                                          monkeypatch):
    rows = [add(db, f"case-{c}", f"r{c}") for c in range(3)]
    worker = Worker(db, adapters, "w", policy=FAST, lease_seconds=30, concurrency=1,
                    batch=3)
    real = outbox.finish_and_claim
    calls: list[int] = []

    def failing_once(*args, **kwargs):
        calls.append(len(args[2]))
        if len(calls) == 2:  # the step that records the first outcomes
            raise RuntimeError("database unavailable")
        return real(*args, **kwargs)

    monkeypatch.setattr(outbox, "finish_and_claim", failing_once)
    try:
        with worker.pipeline() as pipeline:
            pipeline.step()  # claims the three rows, waits for them
            with pytest.raises(RuntimeError):
                pipeline.step()
            while pipeline.step():
                pass
    finally:
        worker.close()
    assert calls[1] == calls[2] > 0  # the same outcomes, again
    with db.sessions() as session:
        delivered = [outbox.get_delivery(session, r) for r in rows]
    assert {(d.status, d.attempts) for d in delivered} == {("done", 1)}


def test_the_pipeline_gives_back_the_rows_its_lease_cannot_cover(db, adapters):
    rows = [add(db, f"case-{c}", f"r{c}") for c in range(3)]
    # as test_outbox_batch: each clock reading 20 s later, lease 60 s; the first row is
    # delivered, the two after it are given back unattempted
    worker = Worker(db, adapters, "slow", policy=FAST, lease_seconds=60, concurrency=1,
                    batch=3, clock=SteppingClock(T0, timedelta(seconds=20)))
    try:
        with worker.pipeline() as pipeline:
            pipeline.step()
            pipeline.step(claim=False)
    finally:
        worker.close()
    with db.sessions() as session:
        first, *others = [outbox.get_delivery(session, r) for r in rows]
    assert first.status == "done"
    for row in others:
        assert (row.status, row.attempts, row.claimed_by) == ("pending", 0, None)
