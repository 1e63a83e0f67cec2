"""`python -m arena bot --mode contest` against a real server: the bots join
an operator's contest with random valid portfolios, follow it, and stop
after it has ended."""

from __future__ import annotations

import random
from contextlib import AsyncExitStack

import trio

from arena.bot_contest import random_portfolio, run_contest_bots
from arena.modes.contest import rules
from arena.wallclock import ManualClock
from conftest import wait_until
from test_contest_e2e import END, START, T0, TOKENS, _config, _operator, _server, _terms


def test_random_portfolios_are_valid():
    rng = random.Random(3)
    for _ in range(500):
        size = rng.randint(1, 5)
        pf = random_portfolio(rng, TOKENS, size)
        assert rules.check_portfolio(tuple((p["token"], p["weight_bps"]) for p in pf), TOKENS, size, 1,
                                     10_000) is None


async def test_contest_bots_join_and_finish(nursery, tmp_path):
    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path), clock)
    lines: list[str] = []
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        cid = (await op.request("contest.create", _terms(portfolio_size=3)))["contest"]
        done = trio.Event()
        status = []

        async def bots():
            status.append(await run_contest_bots(url, count=3, contests=1, seed=9, log=lines.append))
            done.set()

        nursery.start_soon(bots)
        contests = srv.state.modes["contest"].contests
        await wait_until(lambda: len(contests[cid].entries) == 3, timeout=15)
        clock.set(START)
        await wait_until(lambda: contests[cid].state == "active", timeout=10)
        clock.set(END)
        with trio.fail_after(15):
            await done.wait()
    assert status == [0]
    assert contests[cid].state == "settled"
    assert sum(" ended: rank " in line for line in lines) == 3
