"""Writing several resources' versions at once (``ResourceRepository.write_versions``, the
case projection's path) and the lookups by (type, id) that feed it.

The batch must store exactly what one ``update`` per resource stores (versions, index
rows, compartment links), refuse a version that someone else replaced meanwhile, and its
lookups must go by the primary key even when SQLite has no statistics (a fresh database:
the hub never runs ANALYZE).
"""

from __future__ import annotations

import pytest
from fhirapi_helpers import organization, patient, task
from sqlalchemy import event, select

from hub.fhirstore.repository import VersionConflict
from hub.fhirstore.tables import resources as R
from hub.fhirstore.tables import search_index as SI
from hub.store.db import Database
from hub.store.migrate import upgrade
from hub.store.uow import UnitOfWork


def _rows(session, rtype: str, rid: str):
    versions = session.execute(select(R.c.version_id, R.c.current, R.c.deleted, R.c.method)
                               .where(R.c.res_type == rtype, R.c.res_id == rid)
                               .order_by(R.c.version_id)).all()
    index = sorted(tuple(str(v) for k, v in r._mapping.items() if k != "row_id")
                   for r in session.execute(select(SI).where(SI.c.res_type == rtype,
                                                             SI.c.res_id == rid)))
    return versions, index


def _resources():
    org = {**organization(), "id": "agency-b"}
    pat = {**patient("77"), "id": "pat-b"}
    tsk = {**task("Patient/pat-b", owner="Organization/agency-b"), "id": "task-b"}
    return [org, pat, tsk]


def _write(uow, contents, *, batch: bool):
    if batch:
        keys = [(c["resourceType"], c["id"]) for c in contents]
        current = uow.resources.current_many(keys)
        return uow.resources.write_versions(
            [(t, i, c, current.get((t, i))) for (t, i), c in zip(keys, contents)])
    return [uow.resources.update(c["resourceType"], c["id"], c) for c in contents]


def test_batch_writes_what_one_update_each_writes(app):
    db = app.extensions["hub.db"]
    seen = {}
    for batch in (False, True):
        with UnitOfWork(db) as uow:
            first = _write(uow, _resources(), batch=batch)
            changed = [{**c, "status": "cancelled"} if c["resourceType"] == "Task" else c
                       for c in _resources()]
            second = _write(uow, changed, batch=batch)
            assert [(s.type, s.id, s.version_id) for s in first] == [
                ("Organization", "agency-b", 1), ("Patient", "pat-b", 1), ("Task", "task-b", 1)]
            assert [s.version_id for s in second] == [2, 2, 2]
            assert second[2].content["status"] == "cancelled"
            assert second[2].content["meta"]["versionId"] == "2"
            seen[batch] = {(t, i): _rows(uow.session, t, i)
                           for t, i in (("Organization", "agency-b"), ("Patient", "pat-b"),
                                        ("Task", "task-b"))}
            uow.rollback()
    assert seen[True] == seen[False]
    versions, index = seen[True][("Task", "task-b")]
    assert [(v.version_id, v.current) for v in versions] == [(1, False), (2, True)]
    assert any("status" in row and "cancelled" in row for row in index)


def test_batch_refuses_a_version_replaced_meanwhile(app):
    db = app.extensions["hub.db"]
    with UnitOfWork(db) as uow:
        _write(uow, _resources(), batch=True)
        uow.commit()
    with UnitOfWork(db) as uow:
        current = uow.resources.current_many([("Task", "task-b")])
        with UnitOfWork(db) as other:  # someone else writes version 2 first
            other.resources.update("Task", "task-b", _resources()[2])
            other.commit()
        with pytest.raises(VersionConflict):
            uow.resources.write_versions(
                [("Task", "task-b", _resources()[2], current[("Task", "task-b")])])
    with UnitOfWork(db) as uow, pytest.raises(VersionConflict):  # a second version 1 too
        uow.resources.write_versions([("Organization", "agency-b", _resources()[0], None)])


def test_current_many_includes_deletions_and_skips_unknown(app):
    db = app.extensions["hub.db"]
    with UnitOfWork(db) as uow:
        _write(uow, _resources(), batch=True)
        uow.resources.delete("Organization", "agency-b")
        found = uow.resources.current_many([("Organization", "agency-b"), ("Task", "task-b"),
                                            ("Task", "nope"), ("Patient", "pat-b")])
        assert sorted(found) == [("Organization", "agency-b"), ("Patient", "pat-b"),
                                 ("Task", "task-b")]
        assert found[("Organization", "agency-b")].deleted
        assert found[("Organization", "agency-b")].version_id == 2
        assert found[("Task", "task-b")].content["owner"]["reference"] == \
            "Organization/agency-b"


def test_lookups_by_id_use_the_primary_key_without_statistics(tmp_path):
    """A fresh SQLite database has no statistics (the hub never runs ANALYZE): the lookups
    of one resource must still search the primary key, not every current version of the
    type. On a database of its own, whatever database the suite runs on."""
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    upgrade(url)
    db = Database(url)
    statements = []
    try:
        with UnitOfWork(db) as uow:
            _write(uow, _resources(), batch=True)
            uow.commit()

        def listener(conn, cur, stmt, params, ctx, many):
            if stmt.startswith("SELECT"):
                statements.append((stmt, params))

        event.listen(db.engine, "before_cursor_execute", listener)
        with UnitOfWork(db) as uow:
            uow.resources.read("Task", "task-b")
            uow.resources.read_many([("Task", "task-b"), ("Patient", "pat-b")])
            uow.resources.current_many([("Task", "task-b"), ("Patient", "pat-b")])
        event.remove(db.engine, "before_cursor_execute", listener)
        assert len(statements) >= 4
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name = "
                                        "'sqlite_stat1'").first() is None  # no ANALYZE ran
            for stmt, params in statements:
                plan = " ".join(r[3] for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + stmt, params))
                assert "ix_resources_current" not in plan, plan
                assert "sqlite_autoindex_resources_1 (res_type=? AND res_id=?)" in plan, plan
    finally:
        db.dispose()
