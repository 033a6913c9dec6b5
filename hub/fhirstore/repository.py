"""The versioned FHIR resource store: every version kept, a search index of the current one.

``ResourceRepository(session)`` works inside the caller's transaction (see
``hub.store.uow``); it never commits. Optimistic locking is enforced by the database:
writing version n+1 first flips the ``current`` flag of version n (0 rows when someone
else got there first) and the primary key (type, id, version) refuses a second n+1.
Both surface as ``VersionConflict``. How a version's rows are built and written:
``hub.fhirstore.versions`` (``write_versions`` writes several resources' versions with one
statement per table).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.fhirjson import codec
from hub.fhirstore import identities, keyset, keyset_sorts, search_statements, searchsql
from hub.fhirstore.compartments import LINK, OPEN, carried_rows, link_rows, owner_condition
from hub.fhirstore.compartments import condition as compartment_condition
from hub.fhirstore.query import Include, SearchQuery
from hub.fhirstore.tables import conditional_keys as CK
from hub.fhirstore.tables import current_by_id
from hub.fhirstore.tables import resources as R
from hub.fhirstore.tables import search_index as SI
from hub.fhirstore.versions import NewVersion, StoredResource, VersionConflict, new_version
from hub.fhirstore.versions import write as store_versions
from hub.store.conflicts import ConcurrentWrite
from hub.store.db import FHIR_BASE
from hub.store.reading import first_row


class ConditionalKeyTaken(ConcurrentWrite):
    """A concurrent conditional create claimed the same query; retry the whole write."""


@dataclass
class Page:
    """A page of search matches. ``more``: there are rows past it in its direction (for a
    page read backwards, before it). Keyset pages carry the snapshot of the search and the
    (sort key, id) of each row, to make the cursors of the next and previous pages."""

    resources: list[StoredResource]
    more: bool
    snapshot: datetime | None = None
    keys: list[tuple[Any, str]] | None = None
    #: the number of matches, when the page's statement counted them (``with_total``)
    total: int | None = None


def _row(rtype: str, row: Row[Any]) -> StoredResource:
    m = row._mapping
    return StoredResource(rtype if rtype else m["res_type"], m["res_id"], m["version_id"],
                          m["last_updated"], bool(m.get("deleted", False)), None,
                          m.get("method"), text=m.get("content") or None)


def _resource_row(row: Sequence[Any]) -> StoredResource:
    """A row of ``select(resources)`` (every column, in the table's order), as ``_row``
    reads it, by position: through the row's mapping, by name, it cost ~8 us a row (an
    ``_include`` reads 20 a page), unpacked ~1 us. A column added to the table fails here."""
    rtype, rid, version_id, last_updated, deleted, _current, content, method = row
    return StoredResource(rtype, rid, version_id, last_updated, bool(deleted), None, method,
                          text=content or None)


#: The current version of one resource (``read``): one statement for every read, built once.
_READ = select(R).where(R.c.res_type == bindparam("rtype"), R.c.res_id == bindparam("rid"),
                        current_by_id)


@functools.lru_cache(maxsize=32)
def _current_of_types(count: int) -> Select[Any]:
    """``current_many``'s statement for ``count`` types (type ``t<n>``, its ids ``i<n>``),
    built once per count: building the criteria each time cost as much as running them."""
    return select(R).where(current_by_id, or_(*(
        and_(R.c.res_type == bindparam(f"t{n}"), R.c.res_id.in_(bindparam(f"i{n}",
                                                                          expanding=True)))
        for n in range(count))))


def _chunks(ids: list[str], size: int = 200) -> list[list[str]]:
    """``ids`` in parts of at most ``size`` (bound parameters per statement stay few)."""
    return [ids[start:start + size] for start in range(0, len(ids), size)]


def _total_of(rows: Sequence[Row[Any]], with_total: bool) -> int | None:
    return int(rows[0].total) if with_total and rows else None


def new_resource_id() -> str:
    return str(uuid.uuid4())


class ResourceRepository:
    """Create, read, vread, update, delete, history and search of FHIR resources."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def local_base(self) -> str | None:
        """The hub's own FHIR base URL (absolute references under it are local)."""
        return getattr(self.session, "info", {}).get(FHIR_BASE)

    # --- reads ----------------------------------------------------------------------------

    def read(self, rtype: str, rid: str) -> StoredResource | None:
        """The current version (possibly a deletion), or None if never stored."""
        row = first_row(self.session, _READ, {"rtype": rtype, "rid": rid})
        return _resource_row(row) if row else None

    def vread(self, rtype: str, rid: str, version_id: int) -> StoredResource | None:
        row = self.session.execute(select(R).where(
            R.c.res_type == rtype, R.c.res_id == rid, R.c.version_id == version_id)).first()
        return _row(rtype, row) if row else None

    def exists_ever(self, rtype: str, rid: str) -> bool:
        return self.session.execute(select(func.count()).where(
            R.c.res_type == rtype, R.c.res_id == rid)).scalar_one() > 0

    def read_many(self, pairs: list[tuple[str, str]]) -> list[StoredResource]:
        """Current, not deleted versions of (type, id) pairs, in the order given."""
        if not pairs:
            return []
        found: dict[tuple[str, str], StoredResource] = {}
        by_type: dict[str, list[str]] = {}
        for rtype, rid in dict.fromkeys(pairs):
            by_type.setdefault(rtype, []).append(rid)
        chunk = 200
        # one type at a time: `res_type = ? AND res_id IN (...)` uses the primary key, where
        # a row-value `(res_type, res_id) IN (...)` makes SQLite scan the whole table
        for rtype, ids in by_type.items():
            for start in range(0, len(ids), chunk):
                rows = self.session.execute(select(R).where(
                    R.c.res_type == rtype, R.c.res_id.in_(ids[start:start + chunk]),
                    current_by_id, R.c.deleted.is_(False))).all()
                for row in rows:
                    res = _row("", row)
                    found[(res.type, res.id)] = res
        return [found[p] for p in dict.fromkeys(pairs) if p in found]

    # --- writes ---------------------------------------------------------------------------

    def create(self, rtype: str, content: dict[str, Any], rid: str | None = None, *,
               by_partner: bool = False) -> StoredResource:
        """Store version 1 of a new resource (a server id unless ``rid`` is given);
        ``by_partner``: written by a partner, so it makes no compartment links."""
        return self.store_versions([self.new_created(rtype, content, rid,
                                                     by_partner=by_partner)])[0]

    def new_created(self, rtype: str, content: dict[str, Any], rid: str | None = None, *,
                    by_partner: bool = False) -> NewVersion:
        """The version ``create`` writes, built and not written yet (``store_versions``
        writes several such at once: a FHIR create and its Provenance)."""
        return self._version(rtype, rid or new_resource_id(), content, None, "POST",
                             by_partner)

    def update(self, rtype: str, rid: str, content: dict[str, Any],
               expected_version: int | None = None, *,
               by_partner: bool = False) -> StoredResource:
        """Store the next version (or version 1); VersionConflict if not ``expected_version``;
        ``by_partner``: the compartment links of the previous version are kept unchanged."""
        prev = self.read(rtype, rid)
        if expected_version is not None and (prev is None or prev.version_id != expected_version):
            raise VersionConflict(f"{rtype}/{rid} is not at version {expected_version}")
        return self._write(rtype, rid, content, prev, "PUT", by_partner)

    def delete(self, rtype: str, rid: str) -> StoredResource | None:
        """Store a deletion version; None if there is nothing (left) to delete."""
        prev = self.read(rtype, rid)
        if prev is None or prev.deleted:
            return None
        return self._write(rtype, rid, None, prev, "DELETE")

    def _internal_rows(self, rtype: str, rid: str) -> list[dict[str, Any]]:
        """The compartment rows (``_link``, ``_open``) of the current version."""
        rows = self.session.execute(select(SI).where(
            SI.c.res_type == rtype, SI.c.res_id == rid, SI.c.param.in_((LINK, OPEN)))).all()
        return [{k: v for k, v in r._mapping.items() if k not in ("row_id", "res_type",
                                                                  "res_id")} for r in rows]

    def _write(self, rtype: str, rid: str, content: dict[str, Any] | None,
               prev: StoredResource | None, method: str,
               by_partner: bool = False) -> StoredResource:
        return store_versions(self.session, [
            self._version(rtype, rid, content, prev, method, by_partner)])[0]

    def write_versions(self, changes: list[tuple[str, str, dict[str, Any],
                                                 StoredResource | None]]
                       ) -> list[StoredResource]:
        """``update`` of several resources at once: (type, id, content, the current
        version as ``current_many`` read it, or None) each; the versions, index rows and
        compartment links of all of them written with one statement per table (plus the
        flip of each previous version: VersionConflict if one is no longer current)."""
        return self.store_versions(self.new_versions(changes))

    def new_versions(self, changes: list[tuple[str, str, dict[str, Any],
                                              StoredResource | None]]) -> list[NewVersion]:
        """The versions ``write_versions`` writes, built (JSON, index and compartment rows)
        and not written yet: the caller may write rows of its own between."""
        return [self._version(rtype, rid, content, prev, "PUT")
                for rtype, rid, content, prev in changes]

    def store_versions(self, versions: list[NewVersion]) -> list[StoredResource]:
        """Write versions built by ``new_versions`` (as ``write_versions``)."""
        return store_versions(self.session, versions)

    def current_many(self, pairs: list[tuple[str, str]]
                     ) -> dict[tuple[str, str], StoredResource]:
        """The current versions (deletions included) of (type, id) pairs, by pair; the
        pairs never stored are absent. One statement (each type's ids on the primary key)."""
        by_type: dict[str, list[str]] = {}
        for rtype, rid in dict.fromkeys(pairs):
            by_type.setdefault(rtype, []).append(rid)
        if not by_type:
            return {}
        params: dict[str, Any] = {}
        for n, (rtype, ids) in enumerate(by_type.items()):
            params[f"t{n}"], params[f"i{n}"] = rtype, ids
        rows = self.session.execute(_current_of_types(len(by_type)), params).all()
        found = [_row("", row) for row in rows]
        return {(res.type, res.id): res for res in found}

    def _version(self, rtype: str, rid: str, content: dict[str, Any] | None,
                 prev: StoredResource | None, method: str,
                 by_partner: bool = False) -> NewVersion:
        """The rows of the next version of ``rtype/rid`` (not written yet)."""
        internal: list[dict[str, Any]] = []
        if content is not None:
            internal = link_rows(content) if not by_partner else carried_rows(
                self._internal_rows(rtype, rid) if prev is not None else [], content)
        return new_version(rtype, rid, content, prev, method, internal, self.local_base)

    @contextmanager
    def as_it_was(self, rtype: str, rid: str, content: dict[str, Any]) -> Iterator[None]:
        """Inside the block, the deleted ``rtype/rid`` is live again with ``content`` (its
        last version, indexed as the hub indexes it): for searches asking whether it
        matched before the delete (``hub.subscriptions.matching``). A savepoint rolled
        back at the end: nothing of it stays."""
        savepoint = self.session.begin_nested()
        try:
            self.session.execute(update(R).where(
                R.c.res_type == rtype, R.c.res_id == rid, R.c.current.is_(True)
            ).values(deleted=False))
            rows = new_version(rtype, rid, content, None, "PUT", link_rows(content),
                               self.local_base).index
            if rows:
                self.session.execute(insert(SI), rows)
            yield
        finally:
            savepoint.rollback()

    # --- one patient per identity --------------------------------------------------------

    def patient_by_identity(self, identifiers: list[tuple[str, str]]) -> str | None:
        """The live Patient carrying one of these (system, value) identifiers of the
        configured MRN systems (``hub.fhirstore.identities``), if any."""
        wanted = identities.systems(self.session)
        return identities.find_patient(
            self.session, [(s, v) for s, v in identifiers if s in wanted])

    # --- conditional create guard --------------------------------------------------------

    def conditional_holder(self, rtype: str, key: str) -> str | None:
        """The id of the resource that last claimed the conditional-create ``key``."""
        return self.session.execute(select(CK.c.res_id).where(
            CK.c.res_type == rtype, CK.c.query_key == key)).scalar_one_or_none()

    def claim_conditional_key(self, rtype: str, key: str, rid: str,
                              stale_holder: str | None) -> None:
        """Claim ``key`` for ``rid`` in this transaction, or ConditionalKeyTaken.

        ``stale_holder`` is the holder the caller saw and found no longer matching; the
        claim replaces it only if nobody replaced it meanwhile (compare-and-set).
        """
        if stale_holder is None:
            try:
                self.session.execute(insert(CK).values(res_type=rtype, query_key=key,
                                                       res_id=rid))
            except IntegrityError:
                raise ConditionalKeyTaken(key) from None
            return
        swapped = cast(CursorResult[Any], self.session.execute(update(CK).where(
            CK.c.res_type == rtype, CK.c.query_key == key, CK.c.res_id == stale_holder
        ).values(res_id=rid)))
        if swapped.rowcount != 1:
            raise ConditionalKeyTaken(key)

    # --- history --------------------------------------------------------------------------

    def history(self, rtype: str, rid: str | None = None, since: datetime | None = None,
                count: int = 20, offset: int = 0, compartment: str | None = None,
                client: str | None = None) -> tuple[list[StoredResource], int]:
        """Versions newest first (of one resource, or of the type), and their total;
        with ``compartment``, only of the resources in that organization's compartment
        (and of an owned type, only ``client``'s own)."""
        conds = [R.c.res_type == rtype]
        if rid is not None:
            conds.append(R.c.res_id == rid)
        if since is not None:
            conds.append(R.c.last_updated >= since)
        if compartment:
            conds.append(compartment_condition(rtype, compartment, R.c.res_id))
        owned = owner_condition(rtype, client, R.c.res_id)
        if owned is not None:
            conds.append(owned)
        total = self.session.execute(select(func.count()).where(*conds)).scalar_one()
        before = R.alias("r_before")
        previous_deleted = select(before.c.deleted).where(
            before.c.res_type == R.c.res_type, before.c.res_id == R.c.res_id,
            before.c.version_id == R.c.version_id - 1).scalar_subquery()
        rows = self.session.execute(select(R, previous_deleted.label("after_delete")).where(
            *conds).order_by(R.c.last_updated.desc(), R.c.res_id, R.c.version_id.desc()
                             ).offset(offset).limit(count)).all()
        versions = [_row(rtype, r) for r in rows]
        for version, row in zip(versions, rows):
            version.created = version.version_id == 1 or bool(row.after_delete)
        return versions, total

    # --- search ---------------------------------------------------------------------------

    def search(self, q: SearchQuery) -> list[StoredResource]:
        """The page of matches of a parsed search, in its stable order."""
        if q.count == 0:
            return []
        rows = self.session.execute(searchsql.ordered_page(q)).all()
        return [self._found(q, r) for r in rows]

    def page(self, q: SearchQuery, with_total: bool = False) -> Page:
        """One page of a search: by keyset (``_lastUpdated``/``_id`` order, see ``keyset``;
        any other ``_sort``, see ``keyset_sorts``) or by offset (an explicit ``_offset``).
        ``with_total``: the page's statement also counts the matches (``Page.total``, in
        the same view of the data), unless the page is empty or sorted by parameters."""
        if keyset_sorts.applies(q):
            return self._page_by_params(q)
        sort = keyset.keyset_sort(q)
        if sort is None:
            rows = self.session.execute(
                searchsql.ordered_page(q, with_total).limit(q.count + 1)
            ).all() if q.count else []
            return Page([self._found(q, r) for r in rows[:q.count]], len(rows) > q.count,
                        total=_total_of(rows, with_total))
        snapshot = q.cursor.snapshot if q.cursor else keyset.snapshot_of(
            utcnow().replace(tzinfo=None))  # naive UTC, as stored
        if q.count == 0:
            return Page([], False, snapshot=snapshot)
        first, params, descending = search_statements.keyset_page(q, snapshot, q.count + 1,
                                                                  with_total)
        found = search_statements.rows(self.session, first, params)  # by position
        columns = list(first.selected_columns.keys())
        total = int(found[0][columns.index("total")]) if with_total and found else None
        updated = found[0][columns.index("any_updated")] if found else \
            sort[0] != "_id" and self.session.execute(
                keyset.any_updated(q.resource_type, snapshot)).first() is not None
        parts: list[tuple[Sequence[Sequence[Any]], int]] = [(found, columns.index("sort_key"))]
        since = keyset.updated_select(q, snapshot, q.count + 1) if updated else None
        if since is not None:  # None for an _id order: nothing moves
            parts.append((self.session.execute(since).all(),
                          list(since.selected_columns.keys()).index("sort_key")))
        keyed = keyset.merge(parts, descending, q.count + 1)
        more = len(keyed) > q.count
        keyed = keyed[:q.count]
        if q.cursor is not None and q.cursor.before:
            keyed.reverse()  # a previous page was read backwards
        keys = [(key, r[0]) for key, r in keyed]
        return Page([self._found(q, r) for _key, r in keyed], more, snapshot, keys, total)

    def _page_by_params(self, q: SearchQuery) -> Page:
        """A keyset page of a search sorted by search parameters (``keyset_sorts``)."""
        snapshot = q.cursor.snapshot if q.cursor else keyset.snapshot_of(
            utcnow().replace(tzinfo=None))
        if q.count == 0:
            return Page([], False, snapshot=snapshot)
        rows, backwards = keyset_sorts.page(self.session, q, snapshot, q.count + 1,
                                            self.local_base)
        more = len(rows) > q.count
        rows = rows[:q.count]
        if backwards:
            rows.reverse()
        found = [StoredResource(q.resource_type, r["res_id"], r["version_id"],
                                r["last_updated"], False, codec.loads(r["content"]))
                 for r in rows]
        return Page(found, more, snapshot, keyset_sorts.normalized(rows))

    @staticmethod
    def _found(q: SearchQuery, r: Sequence[Any]) -> StoredResource:
        """A match of ``searchsql.base_select``'s row, by position: its first columns are
        res_id, version_id, last_updated, content (by name, each column would cost a
        failed attribute lookup and its formatted AttributeError first)."""
        return StoredResource(q.resource_type, r[0], r[1], r[2], False, None, text=r[3])

    def count(self, q: SearchQuery) -> int:
        stmt, params = search_statements.count(q)
        return int(self.session.execute(stmt, params).scalar_one())

    def included(self, rtype: str, ids: list[str],
                 includes: list[Include]) -> list[StoredResource]:
        """The resources that the resources ``ids`` of ``rtype`` reference (_include)."""
        if not ids or not includes:
            return []
        return self._read_selected(rtype, includes, ids, False)

    def revincluded(self, rtype: str, ids: list[str],
                    revincludes: list[Include]) -> list[StoredResource]:
        """The resources that reference the resources ``ids`` of ``rtype`` (_revinclude)."""
        if not ids or not revincludes:
            return []
        return self._read_selected(rtype, revincludes, ids, True)

    def _read_selected(self, rtype: str, includes: list[Include], ids: list[str],
                       reverse: bool) -> list[StoredResource]:
        """What ``search_statements.included`` reads for ``ids``, by (type, id): one
        statement per 200 ids."""
        found: dict[tuple[str, str], StoredResource] = {}
        for part in _chunks(ids):
            stmt, params = search_statements.included(rtype, includes, part, reverse)
            for row in search_statements.rows(self.session, stmt, params):
                res = _resource_row(row)
                found[(res.type, res.id)] = res
        return [found[key] for key in sorted(found)]


__all__ = ["ConditionalKeyTaken", "ResourceRepository", "StoredResource", "VersionConflict"]
