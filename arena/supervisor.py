"""Supervised side tasks: restart with backoff, and a health state for operators.

Storage, AI and the chain are slow, fallible outsiders. Each runs as a task
under a `Supervisor` in the server's nursery. The supervisor restarts it
when it fails (exponential backoff with a cap) and tracks its health, the
DegenDuel way:

    Initializing ──ready──► Active ──failure──► Degraded ──N failures──► CircuitOpen ──reset time──► Recovering
                              ▲                    │                                                     │
                              └────── success ─────┴──────────────────────── success ─────────────────────┘

A supervisor made with `initializing=True` reports Initializing until its
task says it is up (`ready()`).

A task can also report the outcome of individual operations
(`record_success` / `record_failure`) without crashing, e.g. an AI call that
timed out and was served by the fallback judge; that drives the same states.
`circuit_open` tells callers to skip the outsider for now.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

log = logging.getLogger("arena.supervisor")

INITIALIZING = "initializing"
ACTIVE = "active"
DEGRADED = "degraded"
CIRCUIT_OPEN = "circuit_open"
RECOVERING = "recovering"


class Supervisor:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        clock: Callable[[], float] = trio.current_time,
        fatal: tuple[type[BaseException], ...] = (),
        initializing: bool = False,
    ):
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.clock = clock
        # Failures that no restart can mend (the task must end the server):
        # they pass through, like cancellation.
        self.fatal = fatal
        self.state = INITIALIZING if initializing else ACTIVE
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.restarts = 0
        self.counters: dict[str, int] = {"successes": 0, "failures": 0}
        self.last_error: str | None = None

    # --- outcome reporting -------------------------------------------------------
    def ready(self) -> None:
        """The task is up: Initializing becomes Active (other states stay)."""
        if self.state == INITIALIZING:
            self.state = ACTIVE

    def record_success(self) -> None:
        self.counters["successes"] += 1
        self.consecutive_failures = 0
        if self.state != ACTIVE:
            log.info("side task healthy again", extra={"task": self.name, "was": self.state})
        self.state = ACTIVE
        self.opened_at = None

    def record_failure(self, error: BaseException | str) -> None:
        self.counters["failures"] += 1
        self.consecutive_failures += 1
        self.last_error = str(error)[:300]
        if self.state == RECOVERING or self.consecutive_failures >= self.failure_threshold:
            if self.state != CIRCUIT_OPEN:
                log.warning("circuit open", extra={"task": self.name, "error": self.last_error})
            self.state = CIRCUIT_OPEN
            self.opened_at = self.clock()
        elif self.state in (ACTIVE, INITIALIZING):
            self.state = DEGRADED

    def reopens_in(self) -> float:
        """Seconds until an open circuit lets a call through (0: not open)."""
        if self.state != CIRCUIT_OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.reset_after - self.clock())

    @property
    def circuit_open(self) -> bool:
        """True while calls should skip the outsider; moves to Recovering after the reset time."""
        if self.state == CIRCUIT_OPEN and self.opened_at is not None:
            if self.clock() - self.opened_at >= self.reset_after:
                self.state = RECOVERING
                return False
            return True
        return False

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def health(self) -> dict:
        return {
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "restarts": self.restarts,
            "last_error": self.last_error,
            **self.counters,
        }

    # --- running ---------------------------------------------------------------------
    async def run(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run `fn` forever: restart it with backoff whenever it raises.

        Cancellation passes straight through (it is how the server stops).
        """
        delay = self.backoff_initial
        while True:
            started = self.clock()
            try:
                await fn()
                return
            except self.fatal:
                raise
            except Exception as exc:  # noqa: BLE001 - a side task may fail in any way
                log.exception("side task failed", extra={"task": self.name})
                self.record_failure(exc)
                self.restarts += 1
            if self.clock() - started > 10 * delay:
                delay = self.backoff_initial  # it ran a good while: start over
            wait = self.reset_after if self.state == CIRCUIT_OPEN else delay
            await trio.sleep(wait)
            if self.state == CIRCUIT_OPEN:
                self.state = RECOVERING
            delay = min(self.backoff_max, delay * 2)
