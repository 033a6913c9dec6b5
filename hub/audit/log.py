"""The append-only audit log table: one row (one insert) per audited request.

Columns that searches need are kept beside the AuditEvent JSON: ``recorded`` (date),
``agents`` (client id, Organization, console user), ``entities`` and ``patients``
(space-separated references, matched as whole words). Nothing updates a row; rows leave only through the
retention purge (``purge``, HUB_AUDIT_RETENTION_DAYS, run by ``hub audit purge`` and the
worker).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
)

from hub.clock import utcnow
from hub.store.db import Database, metadata
from hub.store.uow import UnitOfWork

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("recorded", DateTime(), nullable=False),  # naive UTC
    Column("action", String(1), nullable=False),
    Column("outcome", String(2), nullable=False),
    Column("agents", Text, nullable=False),  # " client-id Organization/x "
    Column("entities", Text, nullable=False),  # " Type/id/_history/v Type/id "
    Column("patients", Text, nullable=False),  # " Patient/a Patient/b "
    Column("content", Text, nullable=False),
    Index("ix_audit_events_recorded", "recorded"),
)
A = audit_events


#: An AuditEvent's JSON, as ``json.dumps(event, separators=(",", ":"))`` writes it; one
#: encoder for every row, without the check for circular references (an event is a tree
#: of dicts and lists built by ``hub.audit.events``), which costs a dict entry per object.
_content = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _words(values) -> str:
    return " " + " ".join(v.replace(" ", "") for v in values if v) + " "


def row(event: dict, recorded: datetime, client_id: str, organization: str | None,
        entities: list[str], patients: list[str], user: str | None = None) -> dict:
    """The ``audit_events`` row of one AuditEvent (``user``: the console user)."""
    return {"id": event["id"], "recorded": recorded, "action": event["action"],
            "outcome": event["outcome"], "agents": _words([client_id, organization, user]),
            "entities": _words([*entities, *{"/".join(e.split("/")[:2]) for e in entities}]),
            "patients": _words(patients), "content": _content(event)}


#: One statement for every insert (compiled once, executemany for a batch of rows).
INSERT = insert(A)

#: The largest batch inserted by one multi-row statement built once (``insert_rows``).
MULTI_ROW_MAX = 32


@functools.cache
def _insert_rows(count: int):
    return insert(A).values([{c.name: bindparam(f"{c.name}_{n}", type_=c.type) for c in A.c}
                             for n in range(count)])


def insert_rows(rows: list[dict]):
    """(statement, values): one INSERT of all ``rows`` (atomic by itself), the statement
    built once per number of rows up to ``MULTI_ROW_MAX``, its values named
    ``<column>_<n>``; None past that (then ``INSERT.values(rows)``)."""
    if not 1 <= len(rows) <= MULTI_ROW_MAX:
        return None
    return _insert_rows(len(rows)), {f"{key}_{n}": value for n, r in enumerate(rows)
                                     for key, value in r.items()}


def record(session, event: dict, recorded: datetime, client_id: str,
           organization: str | None, entities: list[str], patients: list[str],
           user: str | None = None) -> None:
    """Insert one AuditEvent (in the caller's transaction); ``user``: the console user."""
    session.execute(INSERT, [row(event, recorded, client_id, organization, entities,
                                 patients, user)])


def _like(column, word: str):
    escaped = word.replace(" ", "").replace("\\", "\\\\").replace("%", "\\%") \
        .replace("_", "\\_")
    return column.like(f"% {escaped} %", escape="\\")


def search(session, *, since: datetime | None = None, until: datetime | None = None,
           agents: Sequence[str] = (), entities: Sequence[str] = (),
           patients: Sequence[str] = (), ids: Sequence[str] = (), count: int = 20,
           offset: int = 0) -> tuple[list[dict], int]:
    """(AuditEvents newest first, total) matching every criterion given; each list is an
    OR of its values."""
    conds = []
    if since is not None:
        conds.append(A.c.recorded >= since)
    if until is not None:
        conds.append(A.c.recorded < until)
    for column, values in ((A.c.agents, agents), (A.c.entities, entities),
                           (A.c.patients, patients)):
        if values:
            conds.append(or_(*[_like(column, v) for v in values]))
    if ids:
        conds.append(A.c.id.in_(list(ids)))
    total = session.execute(select(func.count()).select_from(A).where(*conds)).scalar_one()
    rows = session.execute(select(A.c.content).where(*conds).order_by(
        A.c.recorded.desc(), A.c.id).offset(offset).limit(count)).scalars()
    return [json.loads(r) for r in rows], total


def purge(session, before: datetime) -> int:
    """Delete the AuditEvents recorded before ``before`` (retention); how many."""
    return session.execute(delete(A).where(A.c.recorded < before)).rowcount or 0


def purge_expired(db: Database, retention_days: int, now: datetime | None = None) -> int:
    """Purge, in a transaction of its own, what is older than ``retention_days``."""
    with UnitOfWork(db) as uow:
        now = now or utcnow().replace(tzinfo=None)  # stored as naive UTC
        removed = purge(uow.session, now - timedelta(days=retention_days))
        uow.commit()
    return removed


def export(session, since: datetime | None = None, batch: int = 1000) -> Iterator[dict]:
    """Every AuditEvent recorded at or after ``since``, oldest first."""
    last = None
    while True:
        stmt = select(A.c.recorded, A.c.id, A.c.content)
        if since is not None:
            stmt = stmt.where(A.c.recorded >= since)
        if last is not None:
            stmt = stmt.where((A.c.recorded > last[0]) |
                              ((A.c.recorded == last[0]) & (A.c.id > last[1])))
        rows = session.execute(stmt.order_by(A.c.recorded, A.c.id).limit(batch)).all()
        for row in rows:
            yield json.loads(row.content)
        if len(rows) < batch:
            return
        last = (rows[-1].recorded, rows[-1].id)
