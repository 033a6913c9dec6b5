"""Keyset paging of searches sorted by search parameters (``_sort=family,-birthdate``).

``hub.fhirstore.keyset`` pages the default, ``_lastUpdated`` and ``_id`` orders; this module
pages every other supported ``_sort`` the same way: a page starts after the sort keys and id
of the last row of the previous page (a ``Cursor`` whose key is the tuple of sort keys), and
each row keeps the place it had at the search's snapshot, so each row present when the
search started is returned exactly once while others write.

A row's sort key for a parameter is the min (ascending) or max (descending) of its indexed
values, as the offset order of ``hub.fhirstore.searchsql`` takes it; rows without a value
come last in either direction. The keys are those of the row's version that was current at
the snapshot (or of its first version, for a row created after it):

* rows not updated since the snapshot: the keys come from ``search_index`` (their current
  version is that version), compared and ordered in SQL;
* rows updated since (few; found by the same index probe as ``keyset``): their version of
  the snapshot is read and its keys computed in Python by ``index_rows``, the function that
  writes ``search_index``, then merged in.

Strings and codes compare by code point on both databases (PostgreSQL with ``COLLATE "C"``,
SQLite's binary collation), as Python compares them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select, tuple_
from sqlalchemy.orm import Session

from hub.fhirjson import codec
from hub.fhirstore.keyset import _recent, _updated_since
from hub.fhirstore.query import Cursor, SearchQuery
from hub.fhirstore.searchparams import index_rows
from hub.fhirstore.searchsql import SORT_COLUMNS, base_select, sort_kind, with_sort_keys
from hub.fhirstore.tables import resources as R

_TEXT = ("string", "token")


def applies(q: SearchQuery) -> bool:
    """Whether the search pages by parameter keys (a ``_sort`` other than one of
    ``_lastUpdated``/``_id`` alone, and no explicit ``_offset``)."""
    if not q.sort or (q.offset and q.cursor is None):
        return False
    return not (len(q.sort) == 1 and q.sort[0][0] in ("_lastUpdated", "_id"))


def _kind(q: SearchQuery, name: str) -> str:
    return sort_kind(q.resource_type, name)


def _component_after(col: ColumnElement[Any], value: Any, desc: bool,
                     backwards: bool) -> ColumnElement[bool]:
    """Rows whose component ``col`` comes strictly after ``value`` (nulls last; a page read
    backwards runs the whole order the other way)."""
    if not backwards:
        if value is None:
            return false()
        return or_(col < value if desc else col > value, col.is_(None))
    if value is None:
        return col.is_not(None)
    return and_(col.is_not(None), col > value if desc else col < value)


def _equal(col: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return col.is_(None) if value is None else col == value


def _after(cols: list[ColumnElement[Any]], id_col: ColumnElement[Any], q: SearchQuery,
           cursor: Cursor, backwards: bool) -> ColumnElement[bool] | None:
    if cursor.key is None:
        return None
    keys = list(cursor.key) if isinstance(cursor.key, tuple) else [cursor.key]
    ors = []
    for i, (col, (_name, desc)) in enumerate(zip(cols, q.sort, strict=True)):
        prefix = [_equal(c, v) for c, v in zip(cols[:i], keys[:i], strict=True)]
        ors.append(and_(*prefix, _component_after(col, keys[i], desc, backwards)))
    same = [_equal(c, v) for c, v in zip(cols, keys, strict=True)]
    ors.append(and_(*same, id_col < cursor.res_id if backwards else id_col > cursor.res_id))
    return or_(*ors)


def _order(cols: list[ColumnElement[Any]], id_col: ColumnElement[Any], q: SearchQuery,
           backwards: bool) -> list[ColumnElement[Any]]:
    order: list[ColumnElement[Any]] = []
    for col, (_name, desc) in zip(cols, q.sort, strict=True):
        nulls = case((col.is_(None), 1), else_=0)
        order.append(nulls.desc() if backwards else nulls.asc())
        order.append(col.asc() if desc == backwards else col.desc())
    order.append(id_col.desc() if backwards else id_col.asc())
    return order


def _kept_select(q: SearchQuery, snapshot: datetime, cursor: Cursor, backwards: bool,
                 limit: int, collate: bool) -> Select[Any]:
    """The rows not updated since the snapshot, after the cursor, in page order."""
    kept = or_(R.c.last_updated <= snapshot, R.c.version_id == 1)
    recent = select(R.c.res_id).where(*_recent(q.resource_type, snapshot)).exists()
    joined, keys = with_sort_keys(base_select(q).where(kept), q.resource_type,
                                  q.sort, collate)
    inner = joined.add_columns(*(k.label(f"k{i}") for i, k in enumerate(keys)),
                               recent.label("any_updated")).subquery("kept_rows")
    cols: list[ColumnElement[Any]] = []
    for i, (name, _desc) in enumerate(q.sort):
        col: ColumnElement[Any] = inner.c[f"k{i}"]
        if collate and _kind(q, name) in _TEXT:
            col = col.collate("C")
        cols.append(col)
    stmt = select(inner)
    after = _after(cols, inner.c.res_id, q, cursor, backwards)
    if after is not None:
        stmt = stmt.where(after)
    return stmt.order_by(*_order(cols, inner.c.res_id, q, backwards)).limit(limit)


def _python_key(q: SearchQuery, content: dict[str, Any] | None, last_updated: datetime, res_id: str,
                local_base: str | None) -> tuple[Any, ...]:
    rows = index_rows(content, local_base) if content else []
    out: list[Any] = []
    for name, desc in q.sort:
        kind = _kind(q, name)
        if kind == "_id":
            out.append(res_id)
        elif kind == "_lastUpdated":
            out.append(last_updated)
        else:
            values = [r[SORT_COLUMNS[kind]] for r in rows
                      if r["param"] == name and r.get(SORT_COLUMNS[kind]) is not None]
            out.append((max(values) if desc else min(values)) if values else None)
    return tuple(out)


def _compare(q: SearchQuery, backwards: bool) -> Callable[[Any, Any], int]:
    """A comparison of (keys, res_id) in page order (the SQL order, in Python)."""
    def cmp(a: tuple[tuple[Any, ...], str], b: tuple[tuple[Any, ...], str]) -> int:
        for (x, y, (_name, desc)) in zip(a[0], b[0], q.sort, strict=True):
            if x == y:
                continue
            if x is None or y is None:
                result = 1 if x is None else -1  # nulls last
            else:
                result = (-1 if x < y else 1) * (-1 if desc else 1)
            return -result if backwards else result
        if a[1] == b[1]:
            return 0
        result = -1 if a[1] < b[1] else 1
        return -result if backwards else result
    return cmp


def _updated_rows(session: Session, q: SearchQuery, snapshot: datetime,
                  local_base: str | None) -> list[dict[str, Any]]:
    """The matching rows updated since the snapshot, with their keys at the snapshot."""
    rows = session.execute(base_select(q).where(_updated_since(q.resource_type, snapshot))
                           ).all()
    if not rows:
        return []
    ids = [r.res_id for r in rows]
    # the version of each row current at the snapshot, else its first
    at = session.execute(
        select(R.c.res_id, func.max(R.c.version_id)).where(
            R.c.res_type == q.resource_type, R.c.res_id.in_(ids),
            R.c.last_updated <= snapshot).group_by(R.c.res_id)).all()
    version: dict[str, int] = dict(at)
    wanted = [(rid, version.get(rid, 1)) for rid in ids]
    old = {r.res_id: r for r in session.execute(
        select(R.c.res_id, R.c.version_id, R.c.last_updated, R.c.content).where(
            R.c.res_type == q.resource_type,
            tuple_(R.c.res_id, R.c.version_id).in_(wanted))).all()}
    out = []
    for r in rows:
        source = old.get(r.res_id)
        content = codec.loads(source.content) if source is not None and source.content \
            else None
        stamp = source.last_updated if source is not None else r.last_updated
        out.append({"res_id": r.res_id, "version_id": r.version_id,
                    "last_updated": r.last_updated, "content": r.content,
                    "keys": _python_key(q, content, stamp, r.res_id, local_base)})
    return out


def page(session: Session, q: SearchQuery, snapshot: datetime, limit: int,
         local_base: str | None) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` rows of the page (dicts: res_id, version_id, last_updated, content,
    keys), in page order; and whether the page was read backwards (a previous page)."""
    cursor = q.cursor or Cursor(snapshot)
    backwards = cursor.before
    collate = session.get_bind().dialect.name == "postgresql"
    found = session.execute(_kept_select(q, snapshot, cursor, backwards, limit,
                                         collate)).all()
    rows = [{"res_id": r.res_id, "version_id": r.version_id, "last_updated": r.last_updated,
             "content": r.content, "keys": tuple(r._mapping[f"k{i}"]
                                                 for i in range(len(q.sort)))}
            for r in found]
    any_updated = found[0].any_updated if found else session.execute(
        select(R.c.res_id).where(*_recent(q.resource_type, snapshot)).limit(1)
    ).first() is not None
    if any_updated:
        order = functools.cmp_to_key(_compare(q, backwards))
        start = None if cursor.key is None else order(
            (tuple(cursor.key) if isinstance(cursor.key, tuple) else (cursor.key,),
             cursor.res_id))
        seen = {r["res_id"] for r in rows}
        for row in _updated_rows(session, q, snapshot, local_base):
            if row["res_id"] in seen:
                continue
            if start is None or order((row["keys"], row["res_id"])) > start:
                rows.append(row)
        rows.sort(key=lambda r: order((r["keys"], r["res_id"])))
    return rows[:limit], backwards


def normalized(rows: Sequence[dict[str, Any]]) -> list[tuple[tuple[Any, ...], str]]:
    """The (keys, id) of each row, for the cursors of the next and previous pages."""
    return [(r["keys"], r["res_id"]) for r in rows]


__all__ = ["applies", "normalized", "page"]
