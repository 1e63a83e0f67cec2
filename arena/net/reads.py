"""The platform's read requests, checked and answered off the tick.

`match.list`, `leaderboard.get`, `history.get`, `profile.get` and
`profile.set` (PROTOCOL.md, "Platform"). The gateway checks a body's field
types (`requests`); the rules of each value are here, as pure functions the
unit tests drive directly. Nothing here runs on the tick: `match.list`
reads the engine state between ticks (a scan of the live matches, in
memory), everything else is a store call in the gateway's async tasks, and
the avatar's decoding runs in a worker thread.

Why an avatar is decoded at all: the bytes a client sends become a URL
other clients load. Pillow reads the header first (format and pixel size,
refused before any pixel is decoded: a 60 kB PNG may claim 50 000 x 50 000
pixels, a decompression bomb), then decodes the image and re-encodes it as
a plain PNG, so what is stored is an image and nothing else (no trailing
payload, no metadata). An animated GIF keeps its first frame.
"""

from __future__ import annotations

import io
import re
import warnings

from attrs import frozen

from arena.engine.errors import BAD_REQUEST, ArenaError
from arena.engine.periods import PERIODS
from arena.engine.registry import registry

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
# Letters, digits, "_" and "-" (ASCII only: no look-alike letters), 3-20 of them.
USERNAME = re.compile(r"[A-Za-z0-9_-]{3,20}")
AVATAR_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF"})


@frozen
class AvatarLimits:
    """`[profiles]`: the largest avatar accepted, in bytes and in pixels per side."""

    max_bytes: int
    max_pixels: int


def limit_of(body: dict) -> int:
    """`limit`, 1..100 (default 10)."""
    n = body.get("limit", DEFAULT_LIMIT)
    if not 1 <= n <= MAX_LIMIT:
        raise ArenaError(BAD_REQUEST, f"limit must be between 1 and {MAX_LIMIT}")
    return n


def check_mode(name: str) -> str:
    if registry.get(name) is None:
        raise ArenaError(BAD_REQUEST, f"unknown mode {name[:32]!r}")
    return name


def boards() -> dict[str, str]:
    """Every declared board: name -> the mode declaring it."""
    return {board: name for name, mode in registry.modes().items() for board in mode.boards}


def check_board(body: dict) -> tuple[str, str]:
    """(board, period) of a leaderboard.get."""
    board = body["board"]
    if board not in boards():
        known = ", ".join(sorted(boards()))
        raise ArenaError(BAD_REQUEST, f"unknown board {board[:64]!r} (boards: {known})")
    period = body.get("period", "all")
    if period not in PERIODS:
        raise ArenaError(BAD_REQUEST, f"period must be one of {', '.join(PERIODS)}")
    return board, period


def check_username(name: str) -> str:
    if not USERNAME.fullmatch(name):
        raise ArenaError(BAD_REQUEST, "username must be 3-20 characters: letters, digits, '_' or '-'")
    return name


def cursor_of(ended_tick: int, match: str) -> str:
    """The `before` cursor of a history item: opaque to clients."""
    return f"{ended_tick}.{match}"


def parse_cursor(text: str) -> tuple[int, str]:
    tick, sep, match = text.partition(".")
    if not sep or not tick.isdigit() or not match or len(tick) > 18:
        raise ArenaError(BAD_REQUEST, "before must be a cursor from an earlier history.get")
    return int(tick), match


def match_list(state, mode: str, phase: str | None, limit: int) -> list[dict]:
    """The live matches of `mode` (in phase `phase` if given), newest first,
    each as the mode's `summary` plus its id and mode. A scan of the state's
    live matches between ticks: no store call."""
    m = registry.get(mode)
    found = []
    for match_id, match in state.matches.items():
        if getattr(match, "mode", None) != mode:
            continue
        s = m.summary(state, match)
        if phase is not None and s["phase"] != phase:
            continue
        found.append({"match": match_id, "mode": mode, **s})
    found.sort(key=lambda s: (s["started_at_ms"], s["match"]), reverse=True)
    return found[:limit]


def check_avatar(data: bytes, limits: AvatarLimits) -> bytes:
    """The avatar as a clean PNG, or ArenaError(bad_request) saying why not.
    CPU-bound (a decode and an encode): call it in a worker thread."""
    from PIL import Image

    if len(data) > limits.max_bytes:
        raise ArenaError(BAD_REQUEST, f"avatar larger than {limits.max_bytes} bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=sorted(AVATAR_FORMATS))
        except (Image.UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning,
                OSError, ValueError, SyntaxError):
            raise ArenaError(BAD_REQUEST, "avatar must be a PNG, JPEG, WebP or GIF image") from None
        with im:
            w, h = im.size
            if w < 1 or h < 1 or w > limits.max_pixels or h > limits.max_pixels:
                raise ArenaError(BAD_REQUEST, f"avatar is {w}x{h} pixels; at most "
                                              f"{limits.max_pixels}x{limits.max_pixels}")
            try:
                im.seek(0)
                im.load()
                clean = im.convert("RGBA" if im.mode in ("RGBA", "LA", "P", "PA") else "RGB")
            except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
                    Image.DecompressionBombWarning):
                raise ArenaError(BAD_REQUEST, "avatar image is damaged (it does not decode)") from None
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=False)
    return out.getvalue()
