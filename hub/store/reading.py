"""What a read-only unit of work needs of an ORM ``Session``, on one Core connection.

The hub's reads are Core statements (tables, not mapped classes), so a read's ``Session``
only ran them on its connection; creating it, its transaction (autobegin, a snapshot of
four weak dictionaries), its rollback and close were work done for nothing on every read
(``bench/README.md``, "read CPU"). ``ReadSession`` runs the same statements on the same
connection, in the same transaction (the connection's own: begun by the first statement,
ended by the unit of work), and offers what the repositories use of a session: ``execute``,
``info`` (a copy of the sessions' ``info``: the FHIR base, the MRN systems),
``get_bind``; and ``first``, the one-row reads (a FHIR read, a case read) on the driver
(``first_row``). Anything else (``commit``, ``begin_nested``, ``add``...) is not there: a read
that tried to write fails at once instead of writing through a unit of work that never
commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection, Result

from hub.store import leases


class ReadSession:
    """Statements of a read-only unit of work on its connection (see the module)."""

    __slots__ = ("_conn", "info")

    def __init__(self, conn: Connection, info: dict) -> None:
        self._conn = conn
        self.info = dict(info)

    def execute(self, statement, params: Any = None) -> Result[Any]:
        return self._conn.execute(statement, params)

    def first(self, statement, params: dict) -> tuple | None:
        """The first row of a one-row read, on the driver (``leases.read_row``: without
        SQLAlchemy's execution work, on PostgreSQL in autocommit when it is the unit of
        work's first statement); its columns as SQLAlchemy converts them, by position."""
        return leases.read_row(self._conn, statement, params)

    def get_bind(self) -> Connection:
        return self._conn

    def connection(self) -> Connection:
        return self._conn


def first_row(session, statement, params: dict) -> Sequence[Any] | None:
    """The first row of ``statement`` (positional columns): on the driver in a read-only
    unit of work (``ReadSession.first``), else through the session."""
    if isinstance(session, ReadSession):
        return session.first(statement, params)
    return session.execute(statement, params).first()
