"""The canvas's objectives: small weekly goals, each wallet's own progress.

An objective counts a wallet's placements that match it: any placement
("pixels"), a placement of one colour ("color", by its `#rrggbb`, so it
means the same whatever the week's palette), or a placement inside a region
("region", in thousandths of the canvas's width and height, so it fits any
size). Objectives are code, not config, like the game modes: an archive's
objective ids mean the same thing forever.

Each week `draw` picks `objectives_per_week` of them with the engine's seeded
generator (by canvas number: a replay draws the same), among those the
week's palette can reach. Progress is per wallet (users and agents alike),
kept in the state for the week and written to the store as each wallet
completes one.
"""

from __future__ import annotations

from attrs import field, frozen

from arena.engine import rng

from .records import record_event

KINDS = ("pixels", "color", "region")


def _kind(inst, attribute, value) -> None:
    if value not in KINDS:
        raise ValueError(f"an objective's kind is one of {KINDS}, got {value!r}")


@frozen
class Objective:
    id: str
    title: str
    kind: str = field(validator=_kind)
    target: int
    color: str = ""  # kind "color": the colour to place
    region: tuple = ()  # kind "region": (x0, y0, x1, y1) in thousandths, x1 and y1 excluded

    def colour_index(self, palette) -> int:
        """This week's index of the colour to place (-1 when the palette lacks it)."""
        return list(palette).index(self.color) if self.color in palette else -1

    def reachable(self, palette) -> bool:
        return self.kind != "color" or self.colour_index(palette) >= 0

    def counts(self, x: int, y: int, colour: int, width: int, height: int, palette) -> bool:
        """Whether a placement of `colour` at (x, y) counts towards it."""
        if self.kind == "pixels":
            return True
        if self.kind == "color":
            return colour == self.colour_index(palette)
        x0, y0, x1, y1 = self.region
        return x0 * width <= x * 1000 < x1 * width and y0 * height <= y * 1000 < y1 * height


OBJECTIVES = {o.id: o for o in (
    Objective("pixels-10", "Place 10 pixels", "pixels", 10),
    Objective("pixels-50", "Place 50 pixels", "pixels", 50),
    Objective("black-5", "Place 5 black pixels", "color", 5, color="#000000"),
    Objective("red-5", "Place 5 red pixels", "color", 5, color="#ff4500"),
    Objective("centre-5", "Place 5 pixels in the centre", "region", 5, region=(400, 400, 600, 600)),
    Objective("corner-3", "Place 3 pixels in the top-left corner", "region", 3, region=(0, 0, 200, 200)),
)}


def draw(seed: int, seq: int, count: int, palette) -> list[str]:
    """`count` objective ids for canvas number `seq`, without repeats, in
    the order drawn."""
    pool = [oid for oid, o in OBJECTIVES.items() if o.reachable(palette)]
    chosen: list[str] = []
    while pool and len(chosen) < count:
        chosen.append(pool.pop(rng.below(seed, len(pool), "canvas-objectives", seq, len(chosen))))
    return chosen


# --- the week's progress --------------------------------------------------------------


def advance(ctx, shared, wallet: str, x: int, y: int, colour: int) -> None:
    """Count one placement towards the week's objectives it matches, for
    `wallet`: `objective:progress` to it for each one that moved,
    `objective:completed` (and a record) for each one it reached."""
    if not shared.objectives:
        return
    progress = shared.progress.get(wallet)
    if progress is None:
        progress = shared.progress[wallet] = [0] * len(shared.objectives)
    for i, oid in enumerate(shared.objectives):
        o = OBJECTIVES[oid]
        if progress[i] >= o.target or not o.counts(x, y, colour, shared.width, shared.height, shared.palette):
            continue
        progress[i] += 1
        ctx.emit((wallet,), "objective:progress", {"objective": oid, "progress": progress[i], "target": o.target})
        if progress[i] == o.target:
            ctx.emit((wallet,), "objective:completed", {"objective": oid})
            record_event(ctx, "canvas:objective_done", {"seq": shared.seq, "objective": oid, "wallet": wallet,
                                                        "at_ms": ctx.now_ms})


def listing(shared, wallet: str) -> dict:
    """The `canvas.objectives` reply: the week's objectives, with `wallet`'s progress."""
    progress = shared.progress.get(wallet) or [0] * len(shared.objectives)
    out = []
    for oid, p in zip(shared.objectives, progress):
        o = OBJECTIVES[oid]
        out.append({"id": oid, "title": o.title, "target": o.target, "progress": p, "done": p >= o.target})
    return {"objectives": out}


def completed_counts(shared) -> dict:
    """objective id -> wallets that completed it this week (the archive's stats)."""
    return {oid: sum(1 for p in shared.progress.values() if p[i] >= OBJECTIVES[oid].target)
            for i, oid in enumerate(shared.objectives)}


def begin_week(ctx, shared, count: int) -> None:
    """Draw the new week's objectives and record them."""
    shared.objectives = draw(ctx.config.seed, shared.seq, count, shared.palette)
    shared.progress = {}
    rows = [[oid, OBJECTIVES[oid].title, OBJECTIVES[oid].kind, OBJECTIVES[oid].target] for oid in shared.objectives]
    record_event(ctx, "canvas:week_begun", {"seq": shared.seq, "objectives": rows})
