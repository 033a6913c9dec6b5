"""What operators see of each partner, read from the sync ledger (no partner is called):
deliveries by status, the last delivery done, the last error, the last pull."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.store.sync_tables import outbox, sync_cursors


@dataclass
class PartnerStatus:
    partner_id: str
    counts: dict[str, int] = field(default_factory=dict)
    last_done_at: datetime | None = None
    last_pull_at: datetime | None = None
    last_error: str | None = None
    #: pending deliveries whose last attempt failed
    retrying: int = 0

    @property
    def health(self) -> str:
        """``failing`` with dead deliveries, ``retrying`` while deliveries wait after a
        failed attempt, else ``ok``."""
        if self.counts.get("dead"):
            return "failing"
        return "retrying" if self.retrying else "ok"

    @property
    def last_sync_at(self) -> datetime | None:
        times = [t for t in (self.last_done_at, self.last_pull_at) if t is not None]
        return max(times) if times else None


def partner_statuses(session: Session, partner_ids) -> list[PartnerStatus]:
    """One PartnerStatus per id in ``partner_ids`` (and per partner found in the ledger)."""
    found: dict[str, PartnerStatus] = {pid: PartnerStatus(pid) for pid in partner_ids}

    def of(pid: str) -> PartnerStatus:
        return found.setdefault(pid, PartnerStatus(pid))

    for pid, status, n in session.execute(
            select(outbox.c.partner_id, outbox.c.status, func.count())
            .group_by(outbox.c.partner_id, outbox.c.status)):
        of(pid).counts[status] = n
    for pid, done in session.execute(
            select(outbox.c.partner_id, func.max(outbox.c.done_at))
            .where(outbox.c.status == "done").group_by(outbox.c.partner_id)):
        of(pid).last_done_at = done
    for pid, pulled in session.execute(
            select(sync_cursors.c.partner_id, func.max(sync_cursors.c.updated_at))
            .group_by(sync_cursors.c.partner_id)):
        of(pid).last_pull_at = pulled
    latest_error = (select(outbox.c.partner_id, func.max(outbox.c.id).label("id"))
                    .where(outbox.c.last_error.is_not(None))
                    .group_by(outbox.c.partner_id).subquery())
    for pid, error in session.execute(
            select(outbox.c.partner_id, outbox.c.last_error)
            .join(latest_error, outbox.c.id == latest_error.c.id)):
        of(pid).last_error = error
    for pid, n in session.execute(
            select(outbox.c.partner_id, func.count())
            .where(outbox.c.status == "pending", outbox.c.last_error.is_not(None))
            .group_by(outbox.c.partner_id)):
        of(pid).retrying = n
    return [found[pid] for pid in sorted(found)]
