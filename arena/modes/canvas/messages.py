"""The canvas's inputs (journaled), its one effect and the 5-byte placement record.

Every input but one is a client request. `RenderArchive` asks the archive
side task (arena/media/canvas_archive.py) to draw an ended week as a PNG and
a timelapse video; `ArchiveRendered` is its journaled answer, naming where
the media store keeps them. `ModerateComment` asks the moderation side task
(arena/ai/canvas_moderation.py) about a comment; `CommentModerated` is its
verdict.
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


@frozen
class CanvasComment(ClientInput):
    """A comment on the week's canvas, at pixel (x, y) or on the whole
    canvas (x and y None: the request left both out)."""

    text: str
    x: int | None = None
    y: int | None = None


@frozen
class CanvasObjectives(ClientInput):
    pass


@frozen
class CanvasArchives(ClientInput):
    limit: int = 10


@frozen
class CanvasAgents(ClientInput):
    limit: int = 10


@frozen
class RenderArchive:
    """Draw ended canvas number `seq`: its final bitmap (zlib) as a PNG, and
    a timelapse from the week's pixel log (`placed` placements), into the
    media store. Leaves only once the reset's tick is durable, so the whole
    pixel log is in the store when the side task reads it."""

    key: str
    seq: int
    canvas: str
    width: int
    height: int
    palette: tuple
    bitmap: bytes
    placed: int
    after_durable = True  # a class attribute, not a field: the framework holds the effect until then


@frozen
class ArchiveRendered:
    """Where the media store keeps canvas `seq`'s image and video."""

    key: str
    seq: int
    image_url: str
    video_url: str


@frozen
class ModerateComment:
    """Ask the AI port whether comment `id` may be shown (`[canvas]
    moderate_comments`); the comment waits in the state until the answer."""

    key: str
    id: str
    text: str


@frozen
class CommentModerated:
    """The moderation side task's verdict on comment `id`: `flagged` ones are
    kept (for the record) but never shown; `by` names the judge that read
    it ("" when no moderating judge is configured: shown unread)."""

    key: str
    id: str
    flagged: bool
    categories: tuple = ()
    by: str = ""


def moderation_key(world, comment_id: str) -> str:
    return f"canvas-comment:{world or 'w'}:{comment_id}"


def archive_key(world, seq: int) -> str:
    """The render effect's idempotency key: the world's, the canvas's number."""
    return f"canvas-archive:{world or 'w'}:{seq:06d}"


INPUTS = (CanvasJoin, CanvasPlace, CanvasReset, CanvasBitmap, CanvasComment, CanvasObjectives, CanvasArchives,
          CanvasAgents, ArchiveRendered, CommentModerated)
# Routed to `CanvasMode.route` (none names a match).
ROUTED = INPUTS
