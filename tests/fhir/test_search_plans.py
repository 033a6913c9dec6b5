"""PostgreSQL checks the criteria after the driving one per candidate (a subplan probing
``ix_search_index_resource_param``), whatever the planner's estimates: as a semi join,
under a one-candidate estimate (search_index's correlated columns), it ran as a join filter
over every index row of the other value (``searchsql._checked``, bench/README.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fhirapi_helpers import organization, patient, task

from hub.fhirstore.query import parse_search
from hub.fhirstore.searchsql import matching_ids
from hub.store.db import Database
from hub.store.migrate import upgrade
from hub.store.uow import UnitOfWork


def test_postgresql_probes_the_other_criteria_per_candidate(app):
    db = app.extensions["hub.db"]
    if db.engine.dialect.name != "postgresql":
        return  # SQLite runs a correlated EXISTS per candidate as written
    with UnitOfWork(db) as uow:
        uow.resources.create("Organization", organization("agency-0"), "agency-0")
        uow.resources.create("Patient", patient("1"), "pat-1")
        for n in range(60):  # one owner of every Task, as bench/fhir_api.py at 1,000
            uow.resources.create("Task", task("Patient/pat-1", None, "Organization/agency-0",
                                              ("requested", "accepted", "completed")[n % 3]),
                                 f"t{n}")
        uow.commit()
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE search_index")
        conn.commit()
        q = parse_search("Task", [("owner", "Organization/agency-0"),
                                  ("status", "requested")], max_count=20)
        stmt = matching_ids(q)
        assert stmt is not None
        found = {row.res_id for row in conn.execute(stmt)}
        compiled = stmt.compile(conn)
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled),
                                                            compiled.params))
        conn.rollback()
    assert found == {f"t{n}" for n in range(0, 60, 3)}
    assert "SubPlan" in plan and "Semi Join" not in plan, plan


def test_a_search_driven_by_a_reference_reads_its_ids_from_the_index(tmp_path):
    """SQLite's plan of a search driven by a reference, on a database of its own (the
    migrations' schema), with and without statistics: the candidates' ids come from
    ``ix_search_index_ref`` alone (a covering index, in id order: no table row per
    candidate, no sort for the DISTINCT)."""
    with _sixty_tasks(tmp_path, ("requested",)) as db:
        q = parse_search("Task", [("owner", "Organization/agency-0"),
                                  ("status", "requested")], max_count=20)
        stmt = matching_ids(q)
        assert stmt is not None
        for analyze in (False, True):
            with db.engine.connect() as conn:
                if analyze:
                    conn.exec_driver_sql("ANALYZE")
                compiled = stmt.compile(conn)
                params = tuple(compiled.params[k] for k in compiled.positiontup)
                plan = " | ".join(r[3] for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + str(compiled), params))
                assert len(conn.exec_driver_sql(str(compiled), params).all()) == 60
            assert "USING COVERING INDEX ix_search_index_ref" in plan, plan
            assert "TEMP B-TREE" not in plan, plan


def test_sqlite_checks_a_token_in_the_tokens_index(tmp_path):
    """SQLite's plan of owner+status and of status alone, on the migrations' schema, with
    and without statistics: the candidate's status is checked in ``ix_search_index_token``
    (the rows of one code lie together, in id order: a few pages for all candidates,
    instead of a page of ``ix_search_index_resource_param`` per candidate, which matters
    once another connection's commit has emptied SQLite's page cache), and a search
    driven by a token reads its ids from that index alone (migration 0017)."""
    with _sixty_tasks(tmp_path, ("requested", "accepted")) as db:
        checked = matching_ids(parse_search("Task", [("owner", "Organization/agency-0"),
                                                     ("status", "requested")], max_count=20))
        driven = matching_ids(parse_search("Task", [("status", "requested")], max_count=20))
        assert checked is not None and driven is not None
        for analyze in (False, True):
            with db.engine.connect() as conn:
                if analyze:
                    conn.exec_driver_sql("ANALYZE")
                for stmt in (checked, driven):
                    compiled = stmt.compile(conn)
                    params = tuple(compiled.params[k] for k in compiled.positiontup)
                    plan = " | ".join(r[3] for r in conn.exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + str(compiled), params))
                    found = {r[0] for r in conn.exec_driver_sql(str(compiled), params)}
                    assert found == {f"t{n}" for n in range(0, 60, 2)}
                    assert "USING COVERING INDEX ix_search_index_token (res_type=? AND " \
                        "param=? AND token_code=?" in plan, plan
                    assert "TEMP B-TREE" not in plan, plan
                    assert "ix_search_index_resource_param" not in plan, plan


@contextmanager
def _sixty_tasks(tmp_path, statuses: tuple[str, ...]) -> Iterator[Database]:
    """A SQLite database of its own (the migrations' schema) holding one Organization
    that owns 60 Tasks, the n-th of status ``statuses[n % len(statuses)]``."""
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    upgrade(url)
    db = Database(url)
    try:
        with UnitOfWork(db) as uow:
            uow.resources.create("Organization", organization("agency-0"), "agency-0")
            uow.resources.create("Patient", patient("1"), "pat-1")
            for n in range(60):
                uow.resources.create("Task", task("Patient/pat-1", None,
                                                  "Organization/agency-0",
                                                  statuses[n % len(statuses)]), f"t{n}")
            uow.commit()
        yield db
    finally:
        db.dispose()
