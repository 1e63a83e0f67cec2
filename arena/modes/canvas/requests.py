"""The canvas's client requests (PROTOCOL.md, "Canvas"): `canvas.join`,
`canvas.place` (with its own rate bucket, so a flood is refused at the
gateway before it reaches the engine), `canvas.bitmap` (one part of the
canvas; its own bucket too) and the operator's `canvas.reset`.

The gateway checks only the body's shape; bounds, palette and cooldown are
the engine's (`CanvasMode`), in the protocol's order.
"""

from __future__ import annotations

from arena.engine.mode import GameRequest, RequestField

from .messages import CanvasBitmap, CanvasJoin, CanvasPlace, CanvasReset

REQUESTS = (
    GameRequest(
        name="canvas.join",
        fields=(RequestField("chunked", bool, required=False),),
        make=lambda session, rid, wallet, body, at_ms, url: CanvasJoin(
            session, rid, wallet, body.get("chunked", False)),
    ),
    GameRequest(
        name="canvas.bitmap",
        fields=(RequestField("part", int),),
        make=lambda session, rid, wallet, body, at_ms, url: CanvasBitmap(session, rid, wallet, body["part"]),
        bucket="bitmap",
    ),
    GameRequest(
        name="canvas.place",
        fields=(RequestField("x", int), RequestField("y", int), RequestField("color", int)),
        make=lambda session, rid, wallet, body, at_ms, url: CanvasPlace(
            session, rid, wallet, body["x"], body["y"], body["color"]),
        bucket="place",
    ),
    GameRequest(
        name="canvas.reset",
        fields=(RequestField("mode", str, required=False, max_len=32),),
        make=lambda session, rid, wallet, body, at_ms, url: CanvasReset(
            session, rid, wallet, body.get("mode", "")),
        role="operator",
    ),
)
