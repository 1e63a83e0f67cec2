"""Drives meme rounds through `core.step` with a journal, a clock and a
ledger model, for the meme unit and state-machine tests.

`Engine` journals every tick's inputs as the journal keeps them (so a test
can replay them and compare hashes), models the ledger's accounts from the
`Settle` effects (a transfer out of an escrow that does not hold the money
fails the test: it would be `payment_failed` on the real ledger), answers
the block feed from a height the test sets, and keeps the AI effects for the
test to answer.
"""

from __future__ import annotations

from arena.engine import inputs as I
from arena.engine.config import EngineConfig
from arena.engine.outputs import FetchFeed, Reply, Settle
from arena.modes.meme.messages import (
    ContentProcessed, MarketList, MarketUnlist, MemePaid, MemeRead, MemeUpload, ProcessContent, ViewBeat,
    ViewStart, ViewStop, ViewWithdraw,
)
from arena.modes.meme.mode import escrow_owed
from arena.modes.meme.settings import MemeConfig
from journaled_engine import JournaledEngine

T0 = 1_800_000_000_000
HZ = 20
OPERATOR = "op"


class Engine(JournaledEngine):
    def __init__(self, seed: int = 1, **settings):
        super().__init__(EngineConfig.of(tick_hz=HZ, seed=seed, modes={"meme": MemeConfig(**settings)}))
        self.now = T0
        self.fetches: list[FetchFeed] = []
        self.reviews: list[ProcessContent] = []
        self.accounts: dict[str, int] = {}  # every ledger account's balance change
        self.chain_height = 1000
        self.auto_feed = True
        self._rid = 0
        self._pid = 0

    # --- stepping -----------------------------------------------------------------
    def step(self, *inputs) -> None:
        self.now += 1000 // HZ
        for eff in self.run_tick([I.ClockSet(self.now), *inputs]):
            if isinstance(eff, Settle):
                for t in eff.transfers:
                    assert t.amount > 0, f"{eff.key} moves {t.amount}"
                    self.accounts[t.source] = self.accounts.get(t.source, 0) - t.amount
                    assert self.accounts[t.source] >= 0, f"{t.source} overdrawn by {eff.key}"
                    self.accounts[t.dest] = self.accounts.get(t.dest, 0) + t.amount
            elif isinstance(eff, FetchFeed):
                self.fetches.append(eff)
            elif isinstance(eff, ProcessContent):
                self.reviews.append(eff)

    def run(self, seconds: float) -> None:
        """`seconds` of ticks, the block feed answering every fetch at once
        (with `chain_height`) when `auto_feed`."""
        for _ in range(round(seconds * HZ)):
            pending = []
            if self.auto_feed:
                while self.fetches:
                    eff = self.fetches.pop(0)
                    pending.append(I.FeedResult(eff.key, eff.mode, eff.match, eff.feed, I.FEED_OK,
                                                self.chain_height))
            self.step(*pending)

    def request(self, inp_of) -> Reply:
        self._rid += 1
        self.step(inp_of(f"s-{self._rid}", self._rid))
        return self.replies[self._rid]

    # --- requests ----------------------------------------------------------------
    def read_round(self, wallet="x") -> Reply:
        return self.request(lambda s, r: MemeRead(s, r, wallet, "round"))

    def get(self, content, wallet="x") -> Reply:
        return self.request(lambda s, r: MemeRead(s, r, wallet, "content", content))

    def upload(self, title="a cat on a keyboard", owner="", wallet=OPERATOR, media_type="image/png") -> Reply:
        return self.request(lambda s, r: MemeUpload(s, r, wallet, title, media_type, f"file:///m/{self._rid}",
                                                    1234, owner))

    def review(self, eff: ProcessContent | None = None, ok=True, quality=80, flagged=False, reason="") -> None:
        eff = eff or self.reviews.pop(0)
        if eff in self.reviews:
            self.reviews.remove(eff)
        self.step(ContentProcessed(eff.key, eff.content, ok, "caption", ("cat",), quality, flagged, reason,
                                   "embedded"))

    def ready(self, owner: str, title="a cat on a keyboard") -> str:
        """An upload through review to ready; it joins the next round."""
        cid = self.upload(title, owner=owner).body["content"]
        self.review(next(e for e in self.reviews if e.content == cid))
        return cid

    def next_round(self) -> None:
        """The chain moves past the current round's end (or starts one)."""
        r = self.shared().round
        self.chain_height = (r.end_height if r else self.chain_height) + 1
        self.run(self.config.modes["meme"].block_poll_ms / 1000 + 0.2)

    def pay(self, wallet: str, amount: int, purpose="deposit", content="", order="money_first",
            tick_between=False) -> str:
        """A confirmed payment into the hall as the gateway reports it."""
        self._pid += 1
        pid = f"{self._pid:064x}"
        hall = self.shared().hall
        self.accounts[wallet] = self.accounts.get(wallet, 0) - amount
        self.accounts[f"escrow:{hall}"] = self.accounts.get(f"escrow:{hall}", 0) + amount
        money = I.EntryFeePaid(hall, wallet, amount, pid)
        self.report_payment(money, MemePaid(hall, wallet, amount, pid, purpose, content), order, tick_between)
        return pid

    def start(self, wallet, content) -> Reply:
        return self.request(lambda s, r: ViewStart(s, r, wallet, content))

    def beat(self, wallet, content) -> Reply:
        return self.request(lambda s, r: ViewBeat(s, r, wallet, content))

    def stop(self, wallet) -> Reply:
        return self.request(lambda s, r: ViewStop(s, r, wallet))

    def withdraw(self, wallet) -> Reply:
        return self.request(lambda s, r: ViewWithdraw(s, r, wallet))

    def list(self, wallet, content, price) -> Reply:
        return self.request(lambda s, r: MarketList(s, r, wallet, content, price))

    def unlist(self, wallet, content) -> Reply:
        return self.request(lambda s, r: MarketUnlist(s, r, wallet, content))

    def disconnect(self, wallet) -> None:
        self.step(I.PlayerDisconnected(wallet))

    # --- reading ---------------------------------------------------------------------
    def shared(self):
        return self.state.modes["meme"]

    def escrow(self) -> int:
        return self.accounts.get(f"escrow:{self.shared().hall}", 0)

    def events_of(self, type_: str, to: str | None = None) -> list[dict]:
        return [e.body for e in self.events if e.type == type_ and (to is None or to in e.to)]

    def owed_by_escrow(self) -> int:
        """What the escrow still owes (balances, unsettled shares, the pool,
        payments waiting for their purpose), by the mode's own count."""
        return escrow_owed(self.shared())
