"""The canvas's inputs (journaled) and the 5-byte placement record.

Every input is a client request: the canvas asks no side task anything.
"""

from __future__ import annotations

import struct

from attrs import frozen

from arena.engine.inputs import ClientInput

# One placement in `canvas:pixels`: x, y (uint16, big-endian), colour index (uint8).
PIXEL = struct.Struct(">HHB")


@frozen
class CanvasJoin(ClientInput):
    # True: the reply's `bitmap` is empty and the client fetches the canvas
    # with `canvas.bitmap`, part by part (the reply says how many).
    chunked: bool = False


@frozen
class CanvasBitmap(ClientInput):
    """One part of the canvas (`canvas.bitmap`): rows part × part_rows onwards."""

    part: int


@frozen
class CanvasPlace(ClientInput):
    x: int
    y: int
    color: int


@frozen
class CanvasReset(ClientInput):
    """An operator's reset: archive the week now and begin the next one, in
    game mode `mode` ("" = drawn as the weekly reset draws it)."""

    mode: str = ""


INPUTS = (CanvasJoin, CanvasPlace, CanvasReset, CanvasBitmap)
