"""Statements sent to the driver (``sqlite3``, ``psycopg``) directly, compiled once.

Through SQLAlchemy a statement pays, on every run, its compiled-statement cache look-up,
an execution context, a result object and, for a transaction, its begin and commit: on a
read as small as the hub's, more than the statement itself (bench/README.md, "read CPU").
The hub's most frequent statements go to the driver instead: each request's client check
(``hub.store.client_repo.client_is_active`` through ``hub.store.leases.first_row``, SQLite
and PostgreSQL), the one-row read of a FHIR read and of a case read in a read-only unit of
work (``hub.store.reading.ReadSession.first``, ``leases.read_row``) and the batch of a
read's AuditEvents (``hub.audit.group``: on SQLite an executemany and COMMIT, on
PostgreSQL one multi-row INSERT in autocommit), and every row of a search's kept statements
(``hub.fhirstore.search_statements.rows``: a page, its ``_include``; ``DriverStatement.all``)
in a read-only unit of work: through SQLAlchemy each run paid its compiled-statement cache
look-up, an execution context, a result object and the conversion of each row, several
times what the driver's own execute and fetch cost for a 20-row page.
They stay what they were:

* the same SQL: the Core statement compiled once for the dialect, its parameters (in the
  compiled order, or by name) each passed through its column type's bind processor (a
  DATETIME is stored as SQLAlchemy stores it);
* the same engine events, sent as SQLAlchemy sends them: ``before_cursor_execute`` (with
  no execution context) before the statement, ``commit``/``rollback`` around the driver's
  (``write_all``): the writer turns (``hub.store.sqlite_writers``) are taken and given back
  by their listeners as for any other write, and statement counters see every statement;
* the same transactions: ``sqlite3`` begins one before an INSERT and none before a SELECT,
  as under SQLAlchemy (which sends no BEGIN of its own on SQLite); on PostgreSQL the client
  check runs in autocommit (``leases.autocommit``) as before, and so does a read's one-row
  SELECT when its unit of work has no transaction open yet (one round trip instead of
  BEGIN, SELECT, ROLLBACK: under READ COMMITTED a statement sees its own snapshot either
  way), else in that transaction; so do a search's kept statements (``all`` through
  ``leases.read_rows``: in autocommit on PostgreSQL when no transaction is open, else in
  the unit of work's, begun as SQLAlchemy's autobegin begins it). The statements of a write
  (``run_in``, ``first_in``, ``mappings_in``: a FHIR write's versions and index rows, its
  AuditEvent, the case owner lookup, the subscriptions that watch its type) run inside the
  session's transaction, on its connection, which SQLAlchemy commits or rolls back as
  before.

Rows come back as the driver's tuples, not converted by result processors: a column
that needs converting (a DATETIME is text on SQLite) is compared with None only; or, from
``first(converted=True)`` (a read's row) converted as SQLAlchemy converts it, from
``mappings`` as dicts with each value converted as SQLAlchemy converts it, and from ``all``
(a search's rows) each column through its type's result processor for the driver's type
code of it, as SQLAlchemy's ``CursorResult`` asks for it. A statement's constants (a
parameter no run binds, such as a literal value compiled as a parameter) are sent with the
values of each run. Driver
errors are raised as SQLAlchemy raises them (``sqlalchemy_errors``: an ``IntegrityError``,
an ``OperationalError``, a dropped connection invalidated) by ``all``, ``run_in``,
``first_in`` and ``mappings_in``,
by ``leases.first_row``, ``leases.read_row`` and ``leases.driver_run`` (PostgreSQL: the
reads' AuditEvent batch, one multi-row INSERT in autocommit, ``hub.audit.group``).
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


class DriverStatement:
    """A Core statement compiled once for its dialect and run on the driver (see the module).
    ``usable`` is False for a statement whose text SQLAlchemy renders at each run (an
    expanding or literal-rendered parameter): ``all``'s callers run that one through
    SQLAlchemy."""

    def __init__(self, statement, conn: Connection) -> None:
        dialect = conn.dialect
        if dialect.name not in ("sqlite", "postgresql"):
            raise ValueError("statements go to the driver directly on SQLite and PostgreSQL only")
        compiled = statement.compile(dialect=dialect)
        self.usable = not (compiled.literal_execute_params or compiled.post_compile_params)
        self.sql = str(compiled)
        names = compiled.bind_names  # each parameter's name in the SQL
        types = {names[b]: b.type for b in compiled.binds.values()}
        #: the values of the statement's constants (a parameter no run binds), by name
        self.constants = {names[b]: b.effective_value for b in compiled.binds.values()
                          if not b.required}
        #: named parameters (psycopg's pyformat) or positional ones (sqlite3's qmark)
        self.named = compiled.positiontup is None
        keys = list(types) if self.named else list(compiled.positiontup or ())
        self.binds = [(key, types[key].dialect_impl(dialect).bind_processor(dialect))
                      for key in keys]
        #: ``params``' parts: the values in the statement's order at once, then the bind
        #: processors of the columns that have one, by position (a write's many rows)
        self._keys = tuple(keys)
        self._get = operator.itemgetter(*keys) if len(keys) > 1 else None
        self._processed = [(n, bind) for n, (_key, bind) in enumerate(self.binds)
                           if bind is not None]
        #: a SELECT's columns: (name, result processor or None)
        self.columns = [(c.key, c.type.dialect_impl(dialect).result_processor(dialect, None))
                        for c in getattr(statement, "selected_columns", ())]
        self._types = [c.type for c in getattr(statement, "selected_columns", ())]
        #: ``all``'s (position, result processor) of each column that needs converting
        self._convert: list[tuple[int, Any]] | None = None
        #: ``all`` on psycopg: never prepared (see ``all``)
        self._unprepared = {"prepare": False} if dialect.name == "postgresql" else {}

    def params(self, values: dict) -> tuple | dict:
        """``values`` (and the statement's constants) in the statement's order (by name for
        psycopg), each through its column type's bind processor if it has one."""
        if self.constants:
            values = {**self.constants, **values}
        ordered = self._get(values) if self._get is not None \
            else tuple(values[key] for key in self._keys)
        if self._processed:
            converted = list(ordered)
            for n, bind in self._processed:
                converted[n] = bind(converted[n])
            ordered = tuple(converted)
        return dict(zip(self._keys, ordered)) if self.named else ordered

    def _sent(self, conn: Connection, cursor, params: Any, many: bool) -> tuple[str, Any]:
        return before_cursor_execute(conn, cursor, self.sql, params, many)

    def first(self, conn: Connection, values: dict, *, converted: bool = False) -> tuple | None:
        """The first row of the statement (a SELECT) run on ``conn``'s driver connection
        (in its transaction, if one is open); ``converted``: each column through its type's
        result processor, as SQLAlchemy's rows are."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            row = cursor.execute(*self._sent(conn, cursor, self.params(values),
                                             False)).fetchone()
            if row is None or not converted:
                return row
            return tuple(value if read is None or value is None else read(value)
                         for (_name, read), value in zip(self.columns, row, strict=True))
        finally:
            cursor.close()

    def run(self, conn: Connection, rows: list[dict]) -> None:
        """Run the statement (an INSERT) for each of ``rows`` on ``conn``'s driver
        connection, in its transaction (nothing committed)."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(*self._sent(conn, cursor, [self.params(r) for r in rows], True))
        finally:
            cursor.close()

    def run_once(self, conn: Connection, values: dict) -> None:
        """Run the statement (one that answers no rows) once with ``values`` on ``conn``'s
        driver connection, in its transaction or autocommit (``leases.driver_run``: one
        statement, not an executemany)."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(*self._sent(conn, cursor, self.params(values), False))
        finally:
            cursor.close()

    def mappings(self, conn: Connection, values: dict) -> list[dict]:
        """The rows of the statement (a SELECT) as dicts by column name, each value through
        its column type's result processor (as SQLAlchemy reads it)."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            rows = cursor.execute(*self._sent(conn, cursor, self.params(values),
                                              False)).fetchall()
        finally:
            cursor.close()
        if not rows:
            return []
        columns = self.columns
        return [{name: value if read is None else read(value)
                 for (name, read), value in zip(columns, row, strict=True)} for row in rows]

    def all(self, conn: Connection, values: dict, *, begin: bool = True) -> list[tuple]:
        """Every row of the statement (a SELECT kept by the caller: a search's page, its
        ``_include``) with ``values``, in ``conn``'s transaction, begun if none is open
        (as SQLAlchemy's autobegin begins it: the unit of work ends it, on PostgreSQL
        BEGIN, the statements, ROLLBACK); each column through its type's result processor
        for the driver's type of it, as SQLAlchemy's ``CursorResult`` converts it; driver
        errors raised as SQLAlchemy's. On psycopg never prepared: a search's plan depends
        on its values (a prepared statement's generic plan after five runs took a search
        at 1k from 3.3 to 7.7 ms of the server's CPU, bench/README.md), so each run is
        planned for its own values, as before (``leases.read_rows`` runs it in autocommit,
        where psycopg's prepared statements would otherwise outlive the unit of work;
        ``begin`` False: no transaction begun)."""
        if begin and not conn.in_transaction():
            conn.begin()
        with sqlalchemy_errors(conn):
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                rows = cursor.execute(*self._sent(conn, cursor, self.params(values), False),
                                      **self._unprepared).fetchall()
                if self._convert is None:
                    self._convert = self._processors(conn, cursor.description)
            finally:
                cursor.close()
        if not self._convert:
            return rows
        out = []
        for row in rows:
            converted = list(row)
            for i, convert in self._convert:
                if converted[i] is not None:
                    converted[i] = convert(converted[i])
            out.append(tuple(converted))
        return out

    def _processors(self, conn: Connection, description) -> list[tuple[int, Any]]:
        """(position, result processor) of each column that has one for the driver's type
        code of it, as SQLAlchemy's ``CursorResult`` asks for it."""
        dialect = conn.dialect
        if len(self._types) != len(description):
            raise RuntimeError("the driver answered other columns than the statement's")
        found = [type_.dialect_impl(dialect).result_processor(dialect, described[1])
                 for type_, described in zip(self._types, description, strict=True)]
        return [(i, convert) for i, convert in enumerate(found) if convert is not None]

    def write_all(self, conn: Connection, rows: list[dict]) -> None:
        """Run the statement (an INSERT) for each of ``rows`` and commit, or none of them;
        ``conn`` has no transaction open."""
        if conn.in_transaction():
            raise RuntimeError("the driver's transaction must be the connection's own")
        raw = conn.connection.driver_connection
        try:
            self.run(conn, rows)
            conn.dispatch.commit(conn)
            raw.commit()  # type: ignore[union-attr]
        except BaseException:
            conn.dispatch.rollback(conn)
            raw.rollback()  # type: ignore[union-attr]
            raise


def before_cursor_execute(conn: Connection, cursor, sql: str, params: Any,
                          many: bool = False) -> tuple[str, Any]:
    """(sql, params) as ``conn``'s ``before_cursor_execute`` listeners leave them (no
    execution context), sent as SQLAlchemy sends them before a statement."""
    for before in conn.dispatch.before_cursor_execute:
        sql, params = before(conn, cursor, sql, params, None, many)
    return sql, params


@contextmanager
def sqlalchemy_errors(conn: Connection) -> Iterator[None]:
    """A driver error of the block raised as SQLAlchemy raises it (``IntegrityError``,
    ``OperationalError``, ...; a dropped connection invalidated:
    ``DBAPIError.connection_invalidated``)."""
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as exc:
        disconnect = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
        if disconnect:
            conn.invalidate(exc)
        raise DBAPIError.instance(None, None, exc, conn.dialect.loaded_dbapi.Error,
                                  hide_parameters=True, dialect=conn.dialect,
                                  connection_invalidated=disconnect) from exc


def run_in(session: Session, statement, rows: list[dict]) -> None:
    """``session.execute(statement, rows)`` of an INSERT, on the driver (see the module)."""
    conn = session.connection()
    with sqlalchemy_errors(conn):
        statement_for(statement, conn).run(conn, rows)


def mappings_in(session: Session, statement, values: dict) -> list[dict]:
    """The rows of a SELECT in the session's transaction, as dicts (``mappings``)."""
    conn = session.connection()
    with sqlalchemy_errors(conn):
        return statement_for(statement, conn).mappings(conn, values)


def first_in(session: Session, statement, values: dict) -> tuple | None:
    """The driver's first row of a SELECT, in the session's transaction (see the module)."""
    conn = session.connection()
    with sqlalchemy_errors(conn):
        return statement_for(statement, conn).first(conn, values)


_COMPILED: dict[tuple[Any, str], DriverStatement] = {}


def statement_for(statement, conn: Connection) -> DriverStatement:
    """``statement`` compiled for ``conn``'s driver (once: the hub's statements are module
    constants)."""
    key = (statement, conn.dialect.paramstyle)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = DriverStatement(statement, conn)
    return found
