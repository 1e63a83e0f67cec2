"""A mode defined by a test: it only keeps time, to show schedules end to end.

Its rules are `RULES` (module-level, so a test sets them) plus a one-off
rule for every instant in its shared state's `alarms` (set with the
`ticker.alarm {"at_ms"}` request: a rule that comes from the state, as a
round's lock time would). Every occurrence the engine applies is appended
to the shared state's `fired` as [rule, at_ms, kind, missed, engine now_ms],
and announced to every wallet that asked for it (`ticker:fired`).
"""

from __future__ import annotations

from attrs import define, field, frozen

from arena.engine.inputs import ClientInput
from arena.engine.mode import GameRequest, Mode, RequestField
from arena.engine.registry import register
from arena.engine.snapshot import register as snapshot_class
from arena.schedule import Rule

NAME = "ticker"
RULES: list[Rule] = []


@frozen
class AlarmSet(ClientInput):
    at_ms: int


@snapshot_class
@define
class TickerState:
    fired: list = field(factory=list)
    alarms: list = field(factory=list)
    listeners: list = field(factory=list)


class TickerMode(Mode):
    name = NAME
    inputs = (AlarmSet,)
    routed_inputs = (AlarmSet,)
    requests = (
        GameRequest("ticker.alarm", (RequestField("at_ms", int),),
                    lambda session, rid, wallet, body, at_ms, url: AlarmSet(session, rid, wallet, body["at_ms"])),
    )

    def setup(self, config):
        return TickerState()

    def route(self, ctx, inp) -> None:
        shared = ctx.state.modes[NAME]
        if isinstance(inp, AlarmSet):
            shared.alarms.append(inp.at_ms)
            if inp.wallet not in shared.listeners:
                shared.listeners.append(inp.wallet)
            ctx.reply(inp, {"alarms": len(shared.alarms), "now_ms": ctx.now_ms})

    def schedules(self, settings, shared):
        alarms = tuple(Rule.at(f"alarm-{n}", at) for n, at in enumerate(shared.alarms)) if shared else ()
        return (*RULES, *alarms)

    def on_schedule(self, ctx, shared, fired) -> None:
        shared.fired.append([fired.rule, fired.at_ms, fired.kind, fired.missed, ctx.now_ms])
        ctx.emit(shared.listeners, "ticker:fired", {"rule": fired.rule, "at_ms": fired.at_ms, "kind": fired.kind})


MODE = register(TickerMode())
