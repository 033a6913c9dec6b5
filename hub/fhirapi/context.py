"""Running FHIR interactions in a unit of work, re-run when they lose a race.

HTTP-agnostic: the caller (``hub.routes.fhir``) passes who is calling; a ``FhirRunner``
holds what every interaction needs besides (database, write hooks, page sizes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hub.fhirapi.hooks import WriteHook
from hub.fhirapi.interactions import Ctx
from hub.security import Principal
from hub.store.concurrency import retrying
from hub.store.db import Database
from hub.store.uow import UnitOfWork

T = TypeVar("T")


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

        A write that lost a race (a conditional create whose key was claimed first, the
        case of a partner's resource saved meanwhile, a busy or serializing database) is
        re-run from the start in a fresh transaction by the hub's one retry policy
        (``hub.store.concurrency.retrying``), where it reads the winner's state.
        """

        def work(uow: UnitOfWork) -> T:
            result = fn(self._ctx(uow, principal))
            uow.commit()
            return result

        return retrying(self.db, work, what="FHIR write")
