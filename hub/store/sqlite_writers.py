"""SQLite writers of one process take turns on a lock instead of polling SQLite's.

SQLite lets one connection write at a time. A connection that meets the lock held polls
it, sleeping between tries for up to 100 ms each (``sqlite3_busy_timeout``), so under
concurrent writes a writer can miss its chance again and again: with four concurrent case
creates the p99 was 16 times the median (bench/README.md). ``WriterTurns`` makes the writers
of one engine wait on a lock instead, and each is woken as soon as the one before it is
done: the first statement of a transaction that changes data (INSERT, UPDATE, DELETE,
REPLACE: where SQLite's write lock is taken) takes the turn, the end of that transaction
gives it back (commit, rollback, the connection returned to the pool, invalidated or
closed). The turn is released just before SQLite's commit, so the next writer may still
meet its lock for the commit's last moment (SQLite's busy handler then waits, as before).

Reads never wait for a turn (WAL: readers do not block on writers). A writer that waits
longer than the busy timeout goes on without its turn and meets SQLite's own busy
handling, as without turns. Other processes on the same file are not coordinated (the
embedded hub is one process; see docs/scaling.md).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class WriterTurns:
    """One writing transaction at a time per engine, in turn (see the module)."""

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._timeout = timeout
        self._holder: Any = None  # the DBAPI connection whose transaction has the turn

    @property
    def busy(self) -> bool:
        """Whether a transaction has the turn now."""
        return self._lock.locked()

    def install(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before_execute)
        event.listen(engine, "commit", self._transaction_ended)
        event.listen(engine, "rollback", self._transaction_ended)
        for name in ("checkin", "close", "close_detached"):
            event.listen(engine, name, self._connection_done)
        event.listen(engine, "invalidate", self._connection_invalidated)
        event.listen(engine, "soft_invalidate", self._connection_invalidated)

    def _before_execute(self, conn, cursor, statement, parameters, context, executemany):
        dbapi = cursor.connection
        if self._holder is dbapi or not _WRITES.match(statement):
            return
        if self._lock.acquire(timeout=self._timeout):
            self._holder = dbapi

    def _release(self, dbapi: Any) -> None:
        if dbapi is not None and self._holder is dbapi:
            self._holder = None
            self._lock.release()

    def _transaction_ended(self, conn) -> None:
        try:
            fairy = conn.connection
        except SQLAlchemyError:  # invalidated: the pool's events give the turn back
            return
        self._release(fairy.dbapi_connection)

    def _connection_done(self, dbapi_connection, *_record) -> None:
        self._release(dbapi_connection)

    def _connection_invalidated(self, dbapi_connection, _record, _exception) -> None:
        self._release(dbapi_connection)


def writer_turns(engine: Engine) -> WriterTurns | None:
    """The turns installed on ``engine`` (SQLite files), if any."""
    return getattr(engine, "hub_writer_turns", None)
