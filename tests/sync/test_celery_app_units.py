"""The Celery apps of one process keep their tasks to themselves, and the executor's kicks
for the retries of a drain's failed deliveries (``retry_kick_times``): every retry due
within the sweep interval has a kick that fires after it is due, not only the soonest."""

from __future__ import annotations

import warnings

import pytest

from hub.config import Settings
from hub.sync.celery_app import (
    DELIVER_DUE,
    MAX_RETRY_KICKS,
    RETRY_KICK_MARGIN_SECONDS,
    SWEEP,
    ExecutorOptions,
    create_celery,
    retry_kick_times,
)

M = RETRY_KICK_MARGIN_SECONDS


def test_no_failures_no_kick():
    assert retry_kick_times([], 10) == []


def test_a_retry_due_now_is_kicked_after_the_margin():
    assert retry_kick_times([0.0], 10) == [M]
    assert retry_kick_times([-3.0], 10) == [M]  # overdue counts as due now


def test_a_soon_retry_does_not_hide_a_later_one():
    # one row due at once (a 500), another after a partner's Retry-After of 1 s: a kick
    # for the first alone may claim nothing (another task delivered it) and would leave
    # the second to the sweep
    kicks = retry_kick_times([0.0007, 0.99], 10)
    assert kicks == pytest.approx([0.0007 + M, 0.99 + M])


def test_retries_due_together_share_one_kick_fired_after_the_last_of_them():
    kicks = retry_kick_times([0.10, 0.02, 0.20], 10)
    assert kicks == pytest.approx([0.20 + M])
    # one due just outside the group's margin gets a kick of its own
    assert retry_kick_times([0.02, 0.10, 0.02 + 1.5 * M], 10) == pytest.approx(
        [0.10 + M, 0.02 + 2.5 * M])


def test_every_kick_fires_after_a_retry_it_is_for():
    waits = [0.0, 0.1, 0.3, 0.31, 2.0, 2.2, 5.0]
    kicks = retry_kick_times(waits, 10)
    assert kicks == sorted(kicks)
    for wait in waits:  # each retry has a kick at or after it, within two margins
        assert any(wait <= kick <= wait + 2 * M for kick in kicks), wait


def test_retries_beyond_the_horizon_are_the_sweeps():
    assert retry_kick_times([1.0, 30.0], 10) == pytest.approx([1.0 + M])
    assert retry_kick_times([30.0], 10) == []


def test_the_number_of_kicks_is_bounded():
    waits = [i * 1.0 for i in range(50)]
    kicks = retry_kick_times(waits, 100)
    assert len(kicks) == MAX_RETRY_KICKS
    assert kicks == pytest.approx([i + M for i in range(MAX_RETRY_KICKS)])


def test_apps_made_in_one_process_each_hold_their_own_tasks():
    # the bench, the CLI and the tests make several apps in one process: a task registered
    # on one app must not be shared with the next (Celery's default), which then warned of
    # a duplicate name and ran the first app's callable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apps = [create_celery(Settings(celery_broker_url="memory://"),
                              ExecutorOptions(queue=f"q{i}")) for i in range(3)]
        for app in apps:
            app.finalize()
    for app in apps:
        assert {DELIVER_DUE, SWEEP} <= set(app.tasks)
        assert app.tasks[DELIVER_DUE].app is app and app.tasks[SWEEP].app is app
        app.close()
