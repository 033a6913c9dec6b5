"""One pooled connection per request (hub.store.leases), transactions kept apart.

Real database (SQLite or PostgreSQL per HUB_TEST_DATABASE_URL). A request's client check,
unit of work and AuditEvent take turns on one connection; each user's transaction ends
before the next one's begins; a unit of work opened inside another gets a connection of
its own; a connection the database dropped is replaced.
"""

from __future__ import annotations

import logging
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


# -- PostgreSQL round trips: no ping before the client check, the client check and the
# AuditEvent in autocommit; never a connection handed on in autocommit --

def _postgres(app):
    db = app.extensions["hub.db"]
    if db.is_sqlite:
        pytest.skip("PostgreSQL's round trips and connections")
    return db


@pytest.fixture
def sent(app, tmp_path):
    """What the client sends on the connections checked out meanwhile (libpq's trace of
    the frontend messages): one entry per query, ``"BEGIN"``, ``"SELECT clients..."``."""
    engine = _postgres(app).engine
    trace = tmp_path / "libpq.trace"
    files = []
    prepared: dict[int, int | None] = {}

    def start(dbapi_connection, _record, _proxy) -> None:
        # psycopg prepares a statement at its 5th run, then sends only its name (Bind):
        # not while traced, so that each statement's text is in the trace
        prepared[id(dbapi_connection)] = dbapi_connection.prepare_threshold
        dbapi_connection.prepare_threshold = None
        f = trace.open("ab")
        files.append(f)
        pq = dbapi_connection.pgconn
        pq.trace(f.fileno())
        pq.set_trace_flags(psycopg_pq().Trace.SUPPRESS_TIMESTAMPS
                           | psycopg_pq().Trace.REGRESS_MODE)

    def stop(dbapi_connection, _record) -> None:
        dbapi_connection.pgconn.untrace()
        dbapi_connection.prepare_threshold = prepared.pop(id(dbapi_connection), 5)

    def messages() -> list[str]:
        for f in files:
            f.flush()
        out = []
        for line in trace.read_text().splitlines():
            parts = line.split("\t")
            if parts[0] == "F" and parts[2] in ("Query", "Parse"):
                text = parts[3].strip().split('"')[-2 if parts[2] == "Query" else 3]
                out.append(" ".join(text.split()[:2]))
        return out

    event.listen(engine, "checkout", start)
    event.listen(engine, "checkin", stop)
    yield messages
    event.remove(engine, "checkout", start)
    event.remove(engine, "checkin", stop)
    for f in files:
        f.close()


def psycopg_pq():
    import psycopg

    return psycopg.pq


def _created_patient(client, headers) -> str:
    created = client.post("/fhir/Patient", headers=headers, json={
        "resourceType": "Patient", "name": [{"family": "Okafor"}]})
    assert created.status_code == 201
    return created.get_json()["id"]


def test_a_read_on_postgresql_pings_not_and_runs_its_check_and_audit_event_alone(
        app, client, auth_headers, sent):
    db = app.extensions["hub.db"]
    headers = {**auth_headers(), "Content-Type": "application/fhir+json"}
    pid = _created_patient(client, headers)
    before = len(sent())
    assert client.get(f"/fhir/Patient/{pid}", headers=headers).status_code == 200
    # was: ";" (the pool's ping), BEGIN, the check, ROLLBACK, BEGIN, the read, ROLLBACK,
    # BEGIN, the AuditEvent, COMMIT; then the check, BEGIN, the read, ROLLBACK, the
    # AuditEvent (psycopg forgets its prepared statements at a ROLLBACK: DEALLOCATE ALL)
    assert [m for m in sent()[before:] if m != "DEALLOCATE ALL"] == [
        "SELECT clients.revoked_at", "SELECT resources.res_type,", "INSERT INTO"]
    assert _audit_count(db) >= 1  # committed: seen from another connection


def test_a_search_on_postgresql_reads_its_page_and_include_in_autocommit(
        app, client, auth_headers, sent):
    headers = {**auth_headers(), "Content-Type": "application/fhir+json"}
    pid = _created_patient(client, headers)
    created = client.post("/fhir/Task", headers=headers, json={
        "resourceType": "Task", "status": "requested", "intent": "order",
        "for": {"reference": f"Patient/{pid}"}, "focus": {"reference": f"Patient/{pid}"}})
    assert created.status_code == 201
    before = len(sent())
    found = client.get("/fhir/Task?status=requested&_include=Task:focus", headers=headers)
    assert found.status_code == 200
    assert [e["resource"]["resourceType"] for e in found.get_json()["entry"]] == \
        ["Task", "Patient"]
    # was: the check, BEGIN, the page, the _include, ROLLBACK, the AuditEvent
    assert [m for m in sent()[before:] if m != "DEALLOCATE ALL"] == [
        "SELECT clients.revoked_at", "WITH matches", "SELECT resources.res_type,",
        "INSERT INTO"]


def test_a_batch_of_audit_events_is_one_statement_all_or_nothing(app):
    db = _postgres(app)
    committer = __import__("hub.audit.group", fromlist=["GroupCommit"]).GroupCommit(db)
    first, second = _row(), _row()
    committer.record(first)
    before = _audit_count(db)
    with pytest.raises(Exception):  # noqa: B017 - the database's own IntegrityError
        committer._write([second, dict(first)])  # the second row's id is taken
    assert _audit_count(db) == before  # the first row of the batch is not kept either
    committer._write([second, _row()])
    assert _audit_count(db) == before + 2


def test_a_connection_leaves_autocommit_with_the_block_even_on_an_error(app):
    db = _postgres(app)
    with leases.lease(db.engine):
        with pytest.raises(ZeroDivisionError), leases.connection(db.engine) as conn, \
                leases.autocommit(conn):
            conn.execute(select(func.count()).select_from(audit_events))
            1 / 0  # noqa: B018
        with UnitOfWork(db) as uow:
            assert uow.session.connection() is conn
            assert conn.connection.dbapi_connection.autocommit is False
            uow.session.execute(INSERT, [_row()])
            # not committed: rolled back with the unit of work, as in any transaction
    assert _audit_count(db) == 0


def test_a_connection_left_in_autocommit_is_never_handed_on(app):
    db = _postgres(app)
    with leases.lease(db.engine):
        with leases.connection(db.engine) as conn:
            conn.connection.dbapi_connection.autocommit = True  # as a bug would leave it
        with UnitOfWork(db) as uow:
            mine = uow.session.connection()
            assert mine is not conn
            assert mine.connection.dbapi_connection.autocommit is False
            uow.session.execute(INSERT, [_row()])
    assert _audit_count(db) == 0
    with db.engine.connect() as raw_conn:  # the pool's checkout refuses one as well
        dbapi = raw_conn.connection.dbapi_connection
        raw_conn.rollback()
        dbapi.autocommit = True
    with db.engine.connect() as again:
        assert again.connection.dbapi_connection.autocommit is False


def _terminate_pooled(db, pids: set[int]) -> None:
    """What a restart of the database does to the pool's connections."""
    import psycopg

    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture
def backend_pids(app):
    engine = app.extensions["hub.db"].engine
    pids: set[int] = set()

    def seen(dbapi_connection, _record, _proxy) -> None:
        pids.add(dbapi_connection.info.backend_pid)

    event.listen(engine, "checkout", seen)
    yield pids
    event.remove(engine, "checkout", seen)


def test_requests_and_units_of_work_survive_the_database_dropping_pooled_connections(
        app, client, auth_headers, backend_pids, caplog):
    db = _postgres(app)
    headers = {**auth_headers(), "Content-Type": "application/fhir+json"}
    pid = _created_patient(client, headers)
    with UnitOfWork(db) as uow:  # outside a request: a second connection in the pool
        uow.session.connection()
        with leases.lease(db.engine), UnitOfWork(db) as inner:
            inner.session.connection()
    assert len(backend_pids) >= 2
    _terminate_pooled(db, backend_pids)
    # the request's first statement (the client check, not pinged) meets a dropped
    # connection: it runs again on a new one
    with caplog.at_level(logging.WARNING, logger="hub.store.leases"):
        assert client.get(f"/fhir/Patient/{pid}", headers=headers).status_code == 200
    # said once, as it is: no claim that a discarded connection failed to leave autocommit
    assert [r.getMessage().split(" (")[0] for r in caplog.records
            if r.name == "hub.store.leases"] == ["a pooled connection was dropped"]
    _terminate_pooled(db, backend_pids)
    # units of work outside a request, as many as the pool holds: pinged at checkout
    with UnitOfWork(db) as one, UnitOfWork(db) as two:
        for uow in (one, two):
            uow.session.execute(INSERT, [_row()])
            uow.commit()
    assert client.get(f"/fhir/Patient/{pid}", headers=headers).status_code == 200
