"""Result formats of real lottery-draw publishers: a response body and the
fetch's query to the one value the query asks for.

A feed source with `format = "<name>"` (instead of the default `"json"`
with its `value_path`) is read by one of these. Each knows one publisher's
real format, for both multi-state games the draw queries name
(`game` = "powerball" or "megamillions"):

- `ny_soda`: New York State's open data portal (data.ny.gov), a Socrata
  (SODA) JSON dataset per game: "Lottery Powerball Winning Numbers"
  (`d6yy-54nr`) and "Lottery Mega Millions Winning Numbers" (`5xaw-6ayf`).
  `GET https://data.ny.gov/resource/{dataset}.json?draw_date={draw_date}T00:00:00.000`
  answers a JSON array of rows, each with `draw_date`
  ("2024-01-06T00:00:00.000", a floating timestamp at midnight),
  `winning_numbers` (space separated: Powerball's six numbers end with the
  Powerball; Mega Millions' five are the white balls), `mega_ball` (Mega
  Millions only) and `multiplier`. Numbers are strings, zero-padded ("05").
- `texas_csv`: the Texas Lottery's winning-number exports,
  `https://www.texaslottery.com/export/sites/lottery/Games/{texas_game}/Winning_Numbers/{game}.csv`
  (`Powerball/Winning_Numbers/powerball.csv`,
  `Mega_Millions/Winning_Numbers/megamillions.csv`): every draw since the game
  began, one line each and no header, `Game Name, Month, Day, Year, Num1,
  Num2, Num3, Num4, Num5, Bonus, Multiplier` ("Powerball,1,6,2024,...").

The draw is found by its date in the games' own zone (America/New_York:
the draws are at 22:59 and 23:00 Eastern) from the query's `draw_time_ms`;
a body without that draw (not published yet) is `BadData`, so the feed asks
again. The value is what the query's `part` names: `white` the white balls
as a sorted list (a tuple once `sources.to_value` made it an engine value), `bonus` the bonus ball as an int. Anything else in the
body (multipliers, jackpots, other draws) is ignored. Every body is
untrusted: a number that is not one, a row of the wrong shape, is BadData,
never an exception out of here.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

DRAW_ZONE = ZoneInfo("America/New_York")
GAMES = ("powerball", "megamillions")
PARTS = ("white", "bonus")
WHITES = 5

NY_DATASETS = {"powerball": "d6yy-54nr", "megamillions": "5xaw-6ayf"}
TEXAS_GAMES = {"powerball": "Powerball", "megamillions": "Mega_Millions"}
TEXAS_NAMES = {"powerball": "powerball", "megamillions": "mega millions"}


class DrawFormatError(ValueError):
    """The body does not hold the asked draw in the format's shape; the
    message is the short reason kept in the source's answer."""


def draw_date(query: dict) -> str:
    """The draw's calendar date (YYYY-MM-DD, America/New_York) of the
    query's `draw_time_ms`."""
    try:
        ms = int(query["draw_time_ms"])
    except (KeyError, TypeError, ValueError):
        raise DrawFormatError("the query lacks draw_time_ms") from None
    if not 0 <= ms < 10**13:
        raise DrawFormatError("draw_time_ms is not a time")
    return datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(DRAW_ZONE).date().isoformat()


def _game(query: dict) -> str:
    game = query.get("game")
    if game not in GAMES:
        raise DrawFormatError(f"the query's game must be one of {', '.join(GAMES)}")
    return game


def _number(text) -> int:
    if not isinstance(text, str) or not text.strip().isdigit() or len(text.strip()) > 3:
        raise DrawFormatError(f"{str(text)[:20]!r} is not a ball number")
    return int(text.strip())


def _part(query: dict, whites: list[int], bonus: int):
    if len(whites) != WHITES:
        raise DrawFormatError(f"expected {WHITES} white balls, found {len(whites)}")
    part = query.get("part")
    if part == "white":
        return sorted(whites)
    if part == "bonus":
        return bonus
    raise DrawFormatError(f"the query's part must be one of {', '.join(PARTS)}")


# --- NY Open Data (SODA JSON) -------------------------------------------------------


def ny_soda_url_values(query: dict) -> dict:
    return {"dataset": NY_DATASETS[_game(query)], "draw_date": draw_date(query)}


def ny_soda_parse(body: bytes, query: dict):
    game, date = _game(query), draw_date(query)
    try:
        rows = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DrawFormatError(f"malformed JSON: {exc}") from None
    if not isinstance(rows, list):
        raise DrawFormatError("a SODA answer is a JSON array of rows")
    for row in rows:
        if not isinstance(row, dict) or str(row.get("draw_date", ""))[:10] != date:
            continue
        numbers = row.get("winning_numbers")
        if not isinstance(numbers, str):
            raise DrawFormatError("the row's winning_numbers is not a string")
        balls = [_number(n) for n in numbers.split()]
        if game == "powerball":
            if len(balls) != WHITES + 1:
                raise DrawFormatError(f"expected {WHITES + 1} Powerball numbers, found {len(balls)}")
            return _part(query, balls[:WHITES], balls[WHITES])
        return _part(query, balls, _number(row.get("mega_ball")))
    raise DrawFormatError(f"no {game} draw on {date} yet")


# --- Texas Lottery (CSV export) ------------------------------------------------------


def texas_csv_url_values(query: dict) -> dict:
    return {"texas_game": TEXAS_GAMES[_game(query)], "draw_date": draw_date(query)}


def texas_csv_parse(body: bytes, query: dict):
    game, date = _game(query), draw_date(query)
    year, month, day = (int(p) for p in date.split("-"))
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DrawFormatError("the CSV is not UTF-8") from None
    try:
        return _texas_row(csv.reader(io.StringIO(text)), query, game, date, (year, month, day))
    except csv.Error as exc:
        raise DrawFormatError(f"malformed CSV: {exc}") from None


def _texas_row(rows, query: dict, game: str, date: str, wanted: tuple):
    for row in rows:
        if len(row) < 10 or row[0].strip().lower() != TEXAS_NAMES[game]:
            continue
        try:
            when = (int(row[3]), int(row[1]), int(row[2]))
        except ValueError:
            continue  # a header or a note line
        if when != wanted:
            continue
        return _part(query, [_number(n) for n in row[4:9]], _number(row[9]))
    raise DrawFormatError(f"no {game} draw on {date} yet")


# name -> (the URL's extra placeholders from the query, the parser)
FORMATS = {
    "ny_soda": (ny_soda_url_values, ny_soda_parse),
    "texas_csv": (texas_csv_url_values, texas_csv_parse),
}

# Every publisher format a source may name: the draw formats above and the
# token-list formats (arena/feeds/token_formats.py, imported here, after
# DrawFormatError, which it raises).
from .token_formats import FORMATS as _TOKEN_FORMATS  # noqa: E402

FORMATS.update(_TOKEN_FORMATS)
