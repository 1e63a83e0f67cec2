"""What the modes' simulation bots share (`arena.sim.lottery`,
`arena.sim.contest`, `arena.sim.meme`): a player over the simulator's
links, and a "house" that acts on the live server directly.

`ClientBot` logs in with its own seeded key, takes the faucet once (not
again after a reconnect), and calls `act(client)` at random pauses
(`pause_s`) until the world stops; a dropped link or a refused request
ends the run (the world starts the bot again). Every choice comes from
`self.rng`, so the world stays a function of its seed.
`House` has no connection: faults aimed at it do nothing, and it has
nothing to start again.
"""

from __future__ import annotations

import random

import trio

from arena.client import ArenaConnectionClosed, ArenaRequestError


class House:
    name = "house"
    keypair = None

    def __init__(self, world, rng: random.Random) -> None:
        self.world, self.rng = world, rng
        self.stop = False
        self.link = None
        self.created = 0

    def reset(self) -> None:
        """Nothing to start again: it has no connection, and counts what it made."""


class ClientBot:
    pause_s = (0.3, 2.5)  # the pause between two acts, seconds (uniform)
    # A pause wakes this often to see whether the world stops (each wake is
    # a task switch the simulation pays for).
    pause_step_s = 0.05

    def __init__(self, name: str, world, rng: random.Random) -> None:
        from solders.keypair import Keypair

        self.name = name
        self.world, self.rng = world, rng
        self.keypair = Keypair.from_seed(rng.randbytes(32))
        self.wallet = str(self.keypair.pubkey())
        self.stop = False
        self.link = None
        self.client = None
        self.funded = False

    async def act(self, client) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def run(self) -> bool:
        try:
            async with self.world.connect(self) as c:
                self.client = c
                await c.hello()
                await c.login()
                if not self.funded:
                    await c.faucet()
                    self.funded = True
                while not self.stop:
                    await self.act(c)
                    await self.pause(self.rng.uniform(*self.pause_s))
            return True
        except (OSError, ArenaConnectionClosed, ArenaRequestError, trio.TooSlowError):
            return False

    async def pause(self, seconds: float) -> None:
        """Sleep, but leave at once when the world stops: a bot still
        connected when the world shuts down would close its link into a
        server that is gone."""
        end = trio.current_time() + seconds
        while not self.stop and trio.current_time() < end:
            await trio.sleep(min(self.pause_step_s, end - trio.current_time()))

    def reset(self) -> None:
        self.client, self.link = None, None
