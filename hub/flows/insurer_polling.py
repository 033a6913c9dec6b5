"""Polling pended prior authorizations as outbox work (DOMAIN.md §3.2).

While a PAS request is pended, one ``poll`` outbox row per Claim asks the insurer for its
answers (``GET [payer]/ClaimResponse?request=Claim/{id}``; PAS says ``$inquire`` is not for
the submitter's polling). The row is queued in the transaction that applied the pended
answer, due ``poll_seconds`` later; every executor (thread, ``hub worker``, Celery) claims
it like any delivery, so a poll has a lease, the retry policy and a ledger entry, and two
workers never poll the same Claim at once (rows of one ordering key go one at a time, and
a claimed row is leased). The ``poll`` handler (``hub.flows.insurer_answers.on_polled``)
applies the newest answer and queues the next poll while the request stays pended.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from hub.clock import utcnow
from hub.store.sync_tables import outbox
from hub.sync.outbox import ACTIVE, enqueue

#: The outbox operation and resource type of a poll row.
POLL = "poll"
POLLED_TYPE = "Claim"
#: Seconds between two polls of one pended request (``HUB_PENDED_POLL_SECONDS``).
PENDED_POLL_SECONDS = 300


def poll_key(claim_id: str) -> str:
    """The ordering key (``case_id`` column) of the poll rows of one Claim: polls of a
    Claim go one at a time and never hold up the case's deliveries."""
    return f"poll/{POLLED_TYPE}/{claim_id}"


def poll_search(claim_id: str) -> dict:
    """The row's options: what the executor searches at the insurer."""
    return {"search_type": "ClaimResponse", "params": {"request": f"{POLLED_TYPE}/{claim_id}"}}


def queue_poll(session, partner_id: str, claim_id: str, insurer: str | None, *,
               after_seconds: float = PENDED_POLL_SECONDS,
               now: datetime | None = None) -> int | None:
    """Queue the next poll of ``claim_id`` at ``partner_id`` in the caller's transaction,
    due after ``after_seconds``; its id, or None when one is already pending or in flight."""
    active = session.execute(select(outbox.c.id).where(
        outbox.c.partner_id == partner_id, outbox.c.case_id == poll_key(claim_id),
        outbox.c.status.in_(ACTIVE)).limit(1)).first()
    if active is not None:
        return None
    now = now or utcnow()
    return enqueue(session, partner_id=partner_id, resource_type=POLLED_TYPE,
                   resource_id=claim_id, operation=POLL, case_id=poll_key(claim_id),
                   options={**poll_search(claim_id), "insurer": insurer}, now=now,
                   not_before=now + timedelta(seconds=after_seconds))


def settle_polls(session, claim_id: str, now: datetime | None = None) -> int:
    """The request was decided: its pending polls are done without asking the insurer
    (kept in the ledger with why); how many. In the caller's transaction."""
    now = now or utcnow()
    return session.execute(update(outbox).where(
        outbox.c.case_id == poll_key(claim_id), outbox.c.operation == POLL,
        outbox.c.status == "pending").values(
            status="done", done_at=now, response={"settled": "decided before this poll"})
    ).rowcount


__all__ = ["PENDED_POLL_SECONDS", "POLL", "POLLED_TYPE", "poll_key", "poll_search",
           "queue_poll", "settle_polls"]
