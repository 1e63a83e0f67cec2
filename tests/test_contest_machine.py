"""A hypothesis state machine over trading contests in the engine: contests
created, joins (money and portfolio in either order, valid or not, late,
twice), price fetches answered, unavailable (the breaker open), garbage or
never answered, time through starts and ends, operator cancels, referral
registrations, the processing services (evaluation, rake, referrals)
answering, down (their requests wait) or answering wrong (refused and asked
again), and restarts (the state rebuilt from the journal and play
continuing on it).

After every step: tokens are conserved (nothing created or lost: wallets +
escrows == 0 in the ledger model), each contest's escrow holds exactly what
came in less what went out, a settled contest paid prizes + rake + referral
rewards == its pool exactly, and its ranks are those its start and end
prices give. Nothing is paid twice (the harness fails on a settlement key
issued twice). At the end, a replay of the journal gives the same state hash."""

from __future__ import annotations

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arena.engine import inputs as I
from arena.engine.money import bps_of
from arena.modes.contest.mode import standings
from contest_harness import TOKENS, Engine

WALLETS = ("a", "b", "c", "d", "e")
PRIZES = [(10_000,), (6_000, 4_000), (5_000, 3_000, 2_000)]


def _portfolio():
    valid = st.lists(st.sampled_from(TOKENS[:4]), min_size=1, max_size=3, unique=True).map(
        lambda ts: [(t, 10_000 // len(ts) + (10_000 % len(ts) if i == 0 else 0)) for i, t in enumerate(ts)])
    broken = st.sampled_from([[(TOKENS[0], 9_000)], [(TOKENS[5], 10_000)], [(TOKENS[0], 5_000), (TOKENS[0], 5_000)]])
    return st.one_of(valid, valid, valid, broken)


class ContestMachine(RuleBasedStateMachine):
    @initialize(referral=st.integers(0, 10_000))
    def start(self, referral):
        self.e = Engine(min_duration_ms=1_000, price_every_ticks=2, stale_after_ms=500, price_timeout_ms=1_000,
                        referral_bps=referral)
        self.contests: list[str] = []
        self.create(100, 15_000, 3_000, 1, (6_000, 4_000), 1_000, 2)

    @rule(fee=st.integers(1, 10_000), starts_in=st.integers(500, 20_000), duration=st.integers(1_000, 6_000),
          min_players=st.integers(1, 2), prizes=st.sampled_from(PRIZES), rake=st.integers(0, 5_000),
          size=st.integers(1, 3))
    def create(self, fee, starts_in, duration, min_players, prizes, rake, size):
        reply = self.e.create(entry_fee=fee, starts_in_ms=starts_in, duration_ms=duration, min_players=min_players,
                              max_players=4, prizes_bps=prizes, rake_bps=rake, tokens=TOKENS[:4],
                              portfolio_size=size)
        assert reply.ok, reply.body
        self.contests.append(reply.body["contest"])

    @precondition(lambda self: self.contests)
    @rule(data=st.data(), joins=st.lists(st.tuples(
        st.sampled_from(WALLETS), _portfolio(), st.sampled_from(["money_first", "side_first", "money_only", "twice"]),
        st.booleans(), st.sampled_from([False] * 7 + [True])), min_size=1, max_size=5))
    def join(self, data, joins):
        cid = data.draw(st.sampled_from(self.contests[-3:]))
        c = self.e.contest(cid)
        for wallet, portfolio, order, between, wrong_amount in joins:
            amount = c.entry_fee + 1 if wrong_amount else c.entry_fee
            before = {w: x.portfolio for w, x in c.entries.items()}
            self.e.pay(cid, wallet, portfolio, amount=amount, order=order, tick_between=between)
            # A second join never replaces the first.
            assert {w: x.portfolio for w, x in c.entries.items() if w in before} == before

    @rule(ms=st.sampled_from([50, 300, 1_000, 2_500, 6_000]),
          answer=st.sampled_from(["ok"] * 6 + ["unavailable", "garbage", "missing"]),
          services=st.sampled_from(["ok"] * 4 + ["down", "wrong"]))
    def time_passes(self, ms, answer, services="ok"):
        end = self.e.now + ms
        while self.e.now < end:
            self.e.step()
            if services != "down":
                self.e.answer_jobs(services)
            while self.e.fetches and answer != "missing":
                if ":tokens:" in self.e.fetches[0].key:
                    self.e.answer_tokens(status=I.FEED_OK if answer == "ok" else I.FEED_UNAVAILABLE)
                elif answer == "ok":
                    self.e.answer_prices()
                elif answer == "unavailable":
                    self.e.answer_prices(status=I.FEED_UNAVAILABLE)
                else:
                    self.e.answer_prices(value=(7, 7))

    @precondition(lambda self: self.contests)
    @rule(services=st.sampled_from(["ok", "down", "wrong"]))
    def everything_runs_out(self, services):
        """Long enough with a working market for every live contest to finish
        (the services first down or answering wrong for a while, then well)."""
        if services != "ok":
            self.time_passes(10_000, "ok", services)
        self.time_passes(30_000, "ok")

    @precondition(lambda self: self.contests)
    @rule(data=st.data())
    def cancel(self, data):
        cid = data.draw(st.sampled_from(self.contests))
        c = self.e.contest(cid)
        reply = self.e.cancel(cid)
        # (The cancel's own tick may end the contest first: a start under the
        # minimum, an evaluation. Then it is refused, and nothing changes.)
        assert c.state in ("cancelled", "settled")
        assert reply.ok or reply.body["code"] == "wrong_state"

    @rule(referrer=st.sampled_from(WALLETS), referee=st.sampled_from(WALLETS))
    def refer(self, referrer, referee):
        code = self.e.referral(referrer, "code").body["code"]
        self.e.referral(referee, "register", code)

    @rule()
    def restart(self):
        """The server restarts: its state is what the journal rebuilds."""
        again = self.e.replayed_state()
        assert self.e.replayed_hash() == self.e.hash()
        self.e.state = again

    @invariant()
    def money_is_conserved(self):
        e = self.e
        assert sum(e.wallets.values()) + sum(e.escrow.values()) == 0
        for cid in getattr(self, "contests", ()):
            c = e.contest(cid)
            held = e.escrow.get(f"escrow:{cid}", 0)
            assert held == c.escrow_in - c.prizes_paid - c.rewards_paid - c.platform_rake - c.refunded
            pool = sum(x.fee for x in c.entries.values())
            if c.state == "settled":
                assert held == 0 and not c.unassigned
                assert c.prizes_paid + c.rewards_paid + c.platform_rake == pool
                assert c.rewards_paid + c.platform_rake == bps_of(pool, c.rake_bps)
                assert c.rankings == standings(c, c.end_prices)
                assert [w for w, _ in c.prizes] == [w for w, _ in c.rankings][:len(c.prizes)]
            elif c.state == "cancelled":
                assert held == 0 and c.prizes_paid == 0 and c.platform_rake == 0
            if c.state != "registration":
                assert not c.unassigned and not c.chosen
            # One payout, only once every service's answer is in; evaluation
            # asked only with end prices (taken fresh).
            assert (f"payout:{cid}" in e.settles) == (c.state == "settled")
            if c.state == "settled":
                assert c.ranked and c.rake is not None and c.rewarded and not c.asked
            if c.asked:
                assert c.end_prices is not None and c.state in ("evaluating", "cancelled")

    def teardown(self):
        if hasattr(self, "e"):
            for cid in self.contests:
                c = self.e.contest(cid)
                event(f"a contest ended {c.state} with {min(len(c.entries), 2)}+ players")
                if c.refused:
                    event(f"a contest {c.state} after a service's answer was refused")
            assert self.e.replayed_hash() == self.e.hash()


ContestMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
test_contest_machine = ContestMachine.TestCase
