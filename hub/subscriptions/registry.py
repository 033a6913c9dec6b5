"""The ``subscriptions`` rows: read, write, count events and failures, change status.

A status the server decides (active after the handshake, error after failures) is also
written as a new version of the Subscription resource (``status``, ``error``), so a client
reading its Subscription sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.fhirstore.repository import ResourceRepository
from hub.store import driver
from hub.store.subscription_tables import subscriptions as S
from hub.subscriptions.spec import Spec
from hub.subscriptions.topics import REVIEW_DUE

#: Statuses under which events are notified (error: the server keeps trying, IG).
NOTIFIED = ("active", "error")
#: The status of the row of a deleted Subscription: kept (without its secrets) so that
#: its versions stay its creator's (``hub.fhirstore.compartments.OWNED_TYPES``); it
#: notifies nothing and ``load`` does not return it.
DELETED = "deleted"

#: ``notified_for``'s statement, built once (it runs before every commit that wrote).
_NOTIFIED_FOR = select(S).where(
    S.c.status.in_(NOTIFIED), S.c.resource_type.in_(bindparam("types", expanding=True))
).order_by(S.c.id)
#: the same for one type (a FHIR create, update or delete), run on the driver
#: (``hub.store.driver``: no expanding parameters there)
_NOTIFIED_STATUSES = {f"s{n}": status for n, status in enumerate(NOTIFIED)}
_NOTIFIED_FOR_TYPE = select(S).where(
    S.c.status.in_([bindparam(key) for key in _NOTIFIED_STATUSES]),
    S.c.resource_type == bindparam("type")).order_by(S.c.id)


@dataclass
class Row:
    id: str
    client_id: str
    organization: str | None
    status: str
    kind: str
    resource_type: str
    spec: Spec
    heartbeat_seconds: int | None
    next_heartbeat_at: datetime | None
    events: int
    failures: int
    error_count: int
    last_error: str | None
    reviews_through: str | None = None

    @classmethod
    def of(cls, row) -> Row:
        return cls.of_mapping(dict(row._mapping))

    @classmethod
    def of_mapping(cls, m: dict) -> Row:
        m["spec"] = Spec.from_row(m["spec"])
        return cls(**m)


def load(conn, sid: str) -> Row | None:
    """The row of a live Subscription (None when deleted or never written)."""
    row = conn.execute(select(S).where(S.c.id == sid, S.c.status != DELETED)).first()
    return Row.of(row) if row is not None else None


def notified_for(conn, types: set[str]) -> list[Row]:
    """The subscriptions that notify events of ``types``, oldest id order."""
    if len(types) == 1 and isinstance(conn, Session):
        found = driver.mappings_in(conn, _NOTIFIED_FOR_TYPE,
                                   {**_NOTIFIED_STATUSES, "type": next(iter(types))})
        return [Row.of_mapping(m) for m in found]
    rows = conn.execute(_NOTIFIED_FOR, {"types": sorted(types)}).all()
    return [Row.of(r) for r in rows]


def save(session: Session, sid: str, *, client_id: str, organization: str | None,
         status: str, spec: Spec, restart: bool, now: datetime | None = None) -> None:
    """Insert or update the row of ``sid`` (owned by the client that created it);
    ``restart`` resets the consecutive failures and
    the heartbeat clock (the events count runs from the subscription's creation)."""
    now = now or utcnow()
    session.execute(delete(S).where(S.c.id == sid, S.c.status == DELETED))  # created anew
    values: dict[str, Any] = {
        "status": status, "kind": spec.kind, "resource_type": spec.resource_type, "spec": spec.to_row(),
        "heartbeat_seconds": spec.heartbeat}
    if restart:
        values.update(failures=0, last_error=None, next_heartbeat_at=(
            now + timedelta(seconds=spec.heartbeat)) if spec.heartbeat else None)
    updated = cast(CursorResult[Any], session.execute(update(S).where(S.c.id == sid)
                                                      .values(**values)))
    if updated.rowcount == 0:
        values.setdefault("failures", 0)
        values.setdefault("next_heartbeat_at", None)
        # the creator's rights stay the subscription's, whoever updates it later
        # a review-due subscription hears of reviews falling due from its creation on
        through = now.date().isoformat() if spec.criteria == REVIEW_DUE else None
        session.execute(insert(S).values(id=sid, client_id=client_id, organization=organization,
                                         events=0, error_count=0, reviews_through=through,
                                         **values))


def remove(session: Session, sid: str) -> None:
    """A deleted Subscription: its row kept as a tombstone (owner only, no secrets)."""
    row = load(session, sid)
    if row is None:
        return
    row.spec.headers = []
    session.execute(update(S).where(S.c.id == sid).values(
        status=DELETED, spec=row.spec.to_row(), next_heartbeat_at=None))


def count_event(session: Session, row: Row, now: datetime) -> int:
    """The next event number of ``row`` (events-since-subscription-start); the update also
    locks the row, so that the notifications of one subscription are queued in commit
    order. An event postpones the next heartbeat by a period."""
    values: dict[str, Any] = {"events": S.c.events + 1}
    if row.heartbeat_seconds:
        values["next_heartbeat_at"] = now + timedelta(seconds=row.heartbeat_seconds)
    session.execute(update(S).where(S.c.id == row.id).values(**values))
    return int(session.execute(select(S.c.events).where(S.c.id == row.id)).scalar_one())


def due_heartbeats(conn, now: datetime) -> list[Row]:
    rows = conn.execute(select(S).where(
        S.c.status.in_(NOTIFIED), S.c.heartbeat_seconds.is_not(None),
        S.c.next_heartbeat_at <= now).order_by(S.c.id)).all()
    return [Row.of(r) for r in rows]


def review_sweeps_due(conn, today: str) -> list[Row]:
    """The review-due subscriptions not yet swept through ``today`` (ISO date)."""
    rows = conn.execute(select(S).where(
        S.c.status.in_(NOTIFIED), S.c.reviews_through < today
    ).order_by(S.c.id)).all()
    return [Row.of(r) for r in rows]


def take_review_sweep(session: Session, row: Row, today: str) -> bool:
    """Move the review sweep of ``row`` on to ``today``, if nobody else did."""
    moved = cast(CursorResult[Any], session.execute(update(S).where(
        S.c.id == row.id, S.c.reviews_through == row.reviews_through).values(
        reviews_through=today)))
    return moved.rowcount == 1


def take_heartbeat(session: Session, row: Row, now: datetime) -> bool:
    """Move the heartbeat clock of ``row`` one period on, if nobody else did (the caller
    then queues the heartbeat)."""
    moved = cast(CursorResult[Any], session.execute(update(S).where(
        S.c.id == row.id, S.c.next_heartbeat_at == row.next_heartbeat_at).values(
        next_heartbeat_at=now + timedelta(seconds=row.heartbeat_seconds or 0))))
    return moved.rowcount == 1


def error_text(row: Row) -> str:
    """``Subscription.error``: how many attempts failed and the last error."""
    return (f"{row.failures} consecutive delivery failures ({row.error_count} since the "
            f"subscription started); last: {row.last_error or 'unknown'}")[:2000]


def record_attempt(session: Session, sid: str, *, ok: bool, error: str | None,
                   handshake: bool, max_failures: int) -> str | None:
    """Count one delivery attempt; the new status when it changes (also written to the
    Subscription resource), else None."""
    row = load(session, sid)
    if row is None or row.status == "off":
        return None
    if ok:
        session.execute(update(S).where(S.c.id == sid).values(failures=0, last_error=None))
        new = "active" if row.status in ("requested", "error") else None
    else:
        session.execute(update(S).where(S.c.id == sid).values(
            failures=S.c.failures + 1, error_count=S.c.error_count + 1,
            last_error=(error or "")[:1000]))
        row = load(session, sid)
        assert row is not None
        failed_out = handshake or row.failures >= max_failures
        new = "error" if failed_out and row.status != "error" else None
    if new is not None:
        session.execute(update(S).where(S.c.id == sid).values(status=new))
        row = load(session, sid)
        assert row is not None
        write_status(session, row)
    return new


def write_status(session: Session, row: Row) -> None:
    """A new version of the Subscription resource with the row's status (and error)."""
    repo = ResourceRepository(session)
    current = repo.read("Subscription", row.id)
    if current is None or current.deleted or current.content is None:
        return
    content = dict(current.content)
    content["status"] = row.status
    if row.status == "error":
        content["error"] = error_text(row)
    else:
        content.pop("error", None)
    repo.update("Subscription", row.id, content, expected_version=current.version_id)
