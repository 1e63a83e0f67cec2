"""The weekly canvas end to end, over real sockets on a real server
(127.0.0.1): several watchers see every placement in the same order in
`canvas:pixels` events and a late joiner's bitmap equals their replay; an
agent places; hostile input (place before join, out of bounds, bad colour,
wrong types, a flood, a placement inside the cooldown); and an operator's
reset, which every watcher is told of."""

from __future__ import annotations

import zlib

import attrs
import pytest
import trio

from arena.client import ArenaRequestError, open_client
from arena.modes.canvas.settings import CanvasConfig
from canvas_support import pixels_of
from conftest import make_config, player, wait_until
from test_e2e_support import error_code

pytestmark = pytest.mark.trio

W, H = 16, 8


@pytest.fixture
def canvas_server(nursery, tmp_path):
    """`server, url = await canvas_server(cooldown_ms=..., place=(per_s, burst), clock=...)`:
    a server whose canvas is W × H (and whose scheduler polls every 20 ms)."""
    from arena.server import ArenaServer

    async def start(*, place=(50, 50), clock=None, **canvas):
        cfg = make_config(tmp_path)
        settings = CanvasConfig(width=W, height=H, **canvas)
        cfg = attrs.evolve(cfg, engine=cfg.engine.with_mode("canvas", settings),
                           buckets={**cfg.buckets, ("canvas", "place"): place},
                           schedule=attrs.evolve(cfg.schedule, poll_ms=20))
        srv = ArenaServer(cfg, **({"clock": clock} if clock is not None else {}))
        port = await nursery.start(srv.run)
        return srv, f"ws://127.0.0.1:{port}/v1"

    return start


def _seen(client) -> list[tuple[int, int, int]]:
    """Every placement in the client's `canvas:pixels` events so far, in order."""
    out = []
    for type_, body, _seq in client.events_seen:
        if type_ == "canvas:pixels":
            out += pixels_of(body)
    return out


async def test_watchers_see_every_placement_in_order(canvas_server):
    server, url = await canvas_server(cooldown_ms=0)
    async with player(url, faucet=False) as a, player(url, faucet=False) as b, player(url, faucet=False) as c:
        joined = [await p.request("canvas.join") for p in (a, b, c)]
        assert {j["canvas"] for j in joined} == {server.state.modes["canvas"].canvas}
        assert all(zlib.decompress(j["bitmap"]) == bytes(W * H) for j in joined)
        plans = {p: [(x, y, (x + y + i) % 32) for x, y in [(i * 3 + k, k % H) for k in range(6)]]
                 for i, p in enumerate((a, b, c))}

        async def play(p):
            for x, y, color in plans[p]:
                assert (await p.request("canvas.place", {"x": x, "y": y, "color": color})) == {"next_place_ms": 0}

        async with trio.open_nursery() as n:
            for p in (a, b, c):
                n.start_soon(play, p)
        total = sum(len(v) for v in plans.values())
        await wait_until(lambda: all(len(_seen(p)) == total for p in (a, b, c)))
        order = _seen(a)
        assert _seen(b) == order and _seen(c) == order  # one order, for everyone
        for p, plan in plans.items():
            assert [q for q in order if q in plan] == plan  # each placer's own order kept
        replay = bytearray(W * H)
        for x, y, color in order:
            replay[y * W + x] = color
        async with player(url, faucet=False) as late:
            bitmap = zlib.decompress((await late.request("canvas.join"))["bitmap"])
        assert bitmap == replay == server.state.modes["canvas"].pixels


async def test_an_agent_places_too(canvas_server):
    server, url = await canvas_server()
    key = await server.credentials.create("painter", "agent")
    async with open_client(url) as agent:
        await agent.hello()
        await agent.request("auth.key", {"key": key})
        await agent.request("canvas.join")
        assert (await agent.request("canvas.place", {"x": 1, "y": 1, "color": 2}))["next_place_ms"] > 0
    assert server.state.modes["canvas"].pixels[1 * W + 1] == 2


async def test_hostile_placements_are_refused(canvas_server):
    server, url = await canvas_server(cooldown_ms=60_000, place=(2, 10))
    async with player(url, faucet=False) as p, player(url, faucet=False) as q:
        assert await error_code(p.request("canvas.place", {"x": 0, "y": 0, "color": 1})) == "wrong_state"
        await p.request("canvas.join")
        for body in ({"x": W, "y": 0, "color": 1}, {"x": 0, "y": -1, "color": 1}, {"x": 0, "y": 0, "color": 32},
                     {"x": "0", "y": 0, "color": 1}, {"x": 0, "y": 0}, {"x": True, "y": 0, "color": 1},
                     {"x": 0, "y": 0, "color": 1.5}, {"x": 2**40, "y": 0, "color": 1}):
            assert await error_code(p.request("canvas.place", body)) == "bad_request", body
        assert (await p.request("canvas.place", {"x": 3, "y": 4, "color": 5}))["next_place_ms"] == 60_000
        with pytest.raises(ArenaRequestError) as refused:  # inside the cooldown
            await p.request("canvas.place", {"x": 3, "y": 5, "color": 5})
        assert refused.value.code == "cooldown_active" and 0 < refused.value.retry_after_ms <= 60_000
        # A flood: the place bucket (2/s, burst 10) refuses at the gateway.
        await q.request("canvas.join")
        codes = [(await q.request_raw("canvas.place", {"x": i % W, "y": 0, "color": 1}))[1] for i in range(25)]
        got = [c.get("code") if isinstance(c, dict) and "code" in c else "ok" for c in codes]
        assert got.count("rate_limited") >= 10 and got[0] == "ok", got
        assert set(got) <= {"ok", "cooldown_active", "rate_limited"}
    c = server.state.modes["canvas"]
    assert c.placed == 2 and c.pixels[4 * W + 3] == 5


async def test_an_operator_resets_the_week_and_watchers_are_told(canvas_server):
    server, url = await canvas_server()
    key = await server.credentials.create("ops", "operator")
    async with player(url, faucet=False) as w, open_client(url) as op:
        await op.hello()
        await op.request("auth.key", {"key": key})
        first = await w.request("canvas.join")
        await w.request("canvas.place", {"x": 2, "y": 2, "color": 3})
        assert await error_code(w.request("canvas.reset", {"mode": "speed"})) == "not_allowed"
        assert await error_code(op.request("canvas.reset", {"mode": 5})) == "bad_request"
        assert await error_code(op.request("canvas.reset", {"mode": "x" * 33})) == "bad_request"
        done = await op.request("canvas.reset", {"mode": "speed"})
        assert done["mode"] == "speed" and {"year", "week"} <= set(done)
        _, reset = await w.next_event("week_reset")
        assert reset == {"archive": {"year": first["year"], "week": first["week"], "mode": "classic"},
                         "next_mode": "speed"}
        _, changed = await w.next_event("mode_changed")
        assert changed["mode"] == "speed" and changed["starts_at_ms"] > 0
        assert await error_code(w.request("canvas.place", {"x": 0, "y": 0, "color": 1})) == "wrong_state"
        again = await w.request("canvas.join")
        assert again["mode"] == "speed" and zlib.decompress(again["bitmap"]) == bytes(W * H)
        assert again["next_place_ms"] == 0  # cooldowns start afresh
    rows = await _archives(server)
    assert rows and rows[-1]["mode"] == "classic" and rows[-1]["pixels"] == 1


async def test_the_weekly_rule_resets_the_canvas_on_saturday(canvas_server):
    """A manual wall clock crosses Saturday 09:00 New York: the scheduler
    fires the reset rule once, on time; the watcher is told and joins the
    drawn week, whose resets_at_ms is a week later."""
    import datetime as dt

    from arena.wallclock import ManualClock

    sat = int(dt.datetime(2026, 11, 7, 14, tzinfo=dt.timezone.utc).timestamp()) * 1000  # 09:00 EST
    clock = ManualClock(sat - 60_000)
    # no advance notice: only the reset rule fires (tests/test_canvas_rotation.py has the notice)
    server, url = await canvas_server(clock=clock, mode_notice_ms=0)
    async with player(url, faucet=False) as w:
        first = await w.request("canvas.join")
        assert first["resets_at_ms"] == sat and first["mode"] == "classic"
        await w.request("canvas.place", {"x": 5, "y": 5, "color": 7})
        clock.set(sat + 200)
        _, reset = await w.next_event("week_reset", timeout=10)
        assert reset["archive"] == {"year": first["year"], "week": first["week"], "mode": "classic"}
        assert reset["next_mode"] != "classic"  # not one of the last weeks' modes
        again = await w.request("canvas.join")
        assert again["mode"] == reset["next_mode"] and again["resets_at_ms"] == sat + 7 * 86_400_000
        assert zlib.decompress(again["bitmap"]) == bytes(W * H)
    assert server.state.modes["canvas"].seq == 2
    assert server.health()["side_tasks"]["schedule"]["on_time"] == 1
    rows = await _archives(server)
    assert [(r["mode"], r["pixels"]) for r in rows] == [("classic", 1)]


async def _archives(server):
    """The store's canvas archives (written with their tick's journal rows)."""
    store = server.persistence.store
    for _ in range(100):
        rows = await store.query("canvas_archives")
        if rows:
            return rows
        await trio.sleep(0.05)
    return []


async def test_the_rotation_never_repeats_a_mode_of_the_last_four_weeks_while_another_is_left(canvas_server):
    """Over sockets: an operator ends twelve weeks without naming a mode; each
    next week's mode (the reply, `week_reset`'s next_mode, and the join) is
    none of the last four weeks' while a mode outside them is active, and
    classic once every active mode is recent. With one mode switched off
    that happens: four active modes, four weeks remembered."""
    from arena.modes.canvas.settings import GAME_MODES

    server, url = await canvas_server(recent_weeks=4, inactive_modes="eight")
    active = [m for m in GAME_MODES if m != "eight"]
    key = await server.credentials.create("ops", "operator")
    async with player(url, faucet=False) as w, open_client(url) as op:
        await op.hello()
        await op.request("auth.key", {"key": key})
        weeks = [(await w.request("canvas.join"))["mode"]]
        for _ in range(12):
            done = await op.request("canvas.reset", {})
            _, reset = await w.next_event("week_reset")
            assert reset["next_mode"] == done["mode"] and "requested" not in done
            joined = await w.request("canvas.join")
            assert joined["mode"] == done["mode"]
            recent = set(weeks[-4:])
            left = [m for m in active if m not in recent]
            if left:
                assert done["mode"] in left, (weeks, done["mode"])
            else:
                assert done["mode"] == "classic", (weeks, done["mode"])
            weeks.append(done["mode"])
    assert "eight" not in weeks and len(set(weeks)) == len(active)
