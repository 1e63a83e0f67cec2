"""What watchers see, as a hypothesis state machine: joins (whole or
chunked), parts fetched in any order and interleaved with placements,
connections dropping and coming back, the next mode announced ahead,
operator and scheduled resets, each client modelled from the messages it is
sent, in the order it gets them. After every step:

- a connected watcher whose copy is complete (its join's bitmap, or every
  part since its join or since it was told to fetch again), with the open
  window's placements applied, equals the canvas: that holds after a
  connection came back too (it is sent the canvas's view and fetches again);
- a wallet away is sent nothing but the end of its week (`week_reset`,
  `mode_changed`), and is a watcher again when back;
- the week's mode after a scheduled reset is the one announced ahead;
- replaying the journal gives the same state hash.
"""

from __future__ import annotations

import zlib

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.engine.core import new_state
from arena.engine.outputs import Event, Reply
from arena.engine.registry import registry
from arena.modes.canvas import messages as M
from arena.modes.canvas.mode import RESET_RULE, WINDOW
from arena.persistence.durable import replay
from canvas_support import World, canvas_config, pixels_of

WALLETS = ("w1", "w2", "w3")


class Client:
    """One wallet's copy of the canvas, built only from what it is sent."""

    def __init__(self) -> None:
        self.copy: bytearray | None = None
        self.missing: set[int] = set()  # parts still to apply since the join or the last "fetch again"
        self.connected = True
        self.rids: dict[int, tuple] = {}  # rid -> what the request was


class WatchMachine(RuleBasedStateMachine):
    @initialize(window=st.sampled_from((1, 2)), tall=st.booleans())
    def begin(self, window, tall):
        # 200 x (tall: 30, else 12) with 1024-byte parts: 5 rows a part -> 6 or 3 parts
        self.w, self.h = 200, 30 if tall else 12
        self.config = canvas_config(width=self.w, height=self.h, cooldown_ms=0, broadcast_every_ticks=window,
                                    part_bytes=1024)
        self.world = World(self.config)
        self.clients = {wallet: Client() for wallet in WALLETS}
        self.rid = 10_000
        self.announced = ""
        self.at_ms = 0

    # --- driving the world; every message folded into the clients in order -----------------
    def _step(self, *inputs):
        for m in self.world.step(*inputs):
            if m.__class__ is Reply:
                for wallet, c in self.clients.items():
                    what = c.rids.pop(m.rid, None)
                    if what is not None:
                        self._reply(c, what, m)
            elif m.__class__ is Event:
                for wallet in m.to:
                    if wallet in self.clients:
                        self._event(self.clients[wallet], m)

    def _request(self, wallet, inp_cls, *args):
        self.rid += 1
        self.clients[wallet].rids[self.rid] = (inp_cls, *args)
        self._step(inp_cls(f"s-{wallet}", self.rid, wallet, *args))

    def _reply(self, c: Client, what, r) -> None:
        kind = what[0]
        if kind is M.CanvasJoin and r.ok:
            b = r.body
            if what[1]:  # chunked
                assert b["bitmap"] == b""
                c.copy = bytearray(b["width"] * b["height"])
                c.missing = set(range(b["parts"]))
            else:
                c.copy = bytearray(zlib.decompress(b["bitmap"]))
                c.missing = set()
        elif kind is M.CanvasBitmap and r.ok and c.copy is not None:
            b = r.body
            c.copy[b["y"] * self.w:(b["y"] + b["rows"]) * self.w] = zlib.decompress(b["bitmap"])
            c.missing.discard(b["part"])

    def _event(self, c: Client, ev) -> None:
        # Away, a wallet is sent only the end of its week (kept for its resume).
        assert c.connected or ev.type in ("week_reset", "mode_changed"), f"{ev.type} sent to a wallet away"
        if ev.type == "canvas:pixels" and c.copy is not None:
            for x, y, color in pixels_of(ev.body):
                c.copy[y * self.w + x] = color
        elif ev.type == "match.snapshot" and ev.body["match"] == WINDOW:
            c.missing = set(range(ev.body["state"]["parts"]))  # fetch again
        elif ev.type == "week_reset":
            c.copy, c.missing = None, set()
        elif ev.type == "mode_changed" and ev.body["starts_at_ms"] > self.world.now_ms:
            self.announced = ev.body["mode"]

    # --- rules --------------------------------------------------------------------------
    @rule(wallet=st.sampled_from(WALLETS), chunked=st.booleans())
    def join(self, wallet, chunked):
        if self.clients[wallet].connected:
            self._request(wallet, M.CanvasJoin, chunked)

    @rule(wallet=st.sampled_from(WALLETS), data=st.data())
    def fetch_a_part(self, wallet, data):
        c = self.clients[wallet]
        if c.connected and c.missing:
            self._request(wallet, M.CanvasBitmap, data.draw(st.sampled_from(sorted(c.missing))))

    @rule(wallet=st.sampled_from(WALLETS), x=st.integers(0, 199), y=st.integers(0, 29), color=st.integers(0, 31))
    def place(self, wallet, x, y, color):
        if self.clients[wallet].connected:
            self._request(wallet, M.CanvasPlace, x, y % self.h, color)

    @rule()
    def tick(self):
        self._step()

    @rule(wallet=st.sampled_from(WALLETS))
    def connection_drops(self, wallet):
        c = self.clients[wallet]
        if c.connected:
            c.connected = False
            c.rids.clear()
            self._step(I.PlayerDisconnected(wallet))
            assert wallet not in self.world.canvas.watchers

    @rule(wallet=st.sampled_from(WALLETS))
    def connection_is_back(self, wallet):
        c = self.clients[wallet]
        if not c.connected:
            was = wallet in self.world.canvas.away
            c.connected = True
            self._step(I.PlayerReconnected(wallet))
            if was:  # told to fetch the canvas again
                assert wallet in self.world.canvas.watchers and c.missing

    @precondition(lambda self: self.world.canvas.seq > 0)
    @rule()
    def announce(self):
        mode = registry.get("canvas")
        for r in mode.schedules(self.world.state.config.modes["canvas"], self.world.canvas):
            if r.kind == "once":
                self._step(I.ScheduleFired("canvas", r.name, r.instant_ms, "on_time"))
                assert self.world.canvas.next_mode

    @precondition(lambda self: self.world.canvas.seq > 0)
    @rule()
    def scheduled_reset(self):
        told = self.world.canvas.next_mode
        self.at_ms = max(self.at_ms, self.world.now_ms) + 1
        self._step(I.ScheduleFired("canvas", RESET_RULE, self.at_ms, "late", 1))
        if told:
            assert self.world.canvas.mode == told  # the announced mode is the one played

    @rule(mode=st.sampled_from(("", "classic", "mono")))
    def operator_reset(self, mode):
        self._step(M.CanvasReset("s-op", 1, "key:op", mode))

    @rule()
    def journal_replays_to_the_same_hash(self):
        fresh = new_state(self.config)
        replay(fresh, self.world.journal, self.world.tick)
        assert state_hash(fresh) == state_hash(self.world.state)

    # --- the model ----------------------------------------------------------------------
    @invariant()
    def complete_copies_equal_the_canvas(self):
        c = self.world.canvas
        for wallet, client in self.clients.items():
            if not client.connected:
                assert wallet not in c.watchers
                continue
            if client.copy is None or client.missing or wallet not in c.watchers:
                continue
            expected = bytearray(client.copy)
            for x, y, color in pixels_of({"pixels": bytes(c.pending)}):
                expected[y * self.w + x] = color
            assert expected == c.pixels, wallet


TestWatchMachine = WatchMachine.TestCase
TestWatchMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
