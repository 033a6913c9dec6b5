"""The Celery executor of the outbox: Celery workers on RabbitMQ or Redis, for scale-out.

Celery only says *when* to look at the outbox, never *what* to deliver. A task carries no
delivery: ``hub.sync.deliver_due(batch)`` claims due rows with the same
``hub.sync.outbox.claim`` as ``hub worker`` (same lease, same per-(partner, case) order,
FOR UPDATE SKIP LOCKED on PostgreSQL) and hands them to the same
``hub.sync.worker.Worker.process_batch`` (the one ``deliver`` function, the same retry
policy, outcomes recorded by ``outbox.finish``). The outbox stays the durable source of truth, so a Celery
message is a hint that may be lost, duplicated or late without losing or doubling a
delivery:

- **kick after a write**: after committing outbox rows the hub (or anyone: ``hub celery
  kick``) sends a ``deliver_due`` task (``kick()``; it never raises: the rows are committed
  and will be swept if the broker is away);
- **the task drains**: it claims and delivers batches until nothing is due (or its time
  budget is spent, then it kicks a follow-up). A full batch also kicks one more task, so
  other Celery workers join on a backlog. The failed deliveries whose retries are due
  within the sweep interval get kicks with those countdowns, one per group of retries due
  together (``retry_kick_times``; later retries are left to the sweep);
- **the sweep**: ``hub.sync.sweep`` enqueues the partners' due pulls
  (``Worker.schedule_pulls``, as each round of ``hub worker`` does; idempotent), then runs
  the same drain, every ``sweep_seconds``, by the
  celery beat schedule entry ``hub-sync-sweep`` (``hub celery worker --beat``, or a
  separate ``celery -A hub.sync.celery_app beat``: run ONE beat per deployment) or, with
  no beat at all, by ``hub celery kick --every SECONDS`` (which sends sweeps). It
  delivers what lost kicks,
  later retries and expired leases (a killed worker) left due. Sweep messages expire after
  one interval, so sweeps do not pile up while the workers are down.

Why not one message per delivery: the message would then have to be in the same
transaction as the outbox row (it cannot: the broker is not the database), and per-case
order would depend on the broker. With claim-based tasks, Celery adds workers and
wake-ups, the database keeps the ledger.

Reliability settings: ``task_acks_late`` (a task is acknowledged when it finished),
``worker_prefetch_multiplier=1`` (a busy worker does not hoard kicks), JSON only, no
result backend (``task_ignore_result``). A worker killed mid-task leaves its rows in
flight; they are reclaimed when their lease expires (the sweep), as with ``hub worker``.
On Redis, messages not acknowledged within ``visibility_timeout`` (1 h) are redelivered;
tasks are bounded by ``TASK_BUDGET_SECONDS`` well below that.

Configuration: ``HUB_CELERY_BROKER_URL`` (settings, default local RabbitMQ
``amqp://guest:guest@127.0.0.1:5672//``; ``redis://host:6379/0`` works too),
``HUB_CELERY_QUEUE`` (default ``hub-sync``), ``HUB_CELERY_SWEEP_SECONDS`` (default 10),
``HUB_CELERY_BATCH`` (deliveries claimed and delivered in parallel per round, default 4),
plus the database and partners of the hub (``HUB_DATABASE_URL``, ``HUB_PARTNERS_FILE``).
Run: ``hub celery worker [--beat]`` (migrates SQLite, accepts the retry options of
``hub worker``, passes other options to Celery), or ``celery -A hub.commands.celery
worker`` with the defaults. Either way each worker process builds the hub's runtime
(``hub.bootstrap``: database, partners, handlers) through the app's ``runtime_factory``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hub.config import Settings
from hub.extras import MissingExtra
from hub.observability.safe_errors import safe_trace
from hub.sync import outbox
from hub.sync.retry import RetryPolicy
from hub.sync.worker import default_worker_id

try:  # the Celery executor is optional: pip install 'fhir-case-hub[celery]'
    from celery import Celery
    from celery.signals import worker_process_shutdown, worker_shutdown
except ModuleNotFoundError as exc:
    raise MissingExtra("the Celery executor", "celery", exc.name) from exc

log = logging.getLogger(__name__)

DELIVER_DUE = "hub.sync.deliver_due"
SWEEP = "hub.sync.sweep"
DEFAULT_QUEUE = "hub-sync"
DEFAULT_SWEEP_SECONDS = 10.0
DEFAULT_BATCH = 4
MAX_BATCH = 64
#: A task stops draining after this long and kicks a follow-up (keeps acks prompt).
TASK_BUDGET_SECONDS = 60.0
#: Seconds a kick may spend reaching the broker.
KICK_TIMEOUT = 2.0


@dataclass(frozen=True)
class ExecutorOptions:
    """How the Celery tasks claim and retry (the ``hub worker`` options, same meaning)."""

    queue: str = DEFAULT_QUEUE
    sweep_seconds: float = DEFAULT_SWEEP_SECONDS
    batch: int = DEFAULT_BATCH
    lease_seconds: float | None = None  # None: lease_for(partners), as hub worker
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_env(cls, environ=None, **overrides) -> ExecutorOptions:
        env = os.environ if environ is None else environ
        values: dict = {}
        if env.get("HUB_CELERY_QUEUE"):
            values["queue"] = env["HUB_CELERY_QUEUE"]
        if env.get("HUB_CELERY_SWEEP_SECONDS"):
            values["sweep_seconds"] = float(env["HUB_CELERY_SWEEP_SECONDS"])
        if env.get("HUB_CELERY_BATCH"):
            values["batch"] = int(env["HUB_CELERY_BATCH"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def create_celery(settings: Settings | None = None, options: ExecutorOptions | None = None,
                  *, runtime_factory: Callable[[Settings], object] | None = None) -> Celery:
    """A Celery app for ``settings`` (default from the environment) with the two tasks.

    ``runtime_factory(settings)`` builds the hub's runtime (``hub.bootstrap.build_runtime``)
    in each worker process that runs the tasks; without one the app only sends kicks.
    """
    settings = settings or Settings.from_env()
    options = options or ExecutorOptions.from_env()
    if options.sweep_seconds <= 0:
        raise ValueError("sweep_seconds must be positive")
    app = Celery("hub", set_as_current=False)
    app.conf.update(
        broker_url=settings.celery_broker_url,
        broker_connection_retry_on_startup=True,
        task_default_queue=options.queue,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        enable_utc=True,
        timezone="UTC",
        beat_schedule={"hub-sync-sweep": {
            "task": SWEEP, "schedule": options.sweep_seconds,
            "options": {"expires": options.sweep_seconds}}},
    )
    app.hub_settings = settings
    app.hub_options = options
    app.hub_runtime_factory = runtime_factory
    _register_tasks(app)
    return app


# -- the tasks ----------------------------------------------------------------------------

class _Runtime:
    """Per worker process: the hub's runtime (``hub.bootstrap``) and a Worker on it."""

    def __init__(self, app: Celery) -> None:
        settings, options = app.hub_settings, app.hub_options
        if app.hub_runtime_factory is None:
            raise RuntimeError("this Celery app only sends kicks: it was made without a "
                               "runtime (run 'hub celery worker' or "
                               "'celery -A hub.commands.celery worker')")
        self.pid = os.getpid()
        self.runtime = app.hub_runtime_factory(settings)
        self.db = self.runtime.db
        self.worker = self.runtime.worker(f"celery:{default_worker_id()}",
                                          policy=options.policy, concurrency=1,
                                          lease_seconds=options.lease_seconds)

    def close(self) -> None:
        self.worker.close()
        self.runtime.close()


_runtime_lock = threading.Lock()
_runtimes: dict[int, _Runtime] = {}  # id(app) -> runtime of this process


def _runtime(app: Celery) -> _Runtime:
    with _runtime_lock:
        runtime = _runtimes.get(id(app))
        if runtime is None or runtime.pid != os.getpid():  # built lazily, after any fork
            runtime = _runtimes[id(app)] = _Runtime(app)
        return runtime


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_runtimes(**_kwargs) -> None:
    with _runtime_lock:
        mine = [r for r in _runtimes.values() if r.pid == os.getpid()]
        _runtimes.clear()
    for runtime in mine:
        runtime.close()


RETRY_KICK_MARGIN_SECONDS = 0.25
MAX_RETRY_KICKS = 8


def retry_kick_times(waits: list[float], horizon: float, *,
                     margin: float = RETRY_KICK_MARGIN_SECONDS,
                     limit: int = MAX_RETRY_KICKS) -> list[float]:
    """The countdowns of the kicks for retries due in ``waits`` seconds (0 or less: due
    already): one kick per group of retries due within ``margin`` of the group's first,
    sent ``margin`` after the group's last is due (a kick that fires early claims
    nothing). One kick for the soonest alone is not enough: another task may deliver
    that row first, and the kick would claim nothing and leave the later retries to the
    sweep. Retries beyond ``horizon`` are the sweep's, and so are those after the first
    ``limit`` groups (a partner that is down fails many rows at spread-out times)."""
    kicks: list[float] = []
    group_start: float | None = None
    for wait in sorted(max(0.0, w) for w in waits if w <= horizon):
        if group_start is not None and wait <= group_start + margin:
            kicks[-1] = wait + margin
            continue
        if len(kicks) == limit:
            break
        group_start = wait
        kicks.append(wait + margin)
    return kicks


def _retry_countdowns(runtime: _Runtime, failed: list[outbox.Delivery], horizon: float,
                      now) -> list[float]:
    """The countdowns of the kicks for the retries of ``failed`` still pending
    (``retry_kick_times``); a row another task holds, or delivered meanwhile, counts as
    it stands now."""
    waits = []
    with runtime.db.sessions() as session:
        for delivery in failed:
            row = outbox.get_delivery(session, delivery.id)
            if row is None or row.status != "pending" or row.next_attempt_at is None:
                continue
            waits.append((row.next_attempt_at - now).total_seconds())
    return retry_kick_times(waits, horizon)


def drain(app: Celery, batch: int | None = None, *,
          budget_seconds: float = TASK_BUDGET_SECONDS) -> int:
    """Claim and deliver due rows, batch after batch, until none is due; the count.

    The body of both tasks. Claiming is ``outbox.claim`` and delivering is
    ``Worker.process_batch`` (recorded in one transaction), exactly as
    ``Worker.run_once`` of ``hub worker`` does.
    """
    options = app.hub_options
    batch = max(1, min(MAX_BATCH, int(batch or options.batch)))
    runtime = _runtime(app)
    worker = runtime.worker
    deadline = time.monotonic() + budget_seconds
    total, fanned_out = 0, False
    failed: list[outbox.Delivery] = []
    with ThreadPoolExecutor(batch, thread_name_prefix="hub-celery-deliver") as pool:
        while True:
            claimed = outbox.claim(runtime.db, worker.worker_id, limit=batch,
                                   lease_seconds=worker.lease_seconds, now=worker.clock())
            if not claimed:
                break
            total += len(claimed)
            if len(claimed) == batch and not fanned_out:
                fanned_out = kick(app, batch=batch)  # a backlog: let another worker join
            attempted = worker.process_batch(claimed, pool=pool)
            failed.extend(d for d, o in attempted if not o.ok)
            if time.monotonic() > deadline:
                kick(app, batch=batch)  # more may be due: a follow-up task goes on
                break
    if failed:
        for countdown in _retry_countdowns(runtime, failed, options.sweep_seconds,
                                           worker.clock()):
            kick(app, batch=batch, countdown=countdown)
    return total


def _register_tasks(app: Celery) -> None:
    @app.task(name=DELIVER_DUE, bind=True, shared=False)
    def deliver_due(self, batch: int | None = None) -> int:
        """Deliver what is due now (sent after writes: ``kick``)."""
        return drain(self.app, batch)

    @app.task(name=SWEEP, bind=True, shared=False)
    def sweep(self, batch: int | None = None) -> int:
        """The periodic round: enqueue the partners' due pulls, then the same drain."""
        schedule_pulls = getattr(_runtime(self.app).worker, "schedule_pulls", None)
        if schedule_pulls is not None:  # as each round of the hub worker loop does
            try:
                schedule_pulls()
            except Exception as exc:
                log.error("sweep: scheduling the partners' pulls failed: %s", safe_trace(exc))
        count = drain(self.app, batch)
        if count:
            log.info("sweep delivered %s due deliveries", count)
        return count


# -- producers ----------------------------------------------------------------------------

def kick(app: Celery | None = None, *, batch: int | None = None,
         countdown: float | None = None, expires: float | None = None,
         task: str = DELIVER_DUE, raise_errors: bool = False) -> bool:
    """Send a ``deliver_due`` task (or ``task=SWEEP``); False (logged) if the broker
    cannot be reached.

    Call it after committing outbox rows. It does not retry the broker: a lost kick
    costs latency only (the sweep delivers the rows).
    """
    app = app or get_app()
    try:
        with app.producer_or_acquire() as producer:
            # one quick connection attempt: a write must not wait for an absent broker
            producer.connection.ensure_connection(max_retries=1, interval_start=0,
                                                  interval_step=0.2, timeout=KICK_TIMEOUT)
            app.send_task(task, kwargs={"batch": batch}, countdown=countdown,
                          expires=expires, retry=False, producer=producer)
    except Exception as exc:
        if raise_errors:
            raise
        log.warning("celery kick not sent (%s: %s); the sweep will deliver",
                    type(exc).__name__, exc)
        return False
    return True


_default_app: Celery | None = None


def get_app() -> Celery:
    """The producer app configured from the environment (what ``kick()`` sends with)."""
    global _default_app
    if _default_app is None:
        _default_app = create_celery()
    return _default_app
