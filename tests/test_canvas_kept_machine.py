"""What is kept of a canvas, as a hypothesis state machine: joins,
placements, comments, time, operator and scheduled resets and the archive
side task's answers (repeated, late, for unknown canvases), in any order.
Every tick's records are applied to the canvas's in-memory tables exactly
as the store applies them, and after every step:

- the pixel log of the live canvas, then the pending placements, replayed
  onto a blank canvas give the canvas; every archived canvas's log replayed
  gives its archived bitmap;
- each wallet's objective progress is the number of its placements this
  week that count for the objective, capped at the target, and the
  completions recorded are exactly the wallets at the target;
- the archives in the state and in the tables are the same canvases, their
  URLs set once, by the first answer;
- every accepted comment is either waiting for its moderation verdict or
  recorded, exactly once; the comments shown are exactly the recorded ones
  not flagged whose verdict came in their own week;
- replaying the journal from a fresh state gives the same state hash.
"""

from __future__ import annotations

import zlib

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.engine.core import new_state
from arena.modes.canvas import messages as M
from arena.modes.canvas import tables
from arena.modes.canvas.mode import RESET_RULE
from arena.modes.canvas.objectives import OBJECTIVES
from arena.persistence.durable import mode_records, replay
from canvas_support import World, canvas_config

WALLETS = ("w1", "w2", "key:agent")
W, H = 5, 4


class RecordingWorld(World):
    """Applies every tick's canvas records to `self.tables`, as the memory store does."""

    def __init__(self, config):
        self.tables: dict = {}
        super().__init__(config)

    def step(self, *inputs):
        messages = super().step(*inputs)
        for op in mode_records(self.state, self.tick, messages, {}):
            if op[0] == "mode_op" and op[1] == "canvas":
                tables.memory_apply(self.tables, op[2])
        return messages


class KeptMachine(RuleBasedStateMachine):
    @initialize(window=st.sampled_from((1, 3)), log_weeks=st.sampled_from((0, 2)), moderate=st.booleans())
    def begin(self, window, log_weeks, moderate):
        self.config = canvas_config(width=W, height=H, cooldown_ms=0, broadcast_every_ticks=window,
                                    objectives_per_week=6, pixel_log_weeks=log_weeks, comment_cooldown_ms=0,
                                    moderate_comments=moderate)
        self.accepted: list[str] = []  # comment ids answered ok
        self.expect_shown: set[str] = set()
        self.log_weeks = log_weeks
        self.world = RecordingWorld(self.config)
        self.week: list[tuple[str, int, int, int]] = []  # placements accepted this week
        self.answered: dict[int, str] = {}  # canvas number -> the image URL of its first answer
        self.at_ms = 0
        self.answers = 0

    def q(self, name, *params):
        return tables.memory_query(self.world.tables, name, *params)

    # --- rules ------------------------------------------------------------------------
    @rule(wallet=st.sampled_from(WALLETS))
    def join(self, wallet):
        assert self.world.join(wallet).ok

    @rule(wallet=st.sampled_from(WALLETS), x=st.integers(-1, W), y=st.integers(-1, H),
          color=st.sampled_from((0, 6, 13, 40)))
    def place(self, wallet, x, y, color):
        seq = self.world.canvas.seq
        r = self.world.place(wallet, x, y, color)
        if r.ok:
            assert self.world.canvas.seq == seq
            self.week.append((wallet, x, y, color))

    @rule(data=st.data(), text=st.sampled_from(("hi", "hi", "hi", "", "x" * 300, "ok\x00")),
          at=st.sampled_from((None, None, (1, 1), (W, 0))),
          stranger=st.sampled_from((False, False, False, True)))
    def comment(self, data, text, at, stranger):
        """A comment, mostly by a watcher (a stranger's is refused: `wrong_state`)."""
        watching = list(self.world.canvas.watchers)
        wallet = data.draw(st.sampled_from(WALLETS if stranger or not watching else watching))
        x, y = at if at else (None, None)
        before = self.world.canvas.comments
        r = self.world.request(M.CanvasComment, wallet, text, x, y)
        assert r.ok == (self.world.canvas.comments == before + 1)
        if r.ok:
            assert text == "hi" and at != (W, 0)
            self.accepted.append(r.body["id"])
            if not self.config.modes["canvas"].moderate_comments:
                self.expect_shown.add(r.body["id"])  # not moderated: shown at once

    @precondition(lambda self: self.world.canvas.held_comments)
    @rule(data=st.data(), flagged=st.booleans(), again=st.booleans())
    def moderation_verdict(self, data, flagged, again):
        held = self.world.canvas.held_comments
        cid = data.draw(st.sampled_from(sorted(held)))
        week = held[cid]["seq"] == self.world.canvas.seq
        verdict = M.CommentModerated(M.moderation_key(self.world.state.world, cid), cid, flagged, (), "judge")
        self.world.step(verdict)
        if again:
            self.world.step(verdict)  # a re-dispatch's second answer
        if week and not flagged:
            self.expect_shown.add(cid)

    @rule(ms=st.sampled_from((50, 250, 1_000)))
    def time_passes(self, ms):
        self.world.advance_ms(ms)
        self.world.step()

    @rule(mode=st.sampled_from(("", "speed", "mono")))
    def operator_reset(self, mode):
        assert self.world.reset("key:op", mode).ok
        self.week = []

    @precondition(lambda self: self.world.canvas.seq > 0)
    @rule()
    def scheduled_reset(self):
        self.at_ms = max(self.at_ms, self.world.now_ms) + 1
        self.world.step(I.ScheduleFired("canvas", RESET_RULE, self.at_ms, "late", 1))
        self.week = []

    @rule(which=st.integers(1, 8))
    def render_answer(self, which):
        """The side task's answer for canvas `which` (maybe not archived, maybe answered)."""
        self.answers += 1
        url = f"http://m/{which}-{self.answers}.png"
        self.world.step(M.ArchiveRendered(M.archive_key(self.world.state.world, which), which, url, url + ".mp4"))
        archived = {a["seq"] for a in self.world.canvas.archives}
        if which in archived and which not in self.answered:
            self.answered[which] = url

    @rule()
    def journal_replays_to_the_same_hash(self):
        fresh = new_state(self.config)
        replay(fresh, self.world.journal, self.world.tick)
        assert state_hash(fresh) == state_hash(self.world.state)

    # --- invariants ---------------------------------------------------------------------
    @invariant()
    def the_canvas_is_its_pixel_log_replayed(self):
        c = self.world.canvas
        if c.seq == 0:
            return
        live = bytearray(c.width * c.height)
        logged = self.q("canvas_pixel_log", c.seq)
        for r in logged:
            live[r["y"] * c.width + r["x"]] = r["color"]
        pending = [(w, *self._unpack(c.pending, i)) for i, (w, _) in enumerate(c.log)]
        for _, x, y, colour in pending:
            live[y * c.width + x] = colour
        assert live == c.pixels
        assert [(r["placer"], r["x"], r["y"], r["color"]) for r in logged] + pending == self.week
        for a in self.q("canvas_archives"):
            log = self.q("canvas_pixel_log", a["seq"])
            if not log and a["pixels"]:
                assert self.log_weeks and a["seq"] <= c.seq - self.log_weeks  # pruned: retention
                continue
            past = bytearray(a["width"] * a["height"])
            for r in log:
                past[r["y"] * a["width"] + r["x"]] = r["color"]
            assert zlib.decompress(a["bitmap"]) == past and len(log) == a["pixels"]

    @staticmethod
    def _unpack(pending, i):
        return M.PIXEL.unpack_from(pending, i * M.PIXEL.size)

    @invariant()
    def progress_counts_the_weeks_placements(self):
        c = self.world.canvas
        for wallet in WALLETS:
            progress = c.progress.get(wallet, [0] * len(c.objectives))
            for oid, p in zip(c.objectives, progress):
                o = OBJECTIVES[oid]
                counted = sum(1 for w, x, y, col in self.week
                              if w == wallet and o.counts(x, y, col, c.width, c.height, c.palette))
                assert p == min(o.target, counted)
        done = {(r["objective"], r["wallet"]) for r in self.q("canvas_objective_completions")
                if r["canvas_seq"] == c.seq}
        at_target = {(oid, w) for w, progress in c.progress.items() for oid, p in zip(c.objectives, progress)
                     if p >= OBJECTIVES[oid].target}
        assert done == at_target

    @invariant()
    def every_comment_is_held_or_recorded_once(self):
        recorded = [r["id"] for r in self.q("canvas_comments")]
        held = list(self.world.canvas.held_comments)
        assert len(set(recorded)) == len(recorded) and not set(recorded) & set(held)
        assert sorted(recorded + held) == sorted(self.accepted)
        shown = [e.body["id"] for e in self.world.events if e.type == "canvas:comment"]
        assert len(shown) == len(set(shown)) and set(shown) == self.expect_shown

    @invariant()
    def archives_agree_and_urls_are_set_once(self):
        rows = {a["seq"]: a for a in self.q("canvas_archives")}
        state = {a["seq"]: a for a in self.world.canvas.archives}
        assert set(rows) == set(state) == set(range(1, self.world.canvas.seq))
        for seq, a in state.items():
            assert a["image_url"] == rows[seq]["image_url"] == self.answered.get(seq)


KeptMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
test_what_is_kept_of_a_canvas = KeptMachine.TestCase
