"""Rebuilding what the resource store derives from the stored versions (``hub fhir reindex``).

Each write stores, beside the version, its search index rows, its compartment rows
(``_link``/``_open``, ``hub.fhirstore.compartments``) and, for a Patient, its identity keys
(``hub.fhirstore.identities``). A resource stored before a search parameter, the compartment
rows or the identity table existed lacks those rows until it is written again. ``reindex``
rebuilds them from what is stored, without writing a new version:

* **search index**: the current live version of each resource, indexed as a write indexes it;
* **compartment rows**: replayed over the resource's versions as the writes made them. A
  version a partner wrote (a Provenance names that version as target and an Organization as
  agent, ``hub.fhirapi.provenance``) carries the rows of the version before it over
  (``carried_rows``), any other version makes them from its content (``link_rows``), a
  deletion drops them: nothing a partner wrote widens a compartment, here either;
* **patient identity keys**: the identifiers of the configured MRN systems of each live
  Patient. A key held by a Patient that still carries it stays; a missing one goes to the
  oldest Patient carrying it (first stored); the other Patients carrying it are reported as
  duplicates, nothing is merged or deleted (a person decides). Keys of a Patient that is
  gone, or no longer carries them, are dropped.

A resource whose rows are already right is left alone, so a second run changes nothing.
Work is done in batches of resources, each in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.orm import Session

from hub.fhirjson import codec
from hub.fhirstore import identities
from hub.fhirstore.compartments import AGENCY_LINKS, INSURER_LINKS, carried_rows, link_rows
from hub.fhirstore.searchparams import index_rows
from hub.fhirstore.tables import current_by_id
from hub.fhirstore.tables import patient_identities as PI
from hub.fhirstore.tables import resources as R
from hub.fhirstore.tables import search_index as SI
from hub.store.db import FHIR_BASE, Database

#: The resource types whose versions make compartment rows (the anchors and open Tasks).
LINKED_TYPES = frozenset({*AGENCY_LINKS, *INSURER_LINKS})
_COLUMNS = tuple(c.name for c in SI.columns if c.name not in ("row_id", "res_type", "res_id"))

Progress = Callable[[int, int], None]


@dataclass
class DuplicateIdentity:
    """Several live Patients carry one identifier: ``holder`` keeps the key."""

    system: str
    value: str
    holder: str
    others: list[str]


@dataclass
class ReindexReport:
    resources: int = 0  # current resources looked at
    reindexed: int = 0  # ... whose index or compartment rows were rebuilt
    identities_added: int = 0
    identities_dropped: int = 0
    duplicates: list[DuplicateIdentity] = field(default_factory=list)



def reindex(db: Database, *, batch: int = 500, progress: Progress | None = None
            ) -> ReindexReport:
    """Rebuild the search index, compartment and identity rows of every stored resource."""
    report = ReindexReport()
    with db.sessions() as session:
        total = session.execute(select(func.count()).select_from(R).where(
            R.c.current.is_(True))).scalar_one()
        by_partner = partner_versions(session)
    done = 0
    for keys in _batches(db, batch):
        with db.sessions() as session:
            report.reindexed += _reindex_batch(session, keys, by_partner)
            session.commit()
        done += len(keys)
        report.resources = done
        if progress is not None:
            progress(done, total)
    with db.sessions() as session:
        reindex_identities(session, report)
        session.commit()
    return report


def _batches(db: Database, size: int) -> Iterator[list[tuple[str, str]]]:
    """(type, id) of the current versions, in key order, ``size`` at a time."""
    last: tuple[str, str] | None = None
    while True:
        stmt = select(R.c.res_type, R.c.res_id).where(R.c.current.is_(True))
        if last is not None:
            stmt = stmt.where(tuple_(R.c.res_type, R.c.res_id) > tuple_(*last))
        with db.sessions() as session:
            keys = [(r.res_type, r.res_id) for r in session.execute(
                stmt.order_by(R.c.res_type, R.c.res_id).limit(size))]
        if not keys:
            return
        yield keys
        last = keys[-1]


def partner_versions(session: Session) -> set[tuple[str, str, int]]:
    """(type, id, version) of the versions partners wrote: the targets of the Provenance
    whose agent is an Organization (the hub's own clients are a logical Device)."""
    out: set[tuple[str, str, int]] = set()
    rows = session.execute(select(R.c.content).where(
        R.c.res_type == "Provenance", R.c.current.is_(True), R.c.deleted.is_(False)))
    for (text,) in rows:
        prov = codec.loads(text) if text else {}
        if not any(((a or {}).get("who") or {}).get("reference", "").startswith("Organization/")
                   for a in prov.get("agent") or []):
            continue
        for target in prov.get("target") or []:
            parts = str((target or {}).get("reference") or "").split("/")
            if len(parts) == 4 and parts[2] == "_history" and parts[3].isdigit():
                out.add((parts[0], parts[1], int(parts[3])))
    return out


def _reindex_batch(session: Session, keys: list[tuple[str, str]],
                   by_partner: set[tuple[str, str, int]]) -> int:
    local_base = getattr(session, "info", {}).get(FHIR_BASE)
    changed = 0
    for rtype in sorted({t for t, _ in keys}):
        ids = [i for t, i in keys if t == rtype]
        current = {r.res_id: r for r in session.execute(select(
            R.c.res_id, R.c.version_id, R.c.deleted, R.c.content).where(
            R.c.res_type == rtype, R.c.res_id.in_(ids), current_by_id))}
        existing: dict[str, list[tuple[Any, ...]]] = {i: [] for i in ids}
        for row in session.execute(select(SI).where(SI.c.res_type == rtype,
                                                    SI.c.res_id.in_(ids))):
            existing[row.res_id].append(_key(row._mapping))
        internal = _replayed(session, rtype, ids, by_partner) if rtype in LINKED_TYPES else {}
        for rid in ids:
            row = current[rid]
            rows: list[dict[str, Any]] = []
            if not row.deleted and row.content:
                content = codec.loads(row.content)
                rows = [*index_rows(content, local_base), *internal.get(rid, [])]
            if sorted(existing[rid]) == sorted(_key(r) for r in rows):
                continue
            session.execute(delete(SI).where(SI.c.res_type == rtype, SI.c.res_id == rid))
            if rows:
                session.execute(insert(SI), [
                    {**dict.fromkeys(_COLUMNS), **r, "res_type": rtype, "res_id": rid}
                    for r in rows])
            changed += 1
    return changed


def _key(row: Any) -> tuple[Any, ...]:
    """A row's values, comparable between what is stored and what a write makes."""
    return tuple(repr(row.get(c)) for c in _COLUMNS)


def _replayed(session: Session, rtype: str, ids: list[str],
              by_partner: set[tuple[str, str, int]]) -> dict[str, list[dict[str, Any]]]:
    """The compartment rows of each resource's current version, replayed over its versions."""
    out: dict[str, list[dict[str, Any]]] = {}
    versions = session.execute(select(R.c.res_id, R.c.version_id, R.c.deleted, R.c.content)
                               .where(R.c.res_type == rtype, R.c.res_id.in_(ids))
                               .order_by(R.c.res_id, R.c.version_id))
    for v in versions:
        if v.deleted or not v.content:
            out[v.res_id] = []
            continue
        content = codec.loads(v.content)
        if (rtype, v.res_id, v.version_id) in by_partner:
            out[v.res_id] = carried_rows(out.get(v.res_id, []), content)
        else:
            out[v.res_id] = link_rows(content)
    return out


def reindex_identities(session: Session, report: ReindexReport) -> None:
    """Make ``patient_identities`` name, for each identifier of a configured MRN system, the
    live Patient that carries it (see the module docstring); duplicates into ``report``."""
    wanted = identities.systems(session)
    first_stored = {r.res_id: r.first for r in session.execute(
        select(R.c.res_id, func.min(R.c.last_updated).label("first"))
        .where(R.c.res_type == "Patient").group_by(R.c.res_id))}
    carriers: dict[tuple[str, str], list[str]] = {}
    for rid, text in session.execute(select(R.c.res_id, R.c.content).where(
            R.c.res_type == "Patient", R.c.current.is_(True), R.c.deleted.is_(False))):
        content = codec.loads(text) if text else {}
        for key in identities.keys_of(content.get("identifier") or [], wanted):
            carriers.setdefault(key, []).append(rid)
    held = {(r.system, r.value): r.patient_id for r in session.execute(select(PI))}
    for (system, value), holder in held.items():
        if holder not in carriers.get((system, value), []):
            session.execute(delete(PI).where(PI.c.system == system, PI.c.value == value))
            report.identities_dropped += 1
    for (system, value), rids in sorted(carriers.items()):
        rids.sort(key=lambda i: (first_stored[i], i))
        holder = held.get((system, value))
        if holder not in rids:
            holder = rids[0]
            session.execute(insert(PI).values(system=system, value=value, patient_id=holder))
            report.identities_added += 1
        others = [i for i in rids if i != holder]
        if others:
            report.duplicates.append(DuplicateIdentity(system, value, holder, others))


__all__ = ["DuplicateIdentity", "ReindexReport", "partner_versions", "reindex",
           "reindex_identities"]
