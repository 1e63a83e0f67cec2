"""The per-step context a mode's callbacks write into.

A callback never returns messages or effects; it calls `reply`, `emit`,
`effect` and `wake` on the context, and the core collects them in order. This
keeps each callback a small function over plain state (the Nakama
match-handler shape) while the framework owns timing and I/O.
"""

from __future__ import annotations

import heapq

from . import rng
from .clock import now_ms
from .errors import ArenaError
from .outputs import Event, Reply, Settle
from .state import EngineState


_new = tuple.__new__


class Ctx:
    __slots__ = ("state", "tick", "config", "messages", "effects", "in_timers")

    def __init__(self, state: EngineState, tick: int):
        self.state = state
        self.tick = tick
        self.config = state.config
        self.messages: list = []
        self.effects: list = []
        # True once `step` runs the due timers (after the inputs).
        self.in_timers = False

    # --- messages -----------------------------------------------------------
    def reply(self, inp, body: dict | None = None) -> None:
        # tuple.__new__ directly: a named tuple's own __new__ is a Python
        # function, and this runs once per request.
        self.messages.append(_new(Reply, (inp.session, inp.rid, True, body if body is not None else {})))

    def error(self, inp, code: str, message: str, retry_after_ms: int | None = None) -> None:
        """An error reply; `retry_after_ms` (e.g. with `cooldown_active`) tells
        the client when the same request would be taken."""
        self.messages.append(Reply(inp.session, inp.rid, False, ArenaError(code, message, retry_after_ms).body()))

    def emit(self, to, type_: str, body: dict) -> None:
        to = tuple(to)
        if to:
            self.messages.append(_new(Event, (to, type_, body)))

    # --- effects ------------------------------------------------------------
    def effect(self, eff) -> None:
        if isinstance(eff, Settle):
            if not eff.transfers:
                return
            self.state.unsettled[eff.key] = eff.match
        self.effects.append(eff)

    # --- time ---------------------------------------------------------------
    def wake(self, match, at_tick: int) -> None:
        """Call the mode's `tick` for `match` at `at_tick`.

        A tick already reached means: this tick's timer pass when called while
        the inputs are applied (so an input never postpones a due timer), the
        next tick when called from a timer callback.
        """
        at_tick = max(at_tick, self.tick + 1 if self.in_timers else self.tick)
        if match.wake_at == at_tick:
            return
        match.wake_at = at_tick
        timers = self.state.timers
        slot = timers.get(at_tick)
        if slot is None:
            timers[at_tick] = [match.id]
            heapq.heappush(self.state.timer_heap, at_tick)
        else:
            slot.append(match.id)

    @property
    def now_ms(self) -> int:
        """This tick's wall-clock time, Unix epoch ms (`arena.engine.clock`):
        journaled, so a replay sees the same; 0 before the first `ClockSet`."""
        return now_ms(self.state, self.tick)

    def ticks(self, ms: int) -> int:
        return self.config.ticks(ms)

    def ms_until(self, at_tick: int) -> int:
        return max(0, self.config.ms(at_tick - self.tick))

    # --- settings -------------------------------------------------------------
    def settings(self, mode: str):
        """The settings mode `mode` has now (its `EngineConfig.modes` entry)."""
        return self.config.modes[mode]

    def change_settings(self, mode: str, pairs) -> bool:
        """Apply (name, value) `pairs` to `mode`'s settings from this tick on.

        False (and nothing changes) for a mode without settings, an unknown
        name or a value the settings refuse: the input was journaled as it
        came, and a replay refuses it the same way."""
        from .config import with_settings

        current = self.config.modes.get(mode)
        if current is None:
            return False
        try:
            changed = with_settings(current, pairs)
        except (ValueError, TypeError):
            return False
        self.state.config = self.config = self.config.with_mode(mode, changed)
        return True

    # --- matches ------------------------------------------------------------
    def new_match_id(self, mode: str) -> str:
        n = self.state.match_counter
        self.state.match_counter = n + 1
        world = self.state.world
        if world is None:  # a world from before worlds had ids: its old ids
            return f"{mode[:2]}-{rng.token(self.config.seed, 'match', n)}"
        # 8 bytes (16 hex digits): never equal to an id of the old form (12).
        return f"{mode[:2]}-{rng.token(self.config.seed, 'match', world, n, nbytes=8)}"

    def bind(self, wallet: str, match_id: str, role: str) -> None:
        self.state.bindings.setdefault(wallet, {})[match_id] = role

    def unbind(self, wallet: str, match_id: str) -> None:
        roles = self.state.bindings.get(wallet)
        if roles is not None:
            roles.pop(match_id, None)
            if not roles:
                del self.state.bindings[wallet]

    def drop_match(self, match, wallets) -> None:
        """Forget an ended match: no more timers, bindings or requests reach it."""
        for wallet in wallets:
            self.unbind(wallet, match.id)
        match.wake_at = -1
        self.state.matches.pop(match.id, None)
