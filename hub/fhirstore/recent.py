"""The most recent current versions of one resource type (the console's audit trail)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.fhirstore.tables import resources


def recent_resources(session: Session, res_type: str, limit: int = 50) -> list[dict[str, Any]]:
    """The ``limit`` most recently written current ``res_type`` resources, newest first."""
    rows = session.execute(
        select(resources.c.content)
        .where(resources.c.res_type == res_type, resources.c.current.is_(True),
               resources.c.deleted.is_(False))
        .order_by(resources.c.last_updated.desc()).limit(limit))
    return [json.loads(row.content) for row in rows if row.content]
