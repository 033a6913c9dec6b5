"""The hook point of the FHIR write path.

Every create, update and delete through the FHIR API (REST or Bundle entry) calls the
registered hooks after the new version is written and before the transaction commits,
with the same unit of work. A hook may write more (case record, Provenance, outbox rows)
or raise a ``HubError`` to refuse the write; either way it is one transaction.

    def on_write(uow, event: WriteEvent) -> None: ...
    register_write_hook(app, on_write)      # in some module's init_app(app)

A finish hook is called once per request (a REST write, a whole transaction, one batch
entry) after all its writes and their write hooks, in the same transaction, with every
write event of the request in order: what depends on several entries of a transaction
(an EpisodeOfCare and the CarePlan that names it) is done there.

    def on_finish(uow, events: list[WriteEvent]) -> None: ...
    register_finish_hook(app, on_finish)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hub.security import Principal

EXTENSION = "hub.fhir_write_hooks"
FINISH_EXTENSION = "hub.fhir_finish_hooks"


@dataclass
class WriteEvent:
    """What was written: ``before`` is the previous content (None on create)."""

    interaction: str  # create | update | delete
    resource_type: str
    id: str
    before: dict | None
    after: dict | None  # None on delete
    version_id: int
    principal: Principal
    #: the write created the resource under an id the server made up for it (a POST):
    #: nothing written before this request can name it (``hub.fhircase.changes``)
    server_id: bool = False


WriteHook = Callable[[object, WriteEvent], None]


def register_write_hook(app, hook: WriteHook) -> None:
    """Call ``hook(uow, event)`` inside the transaction of every FHIR write."""
    app.extensions.setdefault(EXTENSION, []).append(hook)


def write_hooks(app) -> list[WriteHook]:
    return list(app.extensions.get(EXTENSION, []))


FinishHook = Callable[[object, list[WriteEvent]], None]


def register_finish_hook(app, hook: FinishHook) -> None:
    """Call ``hook(uow, events)`` once all writes of a request are done, before commit."""
    app.extensions.setdefault(FINISH_EXTENSION, []).append(hook)


def finish_hooks(app) -> list[FinishHook]:
    return list(app.extensions.get(FINISH_EXTENSION, []))
