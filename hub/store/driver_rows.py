"""Every row of a statement kept by the caller, run on the driver in a read's transaction.

``hub.store.driver``'s statements, for SELECTs that return many rows (a search's page, its
``_include``): through SQLAlchemy each run pays its compiled-statement cache look-up, an
execution context, a result object and the conversion of each row, several times what
the driver's own execute and fetch cost for a 20-row page. Here the statement is compiled
once (``DriverRows``, kept by the caller with its statement) and run on the connection's
driver cursor; it stays what it was:

* the same SQL, parameters through their types' bind processors, the same engine events
  (``hub.store.driver``);
* the same transaction: the connection's own (begun as SQLAlchemy's autobegin begins it,
  so that the unit of work ends it as before: on PostgreSQL BEGIN, the statements,
  ROLLBACK);
* the same rows, by position: each column through its type's result processor, as
  SQLAlchemy converts them (a DATETIME is text on SQLite, a Boolean an integer);
* the same errors: a driver error is raised as SQLAlchemy raises it, a dropped
  connection invalidated (``DBAPIError.connection_invalidated``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from hub.store.driver import before_cursor_execute, sqlalchemy_errors


class DriverRows:
    """A SELECT compiled once for ``conn``'s dialect, whose rows are read on the driver.
    ``usable`` is False for a statement whose text SQLAlchemy renders at each run (an
    expanding or literal-rendered parameter): the caller runs that one through
    SQLAlchemy."""

    def __init__(self, statement, conn: Connection) -> None:
        dialect = conn.dialect
        compiled = statement.compile(dialect=dialect)
        self.usable = not (compiled.literal_execute_params or compiled.post_compile_params)
        self.sql = str(compiled)
        #: every parameter's value as compiled (a constant of the statement, or None for
        #: a named one that each run binds), by its name in the SQL
        self._defaults = {compiled.bind_names[b]: None if b.required else b.effective_value
                          for b in compiled.binds.values()}
        types = {compiled.bind_names[b]: b.type for b in compiled.binds.values()}
        self._named = compiled.positiontup is None  # psycopg's pyformat, else qmark
        keys = list(types) if self._named else list(compiled.positiontup or ())
        self._binds = [(key, types[key].dialect_impl(dialect).bind_processor(dialect))
                       for key in keys]
        self._types = [column.type for column in statement.selected_columns]
        #: (position, result processor) of each column that needs converting
        self._convert: list[tuple[int, Any]] | None = None

    def _params(self, values: dict) -> tuple | dict:
        merged = {**self._defaults, **values}
        if self._named:
            return {key: merged[key] if bind is None else bind(merged[key])
                    for key, bind in self._binds}
        return tuple(merged[key] if bind is None else bind(merged[key])
                     for key, bind in self._binds)

    def all(self, conn: Connection, values: dict) -> list[tuple]:
        """Every row of the statement with ``values``, in ``conn``'s transaction."""
        if not conn.in_transaction():
            conn.begin()  # what SQLAlchemy's autobegin does: the unit of work ends it
        with sqlalchemy_errors(conn):
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                rows = cursor.execute(*before_cursor_execute(
                    conn, cursor, self.sql, self._params(values))).fetchall()
                if self._convert is None:
                    self._convert = self._processors(conn, cursor.description)
            finally:
                cursor.close()
        if not self._convert:
            return rows
        out = []
        for row in rows:
            values_ = list(row)
            for i, convert in self._convert:
                if values_[i] is not None:
                    values_[i] = convert(values_[i])
            out.append(tuple(values_))
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


__all__ = ["DriverRows"]
