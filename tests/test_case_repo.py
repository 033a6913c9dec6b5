"""CaseRepository: storage round trip, compare-and-swap updates, filters and paging."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from case_data import river

from hub import services
from hub.cases import CaseModel, CaseStatus, Identifier, Party
from hub.errors import NotFound, PreconditionFailed
from hub.schemas import case_input_schema
from hub.store.case_repo import CaseFilter, StaleCase
from hub.store.case_tables import case_identifiers, cases
from hub.store.uow import UnitOfWork


@pytest.fixture
def db(app):
    return app.extensions["hub.db"]


def new_case(opened: datetime | None = None, **changes):
    case = case_input_schema().load(river())
    for key, value in changes.items():
        setattr(case, key, value)
    if opened:
        case.opened_at = opened
    return case


def store(db, case):
    with UnitOfWork(db) as uow:
        uow.cases.add(case)
        uow.commit()
    return case


def rows(db, table=cases) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_add_get_round_trip_and_identifier_rows(db):
    case = store(db, new_case())
    with UnitOfWork(db) as uow:
        assert uow.cases.get(case.id) == case
        assert uow.cases.get("nope") is None
    assert rows(db) == 1 and rows(db, case_identifiers) == 2


def test_uncommitted_work_is_rolled_back(db):
    with UnitOfWork(db) as uow:
        uow.cases.add(new_case())
    assert rows(db) == 0 and rows(db, case_identifiers) == 0


def test_update_is_compare_and_swap(db):
    case = store(db, new_case())
    with UnitOfWork(db) as uow:
        first = uow.cases.get(case.id)
    with UnitOfWork(db) as uow:
        second = uow.cases.get(case.id)
    first.program, first.version = "first", 2
    with UnitOfWork(db) as uow:
        uow.cases.update(first, expected_version=1)
        uow.commit()
    second.program, second.version = "second", 2
    with UnitOfWork(db) as uow, pytest.raises(StaleCase):
        uow.cases.update(second, expected_version=1)
    with UnitOfWork(db) as uow:
        stored = uow.cases.get(case.id)
    assert (stored.program, stored.version) == ("first", 2)


def test_update_replaces_identifiers(db):
    case = store(db, new_case())
    case.patient.identifiers = [Identifier("urn:x", "NEW-1")]
    case.version = 2
    with UnitOfWork(db) as uow:
        uow.cases.update(case, expected_version=1)
        uow.commit()
        assert uow.cases.list(CaseFilter(identifier="urn:x|NEW-1")).total == 1
        assert uow.cases.list(CaseFilter(identifier="MRN-RIVER-0001")).total == 0
    assert rows(db, case_identifiers) == 1


def test_service_write_is_all_or_nothing(db):
    with UnitOfWork(db) as uow:
        case = services.open_case(uow, new_case())
    with UnitOfWork(db) as uow, pytest.raises(PreconditionFailed):
        services.transition_case(uow, case.id, 7, CaseStatus.ASSESSMENT)
    with UnitOfWork(db) as uow, pytest.raises(NotFound):
        services.get_case(uow, "missing")
    with UnitOfWork(db) as uow:
        assert uow.cases.get(case.id).version == 1


def test_filters(db):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = store(db, new_case(t0, program="hiv"))
    b = new_case(t0 + timedelta(days=1), model=CaseModel.INTENSIVE)
    b.patient.identifiers = []
    store(db, b)
    c_ = new_case(t0 + timedelta(days=2), status=CaseStatus.ACTIVE,
                  case_manager=Party("X"))
    c_.patient.identifiers = [Identifier("urn:other", "MRN-RIVER-0001")]
    store(db, c_)
    closed = new_case(t0 - timedelta(days=400), status=CaseStatus.CLOSED)
    closed.patient.identifiers = []
    store(db, closed)

    def ids(**kw):
        with UnitOfWork(db) as uow:
            return [x.id for x in uow.cases.list(CaseFilter(**kw)).items]

    assert ids() == [closed.id, a.id, b.id, c_.id]
    assert ids(status=[CaseStatus.ACTIVE]) == [c_.id]
    assert ids(status=[CaseStatus.ACTIVE, CaseStatus.CLOSED]) == [closed.id, c_.id]
    assert ids(model=CaseModel.INTENSIVE) == [b.id]
    assert ids(program="hiv") == [a.id]
    assert ids(identifier="MRN-RIVER-0001") == [a.id, c_.id]
    assert ids(identifier="urn:oid:2.16.840.1.113883.19.5.1|MRN-RIVER-0001") == [a.id]
    assert ids(identifier="|MRN-RIVER-0001") == [a.id, c_.id]
    assert ids(identifier="urn:nope|MRN-RIVER-0001") == []
    # clinical: due 14 days after opening; intensive: 7 days; the closed case never
    assert ids(overdue_as_of=date(2026, 1, 9)) == []  # b is due that day, not overdue
    assert ids(overdue_as_of=date(2026, 1, 10)) == [b.id]
    assert ids(overdue_as_of=date(2026, 1, 16)) == [a.id, b.id]
    assert ids(overdue_as_of=date(2026, 1, 18)) == [a.id, b.id, c_.id]
    assert ids(overdue_as_of=date(2026, 1, 16), program="hiv") == [a.id]


def test_paging_is_stable_and_counts_all(db):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    made = [store(db, new_case(t0)).id for _ in range(5)]  # same opened_at: id breaks ties
    seen = []
    with UnitOfWork(db) as uow:
        for offset in (0, 2, 4):
            page = uow.cases.list(limit=2, offset=offset)
            assert page.total == 5
            seen += [x.id for x in page.items]
    assert seen == sorted(made)
