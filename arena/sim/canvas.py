"""The weekly canvas in the whole-server simulation (`arena.sim`): its bots
and invariants (named by `CanvasMode.simulation`).

Bots log in, `canvas.join` and place pixels (positions, colours and pauses
drawn from the seed), wait out `cooldown_active` as told by
`retry_after_ms`, and join again after a `week_reset` (a `wrong_state`).

Invariants, cheap enough to run every check:

- the canvas equals what a client rebuilds from the events: a tap on the
  live server's deliveries replays every `canvas:pixels` event since the
  week began (or since this life of the server began, from the canvas as it
  was then), and the pending window on top, and must equal the buffer;
- no placement inside a cooldown: with one-tick windows, a wallet's
  placements of a window (`canvas:tally`) are at least a cooldown after its
  previous ones, in engine time.

The simulated canvas is small (`configure`), so snapshots and the replay
check stay fast.
"""

from __future__ import annotations

import random
import struct

import trio

from arena.client import ArenaConnectionClosed, ArenaRequestError, ArenaTimeout
from arena.engine.clock import now_ms

SIM_SIDE = 24
SIM_COOLDOWN_MS = 1_500


class CanvasBot:
    def __init__(self, index: int, world, rng: random.Random) -> None:
        from solders.keypair import Keypair

        self.name = f"canvas-{index}"
        self.world = world
        self.rng = random.Random(rng.randbytes(16))
        self.keypair = Keypair.from_seed(rng.randbytes(32))
        self._stopped: trio.Event | None = None
        self._stop = False
        self.link = None
        self.client = None
        self.placed = 0

    @property
    def stop(self) -> bool:
        return self._stop

    @stop.setter
    def stop(self, value: bool) -> None:
        """Set when the world stops: a pause ends at once, so the bot leaves
        while the server still serves (the world then settles and ends)."""
        self._stop = value
        if value and self._stopped is not None:
            self._stopped.set()

    async def _pause(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._stopped.wait()

    def reset(self) -> None:
        """Start again after giving up: same wallet, a new connection."""
        self.link = None
        self.client = None

    async def run(self) -> bool:
        self._stopped = trio.Event()
        if self._stop:
            return True
        try:
            async with self.world.connect(self) as client:
                self.client = client
                await client.hello()
                await client.login()
                joined = await client.request("canvas.join")
                while not self.stop:
                    body = {"x": self.rng.randrange(joined["width"]), "y": self.rng.randrange(joined["height"]),
                            "color": self.rng.randrange(len(joined["palette"]))}
                    try:
                        await client.request("canvas.place", body)
                        self.placed += 1
                        await self._pause(self.rng.uniform(0.05, 3.0))
                    except ArenaRequestError as exc:
                        if exc.code == "wrong_state":  # the week was reset: join the new one
                            joined = await client.request("canvas.join")
                        elif exc.code in ("cooldown_active", "rate_limited", "overloaded"):
                            await self._pause((exc.retry_after_ms or 500) / 1000 + self.rng.uniform(0, 0.3))
                        else:
                            self.world.note(f"{self.name}: canvas.place {body} refused: {exc}")
                            return False
            return True
        except (ArenaConnectionClosed, ArenaTimeout, ArenaRequestError, OSError):
            return False
        finally:
            self.client = None


class _Tap:
    """What clients are sent of the canvas, replayed: wraps one server life's
    `gateway.deliver`."""

    def __init__(self, srv) -> None:
        self.srv = srv
        c = srv.state.modes["canvas"]
        self.view = bytearray(c.pixels)  # the canvas as this life found it (pending included: see mode.py)
        self.seq = c.seq
        self.width = c.width
        self.last: dict[str, int] = {}  # wallet -> engine ms of its last window with placements
        self.problems: list[str] = []
        inner = srv.gateway.deliver

        def deliver(messages):
            self.see(messages)
            inner(messages)

        srv.gateway.deliver = deliver

    def see(self, messages) -> None:
        state = self.srv.state
        for m in messages:
            type_ = getattr(m, "type", None)
            if type_ == "canvas:pixels":
                data = m.body["pixels"]
                for i in range(0, len(data), 5):
                    x, y, color = struct.unpack_from(">HHB", data, i)
                    self.view[y * self.width + x] = color
            elif type_ == "canvas:archived":  # a week ended: the next begins blank
                self.view = None
                self.last = {}
            elif type_ == "canvas:tally":
                c = state.modes["canvas"]
                at = now_ms(state, state.tick)
                for wallet in m.body["wallets"]:
                    before = self.last.get(wallet)
                    if m.body["wallets"][wallet] > 1 or (before is not None and at - before < c.cooldown_ms):
                        self.problems.append(f"{wallet} placed inside its cooldown at {at}")
                    self.last[wallet] = at
        c = state.modes["canvas"]
        if self.view is None or self.seq != c.seq:
            self.view = bytearray(len(c.pixels))
            self.seq, self.width = c.seq, c.width


class CanvasSimulation:
    def configure(self, engine):
        """The simulated world's engine settings: a small canvas, a short cooldown."""
        from arena.modes.canvas.settings import CanvasConfig

        return engine.with_mode("canvas", CanvasConfig(width=SIM_SIDE, height=SIM_SIDE, cooldown_ms=SIM_COOLDOWN_MS))

    def bots(self, world, n: int) -> list:
        rng = random.Random(f"canvas-bots:{world.settings.seed}")
        self._tap = None
        return [CanvasBot(i + 1, world, rng) for i in range(max(1, n // 2))]

    def invariants(self, world, phase: str) -> list[str]:
        srv = world.server
        if srv is None:
            return []
        tap = getattr(self, "_tap", None)
        if tap is None or tap.srv is not srv:
            self._tap = _Tap(srv)  # a new life: tapped from now on
            return []
        problems = list(tap.problems)
        c = srv.state.modes["canvas"]
        if tap.seq == c.seq and tap.view is not None:
            expected = bytearray(tap.view)
            for i in range(0, len(c.pending), 5):
                x, y, color = struct.unpack_from(">HHB", c.pending, i)
                expected[y * c.width + x] = color
            if expected != c.pixels:
                wrong = sum(1 for a, b in zip(expected, c.pixels) if a != b)
                problems.append(f"the canvas differs from the replay of its pixels events in {wrong} pixels")
        return problems


PLUGIN = CanvasSimulation()
