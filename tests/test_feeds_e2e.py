"""Data feeds end to end, on a real server with a test mode (tests/feedprobe_mode.py):
the mode's `FetchFeed` is fetched from real HTTP sources on 127.0.0.1, the
`FeedResult` reaches the match (and a mode-level one the mode), is journaled
with every answer, replays to the same state hash without any HTTP call, and
an un-done fetch is dispatched again after a restart."""

from __future__ import annotations

import attrs
import pytest
import trio

from arena.config import FeedConfig, FeedsConfig, FeedSourceConfig
from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.persistence import codec
from arena.persistence.durable import replay
from arena.persistence.memory import MemoryStore
from conftest import make_config, player, registered_mode, wait_until
from feed_http import FeedSources, json_body
from test_persistence_recovery import start  # a server in its own cancel scope (to crash it)


@pytest.fixture
def feedprobe():
    with registered_mode("feedprobe_mode") as module:
        yield module


@pytest.fixture
def sources():
    with FeedSources() as s:
        yield s


def draw_feed(sources, deadline_ms=5_000) -> FeedsConfig:
    """"draw" from three real HTTP sources (2-of-3); "price" stays the simulated default."""
    srcs = tuple(FeedSourceConfig(name=n, url=sources.url(n, "?round={round}"), value_path="numbers")
                 for n in ("a", "b", "c"))
    return FeedsConfig(kind="simulated", feeds={"draw": FeedConfig(
        kind="http", consensus="agree", k=2, deadline_ms=deadline_ms, timeout_ms=1_000, retry_ms=200,
        sources=srcs)})


def journaled_results(journal) -> list:
    return [x for _, blob in journal for x in codec.decode_inputs(blob) if isinstance(x, I.FeedResult)]


async def test_feed_result_reaches_the_mode_is_journaled_and_replays_without_fetching(
        nursery, tmp_path, feedprobe, sources):
    for n, value in (("a", [7, 11, 42]), ("b", [7, 11, 42]), ("c", [1, 2, 3])):  # c lies
        sources.add(n, lambda path, v=value: json_body({"numbers": v}))
    store = MemoryStore()
    srv, scope, url = await start(nursery, make_config(tmp_path, feeds=draw_feed(sources)), store)
    async with player(url, faucet=False) as c:
        reply = await c.request("feedprobe.ask", {"round": "9"})
        match = reply["match"]
        _, ev = await c.next_event("feedprobe:result", match=match)
    assert ev == {"match": match, "status": "ok", "value": [7, 11, 42]}
    shared = srv.state.modes["feedprobe"]
    await wait_until(lambda: feedprobe.price_key("9") in shared.results)
    status, price, n_answers = shared.results[feedprobe.price_key("9")]
    assert status == "ok" and isinstance(price, int) and n_answers == 1  # the simulated price, mode level
    assert srv.state.matches[match].result == ["ok", (7, 11, 42), 3]
    assert sources.paths["a"] == ["/a?round=9"]
    health = srv.health()["side_tasks"]["feed"]
    assert health["ok"] == 2 and health["simulated"] == 1 and health["supervisor"]["state"] == "active"

    # Journaled with every answer, and the outbox entries done.
    await wait_until(lambda: srv.persistence.durability.durable_tick >= srv.state.tick)
    hash_live, tick_live = state_hash(srv.state), srv.state.tick
    scope.cancel()
    rec = await store.load_recovery()
    results = {r.key: r for r in journaled_results(rec.journal)}
    draw = results[feedprobe.draw_key(match)]
    assert (draw.status, draw.value, draw.mode, draw.match, draw.feed) == ("ok", (7, 11, 42), "feedprobe", match, "draw")
    assert [(a[0], a[1], a[2], a[3]) for a in draw.answers] == [
        ("a", "ok", (7, 11, 42), ""), ("b", "ok", (7, 11, 42), ""), ("c", "ok", (1, 2, 3), "disagrees")]
    price_result = results[feedprobe.price_key("9")]
    assert price_result.answers[0][0] == "simulated:price" and price_result.answers[0][3] == "simulated"
    assert not [k for k, *_ in rec.outbox if k in results]  # both fetches marked done

    # Replay: the same state from the journal alone; no source is asked.
    hits = dict(sources.hits)
    assert rec.snapshot_tick <= tick_live
    state = codec.load_snapshot(rec.snapshot)
    replay(state, [row for row in rec.journal if row[0] <= tick_live], tick_live)
    assert state_hash(state) == hash_live
    assert state.matches[match].result == ["ok", (7, 11, 42), 3]
    assert sources.hits == hits


async def test_a_fetch_not_answered_before_a_restart_is_dispatched_again(nursery, tmp_path, feedprobe, sources):
    for n in "abc":
        sources.add(n, lambda path: (503, {}, b"down for now"))
    store = MemoryStore()
    cfg = make_config(tmp_path, feeds=draw_feed(sources, deadline_ms=60_000))
    srv, scope, url = await start(nursery, cfg, store)
    async with player(url, faucet=False) as c:
        match = (await c.request("feedprobe.ask", {"round": "3"}))["match"]
        await wait_until(lambda: sources.hits.get("a", 0) >= 1)
        await wait_until(lambda: feedprobe.price_key("3") in srv.state.modes["feedprobe"].results)
        await wait_until(lambda: srv.persistence.durability.durable_tick >= srv.state.tick)
        assert srv.state.matches[match].result == []
    scope.cancel()
    await trio.sleep(0.05)
    rec = await store.load_recovery()
    assert [k for k, *_ in rec.outbox] == [feedprobe.draw_key(match)]  # the price came (simulated); the draw did not

    for n in "abc":
        sources.add(n, lambda path: json_body({"numbers": [5, 6]}))
    srv2, scope2, url2 = await start(nursery, cfg, store)
    assert srv2.persistence.durability.recovered["redispatched"] == 1
    await wait_until(lambda: srv2.state.matches[match].result != [])
    assert srv2.state.matches[match].result == ["ok", (5, 6), 3]
    await wait_until(lambda: srv2.persistence.durability.durable_tick >= srv2.state.tick)
    scope2.cancel()
    rec = await store.load_recovery()
    assert rec.outbox == [] or all(k != feedprobe.draw_key(match) for k, *_ in rec.outbox)
    assert len([r for r in journaled_results(rec.journal) if r.key == feedprobe.draw_key(match)]) == 1


async def test_a_result_for_a_match_that_is_gone_goes_to_orphan_input(feedprobe):
    from arena.engine import core
    from arena.engine.config import EngineConfig

    state = core.new_state(EngineConfig(seed=3))
    late = I.FeedResult("feed:gone:draw", "feedprobe", "fp-gone", "draw", "ok", (1,), ())
    core.step(state, 1, [late])
    assert state.modes["feedprobe"].orphans == 1
    # A mode-level result for a mode that is not registered changes nothing.
    core.step(state, 2, [attrs.evolve(late, mode="nomode", match="")])
    assert state.tick == 2 and state.modes["feedprobe"].orphans == 1 and state.modes["feedprobe"].results == {}
    # A mode-level one for the mode reaches its `route`.
    core.step(state, 3, [attrs.evolve(late, match="")])
    assert state.modes["feedprobe"].results == {"feed:gone:draw": ["ok", (1,), 0]}
