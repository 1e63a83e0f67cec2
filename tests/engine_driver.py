"""A small harness around the pure engine, shared by the engine tests.

`Driver` owns an engine state and a tick counter. Each `step(*inputs)` advances
exactly one tick, feeds the inputs (after any side-task answers that are due),
records `(tick, inputs)` in a journal-like `log`, and keeps every message and
effect. It can play the side tasks itself:

- `GeneratePrompt` -> `PromptGenerated` with a fixed text (`prompt_text`),
- `ScoreRoast` -> `RoastScored` with configurable values (`scores`),
- `Settle` -> applied to an in-test double-entry `Ledger` (idempotent per key)
  and answered with `SettlementDone`.

Answers are fed on the next step, as a real side task answers later. Turn any
of them off (`prompts=False`, `scores=None`, `settle=False`) to play that side
task by hand.

`Ledger` is a test double of the ledger port: integer balances per account, a
transfer debits one account and credits another, nothing may go negative, and
a `Settle` key is applied at most once.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Callable, Iterable

from arena.engine import inputs as I
from arena.modes.roast import messages as R
from arena.engine.canonical import state_hash
from arena.engine.config import EngineConfig
from arena.modes.roast.settings import RoastConfig
from arena.engine.core import new_state, step
from arena.engine.outputs import Event, Reply, Settle
from arena.modes.roast.messages import GeneratePrompt, ScoreRoast

DIMENSIONS = ("savagery", "creativity", "delivery", "relevance")


def fast_config(*, tick_hz: int = 20, seed: int = 1, **roast) -> EngineConfig:
    """An engine config with short durations so deadlines fire within a test.

    At 20 Hz (50 ms a tick): countdown 2 ticks, recording 10, entry deadline 20,
    disconnect grace 6, scoring timeout 8, prompt timeout 10.
    """
    values = dict(
        countdown_ms=100,
        time_limit_ms=500,
        entry_deadline_ms=1_000,
        disconnect_grace_ms=300,
        scoring_timeout_ms=400,
        prompt_timeout_ms=500,
    )
    values.update(roast)
    return EngineConfig.of(tick_hz=tick_hz, seed=seed, modes={"roast": RoastConfig(**values)})


class LedgerError(AssertionError):
    """The engine asked the ledger for something impossible (an overdraft)."""


class Ledger:
    """Double-entry balances with idempotent settlements, for tests."""

    def __init__(self, funded: dict[str, int] | None = None):
        self.balances: dict[str, int] = defaultdict(int)
        self.balances.update(funded or {})
        self.applied: dict[str, Settle] = {}  # key -> the Settle applied under it
        self.duplicates: list[Settle] = []  # Settles seen again under an applied key

    def fund(self, account: str, amount: int) -> None:
        self.balances[account] += amount

    def total(self) -> int:
        return sum(self.balances.values())

    def balance(self, account: str) -> int:
        return self.balances.get(account, 0)

    def move(self, source: str, dest: str, amount: int) -> None:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise LedgerError(f"bad transfer amount {amount!r} ({source} -> {dest})")
        if self.balances[source] < amount:
            raise LedgerError(f"overdraft: {source} has {self.balances[source]}, needs {amount}")
        self.balances[source] -= amount
        self.balances[dest] += amount

    def settle(self, s: Settle) -> bool:
        """Apply `s` atomically unless its key was applied already; True if applied."""
        if s.key in self.applied:
            self.duplicates.append(s)
            return False
        delta: dict[str, int] = defaultdict(int)
        for t in s.transfers:
            if not isinstance(t.amount, int) or t.amount <= 0:
                raise LedgerError(f"{s.key}: bad transfer amount {t.amount!r}")
            delta[t.source] -= t.amount
            delta[t.dest] += t.amount
        for account, d in delta.items():
            if self.balances[account] + d < 0:
                raise LedgerError(f"{s.key}: overdraft of {account} ({self.balances[account]} {d:+d})")
        for account, d in delta.items():
            self.balances[account] += d
        self.applied[s.key] = s
        return True

    def escrows(self) -> dict[str, int]:
        return {a: b for a, b in self.balances.items() if a.startswith("escrow:") and b}


class Outcome:
    """The messages and effects of one or more steps, with lookups."""

    def __init__(self, messages: list, effects: list):
        self.messages = messages
        self.effects = effects

    @property
    def replies(self) -> list[Reply]:
        return [m for m in self.messages if isinstance(m, Reply)]

    @property
    def reply(self) -> Reply:
        (r,) = self.replies
        return r

    def events(self, type_: str | None = None, match: str | None = None, to: str | None = None) -> list[Event]:
        return [
            m
            for m in self.messages
            if isinstance(m, Event)
            and (type_ is None or m.type == type_)
            and (match is None or m.body.get("match") == match)
            and (to is None or to in m.to)
        ]

    def event(self, type_: str, match: str | None = None, to: str | None = None) -> Event:
        evs = self.events(type_, match, to)
        assert len(evs) == 1, f"expected one {type_}, got {evs}"
        return evs[0]

    def of(self, cls: type) -> list:
        return [e for e in self.effects if isinstance(e, cls)]

    @property
    def settles(self) -> list[Settle]:
        return self.of(Settle)


class Driver:
    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        prompts: bool = True,
        prompt_text: str = "Roast your opponent's haircut.",
        scores=(5, 5, 5, 5),
        settle: bool = True,
        funds: int = 1_000_000,
        ledger: Ledger | None = None,
    ):
        self.config = config or fast_config()
        self.state = new_state(self.config)
        self.tick = 0
        self.log: list[tuple[int, tuple]] = []
        self.pending: list = []  # side-task answers for the next step
        self.messages: list = []
        self.effects: list = []
        self.replies: dict[tuple[str, int], list[Reply]] = defaultdict(list)
        self.prompts = prompts
        self.prompt_text = prompt_text
        # tuple: the same four values for everyone; dict keyed by wallet or
        # (round, wallet); callable(effect) -> tuple or None (None: no answer);
        # None: scores are not answered.
        self.scores = scores
        self.auto_settle = settle
        self.funds = funds
        self.ledger = ledger if ledger is not None else Ledger()
        self._rid = itertools.count(1)
        self._payment = itertools.count(1)
        self._funded: set[str] = set()

    # --- stepping ---------------------------------------------------------------
    def step(self, *inputs, tick: int | None = None) -> Outcome:
        """Advance one tick (or jump to `tick`), feeding due answers then `inputs`."""
        self.tick = self.tick + 1 if tick is None else tick
        batch = self.pending + list(inputs)
        self.pending = []
        msgs, effs = step(self.state, self.tick, batch)
        self.log.append((self.tick, tuple(batch)))
        self.messages.extend(msgs)
        self.effects.extend(effs)
        for m in msgs:
            if isinstance(m, Reply):
                self.replies[(m.session, m.rid)].append(m)
        self._answer(effs)
        return Outcome(msgs, effs)

    def advance(self, n: int = 1) -> Outcome:
        """Step `n` ticks with no new client inputs; everything they produced."""
        msgs, effs = [], []
        for _ in range(n):
            out = self.step()
            msgs += out.messages
            effs += out.effects
        return Outcome(msgs, effs)

    def advance_ms(self, ms: int) -> Outcome:
        return self.advance(self.config.ticks(ms))

    def run_until(self, pred: Callable[[], bool], limit: int = 1_000) -> Outcome:
        msgs, effs = [], []
        for _ in range(limit):
            if pred():
                return Outcome(msgs, effs)
            out = self.step()
            msgs += out.messages
            effs += out.effects
        raise AssertionError(f"condition not reached within {limit} ticks")

    def do(self, inp) -> Reply:
        """Feed one client input in its own step and return its one reply."""
        self.step(inp)
        return self.reply_to(inp)

    # --- side tasks -------------------------------------------------------------
    def _answer(self, effects: Iterable) -> None:
        for e in effects:
            if isinstance(e, GeneratePrompt) and self.prompts:
                self.pending.append(R.PromptGenerated(e.match, e.round, f"{self.prompt_text} (round {e.round})"))
            elif isinstance(e, ScoreRoast):
                values = self.score_values(e)
                if values is not None:
                    self.pending.append(self.scored(e, values))
            elif isinstance(e, Settle) and self.auto_settle:
                self.ledger.settle(e)
                self.pending.append(I.SettlementDone(e.key))

    def score_values(self, e: ScoreRoast):
        spec = self.scores
        if spec is None:
            return None
        if callable(spec):
            return spec(e)
        if isinstance(spec, dict):
            if (e.round, e.wallet) in spec:
                return spec[(e.round, e.wallet)]
            return spec.get(e.wallet, (5, 5, 5, 5))
        return spec

    @staticmethod
    def scored(e: ScoreRoast, values, commentary: str = "Ouch.") -> R.RoastScored:
        return R.RoastScored(e.match, e.round, e.wallet, *values, commentary=commentary, judge="test")

    # --- client inputs (built, not fed) -----------------------------------------
    def session(self, wallet: str) -> str:
        return f"s-{wallet}"

    def client(self, cls: type, wallet: str, **fields):
        return cls(session=self.session(wallet), rid=next(self._rid), wallet=wallet, **fields)

    def queue_join(self, wallet: str, tier: str = "bronze", mode: str = "roast") -> I.QueueJoin:
        return self.client(I.QueueJoin, wallet, mode=mode, tier=tier)

    def queue_leave(self, wallet: str) -> I.QueueLeave:
        return self.client(I.QueueLeave, wallet)

    def submit(self, wallet: str, match: str, round: int | None = None, text: str = "You look like a typo.",
               audio_url: str | None = None) -> R.RoastSubmit:
        if round is None:
            round = self.state.matches[match].round
        return self.client(R.RoastSubmit, wallet, match=match, round=round, text=text, audio_url=audio_url,
                           at_ms=self.tick * 1000 // self.config.tick_hz)

    def react(self, wallet: str, match: str, emoji: str = "🔥") -> R.ReactionSend:
        return self.client(R.ReactionSend, wallet, match=match, emoji=emoji)

    def watch(self, wallet: str, match: str) -> I.MatchWatch:
        return self.client(I.MatchWatch, wallet, match=match)

    def pay(self, match: str, wallet: str, amount: int | None = None, payment_id: str | None = None) -> I.EntryFeePaid:
        """Move the money on the ledger (wallet -> escrow) and build the input reporting it."""
        if amount is None:
            m = self.state.matches.get(match)
            amount = m.entry_fee if m is not None else self.config.modes["roast"].tiers["bronze"]
        if wallet not in self._funded and self.funds:
            self._funded.add(wallet)
            self.ledger.fund(wallet, self.funds)
        self.ledger.move(wallet, f"escrow:{match}", amount)
        return I.EntryFeePaid(match, wallet, amount, payment_id or f"pay-{next(self._payment)}")

    # --- scenarios ----------------------------------------------------------------
    def matchmake(self, a: str = "alice", b: str = "bob", tier: str = "bronze") -> str:
        """Queue `a` then `b` in one tick; the id of the battle they get."""
        out = self.step(self.queue_join(a, tier), self.queue_join(b, tier))
        return out.event("match.found", to=a).body["match"]

    def start(self, a: str = "alice", b: str = "bob", tier: str = "bronze", *, recording: bool = True) -> str:
        """Matchmake, pay both fees, and (by default) run until round 1 records."""
        mid = self.matchmake(a, b, tier)
        self.step(self.pay(mid, a), self.pay(mid, b))
        if recording:
            self.run_until(lambda: self.phase(mid) == "recording", limit=100)
        return mid

    def play_round(self, mid: str, texts: dict | None = None) -> Outcome:
        """Both players submit in the current round (which must be recording)."""
        m = self.state.matches[mid]
        texts = texts or {}
        subs = [self.submit(p, mid, m.round, texts.get(p, f"roast by {p}")) for p in m.players]
        return self.step(*subs)

    # --- queries ------------------------------------------------------------------
    def reply_to(self, inp) -> Reply:
        rs = self.replies[(inp.session, inp.rid)]
        assert len(rs) == 1, f"expected one reply to {inp}, got {rs}"
        return rs[0]

    def all(self) -> Outcome:
        return Outcome(self.messages, self.effects)

    def events(self, type_: str | None = None, match: str | None = None, to: str | None = None) -> list[Event]:
        return self.all().events(type_, match, to)

    def phase(self, mid: str) -> str:
        m = self.state.matches.get(mid)
        return "ended" if m is None else m.phase

    def hash(self) -> str:
        return state_hash(self.state)


def replay(config: EngineConfig, log: Iterable[tuple[int, Iterable]]):
    """A fresh state with every logged step applied again."""
    state = new_state(config)
    for tick, inputs in log:
        step(state, tick, list(inputs))
    return state
