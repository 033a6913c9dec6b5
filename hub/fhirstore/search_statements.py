"""Search statements built once per shape, run with bound parameters.

Building a search's SQLAlchemy statement (``searchsql``, ``keyset``) costs as much CPU as
SQLite spends running it. Two searches that differ only in their values (another owner,
another status, another snapshot or cursor) have the same statement with other
parameters: ``keyset_page`` and ``count`` build the statement of a *template* of the
query, whose values are named bound parameters, once per shape (the resource type, the
criteria's names, kinds, modifiers and value forms, the sort, the cursor's form), and
keep it (the ``CACHED`` used last); each search then only binds its values. A statement
object kept also keeps SQLAlchemy's cache key and compiled form.

Only the plain shapes are templated: token, reference, date and number criteria, no
compartment and no owned type (their conditions embed the caller). Every other search is
built as before, for each request; both give the same statement text and the same rows.
``included`` keeps the statement of each (type, ``_include``/``_revinclude`` list, number
of ids), each of the page's ids bound as a parameter of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from threading import Lock
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import BindParameter, Select, bindparam

from hub.fhirstore import keyset, searchsql
from hub.fhirstore.compartments import OWNED_TYPES
from hub.fhirstore.query import (
    Criterion,
    Cursor,
    DateValue,
    Include,
    RefValue,
    SearchQuery,
    TokenValue,
)
from hub.store import leases
from hub.store.driver import DriverStatement
from hub.store.reading import ReadSession

#: How many statements are kept (the shapes used last).
CACHED = 256

_TEMPLATED_KINDS = frozenset({"token", "reference", "date", "number"})


class _Template:
    """A copy of a query whose values are bound parameters (``params`` holds them)."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> Any:
        """A bound parameter that stands in for ``value`` wherever the statement's builders
        take the value (typed by the column it is compared with)."""
        name = f"p{len(self.params)}"
        self.params[name] = value
        bound: BindParameter[Any] = bindparam(name)
        return bound

    def value(self, kind: str, v: Any) -> tuple[Any, Any]:
        """(the value with bound parameters, its form for the shape)."""
        if kind == "token":
            system = v.system if v.system in (None, "") else self.bind(v.system)
            code = None if v.code is None else self.bind(v.code)
            return TokenValue(system, code), (v.system if v.system in (None, "") else 1,
                                              v.code is None)
        if kind == "reference":  # the type is part of the shape (a resource type name)
            return RefValue(v.type, self.bind(v.id)), v.type
        if kind == "date":
            return DateValue(v.prefix, self.bind(v.low), self.bind(v.high)), v.prefix
        return self.bind(v), None  # number

    def criterion(self, crit: Criterion) -> tuple[Criterion, Any] | None:
        if crit.kind not in _TEMPLATED_KINDS:
            return None
        if crit.modifier == "missing":  # true/false: part of the shape
            return crit, (crit.name, crit.kind, crit.modifier, tuple(crit.values))
        pairs = [self.value(crit.kind, v) for v in crit.values]
        shape = (crit.name, crit.kind, crit.modifier, tuple(s for _v, s in pairs))
        return replace(crit, values=[v for v, _s in pairs]), shape

    def query(self, q: SearchQuery) -> tuple[SearchQuery, tuple[Any, ...]] | None:
        """The templated query and its shape; None if ``q`` is not templated."""
        if q.compartment or (q.client is not None and q.resource_type in OWNED_TYPES):
            return None
        criteria, shapes = [], []
        for crit in q.criteria:
            done = self.criterion(crit)
            if done is None:
                return None
            criteria.append(done[0])
            shapes.append(done[1])
        return (replace(q, criteria=criteria, cursor=None),
                (q.resource_type, tuple(q.sort), tuple(shapes)))

    def cursor(self, cursor: Cursor | None, snapshot: Any) -> tuple[Cursor | None, Any]:
        if cursor is None:
            return None, None
        key: Any = None if cursor.key is None else self.bind(cursor.key)
        rid: Any = None if cursor.res_id is None else self.bind(cursor.res_id)
        return Cursor(snapshot, key, rid, cursor.before), (
            type(cursor.key).__name__, cursor.res_id is None, cursor.before)


_built: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_lock = Lock()


#: The kept statements' forms compiled for the driver, per dialect (``rows``): an entry
#: goes with its statement when the statement leaves ``_built``.
_driven: WeakKeyDictionary[Select[Any], dict[str, DriverStatement]] = WeakKeyDictionary()


def _kept(key: tuple[Any, ...], build: Any) -> Any:
    with _lock:
        found = _built.get(key)
        if found is not None:
            _built.move_to_end(key)
            return found
    found = build()
    with _lock:
        _driven.setdefault(found[0] if isinstance(found, tuple) else found, {})
        _built[key] = found
        while len(_built) > CACHED:
            _built.popitem(last=False)
    return found


def rows(session: Any, stmt: Select[Any], params: dict[str, Any]) -> Sequence[Sequence[Any]]:
    """The rows of ``stmt`` with ``params``, by position. A kept statement in a read-only
    unit of work (``ReadSession``: a FHIR search) runs on the driver
    (``hub.store.driver.DriverStatement.all``), compiled once for its dialect, on PostgreSQL
    in autocommit when no transaction is open (``leases.read_rows``); any other statement, or in
    a unit of work that writes, through the session as before."""
    forms = _driven.get(stmt) if type(session) is ReadSession else None
    form = None
    if forms is not None:
        conn = session.connection()
        form = forms.get(conn.dialect.name)
        if form is None:
            form = forms[conn.dialect.name] = DriverStatement(stmt, conn)
        if form.usable:
            return leases.read_rows(conn, form, params)
    found: Sequence[Sequence[Any]] = session.execute(stmt, params).all()
    return found


def keyset_page(q: SearchQuery, snapshot: datetime, limit: int, with_total: bool
                ) -> tuple[Select[Any], dict[str, Any], bool]:
    """``keyset.page_select`` (with the count of the matches as its column ``total`` if
    ``with_total``): the statement, its parameters, and whether it runs descending."""
    template = _Template()
    templated = template.query(q)
    if templated is None:
        stmt, descending = keyset.page_select(q, snapshot, limit, with_total)
        return stmt, {}, descending
    tq, shape = templated
    bound_snapshot = template.bind(snapshot)
    cursor, cursor_shape = template.cursor(q.cursor, bound_snapshot)
    tq.cursor = cursor
    bound_limit = template.bind(limit)

    def build() -> tuple[Select[Any], bool]:
        return keyset.page_select(tq, bound_snapshot, bound_limit, with_total)

    stmt, descending = _kept(("page", shape, cursor_shape, with_total), build)
    return stmt, template.params, descending


def count(q: SearchQuery) -> tuple[Select[Any], dict[str, Any]]:
    """``searchsql.count_select`` and its parameters."""
    template = _Template()
    templated = template.query(q)
    if templated is None:
        return searchsql.count_select(q), {}
    tq, shape = templated
    return _kept(("count", shape), lambda: searchsql.count_select(tq)), template.params


def included(rtype: str, includes: list[Include], ids: list[str], reverse: bool = False
             ) -> tuple[Select[Any], dict[str, str]]:
    """``searchsql.current_of`` the ``_include`` targets (``reverse``: the ``_revinclude``
    sources) of the resources ``ids`` of ``rtype``, and its parameters: kept per (type,
    includes, number of ids), each id a bound parameter of its own (``id0``, ``id1``...).
    An expanding parameter (one list) would have SQLAlchemy render the statement's text
    again at every run."""
    names = [f"id{i}" for i in range(len(ids))]

    def build() -> Select[Any]:
        bound: list[BindParameter[Any]] = [bindparam(name) for name in names]
        pairs = searchsql.revinclude_sources(rtype, bound, includes) if reverse else \
            searchsql.include_targets(rtype, bound, includes)
        return searchsql.current_of(pairs)

    found: Select[Any] = _kept(("include", reverse, rtype, tuple(includes), len(ids)), build)
    return found, dict(zip(names, ids, strict=True))


__all__ = ["CACHED", "count", "included", "keyset_page", "rows"]
