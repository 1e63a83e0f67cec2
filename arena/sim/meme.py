"""Meme rounds in the whole-server simulation (`arena.sim`): their bots and
invariants (named by `MemeMode.simulation`).

The world's meme settings are short (`configure`: a simulated block every
2 s, rounds of 3 blocks). The "studio" (a bot with no connection) stands in
for the operator: it stores a few generated pictures through the live
server's media port (the simulator's in-memory one) and submits their
uploads straight to the server. The review side task
processes them as in production (embedded heuristics). Viewers are ordinary
clients over the simulator's links: they log in, take the faucet, deposit,
watch random items of the round with beats (sometimes letting the beats
lapse), stop, list what they own and buy what is listed, every choice drawn
from the seed.

Invariants: the hall's escrow never holds more than the money the engine
counted in; charged = direct + pooled; direct = settled + owed; pooled =
paid pools + the current pool; balances are never negative; and at the end
every pool settlement the engine issued was applied by the ledger.
"""

from __future__ import annotations

import random

import trio

from arena.bot_meme import picture
from arena.client import ArenaRequestError
from arena.modes.meme.messages import MemeUpload, pool_key
from arena.modes.meme.mode import escrow_owed
from arena.modes.meme.settings import MemeConfig

from .players import ClientBot

STUDIO = "sim:meme-studio"
SETTINGS = MemeConfig(simulated_block_ms=2_000, blocks_per_round=3, block_poll_ms=500, settle_every_s=5,
                      round_fallback_ms=20_000, purpose_wait_ms=5_000, process_retry_ms=2_000)
UPLOADS = 4
TITLES = ("a cat on a keyboard", "a dog reading the news", "two frogs at a bus stop", "a very tired owl")
OK_CODES = ("wrong_state", "not_found", "not_allowed", "insufficient_funds", "payment_failed", "rate_limited",
            "bad_request", "internal")


class Studio:
    """Uploads the world's memes (no connection: faults aimed at it do nothing)."""

    name = "meme-studio"
    keypair = None

    def __init__(self, world, rng: random.Random, owners: list) -> None:
        self.world, self.rng, self.owners = world, rng, owners
        self.stop = False
        self.link = None
        self.uploaded = 0

    async def run(self) -> bool:
        while not self.stop and self.uploaded < UPLOADS:
            await trio.sleep(self.rng.uniform(0.5, 3.0))
            srv = self.world.server
            if srv is None or self.stop or srv.media is None:
                return False
            data = picture(self.uploaded + 3)
            key = f"memes/sim-{self.world.settings.seed}-{self.uploaded}.png"
            url = await srv.media.store_object(key, data, "image/png")
            owner = self.owners[self.uploaded % len(self.owners)].wallet
            srv.submit(MemeUpload(STUDIO, 0, STUDIO, TITLES[self.uploaded % len(TITLES)], "image/png", url,
                                  len(data), owner), force=True)
            self.uploaded += 1
        return True

    def reset(self) -> None:
        """Nothing to start again: it has no connection, and counts its uploads."""


class Viewer(ClientBot):
    pause_s = (0.2, 1.5)
    pause_step_s = 0.5  # a viewer pauses often (between beats): wake seldom

    def __init__(self, index: int, world, rng: random.Random) -> None:
        super().__init__(f"meme-{index}", world, rng)

    async def act(self, c) -> None:
        try:
            r = await c.request("meme.round", {})
            if not r["content"]:
                return
            cid = self.rng.choice(sorted(r["content"]))
            choice = self.rng.random()
            if choice < 0.15:
                info = await c.request("content.get", {"content": cid})
                if info["owner"] == self.wallet:
                    await c.request("market.list", {"content": cid, "price": self.rng.randint(1, 300)})
                elif info["price"] is not None:
                    built = await c.request("market.buy.build", {"content": cid})
                    await c.request("market.buy.confirm", {"content": cid, "tx": built["tx"],
                                                           "signature": c.sign(built["tx"])})
                return
            if choice < 0.35:
                built = await c.request("view.deposit.build", {"amount": self.rng.randint(5, 120)})
                await c.request("view.deposit.confirm", {"tx": built["tx"], "signature": c.sign(built["tx"])})
            await c.request("view.start", {"content": cid})
            for _ in range(self.rng.randint(1, 6)):
                await self.pause(self.rng.choice((0.5, 1.0, 2.0, 6.0)))  # 6 s: the beat lapses
                await c.request("view.beat", {"content": cid})
            await c.request("view.stop", {})
            if self.rng.random() < 0.1:
                await c.request("view.withdraw", {})
        except ArenaRequestError as err:
            if err.code not in OK_CODES:
                raise


class MemeSimulation:
    def configure(self, engine):
        """A short world: a simulated block every 2 s, rounds of 3 blocks."""
        return engine.with_mode("meme", SETTINGS)

    def bots(self, world, n: int) -> list:
        rng = random.Random(f"meme-bots:{world.settings.seed}")
        viewers = [Viewer(i + 1, world, random.Random(rng.random())) for i in range(max(2, n // 2))]
        return [Studio(world, random.Random(rng.random()), viewers), *viewers]

    def invariants(self, world, phase: str) -> list[str]:
        problems = []
        srv = world.server
        sh = srv.state.modes.get("meme") if srv is not None else None
        if sh is None or not sh.hall:
            return problems
        held = world.book.balance(f"escrow:{sh.hall}")
        if phase == "final" and held > sh.escrow_in:
            problems.append(f"escrow:{sh.hall} holds {held} > the {sh.escrow_in} the hall counted in")
        if sh.charged != sh.direct + sh.pooled:
            problems.append(f"meme: charged {sh.charged} != direct {sh.direct} + pooled {sh.pooled}")
        if sh.direct != sh.direct_paid + sum(sh.owed.values()):
            problems.append(f"meme: direct {sh.direct} != settled {sh.direct_paid} + owed {sum(sh.owed.values())}")
        if sh.pooled != sh.pool_paid + (sh.round.pool if sh.round else 0):
            problems.append(f"meme: pooled {sh.pooled} != paid {sh.pool_paid} + current pool")
        if any(b < 0 for b in sh.balances.values()):
            problems.append("meme: a negative viewing balance")
        out = sh.direct_paid + sh.pool_paid + sh.trade_paid + sh.fees + sh.refunded + sh.withdrawn
        still = escrow_owed(sh)
        if sh.escrow_in != out + still:
            problems.append(f"meme: escrow in {sh.escrow_in} != out {out} + still held {still}")
        if phase == "final" and sh.last_round and sh.last_round["rewards"]:
            key = f"settle:{pool_key(sh.last_round['round'])}"
            if key not in world.book.applied_keys and not srv.state.unsettled:
                problems.append(f"meme: {key} was never applied")
        return problems


PLUGIN = MemeSimulation()
