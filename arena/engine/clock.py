"""Engine time on the wall clock: what `ctx.now_ms` is.

Modes never read a clock. The tick loop journals the host's wall-clock time
as an input (`ClockSet`) on the first tick of every run and whenever the
engine's own reckoning has fallen behind the host's by more than a tolerance
(`[server] clock_tolerance_ms`); between two such inputs the engine counts
ticks: `now = anchor_ms + (tick - anchor_tick) * 1000 // tick_hz`. So every
tick has a wall-clock time, a replay of the journal sees exactly the same
times, and the journal gets a row for the clock only when it drifts (not one
per tick).

Engine time never goes backwards: a `ClockSet` earlier than the engine's
current time is taken as "no change" (a host whose clock is stepped back
waits, in engine time, until it catches up). Deadlines are therefore written
as `ctx.now_ms >= deadline`, never `==`.

A state that has never seen a `ClockSet` (a store from before engine time
was journaled, until its first tick on this release) has no anchor; its
time is 0.
"""

from __future__ import annotations


def now_ms(state, tick: int | None = None) -> int:
    """The wall-clock time (Unix epoch milliseconds) of `tick` (default: the
    state's current tick) in `state`'s reckoning."""
    anchor = state.clock
    if anchor is None:
        return 0
    at_tick, at_ms = anchor
    if tick is None:
        tick = state.tick
    return at_ms + (tick - at_tick) * 1000 // state.config.tick_hz


def set_clock(state, tick: int, ms: int) -> None:
    """Anchor engine time at `ms` on `tick` (never earlier than it is already)."""
    if state.clock is not None:
        ms = max(ms, now_ms(state, tick))
    state.clock = [tick, ms]


__all__ = ["now_ms", "set_clock"]
