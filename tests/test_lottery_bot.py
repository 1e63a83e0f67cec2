"""`python -m arena bot --mode lottery` against a real server: with an
operator key the bot creates the rounds (learning the server's lock lead),
its bettors take both sides, and each round locks, is drawn and pays; the
command's parser takes the lottery's options."""

from __future__ import annotations

import argparse

import trio

from arena import bot
from arena.bot_lottery import run_lottery_bots
from test_lottery_e2e import _config, _server


async def test_lottery_bots_play_rounds_to_payout(nursery, tmp_path):
    srv, url = await _server(nursery, _config(tmp_path, lock_lead_ms=1_000, result_delay_ms=0), None)
    key = await srv.credentials.create("bot-host", "operator")
    lines: list[str] = []
    with trio.fail_after(60):
        status = await run_lottery_bots(url, count=3, rounds=2, seed=5, log=lines.append, key=key,
                                        draw_in_s=1.5, stall_timeout=30)
    assert status == 0, "\n".join(lines)
    shared = srv.state.modes["lottery"]
    assert len(shared.rounds) >= 2 and shared.volume > 0
    finished = [r for r in shared.rounds.values() if r.state in ("settled", "void")]
    assert len(finished) >= 2 and any(r.matched for r in finished)
    assert shared.paid > 0
    assert any("drawn" in line for line in lines) and any("locked" in line for line in lines)


def test_the_bot_command_takes_the_lottery_options():
    p = argparse.ArgumentParser()
    bot.add_arguments(p)
    args = p.parse_args(["--mode", "lottery", "--count", "4", "--rounds", "3", "--key", "k", "--draw-in", "20"])
    assert (args.mode, args.count, args.rounds, args.key, args.draw_in) == ("lottery", 4, 3, "k", 20.0)
    bad = p.parse_args(["--mode", "lottery", "--rounds", "-1"])
    assert bot.main_from_args(bad) == 2
