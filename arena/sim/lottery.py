"""The lottery in the whole-server simulation (`arena.sim`): its bots and
invariants (named by `LotteryMode.simulation`).

Rounds are created without an operator: the "house" (a bot with no
connection) submits, straight to the live server, the lottery's settings
for a short world (a round lasts seconds, not days) as a journaled
`SettingsChanged` and a `LotteryCreate`, a few times while the world runs.
It submits the settings again before every round, because a restart feeds
the config file's settings back; a round keeps the terms it was created
with. Bettors are ordinary clients over the simulator's links: they log
in, take the faucet, and bet random amounts on random sides of open rounds
(`lottery.bet.build` / `.confirm`), every choice drawn from the seed.

Invariants: a round's escrow never holds more than the stakes the engine
counted for it; once a round is settled or void its escrow is empty, and
every bet was paid or refunded exactly once (the settlement keys the round
issued are exactly those its money math says).
"""

from __future__ import annotations

import random

import trio

from arena.client import ArenaRequestError
from arena.engine.config import settings_pairs
from arena.engine.inputs import SettingsChanged
from arena.modes.lottery.messages import LotteryCreate, payout_key, refund_key, void_refund_key
from arena.modes.lottery.settings import LotteryConfig

from . import players

HOUSE = "sim:lottery-house"
# A round of seconds: lock 3 s before the draw, result 1 s after, void 40 s after.
SETTINGS = LotteryConfig(lock_lead_ms=3_000, result_delay_ms=1_000, result_retry_ms=2_000,
                         void_after_ms=40_000, pool_interval_ms=1_000, max_bet=500)
ROUNDS = 3
KINDS = (("bonus_parity", -1), ("bonus_over", 13), ("white_sum_over", 175))


class House(players.House):
    """Creates the world's rounds."""

    name = "lottery-house"

    async def run(self) -> bool:
        while not self.stop and self.created < ROUNDS:
            await trio.sleep(self.rng.uniform(1.0, 8.0))
            srv = self.world.server
            if srv is None or self.stop:
                return False
            kind, threshold = self.rng.choice(KINDS)
            game = self.rng.choice(("powerball", "megamillions"))
            draw = self.world.clock() + self.rng.randint(12_000, 30_000)
            srv.submit(SettingsChanged("lottery", settings_pairs(SETTINGS)), force=True)
            srv.submit(LotteryCreate(HOUSE, 0, HOUSE, game, draw, kind, threshold), force=True)
            self.created += 1
        return True


class Bettor(players.ClientBot):
    def __init__(self, index: int, world, rng: random.Random) -> None:
        super().__init__(f"lottery-{index}", world, rng)

    async def act(self, c) -> None:
        """A bet on a random side of a random open round."""
        live = [m for m in await c.list_matches("lottery") if m["phase"] == "open"]
        if not live:
            return
        round_ = self.rng.choice(sorted(m["match"] for m in live))
        side, amount = self.rng.choice(("yes", "no")), self.rng.randint(1, SETTINGS.max_bet)
        try:
            built = await c.request("lottery.bet.build", {"round": round_, "side": side, "amount": amount})
            await c.request("lottery.bet.confirm", {"round": round_, "tx": built["tx"],
                                                    "signature": c.sign(built["tx"])})
        except ArenaRequestError as err:
            if err.code not in ("wrong_state", "not_found", "payment_failed", "rate_limited", "internal"):
                raise


class LotterySimulation:
    def bots(self, world, n: int) -> list:
        rng = random.Random(f"lottery-bots:{world.settings.seed}")
        return [House(world, random.Random(rng.random())),
                *(Bettor(i + 1, world, random.Random(rng.random())) for i in range(max(2, n // 2)))]

    def invariants(self, world, phase: str) -> list[str]:
        problems = []
        srv = world.server
        shared = srv.state.modes.get("lottery") if srv is not None else None
        if shared is None:
            return problems
        book = world.book
        for rid, r in shared.rounds.items():
            held = book.balance(f"escrow:{rid}")
            # (While the world runs a payment may be in the book before the
            # engine heard of it: the store is slow to make it durable.)
            if phase == "final" and held > r.escrow_in:
                problems.append(f"escrow:{rid} holds {held} > the {r.escrow_in} the round counted")
            if r.escrow_in != r.paid_out + r.fees + r.refunded + _still_held(r):
                problems.append(f"round {rid}: money in {r.escrow_in} != out {r.paid_out + r.fees + r.refunded}"
                                f" + held {_still_held(r)}")
            if phase == "final" and r.state in ("settled", "void"):
                if held:
                    problems.append(f"round {rid} is {r.state} but escrow:{rid} holds {held}")
                problems += _each_bet_once(rid, r, book.applied_keys)
        return problems


def _still_held(r) -> int:
    """What a round still owes from its escrow: open stakes, money without a
    side yet, and (finalized, claims pending) unpaid winnings."""
    if r.state in ("open",):
        return sum(b.amount for b in r.bets.values()) + sum(a for _w, a in r.unassigned.values())
    if r.state in ("locked", "awaiting_result"):
        return sum(b.matched for b in r.bets.values())
    if r.state == "finalized":
        return sum(v for w, v in r.owed.items() if w not in r.paid)
    return 0


def _each_bet_once(rid: str, r, applied) -> list[str]:
    """Every bet's money left the escrow once: its unmatched part in its
    wallet's lock refund, its matched part in a payout (won), the fee and the
    winner's payout (lost), or its wallet's void refund."""
    problems = []
    unmatched: dict[str, int] = {}
    for b in r.bets.values():
        if b.state not in ("won", "lost", "refunded", "void", "matched"):
            problems.append(f"bet {b.id} of settled round {rid} is still {b.state}")
        if b.amount > b.matched:
            unmatched[b.wallet] = unmatched.get(b.wallet, 0) + b.amount - b.matched
    issued = set(r.paid) if r.state == "settled" else set()
    if issued != set(r.owed) and r.state == "settled":
        problems.append(f"round {rid}: paid {sorted(issued)} but owed {sorted(r.owed)}")
    keys = {refund_key(rid, w) for w in unmatched}
    keys |= {payout_key(rid, w) for w in r.paid}
    if r.state == "void":
        keys |= {void_refund_key(rid, b.wallet) for b in r.bets.values() if b.matched}
    missing = sorted(k for k in keys if f"settle:{k}" not in applied)
    if missing:
        problems.append(f"round {rid}: settlements missing {missing[:3]}")
    return problems


PLUGIN = LotterySimulation()
