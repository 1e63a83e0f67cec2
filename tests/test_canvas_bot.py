"""`python -m arena bot --mode canvas`: the painters' shapes (pure), and
painters against a real server on 127.0.0.1: they join, place under the
cooldown, keep going across an operator's reset, and one logs in as an agent."""

from __future__ import annotations

import random
import subprocess
import sys
import zlib
from pathlib import Path

import attrs
import pytest
import trio

from arena.canvas_bot import SHADES, SHAPES, pixels_of, run_canvas_bots, shape_plan, thumbnail
from arena.client import open_client
from arena.modes.canvas.settings import CanvasConfig
from conftest import make_config, wait_until

ROOT = Path(__file__).resolve().parent.parent


def _connected(points) -> bool:
    """Every pixel of the shape touches (8-neighbourhood) one drawn before it."""
    seen = [points[0]]
    for x, y in points[1:]:
        if not any(abs(x - a) <= 1 and abs(y - b) <= 1 for a, b in seen):
            return False
        seen.append((x, y))
    return True


def _one_piece(points) -> bool:
    """The pixels form one 8-connected piece."""
    left, todo = set(points[1:]), [points[0]]
    while todo:
        x, y = todo.pop()
        near = {p for p in left if abs(p[0] - x) <= 1 and abs(p[1] - y) <= 1}
        left -= near
        todo += near
    return not left


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("size", [(16, 8), (1000, 1000), (3, 2), (1, 1)])
def test_shapes_are_drawings_inside_the_canvas(kind, size):
    w, h = size
    for seed in range(20):
        got_kind, plan = shape_plan(random.Random(seed), w, h, 32, kind)
        assert got_kind == kind and plan
        assert len({(x, y) for x, y, _ in plan}) == len(plan)  # each pixel once
        assert all(0 <= x < w and 0 <= y < h for x, y, _ in plan)
        assert len({c for _, _, c in plan}) == 1 and plan[0][2] != 0  # one colour, not the background
        points = [(x, y) for x, y, _ in plan]
        if kind == "checker":  # squares touching at their corners: one piece, drawn row by row
            assert _one_piece(points), (seed, plan)
        else:
            assert _connected(points), (kind, seed, plan)


def test_shapes_are_seeded_and_use_a_two_colour_palette():
    a = [shape_plan(random.Random(7), 100, 100, 2) for _ in range(3)]
    b = [shape_plan(random.Random(7), 100, 100, 2) for _ in range(3)]
    assert a == b
    assert all(c == 1 for _, plan in a for _, _, c in plan)
    with pytest.raises(ValueError):
        shape_plan(random.Random(1), 10, 10, 8, "spiral")


def test_pixels_of_reads_five_byte_records():
    blob = b"".join(x.to_bytes(2, "big") + y.to_bytes(2, "big") + bytes([c]) for x, y, c in
                    [(0, 0, 1), (999, 512, 31)])
    assert pixels_of(blob) == [(0, 0, 1), (999, 512, 31)]
    assert pixels_of(b"") == [] and pixels_of(b"\x00\x01") == []


def test_thumbnail_shades_blocks_by_how_much_is_painted():
    board = bytearray(8 * 4)
    assert thumbnail(board, 8, 4, cols=4, rows=2) == ["    ", "    "]
    board[0:2] = b"\x05\x05"  # row 0, x 0..1
    board[8:10] = b"\x01\x01"  # row 1, x 0..1: the first block (2 x 2) all painted
    board[7] = 3  # one pixel of the last block of the top row
    top, bottom = thumbnail(board, 8, 4, cols=4, rows=2)
    assert top[0] == SHADES[-1] and top[1] == " " and top[3] == SHADES[3] and bottom == "    "
    assert thumbnail(bytes(1000 * 1000), 1000, 1000) == [" " * 64] * 20  # at most 64 x 20
    assert thumbnail(b"\x01", 1, 1) == ["@"]


@pytest.fixture
def canvas_server(nursery, tmp_path):
    from arena.server import ArenaServer

    async def start(**canvas):
        cfg = make_config(tmp_path)
        settings = CanvasConfig(**{"width": 40, "height": 30, "cooldown_ms": 30, **canvas})
        cfg = attrs.evolve(cfg, engine=cfg.engine.with_mode("canvas", settings),
                           buckets={**cfg.buckets, ("canvas", "place"): (200, 200)})
        srv = ArenaServer(cfg)
        port = await nursery.start(srv.run)
        return srv, f"ws://127.0.0.1:{port}/v1"

    return start


async def test_painters_place_under_the_cooldown_and_stop(canvas_server):
    server, url = await canvas_server()
    lines: list[str] = []
    with trio.fail_after(60):
        rc = await run_canvas_bots(url, 3, 12, 5, lines.append, show_every=0.1)
    assert rc == 0, lines
    shared = server.state.modes["canvas"]
    assert len(shared.next_place) == 3  # three wallets placed
    await wait_until(lambda: not shared.pending)
    assert shared.placed == 36
    assert any("joined canvas:" in line for line in lines)
    shown = [line for line in lines if line.startswith("|") and line.endswith("|")]
    assert shown and all(len(line) == 40 + 2 for line in shown)  # the canvas as text, 40 columns
    assert "36 pixel(s) placed" in lines[-1] and " 0 painter(s) failed" in lines[-1]
    # What they drew is on the canvas a newcomer gets.
    async with open_client(url) as c:
        await c.hello()
        await c.login()
        j = await c.request("canvas.join")
    drawn = zlib.decompress(j["bitmap"])
    assert drawn == bytes(shared.pixels) and sum(1 for b in drawn if b) >= 12


async def test_painters_rejoin_after_a_reset_and_an_agent_paints(canvas_server):
    server, url = await canvas_server(cooldown_ms=20)
    agent_key = await server.credentials.create("brush", "agent")
    op_key = await server.credentials.create("ops", "operator")
    lines: list[str] = []
    done = trio.Event()

    async def paint():
        try:
            assert await run_canvas_bots(url, 2, 30, 9, lines.append, api_keys=(agent_key,)) == 0, lines
        finally:
            done.set()

    async with trio.open_nursery() as n:
        n.start_soon(paint)
        shared = server.state.modes["canvas"]
        with trio.fail_after(30):
            await wait_until(lambda: shared.placed >= 6)
        seq = shared.seq
        async with open_client(url) as op:
            await op.hello()
            await op.request("auth.key", {"key": op_key})
            await op.request("canvas.reset", {})
        with trio.fail_after(60):
            await done.wait()
    assert shared.seq == seq + 1
    assert "key:brush" in shared.next_place  # the agent placed in the new week too
    assert sum(1 for line in lines if "week reset" in line) == 2, lines
    assert sum(1 for line in lines if "joined canvas:" in line) >= 4


def test_command_line_refuses_bad_counts():
    proc = subprocess.run([sys.executable, "-m", "arena", "bot", "--mode", "canvas", "--pixels", "-1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--pixels" in proc.stderr
