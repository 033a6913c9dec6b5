"""Running FHIR interactions in a unit of work, re-run when they lose a race.

HTTP-agnostic: the caller (``hub.routes.fhir``) passes who is calling; a ``FhirRunner``
holds what every interaction needs besides (database, write hooks, page sizes).

Every request run with a ``RequestInfo`` leaves one AuditEvent (``hub.audit``): a write's
in its own transaction (one insert before the commit), a read's in a short transaction
after the read, shared with the reads waiting at the same moment (``hub.audit.group``:
committed before the answer leaves); a refused or failed request's in a transaction of
its own after the rollback (outcome 4 or 8).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hub.audit import events as audit_events
from hub.audit import log as audit_log
from hub.audit.events import Access, RequestInfo
from hub.audit.group import group_commit
from hub.clock import utcnow
from hub.errors import HubError
from hub.fhirapi.bundles import final_versions
from hub.fhirapi.hooks import FinishHook, WriteHook
from hub.fhirapi.interactions import Ctx, Result
from hub.observability.safe_errors import safe_trace
from hub.security import Principal
from hub.store import driver
from hub.store.concurrency import retrying
from hub.store.db import Database
from hub.store.uow import UnitOfWork

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FhirRunner:
    """Runs interactions (``fn(ctx)``) for a caller, each in its own unit of work."""

    db: Database
    hooks: Sequence[WriteHook] = ()
    default_count: int = 20
    max_count: int = 200
    finish: Sequence[FinishHook] = ()

    def _ctx(self, uow: UnitOfWork, principal: Principal) -> Ctx:
        return Ctx(uow, principal, list(self.hooks), self.default_count, self.max_count)

    def read(self, principal: Principal, fn: Callable[[Ctx], T],
             request: RequestInfo | None = None) -> T:
        """Run a read-only interaction on a fresh session (audited with ``request``)."""
        with UnitOfWork(self.db, read_only=True) as uow:
            ctx = self._ctx(uow, principal)
            try:
                result = fn(ctx)
            except Exception as exc:
                uow.rollback()
                self._audit_failure(principal, request, ctx.access, exc)
                raise
        if request is not None:
            # a transaction of its own that starts by writing (a read transaction turned
            # writer could meet SQLite's busy snapshot instead of waiting for the lock),
            # shared with the reads that wait at the same time (``hub.audit.group``):
            # committed before the answer leaves
            group_commit(self.db).record(self._audit_row(principal, request, ctx.access))
        return result

    def write(self, principal: Principal, fn: Callable[[Ctx], T],
              request: RequestInfo | None = None) -> T:
        """Run ``fn`` in one transaction and commit; all or nothing.

        A write that lost a race (a conditional create whose key was claimed first, the
        case of a partner's resource saved meanwhile, a busy or serializing database) is
        re-run from the start in a fresh transaction by the hub's one retry policy
        (``hub.store.concurrency.retrying``), where it reads the winner's state. Its
        AuditEvent is inserted in the same transaction, just before the commit.
        """
        last: list[Access] = []

        def work(uow: UnitOfWork) -> T:
            ctx = self._ctx(uow, principal)
            last[:] = [ctx.access]
            result = fn(ctx)
            self._finish(uow, ctx, result)
            if request is not None:
                self._audit(uow, principal, request, ctx.access)
            uow.commit()
            return result

        try:
            return retrying(self.db, work, what="FHIR write")
        except Exception as exc:
            self._audit_failure(principal, request, last[0] if last else Access(), exc)
            raise

    def _finish(self, uow: UnitOfWork, ctx: Ctx, result) -> None:
        """The finish hooks over the request's writes; a resource a hook's case change
        rewrote (projected now, not only at commit) is answered as it now is: the REST
        answer, and each entry of a transaction-response (location, etag, lastModified,
        resource)."""
        if not ctx.events:
            return
        for hook in self.finish:
            hook(uow, list(ctx.events))
        if uow.saved:
            uow.flush()
            if isinstance(result, Result) and result.resource is not None \
                    and result.resource.content is not None:
                now = uow.resources.read(result.resource.type, result.resource.id)
                if now is not None and not now.deleted:
                    result.resource = now
            elif isinstance(result, dict):  # a transaction's (or batch entry's) answer
                final_versions(result, uow.resources.read)

    def _audit(self, uow: UnitOfWork, principal: Principal, request: RequestInfo,
               access: Access, outcome: str = "0", desc: str | None = None) -> None:
        driver.run_in(uow.session, audit_log.INSERT,
                      [self._audit_row(principal, request, access, outcome, desc)])

    @staticmethod
    def _audit_row(principal: Principal, request: RequestInfo, access: Access,
                   outcome: str = "0", desc: str | None = None) -> dict:
        recorded = utcnow().replace(tzinfo=None)  # stored as naive UTC
        event, entities, patients = audit_events.build(
            access, client_id=principal.client_id, organization=principal.organization,
            request=request, recorded=recorded, outcome=outcome, outcome_desc=desc)
        return audit_log.row(event, recorded, principal.client_id, principal.organization,
                             entities, patients)

    def _audit_failure(self, principal: Principal, request: RequestInfo | None,
                       access: Access, exc: Exception) -> None:
        """The AuditEvent of a refused (4) or failed (8) request, in its own transaction."""
        if request is None:
            return
        # the status only: the error's message may quote the request (``outcome_of``)
        outcome, desc = audit_events.outcome_of(exc.status if isinstance(exc, HubError)
                                                else 500)
        try:
            with UnitOfWork(self.db) as uow:
                self._audit(uow, principal, request, access, outcome, desc)
                uow.commit()
        except Exception as exc:  # the request's own error is the one to report
            log.error("could not record the AuditEvent of a failed request: %s",
                      safe_trace(exc))
