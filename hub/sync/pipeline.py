"""Deliveries kept in flight while the worker records outcomes and claims more.

``Worker.run_once`` claims a batch, waits for all of it, then records it: the delivery
threads idle while the batch's slowest delivery ends and while the database works. A
``Pipeline`` (what ``Worker.run`` and ``hub worker`` use) instead keeps up to two batches
of rows in flight: each ``step`` records the outcomes that came back and claims as many
rows as came back, in one transaction (``outbox.finish_and_claim``), hands them to the
delivery threads, then waits until a batch has come back (or all that is in flight, or,
looking every ``hold_seconds``, at least one). The database works while the partner calls
of the other batch go on.

Nothing of the outbox's rules changes: order per (partner, case) holds because a row
stays in flight in the database until its outcome is committed, so the next row of its
case is not claimable before (``hub.sync.outbox``); a row is attempted only while half
its lease is left (``Worker._attempt``); an outcome is recorded only for a row still ours
(``outbox.finish``). Outcomes not yet recorded when a step fails (a database error) are
recorded by the next step; if the process dies, their rows are delivered again once their
lease runs out (at-least-once, as before).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from hub.sync import outbox
from hub.sync.deliver import Outcome

log = logging.getLogger(__name__)

Attempt = tuple[Outcome, float] | None


def _attempted(future: Future) -> Attempt:
    """A delivery thread's result; an error escaping ``Worker._attempt`` (a database
    error of a notification) is that attempt's failed outcome, for the retry policy."""
    try:
        return future.result()
    except Exception as exc:
        return Outcome(False, error=exc), 0.0


class Pipeline:
    """The rows in flight of one ``Worker`` (``with worker.pipeline() as p: p.step()``):
    up to two batches, recorded and replaced a batch at a time (so a row costs the same
    statements as with ``run_once``, one claim and one finish per batch, in one
    transaction instead of two).

    :param hold_seconds: how often the worker looks whether outcomes came back while it
        waits for a batch of them (a slow partner's calls do not hold the fast ones'
        outcomes for longer than about twice that).
    """

    def __init__(self, worker, *, hold_seconds: float = 0.2) -> None:
        self.worker = worker
        self.hold_seconds = hold_seconds
        self.window = 2 * worker.batch
        self._pool = ThreadPoolExecutor(worker.concurrency, thread_name_prefix="hub-deliver")
        self._in_flight: dict[Future, outbox.Delivery] = {}
        self._back: list[tuple[outbox.Delivery, Attempt]] = []
        # the delivery threads hand each ended future over here, and wake the worker
        # only once as many as it waits for came back (not once per delivery)
        self._lock = threading.Lock()
        self._returned: list[Future] = []
        self._want = 1
        self._enough = threading.Event()

    @property
    def in_flight(self) -> int:
        """Rows handed to the delivery threads whose outcome has not come back."""
        return len(self._in_flight)

    def step(self, *, claim: bool = True) -> int:
        """Record what came back and claim more (one transaction), then wait for part of
        what is in flight; the number of rows recorded, given back, claimed or in flight
        (0: the worker is idle). ``claim=False`` only records (stopping)."""
        worker = self.worker
        back, self._back = self._back, []
        unrecorded: list[tuple[outbox.Delivery, Attempt]] = back
        try:
            tried = [(d, a) for d, a in back if a is not None]
            skipped = [d for d, a in back if a is None]
            if skipped:
                outbox.release(worker.db, worker.worker_id, skipped)
                log.warning("%s claimed deliveries given back: their lease would not "
                            "outlast a delivery", len(skipped))
                unrecorded = [(d, a) for d, a in back if a is not None]
            results, dead = worker.outcomes(tried)
            # a batch at a time once rows are in flight: a claim asking for more rows
            # than are claimable reads every due row behind those in flight
            room = 0 if not claim else self.window if not self._in_flight else \
                min(self.window - len(self._in_flight), worker.batch)
            kept, claimed = outbox.finish_and_claim(
                worker.db, worker.worker_id, results, limit=room,
                lease_seconds=worker.lease_seconds, now=worker.clock())
        except BaseException:
            self._back = unrecorded + self._back  # recorded by the next step
            raise
        for delivery in claimed:
            future = self._pool.submit(worker._attempt, delivery)
            self._in_flight[future] = delivery
            future.add_done_callback(self._returned_one)
        worker.after_recorded(tried, kept, dead)
        self._wait()
        return len(back) + len(claimed) + len(self._back) + len(self._in_flight)

    def _returned_one(self, future: Future) -> None:
        """A delivery thread's done-callback."""
        with self._lock:
            self._returned.append(future)
            if len(self._returned) >= self._want:
                self._enough.set()

    def _wait(self) -> None:
        """Until a batch came back, or all in flight; or, looking every ``hold_seconds``,
        until at least one came back."""
        want = min(len(self._in_flight), self.worker.batch)
        if not want:
            return
        with self._lock:
            self._want = want
            if len(self._returned) >= want:
                self._enough.set()
            else:
                self._enough.clear()
        while not self._enough.wait(self.hold_seconds):
            with self._lock:
                if self._returned:
                    break
        with self._lock:
            returned, self._returned = self._returned, []
            self._enough.clear()
        for future in returned:
            self._back.append((self._in_flight.pop(future), _attempted(future)))

    def close(self) -> None:
        """Wait for every row in flight and record it (nothing more is claimed)."""
        try:
            while self._in_flight or self._back:
                self.step(claim=False)
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
