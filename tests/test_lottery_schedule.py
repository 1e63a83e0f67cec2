"""Rounds the schedule opens by itself ([lottery.draws]): for each game's
draw rule (Powerball MON,WED,SAT 22:59, Mega Millions TUE,FRI 23:00, New
York time), one round per configured proposition for the next draw, opened
as soon as the rule is first seen and again at every draw for the draw
after it; exactly once per draw across repeats, outages and replay. The
draw instants come from the scheduler (`ScheduleFired.next_ms`), so the
engine never asks a zone database. Then over real sockets with a manual
clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from arena.config import ConfigError, load_config
from arena.feeds.draw_formats import DRAW_ZONE
from arena.modes.lottery.settings import LotteryConfig, parse_propositions
from arena.wallclock import ManualClock
from conftest import player, wait_until
from lottery_harness import Engine
from test_lottery_e2e import _config, _server, bet

PB_RULE = "weekly MON,WED,SAT 22:59 America/New_York"
MM_RULE = "weekly TUE,FRI 23:00 America/New_York"
DRAWS = {"powerball": PB_RULE, "megamillions": MM_RULE}


def ny(*args) -> int:
    return int(datetime(*args, tzinfo=DRAW_ZONE).timestamp() * 1000)


# Monday 2027-03-08, noon in New York (the Sunday before, DST began).
MONDAY_NOON = ny(2027, 3, 8, 12, 0)


def scheduled(e: Engine) -> list:
    return sorted(((r.game, r.draw_time_ms, r.kind, r.threshold) for r in e.shared().rounds.values()
                   if r.creator == "schedule"))


def test_settings_check_draw_rules_and_propositions():
    assert parse_propositions("bonus_parity, bonus_over:13,white_sum_over:175") == (
        ("bonus_parity", -1), ("bonus_over", 13), ("white_sum_over", 175))
    LotteryConfig(draws=DRAWS, round_propositions="bonus_over:12")
    for bad in ({"lotto": PB_RULE}, {"powerball": "weekly XYZ 22:59 UTC"},
                {"powerball": "once 2027-01-01T10:00 UTC"}, {"powerball": 5}):
        with pytest.raises(ValueError):
            LotteryConfig(draws=bad)
    for bad in ("", "coin_toss", "bonus_over:25", "bonus_over:x", "bonus_parity:3", "bonus_parity,bonus_parity",
                "white_sum_over:336"):  # 25: no Mega Ball is above it; 336 is beyond Powerball's sums
        with pytest.raises(ValueError):
            LotteryConfig(round_propositions=bad)


def test_draws_are_read_from_their_config_table(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text(f'[lottery]\nround_propositions = "bonus_parity,bonus_over:12"\n'
                 f'[lottery.draws]\npowerball = "{PB_RULE}"\nmegamillions = "{MM_RULE}"\n')
    cfg = load_config(p, env={}).engine.modes["lottery"]
    assert cfg.draws == DRAWS and cfg.round_propositions == "bonus_parity,bonus_over:12"
    p.write_text('[lottery.draws]\npowerball = "weekly MON 25:00 UTC"\nmegamillions = ""\n')
    with pytest.raises(ConfigError) as err:
        load_config(p, env={})
    assert "draws" in str(err.value)


def test_the_next_draw_s_rounds_open_at_once_then_at_every_draw_exactly_once():
    e = Engine(now=MONDAY_NOON, draws=DRAWS, round_propositions="bonus_parity,bonus_over:12")
    e.step()
    mon, tue = ny(2027, 3, 8, 22, 59), ny(2027, 3, 9, 23, 0)
    assert scheduled(e) == sorted([("powerball", mon, "bonus_parity", -1), ("powerball", mon, "bonus_over", 12),
                                   ("megamillions", tue, "bonus_parity", -1),
                                   ("megamillions", tue, "bonus_over", 12)])
    assert all(r.state == "open" and r.lock_time_ms == r.draw_time_ms - 300_000 for r in e.shared().rounds.values())
    e.advance(3_600_000)
    assert len(scheduled(e)) == 4  # nothing new before a draw
    e.at(mon)  # Monday's draw: Wednesday's rounds open (Monday's locked 5 minutes ago)
    wed = ny(2027, 3, 10, 22, 59)
    assert [x for x in scheduled(e) if x[1] == wed] == [("powerball", wed, "bonus_over", 12),
                                                        ("powerball", wed, "bonus_parity", -1)]
    mon_rounds = [r for r in e.shared().rounds.values() if r.draw_time_ms == mon]
    assert {r.state for r in mon_rounds} == {"locked"}
    e.advance(60_000)
    assert len(scheduled(e)) == 6
    assert e.replayed_hash() == e.hash()


def test_after_an_outage_only_the_draw_after_now_opens_not_every_missed_one():
    e = Engine(now=MONDAY_NOON, draws={"powerball": PB_RULE, "megamillions": ""})
    e.step()
    assert len(scheduled(e)) == 1
    e.at(ny(2027, 3, 20, 9, 0))  # down from Monday to the next Saturday morning: 4 draws missed
    draws = [x[1] for x in scheduled(e)]
    assert draws == [ny(2027, 3, 8, 22, 59), ny(2027, 3, 20, 22, 59)]
    assert e.replayed_hash() == e.hash()


def test_armed_too_close_to_a_draw_opens_the_one_after_at_that_draw():
    e = Engine(now=ny(2027, 3, 8, 22, 57), draws={"powerball": PB_RULE, "megamillions": ""})  # inside Monday's lock lead
    e.step()
    assert scheduled(e) == []
    e.at(ny(2027, 3, 8, 22, 59))
    assert [x[1] for x in scheduled(e)] == [ny(2027, 3, 10, 22, 59)]


def test_a_game_taken_out_of_the_draws_opens_nothing_more():
    e = Engine(now=MONDAY_NOON, draws={"powerball": PB_RULE, "megamillions": ""})
    e.step()
    mode = __import__("arena.engine.core", fromlist=["MODES"]).MODES["lottery"]
    assert [r.name for r in mode.schedules(LotteryConfig(), e.shared())] == [
        f"lock-{rid}" for rid in e.shared().rounds]


async def test_scheduled_rounds_over_real_sockets_with_a_manual_clock(nursery, tmp_path):
    clock = ManualClock(MONDAY_NOON)
    cfg = _config(tmp_path, draws={"powerball": PB_RULE, "megamillions": ""}, lock_lead_ms=300_000)
    srv, url = await _server(nursery, cfg, clock)
    rounds = srv.state.modes["lottery"].rounds
    await wait_until(lambda: len(rounds) == 1, timeout=10)
    async with player(url, faucet=False) as watcher, player(url) as alice, player(url) as bob:
        listed = await watcher.list_matches("lottery")
        assert [m["phase"] for m in listed] == ["open"]
        rid = listed[0]["match"]
        info = await watcher.request("lottery.round", {"round": rid})
        assert info["draw_time_ms"] == ny(2027, 3, 8, 22, 59) and info["state"] == "open"
        await bet(alice, rid, "yes", 50)
        await bet(bob, rid, "no", 50)
        await wait_until(lambda: rounds[rid].matched == 50)
        clock.set(ny(2027, 3, 8, 22, 59))  # Monday's draw: Wednesday's round opens
        await wait_until(lambda: len(rounds) == 2, timeout=10)
        nxt = next(r for r in rounds.values() if r.id != rid)
        assert nxt.draw_time_ms == ny(2027, 3, 10, 22, 59) and nxt.state == "open"
        await wait_until(lambda: rounds[rid].state in ("finalized", "settled"), timeout=10)


def test_the_scheduler_gives_each_fire_its_rule_s_next_occurrence():
    from arena.scheduler import Scheduler

    e = Engine(now=MONDAY_NOON, draws={"powerball": PB_RULE, "megamillions": ""})
    fed = Scheduler(lambda: e.state, lambda inp: True, lambda: MONDAY_NOON).poll()
    [armed] = [f for f in fed if f.rule == "draws-powerball"]
    assert (armed.kind, armed.at_ms, armed.next_ms) == ("armed", MONDAY_NOON, ny(2027, 3, 8, 22, 59))
    mon = ny(2027, 3, 8, 22, 59)
    e.step(armed)
    fed = Scheduler(lambda: e.state, lambda inp: True, lambda: mon + 1_000).poll()
    [fire] = [f for f in fed if f.rule == "draws-powerball"]
    assert (fire.kind, fire.at_ms, fire.next_ms) == ("on_time", mon, ny(2027, 3, 10, 22, 59))
    locks = [f for f in fed if f.rule.startswith("lock-")]
    assert locks and all(f.next_ms == -1 for f in locks)  # one-off rules have no next occurrence
