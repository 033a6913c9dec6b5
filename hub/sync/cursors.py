"""Pull cursors: per (partner, resource type), the ``_lastUpdated`` of the last change seen.

A puller reads ``get_cursor``, asks the partner for changes after it
(``FhirRestClient.changes_since``), applies them idempotently and stores the new cursor
with ``set_cursor`` in the same transaction as what it applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.store.sync_tables import sync_cursors


def get_cursor(session: Session | Connection, partner_id: str, resource_type: str) -> str | None:
    """The stored cursor, or None before the first pull."""
    return session.execute(select(sync_cursors.c.cursor).where(
        sync_cursors.c.partner_id == partner_id,
        sync_cursors.c.resource_type == resource_type)).scalar_one_or_none()


def set_cursor(session: Session, partner_id: str, resource_type: str, cursor: str) -> None:
    """Store the cursor in the caller's transaction (the caller commits)."""
    now = utcnow()
    where = (sync_cursors.c.partner_id == partner_id,
             sync_cursors.c.resource_type == resource_type)
    updated = cast(CursorResult[Any], session.execute(
        update(sync_cursors).where(*where).values(cursor=cursor, updated_at=now)))
    if not updated.rowcount:
        session.execute(insert(sync_cursors).values(partner_id=partner_id,
                                                    resource_type=resource_type,
                                                    cursor=cursor, updated_at=now))


def latest_last_updated(resources, current: str | None) -> str | None:
    """The greatest ``meta.lastUpdated`` among ``resources`` and ``current`` (the next
    cursor); FHIR instants in UTC compare correctly as text only when normalized, so
    they are parsed."""
    best, best_text = None, current
    if current:
        best = datetime.fromisoformat(current.replace("Z", "+00:00"))
    for resource in resources:
        text = (resource.get("meta") or {}).get("lastUpdated")
        if not text:
            continue
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if best is None or when > best:
            best, best_text = when, text
    return best_text
