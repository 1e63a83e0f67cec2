"""The weekly canvas (r/place): one shared canvas a week, a pixel per wallet
per cooldown, archived and begun afresh on the reset rule.

`settings` (the `[canvas]` section and the game modes), `messages` (its
inputs and its one effect), `mode` (the state machine), `requests` (the
`canvas.*` requests), and what is kept of a week: `archive` (the archive at
the reset and its pictures), `comments`, `objectives`, `standings` (winners
and agents), `records` (events -> table operations, the boards) and
`tables` (the tables and their migrations). The archive's pictures are
drawn by a side task outside the package (arena/media/canvas_archive.py).
See docs/CANVAS.md.
"""

from arena.engine.registry import register

from .mode import CanvasMode

MODE = register(CanvasMode())
