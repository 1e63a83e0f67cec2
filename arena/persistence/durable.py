"""The server's durability: journal, snapshots, outbox, inbox, recovery.

`Durability` sits between the tick loop and the store.

Each tick the loop calls `record_tick(state, inputs, messages, effects)`:
the tick's inputs go into the pending batch (journal), as do the effects it
issued (outbox), the results it consumed (outbox/inbox done), session
changes, derived records, and a snapshot every `snapshot_every_ticks`. It
returns the effects that may leave now; money effects (`Settle`), and
effects marked `after_durable` (their worker reads the records written with
their tick), are held back until the journal entry of their tick is durable
(write-ahead) and then handed to `release`.

`writer` (a side task under the "store" supervisor) writes whatever is
pending in one transaction, as often as the store keeps up (one tick per
transaction when it is fast, many when it lags). If the store fails, the
pending batch stays in memory and grows; past `journal_buffer_max` buffered
inputs, `shedding` is true and the server refuses new matches. When the store
is back, everything buffered is written, in order, and the held money
effects leave.

`recover(server)` runs before the server listens: it loads the newest
snapshot, checks its hash, replays the journal after it, restores the
ledger's book, the sessions, re-dispatches every effect issued and not done
(money through the ledger's idempotent settle, judge requests and feed
fetches again since their answers may be lost), feeds again the adapter
results the engine never consumed (inbox), and marks every wallet bound to a
live match disconnected (the disconnect grace period covers the restart).
"""

from __future__ import annotations

import logging
import time
from collections import deque

import trio

from arena.engine import core
from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.engine.clock import now_ms
from arena.engine.mode import MatchResult, Record
from arena.engine.outputs import Event, Settle
from arena.engine.periods import period_keys
from arena.engine.registry import registry

from . import codec
from .ledger import INBOX_INPUTS, inbox_key
from .store import Recovery, TickBatch
from .world import world_name

log = logging.getLogger("arena.persistence")

SESSION_FLUSH_S = 5.0


def is_outbox_effect(eff) -> bool:
    """Every effect the engine issues goes to the outbox: `Settle`, `FetchFeed`,
    and each mode's declared effects (each carries its idempotency key)."""
    return registry.effect_types.get(type(eff).__name__) is type(eff)


def is_keyed_input(inp) -> bool:
    """An input that completes an outbox or inbox entry (a side task's result)."""
    cls = inp.__class__
    return cls in registry.result_keys or cls in INBOX_INPUTS


def done_key(inp) -> str | None:
    """The outbox key an input completes (`registry.result_keys`): a
    settlement's or a fetch's own key, or the key the input's mode builds for
    the effect it answers (`Mode.result_keys`, the same function the mode
    issued the effect with)."""
    key_of = registry.result_keys.get(type(inp))
    return key_of(inp) if key_of is not None else None


def wallets_to_disconnect(state) -> list[str]:
    """Every wallet that the engine believes connected: bound to a live match or
    waiting in a mode's queue (`Mode.waiting_wallets`)."""
    wallets = dict.fromkeys(state.bindings)
    for name, shared in state.modes.items():
        mode = registry.get(name)
        if mode is not None and shared is not None:
            wallets.update(dict.fromkeys(mode.waiting_wallets(shared)))
    return list(wallets)


def mode_records(state, tick: int, messages, failures: dict[str, int], week_zone: str = "UTC") -> list[tuple]:
    """Every mode's store operations for one tick's messages: its `records`
    (`Record`s, `MatchResult`s, operations on its own tables) and the points
    of its `boards`.

    A mode's `records` failing is logged and counted in `failures` (mode ->
    ticks lost), never raised: a derived record must not stop the tick loop
    (the journal is the truth, and the records can be rebuilt from it)."""
    ops: list[tuple] = []
    for name, mode in registry.modes().items():
        try:
            for op in mode.records(state, tick, messages):
                if isinstance(op, Record):
                    ops.append(("mode_record", name, op.kind, op.key, codec.record_json(op.data), tick))
                elif isinstance(op, MatchResult):
                    ops.append(("match_result", name, op.match, op.players, now_ms(state, tick), tick,
                                codec.record_json(op.result)))
                else:  # an operation on the mode's own tables (`Mode.tables`)
                    ops.append(("mode_op", name, op))
            if mode.boards:
                ops += board_ops(mode.boards, state, tick, messages, week_zone)
        except Exception:  # noqa: BLE001
            failures[name] = failures.get(name, 0) + 1
            log.exception("a mode's records failed; its rows for this tick are skipped",
                          extra={"mode": name, "tick": tick})
    return ops


def board_ops(boards: dict, state, tick: int, messages, week_zone: str) -> list[tuple]:
    """("board_add", board, period key, wallet, points, source) for every
    point a tick's events give on `boards`, once per period. `source` (the
    tick and the event's place in it) names the contribution, so the store
    adds it once however often the batch is written; a replay of the tick
    makes the same events in the same order, hence the same sources."""
    ops: list[tuple] = []
    keys = None
    for i, m in enumerate(messages):
        if m.__class__ is not Event:
            continue
        for board_name, board in boards.items():
            if m.type not in board.events:
                continue
            totals: dict[str, int] = {}
            for wallet, points in board.points(m):
                totals[wallet] = totals.get(wallet, 0) + int(points)
            if not totals:
                continue
            if keys is None:
                keys = period_keys(now_ms(state, tick), week_zone)
            for wallet, points in totals.items():
                for key in keys:
                    ops.append(("board_add", board_name, key, wallet, points, f"{tick}:{i}"))
    return ops


def replay(state, journal, upto: int, on_step=None):
    """Step `state` through every tick up to `upto`, with the journal's inputs
    ((tick, encoded inputs), in order) on their ticks and none on the others.
    (`core.upgrade` first: a state from before a mode was registered gets it.)
    `on_step(tick, effects)`, if given, sees each tick's effects."""
    core.upgrade(state)
    rows = iter(journal)
    nxt = next(rows, None)
    for tick in range(state.tick + 1, upto + 1):
        inputs = []
        if nxt is not None and nxt[0] < tick:
            raise ValueError(f"journal row for tick {nxt[0]} is before the state's tick")
        if nxt is not None and nxt[0] == tick:
            inputs = codec.decode_inputs(nxt[1])
            nxt = next(rows, None)
        _, effects = core.step(state, tick, inputs)
        if on_step is not None:
            on_step(tick, effects)
    if nxt is not None:
        raise ValueError(f"journal has tick {nxt[0]} after the durable tick {upto}")
    return state


class RecoveryError(Exception):
    pass


class Durability:
    def __init__(self, store, *, snapshot_every_ticks: int, journal_buffer_max: int, supervisor=None,
                 tick_hz: int = 20, keep_snapshots: int = 0, week_zone: str = "UTC"):
        self.store = store
        # The zone whose Monday midnight starts a leaderboard week (`[leaderboards] week_zone`).
        self.week_zone = week_zone
        self.snapshot_every = snapshot_every_ticks
        self.keep_snapshots = keep_snapshots
        self.buffer_max = journal_buffer_max
        self.supervisor = supervisor
        self.tick_hz = tick_hz
        self.pending = TickBatch()
        self.buffered_inputs = 0  # inputs in ticks not yet durable (pending or being written)
        self.durable_tick = 0
        self.stepped_tick = 0
        self.held: deque = deque()  # (tick, effect) waiting for their tick to be durable: money, `after_durable`
        self.release = None  # callable(effect): hand a money effect to its side task
        self.sessions = None  # the gateway's SessionRegistry, once tracked
        self._wake = trio.Event()
        self._last_session_flush = 0.0
        self._session_seq: dict[str, int] = {}  # session id -> seq last given to the store
        self.recovered: dict = {}
        self.world: str | None = None  # the store's world id, once recovered
        self.stats = {"ticks_written": 0, "batches": 0, "max_batch_ticks": 0, "snapshots": 0,
                      "write_failures": 0, "held_money_effects_max": 0, "buffered_inputs_max": 0,
                      "snapshot_dump_ms_last": 0.0,
                      "record_failures": {}}  # mode -> ticks whose records it could not make

    # --- the tick loop's side -------------------------------------------------------------
    @property
    def shedding(self) -> bool:
        """True while more inputs wait for the store than it may buffer: refuse new matches."""
        return self.buffered_inputs > self.buffer_max

    def record_tick(self, state, inputs, messages, effects) -> list:
        tick = state.tick
        self.stepped_tick = tick
        p = self.pending
        if inputs:
            p.ticks.append((tick, codec.encode_inputs(inputs)))
            self.buffered_inputs += len(inputs)
            self.stats["buffered_inputs_max"] = max(self.stats["buffered_inputs_max"], self.buffered_inputs)
            for inp in inputs:
                if not is_keyed_input(inp):
                    continue  # a client request: nothing in the outbox or inbox to mark
                k = done_key(inp)
                if k is not None:
                    p.outbox_done.append((k, tick))
                else:
                    k = inbox_key(inp)
                    if k is not None:
                        p.inbox_done.append((k, tick))
        p.durable_tick = tick
        now_out = []
        for eff in effects:
            if is_outbox_effect(eff):
                p.outbox_add.append((eff.key, type(eff).__name__, tick, codec.encode_effect(eff)))
            if isinstance(eff, Settle) or getattr(eff, "after_durable", False):
                # Money, and effects whose worker reads this tick's records.
                self.held.append((tick, eff))
            else:
                now_out.append(eff)
        if self.held:
            self.stats["held_money_effects_max"] = max(self.stats["held_money_effects_max"], len(self.held))
        if messages:
            p.records += mode_records(state, tick, messages, self.stats["record_failures"], self.week_zone)
        if tick % self.snapshot_every == 0:
            # Only the newest unwritten snapshot matters: an older one adds nothing.
            # The state is turned into bytes here (it changes next tick); its hash
            # is computed by the writer, off the tick loop (`_hash_snapshots`).
            t0 = time.perf_counter()
            p.snapshots = [(tick, None, codec.dump_snapshot(state))]
            p.keep_snapshots = self.keep_snapshots
            self.stats["snapshot_dump_ms_last"] = round((time.perf_counter() - t0) * 1000, 2)
        self._collect_sessions()
        self._wake.set()
        return now_out

    def _collect_sessions(self, force: bool = False) -> None:
        reg = self.sessions
        if reg is None:
            return
        p = self.pending
        if reg.created:
            for s in reg.created:
                p.sessions.append((s.id, s.wallet, s.seq))
                self._session_seq[s.id] = s.seq
            reg.created.clear()
        if reg.gone:
            p.sessions_gone += reg.gone
            for sid in reg.gone:
                self._session_seq.pop(sid, None)
            reg.gone.clear()
        now = time.monotonic()
        if force or now - self._last_session_flush >= SESSION_FLUSH_S:
            # Event numbers move with every event: they are written every few
            # seconds, not per event (a resume after a restart takes the
            # client's last_seq when it is higher).
            self._last_session_flush = now
            seen = self._session_seq
            for sid, s in reg.by_id.items():
                if seen.get(sid) != s.seq:
                    seen[sid] = s.seq
                    p.sessions.append((sid, s.wallet, s.seq))

    # --- the writer side task -----------------------------------------------------------
    async def writer(self) -> None:
        while True:
            if self.pending.empty() and self.pending.durable_tick <= self.durable_tick:
                await self._wake.wait()
                self._wake = trio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write everything pending now (one transaction); raise if the store fails."""
        batch, self.pending = self.pending, TickBatch(durable_tick=self.pending.durable_tick)
        if batch.empty() and batch.durable_tick <= self.durable_tick:
            return
        n_inputs = self.buffered_inputs  # all of them are in this batch
        try:
            await self._hash_snapshots(batch)
            await self.store.write(batch)
        except BaseException as exc:
            # Keep it, in front of whatever came in meanwhile, and let the supervisor back off.
            batch.merge(self.pending)
            self.pending = batch
            if isinstance(exc, Exception):
                self.stats["write_failures"] += 1
            raise
        self.buffered_inputs -= n_inputs
        self.durable_tick = batch.durable_tick
        self.stats["batches"] += 1
        self.stats["ticks_written"] += len(batch.ticks)
        self.stats["max_batch_ticks"] = max(self.stats["max_batch_ticks"], len(batch.ticks))
        self.stats["snapshots"] += len(batch.snapshots)
        if self.supervisor is not None:
            self.supervisor.record_success()
        self._release_durable()

    @staticmethod
    async def _hash_snapshots(batch: TickBatch) -> None:
        """Hash each snapshot from its own bytes and compress it, in a worker
        thread: the hash of the state the bytes load into (so the snapshot is
        checked to load, too)."""
        if not batch.snapshots:
            return

        def run():
            return [(t, h or state_hash(codec.load_snapshot(blob)), codec.compress_snapshot(blob))
                    for t, h, blob in batch.snapshots]

        batch.snapshots = await trio.to_thread.run_sync(run)

    def _release_durable(self) -> None:
        held = self.held
        while held and held[0][0] <= self.durable_tick:
            _, eff = held.popleft()
            if self.release is not None:
                self.release(eff)

    # --- recovery --------------------------------------------------------------------------
    async def recover(self, initial_state, *, sessions=None) -> tuple[object, list, list]:
        """Open the store and rebuild the state.

        Returns (state, effects to re-dispatch, inputs to feed on the first tick).
        """
        store = self.store
        await store.open()
        await store.acquire_writer()  # one writer per world, before anything is read or written
        world = world_name(await store.world_id())
        rec: Recovery = await store.load_recovery()
        self.world = world
        if rec.snapshot is None:
            state = initial_state
            state.world = world
            blob = codec.compress_snapshot(codec.dump_snapshot(state))
            await store.write(TickBatch(snapshots=[(state.tick, state_hash(state), blob)],
                                        durable_tick=state.tick))
            self.durable_tick = self.stepped_tick = state.tick
            self.pending.durable_tick = state.tick
            self.recovered = {"fresh": True, "legacy": False, "world": world, "tick": state.tick}
            log.info("new world", extra={"world": world, "seed": state.config.seed})
            redo, feed = [], []
        else:
            t0 = time.perf_counter()
            state = codec.load_snapshot(rec.snapshot)
            got = state_hash(state)
            if got != rec.snapshot_hash:
                raise RecoveryError(f"snapshot at tick {rec.snapshot_tick}: hash {got} != stored {rec.snapshot_hash}")
            if rec.durable_tick < state.tick:
                raise RecoveryError(f"durable tick {rec.durable_tick} is before the snapshot's {state.tick}")
            replay(state, rec.journal, rec.durable_tick)
            if state.world is not None and state.world != world:
                raise RecoveryError(f"the snapshot and journal are of world {state.world}, "
                                    f"the store's meta says {world}: the store is corrupt")
            self.durable_tick = self.stepped_tick = state.tick
            self.pending.durable_tick = state.tick
            redo = [codec.decode_effect(e) for _, _, _, e in rec.outbox]
            # A world from before worlds had ids is named on its first tick
            # (journaled, so a replay names it at the same tick); its match
            # ids and keys so far stay as they were.
            feed = [I.WorldNamed(world)] if state.world is None else []
            feed += [x for _, blob in rec.inbox for x in codec.decode_inputs(blob)]
            feed += [I.PlayerDisconnected(w) for w in wallets_to_disconnect(state)]
            self.recovered = {
                "fresh": False,
                # written before worlds had ids: named now, its keys unchanged
                "legacy": state.world is None,
                "world": world,
                "snapshot_tick": rec.snapshot_tick,
                "replayed_ticks": state.tick - rec.snapshot_tick,
                "journal_rows": len(rec.journal),
                "tick": state.tick,
                "hash": state_hash(state),
                "redispatched": len(redo),
                "inbox_fed": len(rec.inbox),
                "matches": len(state.matches),
                "sessions": len(rec.sessions),
                "seconds": round(time.perf_counter() - t0, 3),
            }
            log.info("recovered", extra=self.recovered)
        if sessions is not None:
            self.track_sessions(sessions, rec.sessions)
        return state, redo, feed

    def track_sessions(self, registry, stored) -> None:
        registry.track()
        for sid, wallet, seq in stored:
            registry.restore(sid, wallet, seq, trio.current_time())
            self._session_seq[sid] = seq
        self.sessions = registry

    def health(self) -> dict:
        return {
            "store": self.store.health(),
            "durable_tick": self.durable_tick,
            "stepped_tick": self.stepped_tick,
            "lag_ticks": self.stepped_tick - self.durable_tick,
            "buffered_inputs": self.buffered_inputs,
            "journal_buffer_max": self.buffer_max,
            "shedding": self.shedding,
            "held_money_effects": len(self.held),
            "recovered": self.recovered,
            **self.stats,
        }
