"""Where the server reads the wall-clock time: the one clock engine time and
the scheduler come from, injectable so tests move time by hand.

A clock is any callable returning Unix epoch milliseconds as an int.
`system_clock` is the host's; `ManualClock` is a test's (set, advance). The
engine never calls either: the tick loop journals what the clock said
(`arena.engine.clock`).
"""

from __future__ import annotations

import time


def system_clock() -> int:
    """The host's wall clock, Unix epoch ms."""
    return time.time_ns() // 1_000_000


class ManualClock:
    """A wall clock that moves only when told (tests: DST changes, restarts
    across an occurrence, a week in a second)."""

    def __init__(self, ms: int) -> None:
        self.ms = int(ms)

    def __call__(self) -> int:
        return self.ms

    def set(self, ms: int) -> None:
        self.ms = int(ms)

    def advance(self, ms: int) -> None:
        self.ms += int(ms)


__all__ = ["system_clock", "ManualClock"]
