"""Trading contests in the whole-server simulation (`arena.sim`): bots and
invariants (named by `ContestMode.simulation`).

Contests are created without an operator: the "house" (a bot with no
connection) submits, straight to the live server, the contest settings for
a short world (contests of seconds, not days) as a journaled
`SettingsChanged` and a `ContestCreate`, a few times while the world runs;
again before every contest, because a restart feeds the config file's
settings back. Traders are ordinary clients over the simulator's links:
they log in, take the faucet, and join contests in registration with
random portfolios (`contest.join.build` / `.confirm`), every choice drawn
from the seed. Prices come from the SIMULATED price feed.

Invariants: a contest's escrow never holds more than the fees the engine
counted; the engine's money adds up (in == prizes + rewards + rake +
refunds + still held); once a contest is settled or cancelled its escrow is
empty and its one settlement was applied.
"""

from __future__ import annotations

import random

import trio

from arena.bot_contest import random_portfolio
from arena.client import ArenaRequestError
from arena.engine.config import settings_pairs
from arena.engine.inputs import SettingsChanged
from arena.modes.contest.messages import ContestCreate, payout_key, refund_key
from arena.modes.contest.settings import ContestConfig, whitelist

from . import players

HOUSE = "sim:contest-house"
SETTINGS = ContestConfig(min_duration_ms=1_000, price_every_ticks=4, stale_after_ms=3_000)
CONTESTS = 3
TOKENS = [t for t, _ in whitelist(SETTINGS.tokens)]


class House(players.House):
    """Creates the world's contests."""

    name = "contest-house"

    async def run(self) -> bool:
        while not self.stop and self.created < CONTESTS:
            await trio.sleep(self.rng.uniform(1.0, 6.0))
            srv = self.world.server
            if srv is None or self.stop:
                return False
            starts = self.world.clock() + self.rng.randint(6_000, 15_000)
            ends = starts + self.rng.randint(3_000, 10_000)
            prizes = self.rng.choice(((10_000,), (7_000, 3_000), (5_000, 3_000, 2_000)))
            srv.submit(SettingsChanged("contest", settings_pairs(SETTINGS)), force=True)
            srv.submit(ContestCreate(HOUSE, 0, HOUSE, self.rng.randint(1, 50), starts, ends, self.rng.randint(1, 3),
                                     20, prizes, self.rng.randint(0, 2_000), tuple(TOKENS), 3), force=True)
            self.created += 1
        return True


class Trader(players.ClientBot):
    def __init__(self, index: int, world, rng: random.Random) -> None:
        super().__init__(f"contest-{index}", world, rng)

    async def act(self, c) -> None:
        await self._maybe_join(c)

    async def _maybe_join(self, c) -> None:
        live = [m for m in await c.list_matches("contest")
                if m["phase"] == "registration" and c.wallet not in m["players"]]
        if not live:
            return
        contest = self.rng.choice(sorted(m["match"] for m in live))
        portfolio = random_portfolio(self.rng, TOKENS, 3)
        try:
            built = await c.request("contest.join.build", {"contest": contest, "portfolio": portfolio})
            await c.request("contest.join.confirm", {"contest": contest, "tx": built["tx"],
                                                     "signature": c.sign(built["tx"])})
        except ArenaRequestError as err:
            if err.code not in ("wrong_state", "not_found", "duplicate", "not_allowed", "payment_failed",
                                "rate_limited", "internal"):
                raise

class ContestSimulation:
    def bots(self, world, n: int) -> list:
        rng = random.Random(f"contest-bots:{world.settings.seed}")
        return [House(world, random.Random(rng.random())),
                *(Trader(i + 1, world, random.Random(rng.random())) for i in range(max(2, n // 2)))]

    def invariants(self, world, phase: str) -> list[str]:
        problems = []
        srv = world.server
        shared = srv.state.modes.get("contest") if srv is not None else None
        if shared is None:
            return problems
        book = world.book
        for cid, c in shared.contests.items():
            held = book.balance(f"escrow:{cid}")
            if phase == "final" and held > c.escrow_in:
                problems.append(f"escrow:{cid} holds {held} > the {c.escrow_in} the contest counted")
            still = 0 if c.state in ("settled", "cancelled") else (
                sum(e.fee for e in c.entries.values()) + sum(a for _w, a in c.unassigned.values()))
            out = c.prizes_paid + c.rewards_paid + c.platform_rake + c.refunded
            if c.escrow_in != out + still:
                problems.append(f"contest {cid}: money in {c.escrow_in} != out {out} + held {still}")
            if phase == "final" and c.state in ("settled", "cancelled"):
                if held:
                    problems.append(f"contest {cid} is {c.state} but escrow:{cid} holds {held}")
                key = payout_key(cid) if c.state == "settled" else refund_key(cid)
                if (c.state == "settled" or c.entries) and f"settle:{key}" not in book.applied_keys:
                    problems.append(f"contest {cid}: settlement {key} was not applied")
        return problems


PLUGIN = ContestSimulation()
