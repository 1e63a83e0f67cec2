"""Circuit breakers for feed sources and feeds, the DegenDuel way.

`arena.supervisor.Supervisor` counts consecutive failures of one side task;
feeds need more: many sources that fail in bursts, recover slowly, and must
not be trusted again on the strength of one good answer. A `Breaker` is
sans-IO: it is told outcomes and asked whether to call, against a clock it
is given (a callable returning seconds), so tests never sleep.

    Initializing ──ready──► Active ──failure──► Degraded ──threshold in window──► CircuitOpen
                              ▲                                                     │ reset_s
                              └──── min_healthy_s without a failure ──── Recovering ◄┘
                                                                           │ failure
                                                                           └──► CircuitOpen

* Failures are counted in a sliding `window_s` (not only consecutive ones):
  `failure_threshold` failures within it open the circuit.
* Open, it refuses calls for `reset_s`; then it lets calls through as
  Recovering. A failure while Recovering opens it again at once.
* Recovering becomes Active only after `min_healthy_s` without a failure
  (`closed` is False until then), so a flapping source is not trusted on one
  good answer.
* Initializing: the breaker's owner is not ready (its dependencies are not
  up yet); calls are refused until `ready()`.
* `health_check_due()` tells the owner, every `health_check_s`, to probe an
  open or recovering breaker's target outside the normal traffic.

State names are the supervisor's (`active`, `degraded`, `circuit_open`,
`recovering`) plus `initializing`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from attrs import field, frozen

from arena.engine.config import positive
from arena.supervisor import ACTIVE, CIRCUIT_OPEN, DEGRADED, INITIALIZING, RECOVERING

log = logging.getLogger("arena.feeds")

__all__ = ["ACTIVE", "CIRCUIT_OPEN", "DEGRADED", "INITIALIZING", "RECOVERING", "Breaker", "BreakerConfig"]


@frozen
class BreakerConfig:
    """The DegenDuel defaults; each feed may override them in its table."""

    failure_threshold: int = field(default=5, validator=positive)
    reset_s: int = field(default=60, validator=positive)
    min_healthy_s: int = field(default=120, validator=positive)
    window_s: int = field(default=300, validator=positive)
    health_check_s: int = field(default=30, validator=positive)


class Breaker:
    def __init__(self, name: str, config: BreakerConfig = BreakerConfig(), *,
                 clock: Callable[[], float] = time.monotonic, initializing: bool = False):
        self.name = name
        self.config = config
        self.clock = clock
        self.state = INITIALIZING if initializing else ACTIVE
        self.failures: deque[float] = deque()  # times of the failures in the window
        self.opened_at: float | None = None
        self.healthy_since: float | None = None  # Recovering: since the last failure
        self.last_check: float | None = None
        self.last_error: str | None = None
        self.counters = {"successes": 0, "failures": 0, "opened": 0, "refused": 0}

    def ready(self) -> None:
        """The owner's dependencies are up: start taking calls."""
        if self.state == INITIALIZING:
            self.state = ACTIVE

    def _prune(self, now: float) -> None:
        while self.failures and now - self.failures[0] > self.config.window_s:
            self.failures.popleft()

    def _advance(self, now: float) -> None:
        """Time-driven moves: open -> recovering after reset_s, recovering ->
        active after min_healthy_s without a failure, degraded -> active once
        the window holds no failure."""
        if self.state == CIRCUIT_OPEN and now - self.opened_at >= self.config.reset_s:
            self.state = RECOVERING
            self.healthy_since = now
            log.info("breaker recovering", extra={"breaker": self.name})
        if self.state == RECOVERING and now - self.healthy_since >= self.config.min_healthy_s:
            self.state = ACTIVE
            self.failures.clear()
            log.info("breaker closed", extra={"breaker": self.name})
        if self.state == DEGRADED:
            self._prune(now)
            if not self.failures:
                self.state = ACTIVE

    def current(self) -> str:
        """The state now (time-driven moves applied)."""
        self._advance(self.clock())
        return self.state

    def allow(self) -> bool:
        """May the owner call its target now?"""
        state = self.current()
        if state in (CIRCUIT_OPEN, INITIALIZING):
            self.counters["refused"] += 1
            return False
        return True

    @property
    def closed(self) -> bool:
        """Counts as closed: active or degraded (not while recovering)."""
        return self.current() in (ACTIVE, DEGRADED)

    def record_success(self) -> None:
        self.counters["successes"] += 1
        self._advance(self.clock())

    def record_failure(self, error: str = "") -> None:
        now = self.clock()
        self._advance(now)
        self.counters["failures"] += 1
        self.last_error = error[:300] if error else self.last_error
        self.failures.append(now)
        self._prune(now)
        if self.state == INITIALIZING:
            return
        if self.state == CIRCUIT_OPEN:
            return  # a call begun before it opened: the reset time runs from the opening
        if self.state == RECOVERING or len(self.failures) >= self.config.failure_threshold:
            self.counters["opened"] += 1
            log.warning("breaker open", extra={"breaker": self.name, "error": self.last_error,
                                               "failures_in_window": len(self.failures)})
            self.state = CIRCUIT_OPEN
            self.opened_at = now
            self.healthy_since = None
        elif self.state == ACTIVE:
            self.state = DEGRADED

    def health_check_due(self) -> bool:
        """True every `health_check_s` while the target is not known healthy
        (open or recovering): the owner should probe it now."""
        now = self.clock()
        self._advance(now)
        if self.state not in (CIRCUIT_OPEN, RECOVERING):
            return False
        if self.last_check is not None and now - self.last_check < self.config.health_check_s:
            return False
        self.last_check = now
        return True

    def probe_result(self, ok: bool, error: str = "") -> None:
        """A health check's outcome. A good probe of an open breaker moves it
        to Recovering early (the target answers again); a bad one counts as a
        failure."""
        if ok:
            if self.state == CIRCUIT_OPEN:
                self.state = RECOVERING
                self.healthy_since = self.clock()
            self.record_success()
        else:
            self.record_failure(error)

    def health(self) -> dict:
        now = self.clock()
        self._advance(now)
        self._prune(now)
        return {"state": self.state, "failures_in_window": len(self.failures),
                "last_error": self.last_error, **self.counters}
