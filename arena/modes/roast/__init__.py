"""Roast battles (RoastPush): two players, three rounds of AI prompts, a
recorded roast each round, AI scoring, reactions, escrowed entry fees.

The package is the whole mode: `settings` (the `[roast]` section),
`messages` (its inputs, effects and their keys), `mode` (the state machine),
`requests` (`roast.submit`, `reaction.send`), `records` (its tables). The
framework finds it through the registry.
"""

from arena.engine.registry import register

from .mode import RoastMode

MODE = register(RoastMode())
