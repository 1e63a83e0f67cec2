"""Circuit breakers (arena.feeds.breaker) against an injected clock: no sleeping."""

from __future__ import annotations

import pytest

from arena.feeds.breaker import INITIALIZING, Breaker, BreakerConfig
from arena.supervisor import ACTIVE, CIRCUIT_OPEN, DEGRADED, RECOVERING


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_defaults_are_degenduel_s():
    c = BreakerConfig()
    assert (c.failure_threshold, c.reset_s, c.min_healthy_s, c.window_s, c.health_check_s) == (5, 60, 120, 300, 30)
    with pytest.raises(ValueError, match="reset_s"):
        BreakerConfig(reset_s=0)


def test_failures_count_in_the_window_not_only_in_a_row(clock):
    b = Breaker("s", clock=clock)
    for _ in range(4):
        b.record_failure("boom")
        b.record_success()  # successes between failures do not reset the count
        clock.now += 60
    assert b.state == DEGRADED and b.allow()
    b.record_failure("boom")  # the fifth in 300 s
    assert b.state == CIRCUIT_OPEN and not b.allow()
    assert b.health()["failures_in_window"] == 5 and b.health()["last_error"] == "boom"


def test_old_failures_leave_the_window(clock):
    b = Breaker("s", clock=clock)
    for _ in range(4):
        b.record_failure()
    clock.now += 301
    b.record_failure()
    assert b.state == DEGRADED and b.health()["failures_in_window"] == 1
    clock.now += 301
    assert b.current() == ACTIVE  # no failure left in the window


def test_reset_then_min_healthy_period_before_closed(clock):
    b = Breaker("s", BreakerConfig(failure_threshold=2), clock=clock)
    b.record_failure()
    b.record_failure()
    assert b.current() == CIRCUIT_OPEN
    clock.now += 30
    b.record_failure()  # a call begun before it opened: the reset still runs from the opening
    clock.now += 29
    assert not b.allow()
    clock.now += 1
    assert b.allow() and b.state == RECOVERING and not b.closed
    b.record_success()
    clock.now += 119
    assert b.current() == RECOVERING and not b.closed
    clock.now += 1
    assert b.closed and b.current() == ACTIVE
    assert b.health()["failures_in_window"] == 0


def test_a_failure_while_recovering_opens_again_at_once(clock):
    b = Breaker("s", BreakerConfig(failure_threshold=2), clock=clock)
    b.record_failure()
    b.record_failure()
    clock.now += 60
    assert b.current() == RECOVERING
    clock.now += 100
    b.record_failure()
    assert b.state == CIRCUIT_OPEN and not b.allow()
    assert b.health()["opened"] == 2


def test_initializing_refuses_calls_until_ready(clock):
    b = Breaker("feed", clock=clock, initializing=True)
    assert b.current() == INITIALIZING and not b.allow()
    b.record_failure("not up")  # counted, but does not open a breaker that never ran
    assert b.state == INITIALIZING
    b.ready()
    assert b.current() == ACTIVE and b.allow()
    assert b.health()["refused"] == 1


def test_health_checks_are_due_every_interval_while_not_healthy(clock):
    b = Breaker("s", BreakerConfig(failure_threshold=1), clock=clock)
    assert not b.health_check_due()  # healthy: nothing to probe
    b.record_failure()
    assert b.health_check_due()
    clock.now += 29
    assert not b.health_check_due()
    clock.now += 1
    assert b.health_check_due()
    b.probe_result(True)  # the target answers again: recovering early, not closed yet
    assert b.state == RECOVERING and not b.closed
    clock.now += 30
    b.probe_result(False, "still down")
    assert b.state == CIRCUIT_OPEN
