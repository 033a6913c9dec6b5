"""``hub fhir rekey``: move resources stored under public ids to the hub's keyed ids.

Before the id key (``hub.mappings.identity``), the ids of the resources produced from a
case were UUIDv5 of ``(case id, kind, part)`` over a public namespace: anyone who knows a
case id (printed in every hub identifier) can compute them. This finds such resources and
gives each the id the hub derives now (HMAC under the id key), in one transaction:

* a resource is recognised by its own hub business identifier (``…/NamingSystem/<kind>``,
  value ``<case id>[/<part>]``) when its id is exactly the UUIDv5 of that name; references
  that carry such an identifier beside their target are recognised the same way;
* every version of it moves to the new id (its ``id`` rewritten), with its search index
  rows, conditional-create key, patient identity keys, open-case key and case part
  (``case_resources``); if the hub has meanwhile stored the resource under the new id (a
  case changed after the key came), the old one is retired instead: a deletion version
  (read answers 410 Gone);
* every reference to an old id, in every version of every resource, in the search index,
  in the case documents and in the outbox rows still to be delivered, names the new id;
* the sync ledger keeps its links (a partner's copy stays linked, now to the new id; where
  both ids had a link to one partner, the new id's is kept).

The audit log is left as recorded (it is the record of what happened, under the ids of
the time). Idempotent: a second run finds nothing. Needs the id key the hub uses
(``HUB_ID_KEY`` or the database's), installed before it runs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, select, update
from sqlalchemy.orm import Session

from hub.fhirjson import codec
from hub.fhirstore.repository import ResourceRepository
from hub.fhirstore.searchparams import split_reference
from hub.fhirstore.tables import conditional_keys, patient_identities, resources, search_index
from hub.mappings import identity
from hub.mappings.codes import HUB_CANONICAL
from hub.store.case_tables import case_resources, cases, open_cases
from hub.store.sync_tables import outbox, sync_links

R, SI = resources, search_index
_PREFIX = f"{HUB_CANONICAL}/NamingSystem/"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
_BATCH = 500

#: (resource type, old id) -> new id
Moves = dict[tuple[str, str], str]


class NoIdKey(RuntimeError):
    """No id key is installed: the new ids would be the old ones."""


@dataclass
class RekeyReport:
    renamed: int = 0  # resources moved to their new id
    retired: int = 0  # old resources whose new id was taken already (now deleted: 410)
    rewritten: int = 0  # resource versions whose references (or id) were rewritten
    links: int = 0  # ledger links moved to the new id
    deliveries: int = 0  # outbox rows rewritten
    cases: int = 0  # case documents rewritten


def _public_id(case_id: str, kind: str, part: str | None) -> str:
    name = f"{case_id}/{kind}" if part is None else f"{case_id}/{kind}/{part}"
    return str(uuid.uuid5(identity.HUB_NAMESPACE, name))


def _move_for(rid: str, ident: Any) -> str | None:
    """The new id of ``rid`` if it is the public id of the hub identifier ``ident``."""
    if not isinstance(ident, dict) or not str(ident.get("system", "")).startswith(_PREFIX):
        return None
    kind, value = str(ident["system"])[len(_PREFIX):], str(ident.get("value") or "")
    case_id, _, part = value.partition("/")
    if not case_id or _public_id(case_id, kind, part or None) != rid:
        return None
    return identity.resource_id(case_id, kind, part or None)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _found(rtype: str, rid: str, content: dict[str, Any], moves: Moves) -> None:
    for ident in content.get("identifier") or []:
        new = _move_for(rid, ident)
        if new:
            moves[rtype, rid] = new
    for node in _walk(content):
        ref, ident = node.get("reference"), node.get("identifier")
        target = split_reference(ref) if isinstance(ref, str) and ident else None
        if target and target[0]:
            new = _move_for(target[1], ident)
            if new:
                moves[target[0], target[1]] = new


def _rows(session: Session) -> Iterator[Any]:
    """Every stored version with content (keyset over the primary key, in batches)."""
    last: tuple[str, str, int] | None = None
    while True:
        stmt = select(R.c.res_type, R.c.res_id, R.c.version_id, R.c.content).where(
            R.c.content.is_not(None))
        if last is not None:
            t, i, v = last
            stmt = stmt.where((R.c.res_type > t) | ((R.c.res_type == t) & (R.c.res_id > i)) | (
                (R.c.res_type == t) & (R.c.res_id == i) & (R.c.version_id > v)))
        rows = session.execute(stmt.order_by(R.c.res_type, R.c.res_id, R.c.version_id)
                               .limit(_BATCH)).all()
        yield from rows
        if len(rows) < _BATCH:
            return
        last = (rows[-1].res_type, rows[-1].res_id, rows[-1].version_id)


def find_moves(session: Session) -> Moves:
    """Every (type, public id) the store names, with the id the hub derives now."""
    if identity._id_key is None:
        raise NoIdKey("no id key is installed (HUB_ID_KEY or the database's hub_id_key)")
    moves: Moves = {}
    for row in _rows(session):
        if _UUID.search(row.content):
            _found(row.res_type, row.res_id, codec.loads(row.content), moves)
    return moves


def _rewrite(node: Any, moves: Moves, by_id: dict[str, list[str]]) -> Any:
    """``node`` with every reference (and ``Type/id`` string) to a moved id renamed."""
    if isinstance(node, dict):
        return {_rewrite(k, moves, by_id) if isinstance(k, str) else k:
                _rewrite(v, moves, by_id) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, moves, by_id) for v in node]
    if isinstance(node, str) and _UUID.search(node):
        def swap(m: re.Match[str]) -> str:
            old = m.group(0)
            for rtype in by_id.get(old, []):
                if f"{rtype}/{old}" in node:
                    return moves[rtype, old]
            return old
        return _UUID.sub(swap, node)
    return node


def _rename(session: Session, rtype: str, old: str, new: str) -> None:
    session.execute(update(R).where(R.c.res_type == rtype, R.c.res_id == old)
                    .values(res_id=new))
    session.execute(update(SI).where(SI.c.res_type == rtype, SI.c.res_id == old)
                    .values(res_id=new))
    session.execute(update(case_resources).where(
        case_resources.c.resource_type == rtype, case_resources.c.resource_id == old)
        .values(resource_id=new))
    session.execute(update(conditional_keys).where(
        conditional_keys.c.res_type == rtype, conditional_keys.c.res_id == old)
        .values(res_id=new))
    if rtype == "Patient":
        session.execute(update(patient_identities).where(
            patient_identities.c.patient_id == old).values(patient_id=new))
        session.execute(update(open_cases).where(open_cases.c.patient_id == old)
                        .values(patient_id=new))


def _move_links(session: Session, rtype: str, old: str, new: str) -> int:
    """The ledger links of the old id, now of the new one (where both had a link to one
    partner, the new id's is kept)."""
    L, kept = sync_links, sync_links.alias("kept")
    both = select(kept.c.partner_id).where(kept.c.local_type == rtype, kept.c.local_id == new)
    session.execute(delete(L).where(L.c.local_type == rtype, L.c.local_id == old,
                                    L.c.partner_id.in_(both)))
    moved = session.execute(update(L).where(L.c.local_type == rtype, L.c.local_id == old)
                            .values(local_id=new))
    return int(getattr(moved, "rowcount", 0) or 0)


def rekey(session: Session, progress: Callable[[int, int], None] | None = None
          ) -> RekeyReport:
    """Move every resource under a public id to its keyed id (the caller commits)."""
    report = RekeyReport()
    moves = find_moves(session)
    if not moves:
        return report
    by_id: dict[str, list[str]] = {}
    for rtype, old in moves:
        by_id.setdefault(old, []).append(rtype)
    repo = ResourceRepository(session)
    for done, ((rtype, old), new) in enumerate(sorted(moves.items()), start=1):
        stored_old = session.execute(select(R.c.res_id).where(
            R.c.res_type == rtype, R.c.res_id == old).limit(1)).first()
        if stored_old is not None:
            stored_new = session.execute(select(R.c.res_id).where(
                R.c.res_type == rtype, R.c.res_id == new).limit(1)).first()
            if stored_new is None:
                _rename(session, rtype, old, new)
                report.renamed += 1
            else:
                repo.delete(rtype, old)
                report.retired += 1
        report.links += _move_links(session, rtype, old, new)
        session.execute(update(SI).where(SI.c.ref_type == rtype, SI.c.ref_id == old)
                        .values(ref_id=new))
        session.execute(update(outbox).where(outbox.c.resource_type == rtype,
                                             outbox.c.resource_id == old)
                        .values(resource_id=new))
        if progress is not None:
            progress(done, len(moves))
    olds = set(by_id)
    for row in _rows(session):
        if not any(m in olds for m in _UUID.findall(row.content)):
            continue
        content = codec.loads(row.content)
        rewritten = _rewrite(content, moves, by_id)
        if content.get("id") == row.res_id or (row.res_type, content.get("id")) in moves:
            rewritten["id"] = row.res_id
        if rewritten != content:
            session.execute(update(R).where(
                R.c.res_type == row.res_type, R.c.res_id == row.res_id,
                R.c.version_id == row.version_id).values(content=codec.dumps(rewritten)))
            report.rewritten += 1
    # deliveries not done yet (done ones are the record of what was sent)
    report.deliveries = _rewrite_rows(session, outbox, outbox.c.id, ("payload", "options"),
                                      moves, by_id, outbox.c.status != "done")
    report.cases = _rewrite_rows(session, cases, cases.c.id, ("document",), moves, by_id,
                                 None)
    return report


def _plain_ids(value: Any, moves: Moves) -> Any:
    """A payload's own ``id`` and a case document's ``patient_id`` (plain ids, no type)."""
    if not isinstance(value, dict):
        return value
    rtype, rid = value.get("resourceType"), value.get("id")
    if isinstance(rtype, str) and isinstance(rid, str) and (rtype, rid) in moves:
        value = {**value, "id": moves[rtype, rid]}
    pid = value.get("patient_id")
    if isinstance(pid, str) and ("Patient", pid) in moves:
        value = {**value, "patient_id": moves["Patient", pid]}
    return value


def _rewrite_rows(session: Session, table: Table, key: ColumnElement[Any],
                  columns: tuple[str, ...], moves: Moves, by_id: dict[str, list[str]],
                  where: ColumnElement[bool] | None) -> int:
    """Rewrite the JSON ``columns`` of ``table`` (outbox payloads, case documents)."""
    stmt = select(key, *[table.c[c] for c in columns])
    if where is not None:
        stmt = stmt.where(where)
    changed = 0
    for row in session.execute(stmt).all():
        values = {}
        for name in columns:
            value = row._mapping[name]
            new = _plain_ids(_rewrite(value, moves, by_id), moves)
            if new != value:
                values[name] = new
        if values:
            session.execute(update(table).where(key == row[0]).values(**values))
            changed += 1
    return changed


__all__ = ["NoIdKey", "RekeyReport", "find_moves", "rekey"]
