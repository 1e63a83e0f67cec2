"""The draw publishers' real result formats (arena/feeds/draw_formats.py):
NY Open Data's SODA JSON and the Texas Lottery CSV export, for Powerball and
Mega Millions, parsed sans-IO (a real-shaped body, every hostile one an
error, never an exception), then a 2-of-3 draw feed of one source of each
format and a lying third over HTTP on 127.0.0.1."""

from __future__ import annotations

from datetime import datetime

import pytest

from arena.config import FeedsConfig, FeedSourceConfig
from arena.feeds.consensus import ERROR, OK
from arena.feeds.draw_formats import DRAW_ZONE, DrawFormatError, draw_date, ny_soda_parse, texas_csv_parse
from arena.feeds.service import FeedService
from arena.feeds.sources import fill_url, parse_response
from arena.engine.outputs import FetchFeed
from draw_publishers import Publishers, json_mirror, soda_url, texas_url
from feed_http import FeedSources
from test_feeds_http import by_name, feed, fetch_one

# Saturday 2024-01-06, 22:59 in New York = 03:59 UTC on the 7th: the date is the 6th.
PB_DRAW = int(datetime(2024, 1, 6, 22, 59, tzinfo=DRAW_ZONE).timestamp() * 1000)
MM_DRAW = int(datetime(2024, 1, 5, 23, 0, tzinfo=DRAW_ZONE).timestamp() * 1000)

SODA_PB = b'''[{"draw_date":"2024-01-06T00:00:00.000","winning_numbers":"11 19 27 35 64 06","multiplier":"2"},
 {"draw_date":"2024-01-03T00:00:00.000","winning_numbers":"01 02 03 04 05 26","multiplier":"3"}]'''
SODA_MM = b'''[{"draw_date":"2024-01-05T00:00:00.000","winning_numbers":"03 09 48 52 70","mega_ball":"07",
 "multiplier":"03"}]'''
TEXAS_PB = b"Powerball,1,6,2024,64,19,11,35,27,6,2\r\nPowerball,1,3,2024,1,2,3,4,5,26,3\r\n"
TEXAS_MM = b"\xef\xbb\xbfMega Millions,1,5,2024,3,9,48,52,70,7,3\r\n"


def q(game, part, at):
    return {"game": game, "part": part, "draw_time_ms": str(at), "count": "5", "max": "69"}


def test_the_draw_date_is_new_york_s():
    assert draw_date({"draw_time_ms": PB_DRAW}) == "2024-01-06"
    assert draw_date({"draw_time_ms": str(MM_DRAW)}) == "2024-01-05"
    for bad in ({}, {"draw_time_ms": "soon"}, {"draw_time_ms": -1}, {"draw_time_ms": 10**14}):
        with pytest.raises(DrawFormatError):
            draw_date(bad)


@pytest.mark.parametrize("parse, game, at, body", [
    (ny_soda_parse, "powerball", PB_DRAW, SODA_PB), (ny_soda_parse, "megamillions", MM_DRAW, SODA_MM),
    (texas_csv_parse, "powerball", PB_DRAW, TEXAS_PB), (texas_csv_parse, "megamillions", MM_DRAW, TEXAS_MM),
])
def test_real_shaped_bodies_give_the_asked_part(parse, game, at, body):
    whites, bonus = ([11, 19, 27, 35, 64], 6) if game == "powerball" else ([3, 9, 48, 52, 70], 7)
    assert parse(body, q(game, "white", at)) == whites
    assert parse(body, q(game, "bonus", at)) == bonus


@pytest.mark.parametrize("parse, body", [
    (ny_soda_parse, b"[]"), (ny_soda_parse, b"{not json"), (ny_soda_parse, b'{"rows": []}'),
    (ny_soda_parse, b'[{"draw_date":"2024-01-06T00:00:00.000","winning_numbers":"11 19 27 35 64"}]'),
    (ny_soda_parse, b'[{"draw_date":"2024-01-06T00:00:00.000","winning_numbers":"11 19 x 35 64 06"}]'),
    (ny_soda_parse, b'[{"draw_date":"2024-01-06T00:00:00.000","winning_numbers":["11"]}]'),
    (ny_soda_parse, b'[{"draw_date":"2024-01-06T00:00:00.000","winning_numbers":"1 2 3 4 5 99999999999"}]'),
    (ny_soda_parse, b'[1, "x", null]'), (ny_soda_parse, b"\xff\xfe"),
    (texas_csv_parse, b""), (texas_csv_parse, b"Game Name,Month,Day,Year\r\n"), (texas_csv_parse, b"\xff\xfe"),
    (texas_csv_parse, b"Powerball,1,6,2024,64,19,11,35,27\r\n"),
    (texas_csv_parse, b"Powerball,1,6,2024,64,19,11,35,-27,6,2\r\n"),
    (texas_csv_parse, b'Powerball,1,6,2024,"64\x00,19,11,35,27,6\r\n'),
    (texas_csv_parse, b"Mega Millions,1,6,2024,64,19,11,35,27,6,2\r\n"),  # another game's line
])
def test_hostile_or_unpublished_bodies_are_format_errors(parse, body):
    with pytest.raises(DrawFormatError):
        parse(body, q("powerball", "white", PB_DRAW))


def test_the_query_must_name_a_game_and_a_part():
    with pytest.raises(DrawFormatError):
        ny_soda_parse(SODA_PB, q("lotto", "white", PB_DRAW))
    with pytest.raises(DrawFormatError):
        texas_csv_parse(TEXAS_PB, q("powerball", "jackpot", PB_DRAW))


def test_formats_fill_their_url_placeholders_and_answer_through_parse_response():
    query = tuple(q("megamillions", "bonus", MM_DRAW).items())
    assert fill_url("https://data.ny.gov/resource/{dataset}.json?draw_date={draw_date}T00:00:00.000", query,
                    "ny_soda") == "https://data.ny.gov/resource/5xaw-6ayf.json?draw_date=2024-01-05T00:00:00.000"
    assert fill_url("https://t/Games/{texas_game}/Winning_Numbers/{game}.csv", query, "texas_csv") == \
        "https://t/Games/Mega_Millions/Winning_Numbers/megamillions.csv"
    soda = FeedSourceConfig(name="ny", url="http://127.0.0.1:1/", format="ny_soda")
    answer, _ = parse_response(soda, 200, {}, SODA_MM, 42, query=query)
    assert (answer.status, answer.value) == (OK, 7)
    answer, _ = parse_response(soda, 200, {}, b"[]", 42, query=query)
    assert answer.status == ERROR and answer.detail == "no megamillions draw on 2024-01-05 yet"


def _draw_feed(sources, publishers, lying: dict | None = None):
    truth = publishers.draws
    return FeedsConfig(kind="http", feeds={"draw": feed(
        FeedSourceConfig(name="ny", url=soda_url(sources, "ny"), format="ny_soda"),
        FeedSourceConfig(name="tx", url=texas_url(sources, "tx"), format="texas_csv"),
        FeedSourceConfig(name="mirror", url=sources.add("mirror", json_mirror(truth if lying is None else lying))
                         + "?game={game}&part={part}&draw_time_ms={draw_time_ms}", value_path="value"),
    )}) if sources.add("ny", publishers.soda()) and sources.add("tx", publishers.texas()) else None


def _eff(part, game="powerball", at=PB_DRAW):
    return FetchFeed(key=f"feed:r:{part}:1", mode="testmode", match="r", feed="draw",
                     query=(("game", game), ("part", part), ("draw_time_ms", str(at)), ("count", "5"),
                            ("max", "69")))


async def test_two_real_formats_agree_and_outvote_a_lying_third():
    pubs = Publishers()
    pubs.publish("powerball", PB_DRAW, (64, 19, 11, 35, 27), 6)
    lie = {k: ((1, 2, 3, 4, 5), 25) for k in pubs.draws}
    with FeedSources() as sources:
        service = FeedService(_draw_feed(sources, pubs, lying=lie))
        white = await fetch_one(service, _eff("white"))
        bonus = await fetch_one(service, _eff("bonus"))
        assert sources.paths["ny"][0] == "/ny/resource/d6yy-54nr.json?draw_date=2024-01-06T00:00:00.000"
        assert sources.paths["tx"][0] == "/tx/export/sites/lottery/Games/Powerball/Winning_Numbers/powerball.csv"
    assert (white.status, white.value) == ("ok", (11, 19, 27, 35, 64))
    assert (bonus.status, bonus.value) == ("ok", 6)
    assert by_name(white)["mirror"].detail == "disagrees" and by_name(bonus)["mirror"].value == 25


async def test_an_unpublished_draw_is_unavailable_until_published():
    pubs = Publishers()
    with FeedSources() as sources:
        service = FeedService(_draw_feed(sources, pubs))
        early = await fetch_one(service, _eff("bonus", "megamillions", MM_DRAW))
        assert early.status == "unavailable"
        assert {a.detail for a in by_name(early).values()} >= {"no megamillions draw on 2024-01-05 yet"}
        pubs.publish("megamillions", MM_DRAW, (3, 9, 48, 52, 70), 7)
        later = await fetch_one(service, FetchFeed(key="feed:r:bonus:2", mode="testmode", match="r", feed="draw",
                                                   query=_eff("bonus", "megamillions", MM_DRAW).query))
    assert (later.status, later.value) == ("ok", 7)


def test_config_takes_a_format_instead_of_a_value_path(tmp_path):
    from test_feeds_config import errors, load

    cfg = load(tmp_path, '''
[feeds.draw]
kind = "http"
k = 2
sources = [
  {name = "ny", url = "https://data.ny.gov/resource/{dataset}.json?draw_date={draw_date}T00:00:00.000", format = "ny_soda"},
  {name = "tx", url = "https://www.texaslottery.com/export/sites/lottery/Games/{texas_game}/Winning_Numbers/{game}.csv", format = "texas_csv"},
]
''').feeds.feed("draw")
    assert [(s.name, s.format, s.value_path) for s in cfg.sources] == [("ny", "ny_soda", ""), ("tx", "texas_csv", "")]
    got = errors(tmp_path, '''
[feeds.draw]
kind = "http"
sources = [{name = "a", url = "http://127.0.0.1:9/", format = "xml"}, {name = "b", url = "http://127.0.0.1:9/"},
           {name = "c", url = "http://127.0.0.1:9/", value_path = ""}]
''')
    assert '[feeds.draw] sources[0] format must be one of "json", "ny_soda", "texas_csv", "jupiter_tokens", got "xml"' in got
    assert "[feeds.draw] sources[1] value_path is missing" in got
    assert '[feeds.draw] sources[2] value_path must be a non-empty string when format is "json"' in got
