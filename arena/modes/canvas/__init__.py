"""The weekly canvas (r/place): one shared canvas a week, a pixel per wallet
per cooldown, archived and begun afresh on the reset rule.

`settings` (the `[canvas]` section and the game modes), `messages` (its
inputs), `mode` (the state machine), `requests` (`canvas.join`,
`canvas.place`, `canvas.reset`), `records` (archives and the board).
See docs/CANVAS.md.
"""

from arena.engine.registry import register

from .mode import CanvasMode

MODE = register(CanvasMode())
