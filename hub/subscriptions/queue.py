"""Notifications are outbox rows (operation ``notify``), queued in the caller's transaction.

All subscriptions share the outbox partner id ``subscriptions``; the ordering key is the
subscription's id, so the notifications of one subscription go out in order and different
subscriptions in parallel. The row's payload is the event (number, time, focus, and the
resource's content for ``full-resource``); the Bundle is built when it is sent, with the
subscription's status then.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.sync import outbox

PARTNER = "subscriptions"


def enqueue(session: Session, sid: str, type_: str, payload: dict | None = None, *,
            now: datetime | None = None) -> int:
    return outbox.enqueue(session, partner_id=PARTNER, resource_type="Subscription",
                          resource_id=sid, case_id=sid, operation="notify", payload=payload,
                          options={"type": type_}, now=now)
