"""Drives the lottery through `core.step` with a journal, a clock and a
ledger model, for the lottery's unit and state-machine tests (the common
part, journal, replay and the escrow model, is tests/mode_harness.py)."""

from __future__ import annotations

from arena.engine import inputs as I
from arena.engine.outputs import Reply
from arena.modes.lottery.messages import LotteryBetChosen, LotteryClaim, LotteryCreate, LotteryRead
from arena.modes.lottery.settings import LotteryConfig
from mode_harness import T0, ModeEngine

OPERATOR = "op"
__all__ = ["T0", "OPERATOR", "Engine"]


class Engine(ModeEngine):
    MODE = "lottery"

    def __init__(self, seed: int = 1, now: int = T0, **settings):
        super().__init__(LotteryConfig(**settings), seed, now)

    def advance(self, ms: int) -> None:
        """Move engine time by `ms` and run a second of ticks (the rounds'
        timers check their deadlines at least once a second)."""
        self.at(self.now + ms)

    def at(self, ms: int) -> None:
        self.now = max(self.now, ms)
        for _ in range(self.config.ticks(1_000) + 1):
            self.step()

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
        pid = self.paid(round_, wallet, amount)
        money = I.EntryFeePaid(round_, wallet, amount, pid)
        self.report_payment(money, LotteryBetChosen(round_, wallet, amount, pid, side), order, tick_between)
        return pid

    def feed(self, status=I.FEED_OK, value=None, key: str | None = None, answers=()) -> None:
        """Answer the oldest fetch not yet answered (or `key`)."""
        eff = next(f for f in self.fetches if f.key == key) if key else self.fetches.pop(0)
        if key:
            self.fetches.remove(eff)
        self.step(I.FeedResult(eff.key, eff.mode, eff.match, eff.feed, status, value, answers))

    # --- reading ---------------------------------------------------------------------
    def round(self, round_: str):
        return self.shared().rounds[round_]
