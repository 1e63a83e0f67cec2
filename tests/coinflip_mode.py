"""A mode defined by a test, not by Arena: a two-player coin flip for an entry fee.

It exists to show that a mode plugs in through the registry alone: nothing
outside this module and tests/test_mode_registry.py knows it. A server
loads it with `[server] mode_modules = "coinflip_mode"` (with tests/ on the
Python path). Like every mode it imports only the standard library, attrs
and `arena.engine`.

Rules: `queue.join {"mode": "coinflip"}` pairs the first two wallets
waiting (`coinflip:found`); each pays `entry_fee` into the match's escrow
(`entry.build` / `entry.confirm`) by `entry_deadline_ms`, or the match is
cancelled and the paid fees refunded. Once both paid, the first player
calls the side (`coinflip.call {"match", "side"}`); the coin (a draw from
the world's seed and the match id, so a replay lands it the same way)
decides, and the winner gets the whole pot (`Settle` keyed
`coinflip:payout:<match>`). Each result is kept as a `mode_records` row.
"""

from __future__ import annotations

from attrs import define, field, frozen

from arena.engine import inputs as I
from arena.engine import rng
from arena.engine.config import positive
from arena.engine.errors import BAD_REQUEST, DUPLICATE, NOT_ALLOWED, WRONG_STATE, ArenaError
from arena.engine.inputs import ClientInput
from arena.engine.mode import GameRequest, Mode, Record, RequestField
from arena.engine.outputs import Event, Settle, Transfer
from arena.engine.registry import register
from arena.engine.snapshot import register as snapshot_class

NAME = "coinflip"


@frozen
class CoinFlipSettings:
    entry_fee: int = field(default=50, validator=positive)
    entry_deadline_ms: int = field(default=30_000, validator=positive)


@frozen
class FlipCall(ClientInput):
    match: str
    side: str


@snapshot_class
@define
class FlipQueue:
    waiting: dict = field(factory=dict)  # wallet -> None, oldest first


@snapshot_class
@define
class FlipMatch:
    id: str
    players: list
    entry_fee: int
    mode: str = NAME
    phase: str = "entry"  # entry -> call -> (dropped)
    deadline: int = 0
    wake_at: int = -1
    paid: dict = field(factory=dict)  # wallet -> payment id


def payout_key(match: str) -> str:
    return f"coinflip:payout:{match}"


class CoinFlip(Mode):
    name = NAME
    settings = CoinFlipSettings
    inputs = (FlipCall,)
    routed_inputs = (I.QueueLeave,)
    requests = (
        GameRequest(
            name="coinflip.call",
            fields=(RequestField("match", str, max_len=64), RequestField("side", str, max_len=8)),
            make=lambda session, rid, wallet, body, at_ms, url: FlipCall(
                session, rid, wallet, body["match"], body["side"]),
        ),
    )

    def setup(self, config):
        return FlipQueue()

    def route(self, ctx, inp) -> None:
        q: FlipQueue = ctx.state.modes[self.name]
        if isinstance(inp, I.QueueJoin):
            if inp.wallet in q.waiting or inp.wallet in ctx.state.bindings:
                ctx.error(inp, DUPLICATE, "already queued or playing")
                return
            q.waiting[inp.wallet] = None
            ctx.reply(inp, {"queued": True})
            if len(q.waiting) >= 2:
                a, b = list(q.waiting)[:2]
                del q.waiting[a], q.waiting[b]
                self._create(ctx, [a, b])
        elif isinstance(inp, I.QueueLeave):
            q.waiting.pop(inp.wallet, None)
            ctx.reply(inp, {"queued": False})
        elif isinstance(inp, I.PlayerDisconnected):
            q.waiting.pop(inp.wallet, None)

    def _create(self, ctx, players: list) -> None:
        cfg = ctx.settings(self.name)
        m = FlipMatch(ctx.new_match_id(self.name), players, cfg.entry_fee)
        m.deadline = ctx.tick + ctx.ticks(cfg.entry_deadline_ms)
        ctx.state.matches[m.id] = m
        for p in players:
            ctx.bind(p, m.id, "player")
        ctx.wake(m, m.deadline)
        ctx.emit(players, "coinflip:found", {"match": m.id, "players": list(players), "entry_fee": m.entry_fee})

    def entry_quote(self, m: FlipMatch, wallet: str) -> int:
        if wallet not in m.players:
            raise ArenaError(NOT_ALLOWED, "not a player of this flip")
        if m.phase != "entry" or wallet in m.paid:
            raise ArenaError(WRONG_STATE, "nothing to pay")
        return m.entry_fee

    def input(self, ctx, m: FlipMatch, inp) -> None:
        if isinstance(inp, I.EntryFeePaid):
            if m.phase != "entry" or inp.wallet not in m.players or inp.wallet in m.paid:
                # Money that reached escrow and is not wanted goes back.
                ctx.effect(Settle(f"coinflip:refund:{inp.payment_id}", m.id,
                                  (Transfer(f"escrow:{m.id}", inp.wallet, inp.amount),), "not_needed"))
                return
            m.paid[inp.wallet] = inp.payment_id
            ctx.emit(m.players, "coinflip:paid", {"match": m.id, "player": inp.wallet})
            if len(m.paid) == 2:
                m.phase = "call"
                ctx.emit(m.players, "coinflip:call", {"match": m.id, "caller": m.players[0]})
        elif isinstance(inp, FlipCall):
            if inp.wallet not in m.players:
                ctx.error(inp, NOT_ALLOWED, "not a player of this flip")
            elif inp.wallet != m.players[0]:
                ctx.error(inp, NOT_ALLOWED, "the first player calls")
            elif m.phase != "call":
                ctx.error(inp, WRONG_STATE, f"the flip is in phase {m.phase}")
            elif inp.side not in ("heads", "tails"):
                ctx.error(inp, BAD_REQUEST, "side must be heads or tails")
            else:
                self._flip(ctx, m, inp)
        elif isinstance(inp, I.MatchWatch):
            ctx.error(inp, NOT_ALLOWED, "a coin flip has no audience")

    def _flip(self, ctx, m: FlipMatch, inp: FlipCall) -> None:
        landed = ("heads", "tails")[rng.draw(ctx.config.seed, "flip", m.id) % 2]
        winner = m.players[0] if inp.side == landed else m.players[1]
        pot = m.entry_fee * 2
        ctx.reply(inp, {"landed": landed})
        ctx.effect(Settle(payout_key(m.id), m.id, (Transfer(f"escrow:{m.id}", winner, pot),), "completed"))
        ctx.emit(m.players, "coinflip:result", {"match": m.id, "landed": landed, "winner": winner, "pot": pot})
        ctx.drop_match(m, m.players)

    def tick(self, ctx, m: FlipMatch) -> None:
        if m.phase == "entry" and ctx.tick >= m.deadline:
            refunds = tuple(Transfer(f"escrow:{m.id}", p, m.entry_fee) for p in m.paid)
            ctx.effect(Settle(f"coinflip:refund:{m.id}", m.id, refunds, "cancelled"))
            ctx.emit(m.players, "coinflip:cancelled", {"match": m.id})
            ctx.drop_match(m, m.players)

    def snapshot(self, ctx, m: FlipMatch, wallet: str) -> dict:
        return {"phase": m.phase, "players": list(m.players), "paid": list(m.paid), "entry_fee": m.entry_fee}

    def records(self, state, tick: int, messages) -> list:
        return [Record("flip", msg.body["match"],
                       {"winner": msg.body["winner"], "pot": msg.body["pot"], "landed": msg.body["landed"]})
                for msg in messages if msg.__class__ is Event and msg.type == "coinflip:result"]

    def waiting_wallets(self, shared) -> list[str]:
        return list(shared.waiting)


MODE = register(CoinFlip())
