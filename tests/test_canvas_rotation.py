"""The game-mode rotation weighted by popularity, the next mode announced
(`mode_changed`) ahead of the reset, and the territory mode's adjacency
rule: on the pure engine, then the announcement over real sockets with a
manual wall clock crossing the notice and the Saturday reset."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import attrs
import pytest

from arena.engine import canonical
from arena.engine import inputs as I
from arena.engine.registry import registry
from arena.modes.canvas import rotation
from arena.modes.canvas.settings import GAME_MODES, CanvasConfig
from canvas_support import World, canvas_config
from conftest import make_config, player

HOUR = 3_600_000


def test_popularity_weights():
    played = {"classic": [2, 10], "speed": [1, 0]}
    # 1 + mean placers; a mode never played weighs the played ones' mean
    assert rotation.weights(["classic", "speed", "mono"], played) == [6, 1, 3]
    assert rotation.weights(["mono", "eight"], {}) == [1, 1]
    rotation.played_week(played, "speed", 7)
    assert played["speed"] == [2, 7]


def test_the_draw_favours_popular_modes_and_never_a_recent_one():
    modes = list(GAME_MODES)
    played = {"speed": [1, 99], "eight": [1, 0], "mono": [1, 0], "territory": [1, 0]}
    picks = Counter(rotation.draw(seed, 7, modes, ["classic"], 4, played) for seed in range(300))
    assert "classic" not in picks  # recent
    assert picks["speed"] > 250  # weight 100 against 1 + 1 + 1
    assert set(picks) <= {"speed", "eight", "mono", "territory"}
    # seeded: the same inputs draw the same
    assert [rotation.draw(s, 3, modes, [], 4, played) for s in range(20)] == \
        [rotation.draw(s, 3, modes, [], 4, played) for s in range(20)]
    assert rotation.draw(1, 1, modes, modes, len(modes), played) == "classic"  # every mode recent


def test_the_weeks_popularity_is_counted_at_each_reset():
    w = World(canvas_config(cooldown_ms=0))
    w.join("a")
    w.join("b")
    w.place("a", 0, 0, 1)
    w.place("b", 1, 0, 1)
    w.place("a", 2, 0, 1)
    w.reset()
    assert w.canvas.played == {"classic": [1, 2]}  # two distinct placers


def _territory_world() -> World:
    w = World(canvas_config(cooldown_ms=0, width=10, height=10))
    w.join("a")
    w.reset("key:op", "territory")
    w.join("a")
    w.join("b")
    return w


def test_territory_places_only_next_to_your_own_pixels():
    w = _territory_world()
    assert w.canvas.mode == "territory" and GAME_MODES["territory"].adjacent
    assert w.place("a", 5, 5, 1).ok  # the first pixel: anywhere
    before = canonical.state_hash(w.canvas)
    for x, y in ((7, 5), (6, 6), (0, 0)):  # not touching, diagonal, far
        r = w.place("a", x, y, 1)
        assert not r.ok and r.body["code"] == "not_allowed", (x, y)
    assert canonical.state_hash(w.canvas) == before  # refusals change nothing
    assert w.place("a", 6, 5, 2).ok and w.place("a", 7, 5, 2).ok  # a line grows
    assert w.place("a", 5, 5, 3).ok  # over its own pixel again
    assert w.place("b", 8, 5, 4).ok  # b starts anywhere, even next to a's
    assert not w.place("b", 5, 4, 4).ok  # but b may not grow from a's pixels
    assert w.canvas.cells == {"a": {55, 56, 57}, "b": {58}}
    # Edges of the canvas: no wrap-around from one row's end to the next row's start.
    assert w.place("b", 9, 5, 4).ok
    assert not w.place("b", 0, 6, 4).ok


def test_territory_rule_is_only_territorys_and_ends_with_its_week():
    w = World(canvas_config(cooldown_ms=0, width=10, height=10))
    w.join("a")
    assert w.place("a", 0, 0, 1).ok and w.place("a", 9, 9, 1).ok  # classic: anywhere
    assert w.canvas.cells == {}
    w.reset("key:op", "territory")
    w.join("a")
    assert w.place("a", 3, 3, 1).ok and not w.place("a", 0, 0, 1).ok
    w.reset("key:op", "speed")
    w.join("a")
    assert w.canvas.cells == {} and w.place("a", 0, 0, 1).ok


def _announce_rule(w: World):
    mode = registry.get("canvas")
    rules = mode.schedules(w.state.config.modes["canvas"], w.canvas)
    return {r.name.split("-")[0]: r for r in rules}


def test_the_next_mode_is_announced_ahead_and_played_at_the_reset():
    w = World()
    w.join("a")
    rules = _announce_rule(w)
    reset_at = w.join("a").body["resets_at_ms"]
    announce = rules["announce"]
    assert announce.name == "announce-1" and announce.kind == "once"
    assert announce.instant_ms == reset_at - HOUR  # the week began days before its reset
    w.step(I.ScheduleFired("canvas", announce.name, announce.instant_ms, "on_time"))
    [changed] = w.events_of("mode_changed", "a")
    nxt = w.canvas.next_mode
    assert changed.body == {"mode": nxt, "starts_at_ms": reset_at} and nxt != "classic"
    assert w.join("a").body["next_mode"] == nxt
    w.step(I.ScheduleFired("canvas", announce.name, announce.instant_ms, "on_time"))  # a repeat: nothing
    assert len(w.events_of("mode_changed", "a")) == 1 and w.canvas.next_mode == nxt
    assert set(_announce_rule(w)) == {"reset"}  # announced: the rule is gone
    w.step(I.ScheduleFired("canvas", rules["reset"].name, reset_at, "on_time"))
    assert w.canvas.mode == nxt and w.canvas.next_mode == ""
    [_, at_reset] = w.events_of("mode_changed", "a")
    assert at_reset.body["mode"] == nxt
    assert w.join("a").body["next_mode"] is None
    assert _announce_rule(w)["announce"].name == "announce-2"


def test_an_operator_reset_may_name_another_mode_than_the_announced_one():
    w = World()
    w.join("a")
    announce = _announce_rule(w)["announce"]
    w.step(I.ScheduleFired("canvas", announce.name, announce.instant_ms, "on_time"))
    other = next(m for m in GAME_MODES if m not in (w.canvas.next_mode, "classic"))
    assert w.reset("key:op", other).ok and w.canvas.mode == other
    w2 = World()
    w2.join("a")
    w2.step(I.ScheduleFired("canvas", announce.name, announce.instant_ms, "on_time"))
    told = w2.canvas.next_mode
    assert w2.reset().ok and w2.canvas.mode == told  # without a mode: the announced one


def test_no_notice_announces_nothing_ahead():
    w = World(canvas_config(mode_notice_ms=0))
    w.join("a")
    assert set(_announce_rule(w)) == {"reset"}


@pytest.mark.parametrize("bad", [-1, True, "1h"])
def test_mode_notice_must_be_milliseconds(bad):
    with pytest.raises((ValueError, TypeError)):
        CanvasConfig(mode_notice_ms=bad)


async def test_watchers_hear_the_next_mode_an_hour_ahead_over_sockets(nursery, tmp_path):
    from arena.server import ArenaServer
    from arena.wallclock import ManualClock

    sat = int(dt.datetime(2026, 11, 7, 14, tzinfo=dt.timezone.utc).timestamp()) * 1000  # 09:00 EST
    clock = ManualClock(sat - 2 * HOUR)
    cfg = make_config(tmp_path)
    cfg = attrs.evolve(cfg, engine=cfg.engine.with_mode("canvas", CanvasConfig(width=8, height=8)),
                       schedule=attrs.evolve(cfg.schedule, poll_ms=20))
    server = ArenaServer(cfg, clock=clock)
    port = await nursery.start(server.run)
    async with player(f"ws://127.0.0.1:{port}/v1", faucet=False) as w:
        first = await w.request("canvas.join")
        assert first["next_mode"] is None and first["resets_at_ms"] == sat
        clock.set(sat - HOUR + 100)
        _, told = await w.next_event("mode_changed", timeout=10)
        assert told["starts_at_ms"] == sat and told["mode"] != "classic"
        clock.set(sat + 100)
        _, reset = await w.next_event("week_reset", timeout=10)
        assert reset["next_mode"] == told["mode"]
        _, again = await w.next_event("mode_changed", timeout=10)
        assert again["mode"] == told["mode"]
        assert (await w.request("canvas.join"))["mode"] == told["mode"]
