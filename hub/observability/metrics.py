"""The hub's Prometheus metrics (prometheus_client), no Flask.

Counted where they happen (request latency by ``hub.routes.metrics``, deliveries and
pulls by ``hub.sync.worker``), or read at scrape time from the database and the
connection pool (``DatabaseCollector``: one aggregate query over the outbox, one over the
pull cursors). Labels are the Flask url rule (``/fhir/<resource_type>/<resource_id>``,
never the raw path), HTTP method and status, partner id, operation, resource type and
outcome: never an id of a case, a resource or a patient.

``snapshot`` reads the same collectors for the console's operations page, so that the page
and a scrape show the same numbers from one source.

Several processes (gunicorn workers, ``hub worker``): when ``PROMETHEUS_MULTIPROC_DIR``
is set before the hub starts, prometheus_client keeps the counters in files there and
``exposition`` merges every process's numbers (``MultiProcessCollector``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select

from hub.clock import utcnow
from hub.store.sync_tables import outbox as outbox_table
from hub.store.sync_tables import sync_cursors

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Outbox rows still to deliver (counted in the depth).
WAITING = ("pending", "in-flight")

REQUEST_SECONDS = Histogram(
    "hub_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask url rule (never the raw path), method, status",
    ["method", "route", "status"], buckets=_LATENCY_BUCKETS)


@functools.lru_cache(maxsize=1024)
def request_timer(method: str, route: str, status: str):
    """The ``REQUEST_SECONDS`` child of a (method, url rule, status): looked up once, not
    on every request (the labels are bounded: the app's rules, methods and statuses)."""
    return REQUEST_SECONDS.labels(method, route, status)


DELIVERIES = Counter(
    "hub_deliveries",
    "Outbox rows processed, by partner, operation and outcome "
    "(delivered, retry, dead, lease_lost)", ["partner", "operation", "outcome"])
DELIVERY_SECONDS = Histogram(
    "hub_delivery_duration_seconds", "Time of one delivery attempt (the partner call)",
    ["partner", "operation"], buckets=_LATENCY_BUCKETS)
RETRIES = Counter("hub_delivery_retries", "Failed deliveries scheduled again", ["partner"])
DEAD_LETTERS = Counter("hub_dead_letters", "Deliveries given up (status dead)", ["partner"])
PULLS = Counter("hub_pulls", "Pulls of partner changes, by outcome (ok, failed)",
                ["partner", "resource_type", "outcome"])


def _observe_delivery(partner: str, operation: str, outcome: str, seconds: float) -> None:
    DELIVERIES.labels(partner, operation, outcome).inc()
    DELIVERY_SECONDS.labels(partner, operation).observe(seconds)
    if outcome == "retry":
        RETRIES.labels(partner).inc()
    elif outcome == "dead":
        DEAD_LETTERS.labels(partner).inc()


def record_delivery(delivery, *, ok: bool, dead: bool, kept: bool, seconds: float) -> None:
    """Count one processed outbox row (``delivery``: ``hub.sync.outbox.Delivery``)."""
    outcome = ("delivered" if ok else "dead" if dead else "retry") if kept else "lease_lost"
    _observe_delivery(delivery.partner_id, delivery.operation, outcome, seconds)
    if delivery.operation == "pull":
        PULLS.labels(delivery.partner_id, delivery.resource_type,
                     "ok" if ok else "failed").inc()


class DatabaseCollector(Collector):
    """Read at scrape time: outbox depth, oldest waiting row and dead rows per partner,
    seconds since each pull cursor last moved, and the connection pool of this process."""

    def __init__(self, db, clock=None):
        self.db = db
        self.clock = clock or utcnow

    def describe(self):
        return []  # collected per scrape, never at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock()
        depth = GaugeMetricFamily("hub_outbox_depth", "Outbox rows waiting (pending or "
                                  "in-flight), per partner", labels=["partner"])
        oldest = GaugeMetricFamily("hub_outbox_oldest_age_seconds", "Age of the oldest "
                                   "waiting outbox row, per partner", labels=["partner"])
        dead = GaugeMetricFamily("hub_outbox_dead", "Dead outbox rows (waiting for a human "
                                 "to replay them), per partner", labels=["partner"])
        lag = GaugeMetricFamily("hub_pull_lag_seconds", "Seconds since the pull cursor of "
                                "a partner and resource type last moved",
                                labels=["partner", "resource_type"])
        by_status = (select(outbox_table.c.partner_id, outbox_table.c.status, func.count(),
                            func.min(outbox_table.c.created_at))
                     .where(outbox_table.c.status.in_((*WAITING, "dead")))
                     .group_by(outbox_table.c.partner_id, outbox_table.c.status))
        cursors = select(sync_cursors.c.partner_id, sync_cursors.c.resource_type,
                         sync_cursors.c.updated_at)
        with self.db.engine.connect() as conn:
            rows = conn.execute(by_status).all()
            cursor_rows = conn.execute(cursors).all()
        waiting: dict[str, list] = {}
        for partner, status, count, first in rows:
            if status == "dead":
                dead.add_metric([partner], count)
                continue
            seen = waiting.setdefault(partner, [0, None])
            seen[0] += count
            seen[1] = first if seen[1] is None or (first and first < seen[1]) else seen[1]
        for partner, (count, first) in sorted(waiting.items()):
            depth.add_metric([partner], count)
            oldest.add_metric([partner], _age(now, first))
        for partner, resource_type, updated in cursor_rows:
            lag.add_metric([partner, resource_type], _age(now, updated))
        yield depth
        yield oldest
        yield dead
        yield lag
        yield from self._pool()

    def _pool(self) -> Iterator[GaugeMetricFamily]:
        pool = self.db.engine.pool
        size, checked_out = getattr(pool, "size", None), getattr(pool, "checkedout", None)
        if callable(checked_out):
            yield GaugeMetricFamily("hub_db_pool_checked_out", "Database connections in use "
                                    "(this process)", value=checked_out())
        if callable(size):
            yield GaugeMetricFamily("hub_db_pool_size", "Database connection pool size "
                                    "(this process)", value=size())


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR``, when the hub runs as several processes."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _registry(db) -> CollectorRegistry:
    """This process's (or, in multiprocess mode, every process's) counters and
    histograms, and the database's numbers read when collected."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Default())
    registry.register(DatabaseCollector(db))
    return registry


def exposition(db) -> bytes:
    """The Prometheus text of every metric (what ``GET /metrics`` serves)."""
    return generate_latest(_registry(db))


@dataclass
class PartnerNumbers:
    """One partner's numbers of the scrape (``snapshot``), as the console shows them."""

    partner: str
    depth: float = 0.0
    oldest_age_seconds: float = 0.0
    dead: float = 0.0
    #: counted by the executors of this process (every process in multiprocess mode)
    delivered: float = 0.0
    retries: float = 0.0
    dead_letters: float = 0.0
    lease_lost: float = 0.0
    pulls_ok: float = 0.0
    pulls_failed: float = 0.0
    #: resource type -> seconds since its pull cursor moved
    pull_lag_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Snapshot:
    """The numbers of one scrape, per partner and for the connection pool."""

    partners: dict[str, PartnerNumbers]
    pool_checked_out: float | None = None
    pool_size: float | None = None


_BY_PARTNER = {"hub_outbox_depth": "depth", "hub_outbox_oldest_age_seconds":
               "oldest_age_seconds", "hub_outbox_dead": "dead",
               "hub_delivery_retries_total": "retries", "hub_dead_letters_total": "dead_letters"}


def snapshot(db, partner_ids=()) -> Snapshot:
    """The numbers ``/metrics`` would serve now, read from the same collectors (the
    console shows these, so that it and the scrapes never disagree)."""
    out = Snapshot({p: PartnerNumbers(p) for p in partner_ids})

    def of(partner: str) -> PartnerNumbers:
        return out.partners.setdefault(partner, PartnerNumbers(partner))

    for family in _registry(db).collect():
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name in _BY_PARTNER:
                numbers = of(labels["partner"])
                attr = _BY_PARTNER[name]
                setattr(numbers, attr, getattr(numbers, attr) + value)
            elif name == "hub_deliveries_total" and labels["outcome"] in (
                    "delivered", "lease_lost"):
                numbers = of(labels["partner"])
                attr = labels["outcome"]
                setattr(numbers, attr, getattr(numbers, attr) + value)
            elif name == "hub_pulls_total":
                numbers = of(labels["partner"])
                if labels["outcome"] == "ok":
                    numbers.pulls_ok += value
                else:
                    numbers.pulls_failed += value
            elif name == "hub_pull_lag_seconds":
                of(labels["partner"]).pull_lag_seconds[labels["resource_type"]] = value
            elif name == "hub_db_pool_checked_out":
                out.pool_checked_out = value
            elif name == "hub_db_pool_size":
                out.pool_size = value
    out.partners = dict(sorted(out.partners.items()))
    return out


class _Default(Collector):
    """The process-wide registry (the counters above, process and platform metrics)."""

    def collect(self):
        return REGISTRY.collect()

