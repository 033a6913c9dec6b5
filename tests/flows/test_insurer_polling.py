"""Polling pended prior authorizations is outbox work: ``poll`` rows claimed like any
delivery, so two workers never poll the same Claim at once (on PostgreSQL the claim is
``FOR UPDATE SKIP LOCKED``; rows of one Claim share an ordering key and a lease)."""

from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy import insert, select

from hub.flows.insurer_polling import POLL, poll_key, poll_search, queue_poll
from hub.store.sync_tables import sync_links
from hub.sync import outbox
from hub.sync.registry import Adapters

from .conftest import outbox_rows

INSURER = "example-health-pas"


class SlowInsurer:
    """An insurer adapter whose searches take a while; records overlapping polls."""

    def __init__(self, seconds: float = 0.15) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running: Counter = Counter()
        self.overlaps: list[str] = []
        self.calls: Counter = Counter()

    def search(self, resource_type: str, params: dict):
        claim = params["request"]
        with self.lock:
            self.running[claim] += 1
            self.calls[claim] += 1
            if self.running[claim] > 1:
                self.overlaps.append(claim)
        time.sleep(self.seconds)
        with self.lock:
            self.running[claim] -= 1
        return iter([])  # nothing answered yet


def test_a_pended_claim_is_queued_once_and_polled_by_one_worker_at_a_time(runtime):
    db = runtime.db
    claims = [f"claim-{i}" for i in range(4)]
    with db.sessions() as session:
        for claim in claims:
            assert queue_poll(session, INSURER, claim, "Organization/example-health",
                              after_seconds=0) is not None
            # already queued: not again
            assert queue_poll(session, INSURER, claim, "Organization/example-health",
                              after_seconds=0) is None
            # a second row of the same Claim (a poll queued by another path) waits its turn
            outbox.enqueue(session, partner_id=INSURER, resource_type="Claim",
                           resource_id=claim, operation=POLL, case_id=poll_key(claim),
                           options=poll_search(claim))
        session.commit()
    with db.engine.begin() as conn:  # claim-0 was submitted: the ledger links it
        conn.execute(insert(sync_links).values(local_type="Claim", local_id="claim-0",
                                               partner_id=INSURER, remote_id="cr-remote-0",
                                               remote_version="1"))
    insurer = SlowInsurer()
    workers = [runtime.worker(f"poller-{n}", concurrency=4, lease_seconds=30)
               for n in range(2)]
    for worker in workers:  # both reach the same insurer
        worker.adapters = Adapters({}, overrides={INSURER: insurer})
    done = threading.Event()
    claimed_by: Counter = Counter()

    def run(worker) -> None:
        while not done.is_set():
            claimed_by[worker.worker_id] += worker.run_once()
            time.sleep(0.005)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    try:
        while any(r["status"] != "done" for r in outbox_rows(db, operation=POLL)):
            assert time.monotonic() < deadline, outbox_rows(db, operation=POLL)
            time.sleep(0.02)
    finally:
        done.set()
        for t in threads:
            t.join(10)
        for worker in workers:
            worker.close()
    rows = outbox_rows(db, operation=POLL)
    assert len(rows) == 2 * len(claims)
    # every row polled once, never two polls of one Claim at the same time
    assert insurer.overlaps == []
    assert insurer.calls == Counter({f"Claim/{claim}": 2 for claim in claims})
    assert all(r["attempts"] == 1 for r in rows)
    assert sum(claimed_by.values()) == len(rows)
    # the outbox keeps what each poll found; a poll leaves the Claim's link as it was
    assert all(r["response"] == {"answers": 0, "applied": None} for r in rows)
    with db.engine.connect() as conn:
        links = [tuple(r) for r in conn.execute(select(
            sync_links.c.local_id, sync_links.c.remote_id, sync_links.c.remote_version,
            sync_links.c.last_error))]
    assert links == [("claim-0", "cr-remote-0", "1", None)]


def test_a_failed_poll_is_retried_and_leaves_the_claims_link_alone(runtime):
    from hub.adapters.errors import PartnerUnavailable
    from hub.sync.retry import RetryPolicy

    class DownInsurer:
        calls = 0

        def search(self, resource_type, params):
            DownInsurer.calls += 1
            raise PartnerUnavailable("connection refused", partner=INSURER)

    db = runtime.db
    with db.sessions() as session:
        queue_poll(session, INSURER, "claim-9", "Organization/example-health", after_seconds=0)
        session.commit()
    worker = runtime.worker("poller", concurrency=1,
                            policy=RetryPolicy(max_attempts=5, base_delay=30, max_delay=60))
    worker.adapters = Adapters({}, overrides={INSURER: DownInsurer()})
    try:
        assert worker.run_once() == 1
        assert worker.run_once() == 0  # backing off
    finally:
        worker.close()
    [row] = outbox_rows(db, operation=POLL)
    assert (row["status"], row["attempts"], DownInsurer.calls) == ("pending", 1, 1)
    assert "connection refused" in row["last_error"]
    with db.engine.connect() as conn:
        assert conn.execute(select(sync_links)).first() is None
