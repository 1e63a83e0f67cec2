"""Property-based tests of the engine: arbitrary interleavings of everything.

A hypothesis `RuleBasedStateMachine` drives `arena.engine.core.step` (roast mode
and matchmaking) with client requests, connection changes, ledger payments and
side-task answers delivered late, out of order and more than once. The test
models the ledger itself: wallets start funded, a payment moves money
wallet -> `escrow:<match>` before its `EntryFeePaid` is fed, and each `Settle`
effect is applied (idempotently, by key) when its answer is delivered.

Invariants checked after every rule:

- tokens are conserved across wallets, escrows and fee accounts, and no
  account is ever negative;
- every escrow holds exactly: fees in flight (paid, not yet fed) + accepted
  fees of its live battle + the transfers of its emitted, not yet applied
  settlements; so an ended battle's escrow is empty once they are applied;
- each `Settle` key is emitted at most once, and each battle gets at most one
  final settlement (`payout:<match>` or `refund:<match>`);
- every battle that got `match.found` ends at most once, and at teardown
  (after time runs on) exactly once;
- every client input gets exactly one `Reply`;
- replaying the recorded `(tick, inputs)` log from `new_state(config)` gives the
  same `state_hash`, also after the inputs went through `to_record` /
  msgpack / `from_record`.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import msgpack
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arena.engine import inputs as I
from arena.modes.roast import messages as R
from arena.engine.canonical import state_hash
from arena.modes.roast.settings import TIERS
from arena.engine.core import new_state, step
from arena.engine.outputs import Event, Reply, Settle
from arena.modes.roast.messages import GeneratePrompt, ScoreRoast

try:
    from tests.engine_driver import Ledger, fast_config, replay
except ImportError:  # tests/ on sys.path (no package)
    from engine_driver import Ledger, fast_config, replay

WALLETS = [f"w{i}" for i in range(6)]
FUNDS = 50_000
CONFIG = fast_config(
    tick_hz=20,
    rounds=2,
    countdown_ms=100,  # 2 ticks
    time_limit_ms=400,  # 8 ticks
    entry_deadline_ms=800,  # 16 ticks
    disconnect_grace_ms=250,  # 5 ticks
    scoring_timeout_ms=300,  # 6 ticks
    prompt_timeout_ms=400,  # 8 ticks
    max_text_chars=40,
    max_watch_per_wallet=2,
    tiers={"bronze": 100, "silver": 250, "gold": 1_001, "diamond": 3_333},
)

wallets = st.sampled_from(WALLETS)
tiers = st.sampled_from([*TIERS, "platinum", ""])
texts = st.one_of(
    st.sampled_from(["", "   ", "you absolute noodle", "x" * 40, "x" * 41]),
    st.text(max_size=50),
)
emojis = st.sampled_from(["🔥", "😂", "👏👏", "abc", "", " ", "🔥" * 17])
choice = st.integers(min_value=0, max_value=1_000)


class EngineMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.state = new_state(CONFIG)
        self.tick = 0
        self.log: list[tuple[int, tuple]] = []
        self.batch: list = []  # inputs for the next step
        self.ledger = Ledger({w: FUNDS for w in WALLETS})
        self.total = self.ledger.total()
        self.rid = 0
        self.payments = 0
        self.found: dict[str, dict] = {}  # match id -> match.found body (first seen)
        self.ended: Counter = Counter()
        self.settle_keys: set[str] = set()
        self.settles: list[Settle] = []
        self.final_settle: dict[str, str] = {}  # match id -> its payout/refund key
        # Side-task answers not yet delivered (deliver picks any, in any order).
        self.outbox: list = []

    # --- helpers --------------------------------------------------------------
    def client(self, cls, wallet, **fields):
        self.rid += 1
        inp = cls(session=f"s-{wallet}", rid=self.rid, wallet=wallet, **fields)
        self.batch.append(inp)
        return inp

    def known(self) -> list[str]:
        return list(self.found) + ["ro-unknown"]

    def pick_match(self, i: int) -> str:
        ids = self.known()
        return ids[i % len(ids)]

    def live(self, phase: str | None = None) -> list:
        return [m for m in self.state.matches.values() if phase is None or m.phase == phase]

    def do_step(self, tick: int) -> None:
        batch, self.batch = self.batch, []
        self.tick = tick
        msgs, effs = step(self.state, tick, batch)
        self.log.append((tick, tuple(batch)))
        self.check_replies(batch, msgs)
        for m in msgs:
            if isinstance(m, Event):
                if m.type in ("battle:round_start", "battle:score_revealed", "entry.confirmed"):
                    event(f"saw {m.type}")
                if m.type == "match.found":
                    self.found.setdefault(m.body["match"], m.body)
                elif m.type == "battle:ended":
                    mid = m.body["match"]
                    assert mid in self.found, f"ended a battle never found: {mid}"
                    self.ended[mid] += 1
                    assert self.ended[mid] == 1, f"battle {mid} ended twice"
                    self.check_ended(m.body)
                    winner = "winner" if m.body["winnerId"] else "no winner"
                    event(f"battle ended: {m.body['reason']}, {winner}")
        for e in effs:
            if isinstance(e, Settle):
                assert e.key not in self.settle_keys, f"Settle key emitted twice: {e.key}"
                self.settle_keys.add(e.key)
                self.settles.append(e)
                assert e.transfers and all(t.amount > 0 for t in e.transfers), e
                assert all(t.source == f"escrow:{e.match}" for t in e.transfers), e
                if e.key in (f"payout:{e.match}", f"refund:{e.match}"):
                    assert e.match not in self.final_settle, f"two final settlements for {e.match}"
                    self.final_settle[e.match] = e.key
            self.outbox.append(e)

    def check_replies(self, batch, msgs) -> None:
        replies = Counter((m.session, m.rid) for m in msgs if isinstance(m, Reply))
        asked = Counter((i.session, i.rid) for i in batch if isinstance(i, I.ClientInput))
        assert replies == asked, f"replies {replies} for requests {asked}"

    def check_ended(self, body: dict) -> None:
        mid = body["match"]
        fee = self.found[mid]["entry_fee"]
        if body["winnerId"] is not None:
            assert body["reason"] in ("completed", "forfeit")
            assert body["winnerId"] in self.found[mid]["players"]
            assert 0 < body["prizeAmount"] <= 2 * fee
        else:
            assert body["prizeAmount"] == 0

    # --- client requests ----------------------------------------------------------
    @rule(wallet=wallets, tier=tiers, mode=st.sampled_from(["roast", "roast", "roast", "chess"]))
    def queue_join(self, wallet, tier, mode):
        self.client(I.QueueJoin, wallet, mode=mode, tier=tier)

    @rule(a=wallets, b=wallets, tier=st.sampled_from(TIERS))
    def queue_pair(self, a, b, tier):
        """Two wallets queue in one tier (most random joins would never meet)."""
        self.client(I.QueueJoin, a, mode="roast", tier=tier)
        self.client(I.QueueJoin, b, mode="roast", tier=tier)

    @rule(wallet=wallets)
    def queue_leave(self, wallet):
        self.client(I.QueueLeave, wallet)

    @rule(wallet=wallets, i=choice, text=texts, rnd=st.integers(min_value=0, max_value=3))
    def submit_any(self, wallet, i, text, rnd):
        self.client(R.RoastSubmit, wallet, match=self.pick_match(i), round=rnd, text=text, at_ms=self.tick * 50)

    @precondition(lambda self: self.live("recording"))
    @rule(i=choice, j=st.integers(0, 1), text=texts, audio=st.booleans())
    def submit_valid(self, i, j, text, audio):
        ms = self.live("recording")
        m = ms[i % len(ms)]
        self.client(R.RoastSubmit, m.players[j], match=m.id, round=m.round, text=text,
                    audio_url="media://a.ogg" if audio else None, at_ms=self.tick * 50)

    @rule(wallet=wallets, i=choice, emoji=emojis)
    def react(self, wallet, i, emoji):
        self.client(R.ReactionSend, wallet, match=self.pick_match(i), emoji=emoji)

    @rule(wallet=wallets, i=choice)
    def watch(self, wallet, i):
        self.client(I.MatchWatch, wallet, match=self.pick_match(i))

    # --- connections ------------------------------------------------------------------
    @rule(fee_bps=st.sampled_from([0, 250, 500, 9_999, 10_001]), rounds=st.integers(0, 3),
          bronze=st.sampled_from([1, 100, 333, 0]))
    def change_settings(self, fee_bps, rounds, bronze):
        """The operator changes [roast] settings mid-game (some values invalid:
        those change nothing); running battles keep their own terms."""
        self.batch.append(R.RoastSettingsChanged((("platform_fee_bps", fee_bps), ("rounds", rounds),
                                                  ("tiers.bronze", bronze))))

    @rule(wallet=wallets)
    def disconnect(self, wallet):
        self.batch.append(I.PlayerDisconnected(wallet))

    @rule(wallet=wallets)
    def reconnect(self, wallet):
        self.batch.append(I.PlayerReconnected(wallet))

    # --- the ledger --------------------------------------------------------------------
    def pay(self, wallet: str, mid: str, amount: int) -> None:
        if amount <= 0 or self.ledger.balance(wallet) < amount:
            return  # the ledger refuses (bad amount, insufficient_funds): nothing reaches the engine
        self.payments += 1
        self.ledger.move(wallet, f"escrow:{mid}", amount)
        self.batch.append(I.EntryFeePaid(mid, wallet, amount, f"pay-{self.payments}"))

    @precondition(lambda self: self.live("entry"))
    @rule(i=choice, j=st.integers(0, 1), both=st.booleans())
    def pay_entry_fee(self, i, j, both):
        """A player of a battle in entry pays the right fee (or both do)."""
        ms = self.live("entry")
        m = ms[i % len(ms)]
        for p in m.players if both else [m.players[j]]:
            self.pay(p, m.id, m.entry_fee)

    @rule(wallet=wallets, i=choice, delta=st.sampled_from([0, 0, -1, 1, -50]))
    def pay_any(self, wallet, i, delta):
        mid = self.pick_match(i)
        fee = self.found[mid]["entry_fee"] if mid in self.found else 100
        self.pay(wallet, mid, fee + delta)

    @rule(a=wallets, b=wallets, amount=st.integers(1, 1_000))
    def tip(self, a, b, amount):
        self.batch.append(I.TipSent(a, b, amount, amount * 200 // 10_000, f"tip-{self.rid}"))

    # --- side-task answers -------------------------------------------------------------
    def answer(self, e, values=(5, 5, 5, 5)):
        if isinstance(e, GeneratePrompt):
            self.batch.append(R.PromptGenerated(e.match, e.round, f"prompt {e.round} of {e.match}"))
        elif isinstance(e, ScoreRoast):
            self.batch.append(R.RoastScored(e.match, e.round, e.wallet, *values, commentary="ok", judge="test"))
        elif isinstance(e, Settle):
            self.ledger.settle(e)  # idempotent per key
            self.batch.append(I.SettlementDone(e.key))

    @precondition(lambda self: self.outbox)
    @rule(i=choice, again=st.booleans(),
          values=st.tuples(*[st.integers(min_value=-2, max_value=12)] * 4))
    def deliver(self, i, again, values):
        e = self.outbox[i % len(self.outbox)]
        if not again:
            self.outbox.remove(e)
        self.answer(e, values)

    @precondition(lambda self: self.outbox)
    @rule(order=st.randoms(use_true_random=False))
    def deliver_all(self, order):
        pending, self.outbox = self.outbox, []
        order.shuffle(pending)
        for e in pending:
            self.answer(e)

    @precondition(lambda self: self.state.matches)
    @rule(i=choice, reps=st.integers(min_value=1, max_value=8),
          values=st.lists(st.tuples(*[st.integers(min_value=0, max_value=10)] * 4), min_size=2, max_size=2))
    def progress(self, i, reps, values):
        """Take a live battle's natural next step and let a tick pass, `reps` times."""
        ms = self.live()
        mid = ms[i % len(ms)].id
        for _ in range(reps):
            m = self.state.matches.get(mid)
            if m is None:
                return
            if m.phase == "entry":
                for p in m.players:
                    if p not in m.paid:
                        self.pay(p, m.id, m.entry_fee)
            elif m.phase == "recording":
                for p in m.players:
                    if p not in m.submissions:
                        self.client(R.RoastSubmit, p, match=m.id, round=m.round, text=f"roast by {p}",
                                    at_ms=self.tick * 50)
            for e in [e for e in self.outbox if getattr(e, "match", None) == mid]:
                self.outbox.remove(e)
                self.answer(e, values[m.players.index(e.wallet)] if isinstance(e, ScoreRoast) else (5,) * 4)
            self.do_step(self.tick + 1)

    # --- time -----------------------------------------------------------------------------
    @rule(n=st.integers(min_value=1, max_value=4), answer=st.booleans())
    def advance(self, n, answer):
        """Step n ticks; with `answer`, the side tasks answer everything first."""
        if answer:
            pending, self.outbox = self.outbox, []
            for e in pending:
                self.answer(e)
        for _ in range(n):
            self.do_step(self.tick + 1)

    @rule(n=st.one_of(st.integers(min_value=1, max_value=3), st.integers(min_value=5, max_value=200)),
          small=st.booleans())
    def jump(self, n, small):
        """One step over n ticks: big jumps fire any deadline at once."""
        self.do_step(self.tick + (1 if small else n))

    # --- invariants --------------------------------------------------------------------------
    @invariant()
    def money_is_conserved_and_never_negative(self):
        if not hasattr(self, "ledger"):
            return
        assert self.ledger.total() == self.total
        negative = {a: b for a, b in self.ledger.balances.items() if b < 0}
        assert not negative, negative

    @invariant()
    def every_escrow_is_accounted_for(self):
        if not hasattr(self, "ledger"):
            return
        expected: dict[str, int] = defaultdict(int)
        for inp in self.batch:
            if isinstance(inp, I.EntryFeePaid):
                expected[f"escrow:{inp.match}"] += inp.amount
        for m in self.state.matches.values():
            expected[f"escrow:{m.id}"] += m.entry_fee * len(m.paid)
        for s in self.settles:
            if s.key not in self.ledger.applied:
                for t in s.transfers:
                    expected[t.source] += t.amount
        actual = {a: b for a, b in self.ledger.balances.items() if a.startswith("escrow:") and b}
        assert actual == {a: b for a, b in expected.items() if b}

    @invariant()
    def unsettled_tracks_unacknowledged_settlements(self):
        if not hasattr(self, "ledger"):
            return
        assert set(self.state.unsettled) <= self.settle_keys

    # --- teardown: let every battle end, settle everything, replay --------------------------
    def teardown(self):
        if not hasattr(self, "ledger"):
            return
        self.do_step(self.tick + 1)
        for _ in range(100):
            if not self.state.matches:
                break
            self.do_step(self.tick + 50)
        assert not self.state.matches, "battles still live after time ran on"
        # settle everything still outstanding, twice over, in one last step
        for e in list(self.outbox) + list(self.outbox):
            if isinstance(e, Settle):
                self.answer(e)
        self.outbox.clear()
        self.do_step(self.tick + 1)
        self.money_is_conserved_and_never_negative()
        self.every_escrow_is_accounted_for()
        assert self.ledger.escrows() == {}
        assert self.state.unsettled == {}
        assert self.state.bindings == {}
        assert self.state.modes["roast"].playing == {}
        assert set(self.ended) == set(self.found) and set(self.ended.values()) <= {1}
        assert set(self.final_settle) <= set(self.found)
        # replay the journal, as is and through the msgpack journal encoding
        h = state_hash(self.state)
        assert state_hash(replay(CONFIG, self.log)) == h
        decoded_log = []
        for tick, inputs in self.log:
            raw = msgpack.packb([tick, [I.to_record(i) for i in inputs]], use_bin_type=True)
            t, recs = msgpack.unpackb(raw, raw=False)
            decoded = tuple(I.from_record(r) for r in recs)
            assert decoded == inputs
            decoded_log.append((t, decoded))
        assert state_hash(replay(CONFIG, decoded_log)) == h


EngineMachine.TestCase.settings = settings(
    max_examples=75,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngine = EngineMachine.TestCase
