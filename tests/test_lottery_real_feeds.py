"""A lottery round decided by the real publishers' formats over real sockets:
the draw feed is 2-of-3 over a NY Open Data (SODA JSON) source, a Texas
Lottery (CSV) source and a lying JSON mirror, all local HTTP servers on
127.0.0.1; the round waits while the draw is unpublished, then the two
honest sources outvote the liar and the winner is paid (embedded ledger)."""

from __future__ import annotations

from contextlib import AsyncExitStack

import attrs

from arena.config import FeedsConfig, FeedSourceConfig
from arena.wallclock import ManualClock
from conftest import wait_until
from draw_publishers import Publishers, json_mirror, soda_url, texas_url
from feed_http import FeedSources
from test_feeds_http import feed
from test_lottery_e2e import DRAW, T0, _config, _server, bet, create, operator_and_two


async def test_a_round_decided_by_two_real_formats_outvoting_a_liar(nursery, tmp_path):
    pubs = Publishers()
    lies: dict = {}
    with FeedSources() as sources:
        sources.add("ny", pubs.soda())
        sources.add("tx", pubs.texas())
        mirror = sources.add("mirror", json_mirror(lies)) + "?game={game}&part={part}&draw_time_ms={draw_time_ms}"
        draw_feed = feed(FeedSourceConfig(name="ny", url=soda_url(sources, "ny"), format="ny_soda"),
                         FeedSourceConfig(name="tx", url=texas_url(sources, "tx"), format="texas_csv"),
                         FeedSourceConfig(name="mirror", url=mirror, value_path="value"), deadline_ms=1_000)
        cfg = _config(tmp_path, result_retry_ms=1_000)
        cfg = attrs.evolve(cfg, feeds=FeedsConfig(kind="http", feeds={"draw": draw_feed}))
        clock = ManualClock(T0)
        srv, url = await _server(nursery, cfg, clock)
        async with AsyncExitStack() as stack:
            op, alice, bob = await operator_and_two(srv, url, stack)
            start = {c: await c.balance() for c in (alice, bob)}
            rid = await create(op, kind="bonus_over", threshold=13)
            await bet(alice, rid, "yes", 100)
            await bet(bob, rid, "no", 100)
            rounds = srv.state.modes["lottery"].rounds
            await wait_until(lambda: rounds[rid].matched == 100)
            clock.set(DRAW + 1_000)  # locked, then asked: nothing published yet
            await wait_until(lambda: rounds[rid].attempt >= 1, timeout=10)
            await wait_until(lambda: rounds[rid].attempt >= 2 or not rounds[rid].fetching, timeout=10)
            assert rounds[rid].state == "awaiting_result" and rounds[rid].result is None
            pubs.publish("powerball", DRAW, (64, 19, 11, 35, 27), 20)  # yes: 20 > 13
            lies.update({k: ((1, 2, 3, 4, 5), 2) for k in pubs.draws})  # the mirror says no
            clock.set(DRAW + 10_000)
            _, fin = await alice.next_event("lottery:round_finalized", timeout=15)
            assert fin["result"] == {"game": "powerball", "whites": [11, 19, 27, 35, 64], "bonus": 20}
            assert fin["outcome"] == "yes"
            by_source = {(s["part"], s["source"]): s for s in fin["sources"]}
            assert by_source[("bonus", "mirror")]["detail"] == "disagrees"
            assert by_source[("bonus", "ny")]["value"] == 20 and by_source[("white", "tx")]["status"] == "ok"
            await wait_until(lambda: not srv.state.unsettled, timeout=10)
            assert await srv.ledger.account_balance(f"escrow:{rid}") == 0
            assert await alice.balance() == start[alice] + 100 - 2
            assert await bob.balance() == start[bob] - 100
