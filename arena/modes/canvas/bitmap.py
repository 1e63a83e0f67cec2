"""The canvas as clients fetch it: the whole zlib bitmap (`canvas.join`) and
horizontal bands of rows, each zlib on its own (`canvas.bitmap` parts), so
a full canvas of noise (~0.7 MB compressed at 1000 x 1000) never travels in
one frame near the 1 MiB frame and send-queue limits.

`BitmapCache` keeps the compressed forms outside the engine state: they are
derived from it, and a replay rebuilds them. It belongs to one
`CanvasState` object and one canvas (`seq`) at a time, and is dropped when
asked about another. Versions are the canvas's placement count (`placed`):

- the whole bitmap is compressed once per version (thousands of joins
  between two placements compress once);
- a part is compressed again only when a placement landed in its rows
  since (`touched`, called by every placement), so under a steady rain of
  placements a newcomer's parts cost only the bands that changed.
"""

from __future__ import annotations

import weakref
import zlib

LEVEL = 1  # fast: a join or a part is answered inside a tick


def part_rows(width: int, part_bytes: int) -> int:
    """Rows per part: as many whole rows as fit in `part_bytes` raw bytes (at least one)."""
    return max(1, part_bytes // max(1, width))


def part_count(height: int, rows: int) -> int:
    return -(-height // rows)


class BitmapCache:
    def __init__(self) -> None:
        self._owner = None  # weakref to the CanvasState the entries are of
        self._seq = -1
        self._rows = 0
        self._whole: tuple[int, bytes] | None = None  # (placed, zlib)
        self._parts: dict[int, tuple[int, bytes]] = {}  # part -> (placed when compressed, zlib)
        self._changed: dict[int, int] = {}  # part -> placed after its last placement

    def _bound(self, shared) -> bool:
        return self._owner is not None and self._owner() is shared and self._seq == shared.seq

    def _bind(self, shared, rows: int) -> None:
        if not self._bound(shared) or self._rows != rows:
            self._owner = weakref.ref(shared)
            self._seq = shared.seq
            self._rows = rows
            self._whole = None
            self._parts = {}
            self._changed = {}

    def touched(self, shared, y: int) -> None:
        """A placement in row `y` (after `placed` counted it)."""
        if self._rows and self._bound(shared):
            self._changed[y // self._rows] = shared.placed

    def whole(self, shared) -> bytes:
        if not self._bound(shared):
            self._bind(shared, self._rows)
        w = self._whole
        if w is not None and w[0] == shared.placed:
            return w[1]
        blob = zlib.compress(shared.pixels, LEVEL)
        self._whole = (shared.placed, blob)
        return blob

    def part(self, shared, rows: int, index: int) -> bytes:
        """zlib of rows [index * rows, (index + 1) * rows) of the canvas (the last part may be shorter)."""
        self._bind(shared, rows)
        cached = self._parts.get(index)
        if cached is not None and cached[0] >= self._changed.get(index, 0):
            return cached[1]
        w = shared.width
        start = index * rows * w
        blob = zlib.compress(memoryview(shared.pixels)[start:start + rows * w], LEVEL)
        self._parts[index] = (shared.placed, blob)
        return blob
