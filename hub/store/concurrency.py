"""The one retry policy for concurrent changes: re-run a unit-of-work function.

A write that loses a race (a case saved by someone else since it was read, a resource
version or unique key claimed first, a serialization failure or a busy SQLite database)
is re-run from the start on a fresh unit of work, with a short jittered backoff, at most
``attempts`` times; then ``ConcurrentChange`` (409) is raised. Whatever the work read
before is read again, so a caller's If-Match is checked against the new state (412).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError

from hub.errors import Conflict
from hub.store.conflicts import ConcurrentWrite
from hub.store.db import Database
from hub.store.uow import UnitOfWork

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts of one read-change-write against concurrent changes.
MAX_ATTEMPTS = 10


class ConcurrentChange(Conflict):
    """The work kept losing to concurrent changes; the client may retry later."""


def retrying(db: Database, work: Callable[[UnitOfWork], T], *, partners: Mapping | None = None,
             attempts: int = MAX_ATTEMPTS, what: str = "write") -> T:
    """``work(uow)`` in a fresh unit of work, re-run while it loses to a concurrent change.

    ``work`` commits (or not) itself; its errors other than concurrency ones propagate at
    once. ``what`` names the work in the log and the final error.
    """
    for attempt in range(attempts):
        try:
            with UnitOfWork(db, partners=partners) as uow:
                return work(uow)
        except (ConcurrentWrite, IntegrityError, OperationalError) as exc:
            if attempt + 1 == attempts:
                raise ConcurrentChange(f"this {what} kept losing to concurrent changes; "
                                       "retry it") from exc
            log.info("%s: concurrent change (%s), retrying", what, type(exc).__name__)
            time.sleep(min(0.5, 0.01 * 2 ** attempt) * random.random())
    raise AssertionError("unreachable")  # pragma: no cover
