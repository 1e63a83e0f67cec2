"""The scheduler side task: every mode's calendar rules, fed as journaled inputs.

Between ticks it asks each mode for its rules (`Mode.schedules(settings,
shared)`), reads the wall clock, and submits what `arena.schedule.decide`
says for each rule as a `ScheduleFired` input. Exactly once comes from the
engine, not from here: the engine applies an occurrence only if it is after
the rule's mark, and the mark moves in the same tick as the mode's reaction,
so both are journaled together or lost together. A crash before that tick
was durable loses both, and on start-up the rule's mark is older than the
occurrence, so it is found again (on time or late, by `late_after_ms`).

So this task may submit an occurrence twice (it remembers what it sent
until the engine has applied it, to avoid doing so every poll) and may be
restarted at any time by its supervisor.
"""

from __future__ import annotations

import logging

import trio

from arena.engine import inputs as I
from arena.engine.registry import registry
from arena.schedule import Rule, decide, following

log = logging.getLogger("arena.scheduler")


class Scheduler:
    def __init__(self, get_state, submit, clock, *, poll_ms: int = 250, late_after_ms: int = 60_000,
                 supervisor=None) -> None:
        self.get_state = get_state  # () -> EngineState (read between ticks)
        self.submit = submit  # (input) -> bool
        self.clock = clock  # () -> epoch ms
        self.poll_ms = poll_ms
        self.late_after_ms = late_after_ms
        self.supervisor = supervisor
        self.sent: dict[str, int] = {}  # "<mode>:<rule>" -> at_ms submitted, not yet seen applied
        self.counts = {"on_time": 0, "late": 0, "skipped": 0, "armed": 0, "bad_rules": 0}
        self._bad: set[str] = set()  # rules already reported as failing (logged once)

    def rules(self, state) -> list[tuple[str, Rule]]:
        out = []
        for name, mode in registry.modes().items():
            settings = state.config.modes.get(name)
            try:
                rules = tuple(mode.schedules(settings, state.modes.get(name)))
            except Exception:  # noqa: BLE001 - one mode's bug must not stop the others' schedules
                self._report(name, "its schedules() failed")
                continue
            for rule in rules:
                if isinstance(rule, Rule):
                    out.append((name, rule))
                else:
                    self._report(name, f"schedules() gave {type(rule).__name__}, not a Rule")
        return out

    def _report(self, mode: str, why: str) -> None:
        self.counts["bad_rules"] += 1
        if (mode, why) not in self._bad:
            self._bad.add((mode, why))
            log.error("a mode's schedule is broken; its rules are not fired", extra={"mode": mode, "why": why})

    def poll(self) -> list:
        """Submit what is due now; returns the inputs submitted."""
        state = self.get_state()
        now = self.clock()
        marks = state.schedule_marks or {}
        fed = []
        live = set()
        for mode, rule in self.rules(state):
            key = f"{mode}:{rule.name}"
            live.add(key)
            mark = marks.get(key)
            sent = self.sent.get(key)
            if sent is not None:
                if mark is not None and mark >= sent:
                    del self.sent[key]  # applied
                else:
                    mark = sent if mark is None else max(mark, sent)
            d = decide(rule, mark, now, self.late_after_ms)
            if d is None:
                continue
            inp = I.ScheduleFired(mode=mode, rule=rule.name, at_ms=d.at_ms, kind=d.kind, missed=d.missed,
                                  next_ms=following(rule, d.at_ms))
            if self.submit(inp):
                self.sent[key] = d.at_ms
                self.counts[d.kind] += 1
                fed.append(inp)
                level = logging.WARNING if d.kind in ("late", "skipped") else logging.INFO
                log.log(level, "schedule", extra={"mode": mode, "rule": rule.name, "kind": d.kind,
                                                  "at_ms": d.at_ms, "missed": d.missed, "now_ms": now})
        for key in [k for k in self.sent if k not in live]:
            del self.sent[key]  # the mode dropped the rule
        return fed

    async def run(self) -> None:
        while True:
            self.poll()
            if self.supervisor is not None:
                self.supervisor.record_success()
            await trio.sleep(self.poll_ms / 1000)

    def health(self) -> dict:
        return {"poll_ms": self.poll_ms, "late_after_ms": self.late_after_ms, "waiting": len(self.sent),
                **self.counts}


__all__ = ["Scheduler"]
