"""A ``SearchQuery`` as SQL over ``search_index`` (never a scan of the JSON).

The most selective criterion drives: the ids of its index rows (``SELECT res_id FROM
search_index WHERE param=... AND (value OR value ...)``); every other criterion, the
compartment and ownership are checked per candidate id (``:not`` and ``:missing=true``
as the absence of rows). When the driving criterion is one of index rows, the whole match
set is decided on ``search_index`` alone (``matching_ids``): index rows exist only for the
current, not deleted version of a resource, so its ids are exactly the matches; a count
needs nothing else, and a page reads ``resources`` for the matches only. Results are
ordered by the requested ``_sort`` keys and always finally by ``res_id``, so offset paging
is stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Exists,
    Select,
    and_,
    false,
    func,
    not_,
    or_,
    select,
)

from hub.fhirstore.compartments import condition as compartment_condition
from hub.fhirstore.compartments import owner_condition
from hub.fhirstore.query import (
    ChainValue,
    Criterion,
    DateValue,
    Include,
    RefValue,
    SearchQuery,
    TokenValue,
)
from hub.fhirstore.searchparams import normalize_string, params_for
from hub.fhirstore.tables import current_by_id
from hub.fhirstore.tables import resources as R
from hub.fhirstore.tables import search_index as SI


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def date_condition(low_col: ColumnElement[Any], high_col: ColumnElement[Any],
                   v: DateValue) -> ColumnElement[bool]:
    """Resource range [low_col, high_col] against the search range of ``v``."""
    contained = and_(low_col >= v.low, high_col <= v.high)
    return {
        "eq": contained,
        "ne": not_(contained),
        "gt": high_col > v.high,
        "lt": low_col < v.low,
        "ge": high_col >= v.low,
        "le": low_col <= v.high,
        "sa": low_col > v.high,
        "eb": high_col < v.low,
    }[v.prefix]


def _value_condition(crit: Criterion, value: Any) -> ColumnElement[bool]:
    if crit.kind == "token":
        v: TokenValue = value
        conds: list[ColumnElement[bool]] = []
        if v.system == "":
            conds.append(SI.c.token_system.is_(None))
        elif v.system is not None:
            conds.append(SI.c.token_system == v.system)
        if v.code is not None:
            conds.append(SI.c.token_code == v.code)
        return and_(*conds)
    if crit.kind == "reference":
        r: RefValue = value
        cond = SI.c.ref_id == r.id
        return and_(cond, SI.c.ref_type == r.type) if r.type else cond
    if crit.kind == "string":
        if crit.modifier == "exact":
            return SI.c.string_exact == str(value)
        norm = _like_escape(normalize_string(value))
        pattern = f"%{norm}%" if crit.modifier == "contains" else f"{norm}%"
        return SI.c.string_value.like(pattern, escape="\\")
    if crit.kind == "date":
        return date_condition(SI.c.date_low, SI.c.date_high, value)
    if crit.kind == "number":
        number: ColumnElement[bool] = SI.c.number == value
        return number
    raise ValueError(crit.kind)


def _indexed(rtype: str, name: str, *conds: ColumnElement[bool]) -> Select[tuple[str]]:
    return select(SI.c.res_id).where(SI.c.res_type == rtype, SI.c.param == name, *conds)


def _checked(rtype: str, name: str, column: ColumnElement[Any],
             *conds: ColumnElement[bool]) -> Exists:
    """A correlated check of the index rows of the resource whose id is ``column``
    (``ix_search_index_resource_param``).

    On PostgreSQL the check ends with ``OFFSET 0``, which keeps it a probe per candidate
    (a subplan): without it the planner may turn it into a semi join and, under a
    one-candidate estimate (search_index's columns are correlated: with one owner of all
    250 Tasks, ``res_type``, ``param``, ``ref_type`` and ``ref_id`` multiplied to 1 row),
    ran it as a join filter over every index row of the other value (16,929 rows
    compared, ~15 ms per search at 1k against ~1.5 ms probing)."""
    return select(SI.c.res_id).where(
        SI.c.res_type == rtype, SI.c.res_id == column, SI.c.param == name, *conds,
    ).suffix_with("OFFSET 0", dialect="postgresql").exists()


#: How selective a criterion usually is (lower drives the query): a search is driven by
#: the list of ids of its most selective criterion, and the others are checked per
#: candidate, so no query builds the id list of a common value such as status=requested.
_SELECTIVITY = {"_id": 0, "reference": 1, "chain": 2, "string": 2, "date": 3, "number": 3,
                "token": 4,
                "_lastUpdated": 5}


def _selectivity(crit: Criterion) -> int:
    if crit.name == "identifier":
        return 0
    if crit.modifier in ("missing", "not"):
        return 9
    return _SELECTIVITY.get(crit.kind, 6)


def _chain_rows(rtype: str, crit: Criterion, compartment: str | None) -> Select[tuple[str]]:
    """``subject:Patient.name=peter``: the ids of the resources whose ``subject`` index row
    points at a current Patient (in the caller's compartment) that matches ``name=peter``."""
    alternatives = []
    cv: ChainValue
    for cv in crit.values:
        targets = select(R.c.res_id).where(
            R.c.res_type == cv.type, R.c.current.is_(True), R.c.deleted.is_(False),
            criterion_condition(cv.type, cv.criterion, True, compartment))
        if compartment:
            targets = targets.where(compartment_condition(cv.type, compartment, R.c.res_id))
        alternatives.append(and_(SI.c.ref_type == cv.type,
                                 SI.c.ref_id.in_(targets.correlate(None))))
    return _indexed(rtype, crit.name, or_(*alternatives))


def _index_rows(rtype: str, crit: Criterion,
                compartment: str | None) -> Select[tuple[str]] | None:
    """The ids of the index rows that match ``crit`` (one id per matching row), or None
    for a criterion that is not decided by the presence of index rows (``_id``,
    ``_lastUpdated``, ``:missing``, ``:not``)."""
    if crit.kind == "chain":
        return _chain_rows(rtype, crit, compartment)
    if crit.kind in ("_id", "_lastUpdated") or crit.modifier in ("missing", "not"):
        return None
    return _indexed(rtype, crit.name, or_(*[_value_condition(crit, v) for v in crit.values]))


def criterion_condition(rtype: str, crit: Criterion, drive: bool = True,
                        compartment: str | None = None,
                        column: ColumnElement[Any] = R.c.res_id) -> ColumnElement[bool]:
    """The WHERE condition on ``column`` (the id of a candidate of ``rtype``: by default
    ``resources.res_id``) for one criterion: an id list when it drives the query, a
    correlated check of the candidate's index rows otherwise. ``_lastUpdated`` is a
    condition on ``resources`` itself, whatever ``column``."""
    if crit.kind == "chain":
        return column.in_(_chain_rows(rtype, crit, compartment))
    if crit.kind == "_id":
        ids = list(crit.values)
        return column.in_(ids)
    if crit.kind == "_lastUpdated":
        return or_(*[date_condition(R.c.last_updated, R.c.last_updated, v)
                     for v in crit.values])
    if crit.modifier == "missing":
        present = column.in_(_indexed(rtype, crit.name))
        conds = [not_(present) if missing else present for missing in crit.values]
        return or_(*conds)
    matches = or_(*[_value_condition(crit, v) for v in crit.values])
    if crit.modifier == "not":
        return not_(_checked(rtype, crit.name, column, matches))
    if not drive:
        return _checked(rtype, crit.name, column, matches)
    return column.in_(_indexed(rtype, crit.name, matches))


def matching_ids(q: SearchQuery) -> Select[tuple[str]] | None:
    """The ids of the matches of ``q``, decided on ``search_index`` alone, each once: the
    rows of the most selective criterion, each other criterion, the compartment and
    ownership checked per id. Index rows exist only for the current, not deleted version
    of a resource (``versions.write`` replaces them with each version, a deletion has
    none), so these are exactly the ids of the current, not deleted matches. None when
    the driving criterion is not one of index rows (``_id``, ``_lastUpdated``, ``:not``,
    ``:missing``, no criterion) or a criterion needs ``resources`` (``_lastUpdated``)."""
    criteria = sorted(q.criteria, key=_selectivity)
    if not criteria or any(c.kind == "_lastUpdated" for c in criteria):
        return None
    rtype = q.resource_type
    driving = _index_rows(rtype, criteria[0], q.compartment)
    if driving is None:
        return None
    found = driving.distinct().subquery("matched")
    stmt = select(found.c.res_id)
    for crit in criteria[1:]:
        stmt = stmt.where(criterion_condition(rtype, crit, False, q.compartment,
                                              found.c.res_id))
    if q.compartment:
        stmt = stmt.where(compartment_condition(rtype, q.compartment, found.c.res_id))
    owned = owner_condition(rtype, q.client, found.c.res_id)
    return stmt.where(owned) if owned is not None else stmt


def base_select(q: SearchQuery, drive: bool = True, total: bool = False) -> Select[Any]:
    """The current, not deleted resources of the type that match every criterion (and
    are in the caller's compartment, if it is bound to an organization). With ``drive``
    False no criterion drives: the caller adds the condition that does. ``total``: with
    the number of matches as the column ``total`` (a subquery run once per statement, in
    the statement's view of the data).

    When ``search_index`` decides the matches (``matching_ids``), they are one common
    table expression, ``matches``, that both the page and its total read: computed once
    (a CTE read twice is materialized by SQLite and PostgreSQL alike) instead of once
    for each.

    Its first columns are res_id, version_id, last_updated and content, in this order
    (``ResourceRepository._found`` and ``keyset.merge`` read them by position)."""
    stmt = select(R.c.res_id, R.c.version_id, R.c.last_updated, R.c.content).where(
        R.c.res_type == q.resource_type, R.c.current.is_(True), R.c.deleted.is_(False))
    matched = matching_ids(q) if drive else None
    if matched is not None:  # decided on search_index: resources read for the matches only
        matches = matched.cte("matches")
        stmt = stmt.where(R.c.res_id.in_(select(matches.c.res_id)))
        if total:
            stmt = stmt.add_columns(_total(select(func.count()).select_from(matches)))
        return stmt
    stmt = _criteria(stmt, q, drive)
    return stmt.add_columns(_total(count_select(q))) if total else stmt


def _total(count: Select[Any]) -> Any:
    return count.correlate(None).scalar_subquery().label("total")


def _criteria(stmt: Select[Any], q: SearchQuery, drive: bool) -> Select[Any]:
    """``stmt`` (over ``resources``) with every condition of ``q``, the first criterion
    driving if ``drive``."""
    if q.compartment:
        stmt = stmt.where(compartment_condition(q.resource_type, q.compartment, R.c.res_id))
    owned = owner_condition(q.resource_type, q.client, R.c.res_id)
    if owned is not None:
        stmt = stmt.where(owned)
    for i, crit in enumerate(sorted(q.criteria, key=_selectivity)):
        stmt = stmt.where(criterion_condition(q.resource_type, crit, drive and i == 0,
                                              q.compartment))
    return stmt


#: The ``search_index`` column a sort by a parameter of each type orders by.
SORT_COLUMNS = {"string": "string_value", "date": "date_low", "token": "token_code",
                "number": "number"}


def sort_kind(rtype: str, name: str) -> str:
    """``_id``, ``_lastUpdated`` or the type of the sort parameter ``name``."""
    if name in ("_id", "_lastUpdated"):
        return name
    return params_for(rtype)[name].type


def with_sort_keys(stmt: Select[Any], rtype: str, sort: list[tuple[str, bool]],
                   collate: bool) -> tuple[Select[Any], list[ColumnElement[Any]]]:
    """``stmt`` joined to each sort parameter's key per resource: the min (ascending) or
    max (descending) of its indexed values, from one grouped pass over the index each (a
    correlated subquery per row made SQLite take seconds for a few thousand rows); and the
    key columns in ``sort`` order. ``collate``: text keys compare by code point
    (PostgreSQL's ``COLLATE "C"``)."""
    keys: list[ColumnElement[Any]] = []
    for i, (name, desc) in enumerate(sort):
        kind = sort_kind(rtype, name)
        if kind == "_id":
            keys.append(R.c.res_id)
            continue
        if kind == "_lastUpdated":
            keys.append(R.c.last_updated)
            continue
        column: ColumnElement[Any] = SI.c[SORT_COLUMNS[kind]]
        if collate and kind in ("string", "token"):
            column = column.collate("C")
        agg = func.max(column) if desc else func.min(column)
        per_row = select(SI.c.res_id, agg.label("key")).where(
            SI.c.res_type == rtype, SI.c.param == name).group_by(
            SI.c.res_id).subquery(f"sort_key_{i}")
        stmt = stmt.outerjoin(per_row, per_row.c.res_id == R.c.res_id)
        keys.append(per_row.c.key)
    return stmt, keys


def ordered_page(q: SearchQuery, total: bool = False) -> Select[Any]:
    """The page ``[offset, offset+count)`` of the search, in a stable order (``total``:
    with the number of matches, see ``base_select``)."""
    sort = q.sort or [("_lastUpdated", False)]
    stmt, keys = with_sort_keys(base_select(q, total=total), q.resource_type, sort,
                                collate=False)
    order = [key.desc().nulls_last() if desc else key.asc().nulls_last()
             for key, (_name, desc) in zip(keys, sort, strict=True)]
    order.append(R.c.res_id.asc())
    return stmt.order_by(*order).offset(q.offset).limit(q.count)


def count_select(q: SearchQuery) -> Select[Any]:
    """The number of matches: of ``matching_ids`` when the index decides them (no read of
    ``resources``), else of ``base_select``."""
    matched = matching_ids(q)
    return select(func.count()).select_from(
        (matched if matched is not None else base_select(q)).subquery())


def include_targets(rtype: str,
                    ids: Sequence[str | BindParameter[Any]] | BindParameter[Any],
                    includes: Iterable[Include]) -> Select[Any]:
    """(ref_type, ref_id) of what the page's resources reference, for ``_include`` (``ids``:
    a list of ids or of bound parameters, or an expanding bound parameter)."""
    conds: list[ColumnElement[bool]] = []
    for inc in includes:
        cond: ColumnElement[bool] = SI.c.ref_type.is_not(None)
        if inc.param != "*":
            cond = and_(cond, SI.c.param == inc.param)
        if inc.target:
            cond = and_(cond, SI.c.ref_type == inc.target)
        conds.append(cond)
    return select(SI.c.ref_type, SI.c.ref_id).where(
        SI.c.res_type == rtype, SI.c.res_id.in_(ids), or_(*conds) if conds else false()
    ).distinct()


def current_of(pairs: Select[Any]) -> Select[Any]:
    """The current, not deleted versions (every column of ``resources``) of the (type, id)
    pairs that ``pairs`` selects, each once: one statement that reads them by primary key."""
    found = pairs.subquery("pairs")
    type_col, id_col = found.c
    return select(R).join(found, and_(R.c.res_type == type_col, R.c.res_id == id_col)).where(
        current_by_id, R.c.deleted.is_(False))


def revinclude_sources(rtype: str,
                       ids: Sequence[str | BindParameter[Any]] | BindParameter[Any],
                       revincludes: Iterable[Include]) -> Select[Any]:
    """(res_type, res_id) of what references the page's resources, for ``_revinclude``
    (``ids``: a list of ids or of bound parameters, or an expanding bound parameter)."""
    conds: list[ColumnElement[bool]] = []
    for inc in revincludes:
        cond: ColumnElement[bool] = SI.c.ref_type == rtype
        if inc.source != "*":
            cond = and_(cond, SI.c.res_type == inc.source)
        if inc.param != "*":
            reference_params = [n for n, sp in params_for(inc.source).items()
                                if sp.type == "reference"]
            cond = and_(cond, SI.c.param == inc.param) if inc.param in reference_params \
                else false()
        conds.append(cond)
    return select(SI.c.res_type, SI.c.res_id).where(
        SI.c.ref_id.in_(ids), or_(*conds) if conds else false()).distinct()


__all__ = ["SORT_COLUMNS", "base_select", "count_select", "criterion_condition", "current_of",
           "date_condition", "include_targets", "matching_ids", "ordered_page",
           "revinclude_sources", "sort_kind", "with_sort_keys"]
