"""The retry policy: full-jitter backoff, Retry-After, what is retried, attempt limit."""

from __future__ import annotations

import pytest

from hub.adapters.errors import (
    PartnerConfigError,
    PartnerConflict,
    PartnerRejected,
    PartnerThrottled,
    PartnerUnavailable,
)
from hub.sync.retry import RetryPolicy

POLICY = RetryPolicy(max_attempts=5, base_delay=2.0, max_delay=60.0)


class FakeResponse:
    def __init__(self, status: int) -> None:
        self.status_code = status


def test_backoff_is_full_jitter_under_an_exponential_cap():
    assert POLICY.backoff(1, rng=lambda: 0.999999) == pytest.approx(2.0, rel=1e-3)
    assert POLICY.backoff(3, rng=lambda: 0.999999) == pytest.approx(8.0, rel=1e-3)
    assert POLICY.backoff(10, rng=lambda: 1.0) == 60.0  # capped
    assert POLICY.backoff(4, rng=lambda: 0.0) == 0.0
    assert POLICY.backoff(4, rng=lambda: 0.5) == 8.0
    delays = {POLICY.backoff(5) for _ in range(50)}
    assert len(delays) > 40 and all(0 <= d <= 32 for d in delays)  # jittered


@pytest.mark.parametrize("error", [
    PartnerUnavailable("500", response=FakeResponse(500)),
    PartnerUnavailable("timeout"),
    PartnerUnavailable("408", response=FakeResponse(408)),
    PartnerConflict("409", response=FakeResponse(409)),
    PartnerThrottled("429", response=FakeResponse(429)),
    PartnerConfigError("missing secret"),
    RuntimeError("a bug, or the database went away"),
])
def test_transient_failures_are_retried(error):
    decision = POLICY.decide(error, attempts=1, rng=lambda: 0.5)
    assert not decision.dead and decision.retry_in == 1.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_4xx_are_dead_at_once(status):
    decision = POLICY.decide(PartnerRejected("no", response=FakeResponse(status)), attempts=1)
    assert decision.dead and decision.reason == "not retryable"


def test_412_is_dead_for_a_human():
    assert POLICY.decide(PartnerConflict("412", response=FakeResponse(412)), 1).dead


def test_attempt_limit_dead_letters():
    error = PartnerUnavailable("500", response=FakeResponse(500))
    assert not POLICY.decide(error, attempts=4).dead
    decision = POLICY.decide(error, attempts=5)
    assert decision.dead and "attempt limit 5" in decision.reason


def test_retry_after_is_a_minimum_and_is_bounded():
    throttled = PartnerThrottled("429", retry_after=45, response=FakeResponse(429))
    assert POLICY.decide(throttled, attempts=1, rng=lambda: 0.1).retry_in == 45
    small = PartnerThrottled("429", retry_after=0.5, response=FakeResponse(429))
    assert POLICY.decide(small, attempts=5 - 1, rng=lambda: 1.0).retry_in == 16.0
    huge = PartnerUnavailable("503", retry_after=10**9, response=FakeResponse(503))
    assert POLICY.decide(huge, attempts=1).retry_in == POLICY.max_retry_after
