"""One pooled connection per request (hub.store.leases), transactions kept apart.

Real database (SQLite or PostgreSQL per HUB_TEST_DATABASE_URL). A request's client check,
unit of work and AuditEvent take turns on one connection; each user's transaction ends
before the next one's begins; a unit of work opened inside another gets a connection of
its own; a connection the database dropped is replaced.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

import pytest
from sqlalchemy import event, func, select

from hub.audit.log import INSERT, audit_events
from hub.store import leases
from hub.store.uow import UnitOfWork


@pytest.fixture
def checkouts(app):
    """The connections checked out of the app's pool since the fixture began."""
    engine = app.extensions["hub.db"].engine
    seen: list[int] = []

    def counted(dbapi_connection, _record, _proxy) -> None:
        seen.append(id(dbapi_connection))

    event.listen(engine, "checkout", counted)
    yield seen
    event.remove(engine, "checkout", counted)


def _audit_count(db) -> int:
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_events)).scalar_one()


def _row() -> dict:
    return {"id": str(uuid.uuid4()), "recorded": datetime(2026, 1, 1), "action": "R",
            "outcome": "0", "agents": " c ", "entities": " Task/x ", "patients": " ",
            "content": "{}"}


def test_a_read_its_client_check_and_its_audit_event_share_one_checkout(
        app, client, auth_headers, checkouts):
    db = app.extensions["hub.db"]
    headers = {**auth_headers(), "Content-Type": "application/fhir+json"}
    checkouts.clear()
    created = client.post("/fhir/Patient", headers=headers, json={
        "resourceType": "Patient", "name": [{"family": "Okafor"}]})
    assert created.status_code == 201
    assert len(checkouts) == 1  # the client check and the write's transaction
    before = _audit_count(db)
    checkouts.clear()
    resp = client.get(f"/fhir/Patient/{created.get_json()['id']}", headers=headers)
    assert resp.status_code == 200
    assert len(checkouts) == 1  # was 3: client check, read, AuditEvent
    assert _audit_count(db) == before + 1  # committed: seen from another connection


def test_a_revoked_client_is_refused_on_its_very_next_request(app, client, auth_headers):
    headers = auth_headers()
    assert client.get("/fhir/Patient?name=x", headers=headers).status_code == 200
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        (registered,) = [c for c in uow.clients.list() if c.active]
        uow.clients.revoke(registered.client_id)
        uow.commit()
    assert client.get("/fhir/Patient?name=x", headers=headers).status_code == 401


def test_outside_a_lease_every_user_gets_a_connection_of_its_own(app):
    engine = app.extensions["hub.db"].engine
    assert leases.take(engine) is None
    with leases.connection(engine) as one, leases.connection(engine) as two:
        assert one is not two


def test_a_unit_of_work_inside_another_gets_its_own_connection(app):
    db = app.extensions["hub.db"]
    with leases.lease(db.engine):
        with UnitOfWork(db) as outer:
            outer_conn = outer.session.connection()
            with UnitOfWork(db) as inner:
                assert inner.session.connection() is not outer_conn
        with UnitOfWork(db) as after:  # the lease's connection is free again
            assert after.session.connection() is outer_conn


def test_a_transaction_left_open_is_rolled_back_before_the_next_user(app):
    db = app.extensions["hub.db"]
    before = _audit_count(db)
    with leases.lease(db.engine):
        with leases.connection(db.engine) as conn:
            conn.execute(INSERT, [_row()])  # never committed
        with leases.connection(db.engine) as again:
            assert again is conn and not again.in_transaction()
            with again.begin():
                again.execute(INSERT, [_row()])
    assert _audit_count(db) == before + 1


def test_a_dropped_connection_is_replaced(app):
    engine = app.extensions["hub.db"].engine
    with leases.lease(engine):
        with leases.connection(engine) as conn:
            conn.invalidate()
        with leases.connection(engine) as fresh:
            assert fresh is not conn
            assert fresh.execute(select(func.count()).select_from(audit_events)).scalar_one() >= 0


def test_eight_concurrent_requests_keep_their_connections_in_the_pool(app):
    """``hub serve`` answers 8 requests at a time, each holding its connection throughout:
    the pool keeps them all (past its size, each return would close one)."""
    engine = app.extensions["hub.db"].engine
    together = threading.Barrier(8)
    failures: list[BaseException] = []

    def request() -> None:
        try:
            with leases.lease(engine), leases.connection(engine) as conn:
                conn.execute(select(func.count()).select_from(audit_events)).scalar_one()
                together.wait(30)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    assert engine.pool.checkedin() >= 8
