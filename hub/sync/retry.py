"""The retry policy: exponential backoff with full jitter, Retry-After, dead letters.

- Retryable failures (5xx, 408, 409, 429, timeouts, connection errors, our own
  unexpected errors and configuration problems) are tried again after
  ``uniform(0, min(max_delay, base_delay * 2**(attempts-1)))`` seconds ("full jitter"),
  but never sooner than the partner's Retry-After.
- Other 4xx are not retried: the row is dead-lettered with the partner's
  OperationOutcome.
- After ``max_attempts`` attempts a retryable failure is dead-lettered too.
Dead letters stay in the outbox, visible (``hub deliveries list --status dead``) and
replayable (``hub deliveries retry``). Nothing is dropped.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from hub.adapters.errors import PartnerError


@dataclass(frozen=True)
class Decision:
    """``retry_in`` seconds, or None to dead-letter; ``reason`` for the log."""

    retry_in: float | None
    reason: str

    @property
    def dead(self) -> bool:
        return self.retry_in is None


def is_retryable(error: BaseException) -> bool:
    """Partner errors say so themselves; anything else (a bug, a database hiccup, a
    missing secret) may pass on a later attempt, and the attempt limit bounds it."""
    if isinstance(error, PartnerError):
        return error.retryable
    return True


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late to try again. Tests use tiny delays."""

    max_attempts: int = 10
    base_delay: float = 5.0
    max_delay: float = 3600.0
    max_retry_after: float = 86400.0

    def backoff(self, attempts: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: a uniform delay up to the exponential cap for this attempt."""
        cap = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        return rng() * cap

    def decide(self, error: BaseException, attempts: int,
               rng: Callable[[], float] = random.random) -> Decision:
        """What to do after attempt number ``attempts`` failed with ``error``."""
        if not is_retryable(error):
            return Decision(None, "not retryable")
        if attempts >= self.max_attempts:
            return Decision(None, f"attempt limit {self.max_attempts} reached")
        delay = self.backoff(attempts, rng)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, min(float(retry_after), self.max_retry_after))
        return Decision(delay, "retry")
