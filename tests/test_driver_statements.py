"""Statements sent to the driver directly (hub.store.driver): the client check of every
request (SQLite, PostgreSQL), the one-row reads of a FHIR read and a case read
(``leases.read_row``) and the batch of a read's AuditEvents (SQLite) are the statements
SQLAlchemy would send, with the same values and rows, seen by the engine's listeners.

Real database (SQLite or PostgreSQL per HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from case_data import river
from sqlalchemy import bindparam, event, select
from sqlalchemy.exc import DBAPIError

from hub.fhirstore.repository import _READ
from hub.fhirstore.tables import resources
from hub.schemas import case_input_schema
from hub.store import driver, leases
from hub.store.case_repo import _GET
from hub.store.client_repo import _ACTIVE, client_is_active
from hub.store.uow import UnitOfWork


@pytest.fixture
def db(app):
    return app.extensions["hub.db"]


def _clients(db) -> tuple[str, str]:
    with UnitOfWork(db) as uow:
        active, _ = uow.clients.create("active", "system/*.r")
        revoked, _ = uow.clients.create("revoked", "system/*.r")
        uow.clients.revoke(revoked.client_id)
        uow.commit()
    return active.client_id, revoked.client_id


def test_the_client_check_reads_what_sqlalchemy_reads(db):
    active, revoked = _clients(db)
    for client_id in (active, revoked, "no-such-client"):
        with db.engine.connect() as conn:
            expected = conn.execute(_ACTIVE, {"client_id": client_id}).first()
            conn.rollback()
            got = driver.statement_for(_ACTIVE, conn).first(conn, {"client_id": client_id})
            assert not conn.in_transaction()  # the driver's read began nothing
        assert (got is None) == (expected is None)
        if got is not None:
            assert (got[0] is None) == (expected.revoked_at is None)
    assert client_is_active(db.engine, active)
    assert not client_is_active(db.engine, revoked)
    assert not client_is_active(db.engine, "no-such-client")


def test_the_client_check_is_the_compiled_statement_and_listeners_see_it(db):
    active, _ = _clients(db)
    seen: list[tuple[str, object]] = []

    def statement(_conn, _cursor, text, params, _context, _many) -> None:
        seen.append((text, params))

    event.listen(db.engine, "before_cursor_execute", statement)
    try:
        with leases.lease(db.engine):
            assert client_is_active(db.engine, active)
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
    values = (active,) if db.is_sqlite else {"client_id": active}  # qmark, pyformat
    assert seen == [(str(_ACTIVE.compile(dialect=db.engine.dialect)), values)]


def test_a_statement_is_compiled_once_per_driver(db):
    with db.engine.connect() as conn:
        assert driver.statement_for(_ACTIVE, conn) is driver.statement_for(_ACTIVE, conn)


def test_a_write_on_the_driver_is_in_the_session_transaction_and_fails_as_sqlalchemy(db):
    """``run_in``: the rows are the session's (rolled back with it); a driver error is the
    ``IntegrityError`` SQLAlchemy would raise (a version written twice: ``VersionConflict``
    and a retry depend on it)."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError

    from hub.fhirstore.tables import resources as R
    from hub.fhirstore.versions import _INSERT_VERSION, new_version

    row = new_version("Basic", "driver-1", {"resourceType": "Basic", "code": {"text": "x"}},
                      None, "POST", [], None).row
    count = select(func.count()).select_from(R).where(R.c.res_id == "driver-1")
    with UnitOfWork(db) as uow:
        driver.run_in(uow.session, _INSERT_VERSION, [row])
        assert uow.session.execute(count).scalar_one() == 1
        with pytest.raises(IntegrityError):
            driver.run_in(uow.session, _INSERT_VERSION, [row])
        uow.rollback()
    with UnitOfWork(db) as uow:
        assert uow.session.execute(count).scalar_one() == 0


def _stored_reads(db) -> list[tuple[object, dict]]:
    """(statement, values) of a FHIR read of a live and of a deleted resource, of one
    never stored, and of a case read (its document holds a decimal: ``105.00``)."""
    case = case_input_schema().load(river())
    with UnitOfWork(db) as uow:
        live = uow.resources.create("Observation", {
            "resourceType": "Observation", "status": "final", "code": {"text": "weight"},
            "valueQuantity": {"value": 105.00, "unit": "kg"}, "note": [{"text": "Zoë"}]})
        gone = uow.resources.create("Patient", {"resourceType": "Patient"})
        uow.resources.delete("Patient", gone.id)
        uow.cases.add(case)
        uow.commit()
    return [(_READ, {"rtype": "Observation", "rid": live.id}),
            (_READ, {"rtype": "Patient", "rid": gone.id}),
            (_READ, {"rtype": "Patient", "rid": "never-stored"}),
            (_GET, {"case_id": case.id})]


def test_one_row_reads_on_the_driver_answer_the_rows_sqlalchemy_answers(db):
    for statement, values in _stored_reads(db):
        with db.engine.connect() as conn:
            expected = conn.execute(statement, values).first()
        with UnitOfWork(db, read_only=True) as uow:
            got = uow.session.first(statement, values)
        assert (got is None) == (expected is None)
        if expected is None:
            continue
        # the same values of the same types: a timestamp as datetime, a flag as bool, a
        # case document parsed by the hub's codec (SQLite keeps all three as text/int)
        assert [(type(v), v) for v in got] == [(type(v), v) for v in expected]
        if statement is _READ:
            assert isinstance(got[3], datetime) and isinstance(got[4], bool)


def test_a_one_row_read_is_the_compiled_statement_and_listeners_see_it(db):
    (statement, values), *_ = _stored_reads(db)
    seen: list[str] = []

    def statement_sent(_conn, _cursor, text, *_args) -> None:
        seen.append(text)

    event.listen(db.engine, "before_cursor_execute", statement_sent)
    try:
        with UnitOfWork(db, read_only=True) as uow:
            assert uow.session.first(statement, values) is not None
    finally:
        event.remove(db.engine, "before_cursor_execute", statement_sent)
    assert seen == [str(statement.compile(dialect=db.engine.dialect))]


def test_a_one_row_read_runs_in_the_transaction_open_on_its_connection(db):
    """Inside a transaction the read sees what the transaction wrote; outside one (on
    PostgreSQL: in autocommit) it leaves the connection as it found it."""
    (statement, values), *_ = _stored_reads(db)
    with db.engine.connect() as conn:
        assert leases.read_row(conn, statement, values) is not None
        assert not conn.in_transaction()
        if not db.is_sqlite:
            assert conn.connection.dbapi_connection.autocommit is False
        conn.execute(resources.update().values(method="XX"))
        assert leases.read_row(conn, statement, values)[-1] == "XX"
        conn.rollback()
        assert leases.read_row(conn, statement, values)[-1] == "POST"


def test_a_driver_error_of_a_one_row_read_is_raised_as_sqlalchemy_raises_it(db):
    # no such operator: refused by the database when the statement runs
    wrong = _READ.where(resources.c.res_id.op("@@@")(bindparam("other")))
    with db.engine.connect() as conn:
        with pytest.raises(DBAPIError):
            leases.read_row(conn, wrong, {"rtype": "Patient", "rid": "x", "other": "x"})
        if not db.is_sqlite:  # out of autocommit, as after any statement of the block
            assert conn.connection.dbapi_connection.autocommit is False
        assert leases.read_row(conn, select(1), {}) == (1,)


@pytest.mark.parametrize("columns", [
    ("res_type",),                                      # one value
    ("res_type", "res_id", "version_id", "last_updated"),  # a DATETIME: a bind processor
    ("last_updated", "res_type", "last_updated"),       # a name twice
])
def test_a_statements_parameters_are_those_sqlalchemy_binds(db, columns):
    """``DriverStatement.params``: the values in the compiled order (qmark) or by name
    (pyformat), each through its type's bind processor, as SQLAlchemy's own processing."""
    stmt = select(resources.c.res_id).where(
        *[resources.c[name] == bindparam(f"p{n}_{name}") for n, name in enumerate(columns)])
    values = {f"p{n}_{name}": (datetime(2026, 12, 1, 9, 30, 1, 5) if name == "last_updated"
                               else 3 if name == "version_id" else f"v{n}")
              for n, name in enumerate(columns)}
    with db.engine.connect() as conn:
        ours = driver.statement_for(stmt, conn).params(values)
        compiled = stmt.compile(dialect=conn.dialect)
        processors = compiled._bind_processors
        names = compiled.positiontup or list(compiled.binds)
        theirs = [processors[k](values[k]) if k in processors else values[k] for k in names]
    assert ours == (tuple(theirs) if compiled.positiontup else dict(zip(names, theirs)))
    if db.is_sqlite and "last_updated" in columns:  # stored as SQLAlchemy stores it: text
        assert not any(isinstance(v, datetime) for v in ours)
