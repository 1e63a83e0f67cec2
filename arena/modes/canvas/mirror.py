"""The live canvas in Redis (the mirror's `Mode.mirror_ops` / `mirror_state`),
when `[redis] url` is set: an accelerator for readers (a web page drawing
the canvas, other nodes), never the truth; nothing is read back.

| key | type | what |
|---|---|---|
| `canvas:current` | string | the live canvas's id (`canvas:<year>-<week>`) |
| `canvas:{id}:bitmap` | string | width × height bytes, palette indices, row-major (`GETRANGE` a row; `SETRANGE` per placement) |
| `canvas:{id}:meta` | hash | seq, year, week, mode, width, height, cooldown_ms, palette (comma-separated), placed, started_ms, next_mode |

The boards (`canvas.pixels`, "all" and the week) are the mirror's own
`board:{board}:{period key}` keys, as for every mode's boards.

Placements reach the bitmap with each broadcast window (`canvas:pixels`);
a new canvas (the first, or after a reset) is written whole, and the ended
one's keys are deleted.
"""

from __future__ import annotations

from arena.engine.outputs import Event

from .messages import PIXEL

CURRENT = "canvas:current"


def _bitmap_key(canvas: str) -> str:
    return f"{canvas}:bitmap"


def _meta_key(canvas: str) -> str:
    return f"{canvas}:meta"


def meta(shared) -> dict:
    return {"seq": shared.seq, "year": shared.year, "week": shared.week, "mode": shared.mode,
            "width": shared.width, "height": shared.height, "cooldown_ms": shared.cooldown_ms,
            "palette": ",".join(shared.palette), "placed": shared.placed, "started_ms": shared.started_ms,
            "next_mode": shared.next_mode}


def whole(shared) -> list:
    """The live canvas written whole."""
    return [("set", _bitmap_key(shared.canvas), bytes(shared.pixels)),
            ("hset", _meta_key(shared.canvas), meta(shared)),
            ("set", CURRENT, shared.canvas)]


class CanvasMirror:
    """Turns a tick's messages into the canvas's Redis operations. Remembers
    which canvas it last wrote (outside the state: the mirror's business), so
    a canvas begun since is written whole and the one before deleted."""

    def __init__(self) -> None:
        self._written: tuple[int, str] | None = None  # (seq, canvas id)

    def ops(self, shared, messages) -> list:
        if shared.seq == 0:
            return []
        out: list = []
        if self._written != (shared.seq, shared.canvas):
            if self._written is not None and self._written[1] != shared.canvas:
                out += [("delete", _bitmap_key(self._written[1])), ("delete", _meta_key(self._written[1]))]
            self._written = (shared.seq, shared.canvas)
            return out + whole(shared)  # (this tick's placements included)
        ranges = []
        for m in messages:
            if m.__class__ is Event and m.type == "canvas:pixels" and m.body["canvas"] == shared.canvas:
                blob, w = m.body["pixels"], shared.width
                for i in range(0, len(blob), PIXEL.size):
                    x, y, colour = PIXEL.unpack_from(blob, i)
                    ranges.append((y * w + x, bytes((colour,))))
            elif m.__class__ is Event and m.type == "mode_changed":
                out.append(("hset", _meta_key(shared.canvas), meta(shared)))
        if ranges:
            out += [("setranges", _bitmap_key(shared.canvas), ranges), ("hset", _meta_key(shared.canvas), meta(shared))]
        return out

    def state(self, shared) -> list:
        if shared.seq == 0:
            return [("clear", "canvas:*")]
        self._written = (shared.seq, shared.canvas)
        return [("clear", "canvas:*")] + whole(shared)
