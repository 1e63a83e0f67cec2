"""Trading contests (issue 15, DegenDuel): players pay an entry fee, pick a
portfolio of whitelisted tokens, and are ranked on its weighted price change
while the contest runs; prizes by rank from the pool less the rake, the
rake to the platform, a share of it to referrers (docs/CONTESTS.md).

`settings` (the `[contest]` section), `messages` (inputs and effect keys),
`rules` (the pure rules: portfolios, scores, ranks, settlement money),
`requests`, `records`, `mode` (the state machine).
"""

from arena.engine.registry import register

from .mode import ContestMode

MODE = register(ContestMode())
