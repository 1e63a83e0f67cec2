"""The chain height meme rounds follow: a WhatsOnChain-style chain info
endpoint (`GET /v1/bsv/main/chain/info` answering `{"chain": "main",
"blocks": N, ...}`) served by a local HTTP server and read by the feed
service exactly as the mode asks for it; two such sources decided by the
median (one lagging a block); a source down; and the simulated chain (its
height follows the clock at `block_ms` per block). The answers then drive a
round in the engine."""

from __future__ import annotations

import pytest

from arena.config import FeedConfig, FeedsConfig, FeedSourceConfig
from arena.engine.outputs import FetchFeed
from arena.feeds import simulated
from arena.feeds.service import FeedService
from feed_http import FeedSources, json_body, refused_url
from meme_harness import Engine
from test_feeds_http import fetch_one

QUERY = (("chain", "bsv"), ("block_ms", "20000"))  # what the meme mode sends


def chain_info(height: int):
    def handler(path):
        assert path.endswith("/v1/bsv/main/chain/info"), path
        return json_body({"chain": "main", "blocks": height, "headers": height,
                          "bestblockhash": "00" * 32, "difficulty": 95_000_000_000.5, "mediantime": 1_764_000_000,
                          "verificationprogress": 0.9999, "pruned": False, "chainwork": "00" * 32})
    return handler


def woc(sources, name, height) -> FeedSourceConfig:
    base = sources.add(name, chain_info(height))
    return FeedSourceConfig(name=name, url=base + "/v1/bsv/main/chain/info", value_path="blocks")


def eff() -> FetchFeed:
    return FetchFeed("feed:me-x:height:1", "meme", "me-x", "bsv_height", QUERY)


@pytest.fixture
def sources():
    with FeedSources() as s:
        yield s


async def test_whatsonchain_chain_info_gives_the_height(sources):
    cfg = FeedsConfig(kind="http", feeds={"bsv_height": FeedConfig(kind="http", consensus="first",
                                                                   sources=(woc(sources, "woc", 876_543),))})
    result = await fetch_one(FeedService(cfg), eff())
    assert result.status == "ok" and result.value == 876_543
    assert result.answers[0][0] == "woc" and result.answers[0][2] == 876_543


async def test_two_sources_one_a_block_behind_decide_by_median_and_one_down_is_tolerated(sources):
    feed = FeedConfig(kind="http", consensus="median", min_sources=2, max_deviation_bps=1, deadline_ms=2_000,
                      timeout_ms=500, retry_ms=100,
                      sources=(woc(sources, "woc", 876_544), woc(sources, "mirror", 876_543),
                               FeedSourceConfig(name="down", url=refused_url() + "/v1/bsv/main/chain/info",
                                                value_path="blocks")))
    result = await fetch_one(FeedService(FeedsConfig(kind="http", feeds={"bsv_height": feed})), eff())
    assert result.status == "ok" and result.value == 876_543  # the median of two rounds down
    assert {a[0]: a[1] for a in result.answers}["down"] == "error"


def test_the_simulated_chain_follows_the_clock_at_block_ms():
    at = simulated.GENESIS_MS + 20_000 * 1_000
    assert simulated.block_height((("block_ms", "20000"),), at) == 1_000
    assert simulated.block_height((("block_ms", "20000"),), at + 19_999) == 1_000
    assert simulated.block_height((("block_ms", "20000"),), at + 20_000) == 1_001
    assert simulated.block_height((), at) == 20_000 * 1_000 // simulated.BLOCK_MS  # the default 400 ms
    answer = simulated.answer("block_height", QUERY, at)
    assert answer.source == "simulated:block_height" and answer.detail == "simulated"


async def test_heights_from_the_endpoint_drive_rounds(sources):
    cfg = FeedsConfig(kind="http", feeds={"bsv_height": FeedConfig(kind="http", consensus="first",
                                                                   sources=(woc(sources, "woc", 500),))})
    service = FeedService(cfg)
    e = Engine(block_feed="bsv_height", blocks_per_round=2)
    e.auto_feed = False
    e.read_round()
    e.run(0.1)
    for height, rounds in ((500, 1), (501, 1), (502, 2)):
        sources.handlers["woc"] = chain_info(height)
        asked = e.fetches.pop(0)
        assert asked.feed == "bsv_height" and dict(asked.query)["chain"] == "bsv"
        e.step(await fetch_one(service, asked))
        assert e.shared().round_no == rounds
        e.run(2.1)
    assert [x["height"] for x in e.events_of("round:start")] == [500, 502]
