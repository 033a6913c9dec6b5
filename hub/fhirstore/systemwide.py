"""Queries across resource types: what references a resource, system-level history and the
``GET [base]?_type=`` search (common parameters only), for ``$everything`` and incremental
sync (``hub.fhirapi.everything``).

Every query takes the types the caller may see (its scopes decided them) and, for a client
bound to an Organization, that Organization: only resources of its compartment count, so a
hidden resource is absent, never different from a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from hub.fhirjson import codec
from hub.fhirstore.compartments import condition as compartment_condition
from hub.fhirstore.compartments import owner_condition
from hub.fhirstore.tables import resources as R
from hub.fhirstore.tables import search_index as SI


def _types_condition(types: Sequence[str], compartment: str | None,
                     client: str | None) -> ColumnElement[bool]:
    if not types:
        return false()
    owned = {t: owner_condition(t, client, R.c.res_id) for t in types}
    if not compartment and not any(c is not None for c in owned.values()):
        return R.c.res_type.in_(list(types))
    parts = []
    for t in types:
        conds = [R.c.res_type == t]
        if compartment:
            conds.append(compartment_condition(t, compartment, R.c.res_id))
        own = owned[t]
        if own is not None:
            conds.append(own)
        parts.append(and_(*conds))
    return or_(*parts)


def referencing(session: Session, rtype: str, rid: str) -> list[tuple[str, str]]:
    """(type, id) of the current resources with an indexed reference to ``rtype/rid``."""
    rows = session.execute(select(SI.c.res_type, SI.c.res_id).where(
        SI.c.ref_type == rtype, SI.c.ref_id == rid).distinct()).all()
    return sorted({(r.res_type, r.res_id) for r in rows})


def history(session: Session, types: Sequence[str], compartment: str | None,
            since: datetime | None, count: int, offset: int,
            client: str | None = None) -> tuple[list[Any], int]:
    """(versions newest first as rows, total) of every resource of ``types`` (owned types:
    ``client``'s own)."""
    conds = [_types_condition(types, compartment, client)]
    if since is not None:
        conds.append(R.c.last_updated >= since)
    total = session.execute(select(func.count()).select_from(R).where(*conds)).scalar_one()
    before = R.alias("r_before")
    previous_deleted = select(before.c.deleted).where(
        before.c.res_type == R.c.res_type, before.c.res_id == R.c.res_id,
        before.c.version_id == R.c.version_id - 1).scalar_subquery()
    rows = session.execute(select(R, previous_deleted.label("after_delete")).where(*conds)
                           .order_by(R.c.last_updated.desc(), R.c.res_type, R.c.res_id,
                                     R.c.version_id.desc())
                           .offset(offset).limit(count)).all()
    return list(rows), total


def search(session: Session, types: Sequence[str], compartment: str | None,
           ids: Sequence[str], updated: Sequence[tuple[str, datetime]],
           count: int, offset: int, client: str | None = None) -> tuple[list[Any], int]:
    """(current live rows oldest change first, total) of ``types`` matching ``_id`` (any
    of ``ids``) and every ``_lastUpdated`` bound (``(op, instant)``: gt ge lt le); owned
    types: ``client``'s own."""
    conds = [_types_condition(types, compartment, client), R.c.current.is_(True),
             R.c.deleted.is_(False)]
    if ids:
        conds.append(R.c.res_id.in_(list(ids)))
    ops = {"gt": R.c.last_updated.__gt__, "ge": R.c.last_updated.__ge__,
           "lt": R.c.last_updated.__lt__, "le": R.c.last_updated.__le__}
    for op, at in updated:
        conds.append(ops[op](at))
    total = session.execute(select(func.count()).select_from(R).where(*conds)).scalar_one()
    rows = session.execute(select(R).where(*conds).order_by(
        R.c.last_updated, R.c.res_type, R.c.res_id).offset(offset).limit(count)).all()
    return list(rows), total


def loads(row: Any) -> dict[str, Any] | None:
    m = row._mapping
    return codec.loads(m["content"]) if m.get("content") else None
