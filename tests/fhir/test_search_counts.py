"""Totals and pages decided on ``search_index`` alone (``searchsql.matching_ids``).

A search whose most selective criterion is one of index rows counts its matches without
reading ``resources``: that is right only because index rows exist for the current, not
deleted version of a resource and for nothing else. Here the store holds superseded
versions that matched, deleted resources that matched, resources deleted and written again,
and the counts and pages must still be exactly the live matches (computed here in Python
from what was written), for plain criteria, ``:not``, ``:missing``, chains, several values,
a compartment and the owned type.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fhirapi_helpers import organization, patient, service_request, task

from hub.clock import utcnow
from hub.fhirstore import keyset
from hub.fhirstore.query import Cursor, parse_search
from hub.fhirstore.searchsql import count_select, matching_ids
from hub.store.uow import UnitOfWork


def _store(db) -> dict[str, dict]:
    """Writes Tasks with every kind of history; the live Tasks by id (what a search sees)."""
    live: dict[str, dict] = {}
    with UnitOfWork(db) as uow:
        repo = uow.resources
        for org in ("agency-a", "agency-b"):
            repo.create("Organization", organization(org), org)
        repo.create("Patient", patient("1"), "pat-1")
        repo.create("ServiceRequest", {**service_request("Patient/pat-1"), "status": "active"},
                    "sr-active")
        repo.create("ServiceRequest", {**service_request("Patient/pat-1"),
                                       "status": "completed"}, "sr-done")
        n = 0
        for owner in ("agency-a", "agency-b", None):
            for status in ("requested", "accepted", "completed"):
                for focus in ("sr-active", "sr-done"):
                    n += 1
                    rid = f"t{n}"
                    body = task("Patient/pat-1", f"ServiceRequest/{focus}",
                                f"Organization/{owner}" if owner else None, status)
                    live[rid] = repo.create("Task", body, rid).content
        # superseded versions that matched: requested -> completed, agency-a -> agency-b
        live["t1"] = repo.update("Task", "t1", {**live["t1"], "status": "completed"}).content
        live["t3"] = repo.update("Task", "t3", {**live["t3"],
                                                "owner": {"reference": "Organization/agency-b"}}
                                 ).content
        # deleted ones that matched, one of them written again with other values
        for rid in ("t7", "t8", "t10"):
            repo.delete("Task", rid)
            del live[rid]
        live["t8"] = repo.update("Task", "t8", {**task("Patient/pat-1", "ServiceRequest/sr-done",
                                                       "Organization/agency-a", "accepted")}
                                 ).content
        # a version without any owner: :missing
        live["t9"] = repo.update("Task", "t9", {k: v for k, v in live["t9"].items()
                                                if k != "owner"}).content
        uow.commit()
    return live


def _owner(t: dict) -> str | None:
    return (t.get("owner") or {}).get("reference")


def _focus(t: dict) -> str:
    return t["focus"]["reference"]


CASES = [
    ("owner=Organization/agency-a&status=requested",
     lambda t: _owner(t) == "Organization/agency-a" and t["status"] == "requested"),
    ("status=requested", lambda t: t["status"] == "requested"),
    ("owner=Organization/agency-a,Organization/agency-b&status=requested,completed",
     lambda t: _owner(t) in ("Organization/agency-a", "Organization/agency-b")
     and t["status"] in ("requested", "completed")),
    ("owner=Organization/agency-b&status:not=completed",
     lambda t: _owner(t) == "Organization/agency-b" and t["status"] != "completed"),
    ("status=accepted&owner:missing=true",
     lambda t: t["status"] == "accepted" and _owner(t) is None),
    ("focus:ServiceRequest.status=active&status=requested,accepted",
     lambda t: _focus(t) == "ServiceRequest/sr-active" and t["status"] in ("requested",
                                                                           "accepted")),
    ("owner=Organization/agency-a", lambda t: _owner(t) == "Organization/agency-a"),
]


@pytest.mark.parametrize("query,wanted", CASES, ids=[c[0] for c in CASES])
def test_index_count_and_pages_are_the_live_matches(app, query, wanted):
    db = app.extensions["hub.db"]
    live = _store(db)
    expected = sorted(rid for rid, t in live.items() if wanted(t))
    assert expected  # every case matches something, and misses something
    assert len(expected) < len(live)
    items = [tuple(p.split("=", 1)) for p in query.split("&")]
    q = parse_search("Task", items, max_count=500)
    assert matching_ids(q) is not None  # decided on search_index
    with UnitOfWork(db) as uow:
        assert uow.resources.count(q) == len(expected)
        if "." not in query:  # a chain reads its targets' versions
            assert "resources" not in str(count_select(q).compile())  # the index only
        q.count = 500
        page = uow.resources.page(q, with_total=True)
        assert sorted(r.id for r in page.resources) == expected
        assert not page.more
        # the page's statement counts the matches when it finds rows (rows updated since
        # the snapshot come from a second statement: a page of those only is counted apart)
        totals = {page.total} - {None}
        q.count = 2  # pages of two through the keyset cursors: each match once
        seen: list[str] = []
        while True:
            found = uow.resources.page(q, with_total=True)
            totals |= {found.total} - {None}
            seen += [r.id for r in found.resources]
            if not found.more:
                break
            last_key, last_id = found.keys[-1]
            q.cursor = Cursor(found.snapshot, last_key, last_id)
        assert sorted(seen) == expected and len(seen) == len(expected)
        assert totals <= {len(expected)}, totals


def test_compartment_count_is_the_live_matches_it_may_see(app):
    db = app.extensions["hub.db"]
    live = _store(db)
    # agency-a sees its own Tasks and the open ones (no owner, requested)
    expected = sorted(rid for rid, t in live.items() if t["status"] in ("requested", "accepted")
                      and (_owner(t) == "Organization/agency-a"
                           or (_owner(t) is None and t["status"] == "requested")))
    q = parse_search("Task", [("status", "requested,accepted")], max_count=500)
    q.compartment = "Organization/agency-a"
    with UnitOfWork(db) as uow:
        assert matching_ids(q) is not None
        assert uow.resources.count(q) == len(expected)
        q.count = 500
        page = uow.resources.page(q, with_total=True)
        assert sorted(r.id for r in page.resources) == expected
        assert page.total == len(expected)


def test_searches_not_decided_by_index_rows_still_count_live_matches(app):
    db = app.extensions["hub.db"]
    live = _store(db)
    for items, wanted in [
        ([("_id", "t1,t7,t8,t9")], lambda rid, t: rid in ("t1", "t8", "t9")),
        ([("status:not", "completed")], lambda rid, t: t["status"] != "completed"),
        ([("_lastUpdated", "gt2000-01-01"), ("status", "requested")],
         lambda rid, t: t["status"] == "requested"),
        ([], lambda rid, t: True),
    ]:
        q = parse_search("Task", items, max_count=500)
        assert matching_ids(q) is None
        with UnitOfWork(db) as uow:
            expected = sorted(rid for rid, t in live.items() if wanted(rid, t))
            assert uow.resources.count(q) == len(expected), items
            q.count = 500
            page = uow.resources.page(q, with_total=True)
            assert sorted(r.id for r in page.resources) == expected, items
            assert page.total in (None, len(expected)), items  # None: counted apart


@pytest.mark.parametrize("query,wanted", CASES[1:3], ids=[c[0] for c in CASES[1:3]])
def test_offset_pages_count_the_live_matches(app, query, wanted):
    """An explicit ``_offset`` pages by offset (``searchsql.ordered_page``), its total in
    the page's statement as the keyset pages'."""
    db = app.extensions["hub.db"]
    live = _store(db)
    expected = sorted(rid for rid, t in live.items() if wanted(t))
    assert len(expected) >= 3
    items = [tuple(p.split("=", 1)) for p in query.split("&")]
    q = parse_search("Task", [*items, ("_offset", "1"), ("_count", "1")], max_count=500)
    with UnitOfWork(db) as uow:
        page = uow.resources.page(q, with_total=True)
    assert page.total == len(expected)
    assert len(page.resources) == 1 and page.more


@pytest.mark.parametrize("query,wanted", CASES, ids=[c[0] for c in CASES])
def test_a_page_and_its_total_compute_the_matches_once(app, query, wanted):
    """The matches decided on ``search_index`` are one common table expression that the
    page and its total both read, not computed for each (the driving criterion's rows and
    each other criterion's check appear once in the statement); the total is the number
    of live matches."""
    db = app.extensions["hub.db"]
    live = _store(db)
    expected = sorted(rid for rid, t in live.items() if wanted(t))
    items = [tuple(p.split("=", 1)) for p in query.split("&")]
    q = parse_search("Task", items, max_count=500)
    # every row was written before this snapshot: the page's statement finds them all
    snapshot = utcnow().replace(tzinfo=None) + timedelta(seconds=1)
    stmt, _desc = keyset.page_select(q, snapshot, 3, True)
    sql = str(stmt.compile(db.engine))
    assert sql.startswith("WITH matches AS"), sql
    assert sql.count("FROM search_index") == len(items) + ("." in query), sql
    with UnitOfWork(db) as uow:
        rows = uow.session.execute(stmt).all()
    assert [r.res_id for r in rows] == sorted(
        expected, key=lambda rid: (live[rid]["meta"]["lastUpdated"], rid))[:3]
    assert {r.total for r in rows} == {len(expected)}
