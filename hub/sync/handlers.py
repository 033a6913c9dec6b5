"""What happens after a successful delivery: the partner's answer is applied to the case.

A flow registers a handler for an (operation, resource type) pair, e.g. ("submit",
"Claim") to map a PAS response into the case's coverage decisions. Every executor calls
``handle`` after it has recorded the delivery as done; the answer is kept in the outbox row
(``outbox.response``), so a handler that fails is logged and can be re-run from there.
Handlers must be idempotent: at-least-once delivery may call them twice.

    @on_delivered("submit", "Claim")
    def apply_pas_answer(db, delivery, outcome): ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Handler = Callable[[object, object, object], None]  # (db, delivery, outcome)
_HANDLERS: dict[tuple[str, str], Handler] = {}


def on_delivered(operation: str, resource_type: str = "*"):
    """Decorator: register ``fn(db, delivery, outcome)`` for deliveries of that kind."""

    def register(fn: Handler) -> Handler:
        _HANDLERS[(operation, resource_type)] = fn
        return fn

    return register


def handler_for(operation: str, resource_type: str) -> Handler | None:
    return _HANDLERS.get((operation, resource_type)) or _HANDLERS.get((operation, "*"))


def handle(db, delivery, outcome) -> bool:
    """Run the handler of a delivered row, if any; False when it failed (logged)."""
    _load_flows()
    fn = handler_for(delivery.operation, delivery.resource_type)
    if fn is None:
        return True
    try:
        fn(db, delivery, outcome)
    except Exception:  # noqa: BLE001 - the answer stays in the outbox row for a re-run
        log.exception("delivery #%s: applying the partner's answer failed", delivery.id)
        return False
    return True


def _load_flows() -> None:
    """Import the flow modules so their handlers are registered (once)."""
    from hub.modules import import_optional

    import_optional("hub.flows")
