"""The canvas served in parts (`canvas.join {"chunked": true}` and
`canvas.bitmap`), the canvas's view on `session.resume` when the session's
buffer lost events, and watchers forgotten while away: each callback on the
pure engine, then over real sockets (a full 1000 x 1000 canvas of noise
fetched in parts that stay far from the 1 MiB limits; resumes with and
without the gap; hostile requests)."""

from __future__ import annotations

import random
import zlib

import attrs
import pytest
import trio

from arena.client import open_client
from arena.engine import canonical, core
from arena.engine import inputs as I
from arena.modes.canvas import messages as M
from arena.modes.canvas.bitmap import BitmapCache, part_count, part_rows
from arena.modes.canvas.mode import WINDOW
from arena.modes.canvas.settings import CanvasConfig
from canvas_support import World, canvas_config
from conftest import make_config, player, wait_until
from test_e2e_support import error_code

LIMIT = 1 << 20  # the default frame and send-queue limit


def fetch(w: World, wallet: str, n: int) -> bytes:
    out = b""
    for i in range(n):
        r = w.request(M.CanvasBitmap, wallet, i)
        assert r.ok and r.body["part"] == i, r
        out += zlib.decompress(r.body["bitmap"])
    return out


def test_parts_cover_the_canvas_in_whole_rows():
    assert part_rows(1000, 65_536) == 65 and part_count(1000, 65) == 16
    assert part_rows(5000, 1024) == 1  # a row wider than a part: one row each
    w = World(canvas_config(width=40, height=25, part_bytes=1024))  # 25 rows per part
    j = w.request(M.CanvasJoin, "a", True).body
    assert j["bitmap"] == b"" and j["parts"] == 1 and j["part_rows"] == 25
    w2 = World(canvas_config(width=100, height=25, part_bytes=1024))  # 10 rows: parts of 10, 10, 5
    j = w2.request(M.CanvasJoin, "a", True).body
    assert (j["parts"], j["part_rows"]) == (3, 10)
    w2.place("a", 99, 24, 7)
    w2.step()
    rows = [w2.request(M.CanvasBitmap, "a", i).body for i in range(3)]
    assert [(r["y"], r["rows"]) for r in rows] == [(0, 10), (10, 10), (20, 5)]
    assert b"".join(zlib.decompress(r["bitmap"]) for r in rows) == bytes(w2.canvas.pixels)
    whole = w2.join("b").body  # the join without `chunked`: the whole bitmap, as the contract says
    assert zlib.decompress(whole["bitmap"]) == bytes(w2.canvas.pixels) and whole["parts"] == 3


def test_bitmap_refusals_change_nothing():
    w = World(canvas_config(width=100, height=25, part_bytes=1024))
    r = w.request(M.CanvasBitmap, "a", 0)
    assert not r.ok and r.body["code"] == "wrong_state"  # not joined
    w.join("a")
    before = canonical.state_hash(w.canvas)
    for part in (-1, 3, 2**40):
        r = w.request(M.CanvasBitmap, "a", part)
        assert not r.ok and r.body["code"] == "bad_request", part
    assert canonical.state_hash(w.canvas) == before


def test_the_part_cache_recompresses_only_touched_bands():
    w = World(canvas_config(width=100, height=30, part_bytes=1024))  # 3 parts of 10 rows
    w.request(M.CanvasJoin, "a", True)
    mode = core.MODES["canvas"]
    first = [w.request(M.CanvasBitmap, "a", i).body["bitmap"] for i in range(3)]
    w.place("a", 5, 15, 3)  # band 1 only
    again = [w.request(M.CanvasBitmap, "a", i).body["bitmap"] for i in range(3)]
    assert again[0] is first[0] and again[2] is first[2]  # the very same bytes: not compressed again
    assert zlib.decompress(again[1])[5 * 100 + 5] == 3
    # A cache asked about another state object (a replay, a snapshot) starts afresh.
    cache = BitmapCache()
    other = World(canvas_config(width=100, height=30, part_bytes=1024))
    other.join("z")
    assert zlib.decompress(cache.part(w.canvas, 10, 1))[505] == 3
    assert zlib.decompress(cache.part(other.canvas, 10, 1))[505] == 0
    assert mode._bitmaps is not cache


def test_a_watcher_away_gets_nothing_and_a_view_when_back():
    w = World()
    w.join("a")
    w.join("b")
    w.step(I.PlayerDisconnected("a"))
    w.place("b", 1, 1, 4)
    w.step()
    assert not w.events_of("canvas:pixels", "a") and w.events_of("canvas:pixels", "b")
    assert w.place("a", 0, 0, 1).body["code"] == "wrong_state"  # away: not placing either
    w.step(I.PlayerReconnected("a"))
    [snap] = w.events_of("match.snapshot", "a")
    view = snap.body["state"]
    assert snap.body["match"] == WINDOW and view["parts"] == 1 and view["width"] == 8
    assert fetch(w, "a", view["parts"]) == bytes(w.canvas.pixels)
    w.step(I.PlayerReconnected("b"))  # a watcher that never left gets no view
    assert not w.events_of("match.snapshot", "b")
    # A reset forgets those away too.
    w.step(I.PlayerDisconnected("b"))
    w.reset()
    assert not w.canvas.away and not w.canvas.watchers


def test_resume_views_name_the_canvas_for_its_watchers_only():
    w = World()
    w.join("a")
    [ev] = core.resume_snapshots(w.state, "a")
    assert ev.type == "match.snapshot" and ev.to == ("a",) and ev.body["match"] == WINDOW
    assert ev.body["state"]["canvas"] == w.canvas.canvas and "bitmap" not in ev.body["state"]
    assert core.resume_snapshots(w.state, "stranger") == []
    w.step(I.PlayerDisconnected("a"))
    assert len(core.resume_snapshots(w.state, "a")) == 1  # away: still a watcher to the client


# --- over real sockets -----------------------------------------------------------------------------


@pytest.fixture
def canvas_server(nursery, tmp_path):
    from arena.server import ArenaServer

    async def start(*, net=None, bitmap=(20, 64), **canvas):
        cfg = make_config(tmp_path)
        settings = CanvasConfig(**{"cooldown_ms": 0, **canvas})
        cfg = attrs.evolve(cfg, engine=cfg.engine.with_mode("canvas", settings),
                           buckets={**cfg.buckets, ("canvas", "place"): (200, 200), ("canvas", "bitmap"): bitmap},
                           **({"net": attrs.evolve(cfg.net, **net)} if net else {}))
        srv = ArenaServer(cfg)
        port = await nursery.start(srv.run)
        return srv, f"ws://127.0.0.1:{port}/v1"

    return start


async def fetch_parts(c, n: int) -> tuple[bytes, list[int]]:
    """Every part in order; returns the canvas and each reply's frame size (approx.: its bitmap)."""
    data, sizes = b"", []
    for i in range(n):
        r = await c.request("canvas.bitmap", {"part": i})
        sizes.append(len(r["bitmap"]))
        data += zlib.decompress(r["bitmap"])
    return data, sizes


async def test_a_full_noisy_canvas_comes_in_parts_far_below_the_limits(canvas_server):
    server, url = await canvas_server(width=1000, height=1000)
    async with player(url, faucet=False) as c:
        j = await c.request("canvas.join", {"chunked": True})
        assert j["bitmap"] == b"" and (j["parts"], j["part_rows"]) == (16, 65)
        shared = server.state.modes["canvas"]
        # The worst case: every pixel noise in 32 colours (set here between two
        # ticks, before any part was compressed).
        rng = random.Random(3)
        shared.pixels[:] = bytes(rng.randrange(32) for _ in range(1000 * 1000))
        data, sizes = await fetch_parts(c, j["parts"])
        assert data == bytes(shared.pixels)
        assert max(sizes) < 70_000 < LIMIT // 8  # each part's frame: a few percent of 1 MiB
        assert not c.closed


async def test_parts_and_pixels_applied_in_order_converge(canvas_server):
    server, url = await canvas_server(width=64, height=40, part_bytes=1024)  # 16 rows a part: 3 parts
    async with player(url, faucet=False) as watcher, player(url, faucet=False) as painter:
        await painter.request("canvas.join")
        j = await watcher.request("canvas.join", {"chunked": True})
        board = bytearray(64 * 40)

        async def paint():
            for k in range(60):
                await painter.request("canvas.place", {"x": (k * 7) % 64, "y": (k * 5) % 40, "color": k % 31 + 1})

        async with trio.open_nursery() as n:
            n.start_soon(paint)
            for i in range(j["parts"]):  # parts interleave with the painter's placements
                r = await watcher.request("canvas.bitmap", {"part": i})
                board[r["y"] * 64:(r["y"] + r["rows"]) * 64] = zlib.decompress(r["bitmap"])
                # placements that arrived before this part are in it already; apply
                # the events in their order relative to the parts' replies
                for type_, body in watcher.drain_events():
                    if type_ == "canvas:pixels":
                        for x, y, color in _pixels(body["pixels"]):
                            board[y * 64 + x] = color
        shared = server.state.modes["canvas"]
        await wait_until(lambda: not shared.pending)
        await trio.sleep(0.2)
        for type_, body in watcher.drain_events():
            if type_ == "canvas:pixels":
                for x, y, color in _pixels(body["pixels"]):
                    board[y * 64 + x] = color
        assert bytes(board) == bytes(shared.pixels)


def _pixels(blob: bytes):
    for i in range(0, len(blob), 5):
        yield int.from_bytes(blob[i:i + 2], "big"), int.from_bytes(blob[i + 2:i + 4], "big"), blob[i + 4]


async def test_resume_past_the_buffer_sends_the_canvas_view(canvas_server):
    server, url = await canvas_server(width=32, height=16, net={"event_buffer": 3})
    async with player(url, faucet=False) as w, player(url, faucet=False) as painter:
        await w.request("canvas.join")
        await painter.request("canvas.join")
        seen = w.last_seq
        for k in range(8):  # more windows than the buffer keeps
            await painter.request("canvas.place", {"x": k, "y": 1, "color": 5})
            await trio.sleep(0.06)
        await wait_until(lambda: w.last_seq >= seen + 4)
        async with open_client(url) as again:  # takes the session over, as after a lost connection
            r = await again.resume(w.session, seen)
            assert r["replayed"] == 0
            _, snap = await again.next_event("match.snapshot")
            assert snap["match"] == "canvas" and snap["state"]["parts"] == 1
            data, _ = await fetch_parts(again, 1)
            assert data == bytes(server.state.modes["canvas"].pixels)
            await painter.request("canvas.place", {"x": 0, "y": 0, "color": 9})
            _, px = await again.next_event("canvas:pixels")  # still a watcher
            assert list(_pixels(px["pixels"])) == [(0, 0, 9)]


async def test_a_dropped_watcher_is_forgotten_then_told_to_refetch(canvas_server):
    server, url = await canvas_server(width=32, height=16)
    shared = server.state.modes["canvas"]
    async with player(url, faucet=False) as painter:
        await painter.request("canvas.join")
        async with open_client(url) as w:
            await w.hello()
            await w.login()
            await w.request("canvas.join")
            session, seq, wallet = w.session, w.last_seq, w.wallet
        await wait_until(lambda: wallet in shared.away)
        assert wallet not in shared.watchers
        await painter.request("canvas.place", {"x": 3, "y": 3, "color": 2})
        await wait_until(lambda: not shared.pending)
        async with open_client(url) as back:
            r = await back.resume(session, seq)
            assert r["replayed"] == 0  # nothing was sent to it while away
            _, snap = await back.next_event("match.snapshot")
            assert snap["match"] == "canvas"
            data, _ = await fetch_parts(back, snap["state"]["parts"])
            assert data[3 * 32 + 3] == 2 and data == bytes(shared.pixels)
            assert wallet in shared.watchers and wallet not in shared.away


async def test_hostile_bitmap_requests_are_refused(canvas_server):
    server, url = await canvas_server(width=32, height=16, bitmap=(2, 5))
    async with player(url, faucet=False) as p:
        assert await error_code(p.request("canvas.bitmap", {"part": 0})) == "wrong_state"
        assert await error_code(p.request("canvas.join", {"chunked": "yes"})) == "bad_request"
        await p.request("canvas.join", {"chunked": True})
        for body in ({}, {"part": -1}, {"part": 1}, {"part": "0"}, {"part": 2**63 - 1}, {"part": -(2**63)}, {"part": None}, {"part": True}):
            assert await error_code(p.request("canvas.bitmap", body)) in ("bad_request", "rate_limited"), body
        replies = [(await p.request_raw("canvas.bitmap", {"part": 0}))[1] for _ in range(12)]
        codes = [r.get("code", "ok") if "bitmap" not in r else "ok" for r in replies]
        assert "rate_limited" in codes and set(codes) <= {"ok", "rate_limited"}  # the bitmap bucket (2/s, burst 5)
    assert server.state.modes["canvas"].placed == 0
