"""The outbox: enqueue in the caller's transaction, ordering per (partner, case), leases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from hub.sync import outbox

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def add(db, case_id: str, resource_id: str, partner_id: str = "st-marys",
        operation: str = "create", now: datetime = T0) -> int:
    with db.sessions() as session:
        row_id = outbox.enqueue(session, partner_id=partner_id, case_id=case_id,
                                resource_type="CarePlan", resource_id=resource_id,
                                operation=operation, payload={"resourceType": "CarePlan"},
                                now=now)
        session.commit()
    return row_id


def ids(deliveries) -> list[int]:
    return [d.id for d in deliveries]


def test_enqueue_belongs_to_the_callers_transaction(db):
    with db.sessions() as session:
        outbox.enqueue(session, partner_id="p", resource_type="CarePlan", resource_id="1",
                       operation="create", payload={})
        session.rollback()
    with db.sessions() as session:
        assert outbox.list_deliveries(session) == []
        row_id = outbox.enqueue(session, partner_id="p", resource_type="CarePlan",
                                resource_id="1", operation="create", payload={"a": 1})
        session.commit()
        [row] = outbox.list_deliveries(session)
    assert (row.id, row.status, row.attempts, row.case_id) == (row_id, "pending", 0,
                                                                "CarePlan/1")
    assert row.payload == {"a": 1}


def test_unknown_operation_is_refused(db):
    import pytest

    with db.sessions() as session, pytest.raises(ValueError, match="unknown outbox operation"):
        outbox.enqueue(session, partner_id="p", resource_type="X", resource_id="1",
                       operation="patch")


def test_one_case_in_order_cases_in_parallel(db):
    a1, b1, a2, b2 = add(db, "A", "a1"), add(db, "B", "b1"), add(db, "A", "a2"), add(db, "B", "b2")
    first = outbox.claim(db, "w1", limit=10, now=T0)
    assert ids(first) == [a1, b1]  # one per case, both cases at once
    assert outbox.claim(db, "w2", limit=10, now=T0) == []  # a2, b2 wait for a1, b1
    assert outbox.mark_done(db, first[0], "w1", remote_id="r", remote_version="1", now=T0)
    assert ids(outbox.claim(db, "w2", limit=10, now=T0)) == [a2]
    assert outbox.mark_failed(db, first[1], "w1", error="boom", retry_in=30, now=T0)
    # b1 backs off: b2 must still wait behind it
    assert outbox.claim(db, "w2", limit=10, now=T0 + timedelta(seconds=10)) == []
    later = outbox.claim(db, "w2", limit=10, now=T0 + timedelta(seconds=31))
    assert ids(later) == [b1] and later[0].attempts == 2
    assert outbox.mark_done(db, later[0], "w2", remote_id="r", remote_version="1", now=T0)
    assert ids(outbox.claim(db, "w2", limit=10, now=T0 + timedelta(seconds=31))) == [b2]


def test_same_case_at_two_partners_is_independent(db):
    x = add(db, "A", "a1", partner_id="x")
    y = add(db, "A", "a1", partner_id="y")
    assert ids(outbox.claim(db, "w", limit=10, now=T0)) == [x, y]


def test_dead_rows_do_not_block_the_rows_after_them(db):
    a1, a2 = add(db, "A", "a1"), add(db, "A", "a2")
    [row] = outbox.claim(db, "w", now=T0)
    outbox.mark_failed(db, row, "w", error="422 rejected", http_status=422, retry_in=None)
    assert ids(outbox.claim(db, "w", now=T0)) == [a2]
    with db.sessions() as session:
        assert outbox.get_delivery(session, a1).status == "dead"


def test_not_due_rows_are_not_claimed(db):
    add(db, "A", "a1", now=T0 + timedelta(minutes=5))
    assert outbox.claim(db, "w", now=T0) == []
    assert len(outbox.claim(db, "w", now=T0 + timedelta(minutes=5))) == 1


def test_an_expired_lease_is_reclaimed_and_the_old_owner_loses(db):
    row_id = add(db, "A", "a1")
    add(db, "A", "a2")
    [mine] = outbox.claim(db, "killed-worker", lease_seconds=60, now=T0)
    assert outbox.claim(db, "w2", now=T0 + timedelta(seconds=59)) == []
    [theirs] = outbox.claim(db, "w2", lease_seconds=60, now=T0 + timedelta(seconds=61))
    assert (theirs.id, theirs.attempts, theirs.claimed_by) == (row_id, 2, "w2")
    # the first worker comes back late: its outcome is not recorded over w2's claim
    assert not outbox.mark_done(db, mine, "killed-worker", remote_id="r", remote_version="1")
    assert not outbox.mark_failed(db, mine, "killed-worker", error="late", retry_in=1)
    assert outbox.mark_done(db, theirs, "w2", remote_id="r", remote_version="1")
    with db.sessions() as session:
        assert outbox.get_delivery(session, row_id).status == "done"


def test_concurrent_claimers_never_share_a_row(db):
    n_cases, per_case = 12, 3
    for i in range(per_case):
        for c in range(n_cases):
            add(db, f"case-{c}", f"r{c}-{i}")
    claimed: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            idle = 0
            while idle < 20:
                got = outbox.claim(db, name, limit=3, now=T0)
                if not got:
                    idle += 1
                    threading.Event().wait(0.01)
                    continue
                idle = 0
                for d in got:
                    with lock:
                        claimed.append((d.case_id, d.id, name))
                    assert outbox.mark_done(db, d, name, remote_id="r", remote_version="1")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    row_ids = [row_id for _c, row_id, _w in claimed]
    assert sorted(row_ids) == sorted(set(row_ids))  # nobody claimed a row twice
    assert len(row_ids) == n_cases * per_case
    for c in range(n_cases):  # and each case went out in enqueue order
        case_ids = [row_id for case, row_id, _w in claimed if case == f"case-{c}"]
        assert case_ids == sorted(case_ids)


def test_claim_loads_the_link(db):
    add(db, "A", "a1")
    [row] = outbox.claim(db, "w", now=T0)
    assert row.link is None
    outbox.mark_done(db, row, "w", remote_id="remote-1", remote_version="3", now=T0)
    add(db, "A", "a1", operation="update")
    [update] = outbox.claim(db, "w", now=T0)
    assert (update.link.remote_id, update.link.remote_version) == ("remote-1", "3")
    assert update.link.last_ack_at == T0


def test_replay_puts_dead_rows_back(db):
    a1, b1 = add(db, "A", "a1"), add(db, "B", "b1")
    for row in outbox.claim(db, "w", limit=5, now=T0):
        outbox.mark_failed(db, row, "w", error="rejected", http_status=400, retry_in=None)
    with db.sessions() as session:
        assert outbox.counts(session)["dead"] == 2
        assert outbox.replay(session, [a1]) == [a1]
        assert outbox.replay(session, [a1]) == []  # not dead any more
        assert outbox.replay(session, all_dead=True) == [b1]
        session.commit()
        rows = outbox.list_deliveries(session, status="pending")
    assert [(r.id, r.attempts) for r in rows] == [(a1, 0), (b1, 0)]
