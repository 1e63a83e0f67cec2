"""Local stand-ins for the real draw publishers, speaking their formats
(arena/feeds/draw_formats.py): NY Open Data's SODA JSON rows and the Texas
Lottery's CSV export, served by `feed_http.FeedSources` on 127.0.0.1.

`Draws` holds the draws the publishers know ({(game, date): (whites,
bonus)}); a test adds a draw to "publish" it, and a publisher may lie (its
own copy of the draws).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from arena.feeds.draw_formats import DRAW_ZONE

from feed_http import json_body


def date_of(draw_time_ms: int) -> str:
    return datetime.fromtimestamp(draw_time_ms / 1000, timezone.utc).astimezone(DRAW_ZONE).date().isoformat()


def soda_row(game: str, date: str, whites, bonus) -> dict:
    """One row as data.ny.gov gives it (numbers zero-padded strings)."""
    if game == "powerball":
        return {"draw_date": f"{date}T00:00:00.000",
                "winning_numbers": " ".join(f"{n:02d}" for n in [*whites, bonus]), "multiplier": "2"}
    return {"draw_date": f"{date}T00:00:00.000", "winning_numbers": " ".join(f"{n:02d}" for n in whites),
            "mega_ball": f"{bonus:02d}", "multiplier": "03"}


def texas_line(game: str, date: str, whites, bonus) -> str:
    y, m, d = (int(p) for p in date.split("-"))
    name = "Powerball" if game == "powerball" else "Mega Millions"
    return ",".join([name, str(m), str(d), str(y), *map(str, whites), str(bonus), "2"])


class Publishers:
    """Handlers for `FeedSources.add`: `soda` answers `/<name>/resource/<dataset>.json?draw_date=...`
    with the matching rows (as Socrata filters), `texas` the whole CSV file."""

    DATASETS = {"d6yy-54nr": "powerball", "5xaw-6ayf": "megamillions"}
    TEXAS = {"powerball.csv": "powerball", "megamillions.csv": "megamillions"}

    def __init__(self) -> None:
        self.draws: dict[tuple[str, str], tuple] = {}

    def publish(self, game: str, draw_time_ms: int, whites, bonus) -> None:
        self.draws[(game, date_of(draw_time_ms))] = (tuple(whites), bonus)

    def soda(self, draws=None):
        def handle(path: str):
            draws_ = self.draws if draws is None else draws
            parts = urlsplit(path)
            game = self.DATASETS.get(parts.path.rsplit("/", 1)[-1].removesuffix(".json"))
            if game is None:
                return 404, {}, b'{"error": true, "message": "dataset not found"}'
            wanted = parse_qs(parts.query).get("draw_date", [""])[0][:10]
            rows = [soda_row(g, d, w, b) for (g, d), (w, b) in sorted(draws_.items()) if g == game and d == wanted]
            return json_body(rows)
        return handle

    def texas(self, draws=None):
        def handle(path: str):
            draws_ = self.draws if draws is None else draws
            game = self.TEXAS.get(urlsplit(path).path.rsplit("/", 1)[-1])
            if game is None:
                return 404, {}, b"not found"
            lines = [texas_line(g, d, w, b) for (g, d), (w, b) in sorted(draws_.items(), reverse=True) if g == game]
            return 200, {"Content-Type": "text/csv"}, ("\r\n".join(lines) + "\r\n").encode()
        return handle


def soda_url(sources, name: str) -> str:
    return sources.url(name, "/resource/{dataset}.json?draw_date={draw_date}T00:00:00.000")


def texas_url(sources, name: str) -> str:
    return sources.url(name, "/export/sites/lottery/Games/{texas_game}/Winning_Numbers/{game}.csv")


def json_mirror(draws: dict):
    """A third, generic JSON source (`format = "json"`, value_path `value`):
    `/<name>?game=..&part=..&draw_time_ms=..` -> {"value": ...}."""
    def handle(path: str):
        q = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        draw = draws.get((q.get("game"), date_of(int(q.get("draw_time_ms", "0")))))
        if draw is None:
            return 404, {}, json.dumps({"error": "not drawn yet"}).encode()
        return json_body({"value": list(draw[0]) if q.get("part") == "white" else draw[1]})
    return handle
