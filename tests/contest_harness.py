"""Drives trading contests through `core.step` with a journal, a clock and a
ledger model, for the contest unit and state-machine tests (the common part,
journal, replay and the escrow model, is tests/mode_harness.py). Here every
tick is 50 ms of engine time after the last, and no transfer may move 0.
The processing services' requests (`jobs`: evaluation, rake, referrals)
are answered by the services' own computations (`answer_jobs`), one tick
per answer, as the server journals them.
"""

from __future__ import annotations

from arena.engine import inputs as I
from arena.engine.errors import ArenaError
from arena.engine.outputs import FetchFeed, Reply
from arena.modes.contest import requests as contest_requests
from arena.modes.contest import services
from arena.modes.contest.messages import (
    ContestCancel, ContestCreate, ContestJoinChosen, ContestRead, ReferralRequest,
)
from arena.modes.contest.settings import ContestConfig, whitelist
from mode_harness import T0, ModeEngine

OPERATOR = "op"
TOKENS = [t for t, _ in whitelist(ContestConfig().tokens)]
__all__ = ["T0", "OPERATOR", "TOKENS", "Engine"]


class Engine(ModeEngine):
    MODE = "contest"

    def __init__(self, seed: int = 1, **settings):
        super().__init__(ContestConfig(**settings), seed)

    def step(self, *inputs) -> None:
        """One tick, 50 ms of engine time after the last (the harness's time
        is the engine's: every tick, request or answer, takes its 50 ms)."""
        if self.tick > 0:
            self.now += 50
        settled = len(self.settles)
        super().step(*inputs)
        for eff in list(self.settles.values())[settled:]:
            assert all(t.amount > 0 for t in eff.transfers), f"{eff.key} moves 0"

    def run(self, ms: int, answer: bool = True, services: bool = True) -> None:
        """Move engine time forward by `ms` in 50 ms ticks; with `answer`, every
        price fetch is answered by the simulated market at once, and with
        `services` every service request too."""
        end = self.now + ms
        while self.now < end:
            self.step()
            if answer:
                while self.fetches or (services and self.jobs):
                    if services and self.jobs:
                        self.answer_jobs()
                    elif ":tokens:" in self.fetches[0].key:
                        self.answer_tokens()
                    else:
                        self.answer_prices()

    def request(self, inp_of) -> Reply:
        self._rid += 1
        self.step(inp_of(f"s-{self._rid}", self._rid))
        return self.replies[self._rid]

    # --- requests ----------------------------------------------------------------
    def create(self, entry_fee=100, starts_in_ms=120_000, duration_ms=600_000, min_players=2, max_players=100,
               prizes_bps=(6_000, 3_000, 1_000), rake_bps=1_000, tokens=None, portfolio_size=3,
               wallet=OPERATOR, **extra) -> Reply:
        tokens = tuple(tokens if tokens is not None else TOKENS)
        starts = self.now + starts_in_ms
        return self.request(lambda s, r: ContestCreate(
            s, r, wallet, entry_fee, starts, starts + duration_ms, min_players, max_players, tuple(prizes_bps),
            rake_bps, tokens, portfolio_size, **extra))

    def read(self, wallet: str, what: str, contest: str = "", wallet_of: str = "") -> Reply:
        return self.request(lambda s, r: ContestRead(s, r, wallet, what, contest, wallet_of))

    def cancel(self, contest: str, wallet=OPERATOR) -> Reply:
        return self.request(lambda s, r: ContestCancel(s, r, wallet, contest))

    def referral(self, wallet: str, what: str, code: str = "") -> Reply:
        return self.request(lambda s, r: ReferralRequest(s, r, wallet, what, code))

    def quote(self, wallet: str, contest: str, portfolio) -> tuple:
        """What `contest.join.build` would say: (contest, fee) or the ArenaError."""
        try:
            return contest_requests.quote_join(self.state, wallet, {"contest": contest, "portfolio": portfolio})
        except ArenaError as exc:
            return exc

    def pay(self, contest: str, wallet: str, portfolio, amount: int | None = None, order: str = "money_first",
            tick_between: bool = False) -> str:
        """A confirmed join payment as the gateway reports it: the money
        (`EntryFeePaid`) and the portfolio (`ContestJoinChosen`), in `order`."""
        c = self.shared().contests[contest]
        amount = c.entry_fee if amount is None else amount
        pid = self.paid(contest, wallet, amount)
        money = I.EntryFeePaid(contest, wallet, amount, pid)
        chosen = ContestJoinChosen(contest, wallet, amount, pid, contest_requests.portfolio_of(
            [{"token": t, "weight_bps": w} for t, w in portfolio]))
        self.report_payment(money, chosen, order, tick_between)
        return pid

    def answer_prices(self, status=I.FEED_OK, value=None, prices: dict | None = None) -> FetchFeed:
        """Answer the oldest price fetch: the simulated market's prices at
        engine time, `prices` (token -> price) over them, or `value` as given."""
        from arena.feeds import simulated

        eff = next(f for f in self.fetches if ":prices:" in f.key)
        self.fetches.remove(eff)
        q = dict(eff.query)
        if status == I.FEED_OK and value is None:
            sim = simulated.prices(((("symbols", q["symbols"]),)), self.now)
            asked = q["tokens"].split(",")
            value = tuple((prices or {}).get(t, p) for t, p in zip(asked, sim))
        self.step(I.FeedResult(eff.key, eff.mode, eff.match, eff.feed, status, value))
        return eff

    def answer_tokens(self, status=I.FEED_OK, delisted=()) -> FetchFeed:
        """Answer the oldest token sync: every token listed but `delisted`."""
        eff = next(f for f in self.fetches if ":tokens:" in f.key)
        self.fetches.remove(eff)
        value = tuple(0 if t in delisted else 1 for t in dict(eff.query)["tokens"].split(","))
        self.step(I.FeedResult(eff.key, eff.mode, eff.match, eff.feed, status, value))
        return eff

    def answer_jobs(self, how: str = "ok") -> int:
        """Answer every service request asked so far, one tick each, as the
        service would ("ok"), or with a result the rules disagree with
        ("wrong": the engine must refuse it and ask again). How many."""
        jobs, self.jobs = self.jobs, []
        for eff in jobs:
            result = services.COMPUTE[type(eff)](eff)
            if how == "wrong":
                result = corrupt(result)
            self.step(result)
        return len(jobs)

    # --- reading ---------------------------------------------------------------------
    def contest(self, cid: str):
        return self.shared().contests[cid]


def corrupt(result):
    """A service result that differs from the right one."""
    import attrs

    from arena.modes.contest.messages import ContestEvaluated, RakeProcessed

    if isinstance(result, ContestEvaluated):
        rows = list(result.rankings)
        return attrs.evolve(result, rankings=tuple(rows[::-1]) if len(rows) > 1 else ((rows[0][0], rows[0][1] + 1),))
    if isinstance(result, RakeProcessed):
        return attrs.evolve(result, rake=result.rake + 1)
    return attrs.evolve(result, rewards=((*result.rewards, ("x", "y", 1))))
