"""The common part of the engine harnesses of the modes' unit and
state-machine tests (tests/lottery_harness.py, tests/contest_harness.py):
one mode driven through `core.step` with a journal, a clock, the scheduler's
occurrences and a ledger model.

`ModeEngine` keeps every tick's inputs encoded as the journal keeps them, so a
test can replay them onto a fresh state and compare hashes; `escrow` models
the ledger's escrow accounts from the `Settle` effects (a transfer out of an
escrow that does not hold the money is a test failure: it would be a
payment_failed on the real ledger), and a settlement key issued twice fails
the test (nothing is paid twice).
"""

from __future__ import annotations

from arena.engine import core
from arena.engine import inputs as I
from arena.engine.config import EngineConfig
from arena.engine.outputs import FetchFeed, Settle
from arena.persistence.durable import replay
from arena.schedule import decide, following
from journaled_engine import JournaledEngine

T0 = 1_800_000_000_000  # engine time of the first tick


class ModeEngine(JournaledEngine):
    MODE = ""

    def __init__(self, settings, seed: int = 1, now: int = T0):
        super().__init__(EngineConfig.of(tick_hz=20, seed=seed, modes={self.MODE: settings}))
        self.now = now
        self.fetches: list[FetchFeed] = []
        self.jobs: list = []  # the mode's own side tasks' effects, not yet answered
        self.escrow: dict[str, int] = {}
        self.wallets: dict[str, int] = {}  # money in (-) and out (+) per account
        self._rid = 0
        self._pid = 0

    def scheduled(self) -> list:
        """What the scheduler side task would feed now: the mode's due rules
        (`arena.schedule.decide`, as `arena.scheduler` does)."""
        mode = core.MODES[self.MODE]
        marks = self.state.schedule_marks or {}
        out = []
        for rule in mode.schedules(self.state.config.modes[self.MODE], self.shared()):
            d = decide(rule, marks.get(f"{self.MODE}:{rule.name}"), self.now, 60_000)
            if d is not None:
                out.append(I.ScheduleFired(self.MODE, rule.name, d.at_ms, d.kind, d.missed,
                                           following(rule, d.at_ms)))
        return out

    def step(self, *inputs) -> None:
        """One tick at `self.now`, with the scheduler's due occurrences first;
        each new settlement moves money in the ledger model."""
        for eff in self.run_tick([I.ClockSet(self.now), *self.scheduled(), *inputs]):
            if isinstance(eff, Settle):
                for t in eff.transfers:
                    self.escrow[t.source] = self.escrow.get(t.source, 0) - t.amount
                    assert self.escrow[t.source] >= 0, f"{t.source} overdrawn by {eff.key}"
                    self.wallets[t.dest] = self.wallets.get(t.dest, 0) + t.amount
            elif isinstance(eff, FetchFeed):
                self.fetches.append(eff)
            else:
                self.jobs.append(eff)

    def request(self, inp_of) -> Reply:
        self._rid += 1
        self.step(inp_of(f"s-{self._rid}", self._rid))
        return self.replies[self._rid]

    def paid(self, escrow: str, wallet: str, amount: int) -> str:
        """A new payment id, and the ledger model's view of the payment."""
        self._pid += 1
        self.escrow[f"escrow:{escrow}"] = self.escrow.get(f"escrow:{escrow}", 0) + amount
        self.wallets[wallet] = self.wallets.get(wallet, 0) - amount
        return f"{self._pid:064x}"

    def shared(self):
        return self.state.modes[self.MODE]

    def events_of(self, type_: str) -> list[dict]:
        return [e.body for e in self.events if e.type == type_]

    def replayed_state(self):
        fresh = core.new_state(self.config, world="w")
        replay(fresh, self.journal, self.tick)
        return fresh
