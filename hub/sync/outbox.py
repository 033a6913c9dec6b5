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
from typing import Any, cast

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.fhirstore.repository import ResourceRepository
from hub.store.db import OUTBOX_WRITTEN, Database
from hub.store.sync_tables import outbox, sync_links
from hub.sync.cursors import get_cursor
from hub.sync.references import targets

#: ``pull`` reads a partner's changes since its cursor (``hub.sync.pulls``); ``send`` and
#: ``cancel`` are the agency-json referral calls (resource type ``Referral``).
#: ``poll`` searches the partner with the row's options (the polls of pended requests).
OPERATIONS = ("create", "update", "put", "submit", "delete", "pull", "send", "cancel", "poll")
ACTIVE = ("pending", "in-flight")
#: Operations that only read from the partner: no resource there, so no link in the ledger.
READS = ("pull", "poll")
#: Operations that write a resource of ours at the partner (its references are rewritten).
WRITES = ("create", "put", "update")


@dataclass
class Link:
    """The sync ledger's link of a local resource to its copy at a partner."""

    local_type: str
    local_id: str
    partner_id: str
    remote_id: str | None = None
    remote_version: str | None = None
    last_ack_at: datetime | None = None
    last_error: str | None = None
    conflict_version: str | None = None
    conflict_at: datetime | None = None
    sent_hash: str | None = None


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

    @classmethod
    def from_row(cls, row) -> Delivery:
        return cls(**{c.name: row._mapping[c.name] for c in outbox.columns})

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


def _claimable(now: datetime):
    """Due (pending and its time has come, or in flight with an expired lease) and not
    behind an earlier active row of the same (partner, case)."""
    earlier = outbox.alias("earlier")
    blocked = exists().where(earlier.c.partner_id == outbox.c.partner_id,
                             earlier.c.case_id == outbox.c.case_id,
                             earlier.c.id < outbox.c.id,
                             earlier.c.status.in_(ACTIVE))
    due = or_(and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now),
              and_(outbox.c.status == "in-flight", outbox.c.claimed_until < now))
    return and_(due, ~blocked)


def _claim_values(worker_id: str, now: datetime, lease_seconds: float) -> dict:
    return {"status": "in-flight", "claimed_by": worker_id,
            "claimed_until": now + timedelta(seconds=lease_seconds),
            "attempts": outbox.c.attempts + 1}


def claim(db: Database, worker_id: str, *, limit: int = 1, lease_seconds: float = 300.0,
          now: datetime | None = None, partner_id: str | None = None) -> list[Delivery]:
    """Claim up to ``limit`` due deliveries for ``worker_id`` (with their links)."""
    now = now or utcnow()
    condition = _claimable(now)
    if partner_id:
        condition = and_(condition, outbox.c.partner_id == partner_id)
    values = _claim_values(worker_id, now, lease_seconds)
    claimed: list[Delivery] = []
    if db.engine.dialect.name == "postgresql":
        candidates = (select(outbox.c.id).where(condition).order_by(outbox.c.id).limit(limit)
                      .with_for_update(skip_locked=True, of=outbox).cte("candidates"))
        stmt = (update(outbox).where(outbox.c.id == candidates.c.id).values(**values)
                .returning(*outbox.c))
        with db.engine.begin() as conn:
            claimed = [Delivery.from_row(r) for r in conn.execute(stmt)]
    else:
        with db.engine.connect() as conn:
            ids = conn.execute(select(outbox.c.id).where(condition).order_by(outbox.c.id)
                               .limit(limit)).scalars().all()
        for row_id in ids:
            # compare-and-set: only if still claimable, else another worker was first
            stmt = (update(outbox).where(outbox.c.id == row_id, condition).values(**values)
                    .returning(*outbox.c))
            with db.engine.begin() as conn:
                row = conn.execute(stmt).first()
            if row is not None:
                claimed.append(Delivery.from_row(row))
    claimed.sort(key=lambda d: d.id)
    if claimed:
        with db.engine.connect() as conn:
            for delivery in claimed:
                if delivery.operation == "pull":
                    delivery.cursor = get_cursor(conn, delivery.partner_id,
                                                 delivery.resource_type)
                    continue
                if delivery.operation in READS:
                    continue
                delivery.link = _load_link(conn, delivery.resource_type, delivery.resource_id,
                                           delivery.partner_id)
                if delivery.operation in WRITES and delivery.payload:
                    delivery.targets = linked_targets(conn, delivery.partner_id,
                                                      targets(delivery.payload))
                    delivery.load = _loader(db)
    return claimed


def _loader(db: Database) -> Callable[[str, str], dict | None]:
    def load(rtype: str, rid: str) -> dict | None:
        with db.sessions() as session:
            stored = ResourceRepository(session).read(rtype, rid)
        return None if stored is None or stored.deleted else stored.content
    return load


def linked_targets(conn, partner_id: str, wanted: list[tuple[str, str]]) -> dict[str, str]:
    """``"Type/id"`` -> the partner's id, for those of ``wanted`` the ledger links there."""
    out: dict[str, str] = {}
    for rtype, rid in wanted:
        link = _load_link(conn, rtype, rid, partner_id)
        if link is not None and link.remote_id:
            out[f"{rtype}/{rid}"] = link.remote_id
    return out


def _load_link(conn, local_type: str, local_id: str, partner_id: str) -> Link | None:
    row = conn.execute(select(sync_links).where(
        sync_links.c.local_type == local_type, sync_links.c.local_id == local_id,
        sync_links.c.partner_id == partner_id)).first()
    return Link(**row._mapping) if row is not None else None


def get_link(session_or_conn, local_type: str, local_id: str, partner_id: str) -> Link | None:
    """The link of a local resource at a partner, or None."""
    return _load_link(session_or_conn, local_type, local_id, partner_id)


def _save_link(conn, delivery: Delivery, **values) -> None:
    key = {"local_type": delivery.resource_type, "local_id": delivery.resource_id,
           "partner_id": delivery.partner_id}
    where = [sync_links.c[k] == v for k, v in key.items()]
    if conn.execute(update(sync_links).where(*where).values(**values)).rowcount == 0:
        conn.execute(insert(sync_links).values(**key, **values))


def _owned(delivery: Delivery, worker_id: str):
    return and_(outbox.c.id == delivery.id, outbox.c.status == "in-flight",
                outbox.c.claimed_by == worker_id)


def mark_done(db: Database, delivery: Delivery, worker_id: str, *, remote_id: str | None,
              remote_version: str | None, http_status: int | None = None,
              response: dict | None = None, now: datetime | None = None,
              sent_hash: str | None = None, relinked: list[dict] | None = None) -> bool:
    """Record a delivery that went through, and its link; False if our lease was lost."""
    now = now or utcnow()
    with db.engine.begin() as conn:
        done = conn.execute(update(outbox).where(_owned(delivery, worker_id)).values(
            status="done", done_at=now, last_status=http_status, last_error=None,
            response=response, claimed_by=None, claimed_until=None)).rowcount
        if not done:
            return False
        if delivery.operation == "delete":
            _save_link(conn, delivery, remote_version=None, last_ack_at=now, last_error=None)
        elif delivery.operation in READS:
            pass  # nothing of ours at the partner (a pull's cursor moves when applied)
        elif remote_id is not None or delivery.operation != "submit":
            _save_link(conn, delivery, remote_id=remote_id, remote_version=remote_version,
                       last_ack_at=now, last_error=None, conflict_version=None,
                       conflict_at=None, sent_hash=sent_hash)
        for target in relinked or []:  # what it pointed at, created again at the partner
            _save_target_link(conn, delivery.partner_id, target, now)
    return True


def _save_target_link(conn, partner_id: str, target: dict, now: datetime) -> None:
    key = {"local_type": target["type"], "local_id": target["id"], "partner_id": partner_id}
    values = {"remote_id": target["remote_id"], "remote_version": target.get("version"),
              "sent_hash": target.get("hash"), "last_ack_at": now, "last_error": None,
              "conflict_version": None, "conflict_at": None}
    where = [sync_links.c[k] == v for k, v in key.items()]
    if conn.execute(update(sync_links).where(*where).values(**values)).rowcount == 0:
        conn.execute(insert(sync_links).values(**key, **values))


def mark_failed(db: Database, delivery: Delivery, worker_id: str, *, error: str,
                http_status: int | None = None, retry_in: float | None = None,
                response: dict | None = None, conflict_version: str | None = None,
                now: datetime | None = None) -> bool:
    """Back to pending in ``retry_in`` seconds, or dead when ``retry_in`` is None.

    The error also goes to the resource's link (created if need be), so the ledger shows
    the last failure; a 412 records the partner's version in ``conflict_version``.
    False if our lease was lost (another worker owns the row now).
    """
    now = now or utcnow()
    values: dict[str, Any] = {"last_error": error, "last_status": http_status,
                              "claimed_by": None, "claimed_until": None}
    if response is not None:
        values["response"] = response
    if retry_in is None:
        values["status"] = "dead"
    else:
        values.update(status="pending", next_attempt_at=now + timedelta(seconds=retry_in))
    with db.engine.begin() as conn:
        if not conn.execute(update(outbox).where(_owned(delivery, worker_id))
                            .values(**values)).rowcount:
            return False
        if delivery.operation in READS:
            return True  # no resource link: the row itself shows the error
        link: dict[str, Any] = {"last_error": error}
        if http_status == 412:
            link.update(conflict_version=conflict_version, conflict_at=now)
        _save_link(conn, delivery, **link)
    return True


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
