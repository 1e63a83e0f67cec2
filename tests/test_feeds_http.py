"""HTTP feed sources: the sans-IO parsing, then the feed service against real
HTTP servers on 127.0.0.1 (agreement, a liar, a source down, all down, slow,
malformed JSON, a huge body, 429 with Retry-After, median prices, an open
circuit and its health checks)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import attrs
import pytest
import trio

from arena.config import FeedConfig, FeedsConfig, FeedSourceConfig
from arena.engine.inputs import FeedResult
from arena.engine.outputs import FetchFeed
from arena.feeds.consensus import CIRCUIT_OPEN, ERROR, OK, RATE_LIMITED, TIMEOUT, Answer
from arena.feeds.service import FeedService
from arena.feeds.sources import (
    DEFAULT_RETRY_AFTER_S, BadData, fill_url, json_path, parse_response, retry_after_s, to_ms, to_value,
)
from feed_http import FeedSources, json_body, refused_url

# --- sans-IO -------------------------------------------------------------------------


def src(name="a", url="http://127.0.0.1:1/x", value_path="data.price", **kw) -> FeedSourceConfig:
    return FeedSourceConfig(name=name, url=url, value_path=value_path, **kw)


def test_url_template_is_filled_from_the_query_and_encoded():
    assert fill_url("http://h/p?s={symbol}&d={day}", (("symbol", "SOL/USD"), ("day", "1"))) == \
        "http://h/p?s=SOL%2FUSD&d=1"
    with pytest.raises(BadData, match="query lacks 'symbol'"):
        fill_url("http://h/{symbol}", ())


def test_json_path_walks_maps_and_lists():
    doc = {"results": [{"numbers": [1, 2]}], "data": {"price": 3}}
    assert json_path(doc, "results.0.numbers") == [1, 2]
    assert json_path(doc, "data.price") == 3
    with pytest.raises(BadData, match="no 'prize' at data"):
        json_path(doc, "data.prize")
    with pytest.raises(BadData, match="no '5' at results"):
        json_path(doc, "results.5")


def test_numbers_become_integers_or_decimal_strings_never_floats():
    assert to_value(Decimal("101.2500005"), 6) == 101_250_000  # half-even at the 6th decimal
    assert to_value("0.5", 6) == 500_000
    assert to_value(Decimal("1.50")) == "1.5" and to_value(Decimal("7.0")) == 7
    assert to_value([1, [2, "x"]]) == (1, (2, "x"))
    with pytest.raises(BadData, match="object"):
        to_value({"a": 1})
    with pytest.raises(BadData, match="not a number"):
        to_value("abc", 2)
    assert to_ms(Decimal("1700000000.5"), "s") == 1_700_000_000_500 and to_ms("5", "ms") == 5


def test_values_that_could_not_be_journaled_or_would_bloat_it_are_refused():
    for raw, decimals in ((2**63, 0), (Decimal("1e30"), 6), (Decimal("1e-999999"), 0), ("x" * 1025, 0),
                          (list(range(1025)), 0), ([[[[[[[[[1]]]]]]]]], 0)):
        with pytest.raises(BadData):
            to_value(raw, decimals)
    assert to_value(2**63 - 1) == 2**63 - 1 and to_value(-(2**63)) == -(2**63)
    with pytest.raises(BadData, match="not a time"):
        to_ms(10**30, "s")


def test_responses_become_answers():
    s = src(time_path="data.ts")
    body = json.dumps({"data": {"price": 1.5, "ts": 1_700_000_000}}).encode()
    a, wait = parse_response(s, 200, {}, body, 42, decimals=2)
    assert a == Answer("a", OK, 150, "", 42, 1_700_000_000_000) and wait is None
    assert parse_response(s, 503, {}, b"", 42)[0].detail == "HTTP 503"
    assert parse_response(s, 200, {}, b"{not json", 42)[0].detail.startswith("malformed JSON")
    assert parse_response(s, 200, {}, b'{"data": {}}', 42)[0].detail == "no 'price' at data"
    assert parse_response(s, 200, {}, b'{"data": {"price": 1, "ts": "soon"}}', 42)[0].detail == \
        "the timestamp is not a number"
    deep = b"[" * 100_000 + b"]" * 100_000
    assert parse_response(s, 200, {}, deep, 42)[0].status == ERROR
    a, wait = parse_response(s, 429, {"retry-after": "7"}, b"", 42)
    assert a.status == RATE_LIMITED and wait == 7.0


def test_retry_after_seconds_or_http_date():
    assert retry_after_s("3", 0) == 3.0
    assert retry_after_s("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == 60.0
    assert retry_after_s(None, 0) == retry_after_s("soon", 0) == DEFAULT_RETRY_AFTER_S


# --- the service against real HTTP servers ------------------------------------------------


def feed(*sources, **kw) -> FeedConfig:
    params = dict(kind="http", consensus="agree", k=2, deadline_ms=3_000, timeout_ms=1_000, retry_ms=100)
    return FeedConfig(**{**params, **kw}, sources=tuple(sources))


async def fetch_one(service: FeedService, eff: FetchFeed) -> FeedResult:
    send, recv = trio.open_memory_channel(10)
    out_send, out_recv = trio.open_memory_channel(10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(service.serve, recv, out_send.send_nowait)
        await send.send(eff)
        result = await out_recv.receive()
        nursery.cancel_scope.cancel()
    return result


def draw_eff(feed_name="draw", **query) -> FetchFeed:
    return FetchFeed(key=f"feed:m1:{feed_name}", mode="testmode", match="m1", feed=feed_name,
                     query=tuple(query.items()) or (("round", "7"),))


def numbers(*ns):
    return lambda path: json_body({"results": [{"numbers": list(ns)}]})


def by_name(result: FeedResult) -> dict[str, Answer]:
    return {a[0]: Answer.from_tuple(a) for a in result.answers}


@pytest.fixture
def sources():
    with FeedSources() as s:
        yield s


def sources_of(sources, **handlers):
    return [src(name, sources.add(name, h) + "?round={round}", "results.0.numbers") for name, h in handlers.items()]


async def test_three_sources_agree(sources):
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(*sources_of(
        sources, a=numbers(4, 8, 15), b=numbers(4, 8, 15), c=numbers(4, 8, 15)))})
    result = await fetch_one(FeedService(cfg), draw_eff())
    assert result.status == "ok" and result.value == (4, 8, 15)
    assert (result.key, result.mode, result.match, result.feed) == ("feed:m1:draw", "testmode", "m1", "draw")
    assert [a[:3] for a in result.answers] == [(n, OK, (4, 8, 15)) for n in "abc"]
    assert sources.paths["a"] == ["/a?round=7"]  # the query filled the URL


async def test_one_source_lying_is_outvoted_and_recorded(sources):
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(*sources_of(
        sources, a=numbers(4, 8, 15), b=numbers(1, 2, 3), c=numbers(4, 8, 15)))})
    result = await fetch_one(FeedService(cfg), draw_eff())
    assert result.status == "ok" and result.value == (4, 8, 15)
    liar = by_name(result)["b"]
    assert liar.status == OK and liar.value == (1, 2, 3) and liar.detail == "disagrees"


async def test_one_source_down(sources):
    down = src("down", refused_url(), "results.0.numbers")
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(*sources_of(sources, a=numbers(1), b=numbers(1)), down)})
    result = await fetch_one(FeedService(cfg), draw_eff())
    assert result.status == "ok" and result.value == (1,)
    assert by_name(result)["down"].status == ERROR
    assert by_name(result)["down"].detail.startswith("connect failed")


async def test_all_down_is_unavailable_by_the_deadline():
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(
        *(src(n, refused_url(), "v") for n in "abc"), deadline_ms=600, failure_threshold=100)})
    service = FeedService(cfg)
    t0 = time.monotonic()
    result = await fetch_one(service, draw_eff())
    # Rounds at 0, 0.1 and 0.3 s; the next (at 0.7 s) would start past the deadline.
    assert 0.3 <= time.monotonic() - t0 < 0.6
    assert result.status == "unavailable" and result.value is None
    assert [a[1] for a in result.answers] == [ERROR] * 3
    assert service.counters["http_requests"] == 9  # three rounds of three within the deadline
    assert service.health()["feeds"]["draw"]["failures"] == 1


async def test_disagreement_until_the_deadline_is_no_consensus(sources):
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(
        *sources_of(sources, a=numbers(1), b=numbers(2), c=numbers(3)), deadline_ms=400)})
    result = await fetch_one(FeedService(cfg), draw_eff())
    assert result.status == "no_consensus" and result.value is None
    assert [a[2] for a in result.answers] == [(1,), (2,), (3,)]


async def test_disagreeing_sources_are_asked_again_and_a_lagging_one_catches_up(sources):
    lagging = iter([numbers(3), numbers(1)])
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(
        *sources_of(sources, a=numbers(1), b=numbers(2), lag=lambda path: next(lagging)(path)))})
    result = await fetch_one(FeedService(cfg), draw_eff())
    assert result.status == "ok" and result.value == (1,)
    assert sources.hits == {"a": 2, "b": 2, "lag": 2}
    assert by_name(result)["b"].detail == "disagrees"


async def test_slow_source_times_out(sources):
    def slow(path):
        time.sleep(1.5)
        return numbers(9)(path)

    cfg = FeedsConfig(kind="http", feeds={"draw": feed(
        *sources_of(sources, a=numbers(9), slow=slow, c=numbers(9)), timeout_ms=200)})
    t0 = time.monotonic()
    result = await fetch_one(FeedService(cfg), draw_eff())
    assert time.monotonic() - t0 < 1.0
    assert result.status == "ok" and result.value == (9,)
    assert by_name(result)["slow"].status == TIMEOUT
    assert by_name(result)["slow"].detail == "no answer within 200 ms"


async def test_malformed_json_and_a_missing_path_are_errors_not_crashes(sources):
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(*sources_of(
        sources, a=numbers(5), bad=lambda p: (200, {}, b"{oops"), empty=lambda p: json_body({"results": []}),
        c=numbers(5)), k=2)})
    result = await fetch_one(FeedService(cfg), draw_eff())
    assert result.status == "ok" and result.value == (5,)
    got = by_name(result)
    assert got["bad"].status == ERROR and got["bad"].detail.startswith("malformed JSON")
    assert got["empty"].status == ERROR and got["empty"].detail == "no '0' at results"


async def test_rate_limited_source_is_not_asked_before_retry_after_then_recovers(sources):
    calls = []

    def limited(path):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return 429, {"Retry-After": "1"}, b""
        return numbers(6)(path)

    cfg = FeedsConfig(kind="http", feeds={"draw": feed(
        *sources_of(sources, a=numbers(6), limited=limited), k=2, retry_ms=50)})
    service = FeedService(cfg)
    result = await fetch_one(service, draw_eff())
    assert result.status == "ok" and result.value == (6,)
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.95  # waited out Retry-After, asked once more
    assert sources.hits["a"] == 1  # a's fresh answer was kept, not asked again
    assert service.health()["sources"]["draw/limited"]["failures"] == 0  # a 429 is not a failure


async def test_median_price_in_micro_units_drops_the_outlier(sources):
    now = int(time.time())

    def price(p):
        return lambda path: json_body({"data": {"price": p, "ts": now}})

    cfg = FeedsConfig(kind="http", feeds={"sol_usd": feed(
        *(src(n, sources.add(n, h) + "?s={symbol}", "data.price", time_path="data.ts")
          for n, h in {"a": price(101.25), "b": price(101.27), "c": price(140.0)}.items()),
        consensus="median", min_sources=2, max_deviation_bps=100, max_age_ms=60_000, decimals=6)})
    result = await fetch_one(FeedService(cfg), FetchFeed("feed::sol", "testmode", "", "sol_usd", (("symbol", "SOL"),)))
    assert result.status == "ok" and result.value == (101_250_000 + 101_270_000) // 2
    assert by_name(result)["c"].detail.startswith("outlier")
    assert by_name(result)["a"].observed_at_ms == now * 1000


async def test_open_source_circuit_skips_the_source(sources):
    broken = lambda path: (500, {}, b"")  # noqa: E731
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(
        *sources_of(sources, a=numbers(2), b=numbers(2), broken=broken), failure_threshold=1)})
    service = FeedService(cfg)
    first = await fetch_one(service, draw_eff())
    assert by_name(first)["broken"].detail == "HTTP 500"
    second = await fetch_one(service, draw_eff())
    assert second.status == "ok"
    assert by_name(second)["broken"].status == CIRCUIT_OPEN
    assert sources.hits["broken"] == 1  # not asked while its circuit is open
    assert service.health()["sources"]["draw/broken"]["state"] == "circuit_open"


async def test_unknown_feed_and_simulated_feeds():
    service = FeedService(FeedsConfig(kind="http"))
    result = await fetch_one(service, draw_eff("nope"))
    assert result.status == "unavailable" and "no feed named 'nope'" in result.answers[0][3]
    service = FeedService(FeedsConfig())  # the default: simulated
    a = await fetch_one(service, draw_eff(round="7"))
    b = await fetch_one(service, draw_eff(round="7"))
    c = await fetch_one(service, draw_eff(round="8"))
    assert a.status == "ok" and a.value == b.value != c.value and len(a.value) == 6
    assert a.answers[0][0] == "simulated:draw" and a.answers[0][3] == "simulated"
    assert service.counters["http_requests"] == 0 and service.counters["simulated"] == 3


async def test_a_huge_body_is_cut_off_and_refused(sources):
    huge = b'{"results": [{"numbers": [' + b"1," * 700_000 + b"1]}]}"
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(
        *sources_of(sources, a=numbers(3), huge=lambda p: (200, {}, huge), c=numbers(3)))})
    result = await fetch_one(FeedService(cfg), draw_eff())
    assert result.status == "ok" and result.value == (3,)
    assert by_name(result)["huge"].detail == "body over 1048576 bytes"


async def test_feed_breakers_initialize_and_health_checks_probe_an_open_source(sources):
    state = {"up": False}

    def flaky(path):
        return numbers(2)(path) if state["up"] else (500, {}, b"")

    cfg = FeedsConfig(kind="http", feeds={"draw": feed(
        *sources_of(sources, a=numbers(2), b=numbers(2), flaky=flaky), failure_threshold=1, health_check_s=1)})
    service = FeedService(cfg)
    assert service.health()["feeds"]["draw"]["state"] == "initializing"  # no HTTP client yet
    send, recv = trio.open_memory_channel(10)
    out_send, out_recv = trio.open_memory_channel(10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(service.serve, recv, out_send.send_nowait)
        await send.send(draw_eff())
        first = await out_recv.receive()
        assert first.status == "ok" and by_name(first)["flaky"].detail == "HTTP 500"
        assert service.health()["feeds"]["draw"]["state"] == "active"
        breaker = service.source_breakers[("draw", "flaky")]
        assert breaker.current() == "circuit_open"
        state["up"] = True
        with trio.fail_after(5):
            while breaker.current() != "recovering":  # the health loop probed it (reset_s is 60 s)
                await trio.sleep(0.05)
        assert service.counters["probes"] >= 1 and sources.paths["flaky"][-1] == "/flaky?round=7"
        await send.send(attrs.evolve(draw_eff(), key="feed:m1:draw:2"))
        second = await out_recv.receive()
        assert by_name(second)["flaky"].status == OK  # asked again while recovering
        assert not breaker.closed  # but not trusted as closed before min_healthy_s
        nursery.cancel_scope.cancel()


async def test_an_open_feed_circuit_answers_unavailable_at_once():
    cfg = FeedsConfig(kind="http", feeds={"draw": feed(
        *(src(n, refused_url(), "v") for n in "ab"), deadline_ms=250, failure_threshold=1)})
    service = FeedService(cfg)
    first = await fetch_one(service, draw_eff())
    assert first.status == "unavailable" and service.health()["feeds"]["draw"]["state"] == "circuit_open"
    asked = service.counters["http_requests"]
    opened_at = service.feed_breakers["draw"].opened_at
    t0 = time.monotonic()
    second = await fetch_one(service, attrs.evolve(draw_eff(), key="feed:m1:draw:2"))
    assert time.monotonic() - t0 < 0.2 and service.counters["http_requests"] == asked
    # A refused fetch is not a failure: the circuit's reset time is not pushed back.
    assert service.feed_breakers["draw"].opened_at == opened_at
    assert service.health()["feeds"]["draw"]["failures"] == 1
    assert second.status == "unavailable"
    assert [(a[0], a[1], a[3]) for a in second.answers] == [
        ("a", CIRCUIT_OPEN, "feed draw circuit open"), ("b", CIRCUIT_OPEN, "feed draw circuit open")]


async def test_a_source_sends_its_api_key_header(sources):
    """A Birdeye-style source that answers only with its `X-API-KEY` (401
    otherwise): with the header configured the feed gets the value."""
    def keyed(path):
        seen = sources.headers["keyed"][-1]
        if seen.get("x-api-key") != "k-123":
            return 401, {"Content-Type": "application/json"}, b'{"success": false, "message": "Unauthorized"}'
        return json_body({"data": {"price": 7}})

    url = sources.add("keyed", keyed)
    with_key = src("keyed", url, headers={"X-API-KEY": "k-123"})
    result = await fetch_one(FeedService(FeedsConfig(kind="http", feeds={"p": feed(with_key, k=1)})), draw_eff("p"))
    assert result.status == OK and result.value == 7
    assert sources.headers["keyed"][-1]["x-api-key"] == "k-123"
    without = src("keyed", url)
    result = await fetch_one(FeedService(FeedsConfig(kind="http", feeds={"p": feed(without, k=1, deadline_ms=300)})),
                             draw_eff("p"))
    assert result.status != OK and "x-api-key" not in sources.headers["keyed"][-1]
    assert by_name(result)["keyed"].detail == "HTTP 401"
