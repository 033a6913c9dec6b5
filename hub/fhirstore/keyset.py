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

Two queries make a page: the rows not written since the snapshot, by the indexed
``last_updated`` column, and the few written since, whose sort key is looked up in their
versions. The two are merged in Python.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select

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
SETTLE = 60.0


def snapshot_of(now: datetime) -> datetime:
    return now - timedelta(seconds=SETTLE)


def _key_at_snapshot(snapshot: datetime):
    """The lastUpdated of the version of the candidate row current at ``snapshot``, or of
    its first version if it was created after."""
    at_snapshot = select(func.max(_OLD.c.last_updated)).where(
        _OLD.c.res_type == R.c.res_type, _OLD.c.res_id == R.c.res_id,
        _OLD.c.last_updated <= snapshot).scalar_subquery()
    created = select(_OLD.c.last_updated).where(
        _OLD.c.res_type == R.c.res_type, _OLD.c.res_id == R.c.res_id,
        _OLD.c.version_id == 1).scalar_subquery()
    return func.coalesce(at_snapshot, created, R.c.last_updated).label(None)


def _after(key, res_id_col, cursor: Cursor, descending: bool):
    """Rows strictly after the cursor's (key, id) in the page's direction."""
    if cursor.key is None:
        return None
    if descending:
        return or_(key < cursor.key, and_(key == cursor.key, res_id_col < cursor.res_id))
    return or_(key > cursor.key, and_(key == cursor.key, res_id_col > cursor.res_id))


def page_selects(q: SearchQuery, snapshot: datetime, limit: int):
    """The selects (res_id, version_id, last_updated, content, sort_key) of a page, and
    whether their rows run in descending order. Each is ordered and limited already."""
    name, desc = keyset_sort(q) or ("_lastUpdated", False)
    cursor = q.cursor or Cursor(snapshot)
    descending = desc != cursor.before  # a previous page runs the other way
    if name == "_id":  # ids never change: one query
        keys = [(R.c.res_id, None)]
    else:
        unchanged = R.c.last_updated <= snapshot
        keys = [(R.c.last_updated, unchanged), (_key_at_snapshot(snapshot), ~unchanged)]
    parts = []
    for key, which in keys:
        stmt = base_select(q).add_columns(key.label("sort_key"))
        if which is not None:
            stmt = stmt.where(which)
        after = _after(key, R.c.res_id, cursor, descending)
        if after is not None:
            stmt = stmt.where(after)
        order = (key.desc(), R.c.res_id.desc()) if descending else (key.asc(),
                                                                     R.c.res_id.asc())
        parts.append(stmt.order_by(*order).limit(limit))
    return parts, descending


def merge(parts: list[list], descending: bool, limit: int) -> list:
    """The first ``limit`` rows of the parts in page order."""
    rows = sorted([r for part in parts for r in part], key=lambda r: (r.sort_key, r.res_id),
                  reverse=descending)
    return rows[:limit]


__all__ = ["SETTLE", "keyset_sort", "merge", "page_selects", "snapshot_of"]
