"""Running FHIR interactions in a unit of work, retried on conditional-create races.

HTTP-agnostic: the caller (``hub.routes.fhir``) passes who is calling; a ``FhirRunner``
holds what every interaction needs besides (database, write hooks, page sizes).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import OperationalError

from hub.errors import Conflict
from hub.fhirapi.hooks import WriteHook
from hub.fhirapi.interactions import Ctx
from hub.fhirstore.repository import ConditionalKeyTaken
from hub.security import Principal
from hub.store.db import Database
from hub.store.uow import UnitOfWork

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRIES = 8


@dataclass(frozen=True)
class FhirRunner:
    """Runs interactions (``fn(ctx)``) for a caller, each in its own unit of work."""

    db: Database
    hooks: Sequence[WriteHook] = ()
    default_count: int = 20
    max_count: int = 200

    def _ctx(self, uow: UnitOfWork, principal: Principal) -> Ctx:
        return Ctx(uow, principal, list(self.hooks), self.default_count, self.max_count)

    def read(self, principal: Principal, fn: Callable[[Ctx], T]) -> T:
        """Run a read-only interaction on a fresh session."""
        with UnitOfWork(self.db) as uow:
            return fn(self._ctx(uow, principal))

    def write(self, principal: Principal, fn: Callable[[Ctx], T]) -> T:
        """Run ``fn`` in one transaction and commit; all or nothing.

        A conditional create that lost a race (``ConditionalKeyTaken``) or a SQLite writer
        that found the database locked is retried from the start with a fresh transaction,
        where the search now finds the winner's resource.
        """
        for attempt in range(RETRIES):
            with UnitOfWork(self.db) as uow:
                try:
                    result = fn(self._ctx(uow, principal))
                    uow.commit()
                    return result
                except ConditionalKeyTaken:
                    log.info("conditional create raced; retrying (attempt %d)", attempt + 1)
                except OperationalError as exc:
                    if not (self.db.is_sqlite and "locked" in str(exc.orig)):
                        raise
                    log.info("sqlite database locked; retrying (attempt %d)", attempt + 1)
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        raise Conflict("the write kept conflicting with concurrent writes; retry it")
