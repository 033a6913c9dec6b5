"""Statements sent to the driver directly (hub.store.driver): the client check of every
request (SQLite, PostgreSQL) and the batch of a read's AuditEvents (SQLite) are the
statements SQLAlchemy would send, with the same values, seen by the engine's listeners.

Real database (SQLite or PostgreSQL per HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from hub.store import driver, leases
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
