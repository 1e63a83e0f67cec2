"""What the store keeps of the canvas: the archive of every finished week (a
`Record` of kind "archive") and the `canvas.pixels` leaderboard.

Both come from events for no one (`CanvasMode._record_event`): the store's
`records` and `boards` read a tick's messages, and neither the per-wallet
counts nor the compressed canvas belong in what clients are sent.

- `canvas:tally` {"canvas", "wallets": {wallet: placements}}: one per
  broadcast window with placements;
- `canvas:archived` {"seq", "canvas", "year", "week", "mode", "width",
  "height", "pixels", "started_ms", "ended_ms", "bitmap"}: one per ended week.
"""

from __future__ import annotations

import base64

from arena.engine.mode import Board, Record
from arena.engine.outputs import Event

TALLY = "canvas:tally"
ARCHIVED = "canvas:archived"


def from_events(messages) -> list:
    out = []
    for m in messages:
        if type(m) is Event and m.type == ARCHIVED:
            b = m.body
            data = {k: v for k, v in b.items() if k != "bitmap"}
            # mode_records holds JSON: the zlib bytes as base64 text.
            data["bitmap_zlib_b64"] = base64.b64encode(b["bitmap"]).decode()
            # Keyed by the canvas's number, not its week: two canvases begun in
            # one ISO week (an operator reset) keep two archives.
            out.append(Record("archive", f"{b['seq']:06d}", data))
    return out


BOARDS = {
    "canvas.pixels": Board(frozenset({TALLY}), lambda e: list(e.body["wallets"].items()),
                           "pixels placed on the weekly canvas"),
}
