"""The lottery (issue 14, phase 1): peer-to-peer even-odds bets on one
proposition about a Powerball / Mega Millions draw, escrowed through the
ledger, decided by the draw feed's k-of-n consensus (docs/LOTTERY.md).

`settings` (the `[lottery]` section), `messages` (inputs and effect keys),
`book` (the pure rules: propositions, matching, pair money), `requests`,
`records`, `mode` (the state machine).
"""

from arena.engine.registry import register

from .mode import LotteryMode

MODE = register(LotteryMode())
