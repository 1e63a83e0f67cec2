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
from arena.engine.canonical import state_hash
from arena.engine.config import EngineConfig
from arena.engine.outputs import Event, FetchFeed, Reply, Settle
from arena.persistence import codec
from arena.persistence.durable import replay
from arena.schedule import decide, following

T0 = 1_800_000_000_000  # engine time of the first tick


class ModeEngine:
    MODE = ""

    def __init__(self, settings, seed: int = 1, now: int = T0):
        self.config = EngineConfig.of(tick_hz=20, seed=seed, modes={self.MODE: settings})
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
                if eff.key in self.settles and eff.reason == "late_payment" and self.settles[eff.key] == eff:
                    continue  # the core's refund of a payment reported twice to a gone match: the ledger applies a key once
                assert eff.key not in self.settles, f"settlement {eff.key} issued twice"
                self.settles[eff.key] = eff
                for t in eff.transfers:
                    self.escrow[t.source] = self.escrow.get(t.source, 0) - t.amount
                    assert self.escrow[t.source] >= 0, f"{t.source} overdrawn by {eff.key}"
                    self.wallets[t.dest] = self.wallets.get(t.dest, 0) + t.amount
            elif isinstance(eff, FetchFeed):
                self.fetches.append(eff)

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

    def replayed_hash(self) -> str:
        return state_hash(self.replayed_state())

    def hash(self) -> str:
        return state_hash(self.state)
