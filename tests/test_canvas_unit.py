"""The weekly canvas's callbacks over the pure engine, on small canvases:
join, place (every refusal in the protocol's order), the broadcast window,
resets (operator and scheduled), the game-mode draw, the archive record and
the board; and the framework's bytearray encodings the canvas relies on."""

from __future__ import annotations

import zlib

import pytest

from arena.engine import inputs as I
from arena.engine import snapshot
from arena.engine.canonical import encode, state_hash
from arena.engine.registry import registry
from arena.modes.canvas.mode import WINDOW, iso_week
from arena.modes.canvas.settings import GAME_MODES, CanvasConfig
from arena.persistence import codec
from arena.persistence.durable import board_ops, mode_records
from canvas_support import T0, World, bitmap_of, canvas_config, pixels_of


# --- framework: bytearray in the canonical and snapshot encodings -----------------------


def test_a_bytearray_encodes_exactly_as_its_bytes():
    assert encode({"b": bytearray(b"\x00\x01\xff")}) == encode({"b": b"\x00\x01\xff"})
    assert state_hash([bytearray(1000)]) == state_hash([bytes(1000)])
    assert encode(bytearray()) == encode(b"")


def test_a_snapshot_round_trips_a_bytearray_as_a_bytearray():
    w = World()
    w.join("a")
    w.place("a", 1, 2, 3)
    back = codec.load_snapshot(codec.dump_snapshot(w.state))  # through MessagePack, as the store keeps it
    assert type(back.modes["canvas"].pixels) is bytearray
    assert back.modes["canvas"].pixels == w.canvas.pixels
    assert state_hash(back) == state_hash(w.state)
    assert snapshot.from_data(snapshot.to_data(bytearray(b"xy"))) == bytearray(b"xy")
    with pytest.raises(snapshot.SnapshotError):
        snapshot.from_data(["B", "not bytes"])


# --- join ---------------------------------------------------------------------------------


def test_join_begins_the_week_and_answers_the_whole_canvas():
    w = World()
    r = w.join("a")
    assert r.ok
    b = r.body
    year, week = iso_week(T0, "America/New_York")
    assert (b["canvas"], b["year"], b["week"], b["mode"]) == (f"canvas:{year}-{week}", year, week, "classic")
    assert (b["width"], b["height"], b["cooldown_ms"], b["next_place_ms"]) == (8, 6, 1_000, 0)
    assert b["palette"] == list(GAME_MODES["classic"].palette) and len(b["palette"]) == 32
    assert bitmap_of(b) == bytes(48)
    assert b["resets_at_ms"] > T0 and b["resets_at_ms"] - T0 <= 7 * 86_400_000
    assert list(w.canvas.watchers) == ["a"]


def test_join_compresses_once_per_canvas_version():
    w = World()
    first = w.join("a").body["bitmap"]
    assert w.join("b").body["bitmap"] is first  # the cached bytes, not compressed again
    w.place("a", 0, 0, 5)
    third = w.join("c").body["bitmap"]
    assert third is not first and zlib.decompress(third)[0] == 5


def test_join_tells_the_remaining_cooldown():
    w = World()
    w.join("a")
    w.place("a", 0, 0, 1)
    w.advance_ms(400)
    assert w.join("a").body["next_place_ms"] == 600


# --- place --------------------------------------------------------------------------------


def test_place_before_join_is_wrong_state():
    w = World()
    r = w.place("a", 0, 0, 1)
    assert not r.ok and r.body["code"] == "wrong_state"


@pytest.mark.parametrize("x, y, color", [(8, 0, 1), (0, 6, 1), (-1, 0, 1), (0, -1, 1), (0, 0, 32), (0, 0, -1),
                                         (65_536, 0, 0)])
def test_place_outside_the_canvas_or_the_palette_is_bad_request(x, y, color):
    w = World()
    w.join("a")
    r = w.place("a", x, y, color)
    assert not r.ok and r.body["code"] == "bad_request"
    assert w.canvas.pixels == bytearray(48) and "a" not in w.canvas.next_place


def test_bounds_are_checked_before_the_cooldown():
    w = World()
    w.join("a")
    w.place("a", 0, 0, 1)
    assert w.place("a", 99, 0, 1).body["code"] == "bad_request"
    assert w.place("a", 1, 0, 1).body["code"] == "cooldown_active"


def test_cooldown_active_says_when_to_retry_and_ends_on_time():
    w = World()
    w.join("a")
    ok = w.place("a", 2, 3, 7)
    assert ok.ok and ok.body == {"next_place_ms": 1_000}
    assert w.canvas.pixels[3 * 8 + 2] == 7
    w.advance_ms(250)
    r = w.place("a", 1, 1, 1)
    assert not r.ok and r.body["code"] == "cooldown_active" and r.body["retry_after_ms"] == 750
    w.advance_ms(750)
    assert w.place("a", 1, 1, 1).ok


def test_placements_of_a_tick_are_one_event_in_order_for_every_watcher():
    w = World()
    for p in ("a", "b", "c"):
        w.join(p)
    rid = iter(range(1000, 2000))
    from arena.modes.canvas.messages import CanvasPlace

    w.step(*[CanvasPlace(f"s-{p}", next(rid), p, i, i, i + 1) for i, p in enumerate(("a", "b", "c"))])
    [ev] = w.events_of("canvas:pixels")
    assert set(ev.to) == {"a", "b", "c"} and ev.body["canvas"] == w.canvas.canvas
    assert pixels_of(ev.body) == [(0, 0, 1), (1, 1, 2), (2, 2, 3)]
    assert WINDOW not in w.state.matches and not w.canvas.pending  # the window closed


def test_a_broadcast_window_of_several_ticks_batches_them():
    w = World(canvas_config(broadcast_every_ticks=3, cooldown_ms=0))
    w.join("a")
    w.place("a", 0, 0, 1)
    w.place("a", 1, 0, 2)
    assert not w.events_of("canvas:pixels")
    w.place("a", 2, 0, 3)
    [ev] = w.events_of("canvas:pixels")
    assert pixels_of(ev.body) == [(0, 0, 1), (1, 0, 2), (2, 0, 3)]
    w.step()
    w.step()
    assert len(w.events_of("canvas:pixels")) == 1


def test_the_board_counts_each_wallets_placements_once():
    from arena.modes.canvas.messages import CanvasPlace

    w = World(canvas_config(cooldown_ms=0))
    w.join("a")
    w.join("b")
    messages = w.step(CanvasPlace("s", 900, "a", 1, 0, 1), CanvasPlace("s", 901, "b", 2, 0, 1),
                      CanvasPlace("s", 902, "a", 3, 0, 1))
    [tally] = [m for m in messages if getattr(m, "type", "") == "canvas:tally"]
    assert tally.to == () and tally.body["wallets"] == {"a": 2, "b": 1}  # an event for no one
    ops = board_ops(registry.get("canvas").boards, w.state, w.tick, messages, "UTC")
    by_period = sorted((op[2] == "all", op[3], op[4]) for op in ops)
    assert by_period == [(False, "a", 2), (False, "b", 1), (True, "a", 2), (True, "b", 1)]  # the week, and all
    assert not [m for m in w.step() if getattr(m, "type", "") == "canvas:tally"]  # no placements: no tally


# --- resets -----------------------------------------------------------------------------


def test_operator_reset_archives_clears_and_tells_the_watchers():
    w = World(canvas_config(cooldown_ms=60_000))
    w.join("a")
    w.place("a", 4, 4, 9)
    old = (w.canvas.year, w.canvas.week, w.canvas.mode)
    r = w.reset("key:op", "speed")
    assert r.ok and r.body == {"year": w.canvas.year, "week": w.canvas.week, "mode": "speed"}
    assert w.canvas.pixels == bytearray(48) and not w.canvas.next_place and not w.canvas.watchers
    assert w.canvas.cooldown_ms == 60_000 and w.canvas.seq == 2
    reset = w.events_of("week_reset", "a")
    assert reset[-1].body == {"archive": dict(zip(("year", "week", "mode"), old)), "next_mode": "speed"}
    changed = w.events_of("mode_changed", "a")
    assert changed[-1].body == {"mode": "speed", "starts_at_ms": w.now_ms}
    assert w.place("a", 0, 0, 1).body["code"] == "wrong_state"  # join again first
    assert w.join("a").ok and w.place("a", 0, 0, 1).ok  # and the cooldown was reset


def test_the_archive_record_holds_the_compressed_canvas():
    w = World()
    w.join("a")
    w.place("a", 1, 0, 4)
    from arena.modes.canvas.messages import CanvasReset

    messages = w.step(CanvasReset("s", 77, "key:op", ""))
    ops = mode_records(w.state, w.tick, messages, {})
    [rec] = [op[2] for op in ops if op[0] == "mode_op" and op[1] == "canvas" and op[2][0] == "archive"]
    (_, seq, canvas, year, week, mode, width, height, pixels, placers, started, ended, bitmap, winner,
     winner_agent, stats) = rec
    assert (seq, year, mode, pixels, placers, width, height, winner, winner_agent) == (
        1, w.canvas.year, "classic", 1, 1, 8, 6, "a", None)
    raw = zlib.decompress(bitmap)
    assert raw[1] == 4 and len(raw) == 48


def test_reset_to_an_unknown_mode_is_bad_request():
    w = World()
    r = w.reset("key:op", "nope")
    assert not r.ok and r.body["code"] == "bad_request" and w.canvas.seq == 0


def test_the_weekly_rule_resets_once_per_occurrence():
    w = World()
    w.join("a")
    mode = registry.get("canvas")
    rule, _announce = mode.schedules(w.state.config.modes["canvas"], w.canvas)  # (tests/test_canvas_rotation.py)
    assert rule.text() == "weekly SAT 09:00 America/New_York"
    at = w.join("a").body["resets_at_ms"]
    w.step(I.ScheduleFired("canvas", rule.name, at, "on_time"))
    w.step(I.ScheduleFired("canvas", rule.name, at, "on_time"))  # a repeat changes nothing
    assert w.canvas.seq == 2 and len(w.events_of("week_reset", "a")) == 1


def test_the_next_mode_is_drawn_outside_the_recent_weeks():
    w = World()
    w.join("a")
    seen = [w.canvas.mode]
    for _ in range(12):
        w.reset()
        seen.append(w.canvas.mode)
    for i in range(1, len(seen)):
        assert seen[i] not in seen[max(0, i - 4):i], seen  # never one of the last 4 weeks'
    again = World()
    again.join("a")
    for _ in range(12):
        again.reset()
    assert again.canvas.recent == w.canvas.recent  # a function of the seed


def test_with_every_mode_recent_the_fallback_is_classic():
    w = World(canvas_config(recent_weeks=len(GAME_MODES)))
    w.join("a")
    modes = [w.canvas.mode]
    for _ in range(len(GAME_MODES)):
        w.reset()
        modes.append(w.canvas.mode)
    assert modes[-1] == "classic" and sorted(set(modes)) == sorted(GAME_MODES)


def test_a_week_keeps_its_size_when_the_settings_change():
    w = World()
    w.join("a")
    w.step(I.SettingsChanged("canvas", (("width", 3), ("height", 2))))
    assert (w.canvas.width, len(w.canvas.pixels)) == (8, 48)
    w.reset()
    assert (w.canvas.width, w.canvas.height, len(w.canvas.pixels)) == (3, 2, 6)


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", [
    {"default_mode": "nope"}, {"broadcast_every_ticks": 0}, {"reset_rule": "weekly XYZ 09:00 UTC"},
    {"reset_rule": "once 2026-12-24T18:00 UTC"}, {"width": 5000}, {"height": -1}, {"cooldown_ms": -2},
    {"recent_weeks": -1}, {"width": True},
])
def test_bad_settings_are_refused(values):
    with pytest.raises((ValueError, TypeError)):
        CanvasConfig(**values)


def test_every_game_mode_fits_the_wire():
    for slug, gm in GAME_MODES.items():
        assert gm.slug == slug and gm.width <= 65_535 and len(gm.palette) <= 256
    assert {"classic", "speed", "eight", "territory"} <= set(GAME_MODES)
    assert GAME_MODES["classic"].cooldown_ms == 300_000 and len(GAME_MODES["classic"].palette) == 32
    assert GAME_MODES["speed"].cooldown_ms == 30_000 and len(GAME_MODES["eight"].palette) == 8


def test_resets_at_is_the_next_occurrence_of_the_rule():
    from arena.schedule import next_after, parse

    rule = parse("reset", "weekly SAT 09:00 America/New_York")
    w = World()
    first = w.join("a").body["resets_at_ms"]
    assert first == next_after(rule, w.now_ms)
    assert w.join("b").body["resets_at_ms"] == first
    w.advance_ms(first - w.now_ms + 1)
    w.step()
    assert w.join("a").body["resets_at_ms"] == first + 7 * 86_400_000  # no DST change between these two


def test_the_window_is_not_a_match_to_watch_and_a_watcher_away_is_sent_nothing():
    w = World(canvas_config(broadcast_every_ticks=3))
    w.join("a")
    w.place("a", 0, 0, 1)
    assert WINDOW in w.state.matches  # open: its timer sends it
    r = w.request(I.MatchWatch, "b", WINDOW)
    assert not r.ok and r.body["code"] == "not_found"
    mode = registry.get("canvas")
    assert mode.summary(w.state, w.state.matches[WINDOW])["watchers"] == 1
    w.step(I.PlayerDisconnected("a"))
    assert "a" not in w.canvas.watchers and "a" in w.canvas.away  # forgotten by the broadcast
    w.step()
    assert WINDOW not in w.state.matches and not w.events_of("canvas:pixels", "a")
    # Back: a watcher again, told to fetch the canvas (its session missed the window).
    w.step(I.PlayerReconnected("a"))
    assert "a" in w.canvas.watchers and not w.canvas.away
    [snap] = w.events_of("match.snapshot", "a")
    assert snap.body["match"] == WINDOW and snap.body["state"]["parts"] == 1
    assert snap.body["state"]["canvas"] == w.canvas.canvas
