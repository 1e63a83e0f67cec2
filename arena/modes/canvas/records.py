"""What the store keeps of the canvas: operations on its own tables
(`tables.py`) and the `canvas.pixels` / `canvas.agents` leaderboards.

Everything comes from events for no one (`CanvasMode._record_event`): the
store's `records` and `boards` read a tick's messages, and neither who
placed what nor the compressed canvas belongs in what clients are sent.

- `canvas:log` {"seq", "first", "pixels", "placers", "at_ms"}: one per
  broadcast window with placements, the window's placements (5 bytes each,
  as in `canvas:pixels`), numbered from `first` within the week, with who
  placed each and when (engine ms) -> the pixel log;
- `canvas:tally` {"canvas", "wallets": {wallet: placements}}: the same
  window's counts, for the boards;
- `canvas:week_begun` {"seq", "objectives": [[id, title, kind, target]]};
- `canvas:commented` {"seq", "id", "wallet", "text", "x", "y", "at_ms",
  "moderation": "none", "passed" or "flagged"};
- `canvas:objective_done` {"seq", "objective", "wallet", "at_ms"};
- `canvas:archived` {"seq", "canvas", "year", "week", "mode", "width",
  "height", "pixels", "placers", "started_ms", "ended_ms", "bitmap",
  "winner", "winner_agent", "agents": [[agent, pixels, rank]], "stats",
  "keep_log_from"}: one per ended week (the log of canvases before
  `keep_log_from` is deleted: retention);
- `canvas:archive_rendered` {"seq", "image_url", "video_url"}.
"""

from __future__ import annotations

import json

from arena.engine.mode import Board
from arena.engine.outputs import Event

from .messages import PIXEL

TALLY = "canvas:tally"
LOG = "canvas:log"
ARCHIVED = "canvas:archived"
AGENT_PREFIX = "key:"  # an API-key session's wallet: "key:<name>" (agents, operators)


def agent_name(wallet: str) -> str | None:
    """The agent's name if `wallet` is an API-key session's, else None."""
    return wallet[len(AGENT_PREFIX):] if wallet.startswith(AGENT_PREFIX) else None


def _log_rows(b: dict) -> list[tuple]:
    data, first = b["pixels"], b["first"]
    return [(first + i, *PIXEL.unpack_from(data, i * PIXEL.size), placer, at)
            for i, (placer, at) in enumerate(zip(b["placers"], b["at_ms"]))]


def _archive_ops(b: dict) -> list[tuple]:
    ops = [("archive", b["seq"], b["canvas"], b["year"], b["week"], b["mode"], b["width"], b["height"],
            b["pixels"], b["placers"], b["started_ms"], b["ended_ms"], b["bitmap"], b["winner"],
            b["winner_agent"], json.dumps(b["stats"], sort_keys=True, separators=(",", ":")))]
    if b["agents"]:
        ops.append(("agent_stats", b["seq"], b["year"], b["week"], [tuple(a) for a in b["agents"]]))
    if b["keep_log_from"] > 1:
        ops.append(("prune_pixels", b["keep_log_from"]))
    return ops


def from_events(messages) -> list:
    out: list = []
    for m in messages:
        if type(m) is not Event or m.to:
            continue  # records come only from events for no one
        t, b = m.type, m.body
        if t == LOG:
            out.append(("pixels", b["seq"], _log_rows(b)))
        elif t == ARCHIVED:
            out += _archive_ops(b)
        elif t == "canvas:week_begun":
            if b["objectives"]:
                out.append(("objectives", b["seq"], [tuple(o) for o in b["objectives"]]))
        elif t == "canvas:commented":
            out.append(("comment", b["id"], b["seq"], b["wallet"], b["text"], b["x"], b["y"], b["at_ms"],
                        b["moderation"]))
        elif t == "canvas:objective_done":
            out.append(("objective_done", b["seq"], b["objective"], b["wallet"], b["at_ms"]))
        elif t == "canvas:archive_rendered":
            out.append(("archive_media", b["seq"], b["image_url"], b["video_url"]))
    return out


def _agent_points(e: Event) -> list:
    return [(w, n) for w, n in e.body["wallets"].items() if w.startswith(AGENT_PREFIX)]


BOARDS = {
    "canvas.pixels": Board(frozenset({TALLY}), lambda e: list(e.body["wallets"].items()),
                           "pixels placed on the weekly canvas"),
    "canvas.agents": Board(frozenset({TALLY}), _agent_points,
                           "pixels placed on the weekly canvas by agents (API-key sessions)"),
}


def record_event(ctx, type_: str, body: dict) -> None:
    """An event for no one: only the store's records and boards read it.
    (`ctx.emit` drops events without recipients.)"""
    ctx.messages.append(Event((), type_, body))
