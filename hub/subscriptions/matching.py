"""Changed resources -> notifications, in the transaction of the change.

``ResourceRepository`` notes every version it writes in the session
(``hub.store.db.RESOURCE_CHANGES``); just before the transaction commits, the database
calls ``on_commit`` (``Database.commit_observers``, set by the runtime). Every write
counts, whichever path made it: the FHIR API, a case saved through ``/api/cases`` or the
console and projected, a pulled partner change. For each changed resource (first previous
content, last new content within the transaction) and each subscription that notifies
that type:

- criteria-based: the subscription's search, with ``_id`` of the resource added, is run
  by the hub's search engine (so it sees the write) within the owner's compartment. A
  deleted resource is notified when its last version matched (as HAPI does): the search
  runs with that version live again (``ResourceRepository.as_it_was``, a savepoint rolled
  back); the event says ``deleted`` and carries no resource (``hub.sync.notify``: an empty
  POST, or with ``channel.payload`` a DELETE of ``[endpoint]/[Type]/[id]``);
- topic-based: the topic's trigger on (previous, new) and every filter search must match.
  A delete is an event only for a topic whose trigger includes delete (Backport IG:
  ``resourceTrigger.supportedInteraction``); none of the hub's topics does.

The owner must be allowed to read the resource (``access``; of a deleted one, its last
version). A match counts an event and queues an outbox row; nothing is sent before the
commit.
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


def _searched(session: Session, row: registry.Row, change: ResourceChange) -> bool:
    """The subscription's searches find the resource and its owner may read it."""
    spec = row.spec
    queries = [spec.criteria] if spec.kind == "criteria" else spec.filters
    return all(found(session, change.type, change.id, q, row.organization)
               for q in queries) and client_may_read(
        session, row.client_id, row.organization, change.type, change.id)


def _matches(session: Session, row: registry.Row, change: ResourceChange) -> bool:
    if row.spec.kind == "topic":
        topic = TOPICS.get(row.spec.criteria)
        if topic is None or not topic.trigger(change.before, change.after, utcnow().date()):
            return False
    if change.after is not None:
        return _searched(session, row, change)
    if change.before is None:
        return False  # created and deleted in one transaction: it never was seen
    with ResourceRepository(session).as_it_was(change.type, change.id, change.before):
        return _searched(session, row, change)


def event_payload(row: registry.Row, change: ResourceChange, number: int,
           now: datetime) -> dict[str, Any]:
    event: dict[str, Any] = {"event": number, "timestamp": instant(now),
                             "focus": f"{change.type}/{change.id}", "version": change.version,
                             "created": change.before is None}
    if change.after is None:
        event["deleted"] = True  # no resource: a deleted one cannot be sent
    elif row.spec.content == "full-resource":
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
                hit = _matches(session, row, change)
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
