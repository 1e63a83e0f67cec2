"""`python -m arena bot --mode meme` against a live server: with an operator
key its studio uploads, its bots deposit, watch, trade, and see rounds end
with their pool paid out."""

from __future__ import annotations

import attrs

from arena.bot_meme import run_meme_bots
from arena.modes.meme.settings import MemeConfig
from conftest import make_config


async def test_meme_bots_watch_trade_and_see_rounds_pay(nursery, tmp_path):
    from arena.server import ArenaServer

    base = make_config(tmp_path)
    settings = MemeConfig(simulated_block_ms=1_500, blocks_per_round=3, block_poll_ms=250, settle_every_s=5)
    srv = ArenaServer(attrs.evolve(base, engine=base.engine.with_mode("meme", settings)))
    port = await nursery.start(srv.run)
    key = await srv.credentials.create("studio", "operator")
    lines: list[str] = []
    status = await run_meme_bots(f"ws://127.0.0.1:{port}/v1", 3, 2, 5, key, lines.append)
    assert status == 0, lines
    sh = srv.state.modes["meme"]
    assert any("studio uploaded" in line for line in lines)
    assert sh.charged > 0 and sh.round_no >= 2
    assert any(line.startswith("round ") and "rewards none" not in line for line in lines), lines
