"""Subscription notifications out of the outbox (operation ``notify``, partner
``subscriptions``, ordered per subscription; see ``hub.subscriptions.queue``).

``deliver`` reads the subscription as it is now and checks again that its owner may read
the event's resource (``hub.subscriptions.access``); a notification the subscription may
no longer have (deleted, ``off``, the resource out of reach) is not sent and its row is
done with the reason in its response (nothing is dropped silently). Otherwise:

- topic-based: POST of the notification Bundle (handshake, heartbeat, event) to the
  endpoint, built now, with the subscription's current status and counts;
- criteria-based: R4 rest-hook, an empty POST to the endpoint, or with ``channel.payload``
  a PUT of the resource to ``[endpoint]/[Type]/[id]``; a deleted resource (which cannot be
  sent) an empty POST, or with ``channel.payload`` a DELETE of ``[endpoint]/[Type]/[id]``
  (HAPI's rest-hook behaviour). Topic-based notifications of a delete (no hub topic has
  one) would carry the focus without its resource.

Failures are the outbox's: retried with backoff, dead-lettered, replayable. ``after_attempt``
counts each attempt on the subscription: a failed handshake, or ``max_failures``
consecutive failed attempts, make it ``error``; a success makes a ``requested`` or
``error`` subscription ``active``. ``schedule`` queues the heartbeats due and the reviews that fell due
(``hub.subscriptions.reviews``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from hub.adapters.rest_hook import RestHookClient
from hub.clock import utcnow
from hub.fhirstore.dates import instant
from hub.store.db import Database
from hub.subscriptions import queue, registry, reviews
from hub.subscriptions.access import client_may_read
from hub.subscriptions.notifications import notification_bundle
from hub.sync.deliver import Outcome
from hub.sync.outbox import Delivery

log = logging.getLogger(__name__)


class Skip(Exception):
    """The notification is not for this subscription any more (the reason)."""


def _plan(session, base: str, row: registry.Row | None, delivery: Delivery
          ) -> tuple[str, str, dict | None, str]:
    """(method, url, body, MIME type) of the notification, or Skip."""
    if row is None:
        raise Skip("the subscription no longer exists")
    if row.status == "off":
        raise Skip("the subscription is off")
    spec = row.spec
    kind = (delivery.options or {}).get("type", "event-notification")
    event = delivery.payload if kind == "event-notification" else None
    if event is not None:
        rtype, rid = str(event.get("focus", "/")).split("/", 1)
        if not client_may_read(session, row.client_id, row.organization, rtype, rid,
                               deleted=bool(event.get("deleted"))):
            raise Skip("the subscription's owner may not read the event's resource now")
    if spec.kind == "criteria":
        if event is None:
            raise Skip(f"criteria-based subscriptions have no {kind}")
        if spec.payload and event.get("deleted"):
            return "DELETE", f"{spec.endpoint.rstrip('/')}/{event['focus']}", None, ""
        if spec.payload and event.get("resource"):
            url = f"{spec.endpoint.rstrip('/')}/{event['focus']}"
            return "PUT", url, event["resource"], spec.payload
        return "POST", spec.endpoint, None, spec.payload or ""
    errors = [registry.error_text(row)] if row.status == "error" else None
    bundle = notification_bundle(base=base, sub_id=row.id, status=row.status, type_=kind,
                                 events=row.events, timestamp=instant(utcnow()),
                                 topic=spec.topic, content=spec.content, event=event,
                                 errors=errors)
    return "POST", spec.endpoint, bundle, spec.payload or "application/fhir+json"


def deliver(db: Database, delivery: Delivery, client: RestHookClient) -> Outcome:
    """One attempt at a notification; never raises (the error is in the Outcome)."""
    try:
        with db.sessions() as session:
            row = registry.load(session, delivery.resource_id)
            method, url, body, mime = _plan(session, db.fhir_base or "", row, delivery)
        assert row is not None
        status = client.send(method, url, body, row.spec.headers, mime=mime,
                             timeout=row.spec.timeout)
        return Outcome(True, http_status=status, response={"sent": method})
    except Skip as skip:
        return Outcome(True, response={"skipped": str(skip)})
    except Exception as exc:
        return Outcome(False, http_status=getattr(exc, "status", None), error=exc)


def _error_text(outcome: Outcome) -> str:
    error = outcome.error
    return str(getattr(error, "message", None) or error or "the notification failed")


def after_attempt(db: Database, delivery: Delivery, outcome: Outcome, *,
                  max_failures: int) -> None:
    """Count the attempt on its subscription (status, failures, ``Subscription.error``)."""
    if outcome.ok and "skipped" in (outcome.response or {}):
        return
    handshake = (delivery.options or {}).get("type") == "handshake"
    try:
        with db.sessions() as session:
            changed = registry.record_attempt(
                session, delivery.resource_id, ok=outcome.ok,
                error=None if outcome.ok else _error_text(outcome), handshake=handshake,
                max_failures=max_failures)
            session.commit()
    except Exception:
        log.exception("subscription %s: recording delivery #%s failed",
                      delivery.resource_id, delivery.id)
        return
    if changed:
        log.info("subscription %s is now %s", delivery.resource_id, changed)


def schedule(db: Database, now: datetime | None = None) -> None:
    """What the worker loop queues by the clock: heartbeats, reviews that fell due."""
    now = now or utcnow()
    schedule_heartbeats(db, now)
    with db.sessions() as session:
        reviews.schedule_due_reviews(session, now.date())
        session.commit()


def schedule_heartbeats(db: Database, now: datetime | None = None) -> list[int]:
    """Queue a heartbeat for each subscription whose period has passed without one."""
    now = now or utcnow()
    queued = []
    with db.sessions() as session:
        for row in registry.due_heartbeats(session, now):
            if registry.take_heartbeat(session, row, now):
                queued.append(queue.enqueue(session, row.id, "heartbeat"))
        session.commit()
    return queued
