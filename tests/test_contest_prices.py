"""Market prices for trading contests through the platform's feeds: source
adapters for real price APIs' JSON formats (Jupiter Price API v2, Birdeye
multi price, CoinGecko token price), each served by a local HTTP server on
127.0.0.1 in that format, decided by the per-token median with outliers
dropped; and the sans-IO pieces (`{*name}` paths, `median_each`)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from arena.config import FeedConfig, FeedsConfig, FeedSourceConfig
from arena.engine.inputs import FEED_OK
from arena.engine.outputs import FetchFeed
from arena.feeds import consensus as C
from arena.feeds.service import FeedService
from arena.feeds.sources import BadData, json_values, parse_response
from arena.modes.contest.settings import ContestConfig, whitelist
from feed_http import FeedSources, json_body
from test_feeds_http import fetch_one

PAIRS = whitelist(ContestConfig().tokens)[:3]
MINTS = [m for m, _ in PAIRS]
QUERY = (("symbols", ",".join(s for _, s in PAIRS)), ("tokens", ",".join(MINTS)))
PRICES = {MINTS[0]: "142.51", MINTS[1]: "1.0001", MINTS[2]: "0.00002345"}


def _ids(path: str, name: str) -> list[str]:
    return parse_qs(urlsplit(path).query)[name][0].split(",")


def jupiter(prices):
    def handle(path):
        return json_body({"data": {m: {"id": m, "type": "derivedPrice", "price": prices[m]}
                                   for m in _ids(path, "ids")}, "timeTaken": 0.002})
    return handle


def birdeye(prices, at_s=1_800_000_000):
    def handle(path):
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"success": True, "data": {m: {"value": float(prices[m]), "updateUnixTime": at_s + i,
                                           "updateHumanTime": "2027-01-15T08:00:00"}
                                       for i, m in enumerate(_ids(path, "list_address"))}}).encode()
    return handle


def coingecko(prices):
    def handle(path):
        return json_body({m: {"usd": float(prices[m])} for m in _ids(path, "contract_addresses")})
    return handle


def test_each_paths_walk_once_per_query_item():
    doc = {"data": {"a": {"price": 1}, "b": {"price": 2}}}
    assert json_values(doc, "data.{*tokens}.price", (("tokens", "b,a"),)) == [2, 1]
    assert json_values(doc, "data.a.price", ()) == 1
    with pytest.raises(BadData, match="no 'c' at data"):
        json_values(doc, "data.{*tokens}.price", (("tokens", "a,c"),))
    with pytest.raises(BadData, match="query lacks"):
        json_values(doc, "data.{*tokens}.price", ())


def test_a_vector_answer_with_the_oldest_timestamp():
    source = FeedSourceConfig(name="b", url="http://127.0.0.1:1/x", value_path="data.{*tokens}.value",
                              time_path="data.{*tokens}.updateUnixTime")
    _, _, body = birdeye(PRICES)(f"/birdeye?list_address={','.join(MINTS)}")
    answer, _ = parse_response(source, 200, {}, body, 5, decimals=6, query=QUERY)
    assert answer.value == (142_510_000, 1_000_100, 23) and answer.observed_at_ms == 1_800_000_000_000


def test_median_each_decides_every_token_and_drops_outliers_per_token():
    A = C.Answer
    answers = [A("a", "ok", (100, 200, 50)), A("b", "ok", (101, 201, 90)), A("c", "ok", (99, 199, 51))]
    d = C.median(answers, 200, 2)
    assert d.decided and d.value == (100, 200, 50)
    assert d.answers[1].detail.startswith("outlier at 2:")
    short = [A("a", "ok", (100, 200, 50)), A("b", "ok", (101,)), A("c", "ok", (99, 199, 51))]
    d = C.median(short, 200, 2)
    assert d.decided and d.answers[1].status == "error" and d.value == (99, 199, 50)
    assert not C.median([A("a", "ok", (1, 2))], 200, 2).decided


async def test_three_real_api_formats_on_local_servers_agree_by_median():
    with FeedSources() as servers:
        servers.handlers.update(jup=jupiter(PRICES), bird=birdeye(PRICES),
                                gecko=coingecko({**PRICES, MINTS[0]: "160.00"}))  # one outlier
        base = f"http://127.0.0.1:{servers.port}"
        feed = FeedConfig(kind="http", consensus="median", decimals=6, min_sources=2, max_deviation_bps=200,
                          deadline_ms=3_000, timeout_ms=1_000, retry_ms=100, sources=(
                              FeedSourceConfig(name="jupiter", url=base + "/jup/price/v2?ids={tokens}",
                                               value_path="data.{*tokens}.price"),
                              FeedSourceConfig(name="birdeye", url=base + "/bird/defi/multi_price?list_address={tokens}",
                                               value_path="data.{*tokens}.value"),
                              FeedSourceConfig(name="coingecko",
                                               url=base + "/gecko/simple/token_price/solana?contract_addresses="
                                                          "{tokens}&vs_currencies=usd",
                                               value_path="{*tokens}.usd"),
                          ))
        service = FeedService(FeedsConfig(kind="http", feeds={"market": feed}))
        result = await fetch_one(service, FetchFeed("feed:contest:w:prices:1", "contest", "", "market", QUERY))
    assert result.status == FEED_OK
    assert result.value == (142_510_000, 1_000_100, 23)
    notes = {a[0]: a[3] for a in result.answers}
    assert notes["coingecko"].startswith("outlier at 0:") and notes["jupiter"] == ""
