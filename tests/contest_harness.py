"""Drives trading contests through `core.step` with a journal, a clock and a
ledger model, for the contest unit and state-machine tests.

`Engine` keeps every tick's inputs encoded as the journal keeps them, so a
test can replay them onto a fresh state and compare hashes; `escrow`
models the ledger's escrow accounts from the `Settle` effects (a transfer
out of an escrow that does not hold the money is a test failure: it would
be a payment_failed on the real ledger), and a settlement key issued twice
fails the test (nothing is paid twice).
"""

from __future__ import annotations

from arena.engine import core
from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.engine.config import EngineConfig
from arena.engine.errors import ArenaError
from arena.engine.outputs import Event, FetchFeed, Reply, Settle
from arena.modes.contest import requests as contest_requests
from arena.modes.contest.messages import (
    ContestCancel, ContestCreate, ContestJoinChosen, ContestRead, ReferralRequest,
)
from arena.modes.contest.settings import ContestConfig, whitelist
from arena.persistence import codec
from arena.persistence.durable import replay
from arena.schedule import decide

T0 = 1_800_000_000_000  # engine time of the first tick
OPERATOR = "op"
TOKENS = [t for t, _ in whitelist(ContestConfig().tokens)]


class Engine:
    def __init__(self, seed: int = 1, **settings):
        self.config = EngineConfig.of(tick_hz=20, seed=seed, modes={"contest": ContestConfig(**settings)})
        self.state = core.new_state(self.config, world="w")
        self.tick = 0
        self.now = T0
        self.journal: list = []
        self.replies: dict[int, Reply] = {}
        self.events: list[Event] = []
        self.settles: dict[str, Settle] = {}
        self.fetches: list[FetchFeed] = []
        self.escrow: dict[str, int] = {}
        self.wallets: dict[str, int] = {}  # money in (-) and out (+) per account
        self._rid = 0
        self._pid = 0

    # --- stepping -----------------------------------------------------------------
    def scheduled(self) -> list:
        """What the scheduler side task would feed now (`arena.schedule.decide`)."""
        mode = core.MODES["contest"]
        marks = self.state.schedule_marks or {}
        out = []
        for rule in mode.schedules(self.state.config.modes["contest"], self.shared()):
            d = decide(rule, marks.get(f"contest:{rule.name}"), self.now, 60_000)
            if d is not None:
                out.append(I.ScheduleFired("contest", rule.name, d.at_ms, d.kind, d.missed))
        return out

    def step(self, *inputs) -> None:
        """One tick, 50 ms of engine time after the last (the harness's time
        is the engine's: every tick, request or answer, takes its 50 ms)."""
        self.tick += 1
        if self.tick > 1:
            self.now += 50
        inputs = [I.ClockSet(self.now), *self.scheduled(), *inputs]
        self.journal.append((self.tick, codec.encode_inputs(inputs)))
        messages, effects = core.step(self.state, self.tick, inputs)
        for msg in messages:
            if isinstance(msg, Reply):
                self.replies[msg.rid] = msg
            else:
                self.events.append(msg)
        for eff in effects:
            if isinstance(eff, Settle):
                assert eff.key not in self.settles, f"settlement {eff.key} issued twice"
                self.settles[eff.key] = eff
                for t in eff.transfers:
                    assert t.amount > 0, f"{eff.key} moves {t.amount}"
                    self.escrow[t.source] = self.escrow.get(t.source, 0) - t.amount
                    assert self.escrow[t.source] >= 0, f"{t.source} overdrawn by {eff.key}"
                    self.wallets[t.dest] = self.wallets.get(t.dest, 0) + t.amount
            elif isinstance(eff, FetchFeed):
                self.fetches.append(eff)

    def run(self, ms: int, answer: bool = True) -> None:
        """Move engine time forward by `ms` in 50 ms ticks; with `answer`, every
        price fetch is answered by the simulated market at once."""
        end = self.now + ms
        while self.now < end:
            self.step()
            if answer:
                while self.fetches:
                    if ":tokens:" in self.fetches[0].key:
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
        self._pid += 1
        pid = f"{self._pid:064x}"
        self.escrow[f"escrow:{contest}"] = self.escrow.get(f"escrow:{contest}", 0) + amount
        self.wallets[wallet] = self.wallets.get(wallet, 0) - amount
        money = I.EntryFeePaid(contest, wallet, amount, pid)
        chosen = ContestJoinChosen(contest, wallet, amount, pid, contest_requests.portfolio_of(
            [{"token": t, "weight_bps": w} for t, w in portfolio]))
        first, second = (money, chosen) if order == "money_first" else (chosen, money)
        if order == "money_only":
            self.step(money)
        elif tick_between:
            self.step(first)
            self.step(second)
        else:
            self.step(first, second)
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

    # --- reading ---------------------------------------------------------------------
    def shared(self):
        return self.state.modes["contest"]

    def contest(self, cid: str):
        return self.shared().contests[cid]

    def events_of(self, type_: str) -> list[dict]:
        return [e.body for e in self.events if e.type == type_]

    def replayed_state(self):
        fresh = core.new_state(self.config, world="w")
        replay(fresh, self.journal, self.tick)
        return fresh

    def replayed_hash(self) -> str:
        return state_hash(self.replayed_state())

    def hash(self) -> str:
        return state_hash(self.state)
