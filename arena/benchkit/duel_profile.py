"""In-process profile of the duel workload: the server's Python cost per input, by stage.

The socket-level `duel` scenario measures the whole server, system calls and
scheduling included, and its figures move with the host. This measure runs
the same per-reaction code with no sockets, so its numbers are steady enough
to compare one change with the next:

- **read**: `Gateway._on_message` from the unmasked payload of a
  `reaction.send` frame (decode, envelope and request checks, both rate
  limits, the input), i.e. what the hub runs after `recv` and frame parsing;
- **step**: `core.step` over the tick's inputs;
- **deliver**: `Gateway.deliver` (replies and events encoded, numbered per
  session, queued per connection);
- **flush**: `Gateway.flush` with connections whose `send_message` only
  counts (the real one adds one `send` system call per frame);
- **journal**: `ServerPersistence.record_tick` (inputs encoded for the store,
  records, sessions), the store itself not written.

N battles are built through the engine's own inputs (as `idle_engine`), with
a real `ArenaServer` (embedded ledger and judge, an in-memory store that is
never opened) and two logged-in connections per battle. Each tick every
player sends `reaction.send` with probability `rate / tick_hz`, like the
socket bench's players at `--rate`.
"""

from __future__ import annotations

import gc
import random
import time

import attrs

from arena.engine import core
from arena.engine import inputs as I

# `bench profile --baseline` runs this file against another checkout, which
# may be from before modes were packages: take roast's inputs and settings
# from where that checkout has them.
try:
    from arena.modes.roast import messages as R
except ImportError:  # a checkout from before the mode registry
    R = I


STAGES = ("read", "step", "deliver", "flush", "journal")


class _CountingWs:
    """Stands in for `arena.net.ws.WsConn`: counts frames instead of sending them."""

    __slots__ = ("frames", "bytes", "peer", "close_code", "dead")

    def __init__(self):
        self.frames = 0
        self.bytes = 0
        self.peer = "in-process"
        self.close_code = None
        self.dead = False

    def send_message(self, payload: bytes) -> bool:
        self.frames += 1
        self.bytes += len(payload)
        return True


class _Clock:
    """The hub's `now` (read once per socket batch by the gateway's rate limits)."""

    now = 0.0


def build(n_matches: int, tick_hz: int = 20):
    from arena.config import default_config
    from arena.net import codec
    from arena.net.gateway import Connection
    from arena.persistence.memory import MemoryStore
    from arena.server import ArenaServer

    cfg = default_config()
    modes = getattr(cfg.engine, "modes", None)
    roast = attrs.evolve(modes["roast"] if modes is not None else cfg.engine.roast, countdown_ms=0,
                         time_limit_ms=3_600_000, entry_deadline_ms=3_600_000, prompt_timeout_ms=3_600_000)
    engine = attrs.evolve(cfg.engine, tick_hz=tick_hz, seed=11)
    engine = engine.with_mode("roast", roast) if modes is not None else attrs.evolve(engine, roast=roast)
    cfg = attrs.evolve(cfg, engine=engine)
    if hasattr(cfg.server, "apply_on_arrival"):
        # Stage by stage: the inputs wait for `core.step` as with apply on
        # arrival off; with it on the same calls run, only earlier.
        cfg = attrs.evolve(cfg, server=attrs.evolve(cfg.server, apply_on_arrival=False))
    server = ArenaServer(cfg, store=MemoryStore())
    state, gw = server.state, server.gateway
    clock = _Clock()
    gw.server = clock

    wallets = [f"W{i:06d}" for i in range(2 * n_matches)]
    conns = {}
    for i, w in enumerate(wallets):
        conn = Connection(gw, _CountingWs(), 0.0, i + 1)
        gw.conns.add(conn)
        gw._attach(conn, gw.sessions.create(w))
        conns[w] = conn
    server.pending.clear()  # the PlayerReconnected facts of the attach: nobody was disconnected
    tick = state.tick

    def step(inputs):
        nonlocal tick
        tick += 1
        return core.step(state, tick, inputs)

    joins = [I.QueueJoin(conns[w].addr, 1, w, "roast", "bronze") for w in wallets]
    step(joins)
    step([I.EntryFeePaid(mid, p, m.entry_fee, f"pay-{mid}-{p}")
          for mid, m in state.matches.items() for p in m.players])
    step([R.PromptGenerated(mid, r, f"prompt {r}") for mid in state.matches for r in (1, 2, 3)])
    for _ in range(3):
        step([])
    gw.dirty.clear()
    for conn in conns.values():
        conn.outbox = []
    players = []
    for mid, m in state.matches.items():
        for p in m.players:
            frame = codec.pack([0, 7, "reaction.send", {"match": mid, "emoji": "\U0001f525"}])
            players.append((conns[p], _Ws(conns[p]), frame))
    phases = sorted({m.phase for m in state.matches.values()})
    return server, clock, players, phases


def measure(n_matches: int, ticks: int = 200, rate: float = 10.0, tick_hz: int = 20, seed: int = 1) -> dict:
    server, clock, players, phases = build(n_matches, tick_hz)
    state, gw, persistence = server.state, server.gateway, server.persistence
    on_message = gw._on_message
    rng = random.Random(seed)
    p_send = rate / tick_hz
    stages = dict.fromkeys(STAGES, 0.0)
    clock_ = time.thread_time
    n_inputs = frames = 0
    gc.collect()
    gc.freeze()
    old_threshold = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)  # as `python -m arena serve` runs
    for t in range(ticks):
        clock.now = 1.0 + t / tick_hz  # the gateway reads 0.0 as "no hub clock"
        senders = [(w, f) for _, w, f in players if rng.random() < p_send]
        c0 = clock_()
        for ws, frame in senders:
            on_message(ws, frame, False)
        c1 = clock_()
        inputs, server.pending = server.pending, []
        msgs, effects = core.step(state, state.tick + 1, inputs)
        c2 = clock_()
        gw.deliver(msgs)
        c3 = clock_()
        gw.flush()
        c4 = clock_()
        persistence.record_tick(state, inputs, msgs, effects)
        c5 = clock_()
        persistence.durability.pending = type(persistence.durability.pending)()  # nothing is written
        stages["read"] += c1 - c0
        stages["step"] += c2 - c1
        stages["deliver"] += c3 - c2
        stages["flush"] += c4 - c3
        stages["journal"] += c5 - c4
        n_inputs += len(inputs)
    gc.set_threshold(*old_threshold)
    gc.unfreeze()
    errors = gw.stats.get("bad_frames", 0)
    accepted = sum(sum(m.reactions.values()) for m in state.matches.values())
    for conn, _, _ in players:
        frames += conn.ws.frames
    per = {k: round(v / max(1, n_inputs) * 1e6, 2) for k, v in stages.items()}
    return {
        "matches": len(state.matches),
        "phases": phases,
        "ticks": ticks,
        "inputs": n_inputs,
        "frames": frames,
        "accepted": accepted,  # reactions the engine counted: every input, unless one was refused
        "bad_frames": errors,
        "us_per_input": per,
        "us_per_input_total": round(sum(per.values()), 2),
        "frames_per_input": round(frames / max(1, n_inputs), 3),
    }


class _Ws:
    """The `ws` argument of `Gateway._on_message`: only its `owner` is read."""

    __slots__ = ("owner",)

    def __init__(self, conn):
        self.owner = conn
