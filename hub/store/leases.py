"""One pooled connection per request, for the transactions it runs one after another.

An API read used to check a connection out of the pool three times: the client's
revocation check, the read's unit of work, and the AuditEvent's transaction (each checkout
runs the pool's events, a ``pool_pre_ping`` round trip on PostgreSQL, and the reset on
return). Within ``lease(engine)`` (the app enters one per request), ``connection(engine)``
and ``take``/``give_back`` hand out one connection, checked out on first use and returned
to the pool when the lease ends.

The transactions stay what they were: each user of the connection ends its own
transaction before the next begins (``give_back`` rolls back whatever is left open, as the
pool's reset on return did), so nothing one reads or writes is seen through another's
transaction. The connection serves one user at a time: while it is taken, another user
(a unit of work opened inside another) checks out a connection of its own, as before. A
connection the database dropped (invalidated) is replaced at the next use. Outside a lease
(the worker, the command line) every user checks out its own, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)


class _Lease:
    """The connection of one request and whether a user has it now."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None
        self.taken = False

    def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            conn.close()


_CURRENT: ContextVar[_Lease | None] = ContextVar("hub_connection_lease", default=None)


@contextmanager
def lease(engine: Engine) -> Iterator[None]:
    """Within the block, ``connection(engine)``/``take(engine)`` share one connection."""
    current = _Lease(engine)
    token = _CURRENT.set(current)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        current.close()


def take(engine: Engine) -> Connection | None:
    """The lease's connection, now reserved for the caller (no transaction open), or None
    outside a lease of ``engine`` or while another user has it; ``give_back`` it."""
    current = _CURRENT.get()
    if current is None or current.engine is not engine or current.taken:
        return None
    conn = current.conn
    if conn is not None and (conn.closed or conn.invalidated):
        current.close()
        conn = None
    if conn is None:
        conn = current.conn = engine.connect()
    current.taken = True
    return conn


def give_back(conn: Connection) -> None:
    """End what is left of the caller's transaction and free the connection for the
    request's next user."""
    current = _CURRENT.get()
    if current is None or current.conn is not conn:
        return
    current.taken = False
    if conn.in_transaction() and not conn.invalidated:
        try:
            conn.rollback()
        except Exception as exc:  # a broken connection: the next user gets a new one
            log.warning("a leased connection failed to roll back (%s); it is replaced",
                        type(exc).__name__)
            current.conn = None
            conn.invalidate()


@contextmanager
def connection(engine: Engine) -> Iterator[Connection]:
    """The lease's connection if free, else one of the pool's for the block."""
    conn = take(engine)
    if conn is None:
        with engine.connect() as own:
            yield own
        return
    try:
        yield conn
    finally:
        give_back(conn)
