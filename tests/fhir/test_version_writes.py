"""Writing several resources' versions at once (``ResourceRepository.write_versions``, the
case projection's path) and the lookups by (type, id) that feed it.

The batch must store exactly what one ``update`` per resource stores (versions, index
rows, compartment links) and refuse a version that someone else replaced meanwhile.
"""

from __future__ import annotations

import pytest
from fhirapi_helpers import organization, patient, task
from sqlalchemy import select

from hub.fhirstore.repository import VersionConflict
from hub.fhirstore.tables import resources as R
from hub.fhirstore.tables import search_index as SI
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
