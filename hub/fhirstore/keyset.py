"""Keyset paging of searches sorted by ``_lastUpdated`` (the default) or ``_id``.

Offset paging skips and repeats rows under concurrent writes: an update moves a row to the
end of a ``_lastUpdated`` order, and every row after it shifts by one. Here a page starts
after the (sort key, id) of the last row of the previous page (a ``Cursor``), and a row's
sort key can't change while the search is paged: it is the ``lastUpdated`` of the row's
version that was current at the search's snapshot, or, for a row created after it, of its
first version. An updated row keeps its place, a new one gets a place once (or is past the
cursor already): each row present when the search started is returned exactly once.

The snapshot is ``SETTLE`` seconds before the first page: a write takes its lastUpdated
before it commits, so a transaction still open at the first page may commit a version
older than the first page later; its row must not move then. (A write that takes longer
than ``SETTLE`` from its timestamp to its commit could still move its row.)

A page is the rows not updated since the snapshot, by the indexed ``last_updated``
column, merged (in Python) with the few updated since, whose sort key is looked up in
their versions; that second query only runs when an index probe finds such a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
)

from hub.fhirstore.query import Cursor, SearchQuery
from hub.fhirstore.searchsql import base_select
from hub.fhirstore.tables import resources as R

_OLD = R.alias("r_old")


def keyset_sort(q: SearchQuery) -> tuple[str, bool] | None:
    """(name, descending) if the search pages by keyset, None for offset paging (other
    sort orders, or an explicit ``_offset``)."""
    if q.offset and q.cursor is None:
        return None
    if not q.sort:
        return "_lastUpdated", False
    if len(q.sort) == 1 and q.sort[0][0] in ("_lastUpdated", "_id"):
        return q.sort[0]
    return None


#: Seconds between the first page and the snapshot of a search (see above).
SETTLE = 10.0


def snapshot_of(now: datetime) -> datetime:
    return now - timedelta(seconds=SETTLE)


def _key_at_snapshot(snapshot: datetime) -> ColumnElement[Any]:
    """The lastUpdated of the version of the candidate row current at ``snapshot``, or of
    its first version if it was created after."""
    at_snapshot = select(func.max(_OLD.c.last_updated)).where(
        _OLD.c.res_type == R.c.res_type, _OLD.c.res_id == R.c.res_id,
        _OLD.c.last_updated <= snapshot).scalar_subquery()
    created = select(_OLD.c.last_updated).where(
        _OLD.c.res_type == R.c.res_type, _OLD.c.res_id == R.c.res_id,
        _OLD.c.version_id == 1).scalar_subquery()
    return func.coalesce(at_snapshot, created, R.c.last_updated).label(None)


def _updated_since(rtype: str, snapshot: datetime) -> ColumnElement[bool]:
    """Rows of ``rtype`` with a version after the first written since ``snapshot`` (by the
    ``(res_type, current, last_updated)`` index)."""
    recent = select(_OLD.c.res_id).where(*_recent(rtype, snapshot))
    return R.c.res_id.in_(recent.correlate(None))


def _recent(rtype: str, snapshot: datetime) -> tuple[ColumnElement[bool], ...]:
    """Current versions of ``rtype`` that are changes (version 2 and later: updates and
    deletions), written since ``snapshot``: the rows of the partial index
    ``ix_resources_revised``, whose WHERE the query repeats (``version_id > 1`` as a literal:
    a generic plan of a prepared statement, as psycopg makes after a few executions, could
    not see that a bound parameter implies the index's condition)."""
    return (_OLD.c.res_type == rtype, _OLD.c.current == true(),
            _OLD.c.last_updated > snapshot, _OLD.c.version_id > literal_column("1"))


def _after(key: ColumnElement[Any], res_id_col: ColumnElement[Any], cursor: Cursor,
           descending: bool) -> ColumnElement[bool] | None:
    """Rows strictly after the cursor's (key, id) in the page's direction."""
    if cursor.key is None:
        return None
    if descending:
        return or_(key < cursor.key, and_(key == cursor.key, res_id_col < cursor.res_id))
    return or_(key > cursor.key, and_(key == cursor.key, res_id_col > cursor.res_id))


def _page_select(q: SearchQuery, key: ColumnElement[Any], which: ColumnElement[bool] | None,
                 drive: bool, cursor: Cursor, descending: bool, limit: int,
                 total: bool = False) -> Select[Any]:
    stmt: Select[Any] = base_select(q, drive, total).add_columns(key.label("sort_key"))
    if which is not None:
        stmt = stmt.where(which)
    after = _after(key, R.c.res_id, cursor, descending)
    if after is not None:
        stmt = stmt.where(after)
    order = (key.desc(), R.c.res_id.desc()) if descending else (key.asc(), R.c.res_id.asc())
    return stmt.order_by(*order).limit(limit)


def _direction(q: SearchQuery, snapshot: datetime) -> tuple[str, Cursor, bool]:
    name, desc = keyset_sort(q) or ("_lastUpdated", False)
    cursor = q.cursor or Cursor(snapshot)
    return name, cursor, desc != cursor.before  # a previous page runs the other way


def page_select(q: SearchQuery, snapshot: datetime, limit: int, total: bool = False
                ) -> tuple[Select[Any], bool]:
    """The select (res_id, version_id, last_updated, content, sort_key, any_updated; and
    the number of matches, ``total``, if asked: see ``base_select``) of the rows of a page
    not updated since the snapshot, ordered and limited; and whether it runs in
    descending order."""
    name, cursor, descending = _direction(q, snapshot)
    if name == "_id":  # ids never change
        stmt = _page_select(q, R.c.res_id, None, True, cursor, descending, limit, total)
        return stmt.add_columns(false().label("any_updated")), descending
    # a row keeps the place of its lastUpdated unless a version after the first was
    # written since the snapshot (a first version's place is its place for good)
    kept = or_(R.c.last_updated <= snapshot, R.c.version_id == 1)
    stmt = _page_select(q, R.c.last_updated, kept, True, cursor, descending, limit, total)
    # in the same statement (the same view of the data): whether any row was updated
    recent = exists(select(_OLD.c.res_id).where(*_recent(q.resource_type, snapshot)))
    return stmt.add_columns(recent.label("any_updated")), descending


def updated_select(q: SearchQuery, snapshot: datetime, limit: int) -> Select[Any] | None:
    """The select of the rows updated since the snapshot that belong to the page, at the
    place they had (None for an ``_id`` order). Run it after ``page_select`` and only if
    that found rows updated (its ``any_updated`` column, or ``any_updated`` when it found
    no rows): a row updated in between may come twice (``merge`` keeps one), none is
    missed."""
    name, cursor, descending = _direction(q, snapshot)
    if name == "_id":
        return None
    return _page_select(q, _key_at_snapshot(snapshot), _updated_since(
        q.resource_type, snapshot), False, cursor, descending, limit)


def any_updated(rtype: str, snapshot: datetime) -> Select[Any]:
    """Whether any row of ``rtype`` was updated since ``snapshot`` (one index probe)."""
    return select(_OLD.c.res_id).where(*_recent(rtype, snapshot)).limit(1)


def merge(parts: list[tuple[Sequence[Sequence[Any]], int]], descending: bool, limit: int
          ) -> list[tuple[Any, Sequence[Any]]]:
    """The first ``limit`` rows of the parts in page order, each row once, as (sort key,
    row). Each part is its rows and the position of their ``sort_key``; ``res_id`` is
    first, as ``base_select`` puts it. Rows are read by position (a SQLAlchemy ``Row``'s
    attribute by name costs a failed lookup and its formatted AttributeError first)."""
    unique: dict[str, tuple[Any, Sequence[Any]]] = {}
    for part, at in parts:
        for row in part:
            unique.setdefault(row[0], (row[at], row))
    keyed = sorted(unique.values(), key=lambda kr: (kr[0], kr[1][0]), reverse=descending)
    return keyed[:limit]

__all__ = ["SETTLE", "any_updated", "keyset_sort", "merge", "page_select", "snapshot_of",
           "updated_select"]
