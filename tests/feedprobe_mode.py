"""A mode defined by a test to exercise data feeds end to end: `feedprobe`.

`feedprobe.ask {"round": "<r>"}` opens a probe (a match of one wallet) and
issues two `FetchFeed` effects: one for the probe (feed "draw", key
`feed:<match>:draw`) and one for the mode itself (match "", feed "price",
key `feed::price:<r>`). The probe's `FeedResult` arrives through `input`
(the match is live) and is kept on the probe and announced to its wallet
(`feedprobe:result`); the mode-level one arrives through `route` and is kept
in the mode's shared state; one for a probe that is gone is counted by
`orphan_input`. Like every mode it imports only the standard library,
attrs and `arena.engine`.
"""

from __future__ import annotations

from attrs import define, field, frozen

from arena.engine import inputs as I
from arena.engine.inputs import ClientInput
from arena.engine.mode import GameRequest, Mode, RequestField
from arena.engine.outputs import FetchFeed
from arena.engine.registry import register
from arena.engine.snapshot import register as snapshot_class

NAME = "feedprobe"


@frozen
class ProbeAsk(ClientInput):
    round: str


@snapshot_class
@define
class ProbeShared:
    results: dict = field(factory=dict)  # key -> [status, value, number of answers]
    orphans: int = 0


@snapshot_class
@define
class Probe:
    id: str
    wallet: str
    round: str
    mode: str = NAME
    wake_at: int = -1
    result: list = field(factory=list)  # [status, value, number of answers], once it came


def draw_key(match: str) -> str:
    return f"feed:{match}:draw"


def price_key(round_: str) -> str:
    return f"feed::price:{round_}"


class FeedProbe(Mode):
    name = NAME
    inputs = (ProbeAsk,)
    routed_inputs = (ProbeAsk,)
    requests = (
        GameRequest(
            name="feedprobe.ask",
            fields=(RequestField("round", str, max_len=16),),
            make=lambda session, rid, wallet, body, at_ms, url: ProbeAsk(session, rid, wallet, body["round"]),
        ),
    )

    def setup(self, config):
        return ProbeShared()

    def route(self, ctx, inp) -> None:
        shared: ProbeShared = ctx.state.modes[self.name]
        if isinstance(inp, ProbeAsk):
            p = Probe(ctx.new_match_id(self.name), inp.wallet, inp.round)
            ctx.state.matches[p.id] = p
            ctx.bind(inp.wallet, p.id, "player")
            ctx.effect(FetchFeed(draw_key(p.id), self.name, p.id, "draw", (("round", inp.round),)))
            ctx.effect(FetchFeed(price_key(inp.round), self.name, "", "price", (("symbol", "SOL"),)))
            ctx.reply(inp, {"match": p.id})
        elif isinstance(inp, I.FeedResult):
            shared.results[inp.key] = [inp.status, inp.value, len(inp.answers)]

    def input(self, ctx, p: Probe, inp) -> None:
        if isinstance(inp, I.FeedResult):
            p.result = [inp.status, inp.value, len(inp.answers)]
            value = list(inp.value) if isinstance(inp.value, tuple) else inp.value
            ctx.emit((p.wallet,), "feedprobe:result", {"match": p.id, "status": inp.status, "value": value})

    def orphan_input(self, ctx, inp) -> None:
        if isinstance(inp, I.FeedResult):
            ctx.state.modes[self.name].orphans += 1

    def tick(self, ctx, p) -> None:
        pass

    def snapshot(self, ctx, p: Probe, wallet: str) -> dict:
        return {"round": p.round, "result": p.result}


MODE = register(FeedProbe())
