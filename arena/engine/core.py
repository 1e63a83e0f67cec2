"""`step`: the one function that advances the whole game world by a tick.

`step(state, tick, inputs) -> (messages, effects)` mutates `state` in place
and is a deterministic function of the state and the inputs: no clock, no
I/O, no global randomness. The tick loop in `arena.server` calls it once per
tick, for every tick in order, and journals the inputs; replaying the journal
from a snapshot with the same calls rebuilds the same state (same hash).

Order within a tick: inputs first, in the order given, then the timers that
are due. An input that arrives on a deadline's own tick therefore still
counts.
"""

from __future__ import annotations

import heapq

from . import inputs as I
from .canonical import state_hash
from .clock import set_clock
from .config import EngineConfig
from .context import Ctx
from .errors import BAD_REQUEST, NOT_FOUND
from .outputs import Event, Settle, Transfer
from .registry import registry
from .state import EngineState

# Every registered mode by name: the registry's own dict, so a mode
# registered later (by a test, or a `[server] mode_modules` module) is seen.
MODES = registry.modes()


def new_state(config: EngineConfig, world: str | None = None) -> EngineState:
    """A fresh world's state. `world` is the store's id for it (see
    `EngineState.world`); None gives the ids of a world without one."""
    state = EngineState(config=config, world=world)
    for name, mode in MODES.items():
        state.modes[name] = mode.setup(config)
    return state


def upgrade(state: EngineState) -> EngineState:
    """Give a state loaded from a snapshot the modes registered since it was
    written: their default settings and their `setup` state. A pure function
    of the state and the registry, run after the snapshot's hash is checked
    and before any tick is replayed, so replays agree; a no-op otherwise."""
    missing = {n: m for n, m in MODES.items() if m.settings is not None and n not in state.config.modes}
    if missing:
        state.config = EngineConfig(tick_hz=state.config.tick_hz, seed=state.config.seed,
                                    modes={**state.config.modes, **{n: m.settings() for n, m in missing.items()}})
    for name, mode in MODES.items():
        if name not in state.modes:
            state.modes[name] = mode.setup(state.config)
    return state


def step(state: EngineState, tick: int, inputs) -> tuple[list, list]:
    ctx = begin(state, tick)
    for inp in inputs:
        _apply(ctx, inp)
    return finish(ctx)


# `step` in three parts, for a server that applies each input as it arrives
# (`begin`, then `apply` per input, then `finish` at the tick's boundary):
# the same calls in the same order as `step` over the same inputs, so a
# replay of the journal with `step` rebuilds the same state.

def begin(state: EngineState, tick: int) -> Ctx:
    """Open `tick`: from here the state is at `tick` and takes its inputs."""
    if tick <= state.tick:
        raise ValueError(f"tick {tick} is not after {state.tick}")
    state.tick = tick
    return Ctx(state, tick)


def apply(ctx: Ctx, inp) -> None:
    """One input of the open tick, in the order the journal records it."""
    _apply(ctx, inp)


def finish(ctx: Ctx) -> tuple[list, list]:
    """Close the tick: its due timers, then every message and effect it made."""
    _run_timers(ctx)
    return ctx.messages, ctx.effects


def _run_timers(ctx: Ctx) -> None:
    state = ctx.state
    ctx.in_timers = True
    heap = state.timer_heap
    while heap and heap[0] <= ctx.tick:
        at = heapq.heappop(heap)
        for match_id in state.timers.pop(at, ()):
            match = state.matches.get(match_id)
            if match is not None and match.wake_at == at:
                match.wake_at = -1
                MODES[match.mode].tick(ctx, match)


# Input classes that go straight to their match's mode when the match is
# live (every client request naming a battle, most results of side tasks):
# decided once per class, so the common input skips the chain of type tests
# in `_apply_other`, which handles everything else exactly as before.
_MATCH_ROUTED: dict[type, bool] = {}
_NOT_MATCH_ROUTED = (I.TipSent, I.SettlementDone, I.PlayerDisconnected, I.PlayerReconnected, I.QueueJoin)


def _apply(ctx: Ctx, inp) -> None:
    cls = inp.__class__
    direct = _MATCH_ROUTED.get(cls)
    if direct is None:
        direct = _MATCH_ROUTED[cls] = (not issubclass(cls, _NOT_MATCH_ROUTED)
                                       and any(f.name == "match" for f in getattr(cls, "__attrs_attrs__", ())))
    if direct:
        match = ctx.state.matches.get(inp.match)
        if match is not None:
            MODES[match.mode].input(ctx, match, inp)
            return
    _apply_other(ctx, inp)


def _apply_other(ctx: Ctx, inp) -> None:
    state = ctx.state
    if isinstance(inp, I.WorldNamed):
        if state.world is None and isinstance(inp.world, str) and inp.world:
            state.world = inp.world
        return
    if isinstance(inp, I.ClockSet):
        set_clock(state, ctx.tick, inp.ms)
        return
    if isinstance(inp, I.ScheduleFired):
        _schedule_fired(ctx, inp)
        return
    if isinstance(inp, I.SettingsChanged):
        ctx.change_settings(inp.mode, inp.settings)
        return
    match_id = getattr(inp, "match", None)
    if isinstance(inp, I.EntryFeePaid) and match_id not in state.matches:
        # Money that reached the escrow of a match that is gone goes back.
        ctx.effect(_late_refund(inp))
        return
    if isinstance(inp, I.TipSent):
        body = {"from": inp.from_wallet, "to": inp.to_wallet, "amount": inp.amount, "fee": inp.fee}
        if inp.match and inp.match in state.matches:
            body["match"] = inp.match  # tied to the live match it was sent from
        ctx.emit(dict.fromkeys((inp.from_wallet, inp.to_wallet)), "tip:received", body)
        return
    if isinstance(inp, I.FeedResult) and inp.match == "":
        # A mode-level fetch (no match asked): the mode that asked gets it.
        mode = MODES.get(inp.mode)
        if mode is not None:
            mode.route(ctx, inp)
        return
    if isinstance(inp, I.SettlementDone):
        if inp.ok:
            state.unsettled.pop(inp.key, None)
        return
    if isinstance(inp, (I.PlayerDisconnected, I.PlayerReconnected)):
        for mode in MODES.values():
            mode.route(ctx, inp)
        for mid in list(state.bindings.get(inp.wallet, {})):
            match = state.matches.get(mid)
            if match is None:
                continue
            mode = MODES[match.mode]
            if isinstance(inp, I.PlayerDisconnected):
                mode.leave(ctx, match, inp.wallet)
            else:
                mode.rejoin(ctx, match, inp.wallet)
        return
    if isinstance(inp, (I.QueueJoin, I.MatchPaired)):
        mode = MODES.get(inp.mode)
        if mode is None:
            if isinstance(inp, I.QueueJoin):
                ctx.error(inp, BAD_REQUEST, f"unknown mode {inp.mode!r}")
            return  # a pair for a mode this server no longer runs: nothing to create
        mode.route(ctx, inp)
        return
    if match_id is not None:
        match = state.matches.get(match_id)
        if match is None:
            if isinstance(inp, I.ClientInput):
                ctx.error(inp, NOT_FOUND, f"no live match {match_id!r}")
            else:
                for mode in MODES.values():
                    mode.orphan_input(ctx, inp)
            return
        MODES[match.mode].input(ctx, match, inp)
        return
    for mode in MODES.values():
        if isinstance(inp, mode.routed_inputs):
            mode.route(ctx, inp)
            return
    raise TypeError(f"no handler for input {type(inp).__name__}")


def _schedule_fired(ctx: Ctx, inp: I.ScheduleFired) -> None:
    """Apply a calendar occurrence once: only if it is after its rule's mark."""
    mode = MODES.get(inp.mode)
    if mode is None or not isinstance(inp.at_ms, int) or not isinstance(inp.rule, str):
        return
    marks = ctx.state.schedule_marks
    if marks is None:
        marks = ctx.state.schedule_marks = {}
    key = f"{inp.mode}:{inp.rule}"
    mark = marks.get(key)
    if mark is not None and inp.at_ms <= mark:
        return  # fired, skipped or armed already
    marks[key] = inp.at_ms
    if inp.kind in ("on_time", "late") or (inp.kind == "armed" and mode.schedule_armed):
        mode.on_schedule(ctx, ctx.state.modes.get(inp.mode), inp)


def _late_refund(inp: I.EntryFeePaid) -> Settle:
    return Settle(
        key=f"refund:{inp.payment_id}",
        match=inp.match,
        transfers=(Transfer(f"escrow:{inp.match}", inp.wallet, inp.amount),),
        reason="late_payment",
    )


# --- read-only queries for the net layer (between ticks) ---------------------


def snapshot_event(state: EngineState, match_id: str, wallet: str) -> Event | None:
    match = state.matches.get(match_id)
    if match is None:
        return None
    ctx = Ctx(state, state.tick)
    view = MODES[match.mode].snapshot(ctx, match, wallet)
    return Event((wallet,), "match.snapshot", {"match": match_id, "tick": state.tick, "state": view})


def matches_of(state: EngineState, wallet: str) -> list[str]:
    return list(state.bindings.get(wallet, {}))


def resume_snapshots(state: EngineState, wallet: str) -> list[Event]:
    """The `match.snapshot` events a resumed session gets when its buffer no
    longer holds every event it missed: one per match the wallet is bound
    to, then each mode's `resume_views` (what it follows unbound)."""
    out = []
    for match_id in matches_of(state, wallet):
        ev = snapshot_event(state, match_id, wallet)
        if ev is not None:
            out.append(ev)
    ctx = Ctx(state, state.tick)
    for name, mode in MODES.items():
        shared = state.modes.get(name)
        if shared is None:
            continue
        for view_id, view in mode.resume_views(ctx, shared, wallet):
            out.append(Event((wallet,), "match.snapshot", {"match": view_id, "tick": state.tick, "state": view}))
    return out


def entry_quote(state: EngineState, match_id: str, wallet: str) -> int:
    """The entry fee `wallet` owes `match_id` now; raises ArenaError otherwise."""
    match = state.matches.get(match_id)
    if match is None:
        from .errors import ArenaError

        raise ArenaError(NOT_FOUND, f"no live match {match_id!r}")
    return MODES[match.mode].entry_quote(match, wallet)


__all__ = ["MODES", "new_state", "upgrade", "step", "state_hash", "snapshot_event", "matches_of",
           "resume_snapshots", "entry_quote"]
