"""Search statements kept per shape (``search_statements``) answer what a statement built
for the request answers: the same rows and total for every form of value, cursor and
direction, and a kept statement never carries the values of the search that built it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_search_counts import _store

from hub.clock import utcnow
from hub.fhirstore import keyset, search_statements, searchsql
from hub.fhirstore.query import Cursor, parse_search
from hub.store.uow import UnitOfWork

QUERIES = [
    "owner=Organization/agency-a&status=requested",
    "owner=Organization/agency-b&status=requested,accepted",
    "owner:Organization=agency-a&status:not=completed",
    "status=requested&owner:missing=true",
    "status=requested&owner:missing=false",
    "code=http://hl7.org/fhir/CodeSystem/task-code|fulfill&status=accepted",
    "code=http://hl7.org/fhir/CodeSystem/task-code|&owner=Organization/agency-b",
    "code=|fulfill",
    "authored-on=ge2024-03-01&status=completed",
    "authored-on=lt2024-03-01",
    "owner=Organization/agency-a&_sort=-_lastUpdated",
    "owner=Organization/agency-b&_sort=_id",
    "status=completed&_sort=-_id",
]


def _run(session, q, snapshot, templated: bool):
    if templated:
        stmt, params, _desc = search_statements.keyset_page(q, snapshot, q.count + 1, True)
    else:
        stmt, _desc = keyset.page_select(q, snapshot, q.count + 1, True)
        params = {}
    return [(r.res_id, r.version_id, r.sort_key, r.total)
            for r in session.execute(stmt, params).all()]


@pytest.mark.parametrize("query", QUERIES)
def test_kept_statements_answer_as_built_ones(app, query):
    db = app.extensions["hub.db"]
    _store(db)
    # every row was written after this snapshot but a first version keeps its place
    snapshot = utcnow().replace(tzinfo=None) + timedelta(seconds=1)
    items = [tuple(p.split("=", 1)) for p in query.split("&")]
    with UnitOfWork(db) as uow:
        for count in (2, 50):
            q = parse_search("Task", items, max_count=500)
            q.count = count
            pages = 0
            while True:
                kept = _run(uow.session, q, snapshot, True)
                assert kept == _run(uow.session, q, snapshot, False), (query, q.cursor)
                pages += 1
                if len(kept) <= count:
                    break
                last_id, _version, last_key, _total = kept[count - 1]
                q.cursor = Cursor(snapshot, last_key, last_id)
            if count == 2 and pages > 1:  # and back from the last page
                q.cursor = Cursor(snapshot, kept[0][2], kept[0][0], before=True)
                assert _run(uow.session, q, snapshot, True) == \
                    _run(uow.session, q, snapshot, False)
        q = parse_search("Task", items, max_count=500)
        stmt, params = search_statements.count(q)
        assert uow.session.execute(stmt, params).scalar_one() == \
            uow.session.execute(searchsql.count_select(q)).scalar_one()


def test_a_kept_statement_takes_each_search_values(app):
    db = app.extensions["hub.db"]
    live = _store(db)
    with UnitOfWork(db) as uow:
        for owner in ("agency-a", "agency-b", "agency-a"):
            for status in ("requested", "completed"):
                q = parse_search("Task", [("owner", f"Organization/{owner}"),
                                          ("status", status)], max_count=500)
                q.count = 50
                page = uow.resources.page(q, with_total=True)
                expected = sorted(rid for rid, t in live.items()
                                  if (t.get("owner") or {}).get("reference")
                                  == f"Organization/{owner}" and t["status"] == status)
                assert sorted(r.id for r in page.resources) == expected
                # an empty page has no row to carry the total: it is counted apart
                assert page.total == (len(expected) if expected else None)
                assert uow.resources.count(q) == len(expected)


def test_searches_of_a_caller_are_built_for_it(app):
    """A compartment's conditions name the caller: never a kept statement."""
    q = parse_search("Task", [("status", "requested")])
    q.compartment = "Organization/agency-a"
    stmt, params, _desc = search_statements.keyset_page(q, utcnow().replace(tzinfo=None),
                                                        21, True)
    assert params == {}
    other = parse_search("Task", [("status", "requested")])
    other.compartment = "Organization/agency-b"
    again, _params, _desc = search_statements.keyset_page(
        other, utcnow().replace(tzinfo=None), 21, True)
    assert again is not stmt


def test_kept_include_statements_read_each_pages_targets(app):
    db = app.extensions["hub.db"]
    live = _store(db)
    focus = parse_search("Task", [("_include", "Task:focus")]).includes
    rev = parse_search("ServiceRequest", [("_revinclude", "Task:focus")]).revincludes
    with UnitOfWork(db) as uow:
        repo = uow.resources
        for ids in (["t1", "t2"], ["t2"], ["t1", "t3", "t5"], ["t7"]):  # t7 was deleted
            wanted = sorted({live[i]["focus"]["reference"] for i in ids if i in live})
            assert [f"{r.type}/{r.id}" for r in repo.included("Task", ids, focus)] == wanted
        for srs in (["sr-active"], ["sr-done"], ["sr-active", "sr-done"]):
            wanted = sorted(rid for rid, t in live.items()
                            if t["focus"]["reference"].split("/")[1] in srs)
            assert sorted(r.id for r in repo.revincluded("ServiceRequest", srs, rev)) == wanted
    # kept per number of ids, each id a parameter of its own (no list rendered per run)
    stmt, params = search_statements.included("Task", focus, ["t1", "t2"])
    again, other = search_statements.included("Task", focus, ["t3", "t4"])
    assert again is stmt and params == {"id0": "t1", "id1": "t2"} and \
        other == {"id0": "t3", "id1": "t4"}
    assert search_statements.included("Task", focus, ["t1"])[0] is not stmt


@pytest.mark.parametrize("query", QUERIES[:3] + QUERIES[-3:])
def test_kept_statements_read_on_the_driver_as_sqlalchemy_reads_them(app, query):
    """In a read-only unit of work a kept statement's rows come from the driver: the same
    values of the same types, column by column, as SQLAlchemy's rows; in the unit of work's
    transaction (ended by it), or, on PostgreSQL when none is open yet, in autocommit (no
    transaction left open: ``leases.read_rows``)."""
    db = app.extensions["hub.db"]
    live = _store(db)
    snapshot = utcnow().replace(tzinfo=None) + timedelta(seconds=1)
    q = parse_search("Task", [tuple(p.split("=", 1)) for p in query.split("&")])
    stmt, params, _desc = search_statements.keyset_page(q, snapshot, 5, True)
    focus = parse_search("Task", [("_include", "Task:focus")]).includes
    include, ids = search_statements.included("Task", focus, sorted(live)[:4])
    with UnitOfWork(db, read_only=True) as uow:
        for first, (statement, values) in enumerate(((stmt, params), (include, ids))):
            driven = search_statements.rows(uow.session, statement, values)
            assert driven and all(type(row) is tuple for row in driven)
            # the second one runs in the transaction SQLAlchemy's execute below began
            assert uow.session.connection().in_transaction() == \
                (db.engine.dialect.name != "postgresql" or first > 0)
            through = [tuple(row) for row in uow.session.execute(statement, values).all()]
            assert [[(v, type(v)) for v in row] for row in driven] == \
                [[(v, type(v)) for v in row] for row in through]
    with UnitOfWork(db) as uow:  # a unit of work that may write: through SQLAlchemy
        assert all(type(row) is not tuple
                   for row in search_statements.rows(uow.session, stmt, params))


def test_driver_errors_are_raised_as_sqlalchemy_raises_them(app):
    from sqlalchemy import column, select, table
    from sqlalchemy.exc import DBAPIError

    from hub.store.driver import DriverStatement

    db = app.extensions["hub.db"]
    with UnitOfWork(db, read_only=True) as uow:
        conn = uow.session.connection()
        missing = DriverStatement(select(column("x")).select_from(table("no_such_table")), conn)
        with pytest.raises(DBAPIError) as raised:
            missing.all(conn, {})
        assert not raised.value.connection_invalidated
