"""Drives the lottery through `core.step` with a journal, a clock and a
ledger model, for the lottery's unit and state-machine tests.

`Engine` keeps every tick's inputs encoded as the journal keeps them, so a
test can replay them onto a fresh state and compare hashes; `escrow` models
the ledger's escrow accounts from the `Settle` effects (a transfer out of an
escrow that does not hold the money is a test failure: it would be a
payment_failed on the real ledger).
"""

from __future__ import annotations

from arena.engine import core
from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.engine.config import EngineConfig
from arena.engine.outputs import Event, FetchFeed, Reply, Settle
from arena.modes.lottery.messages import LotteryBetChosen, LotteryClaim, LotteryCreate, LotteryRead
from arena.modes.lottery.settings import LotteryConfig
from arena.persistence import codec
from arena.persistence.durable import replay
from arena.schedule import decide, following

T0 = 1_800_000_000_000  # engine time of the first tick
OPERATOR = "op"


class Engine:
    def __init__(self, seed: int = 1, now: int = T0, **settings):
        self.config = EngineConfig.of(tick_hz=20, seed=seed, modes={"lottery": LotteryConfig(**settings)})
        self.state = core.new_state(self.config, world="w")
        self.tick = 0
        self.now = now
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
        """What the scheduler side task would feed now: the lottery's due
        one-off rules (`arena.schedule.decide`, as `arena.scheduler` does)."""
        mode = core.MODES["lottery"]
        marks = self.state.schedule_marks or {}
        out = []
        for rule in mode.schedules(self.state.config.modes["lottery"], self.shared()):
            d = decide(rule, marks.get(f"lottery:{rule.name}"), self.now, 60_000)
            if d is not None:
                out.append(I.ScheduleFired("lottery", rule.name, d.at_ms, d.kind, d.missed,
                                           following(rule, d.at_ms)))
        return out

    def step(self, *inputs) -> None:
        self.tick += 1
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
                    self.escrow[t.source] = self.escrow.get(t.source, 0) - t.amount
                    assert self.escrow[t.source] >= 0, f"{t.source} overdrawn by {eff.key}"
                    self.wallets[t.dest] = self.wallets.get(t.dest, 0) + t.amount
            elif isinstance(eff, FetchFeed):
                self.fetches.append(eff)

    def advance(self, ms: int) -> None:
        """Move engine time by `ms` and run a second of ticks (the rounds'
        timers check their deadlines at least once a second)."""
        self.at(self.now + ms)

    def at(self, ms: int) -> None:
        self.now = max(self.now, ms)
        for _ in range(self.config.ticks(1_000) + 1):
            self.step()

    def request(self, inp_of) -> Reply:
        self._rid += 1
        self.step(inp_of(f"s-{self._rid}", self._rid))
        return self.replies[self._rid]

    # --- requests ----------------------------------------------------------------
    def create(self, game="powerball", draw_in_ms=3_600_000, kind="bonus_parity", threshold=-1,
               wallet=OPERATOR) -> Reply:
        return self.request(lambda s, r: LotteryCreate(s, r, wallet, game, self.now + draw_in_ms, kind, threshold))

    def read(self, wallet: str, what: str, round_: str = "") -> Reply:
        return self.request(lambda s, r: LotteryRead(s, r, wallet, what, round_))

    def claim(self, wallet: str, round_: str) -> Reply:
        return self.request(lambda s, r: LotteryClaim(s, r, wallet, round_))

    def pay(self, round_: str, wallet: str, side: str, amount: int, order: str = "money_first",
            tick_between: bool = False) -> str:
        """A confirmed bet payment as the gateway reports it: the money
        (`EntryFeePaid`) and the side (`LotteryBetChosen`), in `order`."""
        self._pid += 1
        pid = f"{self._pid:064x}"
        self.escrow[f"escrow:{round_}"] = self.escrow.get(f"escrow:{round_}", 0) + amount
        self.wallets[wallet] = self.wallets.get(wallet, 0) - amount
        money = I.EntryFeePaid(round_, wallet, amount, pid)
        side_ = LotteryBetChosen(round_, wallet, amount, pid, side)
        first, second = (money, side_) if order == "money_first" else (side_, money)
        if order == "money_only":
            self.step(money)
        elif tick_between:
            self.step(first)
            self.step(second)
        else:
            self.step(first, second)
        return pid

    def feed(self, status=I.FEED_OK, value=None, key: str | None = None, answers=()) -> None:
        """Answer the oldest fetch not yet answered (or `key`)."""
        eff = next(f for f in self.fetches if f.key == key) if key else self.fetches.pop(0)
        if key:
            self.fetches.remove(eff)
        self.step(I.FeedResult(eff.key, eff.mode, eff.match, eff.feed, status, value, answers))

    # --- reading ---------------------------------------------------------------------
    def shared(self):
        return self.state.modes["lottery"]

    def round(self, round_: str):
        return self.shared().rounds[round_]

    def events_of(self, type_: str) -> list[dict]:
        return [e.body for e in self.events if e.type == type_]

    def replayed_hash(self) -> str:
        fresh = core.new_state(self.config, world="w")
        replay(fresh, self.journal, self.tick)
        return state_hash(fresh)

    def hash(self) -> str:
        return state_hash(self.state)
