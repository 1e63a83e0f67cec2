"""The read requests' rules as pure functions: periods and week keys, limits,
usernames, cursors, board pages, avatars, board points from events, and the
default match summary."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from attrs import define, field
from PIL import Image

from arena.engine.errors import ArenaError
from arena.engine.mode import Board, Mode
from arena.engine.outputs import Event
from arena.engine.periods import period_key, period_keys, week_key
from arena.net import reads
from arena.persistence.durable import board_ops
from arena.persistence.reads import page_start


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(timezone.utc).timestamp() * 1000)


def test_weeks_start_monday_midnight_in_the_zone():
    # 2026-11-30 is a Monday.
    assert week_key(ms("2026-11-30T00:00:00+00:00")) == "week:2026-11-30"
    assert week_key(ms("2026-12-06T23:59:59+00:00")) == "week:2026-11-30"
    assert week_key(ms("2026-12-07T00:00:00+00:00")) == "week:2026-12-07"  # the board resets
    assert week_key(ms("2026-11-29T23:59:59+00:00")) == "week:2026-11-23"
    # Sunday 20:00 UTC is already Monday in Auckland, still Sunday in New York.
    sunday = ms("2026-12-06T20:00:00+00:00")
    assert week_key(sunday, "Pacific/Auckland") == "week:2026-12-07"
    assert week_key(sunday, "America/New_York") == "week:2026-11-30"
    assert period_key("all", sunday) == "all"
    assert period_keys(sunday) == ("all", "week:2026-11-30")
    with pytest.raises(ValueError):
        period_key("month", sunday)


def test_the_zone_is_checked_by_the_config():
    from arena.config import ConfigError, _build

    assert _build({"leaderboards": {"week_zone": "Asia/Tokyo"}}, "t", {}).leaderboards.week_zone == "Asia/Tokyo"
    for bad in ("Mars/Olympus", "", "../etc/passwd", 5):
        with pytest.raises(ConfigError, match="week_zone"):
            _build({"leaderboards": {"week_zone": bad}}, "t", {})
    with pytest.raises(ConfigError, match="max_avatar_bytes"):
        _build({"profiles": {"max_avatar_bytes": 2_000_000}}, "t", {})  # above [net] max_frame_bytes


@pytest.mark.parametrize("limit,ok", [(None, 10), (1, 1), (100, 100), (0, None), (101, None), (-5, None)])
def test_limits(limit, ok):
    body = {} if limit is None else {"limit": limit}
    if ok is None:
        with pytest.raises(ArenaError) as e:
            reads.limit_of(body)
        assert e.value.code == "bad_request"
    else:
        assert reads.limit_of(body) == ok


@pytest.mark.parametrize("name", ["abc", "A_b-9", "x" * 20, "___", "-1-"])
def test_usernames_accepted(name):
    assert reads.check_username(name) == name


@pytest.mark.parametrize("name", ["ab", "x" * 21, "a b", "émile", "ab\n", "a.b", "", "ＡＢＣ", "abc\u200b"])
def test_usernames_refused(name):
    with pytest.raises(ArenaError) as e:
        reads.check_username(name)
    assert e.value.code == "bad_request"


def test_cursors_round_trip_and_junk_is_refused():
    assert reads.parse_cursor(reads.cursor_of(42, "ro-a.b")) == (42, "ro-a.b")
    for junk in ("", "42", ".m", "x.m", "-1.m", "9" * 19 + ".m", "42."):
        with pytest.raises(ArenaError):
            reads.parse_cursor(junk)


@pytest.mark.parametrize("pos,total,limit,start", [
    (1, 10, 3, 0), (5, 10, 3, 3), (10, 10, 3, 7), (2, 2, 10, 0), (6, 10, 4, 3), (1, 1, 1, 0)])
def test_page_around_a_position(pos, total, limit, start):
    assert page_start(pos, total, limit) == start
    assert start < pos <= start + limit  # the wallet is on its page


def image(fmt, w=8, h=8, mode="RGB"):
    out = io.BytesIO()
    Image.new(mode, (w, h)).save(out, format=fmt)
    return out.getvalue()


LIMITS = reads.AvatarLimits(max_bytes=100_000, max_pixels=64)


@pytest.mark.parametrize("fmt,mode", [("PNG", "RGBA"), ("PNG", "P"), ("JPEG", "RGB"), ("WEBP", "RGB"),
                                      ("GIF", "P"), ("PNG", "L")])
def test_avatars_are_re_encoded_as_png(fmt, mode):
    data = image(fmt, 64, 10, mode)
    out = reads.check_avatar(data + b"trailing junk" if fmt == "PNG" else data, LIMITS)
    im = Image.open(io.BytesIO(out))
    assert im.format == "PNG" and im.size == (64, 10)
    assert b"trailing junk" not in out


@pytest.mark.parametrize("data,why", [
    (image("BMP"), "PNG, JPEG, WebP or GIF"),
    (image("PNG", 65, 1), "65x1 pixels"),
    (image("PNG", 1, 65), "1x65 pixels"),
    (b"\x00" * 100, "PNG, JPEG, WebP or GIF"),
    (b"x" * 100_001, "larger than 100000 bytes"),
    (image("PNG", 20, 20)[:-30], "damaged"),
])
def test_avatars_refused(data, why):
    with pytest.raises(ArenaError, match=why) as e:
        reads.check_avatar(data, LIMITS)
    assert e.value.code == "bad_request"


@define
class _State:
    matches: dict = field(factory=dict)
    tick: int = 100
    clock: list | None = None
    config: object = None


@define
class _Cfg:
    tick_hz: int = 20


def test_board_points_from_events_for_every_period():
    boards = {"t.wins": Board(frozenset({"won"}), lambda e: [(e.body["who"], 1)] if e.body["who"] else []),
              "t.any": Board(frozenset({"won", "lost"}), lambda e: [(e.body["who"] or "x", 2), ("x", 1)])}
    state = _State(clock=[0, ms("2026-12-02T12:00:00+00:00")], config=_Cfg())
    msgs = [Event(("a",), "won", {"who": "a"}), Event(("a",), "other", {}), Event(("b",), "lost", {"who": None})]
    ops = board_ops(boards, state, 0, msgs, "UTC")
    assert ops == [
        ("board_add", "t.wins", "all", "a", 1, "0:0"), ("board_add", "t.wins", "week:2026-11-30", "a", 1, "0:0"),
        ("board_add", "t.any", "all", "a", 2, "0:0"), ("board_add", "t.any", "week:2026-11-30", "a", 2, "0:0"),
        ("board_add", "t.any", "all", "x", 1, "0:0"), ("board_add", "t.any", "week:2026-11-30", "x", 1, "0:0"),
        ("board_add", "t.any", "all", "x", 3, "0:2"), ("board_add", "t.any", "week:2026-11-30", "x", 3, "0:2"),
    ]
    assert board_ops({"t.wins": boards["t.wins"]}, state, 0, [Event(("a",), "won", {"who": None})], "UTC") == []


@define
class _Match:
    phase: str
    players: list
    created_tick: int
    mode: str = "t"
    watchers: dict = field(factory=dict)


def test_the_default_summary_and_match_list(monkeypatch):
    state = _State(clock=[0, 1_000_000], config=_Cfg(), matches={
        "m1": _Match("play", ["a", "b"], 20, watchers={"w": None}),
        "m2": _Match("wait", ["c"], 40),
        "o1": _Match("play", ["d"], 60, mode="other"),
    })
    mode = Mode()
    assert mode.summary(state, state.matches["m1"]) == {
        "phase": "play", "players": ["a", "b"], "watchers": 1, "started_at_ms": 1_001_000}
    monkeypatch.setattr(reads.registry, "get", lambda name: mode if name == "t" else None)
    listed = reads.match_list(state, "t", None, 10)
    assert [m["match"] for m in listed] == ["m2", "m1"]  # newest first
    assert listed[1] == {"match": "m1", "mode": "t", "phase": "play", "players": ["a", "b"], "watchers": 1,
                         "started_at_ms": 1_001_000}
    assert [m["match"] for m in reads.match_list(state, "t", "play", 10)] == ["m1"]
    assert len(reads.match_list(state, "t", None, 1)) == 1
