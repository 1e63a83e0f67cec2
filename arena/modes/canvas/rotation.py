"""Which game mode the next week plays: the rotation.

- The modes of the last `recent_weeks` weeks are left out; when that leaves
  none, `classic` (`settings.FALLBACK_MODE`).
- The others are drawn with the engine's seeded generator (`arena.engine.rng`,
  keyed by the canvas number), so a replay draws the same, each weighted by
  its **popularity**: 1 + the mean number of distinct wallets that placed at
  least one pixel in the weeks it was played (integer, floor). A mode never
  played yet weighs the mean weight of the played ones (at least 1), so a
  new mode is neither starved nor favoured.

The record it reads is `CanvasState.played`: slug -> [weeks played,
placers over those weeks], added to at every reset (`played_week`).
"""

from __future__ import annotations

from arena.engine import rng

from .settings import FALLBACK_MODE


def played_week(played: dict, slug: str, placers: int) -> None:
    """Count one finished week of `slug` with `placers` distinct placers."""
    weeks, total = played.get(slug, [0, 0])
    played[slug] = [weeks + 1, total + placers]


def weights(candidates: list[str], played: dict) -> list[int]:
    """Each candidate's popularity weight (see the module's docstring)."""
    known = {slug: 1 + played[slug][1] // played[slug][0]
             for slug in candidates if slug in played and played[slug][0] > 0}
    fresh = max(1, sum(known.values()) // len(known)) if known else 1
    return [known.get(slug, fresh) for slug in candidates]


def draw(seed: int, canvas_no: int, modes, recent: list[str], recent_weeks: int, played: dict) -> str:
    """The next week's mode among `modes` (slugs, in their fixed order)."""
    left_out = set(recent[-recent_weeks:]) if recent_weeks else set()
    candidates = [slug for slug in modes if slug not in left_out]
    if not candidates:
        return FALLBACK_MODE
    ws = weights(candidates, played)
    pick = rng.below(seed, sum(ws), "canvas-mode", canvas_no)
    for slug, w in zip(candidates, ws):
        if pick < w:
            return slug
        pick -= w
    raise AssertionError("unreachable: pick < sum(weights)")
