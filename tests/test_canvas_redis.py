"""The canvas in Redis (`arena/modes/canvas/mirror.py` through the mirror's
generic `Mode.mirror_ops` / `mirror_state` and board hooks): the pure
operations, then the real Redis on this machine (under a prefix of its own):
the live bitmap and meta follow the placements, the `canvas.pixels` boards
are mirrored, a reset rewrites the canvas, and an outage ends in a rewrite."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs
import trio

from arena.client import open_client
from arena.modes.canvas.mirror import CanvasMirror
from arena.modes.canvas.settings import CanvasConfig
from arena.persistence.redis_mirror import MODE_OPS
from canvas_support import World, canvas_config
from conftest import make_config, player, wait_until
from tcp_proxy import TcpProxy

W, H = 12, 6


def test_mirror_ops_write_a_new_canvas_whole_then_each_window():
    w = World(canvas_config(cooldown_ms=0, width=W, height=H))
    m = CanvasMirror()
    assert m.ops(w.canvas, []) == []  # no canvas yet
    w.join("a")
    first = m.ops(w.canvas, [])
    assert [op[0] for op in first] == ["set", "hset", "set"]
    assert first[0] == ("set", f"{w.canvas.canvas}:bitmap", bytes(W * H))
    assert first[2] == ("set", "canvas:current", w.canvas.canvas)
    assert m.ops(w.canvas, []) == []  # nothing new
    w.place("a", 3, 2, 7)
    w.place("a", 4, 2, 8)
    ops = m.ops(w.canvas, [e for e in w.events if e.type == "canvas:pixels"])
    assert ops[0] == ("setranges", f"{w.canvas.canvas}:bitmap", [(2 * W + 3, b"\x07"), (2 * W + 4, b"\x08")])
    assert ops[1][0] == "hset" and ops[1][2]["placed"] == 2
    assert all(op[0] in MODE_OPS and op[0] != "clear" for op in first + ops)
    w.reset()  # same ISO week: the same id, written whole again (blank)
    again = m.ops(w.canvas, [])
    assert again[0] == ("set", f"{w.canvas.canvas}:bitmap", bytes(W * H)) and again[1][2]["seq"] == 2
    full = m.state(w.canvas)
    assert full[0] == ("clear", "canvas:*") and full[1][0] == "set"


def _cfg(tmp_path, url, prefix):
    cfg = make_config(tmp_path)
    cfg = attrs.evolve(cfg, redis=attrs.evolve(cfg.redis, url=url, key_prefix=prefix),
                       engine=cfg.engine.with_mode("canvas", CanvasConfig(width=W, height=H, cooldown_ms=0)),
                       buckets={**cfg.buckets, ("canvas", "place"): (100, 100)})
    return cfg


async def _get(url, fn):
    import redis

    def go():
        r = redis.Redis.from_url(url, socket_timeout=5)
        try:
            return fn(r)
        finally:
            r.close()

    return await trio.to_thread.run_sync(go)


async def _until(url, fn, want, timeout=10):
    with trio.fail_after(timeout):
        while True:
            got = await _get(url, fn)
            if got == want:
                return got
            await trio.sleep(0.05)


async def test_the_live_canvas_and_its_boards_in_redis(nursery, tmp_path, redis_url):
    from arena.server import ArenaServer

    url, prefix = redis_url
    srv = ArenaServer(_cfg(tmp_path, url, prefix))
    port = await nursery.start(srv.run)
    ws = f"ws://127.0.0.1:{port}/v1"
    key = await srv.credentials.create("ops", "operator")
    async with player(ws, faucet=False) as a, player(ws, faucet=False) as b:
        await a.request("canvas.join")
        await b.request("canvas.join")
        shared = srv.state.modes["canvas"]
        cid = shared.canvas.encode()
        await _until(url, lambda r: r.get(f"{prefix}canvas:current"), cid)
        for i in range(5):
            await a.request("canvas.place", {"x": i, "y": 1, "color": i + 1})
        await b.request("canvas.place", {"x": 11, "y": 5, "color": 9})
        await wait_until(lambda: not shared.pending)
        await _until(url, lambda r: r.get(f"{prefix}{shared.canvas}:bitmap"), bytes(shared.pixels))
        meta = await _get(url, lambda r: r.hgetall(f"{prefix}{shared.canvas}:meta"))
        assert meta[b"placed"] == b"6" and meta[b"width"] == str(W).encode() and meta[b"mode"] == b"classic"
        await _until(url, lambda r: r.zscore(f"{prefix}board:canvas.pixels:all", a.wallet), 5.0)
        weekly = await _get(url, lambda r: [k.decode() for k in r.scan_iter(f"{prefix}board:canvas.pixels:*")])
        assert len(weekly) == 2  # "all" and this week
        # An operator's reset: the new canvas is written whole (blank).
        async with open_client(ws) as op:
            await op.hello()
            await op.request("auth.key", {"key": key})
            await op.request("canvas.reset", {"mode": "mono"})
        new = srv.state.modes["canvas"]
        await _until(url, lambda r: r.hget(f"{prefix}{new.canvas}:meta", "mode"), b"mono")
        assert await _get(url, lambda r: r.get(f"{prefix}{new.canvas}:bitmap")) == bytes(new.width * new.height)


async def test_after_an_outage_the_canvas_is_rewritten(nursery, tmp_path, redis_url):
    from arena.server import ArenaServer

    url, prefix = redis_url
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname, parts.port or 6379)
    pport = await nursery.start(proxy.run)
    srv = ArenaServer(_cfg(tmp_path, f"redis://127.0.0.1:{pport}/0", prefix))
    port = await nursery.start(srv.run)
    ws = f"ws://127.0.0.1:{port}/v1"
    async with player(ws, faucet=False) as a:
        await a.request("canvas.join")
        shared = srv.state.modes["canvas"]
        await _until(url, lambda r: r.get(f"{prefix}canvas:current"), shared.canvas.encode())
        # stale keys of a canvas that ended while Redis was away
        await _get(url, lambda r: r.set(f"{prefix}canvas:1999-1:bitmap", b"old"))
        proxy.cut()
        await wait_until(lambda: not srv.persistence.redis.connected, timeout=15)
        for i in range(4):
            await a.request("canvas.place", {"x": i, "y": 0, "color": 3})
        proxy.restore()
        await wait_until(lambda: srv.persistence.redis.connected, timeout=20)
        await _until(url, lambda r: r.get(f"{prefix}{shared.canvas}:bitmap"), bytes(shared.pixels), timeout=15)
        assert not await _get(url, lambda r: r.exists(f"{prefix}canvas:1999-1:bitmap"))
