"""The unit of work as the one save path of a case, and the one retry policy."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from test_case_repo import new_case, store

from hub import services
from hub.store.case_repo import OpenCaseExists, StaleCase
from hub.store.case_tables import cases, open_cases
from hub.store.concurrency import ConcurrentChange, retrying
from hub.store.sqlite_writers import writer_turns
from hub.store.uow import UnitOfWork


@pytest.fixture
def db(app):
    return app.extensions["hub.db"]


def test_save_case_is_compare_and_set_and_projected_once_on_commit(db):
    case = store(db, new_case())
    projected = []
    with UnitOfWork(db, project=lambda uow, saved: projected.append(
            (saved.case.version, set(saved.skip)))) as uow:
        mine = uow.cases.get(case.id)
        mine.program = "first"
        uow.save_case(mine, skip={("Task", "t1")})
        mine.program = "second"
        uow.save_case(mine, skip={("Goal", "g1")})  # saved twice: projected once, last state
        assert projected == []  # nothing before commit
        uow.commit()
    assert projected == [(3, {("Task", "t1"), ("Goal", "g1")})]
    with UnitOfWork(db) as uow:
        assert (uow.cases.get(case.id).program, uow.cases.get(case.id).version) == ("second", 3)


def test_a_new_case_is_checked_at_once_and_written_after_its_versions_are_built(db):
    """``add_case`` refuses a second open case of the patient and program at once, but
    writes nothing: the case's rows go in when the projection has built its versions,
    so the transaction takes SQLite's write lock (writer turns) only then."""
    turns = writer_turns(db.engine)
    seen = []

    def project(uow, saved):
        seen.append((turns.busy if turns else None, saved.case.id))
        uow.write_added_cases()  # what the projection does before writing its versions
        seen.append((turns.busy if turns else None, saved.case.id))

    with UnitOfWork(db, project=project) as uow:
        case = services.start_case(uow, new_case(), patient="pat-1")
        with pytest.raises(OpenCaseExists) as err:  # the same patient and program
            services.start_case(uow, new_case(), patient="pat-1")
        assert err.value.case_id == case.id
        uow.commit()
    if turns is not None:
        assert seen == [(False, case.id), (True, case.id)]
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(cases.c.id)).scalars().all() == [case.id]
        assert conn.execute(sa.select(open_cases.c.case_id)).scalars().all() == [case.id]
    with UnitOfWork(db) as uow, pytest.raises(OpenCaseExists):  # and once it is stored
        services.start_case(uow, new_case(), patient="pat-1")


def test_a_case_added_then_saved_in_one_unit_of_work_is_stored_then_updated(db):
    with UnitOfWork(db, project=lambda uow, saved: None) as uow:
        case = services.start_case(uow, new_case())
        case.program = "changed"
        uow.save_case(case)  # the added case's rows first, then the compare-and-set
        uow.commit()
    with UnitOfWork(db) as uow:
        stored = uow.cases.get(case.id)
        assert (stored.version, stored.program) == (2, "changed")


def test_a_stale_save_keeps_the_version_and_projects_nothing(db):
    case = store(db, new_case())
    with UnitOfWork(db) as uow:
        stale = uow.cases.get(case.id)
    with UnitOfWork(db, project=lambda uow, saved: None) as uow:
        fresh = uow.cases.get(case.id)
        uow.save_case(fresh)
        uow.commit()
    projected = []
    with UnitOfWork(db, project=lambda uow, saved: projected.append(saved)) as uow:
        with pytest.raises(StaleCase):
            uow.save_case(stale)
        assert stale.version == 1 and not uow.saved
        uow.commit()
    assert projected == []


def test_a_saved_case_without_a_projector_is_refused_not_silently_dropped(db):
    case = store(db, new_case())
    db_projector, db.case_projector = db.case_projector, None
    try:
        with UnitOfWork(db) as uow:
            mine = uow.cases.get(case.id)
            uow.save_case(mine)
            with pytest.raises(RuntimeError, match="projector"):
                uow.commit()
        with UnitOfWork(db) as uow:
            assert uow.cases.get(case.id).version == 1
    finally:
        db.case_projector = db_projector


def test_retrying_reruns_the_whole_work_on_a_concurrent_change(db):
    case = store(db, new_case())
    runs = []

    def work(uow):
        mine = uow.cases.get(case.id)
        runs.append(mine.version)
        if len(runs) == 1:  # someone else saves the case between our read and our save
            with UnitOfWork(db) as other:
                theirs = other.cases.get(case.id)
                theirs.program = "theirs"
                other.save_case(theirs)
                other.commit()
        mine.notes = []
        uow.save_case(mine)
        uow.commit()
        return mine.version

    assert retrying(db, work) == 3
    assert runs == [1, 2]  # the second run read the other writer's version
    with UnitOfWork(db) as uow:
        assert uow.cases.get(case.id).program == "theirs"


def test_retrying_gives_up_with_409_and_lets_other_errors_through(db):
    calls = []

    def always_stale(uow):
        calls.append(1)
        raise StaleCase("x", 1)

    with pytest.raises(ConcurrentChange) as err:
        retrying(db, always_stale, attempts=3)
    assert len(calls) == 3 and err.value.status == 409

    def broken(uow):
        calls.append(2)
        raise ValueError("not a concurrency problem")

    with pytest.raises(ValueError):
        retrying(db, broken)
    assert calls.count(2) == 1
