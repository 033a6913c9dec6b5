"""A read-only unit of work runs its statements on the connection, without an ORM session
(hub.store.reading): FHIR reads and searches, case reads and the case list.

Real database (SQLite or PostgreSQL per HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session
from test_connection_leases import _audit_count, _row

from hub.audit.log import INSERT
from hub.fhirstore.repository import ResourceRepository
from hub.store import leases
from hub.store.db import FHIR_BASE
from hub.store.uow import UnitOfWork


@pytest.fixture
def sessions_begun(app):
    """The ORM sessions that began a transaction since the fixture began."""
    begun: list[Session] = []

    def seen(session, _transaction, _connection) -> None:
        begun.append(session)

    event.listen(Session, "after_begin", seen)
    yield begun
    event.remove(Session, "after_begin", seen)


def test_fhir_reads_and_case_reads_begin_no_orm_session(app, client, auth_headers,
                                                         sessions_begun):
    headers = {**auth_headers(), "Content-Type": "application/fhir+json"}
    created = client.post("/fhir/Patient", headers=headers, json={
        "resourceType": "Patient", "name": [{"family": "Okafor"}]})
    assert created.status_code == 201
    assert sessions_begun  # a write has its session
    sessions_begun.clear()
    pid = created.get_json()["id"]
    assert client.get(f"/fhir/Patient/{pid}", headers=headers).status_code == 200
    assert client.get("/fhir/Patient?name=Okafor", headers=headers).status_code == 200
    assert client.get(f"/fhir/Patient/{pid}/_history/1", headers=headers).status_code == 200
    assert client.get("/api/cases", headers=headers).status_code == 200
    assert client.get("/api/cases/nope", headers=headers).status_code == 404
    assert sessions_begun == []


def test_a_read_only_unit_of_work_keeps_nothing_and_commits_nothing(app):
    db = app.extensions["hub.db"]
    before = _audit_count(db)
    with leases.lease(db.engine):
        with UnitOfWork(db, read_only=True) as uow:
            conn = uow.session.connection()
            uow.session.execute(INSERT, [_row()])  # a read that wrote: never kept
            with pytest.raises(RuntimeError, match="commits nothing"):
                uow.commit()
        with leases.connection(db.engine) as again:  # handed back, its transaction ended
            assert again is conn and not again.in_transaction()
    with UnitOfWork(db, read_only=True) as uow:  # outside a lease: a connection of its own
        uow.session.execute(INSERT, [_row()])
    assert _audit_count(db) == before


def test_a_read_only_unit_of_work_has_what_reads_use_of_a_session(app):
    db = app.extensions["hub.db"]
    with UnitOfWork(db, read_only=True) as uow:
        assert uow.session.info == db.sessions.kw["info"]
        assert uow.session.info is not db.sessions.kw["info"]  # its own copy
        assert uow.resources.local_base == db.sessions.kw["info"][FHIR_BASE]
        assert uow.session.get_bind().dialect.name == db.engine.dialect.name
        assert ResourceRepository(uow.session).read("Patient", "none") is None
        assert not hasattr(uow.session, "begin_nested")  # no write through it
