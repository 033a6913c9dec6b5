"""What happens after a successful delivery: the partner's answer is applied to the case.

A ``Handlers`` registry maps an (operation, resource type) pair to a handler, e.g.
("submit", "Claim") to map a PAS response into the case's coverage decisions. The runtime
(``hub.bootstrap``) builds one registry and has the flows register their handlers in it
explicitly (``hub.flows.handlers.register_handlers``); nothing registers by being imported. Every
executor calls ``handle`` after it has recorded the delivery as done; the answer is kept in
the outbox row (``outbox.response``), so a handler that fails is logged and can be re-run
from there. Handlers must be idempotent: at-least-once delivery may call them twice.

    handlers.register("submit", "Claim", apply_pas_answer)  # fn(db, delivery, outcome)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hub.observability.safe_errors import safe_trace

log = logging.getLogger(__name__)

#: ``fn(db, delivery, outcome)``; what it returns is ignored.
Handler = Callable[[Any, Any, Any], object]


class Handlers:
    """(operation, resource type) -> handler; ``"*"`` as the type matches any type."""

    def __init__(self) -> None:
        self._by_kind: dict[tuple[str, str], Handler] = {}

    def register(self, operation: str, resource_type: str, fn: Handler) -> None:
        key = (operation, resource_type)
        if key in self._by_kind:
            raise ValueError(f"a handler for {operation} {resource_type} is already registered")
        self._by_kind[key] = fn

    def handler_for(self, operation: str, resource_type: str) -> Handler | None:
        return self._by_kind.get((operation, resource_type)) \
            or self._by_kind.get((operation, "*"))

    def kinds(self) -> list[tuple[str, str]]:
        return sorted(self._by_kind)

    def handle(self, db, delivery, outcome) -> bool:
        """Run the handler of a delivered row, if any; False when it failed (logged)."""
        fn = self.handler_for(delivery.operation, delivery.resource_type)
        if fn is None:
            return True
        try:
            fn(db, delivery, outcome)
        except Exception as exc:  # its message may quote patient data: where, not what
            log.error("delivery #%s: applying the partner's answer failed: %s", delivery.id,
                      safe_trace(exc))
            return False
        return True
