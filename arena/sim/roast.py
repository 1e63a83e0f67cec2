"""Roast in the whole-server simulation (`arena.sim`): its bots and invariants
(named by `RoastMode.simulation`).

The bots are the real roast bot (`arena.bot.Bot`, the one `python -m arena
bot` runs), connected over the simulator's in-memory links, with wallets and
choices drawn from the seed. When the world stops they finish the battle
they are in and queue no more.
"""

from __future__ import annotations

import random

from arena.bot import TIERS, Bot, Fleet


class SimRoastBot(Bot):
    def __init__(self, index: int, world, fleet: Fleet, rng: random.Random) -> None:
        from solders.keypair import Keypair

        self._args = (index, world, fleet)
        keypair = Keypair.from_seed(rng.randbytes(32))
        tier = rng.choice(TIERS[:2])
        super().__init__(index, fleet, "sim://", tier, 0, world.settings.seed, world.note,
                         react=rng.random() < 0.5, stall_timeout=120.0,
                         keypair=keypair, connect=world.connect)
        self.stop = False
        self.link = None

    def finished(self) -> bool:
        return super().finished() or (self.stop and self.phase in ("idle", "queued"))

    def reset(self) -> None:
        """Start again after giving up: same wallet, a new session."""
        index, world, fleet = self._args
        keypair, stop = self.keypair, self.stop
        Bot.__init__(self, index, fleet, "sim://", self.tier, 0, world.settings.seed, world.note,
                     react=self.react_enabled, stall_timeout=self.stall_timeout,
                     keypair=keypair, connect=world.connect)
        self.stop, self.link = stop, None


class RoastSimulation:
    def bots(self, world, n: int) -> list:
        rng = random.Random(f"roast-bots:{world.settings.seed}")
        fleet = Fleet()
        return [SimRoastBot(i + 1, world, fleet, rng) for i in range(n)]

    def invariants(self, world, phase: str) -> list[str]:
        """A battle's escrow never holds more than its two entry fees."""
        problems = []
        state = world.server.state
        book = world.book
        for mid, match in state.matches.items():
            if getattr(match, "mode", None) != "roast":
                continue
            held = book.balance(f"escrow:{mid}")
            if held > 2 * match.entry_fee:
                problems.append(f"escrow:{mid} holds {held} > 2 x {match.entry_fee}")
        return problems


PLUGIN = RoastSimulation()
