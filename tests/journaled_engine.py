"""What every mode's engine-level test harness shares: a fresh world's
state stepped through `core.step`, each tick's inputs journaled as the
journal keeps them (so the test can replay them onto a fresh state and
compare hashes), replies kept by rid and events in order, and every
`Settle` kept once per key (a key issued twice fails the test; the core's
late-payment refund reported again for a gone match is the same settlement,
which the ledger applies once, and is left out). `run_tick` returns the
tick's effects less such repeats.
(tests/mode_harness.py adds a clock, the scheduler and a ledger model.)"""

from __future__ import annotations

from arena.engine import core
from arena.engine.canonical import state_hash
from arena.engine.outputs import Event, Reply, Settle
from arena.persistence import codec
from arena.persistence.durable import replay


class JournaledEngine:
    def __init__(self, config):
        self.config = config
        self.state = core.new_state(config, world="w")
        self.tick = 0
        self.journal: list = []
        self.replies: dict[int, Reply] = {}
        self.events: list[Event] = []
        self.settles: dict[str, Settle] = {}

    def run_tick(self, inputs: list) -> list:
        """One tick of `inputs`; returns its effects."""
        self.tick += 1
        self.journal.append((self.tick, codec.encode_inputs(inputs)))
        messages, effects = core.step(self.state, self.tick, inputs)
        for msg in messages:
            if isinstance(msg, Reply):
                self.replies[msg.rid] = msg
            else:
                self.events.append(msg)
        fresh = []
        for eff in effects:
            if isinstance(eff, Settle):
                if eff.key in self.settles and eff.reason == "late_payment" and self.settles[eff.key] == eff:
                    continue  # the core's refund of a payment reported twice to a gone match: applied once by key
                assert eff.key not in self.settles, f"settlement {eff.key} issued twice"
                self.settles[eff.key] = eff
            fresh.append(eff)
        return fresh

    def report_payment(self, money, chosen, order: str = "money_first", tick_between: bool = False) -> None:
        """A confirmed payment as the gateway reports it: the ledger's `money`
        (`EntryFeePaid`) and the player's choice `chosen` (what it pays for),
        in `order`: "money_first", "chosen_first", "money_only" (the choice
        never arrives) or "twice" (the ledger and the chain watcher both
        report it); in one tick, or one each (`tick_between`). Uses the
        subclass's `step`."""
        first, second = (money, chosen) if order == "money_first" else (chosen, money)
        if order == "money_only":
            self.step(money)
        elif order == "twice":
            self.step(chosen, money, money, chosen)
        elif tick_between:
            self.step(first)
            self.step(second)
        else:
            self.step(first, second)

    def replayed_hash(self) -> str:
        fresh = core.new_state(self.config, world="w")
        replay(fresh, self.journal, self.tick)
        return state_hash(fresh)

    def hash(self) -> str:
        return state_hash(self.state)
