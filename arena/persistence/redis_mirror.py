"""Redis: an accelerator and the shared state for several nodes, never the truth.

With `[redis] url` set, `RedisMirror` keeps these keys (`[redis]
key_prefix` is put in front of each, e.g. per deployment or per test run);
what a mode shows is the mode's to say (`Mode.mirror_queues`,
`Mode.quiet_events`, `Mode.winner_of`, `Mode.boards`, `Mode.mirror_ops`,
`Mode.mirror_state`):

| key | type | what |
|---|---|---|
| `session:{wallet}` | hash session id -> seq, TTL `session_ttl_ms` | the wallet's resumable sessions |
| `ratelimit:{wallet}:{action}` | counter, TTL 2 s | requests of one kind per wallet per second, summed over connections and nodes |
| `matchmaking:{queue}` | sorted set wallet -> position | a mode's queue (by the name the mode gives it), in order |
| `battle:{id}` | hash | a live match: mode, tier, phase, round, players, entry fee, scores, tick (the fields it has) |
| `leaderboard` | sorted set wallet -> wins | copied from the store's leaderboard on a schedule, bumped on each win |
| `board:{board}:{period key}` | sorted set wallet -> score | every mode's boards (`Mode.boards`), "all" and the current week: bumped from each tick's events as the store's are, and rewritten from the store's top `BOARD_ROWS` on the leaderboard schedule |
| a mode's own keys | any | what `Mode.mirror_ops` / `Mode.mirror_state` say (documented with the mode) |

Everything is mirrored from the engine state and the store after the fact;
nothing is read back into the engine. (A cluster's keys, which are read:
the shared queues, seats, registry, directory, are `arena.persistence.
cluster`'s, under `cluster:`.) Redis calls run on a dedicated asyncio
thread (`redis.asyncio`, via `aiobridge`), batched in one pipeline per
flush, so the tick loop never waits on Redis. If Redis is unreachable the
mirror drops what it had queued, reports the failure to its supervisor
(health: degraded / circuit open), keeps probing, and when Redis answers
again rewrites every key from the current state. Sessions and rate limits
then fall back to the process (they always are decided there first), so
losing Redis loses neither money nor battles.
"""

from __future__ import annotations

import logging
import time

import trio

from arena.engine.clock import now_ms
from arena.engine.outputs import Event
from arena.engine.periods import period_keys
from arena.engine.registry import registry
from arena.supervisor import Supervisor

from .aiobridge import AsyncioThread

log = logging.getLogger("arena.redis")

PROBE_S = 1.0
SESSION_SYNC_S = 5.0
LEADERBOARD_SYNC_S = 30.0
MAX_QUEUED_OPS = 50_000
BOARD_ROWS = 1000  # rows of each board rewritten from the store on the leaderboard schedule
# The operations a mode's `mirror_ops` / `mirror_state` may give, keys
# relative to the prefix: ("set", key, bytes or str), ("setranges", key,
# [(offset, bytes), ...]), ("hset", key, {field: value}), ("delete", key),
# ("zincrby", key, amount, member), and in `mirror_state` only ("clear",
# pattern): delete every key matching it before the rest is written.
MODE_OPS = frozenset({"set", "setranges", "hset", "delete", "zincrby", "clear"})
# Events that change nothing a match hash shows (and can be frequent): the
# framework's, and each mode's `quiet_events`.
FRAMEWORK_QUIET_EVENTS = frozenset({"match.snapshot"})


def quiet_events() -> frozenset:
    out = set(FRAMEWORK_QUIET_EVENTS)
    for mode in registry.modes().values():
        out |= mode.quiet_events
    return frozenset(out)


def mode_queues(state) -> dict:
    """{queue name: wallets in order} over every mode (`Mode.mirror_queues`)."""
    out = {}
    for name, shared in state.modes.items():
        mode = registry.get(name)
        if mode is not None and shared is not None:
            out.update(mode.mirror_queues(shared))
    return out


class WalletRateLimits:
    """Requests of one kind per wallet per second, over all its connections (and nodes).

    Decided in the process, synchronously: `take(wallet, action)` counts the
    request and says whether it fits in `limit(action)` for the current
    second. With Redis, each second's local counts are added to
    `ratelimit:{wallet}:{action}` and the other nodes' counts come back, so
    the limit holds across nodes (to within one flush); without Redis it is
    this process's count alone.
    """

    def __init__(self, limits: dict[str, int], default: int, clock=time.monotonic):
        self.limits = limits
        self.default = default
        self.clock = clock
        self.window = -1
        self.local: dict[tuple[str, str], int] = {}
        self.remote: dict[tuple[str, str], int] = {}  # other nodes' counts this second
        self.unsent: dict[tuple[str, str], int] = {}
        self.shared = False  # set by the Redis mirror that sends `unsent` to the other nodes
        self.refused = 0

    def limit(self, action: str) -> int:
        return self.limits.get(action, self.default)

    def take(self, wallet: str, action: str) -> int:
        """0 if allowed, else milliseconds to wait."""
        now = self.clock()
        w = int(now)
        if w != self.window:
            self.window, self.local, self.remote, self.unsent = w, {}, {}, {}
        k = (wallet, action)
        local = self.local
        mine = local.get(k, 0)
        n = mine + self.remote.get(k, 0) if self.remote else mine
        if n >= self.limit(action):
            self.refused += 1
            return max(1, int((w + 1 - now) * 1000))
        local[k] = mine + 1
        if self.shared:  # only a Redis mirror reads what is not yet sent
            self.unsent[k] = self.unsent.get(k, 0) + 1
        return 0


class RedisMirror:
    def __init__(self, url: str, *, ttl_ms: int = 300_000, prefix: str = "", bridge: AsyncioThread | None = None):
        self.url = url
        self.ttl_s = max(1, ttl_ms // 1000)
        self.prefix = prefix
        self.bridge = bridge or AsyncioThread("arena-redis")
        self.supervisor = Supervisor("redis", failure_threshold=2, reset_after=2.0, backoff_max=2.0)
        self.client = None
        self.ops: list[tuple] = []
        self.resync = True  # write everything from the state at the next chance
        self.dirty_matches: set[str] = set()
        self.last_queues: dict = {}
        self.quiet = quiet_events()
        self.modes: list | None = None
        self.server = None
        self.rate_limits: WalletRateLimits | None = None
        self.week_zone = "UTC"  # the boards' week ([leaderboards] week_zone), from the server at start
        self._wake = trio.Event()
        self._last_sessions = 0.0
        self._last_leaderboard = 0.0
        self.connected = False
        self.stats = {"flushes": 0, "ops": 0, "dropped_ops": 0, "resyncs": 0, "failures": 0}

    def k(self, key: str) -> str:
        return self.prefix + key

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self, nursery, server) -> None:
        self.server = server
        boards_cfg = getattr(getattr(server, "cfg", None), "leaderboards", None)
        if boards_cfg is not None:
            self.week_zone = boards_cfg.week_zone
        self.bridge.start()
        nursery.start_soon(self.supervisor.run, self._run)

    async def _client(self):
        import redis.asyncio as aredis

        if self.client is None:
            self.client = aredis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        return self.client

    async def _run(self) -> None:
        while True:
            with trio.move_on_after(PROBE_S):
                await self._wake.wait()
            self._wake = trio.Event()
            try:
                await self.flush()
            except Exception as exc:
                self.connected = False
                self.stats["failures"] += 1
                self.resync = True
                self.stats["dropped_ops"] += len(self.ops)
                self.ops = []
                log.warning("redis unreachable; degraded (sessions and rate limits in-process)",
                            extra={"error": str(exc)[:200]})
                raise

    # --- collecting ----------------------------------------------------------------------
    def record_tick(self, state, messages) -> None:
        quiet = self.quiet
        if self.modes is None:
            self.modes = list(registry.modes().values())
        for m in messages:
            if type(m) is Event and m.type not in quiet:
                mid = m.body.get("match")
                if mid is not None:
                    self.dirty_matches.add(mid)
                for mode in self.modes:  # the match may be gone already: ask each mode
                    winner = mode.winner_of(m)
                    if winner:
                        self._op("zincrby", self.k("leaderboard"), 1, winner)
                        break
        if self.dirty_matches:
            for mid in self.dirty_matches:
                match = state.matches.get(mid)
                if match is None:
                    self._op("delete", self.k(f"battle:{mid}"))
                else:
                    self._op("hset", self.k(f"battle:{mid}"), _battle_fields(match, state.tick))
            self.dirty_matches.clear()
        for queue, order in mode_queues(state).items():
            if self.last_queues.get(queue) != order:
                self.last_queues[queue] = order
                self._op("queue", self.k(f"matchmaking:{queue}"), order)
        if messages:
            self._mode_ops(state, messages)
        if self.ops:
            self._wake.set()

    def _mode_ops(self, state, messages) -> None:
        """Each mode's own keys (`mirror_ops`) and the points of its boards
        (computed as the store's `board_ops` are, so both count alike)."""
        from .durable import board_ops

        for mode in self.modes:
            shared = state.modes.get(mode.name)
            if shared is not None:
                for op in mode.mirror_ops(shared, messages):
                    self._mode_op(op)
            if mode.boards:
                for _, board, key, wallet, points, _source in board_ops(
                        mode.boards, state, state.tick, messages, self.week_zone):
                    self._op("zincrby", self.k(f"board:{board}:{key}"), points, wallet)

    def _mode_op(self, op: tuple) -> None:
        if op[0] not in MODE_OPS or op[0] == "clear":
            raise ValueError(f"a mode's mirror_ops gave {op[0]!r}: not one of {sorted(MODE_OPS - {'clear'})}")
        self._op(op[0], self.k(op[1]), *op[2:])

    def _op(self, *op) -> None:
        if len(self.ops) >= MAX_QUEUED_OPS:
            self.stats["dropped_ops"] += 1
            self.resync = True
            return
        self.ops.append(op)

    # --- writing ---------------------------------------------------------------------------
    async def flush(self) -> None:
        ops, self.ops = self.ops, []
        now = time.monotonic()
        full = self.resync
        if full:
            ops = self._everything()
        sessions = None
        reg = getattr(getattr(self.server, "gateway", None), "sessions", None)
        if reg is not None and (full or now - self._last_sessions >= SESSION_SYNC_S):
            self._last_sessions = now
            sessions = {}
            for s in reg.by_id.values():
                sessions.setdefault(s.wallet, {})[s.id] = s.seq
        rl = self.rate_limits
        counts = dict(rl.unsent) if rl is not None else {}
        window = rl.window if rl is not None else 0
        if rl is not None:
            rl.unsent = {}
        board = None
        boards: dict | None = None
        if full or now - self._last_leaderboard >= LEADERBOARD_SYNC_S:
            self._last_leaderboard = now
            try:
                board = await self.server.persistence.store.query("leaderboard")
            except Exception:  # noqa: BLE001 - the store has its own health
                board = None
            boards = await self._boards_from_store()
        remote = await self.bridge.call(self._apply, ops, sessions, counts, board, full, boards)
        if rl is not None and rl.window == window:
            for key, total in remote.items():
                rl.remote[key] = max(0, total - rl.local.get(key, 0))
        if full:
            self.resync = False
            self.stats["resyncs"] += 1
        if not self.connected:
            log.info("redis connected", extra={"resync": full})
        self.connected = True
        self.stats["flushes"] += 1
        self.stats["ops"] += len(ops)
        self.supervisor.record_success()

    def _everything(self) -> list[tuple]:
        state = self.server.state
        ops: list[tuple] = [("clear_battles",)]
        for mid, match in state.matches.items():
            ops.append(("hset", self.k(f"battle:{mid}"), _battle_fields(match, state.tick)))
        for queue, order in mode_queues(state).items():
            self.last_queues[queue] = order
            ops.append(("queue", self.k(f"matchmaking:{queue}"), order))
        for mode in registry.modes().values():
            shared = state.modes.get(mode.name)
            if shared is None:
                continue
            for op in mode.mirror_state(shared):
                if op[0] not in MODE_OPS:
                    raise ValueError(f"a mode's mirror_state gave {op[0]!r}: not one of {sorted(MODE_OPS)}")
                ops.append((op[0], self.k(op[1]), *op[2:]))
        return ops

    async def _boards_from_store(self) -> dict | None:
        """{redis key: {wallet: score}}: the top `BOARD_ROWS` of every mode's
        board in each period now, or None when the store cannot answer."""
        state = self.server.state
        keys = period_keys(now_ms(state, state.tick), self.week_zone)
        out = {}
        try:
            for mode in registry.modes().values():
                for name in mode.boards:
                    for key in keys:
                        rows = await self.server.persistence.store.leaderboard(name, key, BOARD_ROWS)
                        out[self.k(f"board:{name}:{key}")] = {row["wallet"]: row["score"] for row in rows}
        except Exception:  # noqa: BLE001 - the store has its own health
            return None
        return out

    async def _apply(self, ops, sessions, counts, board, full, boards=None) -> dict:
        r = await self._client()
        if full:
            # battles that ended while Redis was away
            stale = [key async for key in r.scan_iter(match=self.k("battle:*"), count=500)]
            live = {op[1] for op in ops if op[0] == "hset"}
            gone = [key for key in stale if key.decode() not in live]
            if gone:
                await r.delete(*gone)
            for op in ops:  # a mode's keys of what ended while Redis was away
                if op[0] == "clear":
                    stale = [key async for key in r.scan_iter(match=op[1], count=500)]
                    if stale:
                        await r.delete(*stale)
        pipe = r.pipeline(transaction=False)
        for op in ops:
            kind = op[0]
            if kind == "hset":
                pipe.delete(op[1])
                pipe.hset(op[1], mapping=op[2])
            elif kind == "delete":
                pipe.delete(op[1])
            elif kind == "queue":
                pipe.delete(op[1])
                if op[2]:
                    pipe.zadd(op[1], {w: i for i, w in enumerate(op[2])})
            elif kind == "zincrby":
                pipe.zincrby(op[1], op[2], op[3])
            elif kind == "set":
                pipe.set(op[1], op[2])
            elif kind == "setranges":
                for offset, data in op[2]:
                    pipe.setrange(op[1], offset, data)
        if sessions is not None:
            for wallet, by_id in sessions.items():
                key = self.k(f"session:{wallet}")
                pipe.hset(key, mapping=by_id)
                pipe.expire(key, self.ttl_s)
        positions = {}
        for (wallet, action), n in counts.items():
            key = self.k(f"ratelimit:{wallet}:{action}")
            positions[(wallet, action)] = len(pipe)
            pipe.incrby(key, n)
            pipe.expire(key, 2)
        for key, scores in (boards or {}).items():
            pipe.delete(key)
            if scores:
                pipe.zadd(key, scores)
        if board is not None:
            key = self.k("leaderboard")
            pipe.delete(key)
            if board:
                pipe.zadd(key, {row["wallet"]: row["wins"] for row in board})
        if len(pipe):
            results = await pipe.execute()
        else:
            results = []
            await r.ping()  # nothing to write: still find out whether Redis is there
        # each INCRBY answers the total over every node for this second
        totals = {k: int(results[i]) for k, i in positions.items()}
        return totals

    # --- health ----------------------------------------------------------------------------
    def health(self) -> dict:
        return {
            "connected": self.connected,
            "state": self.supervisor.state,
            "fallback": "in-process sessions and rate limits" if not self.connected else None,
            "queued_ops": len(self.ops),
            **self.stats,
        }


def _battle_fields(match, tick: int) -> dict:
    players = list(getattr(match, "players", []))
    totals = getattr(match, "totals", {})
    fields = {
        "mode": match.mode,
        "tier": getattr(match, "tier", ""),
        "phase": getattr(match, "phase", ""),
        "round": getattr(match, "round", 0),
        "entry_fee": getattr(match, "entry_fee", 0),
        "tick": tick,
    }
    for i, p in enumerate(players[:2], 1):
        fields[f"player{i}"] = p
        fields[f"score{i}"] = totals.get(p, 0)
    return fields
