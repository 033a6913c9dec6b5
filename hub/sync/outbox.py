"""The durable outbox: enqueue in the caller's transaction, claim in order, finish.

Ordering: deliveries of one (partner, case) go out in id order. A row is claimable only
when no earlier row of the same (partner, case) is pending or in flight; different cases
go in parallel. Dead rows do not block the rows after them (they wait for a human).

Claiming takes a lease (``claimed_until``). A worker killed mid-delivery leaves its row
in flight; once the lease expires any worker reclaims it. Every claim counts an attempt,
so a row that kills its workers still reaches the attempt limit. Leases must be longer
than a delivery can take (the partner's timeouts), see ``hub.sync.worker``.

PostgreSQL claims with ``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite (one writer at a
time) with a compare-and-set UPDATE that repeats the claimable condition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    and_,
    any_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.fhirstore.repository import ResourceRepository
from hub.store.db import OUTBOX_WRITTEN, Database
from hub.store.sync_tables import outbox, sync_links
from hub.sync import ledger, outbox_pg
from hub.sync.cursors import get_cursor
from hub.sync.ledger import Link
from hub.sync.references import targets

#: ``pull`` reads a partner's changes since its cursor (``hub.sync.pulls``); ``send`` and
#: ``cancel`` are the agency-json referral calls (resource type ``Referral``).
#: ``poll`` searches the partner with the row's options (the polls of pended requests).
#: ``notify`` sends a Subscription notification (``hub.sync.notify``).
OPERATIONS = ("create", "update", "put", "submit", "delete", "pull", "send", "cancel", "poll",
              "notify")
ACTIVE = ("pending", "in-flight")
#: Operations that leave no resource of ours at the partner, so no link in the ledger: the
#: reads, and the notifications sent to subscribers.
READS = ("pull", "poll", "notify")
#: Operations that write a resource of ours at the partner (its references are rewritten).
WRITES = ("create", "put", "update")


_COLUMNS = tuple(c.name for c in outbox.columns)


@dataclass
class Delivery:
    """One outbox row (and, once claimed, the link of its resource at the partner)."""

    id: int
    partner_id: str
    case_id: str
    resource_type: str
    resource_id: str
    operation: str
    payload: dict | None = None
    options: dict | None = None
    resource_version: str | None = None
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    last_error: str | None = None
    last_status: int | None = None
    response: dict | None = None
    created_at: datetime | None = None
    done_at: datetime | None = None
    link: Link | None = field(default=None, compare=False)
    #: For a ``pull``: the partner's cursor when the row was claimed (not a column).
    cursor: str | None = field(default=None, compare=False)
    #: For a write: ``"Type/id"`` -> the partner's id of each hub resource the payload
    #: points at that the ledger links at this partner (``hub.sync.references``).
    targets: dict[str, str] = field(default_factory=dict, compare=False)
    #: For a write: ``load(type, id)``, the hub's current content of a resource it points
    #: at (None when gone), to create again what a partner lost (``hub.sync.deliver``).
    load: Callable[[str, str], dict | None] | None = field(default=None, compare=False)
    #: For a write whose references are not rewritten for the partner: reads ``targets``
    #: from the ledger when a failure needs them (``hub.sync.deliver``), instead of every
    #: claim reading the links of all a batch points at (None: ``targets`` is complete).
    find_targets: Callable[[], dict[str, str]] | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row) -> Delivery:
        mapping = row._mapping
        return cls(**{name: mapping[name] for name in _COLUMNS})

    def to_dict(self) -> dict:
        """JSON-friendly form (CLI ``--json``, admin API)."""
        out = {c.name: getattr(self, c.name) for c in outbox.columns}
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return out


def enqueue(session: Session, *, partner_id: str, resource_type: str, resource_id: str,
            operation: str, payload: dict | None = None, case_id: str | None = None,
            resource_version: str | None = None, options: dict | None = None,
            now: datetime | None = None, not_before: datetime | None = None) -> int:
    """Add a delivery in the caller's transaction (the caller commits); its id.

    ``not_before``: the row is not due before then (default: at once).
    ``case_id`` is the ordering key (default ``Type/id`` of the resource). Writers of one
    case must be serialized (they lock or update the case row first), so that ids follow
    commit order within a case.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown outbox operation {operation!r} (one of {OPERATIONS})")
    now = now or utcnow()
    session.info[OUTBOX_WRITTEN] = True  # executors are woken after the commit
    result = cast(CursorResult[Any], session.execute(insert(outbox).values(
        partner_id=partner_id, case_id=case_id or f"{resource_type}/{resource_id}",
        resource_type=resource_type, resource_id=resource_id,
        resource_version=resource_version, operation=operation, payload=payload,
        options=options, status="pending", attempts=0, next_attempt_at=not_before or now,
        created_at=now)))
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every supported database returns it
        raise RuntimeError("the database did not return the new outbox row's id")
    return int(key[0])


def _claimable(now, table=outbox):
    """Due (pending and its time has come, or in flight with an expired lease) and not
    behind an earlier active row of the same (partner, case). ``now``: a datetime or a
    bind parameter; ``table``: the outbox or an alias of it."""
    earlier = outbox.alias("earlier")
    blocked = exists().where(earlier.c.partner_id == table.c.partner_id,
                             earlier.c.case_id == table.c.case_id,
                             earlier.c.id < table.c.id,
                             earlier.c.status.in_(ACTIVE))
    due = or_(and_(table.c.status == "pending", table.c.next_attempt_at <= now),
              and_(table.c.status == "in-flight", table.c.claimed_until < now))
    return and_(due, ~blocked)


@lru_cache(maxsize=8)
def _claim_statement(dialect: str, by_partner: bool):
    """The claim as one statement, built once (bind parameters ``now``, ``worker``,
    ``until``, ``limit``, ``partner``): building SQLAlchemy expressions per call cost
    more than running them (bench/README.md, profile of the outbox bench).

    PostgreSQL: the due rows locked ``FOR UPDATE SKIP LOCKED`` in a CTE, then updated.
    SQLite: one UPDATE whose subquery picks the due rows; SQLite runs it under its single
    write lock, so two claimers never both take a row and the claimable condition is read
    in the same transaction that sets the lease.
    """
    due = outbox.alias("due")
    condition = _claimable(bindparam("now"), due)
    if by_partner:
        condition = and_(condition, due.c.partner_id == bindparam("partner"))
    picked = select(due.c.id).where(condition).order_by(due.c.id).limit(bindparam("limit"))
    values = {"status": "in-flight", "claimed_by": bindparam("worker"),
              "claimed_until": bindparam("until"), "attempts": outbox.c.attempts + 1}
    if dialect == "postgresql":
        candidates = picked.with_for_update(skip_locked=True, of=due).cte("candidates")
        return (update(outbox).where(outbox.c.id == candidates.c.id).values(**values)
                .returning(*outbox.c))
    return (update(outbox).where(outbox.c.id.in_(picked.scalar_subquery())).values(**values)
            .returning(*outbox.c))


def claim(db: Database, worker_id: str, *, limit: int = 1, lease_seconds: float = 300.0,
          now: datetime | None = None, partner_id: str | None = None) -> list[Delivery]:
    """Claim up to ``limit`` due deliveries for ``worker_id`` (with their links), in one
    statement and one transaction.

    A batch holds at most one row of a (partner, case): the next row of a case is behind
    an active one until that one is finished, so order per (partner, case) holds however
    large the batch. Every row of the batch gets the same lease (``claimed_until``).
    """
    with db.engine.begin() as conn:
        return _claim(db, conn, worker_id, limit, lease_seconds, now or utcnow(), partner_id)


def _claim(db: Database, conn, worker_id: str, limit: int, lease_seconds: float,
           now: datetime, partner_id: str | None) -> list[Delivery]:
    """``claim`` in the caller's transaction."""
    stmt = _claim_statement(db.engine.dialect.name, bool(partner_id))
    params = {"now": now, "worker": worker_id, "limit": max(1, limit),
              "until": now + timedelta(seconds=lease_seconds)}
    if partner_id:
        params["partner"] = partner_id
    claimed = sorted((Delivery.from_row(r) for r in conn.execute(stmt, params)),
                     key=lambda d: d.id)
    if claimed:
        _attach_ledger(db, conn, claimed)
    return claimed


def _attach_ledger(db: Database, conn, claimed: list[Delivery]) -> None:
    """What each claimed row needs from the ledger: its link, the partner ids of what a
    write points at, a pull's cursor. The links of the whole batch in one query, in the
    claim's transaction (one connection checkout per batch).

    The partner ids of what a write points at are read here only for a write whose
    references are rewritten for the partner (``options.references``); any other write
    needs them only when the partner refuses it or lost it (``hub.sync.deliver``), and
    reads them then (``Delivery.find_targets``): walking every payload and reading the
    links of all it points at was a quarter of a claim's CPU (bench/README.md)."""
    wanted: set[tuple[str, str, str]] = set()
    pointed: dict[int, list[tuple[str, str]]] = {}
    for delivery in claimed:
        if delivery.operation in READS:
            continue
        wanted.add((delivery.resource_type, delivery.resource_id, delivery.partner_id))
        if delivery.operation in WRITES and delivery.payload and _rewrites(delivery):
            pointed[delivery.id] = targets(delivery.payload)
            wanted.update((t, i, delivery.partner_id) for t, i in pointed[delivery.id])
    links = ledger.load_links(conn, wanted)
    for delivery in claimed:
        if delivery.operation == "pull":
            delivery.cursor = get_cursor(conn, delivery.partner_id, delivery.resource_type)
            continue
        if delivery.operation in READS:
            continue
        delivery.link = links.get((delivery.resource_type, delivery.resource_id,
                                   delivery.partner_id))
        if delivery.id in pointed:
            delivery.targets = ledger.linked(links, delivery.partner_id, pointed[delivery.id])
            delivery.load = _loader(db)
        elif delivery.operation in WRITES and delivery.payload:
            delivery.find_targets = partial(_find_targets, db, delivery)
            delivery.load = _loader(db)


def _rewrites(delivery: Delivery) -> bool:
    """Whether the write's references are rewritten for its partner (``hub.sync.deliver``)."""
    return (delivery.options or {}).get("references") == "partner"


def _find_targets(db: Database, delivery: Delivery) -> dict[str, str]:
    """``Delivery.targets`` of a write, read from the ledger now."""
    wanted = targets(delivery.payload or {})
    if not wanted:
        return {}
    with db.engine.connect() as conn:
        return ledger.linked_targets(conn, delivery.partner_id, wanted)


def _loader(db: Database) -> Callable[[str, str], dict | None]:
    def load(rtype: str, rid: str) -> dict | None:
        with db.sessions() as session:
            stored = ResourceRepository(session).read(rtype, rid)
        return None if stored is None or stored.deleted else stored.content
    return load


_OWNED = (outbox.c.id == bindparam("row_id"), outbox.c.status == "in-flight",
          outbox.c.claimed_by == bindparam("worker"))
#: Takes the rows of a batch that are still ours (a no-op write: row locks on PostgreSQL,
#: SQLite's write lock), so the updates after it need no per-row check.
@lru_cache(maxsize=4)
def _own_statement(dialect: str):
    """PostgreSQL: the ids as an array parameter (a constant text), else an ``IN`` list."""
    ids = outbox.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))) \
        if dialect == "postgresql" else outbox.c.id.in_(bindparam("ids", expanding=True))
    return (update(outbox).where(ids, outbox.c.status == "in-flight",
                                 outbox.c.claimed_by == bindparam("worker"))
            .values(claimed_by=outbox.c.claimed_by).returning(outbox.c.id))
_BY_ID = outbox.c.id == bindparam("row_id")
_DONE = update(outbox).where(_BY_ID).values(
    status="done", done_at=bindparam("now"), last_status=bindparam("http_status"),
    last_error=None, response=bindparam("response"), claimed_by=None, claimed_until=None)
_RETRY_LATER = update(outbox).where(_BY_ID).values(
    status="pending", next_attempt_at=bindparam("next_attempt_at"),
    last_error=bindparam("error"), last_status=bindparam("http_status"),
    claimed_by=None, claimed_until=None)
_DEAD = update(outbox).where(_BY_ID).values(
    status="dead", last_error=bindparam("error"), last_status=bindparam("http_status"),
    claimed_by=None, claimed_until=None)
#: A failure that brought an answer keeps it in ``response``; one without keeps the row's
#: earlier answer.
_RETRY_LATER_WITH_RESPONSE = _RETRY_LATER.values(response=bindparam("response"))
_DEAD_WITH_RESPONSE = _DEAD.values(response=bindparam("response"))
_RELEASE = update(outbox).where(*_OWNED).values(
    status="pending", claimed_by=None, claimed_until=None, attempts=outbox.c.attempts - 1)


@dataclass
class Done:
    """A delivery that went through (``finish``)."""

    delivery: Delivery
    remote_id: str | None = None
    remote_version: str | None = None
    http_status: int | None = None
    response: dict | None = None
    sent_hash: str | None = None
    relinked: list[dict] | None = None


@dataclass
class Failed:
    """A failed attempt: pending again in ``retry_in`` seconds, or dead when None."""

    delivery: Delivery
    error: str
    http_status: int | None = None
    retry_in: float | None = None
    response: dict | None = None
    conflict_version: str | None = None


class _Writes:
    """The statements of one ``finish``, grouped so that each runs as one executemany
    (psycopg pipelines them: one round trip instead of one per row)."""

    def __init__(self) -> None:
        self.rows: dict[Any, list[dict]] = {}
        #: link key -> values: two writes of one link in a batch (a resource two cases
        #: point at) merge, the later values winning, as two statements in a row would
        #: leave it; one upsert per key (a multi-row upsert may not touch a row twice)
        self.links: dict[tuple, dict] = {}

    def row(self, stmt, params: dict) -> None:
        self.rows.setdefault(stmt, []).append(params)

    def link(self, key: dict, values: dict) -> None:
        self.links.setdefault(tuple(key.values()), dict(key)).update(values)

    def run(self, conn) -> None:
        arrays = conn.dialect.name == "postgresql"  # a statement per kind: outbox_pg
        for stmt, params in self.rows.items():
            if arrays and stmt is _DONE and len({p["now"] for p in params}) == 1:
                conn.execute(outbox_pg.DONE, outbox_pg.done_params(params))
            else:
                conn.execute(stmt, params)
        by_columns: dict[tuple[str, ...], list[dict]] = {}
        for values in self.links.values():
            columns = tuple(sorted(c for c in values if c not in ledger.LINK_KEY))
            by_columns.setdefault(columns, []).append(values)
        for columns, params in by_columns.items():
            if arrays:
                conn.execute(outbox_pg.upsert_links(columns),
                             outbox_pg.links_params(columns, params))
            else:
                conn.execute(ledger.upsert_link(conn.dialect.name, columns), params)


def _link_key(delivery: Delivery) -> dict:
    return {"local_type": delivery.resource_type, "local_id": delivery.resource_id,
            "partner_id": delivery.partner_id}


def _record_done(writes: _Writes, item: Done, now: datetime) -> None:
    delivery = item.delivery
    writes.row(_DONE, {"row_id": delivery.id, "now": now, "http_status": item.http_status,
                       "response": item.response})
    if delivery.operation == "delete":
        writes.link(_link_key(delivery), {"remote_version": None, "last_ack_at": now,
                                          "last_error": None})
    elif delivery.operation in READS:
        pass  # nothing of ours at the partner (a pull's cursor moves when applied)
    elif item.remote_id is not None or delivery.operation != "submit":
        writes.link(_link_key(delivery), {
            "remote_id": item.remote_id, "remote_version": item.remote_version,
            "last_ack_at": now, "last_error": None, "conflict_version": None,
            "conflict_at": None, "sent_hash": item.sent_hash})
    for target in item.relinked or []:  # what it pointed at, created again at the partner
        writes.link({"local_type": target["type"], "local_id": target["id"],
                     "partner_id": delivery.partner_id},
                    {"remote_id": target["remote_id"], "remote_version": target.get("version"),
                     "sent_hash": target.get("hash"), "last_ack_at": now, "last_error": None,
                     "conflict_version": None, "conflict_at": None})


def _record_failed(writes: _Writes, item: Failed, now: datetime) -> None:
    delivery = item.delivery
    params: dict[str, Any] = {"row_id": delivery.id, "error": item.error,
                              "http_status": item.http_status}
    if item.retry_in is None:
        stmt = _DEAD if item.response is None else _DEAD_WITH_RESPONSE
    else:
        stmt = _RETRY_LATER if item.response is None else _RETRY_LATER_WITH_RESPONSE
        params["next_attempt_at"] = now + timedelta(seconds=item.retry_in)
    if item.response is not None:
        params["response"] = item.response
    writes.row(stmt, params)
    if delivery.operation in READS:
        return  # no resource link: the row itself shows the error
    link: dict[str, Any] = {"last_error": item.error}
    if item.http_status == 412:
        link.update(conflict_version=item.conflict_version, conflict_at=now)
    writes.link(_link_key(delivery), link)


def finish(db: Database, worker_id: str, results: list[Done | Failed], *,
           now: datetime | None = None) -> set[int]:
    """Record the outcomes of a claimed batch in one transaction; the ids of the rows
    still ours (a row whose lease another worker took is left to that worker).

    The same effects as ``mark_done`` / ``mark_failed`` per row: the rows still owned are
    taken first (one statement), then each kind of write runs once for all of them.
    """
    if not results:
        return set()
    with db.engine.begin() as conn:
        return _finish(conn, worker_id, results, now or utcnow())


def _finish(conn, worker_id: str, results: list[Done | Failed], now: datetime) -> set[int]:
    """``finish`` in the caller's transaction."""
    kept = set(conn.execute(_own_statement(conn.dialect.name), {
        "ids": [r.delivery.id for r in results], "worker": worker_id}).scalars())
    writes = _Writes()
    for item in results:
        if item.delivery.id not in kept:
            continue
        if isinstance(item, Done):
            _record_done(writes, item, now)
        else:
            _record_failed(writes, item, now)
    writes.run(conn)
    return kept


def finish_and_claim(db: Database, worker_id: str, results: list[Done | Failed], *,
                     limit: int, lease_seconds: float = 300.0, now: datetime | None = None,
                     partner_id: str | None = None) -> tuple[set[int], list[Delivery]]:
    """``finish`` the outcomes, then ``claim`` up to ``limit`` rows, in one transaction
    (one commit: one WAL sync on SQLite, fewer round trips on PostgreSQL); the ids of the
    rows still ours, and the rows claimed.

    The claim reads the rows just finished as done, so the next row of their cases is
    claimable in the same statement; rows still in flight keep theirs behind them.
    ``limit`` 0 only finishes.
    """
    now = now or utcnow()
    with db.engine.begin() as conn:
        kept = _finish(conn, worker_id, results, now) if results else set()
        claimed = _claim(db, conn, worker_id, limit, lease_seconds, now, partner_id) \
            if limit > 0 else []
    return kept, claimed


def release(db: Database, worker_id: str, deliveries: list[Delivery]) -> int:
    """Give back claimed rows that were not attempted (pending again at once, the claim's
    attempt uncounted); the number released."""
    if not deliveries:
        return 0
    with db.engine.begin() as conn:
        return sum(conn.execute(_RELEASE, {"row_id": d.id, "worker": worker_id}).rowcount
                   for d in deliveries)


def mark_done(db: Database, delivery: Delivery, worker_id: str, *, remote_id: str | None,
              remote_version: str | None, http_status: int | None = None,
              response: dict | None = None, now: datetime | None = None,
              sent_hash: str | None = None, relinked: list[dict] | None = None) -> bool:
    """Record a delivery that went through, and its link; False if our lease was lost."""
    item = Done(delivery, remote_id, remote_version, http_status, response, sent_hash, relinked)
    return bool(finish(db, worker_id, [item], now=now))


def mark_failed(db: Database, delivery: Delivery, worker_id: str, *, error: str,
                http_status: int | None = None, retry_in: float | None = None,
                response: dict | None = None, conflict_version: str | None = None,
                now: datetime | None = None) -> bool:
    """Back to pending in ``retry_in`` seconds, or dead when ``retry_in`` is None.

    The error also goes to the resource's link (created if need be), so the ledger shows
    the last failure; a 412 records the partner's version in ``conflict_version``.
    False if our lease was lost (another worker owns the row now).
    """
    item = Failed(delivery, error, http_status, retry_in, response, conflict_version)
    return bool(finish(db, worker_id, [item], now=now))


# -- operators: list, count, replay -------------------------------------------------------

def list_deliveries(session: Session, *, status: str | None = None,
                    partner_id: str | None = None, case_id: str | None = None,
                    limit: int = 100) -> list[Delivery]:
    """Deliveries, oldest first, filtered by status / partner / case."""
    stmt = select(outbox).order_by(outbox.c.id).limit(limit)
    if status:
        stmt = stmt.where(outbox.c.status == status)
    if partner_id:
        stmt = stmt.where(outbox.c.partner_id == partner_id)
    if case_id:
        stmt = stmt.where(outbox.c.case_id == case_id)
    return [Delivery.from_row(r) for r in session.execute(stmt)]


def get_delivery(session: Session, delivery_id: int) -> Delivery | None:
    row = session.execute(select(outbox).where(outbox.c.id == delivery_id)).first()
    return Delivery.from_row(row) if row is not None else None


def counts(session: Session) -> dict[str, int]:
    """Number of deliveries by status (all four statuses present)."""
    out = dict.fromkeys(("pending", "in-flight", "done", "dead"), 0)
    for status, n in session.execute(select(outbox.c.status, func.count())
                                     .group_by(outbox.c.status)):
        out[status] = n
    return out


def replay(session: Session, ids: list[int] | None = None, *, all_dead: bool = False,
           accept_remote_version: bool = False, now: datetime | None = None,
           progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Put dead deliveries back to pending with a fresh attempt count; their ids.
    ``progress(done, total)`` is told of each row replayed (in batches of 500).

    ``accept_remote_version``: for a row dead on a 412, a human has looked at the
    partner's version recorded in the link; the replay's If-Match then uses that version
    (it still fails if the partner changed again meanwhile). The caller commits.
    """
    now = now or utcnow()
    stmt = select(outbox.c.id, outbox.c.resource_type, outbox.c.resource_id,
                  outbox.c.partner_id).where(outbox.c.status == "dead")
    if not all_dead:
        stmt = stmt.where(outbox.c.id.in_(ids or []))
    rows = session.execute(stmt.order_by(outbox.c.id)).all()
    for row in rows:
        if accept_remote_version:
            where = (sync_links.c.local_type == row.resource_type,
                     sync_links.c.local_id == row.resource_id,
                     sync_links.c.partner_id == row.partner_id,
                     sync_links.c.conflict_version.is_not(None))
            session.execute(update(sync_links).where(*where).values(
                remote_version=sync_links.c.conflict_version, conflict_version=None,
                conflict_at=None))
    replayed = [row.id for row in rows]
    for start in range(0, len(replayed), 500):
        batch = replayed[start:start + 500]
        session.execute(update(outbox).where(outbox.c.id.in_(batch)).values(
            status="pending", attempts=0, next_attempt_at=now, claimed_by=None,
            claimed_until=None))
        if progress is not None:
            progress(start + len(batch), len(replayed))
    return replayed


def error_text(message: str, outcome: dict | None) -> str:
    """The ``last_error`` text: our message, then the partner's OperationOutcome as JSON."""
    if outcome:
        return f"{message}\nOperationOutcome: {json.dumps(outcome, sort_keys=True)}"
    return message


def record_summary(session: Session, delivery_id: int, summary: dict) -> None:
    """Replace a done row's response with what its handler made of it (the caller commits)."""
    session.execute(update(outbox).where(outbox.c.id == delivery_id).values(response=summary))
