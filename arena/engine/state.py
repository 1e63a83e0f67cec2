"""The whole engine state: plain data, nothing else.

Everything the engine knows lives here, so a snapshot is this object encoded,
and the state hash (`arena.engine.canonical.state_hash`) identifies it.
Matches are the modes' own attrs classes; the core only relies on `id`,
`mode` and `wake_at`.
"""

from __future__ import annotations

from attrs import define, field

from .canonical import OMIT_IF_NONE
from .config import EngineConfig


@define
class EngineState:
    config: EngineConfig
    tick: int = 0
    # The world's identity: a random id the store is given when it is created
    # (16 hex digits). Match ids, and so every idempotency key built from
    # them, are drawn from it as well as from the seed, so two worlds never
    # share a key whatever their seeds. None only in states written before
    # worlds had an id (left out of the hash then, so their snapshots still
    # verify); such a world is named by a journaled `WorldNamed` input.
    world: str | None = field(default=None, metadata={OMIT_IF_NONE: True})
    # Counts matches ever created; with the seed it names the next match.
    match_counter: int = 0
    matches: dict = field(factory=dict)  # match id -> the mode's match state
    modes: dict = field(factory=dict)  # mode name -> the mode's shared state (queues)
    # Timers: tick -> match ids to wake then, plus a heap of those ticks, so a
    # tick visits only the matches that have something due (idle matches cost
    # nothing). A match's `wake_at` says which of its entries is current;
    # older entries are skipped when they come up.
    timers: dict = field(factory=dict)
    timer_heap: list = field(factory=list)
    # wallet -> {match id: role} for every live match the wallet plays in or
    # watches, so connection changes reach the right matches.
    bindings: dict = field(factory=dict)
    # Money effects issued and not yet reported done: key -> match id.
    unsettled: dict = field(factory=dict)
    # Engine time: [tick, wall-clock ms] of the newest journaled `ClockSet`
    # (`arena.engine.clock`). None until the first one.
    clock: list | None = field(default=None, metadata={OMIT_IF_NONE: True})
    # Calendar rules (`arena.schedule`): "<mode>:<rule>" -> the newest
    # occurrence (ms) fired, skipped or armed. An occurrence at or before its
    # rule's mark is never applied again: each fires exactly once.
    schedule_marks: dict | None = field(default=None, metadata={OMIT_IF_NONE: True})
