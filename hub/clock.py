"""The hub's one clock: now, as a timezone-aware UTC datetime (standard library only).

Everything that needs the time asks here (or takes a ``now`` argument for tests). Stored
naive UTC columns and the case record's whole seconds are derived from it where needed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    """Now, timezone-aware UTC, with microseconds."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date in UTC."""
    return utcnow().date()
