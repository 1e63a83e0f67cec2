"""The canvas relayed across `python -m arena serve` processes, and its owner
killed and taken over.

Node a (its own PostgreSQL schema, started first) holds the canvas; node b
(another world) relays it. A watcher connected to b sees the placements
made on a, in order, in its own gapless seq. Node a is killed with
`kill -9`; its standby a2 (same world, another name) takes the world over
through the writer lease and holds the canvas again; a placement sent to b
is refused with the owner's URL, which names a2 once it has registered;
the watcher on b, which never reconnected, gets a fresh view
(`match.snapshot` of the canvas) and then the placements made on a2, and
ends with a2's canvas.
"""

from __future__ import annotations

import zlib

import pytest
import trio

from arena.client import ArenaRequestError, open_client
from canvas_support import pixels_of
from test_cluster_e2e import HEARTBEAT_MS, cluster_services, node  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

W, H = 16, 8
CANVAS = f"\n[canvas]\nwidth = {W}\nheight = {H}\ncooldown_ms = 0\nplace_per_s = 100\nplace_burst = 100\n"


def relay_node(tmp_path, name, dsn, redis, prefix):
    n = node(tmp_path, name, dsn, redis, prefix)
    n.config.write_text(n.config.read_text() + CANVAS)
    return n


def paint(bitmap: bytes, events) -> bytes:
    canvas = bytearray(bitmap)
    for type_, body, _seq in events:
        if type_ == "canvas:pixels":
            for x, y, color in pixels_of(body):
                canvas[y * W + x] = color
    return bytes(canvas)


def after_last_view(client) -> bytes | None:
    """The last `match.snapshot` of the canvas painted with the placements after it."""
    events = client.events_seen
    views = [i for i, (t, b, _s) in enumerate(events) if t == "match.snapshot" and b.get("match") == "canvas"]
    if not views:
        return None
    return paint(zlib.decompress(events[views[-1]][1]["state"]["bitmap"]), events[views[-1] + 1:])


async def bitmap_at(url: str) -> bytes:
    async with open_client(url) as c:
        await c.hello()
        await c.login()
        return zlib.decompress((await c.request("canvas.join"))["bitmap"])


async def eventually(fn, timeout=30.0):
    with trio.fail_after(timeout):
        while True:
            if await fn():
                return
            await trio.sleep(0.1)


async def test_the_canvas_relayed_across_processes_survives_its_owners_kill(tmp_path, cluster_services):
    pg, schemas, redis, prefix = cluster_services
    import services

    a = relay_node(tmp_path, "a", services.dsn_with_schema(pg, schemas[0]), redis, prefix)
    b = relay_node(tmp_path, "b", services.dsn_with_schema(pg, schemas[1]), redis, prefix)
    a2 = relay_node(tmp_path, "a2", services.dsn_with_schema(pg, schemas[0]), redis, prefix)  # a's standby
    try:
        with trio.fail_after(180):
            await a.start(120)  # first: its world claims the canvas
            await b.start(120)
            await trio.sleep(3 * HEARTBEAT_MS / 1000)
            async with open_client(a.url) as painter, open_client(b.url) as far:
                for c in (painter, far):
                    await c.hello()
                    await c.login()
                await painter.request("canvas.join")
                await painter.request("canvas.place", {"x": 0, "y": 0, "color": 1})

                async def joined():
                    try:
                        return await far.request("canvas.join")
                    except ArenaRequestError as err:
                        assert err.code in ("overloaded", "not_found"), err
                        return None

                reply = None
                with trio.fail_after(20):
                    while reply is None:
                        reply = await joined()
                assert reply["relay"] == {"url": a.url, "node": "a"}
                start = zlib.decompress(reply["bitmap"])
                for i in range(12):
                    await painter.request("canvas.place", {"x": i, "y": 1, "color": 2 + i % 3})
                truth = await bitmap_at(a.url)

                async def far_has(bitmap):
                    return paint(start, far.events_seen) == bitmap

                await eventually(lambda: far_has(truth))
                assert far.seq_gaps == []
                with pytest.raises(ArenaRequestError) as err:
                    await far.request("canvas.place", {"x": 1, "y": 1, "color": 1})
                assert err.value.code == "not_found" and err.value.body["url"] == a.url

            # kill -9 of the owner; its standby takes the world (and the canvas) over
            async with open_client(b.url) as far2:
                await far2.hello()
                await far2.login()
                await eventually(lambda: _joined(far2))
                a.kill()
                await a2.start(120)  # a standby until a's lease expires, then it serves the world

                async def owner_is_a2():
                    try:
                        await far2.request("canvas.place", {"x": 1, "y": 1, "color": 1})
                    except ArenaRequestError as err:
                        return err.code == "not_found" and err.body.get("url") == a2.url
                    raise AssertionError("a placement on a non-owner was taken")

                await eventually(owner_is_a2)
                async with open_client(a2.url) as painter2:
                    await painter2.hello()
                    await painter2.login()
                    joined2 = await painter2.request("canvas.join")
                    assert zlib.decompress(joined2["bitmap"])[0] == 1  # the world's canvas, carried on
                    for i in range(6):
                        await painter2.request("canvas.place", {"x": i, "y": 4, "color": 5})
                truth2 = await bitmap_at(a2.url)

                async def far2_has():
                    return after_last_view(far2) == truth2

                await eventually(far2_has)
                assert far2.seq_gaps == []
    finally:
        for n in (a, b, a2):
            n.kill()


async def _joined(client) -> bool:
    try:
        await client.request("canvas.join")
        return True
    except ArenaRequestError as err:
        assert err.code in ("overloaded", "not_found"), err
        return False
