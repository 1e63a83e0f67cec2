"""A small harness over the pure engine for the canvas tests: a world with a
small canvas, a journal of every tick's inputs (as the server journals
them), the replies by request id and every event sent."""

from __future__ import annotations

import itertools
import struct
import zlib

from arena.engine import inputs as I
from arena.engine.config import EngineConfig
from arena.engine.core import new_state, step
from arena.engine.outputs import Event, Reply
from arena.modes.canvas import messages as M
from arena.modes.canvas.settings import CanvasConfig
from arena.persistence import codec

T0 = 1_764_000_000_000  # 2025-11-24, a Monday: engine time starts here


def canvas_config(seed: int = 1, tick_hz: int = 20, **canvas) -> EngineConfig:
    values = dict(width=8, height=6, cooldown_ms=1_000)
    values.update(canvas)
    return EngineConfig.of(tick_hz=tick_hz, seed=seed, modes={"canvas": CanvasConfig(**values)})


class World:
    def __init__(self, config: EngineConfig | None = None, start_ms: int = T0):
        self.state = new_state(config or canvas_config())
        self.tick = 0
        self.journal: list[tuple[int, bytes]] = []
        self.replies: dict[int, Reply] = {}
        self.events: list[Event] = []
        self._rid = itertools.count(1)
        self._clock: int | None = None
        self.step(I.ClockSet(start_ms))

    @property
    def canvas(self):
        return self.state.modes["canvas"]

    @property
    def now_ms(self) -> int:
        from arena.engine.clock import now_ms

        return now_ms(self.state, self.tick)

    def step(self, *inputs) -> list:
        self.tick += 1
        if self._clock is not None:
            inputs = (I.ClockSet(self._clock), *inputs)
            self._clock = None
        if inputs:
            self.journal.append((self.tick, codec.encode_inputs(list(inputs))))
        messages, _ = step(self.state, self.tick, list(inputs))
        for m in messages:
            if type(m) is Reply:
                self.replies[m.rid] = m
            else:
                self.events.append(m)
        return messages

    def advance_ms(self, ms: int) -> None:
        """The next tick is `ms` (at least one tick) after this one: a ClockSet
        first in it, as the tick loop sends one."""
        self._clock = self.now_ms + ms

    def request(self, cls, wallet: str, *args) -> Reply:
        rid = next(self._rid)
        self.step(cls(f"s-{wallet}", rid, wallet, *args))
        return self.replies[rid]

    def join(self, wallet: str) -> Reply:
        return self.request(M.CanvasJoin, wallet)

    def place(self, wallet: str, x: int, y: int, color: int) -> Reply:
        return self.request(M.CanvasPlace, wallet, x, y, color)

    def reset(self, wallet: str = "key:op", mode: str = "") -> Reply:
        return self.request(M.CanvasReset, wallet, mode)

    def events_of(self, type_: str, wallet: str | None = None) -> list[Event]:
        return [e for e in self.events if e.type == type_ and (wallet is None or wallet in e.to)]


def pixels_of(body: dict) -> list[tuple[int, int, int]]:
    data = body["pixels"]
    assert len(data) % 5 == 0
    return [struct.unpack_from(">HHB", data, i) for i in range(0, len(data), 5)]


def bitmap_of(reply_body: dict) -> bytes:
    raw = zlib.decompress(reply_body["bitmap"])
    assert len(raw) == reply_body["width"] * reply_body["height"]
    return raw
