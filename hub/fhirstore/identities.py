"""One patient per identity: the business identifiers that name exactly one Patient.

Patients are matched by their identifiers of the configured MRN systems
(``HUB_PATIENT_IDENTIFIER_SYSTEMS``, comma-separated; default ``DEFAULT_SYSTEMS``, the MRN
systems of the hub's own fixtures). ``patient_identities`` keeps one row per
(system, value) naming the live Patient that carries it. Every Patient write of the
resource repository claims its rows in the same transaction (``claim``): a second Patient
with an identifier already held is refused (``IdentityTaken``, 409 naming the holder), and
two concurrent writers of the same new identifier collide on the primary key, so only one
commits (the other is re-run by ``hub.store.concurrency.retrying`` and then meets the row).
A deleted Patient gives its identifiers up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from hub.errors import Conflict, Issue
from hub.fhirstore.tables import patient_identities as PI
from hub.store.db import PATIENT_SYSTEMS

#: The MRN systems of the hub's fixtures (``fixtures/cases``).
DEFAULT_SYSTEMS: tuple[str, ...] = ("urn:oid:2.16.840.1.113883.19.5.1",
                                    "urn:oid:2.16.840.1.113883.19.5")


#: The statements of every Patient write and case opening, built once.
_HOLDER = select(PI.c.patient_id).where(PI.c.system == bindparam("s"),
                                        PI.c.value == bindparam("v"))
_HELD = select(PI.c.system, PI.c.value).where(PI.c.patient_id == bindparam("p"))
_INSERT = insert(PI)


class IdentityTaken(Conflict):
    """Another Patient already carries this identifier (409)."""

    def __init__(self, system: str, value: str, holder: str, index: int) -> None:
        message = (f"Patient/{holder} already has the identifier {system}|{value}: "
                   "one Patient per identity (use it, or create conditionally with "
                   f"If-None-Exist: identifier={system}|{value})")
        super().__init__(message, issues=[Issue(message, code="duplicate",
                                                path=f"Patient.identifier[{index}]")])
        self.holder = holder


def parse_systems(text: str | None) -> tuple[str, ...]:
    """``HUB_PATIENT_IDENTIFIER_SYSTEMS``: comma-separated; empty or None = the default."""
    items = tuple(s.strip() for s in (text or "").split(",") if s.strip())
    return items or DEFAULT_SYSTEMS


def systems(session: Session) -> tuple[str, ...]:
    return tuple(getattr(session, "info", {}).get(PATIENT_SYSTEMS) or DEFAULT_SYSTEMS)


def keys_of(identifiers: Iterable[dict[str, Any]], wanted: tuple[str, ...]
            ) -> dict[tuple[str, str], int]:
    """(system, value) -> position of each identifier of a matching system."""
    out: dict[tuple[str, str], int] = {}
    for i, ident in enumerate(identifiers):
        system, value = ident.get("system"), ident.get("value")
        if system in wanted and value:
            out.setdefault((system, value), i)
    return out


def find_patient(session: Session, pairs: Iterable[tuple[str, str]]) -> str | None:
    """The id of the live Patient holding one of the (system, value) pairs, if any."""
    for system, value in pairs:
        holder = session.execute(_HOLDER, {"s": system, "v": value}).scalar_one_or_none()
        if holder is not None:
            return str(holder)
    return None


def claim(session: Session, rid: str, content: dict[str, Any] | None, *,
          new: bool = False) -> None:
    """Make ``Patient/rid``'s rows match its new version (``None``: deleted); ``new``: its
    version 1 was just written, so it holds no rows yet (nothing to read)."""
    wanted = keys_of((content or {}).get("identifier") or [], systems(session))
    held = set() if new else {(r.system, r.value)
                              for r in session.execute(_HELD, {"p": rid})}
    for system, value in held - set(wanted):
        session.execute(delete(PI).where(PI.c.system == system, PI.c.value == value,
                                         PI.c.patient_id == rid))
    for (system, value), index in wanted.items():
        if (system, value) in held:
            continue
        holder = find_patient(session, [(system, value)])
        if holder is not None:
            raise IdentityTaken(system, value, holder, index)
        # a concurrent writer of the same identifier makes this an IntegrityError: retried
        session.execute(_INSERT, [{"system": system, "value": value, "patient_id": rid}])
