"""Executors of the outbox: ``run_once``, the worker loop, and the in-process thread.

All executors claim rows from the same outbox and call the same ``deliver`` function, so
``hub serve`` (embedded thread), ``hub worker`` processes on PostgreSQL and, later,
Celery tasks behave the same. A worker claims up to ``batch`` rows in one statement
(never two of one (partner, case): see hub.sync.outbox), delivers them with
``concurrency`` threads and records their outcomes in one transaction.

The lease must outlast a delivery: a token request plus the partner call, each bounded by
the partner's timeouts. ``lease_for`` derives a safe lease from the configured partners.

Pulls are outbox rows too: with ``pulls=True`` (the embedded thread of ``hub serve``) each
round of the loop first enqueues the pulls that are due (``Worker.schedule_pulls``, see
hub.sync.pulls), then claims like any delivery. So are the polls of pended prior
authorizations (``poll`` rows, one per pended claim, queued by the insurer flow).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from hub.adapters.errors import PartnerError
from hub.adapters.rest_hook import RestHookClient
from hub.clock import utcnow
from hub.observability.metrics import record_delivery
from hub.observability.safe_errors import describe, safe_trace
from hub.store.db import Database
from hub.sync import notify, outbox
from hub.sync.deliver import Outcome, deliver
from hub.sync.handlers import Handlers
from hub.sync.pipeline import Pipeline
from hub.sync.pulls import schedule_pulls
from hub.sync.retry import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 300.0
#: Rows claimed per round: one statement claims them, one transaction records them.
DEFAULT_BATCH = 32


def default_worker_id() -> str:
    """``host:pid:random``: unique per process, readable in ``claimed_by``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def lease_for(partners, minimum: float = 60.0) -> float:
    """A lease longer than any delivery can take: token call + partner call, with margin."""
    longest = max((2 * (p.timeouts.connect + p.timeouts.read) for p in partners.values()),
                  default=0.0)
    return max(minimum, 2 * longest)


def _describe(outcome: Outcome) -> str:
    error = outcome.error
    if isinstance(error, PartnerError):
        return outbox.error_text(error.message, error.outcome)
    # anything else (a database error, a library's) may quote patient data: type only
    return describe(error) if error is not None else "the delivery failed without an error"


class Worker:
    """Claims due deliveries, delivers them, records the outcome.

    :param handlers: what runs after a delivery is done (the runtime's registry, see
        ``hub.bootstrap``); None: nothing (a Worker that only delivers).
    :param clock: returns the current aware UTC datetime (tests pin it).
    """

    def __init__(self, db: Database, adapters, worker_id: str | None = None, *,
                 handlers: Handlers | None = None,
                 policy: RetryPolicy | None = None, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 concurrency: int = 4, batch: int | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 pulls: bool = False, audit_retention_days: int | None = None) -> None:
        self.db = db
        #: With ``pulls``: AuditEvents older than this are purged once an hour (None: never).
        self.audit_retention_days = audit_retention_days
        self._next_audit_purge = 0.0
        self.handlers = handlers if handlers is not None else Handlers()
        #: Whether ``run`` schedules the partners' pulls each round (``hub serve`` and
        #: ``hub worker`` do; a Worker driven by hand or by tests only delivers).
        self.pulls = pulls
        self.adapters = adapters
        self.worker_id = worker_id or default_worker_id()
        self.policy = policy or RetryPolicy()
        self.lease_seconds = lease_seconds
        self.concurrency = max(1, concurrency)
        #: Rows claimed per round (default ``DEFAULT_BATCH``, never fewer than the threads).
        self.batch = max(self.concurrency, batch or DEFAULT_BATCH)
        #: The longest one delivery may take (half the lease, as ``lease_for`` sizes
        #: leases): a row of a batch is attempted only while that much of its lease is
        #: left, so a batch never outlives its lease, however slow the partner.
        self.delivery_seconds = lease_seconds / 2
        self.clock = clock
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="hub-deliver") \
            if self.concurrency > 1 else None
        self._rest_hook: RestHookClient | None = None

    def rest_hook(self) -> RestHookClient:
        """The Subscriptions' rest-hook channel (endpoints under the database's prefixes)."""
        if self._rest_hook is None:
            self._rest_hook = RestHookClient(self.db.subscription_endpoints)
        return self._rest_hook

    def schedule_pulls(self) -> list[int]:
        """Enqueue the partners' due pulls (``hub.sync.pulls``), and what Subscriptions
        queue by the clock (heartbeats, reviews fallen due: ``hub.sync.notify.schedule``);
        done each loop round (and by the Celery sweep)."""
        now = self.clock()
        queued = schedule_pulls(self.db, getattr(self.adapters, "partners", None) or {},
                                now=now)
        notify.schedule(self.db, now)
        return queued

    def purge_audit_if_due(self) -> int | None:
        """Purge the AuditEvents past their retention, at most once an hour."""
        now = time.monotonic()
        if self.audit_retention_days is None or now < self._next_audit_purge:
            return None
        self._next_audit_purge = now + 3600.0
        from hub.audit.log import purge_expired

        return purge_expired(self.db, self.audit_retention_days)

    def run_once(self) -> int:
        """Claim and deliver one batch; the number of deliveries attempted.

        Up to ``batch`` rows are claimed in one statement (one per (partner, case) at
        most, see ``hub.sync.outbox.claim``), delivered by ``concurrency`` threads and
        recorded in one transaction (``outbox.finish``); then their handlers run.
        """
        claimed = outbox.claim(self.db, self.worker_id, limit=self.batch,
                               lease_seconds=self.lease_seconds, now=self.clock())
        return len(self.process_batch(claimed))

    def process_batch(self, claimed: list[outbox.Delivery], *, pool=None
                      ) -> list[tuple[outbox.Delivery, Outcome]]:
        """Deliver claimed rows, record their outcomes together, run their handlers; the
        rows attempted with their outcomes (rows whose lease ran short are given back)."""
        pool = pool or self._pool
        if pool is not None and len(claimed) > 1:
            attempts = list(pool.map(self._attempt, claimed))
        else:
            attempts = [self._attempt(d) for d in claimed]
        tried = [(d, a) for d, a in zip(claimed, attempts) if a is not None]
        skipped = [d for d, a in zip(claimed, attempts) if a is None]
        if skipped:
            outbox.release(self.db, self.worker_id, skipped)
            log.warning("%s claimed deliveries given back: their lease would not outlast "
                        "a delivery", len(skipped))
        return self._record(tried)

    def process(self, delivery: outbox.Delivery) -> Outcome:
        """Deliver one claimed row and record what happened."""
        return self._record([(delivery, self._send(delivery))])[0][1]

    def _send(self, delivery: outbox.Delivery) -> tuple[Outcome, float]:
        """Deliver one row (no database write of the outbox): a Subscription notification
        through the rest-hook client, anything else through the partner's adapter."""
        started = time.perf_counter()
        if delivery.operation == "notify":
            outcome = notify.deliver(self.db, delivery, self.rest_hook())
        else:
            outcome = deliver(delivery, self.adapters)
        return outcome, time.perf_counter() - started

    def _attempt(self, delivery: outbox.Delivery) -> tuple[Outcome, float] | None:
        """Deliver one row of a batch (no database write); None when too little of its
        lease is left for a delivery to end inside it (the row is given back)."""
        until = delivery.claimed_until
        if until is not None and self.clock() + timedelta(seconds=self.delivery_seconds) > until:
            return None
        return self._send(delivery)

    def _record(self, tried: list[tuple[outbox.Delivery, tuple[Outcome, float]]]
                ) -> list[tuple[outbox.Delivery, Outcome]]:
        results, dead = self.outcomes(tried)
        kept = outbox.finish(self.db, self.worker_id, results, now=self.clock())
        self.after_recorded(tried, kept, dead)
        return [(delivery, outcome) for delivery, (outcome, _s) in tried]

    def outcomes(self, tried: list[tuple[outbox.Delivery, tuple[Outcome, float]]]
                 ) -> tuple[list[outbox.Done | outbox.Failed], set[int]]:
        """What to record of attempted rows (``outbox.finish``), and the ids of those the
        retry policy dead-letters; failures are logged."""
        results: list[outbox.Done | outbox.Failed] = []
        dead: set[int] = set()
        for delivery, (outcome, _seconds) in tried:
            if outcome.ok:
                results.append(outbox.Done(
                    delivery, outcome.remote_id, outcome.remote_version, outcome.http_status,
                    outcome.response, outcome.sent_hash, outcome.relinked))
                continue
            error = outcome.error or RuntimeError("the delivery failed without an error")
            decision = self.policy.decide(error, delivery.attempts)
            text = _describe(outcome)
            results.append(outbox.Failed(delivery, text, outcome.http_status,
                                         decision.retry_in, outcome.response,
                                         outcome.conflict_version))
            if decision.dead:
                dead.add(delivery.id)
            level = logging.ERROR if decision.dead else logging.WARNING
            log.log(level, "delivery #%s to %s failed (attempt %s, %s): %s", delivery.id,
                    delivery.partner_id, delivery.attempts,
                    "dead-lettered" if decision.dead else f"retry in {decision.retry_in:.1f}s",
                    text.splitlines()[0])
        return results, dead

    def after_recorded(self, tried: list[tuple[outbox.Delivery, tuple[Outcome, float]]],
                       kept: set[int], dead: set[int]) -> None:
        """Once the outcomes are committed: the handlers of the rows still ours (``kept``),
        the metrics and logs of every attempted row."""
        for delivery, (outcome, seconds) in tried:
            mine = delivery.id in kept
            if outcome.ok:
                log.info("delivered #%s %s %s/%s to %s", delivery.id, delivery.operation,
                         delivery.resource_type, delivery.resource_id, delivery.partner_id)
                if mine:
                    self.handlers.handle(self.db, delivery, outcome)
            if mine and delivery.operation == "notify":
                notify.after_attempt(self.db, delivery, outcome,
                                     max_failures=self.db.subscription_max_failures)
            record_delivery(delivery, ok=outcome.ok, dead=delivery.id in dead, kept=mine,
                            seconds=seconds)
            if not mine:
                log.warning("delivery #%s: lease lost to another worker; its outcome is "
                            "theirs", delivery.id)

    def pipeline(self) -> Pipeline:
        """Rows kept in flight while outcomes are recorded and more claimed
        (``hub.sync.pipeline``); closing it records what is in flight."""
        return Pipeline(self)

    def run(self, stop: threading.Event, *, idle_seconds: float = 1.0,
            error_seconds: float = 5.0) -> None:
        """Loop until ``stop`` is set (then record what is in flight); sleep
        ``idle_seconds`` when nothing is due."""
        with self.pipeline() as pipeline:
            while not stop.is_set():
                try:
                    if self.pulls:
                        self.schedule_pulls()
                        self.purge_audit_if_due()
                    busy = pipeline.step()
                except Exception as exc:
                    log.error("sync worker %s: claiming failed: %s", self.worker_id,
                              safe_trace(exc))
                    stop.wait(error_seconds)
                    continue
                if not busy:
                    stop.wait(idle_seconds)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._rest_hook is not None:
            self._rest_hook.close()


def run_once(db: Database, adapters, worker_id: str | None = None, **kwargs) -> int:
    """One batch with a throw-away Worker (tests, cron-style use)."""
    worker = Worker(db, adapters, worker_id, **kwargs)
    try:
        return worker.run_once()
    finally:
        worker.close()


class WorkerThread:
    """A Worker looping in a daemon thread; ``stop()`` ends it after the current batch."""

    def __init__(self, worker: Worker, *, idle_seconds: float = 1.0,
                 error_seconds: float = 5.0) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=worker.run, args=(self._stop,), name=f"hub-sync-{worker.worker_id}",
            kwargs={"idle_seconds": idle_seconds, "error_seconds": error_seconds}, daemon=True)

    def start(self) -> WorkerThread:
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.worker.close()


def start_worker_thread(runtime, **options) -> WorkerThread | None:
    """Start the in-process sync worker of ``runtime`` (``hub serve``); None when disabled.

    ``runtime`` is a ``hub.bootstrap.Runtime`` (or a Flask app built from one). ``options``
    go to ``Runtime.worker`` (policy, concurrency, lease_seconds...) and WorkerThread
    (idle_seconds). The handle is kept in ``runtime.sync_worker``; call ``.stop()`` to end it.
    """
    extensions = getattr(runtime, "extensions", None)
    if extensions is not None:  # a Flask app: its runtime
        runtime = extensions["hub.runtime"]
    if not runtime.settings.sync_worker:
        return None
    thread_opts = {k: options.pop(k) for k in ("idle_seconds", "error_seconds")
                   if k in options}
    options.setdefault("pulls", True)
    options.setdefault("audit_retention_days", runtime.settings.audit_retention_days)
    handle = WorkerThread(runtime.worker(**options), **thread_opts).start()
    runtime.sync_worker = handle
    return handle
