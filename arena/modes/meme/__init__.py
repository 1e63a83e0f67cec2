"""Meme rounds (issue 16, the BSV design): operators upload memes that an AI
port captions, tags, scores and moderates; viewers pay per second watched,
split between the item's owner and the round's pool; rounds follow the
chain's blocks and share their pool out by engagement; ownership is traded
for a fee (docs/MEME.md).

`settings` (the `[meme]` section), `messages` (inputs, the effect, keys),
`economics` (the pure money rules), `requests`, `records`, `mode` (the
state machine).
"""

from arena.engine.registry import register

from .mode import MemeMode

MODE = register(MemeMode())
