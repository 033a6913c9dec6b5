"""Changed resources -> notifications, in the transaction of the change.

``ResourceRepository`` notes every version it writes in the session
(``hub.store.db.RESOURCE_CHANGES``); just before the transaction commits, the database
calls ``on_commit`` (``Database.commit_observers``, set by the runtime). Every write
counts, whichever path made it: the FHIR API, a case saved through ``/api/cases`` or the
console and projected, a pulled partner change. For each changed resource (first previous
content, last new content within the transaction) and each subscription that notifies
that type:

- criteria-based: the subscription's search, with ``_id`` of the resource added, is run
  by the hub's search engine (so it sees the write) within the owner's compartment;
  deletions are not notified (R4 rest-hook has no delete);
- topic-based: the topic's trigger on (previous, new) and every filter search must match.

The owner must be allowed to read the resource (``access``). A match counts an event and
queues an outbox row; nothing is sent before the commit.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.fhirstore.dates import instant
from hub.fhirstore.query import parse_search
from hub.fhirstore.repository import ResourceRepository
from hub.store.db import RESOURCE_CHANGES, ResourceChange
from hub.subscriptions import queue, registry
from hub.subscriptions.access import client_may_read
from hub.subscriptions.spec import UNWATCHED
from hub.subscriptions.topics import TOPICS

log = logging.getLogger(__name__)


def _net(changes: list[ResourceChange]) -> list[ResourceChange]:
    """One change per resource: its first previous content and its last new content."""
    out: dict[tuple[str, str], ResourceChange] = {}
    for change in changes:
        key = (change.type, change.id)
        first = out.get(key)
        out[key] = change if first is None else ResourceChange(
            change.type, change.id, change.version, first.before, change.after)
    return list(out.values())


def found(session: Session, rtype: str, rid: str, query: str,
           organization: str | None) -> bool:
    """Whether the search ``query`` (``Type?params``) finds ``rtype/rid`` now."""
    items = parse_qsl(query.partition("?")[2], keep_blank_values=True)
    repo = ResourceRepository(session)
    q = parse_search(rtype, [*items, ("_id", rid)], strict=True, default_count=1,
                     max_count=1, local_base=repo.local_base)
    q.count, q.offset, q.includes, q.revincludes, q.sort = 1, 0, [], [], []
    q.compartment = organization
    return bool(repo.search(q))


def _matches(session: Session, row: registry.Row, change: ResourceChange) -> bool:
    spec = row.spec
    if spec.kind == "criteria":
        return change.after is not None and found(
            session, change.type, change.id, spec.criteria, row.organization)
    topic = TOPICS.get(spec.criteria)
    if topic is None or not topic.trigger(change.before, change.after, utcnow().date()):
        return False
    if change.after is None:
        return False  # a deleted focus can be neither searched nor read
    return all(found(session, change.type, change.id, f, row.organization)
               for f in spec.filters)


def event_payload(row: registry.Row, change: ResourceChange, number: int,
           now: datetime) -> dict[str, Any]:
    event: dict[str, Any] = {"event": number, "timestamp": instant(now),
                             "focus": f"{change.type}/{change.id}", "version": change.version,
                             "created": change.before is None}
    if row.spec.content == "full-resource":
        event["resource"] = change.after
    return event


def on_commit(session: Session) -> int:
    """Queue the notifications of the changes this transaction wrote; how many."""
    changes = session.info.pop(RESOURCE_CHANGES, None)
    if not changes:
        return 0
    relevant = [c for c in _net(changes) if c.type not in UNWATCHED]
    if not relevant:
        return 0
    rows = registry.notified_for(session, {c.type for c in relevant})
    queued = 0
    for row in rows:
        for change in relevant:
            if change.type != row.resource_type:
                continue
            try:
                hit = _matches(session, row, change) and client_may_read(
                    session, row.client_id, row.organization, change.type, change.id)
            except Exception:  # a subscription must not break the write it watches
                log.exception("subscription %s: matching failed", row.id)
                continue
            if not hit:
                continue
            now = utcnow()
            number = registry.count_event(session, row, now)
            queue.enqueue(session, row.id, "event-notification",
                          event_payload(row, change, number, now), now=now)
            queued += 1
    return queued
