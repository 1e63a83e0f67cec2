"""The weekly canvas (r/place) as an engine mode: phase 1.

One canvas at a time, shared by every wallet. A week:

- begins (`_begin`) in a game mode (`settings.GAME_MODES`: size, palette,
  cooldown) with every pixel colour 0, lazily on the world's first canvas
  request, then at every reset;
- `canvas.join` makes the wallet a watcher and answers with the whole canvas
  (zlib, compressed once per canvas version: `_bitmap`);
- `canvas.place` sets one pixel, at most once per cooldown per wallet (engine
  time, `ctx.now_ms`, so a replay decides the same);
- the placements of a broadcast window (`broadcast_every_ticks`) go to every
  watcher in one `canvas:pixels` event, built once;
- ends on the reset rule (`schedules` / `on_schedule`) or an operator's
  `canvas.reset`: the canvas is archived (a record), the next game mode drawn
  (`_next_mode`), the buffer and cooldowns start afresh, and the watchers are
  told (`week_reset`, `mode_changed`) and must join again.

What is kept of a week lives beside this module: the pixel log and the
week's counts are kept here per placement, and `archive`, `comments`,
`objectives` and `standings` handle the rest (`_kept`).

State (`CanvasState`, `state.modes["canvas"]`): the canvas is ONE bytearray
of width × height palette indices, row-major, mutated in place (a placement
is O(1); the canonical and snapshot encodings carry a bytearray as bytes).

Broadcast windows run on the core's timers, which are per match: while
placements are pending, a tiny `CanvasWindow` "match" (id `canvas`) is live
with its timer on the window's last tick; the timer sends the window and
drops it. No window is live while nothing is pending.

Invariant (tests/test_canvas_machine.py, arena/sim/canvas.py): the canvas
equals colour 0 everywhere overwritten, in order, by every placement sent
in the week's `canvas:pixels` events and the pending ones. Re-applying a
prefix of a window on a canvas that already has it changes nothing
(placements are overwrites), so a wallet that joins mid-window and then gets
the whole window's event still converges.
"""

from __future__ import annotations

import datetime as dt
import zlib
from zoneinfo import ZoneInfo

from attrs import define, field

from arena.engine import inputs as I
from arena.engine.canonical import OMIT_IF_DEFAULT
from arena.engine.errors import BAD_REQUEST, COOLDOWN_ACTIVE, NOT_ALLOWED, NOT_FOUND, WRONG_STATE
from arena.engine.mode import Bucket, Mode, Page, Relay
from arena.engine.outputs import Event
from arena.engine.snapshot import register

from . import archive, comments, objectives, standings
from . import messages as M
from . import rotation
from .bitmap import BitmapCache, part_count, part_rows
from .mirror import CanvasMirror
from .messages import NAME, PIXEL
from .records import BOARDS, LOG, from_events
from .requests import REQUESTS
from .settings import FALLBACK_MODE, GAME_MODES, CanvasConfig, inactive_slugs
from .tables import TABLES

WINDOW = "canvas"  # the id of the broadcast window's timer match (never a new_match_id: no "xx-" prefix)
RESET_RULE = "reset"  # the reset rule's name: its mark is "canvas:reset"
# What the canvas's watchers are sent as one broadcast: relayed, in a cluster,
# to the watchers on every process that does not hold the canvas.
RELAYED = frozenset({"canvas:pixels", "week_reset", "mode_changed"})
ANNOUNCE_RULE = "announce"  # "announce-<canvas number>": the next mode is told ahead of the reset


# Fields added after the mode's first release are left out of the state hash
# while at their defaults, so a world stored by that release still verifies.
_NEW = {OMIT_IF_DEFAULT: True}


@register
@define
class CanvasState:
    seq: int = 0  # canvases begun in this world; 0: none yet
    canvas: str = ""  # "canvas:<iso year>-<iso week>"
    year: int = 0
    week: int = 0
    mode: str = ""  # the week's game mode (slug)
    started_ms: int = 0
    # The week's size, palette and cooldown, fixed when it began.
    width: int = 0
    height: int = 0
    palette: list = field(factory=list)
    cooldown_ms: int = 0
    pixels: bytearray = field(factory=bytearray)  # width × height colour indices, row-major
    placed: int = 0  # placements this week (also the canvas's version)
    next_place: dict = field(factory=dict)  # wallet -> engine ms from which it may place again
    watchers: dict = field(factory=dict)  # wallet -> None (ordered set): who gets `canvas:pixels`
    # Watchers whose last connection dropped: sent nothing while away, and
    # watchers again (with a fresh view to fetch the canvas by) when back.
    away: dict = field(factory=dict, metadata=_NEW)
    pending: bytearray = field(factory=bytearray)  # the open window's placements, 5 bytes each
    tally: dict = field(factory=dict)  # wallet -> placements in the open window (the board)
    recent: list = field(factory=list)  # the game modes of the last weeks, oldest first
    # --- what is kept of the week (archive.py, comments.py, objectives.py, standings.py) ---
    log: list = field(factory=list, metadata=_NEW)  # [wallet, engine ms] of each pending placement (the pixel log)
    counts: dict = field(factory=dict, metadata=_NEW)  # wallet -> placements this week (winners, agents' ranks)
    objectives: list = field(factory=list, metadata=_NEW)  # the week's objective ids (`objectives.OBJECTIVES`)
    progress: dict = field(factory=dict, metadata=_NEW)  # wallet -> [its progress on each objective]
    # Hold objectives: objective index (str) -> {cell (str) -> the wallet whose placement it shows}.
    holders: dict = field(factory=dict, metadata=_NEW)
    # Agents over all weeks: name -> [pixels before this week, weeks placed, weeks won] (standings.py).
    agents: dict = field(factory=dict, metadata=_NEW)
    comments: int = field(default=0, metadata=_NEW)  # comments this week (their ids count on)
    next_comment: dict = field(factory=dict, metadata=_NEW)  # wallet -> engine ms from which it may comment again
    archives: list = field(factory=list, metadata=_NEW)  # the last ended weeks' summaries, oldest first
    held_comments: dict = field(factory=dict, metadata=_NEW)  # id -> comment waiting for moderation (any week's)
    flagged_comments: int = field(default=0, metadata=_NEW)  # comments moderation refused this week
    # Territory weeks (`GameMode.adjacent`): wallet -> the cells (y * width + x) it placed this week.
    cells: dict = field(factory=dict, metadata=_NEW)
    # slug -> [weeks played, distinct placers over them] (rotation.py)
    played: dict = field(factory=dict, metadata=_NEW)
    # the next week's mode once announced ahead of the reset ("" = not yet)
    next_mode: str = field(default="", metadata=_NEW)


@register
@define
class CanvasWindow:
    """The open broadcast window, as the core's timers need it: a match with
    an id, a mode and a wake tick. Live only while placements are pending."""

    id: str = WINDOW
    mode: str = NAME
    wake_at: int = -1
    created_tick: int = 0


def iso_week(now_ms: int, zone: str) -> tuple[int, int]:
    """(ISO year, ISO week) of an engine time in `zone`."""
    year, week, _ = dt.datetime.fromtimestamp(now_ms // 1000, ZoneInfo(zone)).isocalendar()
    return year, week


class CanvasMode(Mode):
    name = NAME
    settings = CanvasConfig
    inputs = M.INPUTS
    routed_inputs = M.ROUTED
    # The archive's pictures are drawn by a side task of the canvas's own.
    effects = {M.RenderArchive: "canvas-archive", M.ModerateComment: "canvas-moderation"}
    result_keys = {M.ArchiveRendered: lambda r: r.key, M.CommentModerated: lambda r: r.key}
    side_tasks = {"canvas-archive": "arena.media.canvas_archive:make_archiver",
                  "canvas-moderation": "arena.ai.canvas_moderation:make_moderator"}
    tables = TABLES
    simulation = "arena.sim.canvas"
    # web/: the live canvas, palette, cooldown, leaderboards, past weeks
    page = Page("The weekly canvas", description="One shared canvas a week: place a pixel per cooldown, watch it fill up live.")
    # Placements are the chattiest request: a connection places at most this
    # fast whatever the cooldown says (a flood never reaches the engine).
    buckets = {"place": Bucket(per_s=5, burst=10), "comment": Bucket(per_s=1, burst=3),
               # a 1000 x 1000 canvas is 16 parts: a newcomer fetches it at once
               "bitmap": Bucket(per_s=20, burst=64)}
    quiet_events = frozenset({"canvas:pixels", "canvas:tally", "canvas:archived", "week_reset", "mode_changed",
                              LOG, "canvas:week_begun", "canvas:commented", "canvas:objective_done",
                              "canvas:archive_rendered", "canvas:comment", "objective:progress",
                              "objective:completed"})
    # Plain attributes: neither module imports this one, so no import is deferred.
    requests = REQUESTS
    boards = BOARDS
    # In a cluster: one process holds the canvas, the others' watchers get
    # its broadcast relayed and join from the relay (`relay_view`).
    relay = Relay(match=WINDOW, events=RELAYED, join="canvas.join", ends={"week_reset"})

    def __init__(self) -> None:
        # The compressed canvas (whole and in parts), outside the state: it
        # is derived, and a replay rebuilds it (`bitmap.BitmapCache`).
        self._bitmaps = BitmapCache()
        self._mirror = CanvasMirror()  # the live canvas in Redis (mirror.py)
        self._rules: dict[str, object] = {}
        self._next_reset: tuple | None = None  # (rule text, from ms, next reset ms)

    def records(self, state, tick, messages) -> list:
        return from_events(messages)

    def mirror_ops(self, shared, messages) -> list:
        return self._mirror.ops(shared, messages)

    def mirror_state(self, shared) -> list:
        return self._mirror.state(shared)

    def setup(self, config):
        return CanvasState()

    # --- rules ------------------------------------------------------------------
    def _rule(self, text: str):
        from arena.schedule import parse

        rule = self._rules.get(text)
        if rule is None:
            rule = self._rules[text] = parse(RESET_RULE, text)
        return rule

    def schedules(self, settings, shared) -> tuple:
        rule = self._rule(settings.reset_rule)
        announce = self._announce_rule(settings, shared, rule)
        return (rule,) if announce is None else (rule, announce)

    def _announce_rule(self, settings, shared: CanvasState, rule):
        """The instant `mode_notice_ms` before this week's scheduled reset,
        once per canvas (the rule's name carries its number), until the next
        mode is announced."""
        from arena.engine.calendar import Rule
        from arena.schedule import next_after

        if not settings.mode_notice_ms or shared.seq == 0 or shared.next_mode:
            return None
        at = next_after(rule, shared.started_ms)
        if at is None:
            return None
        return Rule.at(f"{ANNOUNCE_RULE}-{shared.seq}", max(shared.started_ms, at - settings.mode_notice_ms))

    def on_schedule(self, ctx, shared, fired) -> None:
        if fired.rule == RESET_RULE:
            self._reset(ctx, shared, None)
        elif fired.rule == f"{ANNOUNCE_RULE}-{shared.seq}" and not shared.next_mode:
            self._announce(ctx, shared)

    def _announce(self, ctx, shared: CanvasState) -> None:
        """Draw the next week's mode now and tell the watchers; the reset
        plays it (unless an operator's reset names another)."""
        shared.next_mode = self._next_mode(ctx, shared)
        _broadcast(ctx, shared.watchers, "mode_changed", {"mode": shared.next_mode,
                                                          "starts_at_ms": self._resets_at_ms(ctx)})

    def _resets_at_ms(self, ctx) -> int:
        """The next reset instant after now (for `canvas.join`): computed once
        per occurrence, not per join (a pure function of the rule and now)."""
        from arena.schedule import next_after

        text, now = ctx.settings(NAME).reset_rule, ctx.now_ms
        c = self._next_reset
        if c is not None and c[0] == text and c[1] <= now < c[2]:
            return c[2]
        at = next_after(self._rule(text), now)
        if at is None:
            return 0
        self._next_reset = (text, now, at)
        return at

    # --- requests ---------------------------------------------------------------
    def route(self, ctx, inp) -> None:
        cls = inp.__class__
        if cls is M.CanvasPlace:
            self._place(ctx, ctx.state.modes[NAME], inp)
        elif cls is M.CanvasJoin:
            self._join(ctx, ctx.state.modes[NAME], inp)
        elif cls is M.CanvasBitmap:
            self._part(ctx, ctx.state.modes[NAME], inp)
        elif cls is M.CanvasReset:
            self._operator_reset(ctx, ctx.state.modes[NAME], inp)
        elif cls in _KEPT:
            self._kept(ctx, ctx.state.modes[NAME], inp)
        elif cls is I.PlayerDisconnected:
            self._went_away(ctx.state.modes[NAME], inp.wallet)
        elif cls is I.PlayerReconnected:
            self._came_back(ctx, ctx.state.modes[NAME], inp.wallet)

    # --- watchers away and back ---------------------------------------------------------
    @staticmethod
    def _went_away(shared: CanvasState, wallet: str) -> None:
        """The wallet's last connection dropped: no more events for it (a week
        of one-time visitors costs the broadcast nothing once they leave)."""
        if wallet in shared.watchers:
            del shared.watchers[wallet]
            shared.away[wallet] = None

    def _came_back(self, ctx, shared: CanvasState, wallet: str) -> None:
        """A watcher that was away is one again, and is sent a fresh view
        (`match.snapshot` of "canvas"): its session missed the placements of
        its absence, so it fetches the canvas again (`canvas.bitmap`)."""
        if wallet in shared.away:
            del shared.away[wallet]
            shared.watchers[wallet] = None
            ctx.emit((wallet,), "match.snapshot", {"match": WINDOW, "tick": ctx.tick,
                                                   "state": self._view(ctx, shared, wallet)})

    def resume_views(self, ctx, shared: CanvasState, wallet: str) -> list:
        """A watcher resumed a session whose buffer lost some of its events:
        the canvas's view, to fetch the canvas again by."""
        if wallet in shared.watchers or wallet in shared.away:
            return [(WINDOW, self._view(ctx, shared, wallet))]
        return []

    def relay_view(self, ctx, shared: CanvasState) -> dict | None:
        """`canvas.join`'s reply on a process that does not hold the canvas:
        the whole bitmap (parts are fetched from the owner), no cooldown of
        the wallet's (placements are the owner's)."""
        if shared.seq == 0:
            return None
        view = self._view(ctx, shared, "")
        view["bitmap"] = self._bitmap(shared)
        return view

    def _view(self, ctx, shared: CanvasState, wallet: str) -> dict:
        """What a watcher needs to fetch the canvas again: `canvas.join`'s
        reply without the bitmap, and how it is split into parts."""
        rows = part_rows(shared.width, ctx.settings(NAME).part_bytes)
        return {
            "canvas": shared.canvas, "year": shared.year, "week": shared.week, "mode": shared.mode,
            "width": shared.width, "height": shared.height, "palette": list(shared.palette),
            "cooldown_ms": shared.cooldown_ms,
            "next_place_ms": max(0, shared.next_place.get(wallet, 0) - ctx.now_ms),
            "resets_at_ms": self._resets_at_ms(ctx), "parts": part_count(shared.height, rows), "part_rows": rows,
            "next_mode": shared.next_mode or None,
        }

    def _kept(self, ctx, shared: CanvasState, inp) -> None:
        """Comments, the reads of objectives, archives and agents, and the
        archive side task's answer (archive.py, comments.py, ...)."""
        cls = inp.__class__
        if cls is M.ArchiveRendered:
            archive.rendered(ctx, shared, inp)
            return
        if cls is M.CommentModerated:
            comments.moderated(ctx, shared, inp)
            return
        self._ensure_begun(ctx, shared)
        if cls is M.CanvasComment:
            comments.comment(ctx, shared, inp, ctx.settings(NAME))
        elif cls is M.CanvasObjectives:
            ctx.reply(inp, objectives.listing(shared, inp.wallet, objectives.catalogue(ctx.settings(NAME).objectives)))
        elif (limit := standings.check_limit(ctx, inp)) is not None:
            ctx.reply(inp, archive.listing(shared, limit) if cls is M.CanvasArchives
                      else standings.agents_reply(shared, limit))

    def _join(self, ctx, shared: CanvasState, inp: M.CanvasJoin) -> None:
        self._ensure_begun(ctx, shared)
        shared.watchers[inp.wallet] = None
        shared.away.pop(inp.wallet, None)
        view = self._view(ctx, shared, inp.wallet)
        view["bitmap"] = b"" if inp.chunked else self._bitmap(shared)
        ctx.reply(inp, view)

    def _part(self, ctx, shared: CanvasState, inp: M.CanvasBitmap) -> None:
        """`canvas.bitmap`: one band of rows, zlib on its own. Answered in the
        tick's order like every event, so a client that applies parts and
        `canvas:pixels` events as they arrive ends with the canvas."""
        if inp.wallet not in shared.watchers:
            ctx.error(inp, WRONG_STATE, "canvas.join first (again after a week_reset)")
            return
        rows = part_rows(shared.width, ctx.settings(NAME).part_bytes)
        n = part_count(shared.height, rows)
        if not 0 <= inp.part < n:
            ctx.error(inp, BAD_REQUEST, f"part must be 0..{n - 1}")
            return
        y = inp.part * rows
        ctx.reply(inp, {"canvas": shared.canvas, "part": inp.part, "y": y, "rows": min(rows, shared.height - y),
                        "bitmap": self._bitmaps.part(shared, rows, inp.part)})

    def _place(self, ctx, shared: CanvasState, inp: M.CanvasPlace) -> None:
        # The protocol's order: joined, then bounds and palette, then cooldown.
        if inp.wallet not in shared.watchers:
            ctx.error(inp, WRONG_STATE, "canvas.join first (again after a week_reset)")
            return
        x, y, color = inp.x, inp.y, inp.color
        if not (0 <= x < shared.width and 0 <= y < shared.height):
            ctx.error(inp, BAD_REQUEST, f"({x}, {y}) is outside the {shared.width}x{shared.height} canvas")
            return
        if not 0 <= color < len(shared.palette):
            ctx.error(inp, BAD_REQUEST, f"color must be a palette index 0..{len(shared.palette) - 1}")
            return
        now = ctx.now_ms
        allowed = shared.next_place.get(inp.wallet, 0)
        if now < allowed:
            ctx.error(inp, COOLDOWN_ACTIVE, "wait for the cooldown", retry_after_ms=allowed - now)
            return
        cell = y * shared.width + x
        if GAME_MODES[shared.mode].adjacent:
            mine = shared.cells.get(inp.wallet)
            if mine and not _touches(mine, x, y, shared.width, shared.height):
                ctx.error(inp, NOT_ALLOWED, f"{shared.mode}: place next to one of your pixels (sharing an edge)")
                return
            if mine is None:
                mine = shared.cells[inp.wallet] = set()
            mine.add(cell)
        shared.pixels[cell] = color
        shared.next_place[inp.wallet] = now + shared.cooldown_ms
        shared.placed += 1
        self._bitmaps.touched(shared, y)
        shared.pending += PIXEL.pack(x, y, color)
        shared.tally[inp.wallet] = shared.tally.get(inp.wallet, 0) + 1
        shared.log.append([inp.wallet, now])
        shared.counts[inp.wallet] = shared.counts.get(inp.wallet, 0) + 1
        objectives.advance(ctx, shared, inp.wallet, x, y, color)
        if WINDOW not in ctx.state.matches:
            window = ctx.state.matches[WINDOW] = CanvasWindow(created_tick=ctx.tick)
            # Called while inputs apply: a window of one tick is sent in this
            # tick's timer pass, after every input of the tick.
            ctx.wake(window, ctx.tick + ctx.settings(NAME).broadcast_every_ticks - 1)
        ctx.reply(inp, {"next_place_ms": shared.cooldown_ms})

    def _operator_reset(self, ctx, shared: CanvasState, inp: M.CanvasReset) -> None:
        """An operator ends the week now. A `mode` is validated: one that does
        not exist or is switched off (`inactive_modes`) plays classic, and
        the reply says so (`requested`); none given draws the next mode."""
        slug = inp.mode or None
        reply = {}
        if slug is not None and slug not in self._active(ctx):
            reply["requested"], slug = slug, FALLBACK_MODE
        self._reset(ctx, shared, slug)
        ctx.reply(inp, {"year": shared.year, "week": shared.week, "mode": shared.mode, **reply})

    @staticmethod
    def _active(ctx) -> list[str]:
        """The game modes that may be played, in their fixed order."""
        off = set(inactive_slugs(ctx.settings(NAME).inactive_modes))
        return [slug for slug in GAME_MODES if slug not in off]

    # --- the broadcast window ---------------------------------------------------------
    def tick(self, ctx, window) -> None:
        self._flush(ctx, ctx.state.modes[NAME])

    def _flush(self, ctx, shared: CanvasState) -> None:
        """Send the open window's placements (one event for every watcher)
        and its tally (for the board), and close the window."""
        window = ctx.state.matches.get(WINDOW)
        if window is not None:
            ctx.drop_match(window, ())
        if not shared.pending:
            return
        pixels = bytes(shared.pending)
        # Sent even when every watcher is away (to no one): the week's stream of
        # pixels events stays whole for what reads the tick's messages (the
        # store's records, audits, the simulator's tap).
        ctx.messages.append(Event(tuple(shared.watchers), "canvas:pixels", {"canvas": shared.canvas, "pixels": pixels}))
        self._record_event(ctx, "canvas:tally", {"canvas": shared.canvas, "wallets": shared.tally})
        self._record_event(ctx, LOG, {"seq": shared.seq, "first": shared.placed - len(shared.log) + 1,
                                      "pixels": pixels, "placers": [w for w, _ in shared.log],
                                      "at_ms": [at for _, at in shared.log]})
        shared.pending = bytearray()
        shared.tally = {}
        shared.log = []

    @staticmethod
    def _record_event(ctx, type_: str, body: dict) -> None:
        """An event for no one: only the store's records and boards read it
        (`records.py`). `ctx.emit` drops events without recipients."""
        ctx.messages.append(Event((), type_, body))

    def input(self, ctx, match, inp) -> None:
        # `match.watch` naming the window: the canvas is joined, not watched.
        if hasattr(inp, "session"):
            ctx.error(inp, NOT_FOUND, "the canvas is joined with canvas.join, not watched")

    def snapshot(self, ctx, match, wallet: str) -> dict:
        return self._view(ctx, ctx.state.modes[NAME], wallet)

    def summary(self, state, match) -> dict:
        shared = state.modes[NAME]
        return {"phase": "window", "players": [], "watchers": len(shared.watchers),
                "started_at_ms": shared.started_ms}

    # --- weeks ------------------------------------------------------------------------
    def _ensure_begun(self, ctx, shared: CanvasState) -> None:
        if shared.seq == 0:
            self._begin(ctx, shared, ctx.settings(NAME).default_mode)

    def _begin(self, ctx, shared: CanvasState, slug: str) -> None:
        cfg: CanvasConfig = ctx.settings(NAME)
        gm = GAME_MODES[slug]
        now = ctx.now_ms
        shared.seq += 1
        shared.year, shared.week = iso_week(now, self._rule(cfg.reset_rule).zone)
        shared.canvas = f"canvas:{shared.year}-{shared.week}"
        shared.mode = slug
        shared.started_ms = now
        shared.width = cfg.width or gm.width
        shared.height = cfg.height or gm.height
        shared.palette = list(gm.palette)
        shared.cooldown_ms = gm.cooldown_ms if cfg.cooldown_ms < 0 else cfg.cooldown_ms
        shared.pixels = bytearray(shared.width * shared.height)
        shared.placed = 0
        shared.next_place = {}
        shared.watchers = {}
        shared.away = {}
        shared.cells = {}
        shared.next_mode = ""
        shared.pending = bytearray()
        shared.tally = {}
        shared.log, shared.counts, shared.comments, shared.next_comment = [], {}, 0, {}
        shared.flagged_comments = 0
        objectives.begin_week(ctx, shared, cfg.objectives_per_week)
        shared.recent.append(slug)
        del shared.recent[:-max(cfg.recent_weeks, 1)]

    def _next_mode(self, ctx, shared: CanvasState) -> str:
        """The next week's game mode: the one announced ahead of the reset,
        else drawn now (`rotation.draw`: recent modes left out, the rest
        weighted by popularity, the engine's seeded generator by canvas
        number)."""
        cfg: CanvasConfig = ctx.settings(NAME)
        if shared.seq == 0:
            return cfg.default_mode
        if shared.next_mode:
            return shared.next_mode
        return rotation.draw(ctx.config.seed, shared.seq, self._active(ctx), shared.recent, cfg.recent_weeks,
                             shared.played)

    def _reset(self, ctx, shared: CanvasState, slug: str | None) -> None:
        """End the week (if one began): send its last window, archive it, then
        begin the next in `slug` (or a drawn mode) and tell the watchers."""
        if shared.seq == 0:
            self._begin(ctx, shared, slug or ctx.settings(NAME).default_mode)
            return
        self._flush(ctx, shared)
        rotation.played_week(shared.played, shared.mode, len(shared.next_place))
        # The end of the week is told to those away too (their sessions keep
        # it for a resume): they would not learn of it otherwise.
        watchers = list(shared.watchers) + list(shared.away)
        ended = {"year": shared.year, "week": shared.week, "mode": shared.mode}
        objectives.end_week(ctx, shared)
        archive.archive_week(ctx, shared, ctx.settings(NAME))
        standings.end_week(shared)
        self._begin(ctx, shared, slug or self._next_mode(ctx, shared))
        _broadcast(ctx, watchers, "week_reset", {"archive": ended, "next_mode": shared.mode})
        _broadcast(ctx, watchers, "mode_changed", {"mode": shared.mode, "starts_at_ms": shared.started_ms})

    # --- the bitmap -------------------------------------------------------------------
    def _bitmap(self, shared: CanvasState) -> bytes:
        """zlib of the whole canvas, compressed once per version (seq, placed)."""
        return self._bitmaps.whole(shared)


def _broadcast(ctx, watchers, type_: str, body: dict) -> None:
    """A broadcast event, sent even to no watcher here (unlike `ctx.emit`):
    watchers elsewhere get it through the relay."""
    ctx.messages.append(Event(tuple(watchers), type_, body))


# Inputs `CanvasMode._kept` handles.
_KEPT = frozenset({M.CanvasComment, M.CanvasObjectives, M.CanvasArchives, M.CanvasAgents, M.ArchiveRendered,
                   M.CommentModerated})


def _touches(cells: set, x: int, y: int, width: int, height: int) -> bool:
    """(x, y) shares an edge with one of `cells` (or is one of them)."""
    i = y * width + x
    return (i in cells or (x > 0 and i - 1 in cells) or (x + 1 < width and i + 1 in cells)
            or (y > 0 and i - width in cells) or (y + 1 < height and i + width in cells))
