"""A hypothesis state machine over the lottery in the engine: rounds
created, bets on both sides (money and side in either order, partial
matches), time moving through locks, oracle answers that agree, decide
nothing, are unavailable or come late, and claims; finished rounds leave
the state (archived) at once, soon or in a week. After every step money is
conserved per round (an archived round's escrow is empty, and every round
that left was settled or void); at the end, replaying the journal onto a
fresh state gives the same state hash."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arena.engine import inputs as I
from arena.modes.lottery import book
from lottery_harness import Engine

WALLETS = ("a", "b", "c", "d")
WHITES = (4, 18, 33, 47, 60)


class LotteryMachine(RuleBasedStateMachine):
    @initialize(auto=st.booleans(), fee=st.integers(0, 10_000),
                archive=st.sampled_from([0, 120_000, 604_800_000]))
    def start(self, auto, fee, archive):
        self.e = Engine(auto_settle=auto, fee_bps=fee, lock_lead_ms=60_000, result_delay_ms=0,
                        result_retry_ms=2_000, void_after_ms=300_000, archive_after_ms=archive)
        self.rounds: list[str] = []

    def live(self, rid):
        """The round, or None once it was archived out of the state."""
        return self.e.shared().rounds.get(rid)

    @rule(kind=st.sampled_from(book.KINDS), draw_in=st.integers(70_000, 200_000))
    def create(self, kind, draw_in):
        threshold = {"bonus_parity": -1, "bonus_over": 13, "white_sum_over": 170}[kind]
        reply = self.e.create(kind=kind, threshold=threshold, draw_in_ms=draw_in)
        assert reply.ok
        self.rounds.append(reply.body["round"])

    @precondition(lambda self: self.rounds)
    @rule(data=st.data(), wallet=st.sampled_from(WALLETS), side=st.sampled_from(book.SIDES),
          amount=st.integers(1, 1_000), order=st.sampled_from(["money_first", "side_first", "money_only"]),
          between=st.booleans())
    def bet(self, data, wallet, side, amount, order, between):
        rid = data.draw(st.sampled_from(self.rounds))
        self.e.pay(rid, wallet, side, amount, order=order, tick_between=between)

    @rule(ms=st.sampled_from([500, 5_000, 30_000, 70_000, 300_000]))
    def time_passes(self, ms):
        self.e.advance(ms)

    @precondition(lambda self: self.e.fetches)
    @rule(data=st.data(), answer=st.sampled_from(["ok", "ok", "ok", "no_consensus", "unavailable", "garbage"]))
    def oracle(self, data, answer):
        eff = data.draw(st.sampled_from(self.e.fetches))
        part = eff.key.split(":")[2]
        value = None
        if answer == "ok":
            value = WHITES if part == "white" else (7,)
        elif answer == "garbage":
            answer, value = "ok", (99, 99)
        self.e.feed(status=answer, value=value, key=eff.key)

    @precondition(lambda self: self.rounds)
    @rule(data=st.data(), wallet=st.sampled_from(WALLETS))
    def claim(self, data, wallet):
        rid = data.draw(st.sampled_from(self.rounds))
        r = self.live(rid)
        if r is None:
            assert self.e.claim(wallet, rid).body["code"] == "not_found"
            return
        before = dict(r.paid)
        reply = self.e.claim(wallet, rid)
        if reply.ok:
            assert wallet not in before and r.paid[wallet] == reply.body["amount"]
        else:
            assert r.paid == before

    @precondition(lambda self: self.rounds)
    @rule(data=st.data())
    def late_answer(self, data):
        """An answer to a fetch that is no longer asked changes nothing."""
        rid = data.draw(st.sampled_from(self.rounds))
        r = self.live(rid)
        before = None if r is None else (r.state, dict(r.parts))
        self.e.step(I.FeedResult(f"feed:{rid}:white:0", "lottery", rid, "draw", "ok", WHITES))
        assert (None if r is None else (r.state, dict(r.parts))) == before

    @invariant()
    def money_is_conserved(self):
        for rid in getattr(self, "rounds", ()):
            r = self.live(rid)
            held = self.e.escrow.get(f"escrow:{rid}", 0)
            if r is None:  # archived: only after everything was paid or refunded
                assert any(b["round"] == rid and b["state"] in ("finalized", "void")
                           for b in self.e.events_of("lottery:round_ended")), rid
                assert held == 0
                continue
            assert held == r.escrow_in - r.paid_out - r.fees - r.refunded
            if r.state in ("locked", "awaiting_result", "finalized", "settled", "void"):
                assert not r.unmatched and not r.unassigned
            if r.state in ("settled", "void"):
                assert held == 0
            if r.state == "void":
                assert r.paid_out == 0 and r.fees == 0
        if hasattr(self, "e"):
            shared = self.e.shared()
            assert shared.archived == sum(1 for rid in self.rounds if rid not in shared.rounds)

    def teardown(self):
        if hasattr(self, "e"):
            assert self.e.replayed_hash() == self.e.hash()


LotteryMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_lottery_machine = LotteryMachine.TestCase
