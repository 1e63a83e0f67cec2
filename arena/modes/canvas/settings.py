"""The weekly canvas's settings (the `[canvas]` section) and its game modes.

A game mode is a week's rules: the canvas size, the palette and the
cooldown between two placements of one wallet. The modes are code, not
config, because the archive of every past week names one and must mean the
same thing forever; the config picks the first week's mode and may shrink
the canvas (tests, a small server).

The settings are part of the engine state (`EngineConfig.modes["canvas"]`),
so a replay sees the settings each week was begun under. A week keeps the
size, palette and cooldown it began with (`CanvasState`): a settings change
applies from the next week on.
"""

from __future__ import annotations

from attrs import field, frozen
from attrs.validators import ge, instance_of

from arena.engine.canonical import OMIT_IF_DEFAULT
from arena.engine.config import non_negative, positive

# Hex colour strings, index = the byte stored in the canvas.
PALETTE_32 = (
    "#ffffff", "#e4e4e4", "#c4c4c4", "#888888", "#4e4e4e", "#222222", "#000000", "#6d482f",
    "#9c6926", "#ffb470", "#ffd635", "#fff8b8", "#ffa800", "#ff4500", "#be0039", "#ff3881",
    "#ff99aa", "#de107f", "#b44ac0", "#811e9f", "#6a5cff", "#493ac1", "#51e9f4", "#3690ea",
    "#2450a4", "#00ccc0", "#009eaa", "#00756f", "#7eed56", "#00cc78", "#00a368", "#515252",
)
PALETTE_16 = PALETTE_32[:16]
PALETTE_8 = ("#ffffff", "#000000", "#ff4500", "#ffd635", "#00a368", "#3690ea", "#811e9f", "#6d482f")
PALETTE_2 = ("#ffffff", "#000000")

MAX_SIDE = 4096  # x and y travel as uint16 in `canvas:pixels`; far below 65535 on purpose
MAX_COLOURS = 256  # a colour index is one byte


def _palette(inst, attribute, value) -> None:
    if not 2 <= len(value) <= MAX_COLOURS:
        raise ValueError(f"a palette has 2..{MAX_COLOURS} colours, got {len(value)}")
    for c in value:
        if not (isinstance(c, str) and len(c) == 7 and c[0] == "#"
                and all(ch in "0123456789abcdef" for ch in c[1:])):
            raise ValueError(f"palette colours are #rrggbb (lower case), got {c!r}")


def _side(inst, attribute, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SIDE:
        raise ValueError(f"{attribute.name} must be 1..{MAX_SIDE}, got {value!r}")


@frozen
class GameMode:
    """One week's rules. `slug` is what archives, `mode_changed` and
    `canvas.reset {"mode"}` name."""

    slug: str
    name: str
    width: int = field(validator=_side)
    height: int = field(validator=_side)
    palette: tuple = field(converter=tuple, validator=_palette)
    cooldown_ms: int = field(validator=ge(0))
    # Territory's rule: after a wallet's first pixel of the week, each one
    # must share an edge with a pixel it placed earlier that week.
    adjacent: bool = False


GAME_MODES = {
    m.slug: m for m in (
        GameMode("classic", "Classic", 1000, 1000, PALETTE_32, 300_000),
        GameMode("speed", "Speed", 1000, 1000, PALETTE_32, 30_000),
        GameMode("eight", "Eight colours", 1000, 1000, PALETTE_8, 300_000),
        GameMode("territory", "Territory", 500, 500, PALETTE_16, 120_000, adjacent=True),
        GameMode("mono", "Black and white", 1000, 1000, PALETTE_2, 60_000),
    )
}
FALLBACK_MODE = "classic"


def _game_mode(inst, attribute, value) -> None:
    if value not in GAME_MODES:
        raise ValueError(f"{attribute.name} must be one of {', '.join(GAME_MODES)}, got {value!r}")


def _rule_text(inst, attribute, value) -> None:
    from arena.schedule import RuleError, parse

    try:
        rule = parse("reset", value)
    except RuleError as exc:
        raise ValueError(f"{attribute.name}: {exc}") from None
    if rule.kind == "once":
        raise ValueError(f"{attribute.name} must recur (daily, weekly, monthly), got {value!r}")


def _side_or_zero(inst, attribute, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SIDE:
        raise ValueError(f"{attribute.name} must be 0 (the game mode's) or 1..{MAX_SIDE}, got {value!r}")


def _cooldown(inst, attribute, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < -1:
        raise ValueError(f"{attribute.name} must be -1 (the game mode's) or milliseconds >= 0, got {value!r}")


def _between(low: int, high: int):
    def check(inst, attribute, value) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{attribute.name} must be {low}..{high}, got {value!r}")

    return check


MAX_PART_BYTES = 262_144


# Settings added after the mode's first release are left out of the state
# hash while at their defaults, so a world stored by that release verifies.
_NEW = {OMIT_IF_DEFAULT: True}


@frozen
class CanvasConfig:
    # The first week's game mode (later weeks are drawn, `CanvasMode._next_mode`).
    default_mode: str = field(default=FALLBACK_MODE, validator=_game_mode)
    # Placements are sent to watchers once every this many ticks, all of a
    # window in one `canvas:pixels` event (1: every tick that has any).
    broadcast_every_ticks: int = field(default=1, validator=positive)
    # When the week's canvas is archived and a new one begins.
    reset_rule: str = field(default="weekly SAT 09:00 America/New_York", validator=_rule_text)
    # The last this many weeks' modes are not drawn again.
    recent_weeks: int = field(default=4, validator=non_negative)
    # Overrides of the game mode's size (0: the mode's) and cooldown (-1: the
    # mode's), for tests and small servers; applied when a week begins.
    width: int = field(default=0, validator=_side_or_zero)
    height: int = field(default=0, validator=_side_or_zero)
    cooldown_ms: int = field(default=-1, validator=_cooldown)
    # --- what is kept of a week (docs/CANVAS.md, "What is kept") ---
    # A failed archive render (PNG, timelapse, media store) is tried again
    # after this long; the week's bitmap and pixel log stay in the store.
    archive_retry_ms: int = field(default=300_000, validator=positive, metadata=_NEW)
    # The timelapse: this many evenly spaced states of the week, at this rate.
    timelapse_frames: int = field(default=120, validator=_between(1, 3600), metadata=_NEW)
    timelapse_fps: int = field(default=30, validator=_between(1, 60), metadata=_NEW)
    # The pixel log of the last this many canvases is kept (0: every one);
    # older logs are deleted when a week is archived.
    pixel_log_weeks: int = field(default=8, validator=non_negative, metadata=_NEW)
    # Comments: at most this many characters, one per wallet per cooldown.
    comment_max_chars: int = field(default=280, validator=_between(1, 2000), metadata=_NEW)
    comment_cooldown_ms: int = field(default=10_000, validator=non_negative, metadata=_NEW)
    # True: a comment is shown only once the AI port's moderation passed it
    # (the OpenAI judge's moderation endpoint; with a judge that cannot
    # moderate, shown unread).
    moderate_comments: bool = field(default=False, validator=instance_of(bool), metadata=_NEW)
    # Objectives drawn for each week (from `objectives.OBJECTIVES`).
    objectives_per_week: int = field(default=3, validator=_between(0, 16), metadata=_NEW)
    # `canvas.bitmap` serves the canvas in parts of whole rows, at most this
    # many raw bytes each (zlib makes them smaller), so no part's frame nears
    # the 1 MiB frame and send-queue limits however noisy the canvas.
    part_bytes: int = field(default=65_536, validator=_between(1024, MAX_PART_BYTES), metadata=_NEW)
    # The next week's game mode is drawn and announced (`mode_changed`) this
    # long before the scheduled reset (0: only at the reset).
    mode_notice_ms: int = field(default=3_600_000, validator=non_negative, metadata=_NEW)
