"""The canvas's objectives: small weekly goals, each wallet's own progress.

An objective counts a wallet's placements that match it: any placement
("pixels"), a placement of one colour ("color", by its `#rrggbb`, so it
means the same whatever the week's palette), or a placement inside a region
("region", in thousandths of the canvas's width and height, so it fits any
size). A "hold" objective counts instead the cells of its region whose
latest placement is the wallet's: another wallet painting over one takes it
away (the progress goes down as well as up), and it is completed only at
the reset, by every wallet then holding at least its target. The shipped objectives are code (`OBJECTIVES`); `[canvas] objectives` adds
an operator's own (`parse`), to the same draw. Each week's objectives are
recorded with their title, kind and target (`canvas_objectives`), so an
archive keeps their meaning whatever the config says later.

Each week `draw` picks `objectives_per_week` of them with the engine's seeded
generator (by canvas number: a replay draws the same), among those the
week's palette can reach. Progress is per wallet (users and agents alike),
kept in the state for the week and written to the store as each wallet
completes one.
"""

from __future__ import annotations

import re

from attrs import field, frozen

from arena.engine import rng

from .messages import NAME
from .records import record_event

KINDS = ("pixels", "color", "region", "hold")


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
    region: tuple = ()  # kinds "region", "hold": (x0, y0, x1, y1) in thousandths, x1 and y1 excluded

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
        return self.inside(x, y, width, height)

    def inside(self, x: int, y: int, width: int, height: int) -> bool:
        x0, y0, x1, y1 = self.region
        return x0 * width <= x * 1000 < x1 * width and y0 * height <= y * 1000 < y1 * height


OBJECTIVES = {o.id: o for o in (
    Objective("pixels-10", "Place 10 pixels", "pixels", 10),
    Objective("pixels-50", "Place 50 pixels", "pixels", 50),
    Objective("black-5", "Place 5 black pixels", "color", 5, color="#000000"),
    Objective("red-5", "Place 5 red pixels", "color", 5, color="#ff4500"),
    Objective("centre-5", "Place 5 pixels in the centre", "region", 5, region=(400, 400, 600, 600)),
    Objective("corner-3", "Place 3 pixels in the top-left corner", "region", 3, region=(0, 0, 200, 200)),
    Objective("hold-centre-10", "Hold 10 pixels of the centre at the reset", "hold", 10,
              region=(450, 450, 550, 550)),
)}


MAX_TITLE = 80
_COLOUR = re.compile(r"^#[0-9a-f]{6}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def parse(text: str) -> dict[str, Objective]:
    """`[canvas] objectives`: definitions separated by ";", each
    `<id> <kind> <target> [<#rrggbb> | <x0>,<y0>,<x1>,<y1>] <title>`
    (colour for `color`, the region in thousandths for `region` and `hold`),
    e.g. `"blue-20 color 20 #2450a4 Place 20 blue pixels; top-50 hold 50
    0,0,1000,100 Hold 50 pixels of the top band"`. Raises ValueError naming
    what is wrong."""
    out: dict[str, Objective] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        words = part.split()
        if len(words) < 4:
            raise ValueError(f"objective {part!r}: needs <id> <kind> <target> ... <title>")
        oid, kind, target, rest = words[0], words[1], words[2], words[3:]
        if not _ID.match(oid) or oid in OBJECTIVES or oid in out:
            raise ValueError(f"objective id {oid!r}: lowercase letters, digits and '-', up to 32, not a shipped "
                             "one's and not repeated")
        if kind not in KINDS:
            raise ValueError(f"objective {oid}: kind must be one of {', '.join(KINDS)}")
        if not target.isdigit() or not 1 <= int(target) <= 1_000_000:
            raise ValueError(f"objective {oid}: target must be 1..1000000")
        colour, region = "", ()
        if kind == "color":
            colour = rest.pop(0).lower()
            if not _COLOUR.match(colour):
                raise ValueError(f"objective {oid}: a colour is #rrggbb")
        elif kind in ("region", "hold"):
            try:
                region = tuple(int(v) for v in rest.pop(0).split(","))
            except ValueError:
                region = ()
            if len(region) != 4 or not (0 <= region[0] < region[2] <= 1000 and 0 <= region[1] < region[3] <= 1000):
                raise ValueError(f"objective {oid}: a region is x0,y0,x1,y1 in thousandths, 0 <= x0 < x1 <= 1000")
        title = " ".join(rest)
        if not title or len(title) > MAX_TITLE:
            raise ValueError(f"objective {oid}: a title of 1..{MAX_TITLE} characters")
        out[oid] = Objective(oid, title, kind, int(target), colour, region)
    return out


_parsed: dict[str, dict] = {}


def catalogue(text: str) -> dict[str, Objective]:
    """Every objective a week may draw: the shipped ones, then `[canvas] objectives`."""
    found = _parsed.get(text)
    if found is None:
        found = _parsed[text] = {**OBJECTIVES, **parse(text)}
    return found


def draw(seed: int, seq: int, count: int, palette, known: dict | None = None) -> list[str]:
    """`count` objective ids for canvas number `seq`, without repeats, in
    the order drawn."""
    pool = [oid for oid, o in (known or OBJECTIVES).items() if o.reachable(palette)]
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
    known = catalogue(ctx.settings(NAME).objectives)
    progress = shared.progress.get(wallet)
    if progress is None:
        progress = shared.progress[wallet] = [0] * len(shared.objectives)
    for i, oid in enumerate(shared.objectives):
        o = known[oid]
        if o.kind == "hold":
            _hold(ctx, shared, i, o, wallet, x, y)
            continue
        if progress[i] >= o.target or not o.counts(x, y, colour, shared.width, shared.height, shared.palette):
            continue
        progress[i] += 1
        ctx.emit((wallet,), "objective:progress", {"objective": oid, "progress": progress[i], "target": o.target})
        if progress[i] == o.target:
            ctx.emit((wallet,), "objective:completed", {"objective": oid})
            record_event(ctx, "canvas:objective_done", {"seq": shared.seq, "objective": oid, "wallet": wallet,
                                                        "at_ms": ctx.now_ms})


def _hold(ctx, shared, i: int, o: Objective, wallet: str, x: int, y: int) -> None:
    """A placement in a hold objective's region: the cell is now `wallet`'s,
    and no longer its previous holder's (`CanvasState.holders`)."""
    if not o.inside(x, y, shared.width, shared.height):
        return
    cell = str(y * shared.width + x)  # str: the state's dict keys stay strings in every encoding
    cells = shared.holders.setdefault(str(i), {})
    before = cells.get(cell)
    if before == wallet:
        return
    cells[cell] = wallet
    for who, delta in ((before, -1), (wallet, 1)):
        if who is None:
            continue
        progress = shared.progress.setdefault(who, [0] * len(shared.objectives))
        progress[i] += delta
        ctx.emit((who,), "objective:progress", {"objective": o.id, "progress": progress[i], "target": o.target})


def end_week(ctx, shared) -> None:
    """At the reset: every wallet holding at least a hold objective's target completes it."""
    known = catalogue(ctx.settings(NAME).objectives)
    for i, oid in enumerate(shared.objectives):
        o = known[oid]
        if o.kind != "hold":
            continue
        for wallet in sorted(shared.progress):
            if shared.progress[wallet][i] >= o.target:
                ctx.emit((wallet,), "objective:completed", {"objective": oid})
                record_event(ctx, "canvas:objective_done", {"seq": shared.seq, "objective": oid,
                                                            "wallet": wallet, "at_ms": ctx.now_ms})


def listing(shared, wallet: str, known: dict) -> dict:
    """The `canvas.objectives` reply: the week's objectives, with `wallet`'s progress."""
    progress = shared.progress.get(wallet) or [0] * len(shared.objectives)
    out = []
    for oid, p in zip(shared.objectives, progress):
        o = known[oid]
        # A hold objective is done only at the reset (until then a holder can lose cells).
        out.append({"id": oid, "title": o.title, "target": o.target, "progress": p,
                    "done": p >= o.target and o.kind != "hold"})
    return {"objectives": out}


def completed_counts(shared, known: dict) -> dict:
    """objective id -> wallets that completed it this week (the archive's stats)."""
    return {oid: sum(1 for p in shared.progress.values() if p[i] >= known[oid].target)
            for i, oid in enumerate(shared.objectives)}


def begin_week(ctx, shared, count: int) -> None:
    """Draw the new week's objectives and record them."""
    known = catalogue(ctx.settings(NAME).objectives)
    shared.objectives = draw(ctx.config.seed, shared.seq, count, shared.palette, known)
    shared.progress = {}
    shared.holders = {}
    rows = [[oid, known[oid].title, known[oid].kind, known[oid].target] for oid in shared.objectives]
    record_event(ctx, "canvas:week_begun", {"seq": shared.seq, "objectives": rows})
