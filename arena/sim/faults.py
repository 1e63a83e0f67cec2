"""Faults drawn from a seed: what goes wrong, and when, in one simulated world.

A `FaultPlan` is a list of `Fault`s, each at a tick. It is made from the
seed alone (`FaultPlan.draw`), so a seed names its schedule, and a shrunk
plan (faults dropped, ticks cut) is still a plan that replays exactly.

The wrappers here put the faults into the real objects: `SimStore` (a
`MemoryStore` whose writes fail or stall on command), `Flaky` (a ledger or
judge whose calls fail, time out, or apply and then lose their answer).
"""

from __future__ import annotations

import random
import types

import attrs
import trio
from attrs import frozen

from arena.persistence.memory import MemoryStore
from arena.persistence.store import StoreError

# kind -> what its `arg` means
KINDS = {
    "drop_client": "bot index: its connection closes (a network drop); it resumes",
    "abort_client": "bot index: its connection is cut without a close frame",
    "slow_reader": "bot index: it stops reading for `arg2` ticks",
    "garbage": "bot index: it sends a malformed frame",
    "store_fail": "ticks the store refuses every write",
    "store_stall": "ticks each store write takes",
    "crash": "ticks until the server is started again (its memory is lost; the store keeps what was durable)",
    "ledger_fail": "ledger calls that fail before doing anything",
    "ledger_lost_answer": "ledger settlements that apply and then fail (the answer is lost)",
    "ledger_slow": "ledger calls that take 20 s",
    "judge_fail": "judge calls that fail",
    "judge_garbage": "judge calls that answer garbage (wrong types, out-of-range scores)",
    "flood": "bot index: its connection sends `arg2` requests at once",
    "clock_jump": "seconds the wall clock jumps forward",
}


@frozen
class Fault:
    tick: int
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    arg: int = 0
    arg2: int = 0

    def text(self) -> str:
        extra = f",{self.arg2}" if self.arg2 else ""
        return f"{self.tick}:{self.kind}:{self.arg}{extra}"

    @classmethod
    def parse(cls, text: str) -> Fault:
        tick, kind, args = text.split(":")
        nums = [int(a) for a in args.split(",")]
        return cls(int(tick), kind, nums[0], nums[1] if len(nums) > 1 else 0)


@frozen
class FaultPlan:
    faults: tuple = ()

    @classmethod
    def draw(cls, seed: int, ticks: int, bots: int, rate: float = 1.0) -> FaultPlan:
        """About `rate` faults per 100 ticks, of every kind, from the seed."""
        rng = random.Random(f"faults:{seed}")
        n = rng.randint(0, max(1, int(ticks * rate / 100)))
        faults = []
        for _ in range(n):
            tick = rng.randint(5, max(6, ticks - 1))
            kind = rng.choice(sorted(KINDS))
            if kind in ("drop_client", "abort_client", "garbage"):
                faults.append(Fault(tick, kind, rng.randrange(bots)))
            elif kind == "flood":
                faults.append(Fault(tick, kind, rng.randrange(bots), rng.randint(50, 2000)))
            elif kind == "slow_reader":
                faults.append(Fault(tick, kind, rng.randrange(bots), rng.randint(20, 400)))
            elif kind in ("store_fail", "store_stall"):
                faults.append(Fault(tick, kind, rng.randint(1, 100)))
            elif kind == "crash":
                faults.append(Fault(tick, kind, rng.randint(1, 60)))
            elif kind == "clock_jump":
                faults.append(Fault(tick, kind, rng.choice((1, 30, 3600, 86_400))))
            else:
                faults.append(Fault(tick, kind, rng.randint(1, 3)))
        return cls(tuple(sorted(faults, key=lambda f: (f.tick, f.kind, f.arg, f.arg2))))

    def without(self, index: int) -> FaultPlan:
        return FaultPlan(self.faults[:index] + self.faults[index + 1:])

    def upto(self, ticks: int) -> FaultPlan:
        return FaultPlan(tuple(f for f in self.faults if f.tick < ticks))

    def text(self) -> str:
        return " ".join(f.text() for f in self.faults)

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        return cls(tuple(Fault.parse(t) for t in text.split()))


class SimStore(MemoryStore):
    """The memory store, with writes that fail or stall while told to."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.stall_s = 0.0
        self.write_failures = 0

    async def write(self, batch) -> None:
        if self.stall_s:
            await trio.sleep(self.stall_s)
        if self.failing:
            self.write_failures += 1
            raise StoreError("simulated: the store refuses writes")
        await super().write(batch)


class SimulatedFault(Exception):
    """A failure the simulator injected (never a real one)."""


# What a lying or broken outsider answers (`Flaky.garbage_next`).
GARBAGE = {
    "score": types.SimpleNamespace(savagery="lots", creativity=99, delivery=-5, relevance=None,
                                   commentary=12345, judge=None),
    "generate_prompt": 12345,
    "transcribe": b"\xff",
    "moderate": "yes",
}


class Flaky:
    """A ledger or judge whose next calls fail, stall or lose their answers.

    Every attribute is the inner object's; the async calls named in `calls`
    first take a fault from the counters, if any is set."""

    def __init__(self, inner, calls: tuple[str, ...]) -> None:
        self._inner = inner
        self._calls = calls
        self.fail_next = 0
        self.lose_next = 0  # settle: apply, then fail
        self.slow_next = 0
        self.garbage_next = 0
        self.injected = 0

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        if name not in self._calls:
            return value

        async def call(*args, **kwargs):
            if self.slow_next:
                self.slow_next -= 1
                self.injected += 1
                await trio.sleep(20)
            if self.fail_next:
                self.fail_next -= 1
                self.injected += 1
                raise SimulatedFault(f"simulated: {name} failed")
            if self.garbage_next:
                self.garbage_next -= 1
                self.injected += 1
                return GARBAGE.get(name, None)
            result = await value(*args, **kwargs)
            if self.lose_next and name == "settle":
                self.lose_next -= 1
                self.injected += 1
                raise SimulatedFault("simulated: settle applied, its answer lost")
            return result

        return call


__all__ = ["Fault", "FaultPlan", "KINDS", "SimStore", "Flaky", "SimulatedFault"]
