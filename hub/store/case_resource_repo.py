"""The client resources that are a case's parts (table ``case_resources``).

A case opened through ``/fhir`` keeps the resources its client posted: the projection
writes the case's EpisodeOfCare, CarePlan, Goals, ... onto them (``aliases``) instead of
making resources of its own beside them, and a later write of one of them is a change of
that case (``owner``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hub.store import driver
from hub.store.case_tables import case_resources


@dataclass(frozen=True)
class CaseResource:
    """``resource_type/resource_id`` is the case's part ``hub_id``."""

    resource_type: str
    hub_id: str
    resource_id: str
    owned: bool = True


def add(session: Session, case_id: str, rows: Iterable[CaseResource]) -> None:
    """Record the case's resources (ones already recorded are kept as they are)."""
    known = set(aliases(session, case_id))
    new = [r for r in rows if (r.resource_type, r.hub_id) not in known]
    if new:
        session.execute(case_resources.insert(), [
            {"case_id": case_id, "resource_type": r.resource_type, "hub_id": r.hub_id,
             "resource_id": r.resource_id, "owned": r.owned} for r in new])


def aliases(session: Session, case_id: str) -> dict[tuple[str, str], str]:
    """(type, hub id) -> the client's id, for every recorded resource of the case."""
    rows = session.execute(select(case_resources).where(
        case_resources.c.case_id == case_id)).all()
    return {(r.resource_type, r.hub_id): r.resource_id for r in rows}


def owner(session: Session, resource_type: str, resource_id: str) -> str | None:
    """The case ``resource_type/resource_id`` is an owned part of, if any."""
    row = driver.first_in(session, _OWNER, {"t": resource_type, "i": resource_id})
    return row[0] if row else None


#: ``owner``'s statement, built once (every FHIR write of a case's type asks it) and run on
#: the driver (``hub.store.driver``; its first row only: no LIMIT, whose bound value the
#: driver's statement would not carry)
_OWNER = select(case_resources.c.case_id).where(
    case_resources.c.resource_type == bindparam("t"),
    case_resources.c.resource_id == bindparam("i"),
    case_resources.c.owned.is_(True))
