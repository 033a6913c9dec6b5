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

PostgreSQL round trips (each one a wait for the server and work on both sides):

* ``autocommit(conn)``: one statement that needs no transaction around it (a read, or one
  INSERT that is atomic by itself) runs without BEGIN and ROLLBACK/COMMIT: 1 round trip
  instead of 3. The guard that a connection can never be handed on in autocommit (which
  would make the next unit of work's writes non-atomic): the block restores the driver's
  mode on the way out or, if it cannot, invalidates the connection (the pool discards it);
  ``take`` and every checkout of the pool (``install_checkout_ping``) refuse a connection
  still in autocommit all the same.
* The check at checkout that a pooled connection is alive (``install_checkout_ping``,
  SQLAlchemy's ``pool_pre_ping``: one round trip per checkout) is skipped for the checkout
  of ``first_row``, the request's first statement (the client check): a read that, if the
  connection turns out dropped (the database restarted), is run again once on a new one.
  Every other checkout is pinged as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError, DisconnectionError, InvalidatePoolError

from hub.store import driver

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

_FRESH = "hub.fresh_connection"

#: set while ``first_row`` checks a connection out: no ping (it retries a dropped one)
_UNPINGED: ContextVar[bool] = ContextVar("hub_unpinged_checkout", default=False)


def install_checkout_ping(engine: Engine) -> None:
    """``pool_pre_ping`` as a checkout event (the engine is made without it): a connection
    checked out of the pool is pinged (one round trip) unless ``first_row`` checks it out;
    one the database dropped invalidates the pool (every connection older than now is
    replaced, as ``pool_pre_ping`` does) and the pool checks out another. A connection in
    autocommit is never handed out (see the module)."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn, record) -> None:
        record.info[_FRESH] = True  # just opened: not pinged (as ``pool_pre_ping``)

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, _proxy) -> None:
        if getattr(dbapi_conn, "autocommit", False):  # never: ``autocommit`` restores it
            log.error("a pooled connection was in autocommit; it is discarded")
            raise DisconnectionError("a pooled connection was in autocommit")
        if record.info.pop(_FRESH, False) or _UNPINGED.get():
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_conn, None):
                raise InvalidatePoolError("a pooled connection was dropped") from exc
            raise


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
    """The lease's connection, now reserved for the caller (no transaction open, not in
    autocommit), or None outside a lease of ``engine`` or while another user has it;
    ``give_back`` it."""
    current = _CURRENT.get()
    if current is None or current.engine is not engine or current.taken:
        return None
    conn = current.conn
    if conn is not None and (conn.closed or conn.invalidated):
        current.close()
        conn = None
    elif conn is not None and _in_autocommit(conn):  # never: ``autocommit`` restores it
        log.error("a leased connection was in autocommit; it is discarded")
        current.conn = None
        conn.invalidate()
        conn.close()
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


def _in_autocommit(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.connection.dbapi_connection.autocommit)  # type: ignore[union-attr]


@contextmanager
def autocommit(conn: Connection) -> Iterator[Connection]:
    """On PostgreSQL, each statement of the block commits by itself (no BEGIN, no
    ROLLBACK or COMMIT: one round trip per statement); for one statement that needs no
    transaction around it (a read; one INSERT, atomic by itself). ``conn`` must have no
    transaction open. The driver's mode is restored when the block ends, or the connection
    is invalidated (never handed on in autocommit). Other databases: the block as is."""
    if conn.dialect.name != "postgresql":
        yield conn
        return
    if conn.in_transaction():
        raise RuntimeError("autocommit on a connection with a transaction open")
    raw = conn.connection.dbapi_connection
    raw.autocommit = True  # type: ignore[union-attr]  # psycopg: no round trip
    try:
        yield conn
    finally:
        try:
            if conn.in_transaction() and not conn.invalidated:
                conn.rollback()  # SQLAlchemy's autobegun transaction: the driver sends nothing
            if not conn.invalidated:  # else its DBAPI connection is closed and discarded
                raw.autocommit = False  # type: ignore[union-attr]
        except Exception as exc:  # a broken connection: never handed on in autocommit
            log.warning("a connection could not leave autocommit (%s); it is discarded",
                        type(exc).__name__)
            if not conn.invalidated:
                conn.invalidate()


def first_row(engine: Engine, statement, params: dict) -> Row | tuple | None:
    """The first row of a read of one statement, on the lease's connection (or a pooled
    one of its own) in autocommit: the request's first statement, the client check. Its
    checkout is not pinged: if the connection turns out dropped (the database restarted
    since it was pooled), the read runs once more on a new connection, as the ping would
    have made it. The statement goes to the driver (``hub.store.driver``) and the row is
    the driver's tuple."""
    if engine.dialect.name == "sqlite":
        with connection(engine) as conn:
            return driver.statement_for(statement, conn).first(conn, params)
    token = _UNPINGED.set(True)
    try:
        with connection(engine) as conn, autocommit(conn):
            return _driver_first(conn, statement, params)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("a pooled connection was dropped (%s); the read runs on a new one",
                    type(exc.orig).__name__)
    finally:
        _UNPINGED.reset(token)
    with connection(engine) as conn, autocommit(conn):
        return _driver_first(conn, statement, params)


def read_row(conn: Connection, statement, params: dict) -> tuple | None:
    """The first row of a read of one statement on ``conn`` (a read-only unit of work's,
    ``hub.store.reading``), on the driver, its columns converted as SQLAlchemy's rows are.
    On PostgreSQL, when no transaction is open on ``conn``, in autocommit: 1 round trip,
    not BEGIN, SELECT, ROLLBACK (one statement sees one snapshot either way, as under READ
    COMMITTED every statement of a transaction takes its own); else in that transaction."""
    if conn.dialect.name != "postgresql" or conn.in_transaction():
        return _driver_first(conn, statement, params, converted=True)
    with autocommit(conn):
        return _driver_first(conn, statement, params, converted=True)


def read_rows(conn: Connection, statement: driver.DriverStatement, params: dict
              ) -> list[tuple]:
    """Every row of a read of one kept statement on ``conn`` (a read-only unit of work's: a
    search's page, its ``_include``; ``DriverStatement.all``). On PostgreSQL, when no
    transaction is open on ``conn``, in autocommit: 1 round trip, not BEGIN, the statement
    and ROLLBACK (under READ COMMITTED every statement of a transaction takes its own
    snapshot, so a page and its ``_include`` saw two snapshots before as they do now); else
    in that transaction."""
    if conn.dialect.name != "postgresql" or conn.in_transaction():
        return statement.all(conn, params)
    with autocommit(conn):
        return statement.all(conn, params, begin=False)


def driver_run(conn: Connection, statement, params: dict) -> None:
    """Run ``statement`` (no rows answered) once on the driver, in the driver's transaction
    or autocommit; a driver error is raised as SQLAlchemy raises it."""
    with driver.sqlalchemy_errors(conn):
        driver.statement_for(statement, conn).run_once(conn, params)


def _driver_first(conn: Connection, statement, params: dict, *,
                  converted: bool = False) -> tuple | None:
    """The first row on the driver; a driver error is raised as SQLAlchemy raises it (a
    dropped connection invalidated: ``DBAPIError.connection_invalidated``)."""
    with driver.sqlalchemy_errors(conn):
        return driver.statement_for(statement, conn).first(conn, params, converted=converted)
