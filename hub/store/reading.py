"""What a read-only unit of work needs of an ORM ``Session``, on one Core connection.

The hub's reads are Core statements (tables, not mapped classes), so a read's ``Session``
only ran them on its connection; creating it, its transaction (autobegin, a snapshot of
four weak dictionaries), its rollback and close were work done for nothing on every read
(``bench/README.md``, "read CPU"). ``ReadSession`` runs the same statements on the same
connection, in the same transaction (the connection's own: begun by the first statement,
ended by the unit of work), and offers what the repositories use of a session: ``execute``,
``info`` (a copy of the sessions' ``info``: the FHIR base, the MRN systems),
``get_bind``. Anything else (``commit``, ``begin_nested``, ``add``...) is not there: a read
that tried to write fails at once instead of writing through a unit of work that never
commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Result


class ReadSession:
    """Statements of a read-only unit of work on its connection (see the module)."""

    __slots__ = ("_conn", "info")

    def __init__(self, conn: Connection, info: dict) -> None:
        self._conn = conn
        self.info = dict(info)

    def execute(self, statement, params: Any = None) -> Result[Any]:
        return self._conn.execute(statement, params)

    def get_bind(self) -> Connection:
        return self._conn

    def connection(self) -> Connection:
        return self._conn
