"""The canvas's client requests (PROTOCOL.md, "Weekly canvas"): `canvas.join`,
`canvas.place` (with its own rate bucket, so a flood is refused at the
gateway before it reaches the engine), `canvas.bitmap` (one part of the
canvas; its own bucket too), the operator's `canvas.reset`,
`canvas.comment` (its own bucket too), and the reads `canvas.objectives`,
`canvas.archives` and `canvas.agents` (an extension: this week's agents).

The gateway checks only the body's shape (types, and lengths no config can
allow: `MAX_COMMENT_CHARS`); bounds, palette, cooldowns, the configured
comment length and limits are the engine's (`CanvasMode`), in the
protocol's order.
"""

from __future__ import annotations

from arena.engine.mode import GameRequest, RequestField

from .messages import (CanvasAgents, CanvasArchives, CanvasBitmap, CanvasComment, CanvasJoin, CanvasObjectives,
                       CanvasPlace, CanvasReset)

MAX_COMMENT_CHARS = 2000  # the most `[canvas] comment_max_chars` may allow

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
    GameRequest(
        name="canvas.comment",
        fields=(RequestField("text", str, max_len=MAX_COMMENT_CHARS), RequestField("x", int, required=False),
                RequestField("y", int, required=False)),
        make=lambda session, rid, wallet, body, at_ms, url: CanvasComment(
            session, rid, wallet, body["text"], body.get("x"), body.get("y")),
        bucket="comment",
    ),
    GameRequest(
        name="canvas.objectives",
        fields=(),
        make=lambda session, rid, wallet, body, at_ms, url: CanvasObjectives(session, rid, wallet),
    ),
    GameRequest(
        name="canvas.archives",
        fields=(RequestField("limit", int, required=False),),
        make=lambda session, rid, wallet, body, at_ms, url: CanvasArchives(
            session, rid, wallet, body.get("limit", 10)),
    ),
    GameRequest(
        name="canvas.agents",
        fields=(RequestField("limit", int, required=False),),
        make=lambda session, rid, wallet, body, at_ms, url: CanvasAgents(
            session, rid, wallet, body.get("limit", 10)),
    ),
)
