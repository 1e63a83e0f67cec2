"""The canvas as a hypothesis state machine: joins, placements (in bounds or
not), time passing, operator and scheduled resets, in any order, checked
against a model after every step:

- the canvas equals colour 0 overwritten, in order, by every placement of
  the week's `canvas:pixels` events (as a client replays them), then the
  pending ones;
- no placement is accepted inside its wallet's cooldown, and none is refused
  outside it (`retry_after_ms` is exactly the rest of the cooldown);
- replaying the journal (`arena.persistence.durable.replay`) from a fresh
  state, and a snapshot round trip, give the same state hash.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.engine.core import new_state
from arena.modes.canvas.mode import RESET_RULE
from arena.modes.canvas.settings import GAME_MODES
from arena.persistence import codec
from arena.persistence.durable import replay
from canvas_support import World, canvas_config, pixels_of

WALLETS = ("w1", "w2", "w3", "key:agent")
W, H = 5, 4


class CanvasMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = None

    @initialize(window=st.sampled_from((1, 2, 3)))
    def begin(self, window):
        """A world whose broadcast windows last `window` ticks."""
        self.config = canvas_config(width=W, height=H, cooldown_ms=300, broadcast_every_ticks=window)
        self.world = World(self.config)
        self.seen = 0  # messages of self.world.events already folded into the model
        self.replayed = bytearray(W * H)  # what a watcher rebuilds from the events
        self.seq = 0
        self.last_ok: dict[str, int] = {}  # wallet -> engine ms of its last accepted placement
        self.joined: set[str] = set()
        self.cells: dict[str, set] = {}  # wallet -> cells it placed this week (territory's rule)
        self.placed = 0  # placements accepted this week
        self.at_ms = 0  # the next schedule occurrence fed

    # --- rules ------------------------------------------------------------------------
    @rule(wallet=st.sampled_from(WALLETS))
    def join(self, wallet):
        r = self.world.join(wallet)
        assert r.ok and r.body["width"] == W
        self.joined.add(wallet)

    @rule(wallet=st.sampled_from(WALLETS), x=st.integers(-1, W), y=st.integers(-1, H),
          color=st.integers(-1, 33))
    def place(self, wallet, x, y, color):
        c = self.world.canvas
        r = self.world.place(wallet, x, y, color)
        now = self.world.now_ms
        if wallet not in self.joined:
            assert r.body["code"] == "wrong_state"
        elif not (0 <= x < W and 0 <= y < H and 0 <= color < len(c.palette)):
            assert r.body["code"] == "bad_request"
        elif wallet in self.last_ok and now < self.last_ok[wallet] + 300:
            assert r.body["code"] == "cooldown_active"
            assert r.body["retry_after_ms"] == self.last_ok[wallet] + 300 - now
        elif GAME_MODES[c.mode].adjacent and self.cells.get(wallet) and not any(
                (x + dx, y + dy) in self.cells[wallet] for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))):
            assert r.body["code"] == "not_allowed"  # territory: only next to its own pixels
        else:
            assert r.ok, r.body
            assert wallet not in self.last_ok or now >= self.last_ok[wallet] + 300  # never inside a cooldown
            self.last_ok[wallet] = now
            self.placed += 1
            self.cells.setdefault(wallet, set()).add((x, y))

    @rule(ms=st.sampled_from((50, 100, 250, 300, 1_000)))
    def time_passes(self, ms):
        self.world.advance_ms(ms)
        self.world.step()

    @rule()
    def idle_tick(self):
        self.world.step()

    @rule(mode=st.sampled_from(("", *GAME_MODES)))
    def operator_reset(self, mode):
        r = self.world.reset("key:op", mode)
        assert r.ok and (not mode or r.body["mode"] == mode)
        self._week_over()

    @precondition(lambda self: self.world.canvas.seq > 0)
    @rule()
    def scheduled_reset(self):
        self.at_ms = max(self.at_ms, self.world.now_ms) + 1
        self.world.step(I.ScheduleFired("canvas", RESET_RULE, self.at_ms, "late", 1))
        self._week_over()

    @rule()
    def journal_replays_to_the_same_hash(self):
        fresh = new_state(self.config)
        replay(fresh, self.world.journal, self.world.tick)
        assert state_hash(fresh) == state_hash(self.world.state)
        back = codec.load_snapshot(codec.dump_snapshot(self.world.state))
        assert state_hash(back) == state_hash(self.world.state)
        assert type(back.modes["canvas"].pixels) is bytearray

    def _week_over(self):
        self.joined.clear()
        self.last_ok.clear()
        self.cells.clear()
        self.placed = 0

    # --- the model --------------------------------------------------------------------
    @invariant()
    def canvas_is_the_replay_of_its_events(self):
        if self.world is None:
            return
        c = self.world.canvas
        events = self.world.events
        for ev in events[self.seen:]:
            # (a reset sends the ending week's last window before it begins
            # the next: folded into the old week, then dropped below)
            if ev.type == "canvas:pixels":
                for x, y, color in pixels_of(ev.body):
                    self.replayed[y * W + x] = color
        self.seen = len(events)
        if c.seq != self.seq:
            self.seq = c.seq
            self.replayed = bytearray(W * H)
        expected = bytearray(self.replayed)
        for x, y, color in pixels_of({"pixels": bytes(c.pending)}):
            expected[y * W + x] = color
        if c.seq:
            assert c.pixels == expected
            assert c.placed == self.placed
        assert set(c.watchers) == self.joined


TestCanvasMachine = CanvasMachine.TestCase
TestCanvasMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
