"""The keyset pages' probe "was a row of this type updated since the snapshot?"
(``keyset.any_updated``) looks at updates only, through the partial index
``ix_resources_revised``: rows created since the snapshot (a bulk load, a burst of creates)
are not visited one by one."""

from __future__ import annotations

from datetime import timedelta

from fhirapi_helpers import patient, task

from hub.clock import utcnow as aware_now
from hub.fhirstore import keyset
from hub.store.db import Database
from hub.store.migrate import upgrade
from hub.store.uow import UnitOfWork


def utcnow():
    """Naive UTC, as the store keeps lastUpdated."""
    return aware_now().replace(tzinfo=None)


def _create_tasks(db, count: int) -> None:
    with UnitOfWork(db) as uow:
        uow.resources.update("Patient", "pat-k", {**patient("91"), "id": "pat-k"})
        for n in range(count):
            uow.resources.update("Task", f"task-{n}",
                                 {**task("Patient/pat-k"), "id": f"task-{n}"})
        uow.commit()


def _probe(db, snapshot) -> str | None:
    with db.engine.connect() as conn:
        row = conn.execute(keyset.any_updated("Task", snapshot)).first()
        return row.res_id if row else None


def test_the_probe_finds_updates_and_not_creates(app):
    """On the suite's database (SQLite or PostgreSQL): created rows are not updates; an
    updated row is found once its new version is written after the snapshot, and a
    deletion is a change as well."""
    db = app.extensions["hub.db"]
    snapshot = utcnow() - timedelta(seconds=keyset.SETTLE)
    _create_tasks(db, 5)
    assert _probe(db, snapshot) is None
    with UnitOfWork(db) as uow:
        uow.resources.update("Task", "task-3", {**task("Patient/pat-k", status="accepted"),
                                                "id": "task-3"})
        uow.commit()
    assert _probe(db, snapshot) == "task-3"
    assert _probe(db, utcnow() + timedelta(seconds=1)) is None  # not since a later snapshot
    later = utcnow()
    with UnitOfWork(db) as uow:
        uow.resources.delete("Task", "task-4")
        uow.commit()
    assert _probe(db, later) == "task-4"


def test_the_probe_uses_the_index_of_updates(tmp_path):
    """SQLite's plan of the probe, on a database of its own, after 200 creates (with and
    without statistics): the partial index of updates, not the index of every current
    row."""
    url = f"sqlite:///{tmp_path / 'probe.db'}"
    upgrade(url)
    db = Database(url)
    try:
        _create_tasks(db, 200)
        stmt = keyset.any_updated("Task", utcnow() - timedelta(seconds=keyset.SETTLE))
        for analyze in (False, True):
            with db.engine.connect() as conn:
                if analyze:
                    conn.exec_driver_sql("ANALYZE")
                compiled = stmt.compile(conn)
                plan = " ".join(r[3] for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + str(compiled),
                    tuple(compiled.params[k] for k in compiled.positiontup)))
            assert "ix_resources_revised" in plan, plan
    finally:
        db.dispose()


def test_postgresql_can_answer_the_probe_from_the_index_of_updates(app):
    """PostgreSQL proves the probe's WHERE implies the partial index's (with sequential
    scans off, it chooses that index); on SQLite, the plan test above."""
    db = app.extensions["hub.db"]
    if db.engine.dialect.name != "postgresql":
        return  # SQLite: test_the_probe_uses_the_index_of_updates
    stmt = keyset.any_updated("Task", utcnow())
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        compiled = stmt.compile(conn)
        plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled),
                                                           compiled.params))
        conn.rollback()
    assert "ix_resources_revised" in plan, plan
