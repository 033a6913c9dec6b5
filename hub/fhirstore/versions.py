"""Resource versions: one stored version (``StoredResource``) and the writing of new ones.

``new_version`` builds the rows of a version (its ``resources`` row with the JSON text, its
search index and compartment rows) without touching the database; ``write`` stores any
number of them with one statement per table: the flip of each previous version's
``current`` flag (0 rows: someone else wrote first), one executemany of the new versions
(the primary key (type, id, version) refuses a second n+1), the Patients' identity claims,
the DELETE of replaced index rows (per type; a version 1 has none) and one executemany of
the index rows. Both conflicts surface as ``VersionConflict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.etag import weak_etag
from hub.fhirjson import codec
from hub.fhirstore import identities
from hub.fhirstore.dates import instant
from hub.fhirstore.searchparams import index_rows
from hub.fhirstore.tables import resources as R
from hub.fhirstore.tables import search_index as SI
from hub.mappings.meta import strip_meta
from hub.store import driver
from hub.store.conflicts import ConcurrentWrite
from hub.store.db import RESOURCE_CHANGES, ResourceChange

_EMPTY_INDEX_ROW = {c.name: None for c in SI.columns if c.name != "row_id"}
#: the two INSERTs of every write, run on the driver (``hub.store.driver``): each row
#: names every column (an index row all but ``row_id``)
_INSERT_VERSION = insert(R).values({c.name: bindparam(c.name) for c in R.columns})
_INSERT_INDEX = insert(SI).values({name: bindparam(name) for name in _EMPTY_INDEX_ROW})
_FLIP = update(R).where(R.c.res_type == bindparam("t"), R.c.res_id == bindparam("i"),
                        R.c.version_id == bindparam("v"), R.c.current.is_(True)
                        ).values(current=False)


class VersionConflict(ConcurrentWrite):
    """Someone else wrote a version of this resource first."""



class StoredResource:
    """One version of a resource; ``content`` is None for a deletion.

    Read from the store, a version keeps its stored JSON text (``text``) and parses it
    only when ``content`` is asked for: a read or a search page is served from the text
    as stored (``json()``), without parsing and writing it again. A version just written
    keeps both its content and the text written (``new_version``): a write's answer is that
    text (``written()``), not ``content`` written to JSON a second time.
    """

    __slots__ = ("_content", "created", "deleted", "id", "last_updated", "method", "text",
                 "type", "version_id")

    def __init__(self, type: str, id: str, version_id: int, last_updated: datetime,
                 deleted: bool, content: dict[str, Any] | None,
                 method: str | None = None, created: bool | None = None, *,
                 text: str | None = None) -> None:
        self.type = type
        self.id = id
        self.version_id = version_id
        self.last_updated = last_updated
        self.deleted = deleted
        self._content = content
        self.method = method  # POST, PUT or DELETE: how the version was written
        self.created = created  # (history) whether it created the resource (or re-created)
        #: the stored JSON text of ``content`` (None: not read from the store, nor written)
        self.text = text

    @property
    def content(self) -> dict[str, Any] | None:
        if self._content is None and self.text is not None:
            self._content = cast(dict[str, Any], codec.loads(self.text))
        return self._content

    @content.setter
    def content(self, value: dict[str, Any] | None) -> None:
        self._content = value
        self.text = None  # the text no longer says what the content says

    def peek(self) -> dict[str, Any] | None:
        """The content, for looking at only: parsed from the text without keeping it, so
        that ``json()`` still answers with the stored text (a read's AuditEvent looks for
        the patient; the answer is the text as stored, not parsed and written again)."""
        if self._content is None and self.text is not None:
            return cast(dict[str, Any], codec.loads(self.text))
        return self._content

    def json(self) -> dict[str, Any] | codec.Raw | None:
        """The body to answer with: the stored text as is when there is one."""
        if self._content is None and self.text is not None:
            return codec.Raw(self.text)
        return self._content

    def written(self) -> dict[str, Any] | codec.Raw | None:
        """The body of a write's answer: the stored text when there is one (a version just
        written: the text ``dumps`` made of ``content``), else ``content``."""
        if self.text is not None:
            return codec.Raw(self.text)
        return self.content

    @property
    def etag(self) -> str:
        return weak_etag(self.version_id)

    @property
    def reference(self) -> str:
        return f"{self.type}/{self.id}"

    def _key(self) -> tuple[Any, ...]:
        return (self.type, self.id, self.version_id, self.last_updated, self.deleted,
                self.content, self.method, self.created)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredResource) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"StoredResource({self.type}/{self.id}/_history/{self.version_id}, "
                f"deleted={self.deleted})")


@dataclass
class NewVersion:
    """A resource version about to be written: its ``resources`` row and index rows."""

    stored: StoredResource
    prev: StoredResource | None
    row: dict[str, Any]
    index: list[dict[str, Any]]


def new_version(rtype: str, rid: str, content: dict[str, Any] | None,
                prev: StoredResource | None, method: str, internal: list[dict[str, Any]],
                local_base: str | None) -> NewVersion:
    """The rows of the version after ``prev`` (None: version 1) of ``rtype/rid``;
    ``content`` None for a deletion; ``internal``: its compartment rows."""
    version = prev.version_id + 1 if prev else 1
    now = utcnow().replace(tzinfo=None)  # stored as naive UTC
    if prev and now <= prev.last_updated:
        now = prev.last_updated + timedelta(microseconds=1)
    index: list[dict[str, Any]] = []
    if content is not None:
        rest = strip_meta(content)
        meta = {"versionId": str(version), "lastUpdated": instant(now),
                **rest.pop("meta", {})}
        rest.pop("resourceType", None)
        rest.pop("id", None)
        content = {"resourceType": rtype, "id": rid, "meta": meta, **rest}
        index = [{**_EMPTY_INDEX_ROW, "res_type": rtype, "res_id": rid, **r}
                 for r in (*index_rows(content, local_base), *internal)]
    text = codec.dumps(content) if content else None
    row = {"res_type": rtype, "res_id": rid, "version_id": version, "last_updated": now,
           "deleted": content is None, "current": True, "method": method, "content": text}
    return NewVersion(StoredResource(rtype, rid, version, now, content is None, content,
                                     method, text=text), prev, row, index)


def write(session: Session, versions: list[NewVersion]) -> list[StoredResource]:
    """Store prepared versions (see the module's doc); the stored versions, in order."""
    for v in versions:
        if v.prev is None:
            continue
        flipped = cast(CursorResult[Any], session.execute(_FLIP, {
            "t": v.stored.type, "i": v.stored.id, "v": v.prev.version_id}))
        if flipped.rowcount != 1:
            raise VersionConflict(f"{v.stored.reference} changed concurrently")
    try:
        driver.run_in(session, _INSERT_VERSION, [v.row for v in versions])
    except IntegrityError:
        names = ", ".join(v.stored.reference for v in versions)
        raise VersionConflict(f"{names} changed concurrently") from None
    changes = session.info.setdefault(RESOURCE_CHANGES, [])
    replaced: dict[str, list[str]] = {}
    for v in versions:
        res = v.stored
        if res.type == "Patient":  # a version 1 was inserted above: never stored before
            identities.claim(session, res.id, res.content, new=v.prev is None)
        changes.append(ResourceChange(
            res.type, res.id, res.version_id,
            v.prev.content if v.prev is not None and not v.prev.deleted else None,
            res.content))
        if v.prev is not None:
            replaced.setdefault(res.type, []).append(res.id)
    for rtype, ids in replaced.items():
        session.execute(delete(SI).where(SI.c.res_type == rtype, SI.c.res_id.in_(ids)))
    rows = [r for v in versions for r in v.index]
    if rows:
        driver.run_in(session, _INSERT_INDEX, rows)
    return [v.stored for v in versions]
