"""The review-due topic: reviews fall due by the calendar, not by a write.

A case's next monitoring review is due its review interval after the last review done (or
its opening): ``cases.next_review_due``, kept by the case repository. Once a day per
review-due subscription (the sync worker's loop calls ``schedule_due_reviews``), every case
whose next review fell due since the last sweep (``next_review_due`` in
(``reviews_through``, today]) is an event, focus the case's EpisodeOfCare, when the
subscription's filters find the episode and its owner may read it. A subscription hears of
reviews falling due from the day it was created.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.fhirstore.repository import ResourceRepository
from hub.mappings.episode import episode_id
from hub.store import case_resource_repo
from hub.store.case_tables import cases
from hub.store.db import ResourceChange
from hub.subscriptions import queue, registry
from hub.subscriptions.access import client_may_read
from hub.subscriptions.matching import event_payload, found
from hub.subscriptions.topics import REVIEW_DUE


def _cases_due(session: Session, after: str, today: str) -> list[str]:
    return list(session.execute(select(cases.c.id).where(
        cases.c.next_review_due > date.fromisoformat(after),
        cases.c.next_review_due <= date.fromisoformat(today)).order_by(cases.c.id)).scalars())


def schedule_due_reviews(session: Session, today: date | None = None) -> int:
    """Queue the review-due events since each subscription's last sweep; how many (the
    caller commits: the sweep moves on even when nothing fell due)."""
    day = (today or utcnow().date()).isoformat()
    queued = 0
    repo = ResourceRepository(session)
    for row in registry.review_sweeps_due(session, day):
        if row.spec.criteria != REVIEW_DUE or row.reviews_through is None:
            continue
        since = row.reviews_through
        if not registry.take_review_sweep(session, row, day):
            continue
        for case_id in _cases_due(session, since, day):
            hub_id = episode_id(case_id)  # or the client's episode (a case opened by FHIR)
            eid = case_resource_repo.aliases(session, case_id).get(("EpisodeOfCare", hub_id),
                                                                    hub_id)
            stored = repo.read("EpisodeOfCare", eid)
            if stored is None or stored.deleted or stored.content is None:
                continue
            if not all(found(session, "EpisodeOfCare", stored.id, f, row.organization)
                       for f in row.spec.filters):
                continue
            if not client_may_read(session, row.client_id, row.organization,
                                   "EpisodeOfCare", stored.id):
                continue
            now = utcnow()
            number = registry.count_event(session, row, now)
            change = ResourceChange("EpisodeOfCare", stored.id, stored.version_id,
                                    stored.content, stored.content)
            queue.enqueue(session, row.id, "event-notification",
                          event_payload(row, change, number, now), now=now)
            queued += 1
    return queued
