"""One big match, one owner, watchers everywhere: the cluster's relay
(`Mode.relay`, docs/SCALING.md "One owner, watchers everywhere"), with two
in-process servers on the real Redis (a unique key prefix per test).

The first server to start claims the canvas (its world holds it for good);
a watcher on the second joins there from the relay (the owner's view in
Redis plus the numbered relayed events after it) and sees every placement
made on the owner, in order, in its own session's gapless seq numbering;
its converged bitmap equals the owner's. Hostile and out-of-order input:
a placement (or a bitmap part) on the non-owner is refused with the
owner's URL; a join before the relay is up, or before the owner has
anything to watch, gets a clear error; junk on the relay channel is
dropped; an owner restarted as a new instance (a takeover) keeps
relaying, and the watchers elsewhere get a fresh view.
"""

from __future__ import annotations

import zlib

import attrs
import msgpack
import pytest
import trio

from arena.client import ArenaRequestError, open_client
from arena.modes.canvas.settings import CanvasConfig
from arena.persistence.cluster import Cluster
from canvas_support import pixels_of
from conftest import make_config, player

pytestmark = pytest.mark.trio

W, H = 16, 8
MATCH = "canvas"


def canvas_config(folder, **net):
    cfg = make_config(folder, net=net)
    return attrs.evolve(cfg, engine=cfg.engine.with_mode("canvas", CanvasConfig(width=W, height=H, cooldown_ms=0)),
                        buckets={**cfg.buckets, ("canvas", "place"): (100, 100)})


async def start_server(nursery, folder, redis_url, name, **net):
    from arena.server import ArenaServer

    url, prefix = redis_url
    folder.mkdir(exist_ok=True)
    srv = ArenaServer(canvas_config(folder, **net))
    srv.cluster = Cluster(url, node=name, advertise="", prefix=prefix, heartbeat_ms=200, seat_ttl_ms=10_000)
    srv.gateway.cluster = srv.cluster
    srv.supervisors["cluster"] = srv.cluster.supervisor
    port = await nursery.start(srv.run)
    return srv, f"ws://127.0.0.1:{port}/v1"


async def wait_for(pred, timeout=10.0):
    with trio.fail_after(timeout):
        while not pred():
            await trio.sleep(0.02)


def placements(client) -> list:
    out = []
    for type_, body, _seq in client.events_seen:
        if type_ == "canvas:pixels":
            out += pixels_of(body)
    return out


def paint(bitmap: bytes, pixels) -> bytes:
    canvas = bytearray(bitmap)
    for x, y, color in pixels:
        canvas[y * W + x] = color
    return bytes(canvas)


async def test_a_watcher_elsewhere_sees_every_placement_in_order(nursery, tmp_path, redis_url):
    owner, uo = await start_server(nursery, tmp_path / "o", redis_url, "o")
    other, ux = await start_server(nursery, tmp_path / "x", redis_url, "x")
    assert owner.cluster.owned == {MATCH} and other.cluster.owned == set()
    await wait_for(lambda: other.cluster.relay_up)
    assert owner.cluster.health()["relays"] == {MATCH: "owner"} and other.cluster.health()["relays"] == {MATCH: "relay"}
    async with player(uo, faucet=False) as painter, player(ux, faucet=False) as far:
        with pytest.raises(ArenaRequestError) as err:
            await far.request("canvas.join")  # the owner has begun no canvas yet
        assert err.value.code == "not_found" and err.value.body["url"] == uo
        await painter.request("canvas.join")  # begins the week on the owner
        placed = []
        for i in range(5):  # placed before the far watcher joins: in its view
            placed.append((i, 0, 1 + i % 3))
            await painter.request("canvas.place", {"x": i, "y": 0, "color": 1 + i % 3})
        joined = await far.request("canvas.join")
        assert joined["relay"] == {"url": uo, "node": "o"}
        assert joined["canvas"] == owner.state.modes["canvas"].canvas and joined["width"] == W
        start = zlib.decompress(joined["bitmap"])
        for i in range(40):  # while and after: relayed
            x, y, c = i % W, 1 + i % (H - 1), 1 + i % 5
            placed.append((x, y, c))
            await painter.request("canvas.place", {"x": x, "y": y, "color": c})
        final = bytes(owner.state.modes["canvas"].pixels)
        await wait_for(lambda: paint(start, placements(far)) == final)
        seen = placements(far)
        # in the owner's order: a suffix of everything placed (the view had the rest)
        assert seen == placed[len(placed) - len(seen):] and len(seen) >= 40
        assert far.seq_gaps == [] and painter.seq_gaps == []
        assert placements(painter) == placed
        assert other.cluster.health()["relay_watchers"] == 1

        # writes stay with the owner: refused with where to go
        for type_, body in (("canvas.place", {"x": 0, "y": 0, "color": 1}), ("canvas.bitmap", {"part": 0}),
                            ("canvas.comment", {"text": "hi"})):
            with pytest.raises(ArenaRequestError) as err:
                await far.request(type_, body)
            assert err.value.code == "not_found"
            assert err.value.body["url"] == uo and err.value.body["node"] == "o"
        for match in (MATCH, "ro-nothing"):  # the canvas is joined, not watched; an unknown match
            with pytest.raises(ArenaRequestError) as err:
                await far.request("match.watch", {"match": match})
            assert err.value.code == "not_found"
        with pytest.raises(ArenaRequestError) as err:
            await far.request("canvas.place", {"x": "zero", "y": 0, "color": 1})  # malformed first
        assert err.value.code == "bad_request"
        assert bytes(owner.state.modes["canvas"].pixels) == final
        assert other.state.modes["canvas"].seq == 0  # the non-owner's world never began a canvas

        # junk published on the relay channel is dropped; the relay goes on
        r = await other.cluster._call(other.cluster._client)
        await other.cluster._call(r.publish, other.cluster.k(f"relayed:{MATCH}"), b"\xc1junk")
        await painter.request("canvas.place", {"x": 3, "y": 3, "color": 2})
        final = bytes(owner.state.modes["canvas"].pixels)
        await wait_for(lambda: paint(start, placements(far)) == final)
        assert far.seq_gaps == []


async def test_a_join_before_the_relay_is_up_is_told_to_retry(nursery, tmp_path, redis_url):
    await start_server(nursery, tmp_path / "o", redis_url, "o")
    other, ux = await start_server(nursery, tmp_path / "x", redis_url, "x")
    async with player(ux, faucet=False) as far:
        other.cluster.relay_up = False  # as before its subscription is made
        with pytest.raises(ArenaRequestError) as err:
            await far.request("canvas.join")
        assert err.value.code == "overloaded" and err.value.body["retry_after_ms"] > 0
        with pytest.raises(ArenaRequestError) as err:
            await far.request("canvas.place", {"x": 0, "y": 0, "color": 1})  # still: where to go
        assert err.value.code == "not_found" and err.value.body["node"] == "o"
        other.cluster.relay_up = True
        with pytest.raises(ArenaRequestError) as err:
            await far.request("canvas.join", {"chunked": "yes"})  # malformed: the gateway's check first
        assert err.value.code == "bad_request"


async def test_a_watcher_elsewhere_resumes_its_session(nursery, tmp_path, redis_url):
    """Relayed events are the session's like any: a resume replays them; one
    whose buffer lost some gets a fresh view from the relay, then the rest."""
    owner, uo = await start_server(nursery, tmp_path / "o", redis_url, "o")
    other, ux = await start_server(nursery, tmp_path / "x", redis_url, "x", event_buffer=4)
    await wait_for(lambda: other.cluster.relay_up)
    async with player(uo, faucet=False) as painter, player(ux, faucet=False) as far:
        await painter.request("canvas.join")
        await painter.request("canvas.place", {"x": 0, "y": 0, "color": 1})
        joined = await far.request("canvas.join")
        start = zlib.decompress(joined["bitmap"])
        await painter.request("canvas.place", {"x": 1, "y": 0, "color": 2})
        await wait_for(lambda: len(placements(far)) >= 1)
        session, seen_seq = far.session, far.last_seq
        async with open_client(ux) as again:  # another connection takes the session over
            await again.hello()
            await again.resume(session, last_seq=seen_seq)
            await painter.request("canvas.place", {"x": 2, "y": 0, "color": 3})
            final = bytes(owner.state.modes["canvas"].pixels)
            await wait_for(lambda: paint(paint(start, placements(far)), placements(again)) == final)
            assert again.seq_gaps == []
            for i in range(8):  # more events than its buffer keeps
                sent = owner.cluster.relay_seq[MATCH]
                await painter.request("canvas.place", {"x": i, "y": 3, "color": 4})
                await wait_for(lambda: owner.cluster.relay_seq[MATCH] > sent)  # one message each
            final = bytes(owner.state.modes["canvas"].pixels)
        kept = other.gateway.sessions.by_id[session]
        await wait_for(lambda: kept.seq - seen_seq > len(kept.tails))  # the buffer lost some
        async with open_client(ux) as late:
            await late.hello()
            await late.resume(session, last_seq=seen_seq)  # its buffer lost some: a fresh view
            _, snap = await late.next_event("match.snapshot", match=MATCH, timeout=10)
            await wait_for(lambda: _after_snapshot(late) == final)  # the view and the messages after it
            await painter.request("canvas.place", {"x": 9, "y": 5, "color": 2})
            final = bytes(owner.state.modes["canvas"].pixels)
            await wait_for(lambda: _after_snapshot(late) == final)


async def _stoppable(srv, holder, task_status=trio.TASK_STATUS_IGNORED):
    with trio.CancelScope() as scope:
        holder.append(scope)
        await srv.run(task_status=task_status)
    holder.append("stopped")


async def test_the_owner_restarted_keeps_relaying(nursery, tmp_path, redis_url):
    """The owner's process replaced (what a takeover of its world looks like
    from the relay: the same world, a new instance numbering from 1): the
    successor claims the match again, and the watcher elsewhere gets a fresh
    view (`match.snapshot` of the match) and the placements after it."""
    from arena.server import ArenaServer

    url, prefix = redis_url
    folder = tmp_path / "o"
    folder.mkdir()

    def owner_server():
        srv = ArenaServer(canvas_config(folder))
        srv.cluster = Cluster(url, node="o", advertise="", prefix=prefix, heartbeat_ms=200)
        srv.gateway.cluster = srv.cluster
        srv.supervisors["cluster"] = srv.cluster.supervisor
        return srv

    owner, holder = owner_server(), []
    port = await nursery.start(_stoppable, owner, holder)
    uo = f"ws://127.0.0.1:{port}/v1"
    other, ux = await start_server(nursery, tmp_path / "x", redis_url, "x")
    await wait_for(lambda: other.cluster.relay_up)
    async with player(ux, faucet=False) as far:
        async with player(uo, faucet=False) as painter:
            await painter.request("canvas.join")
            await painter.request("canvas.place", {"x": 1, "y": 1, "color": 3})
        joined = await far.request("canvas.join")
        assert zlib.decompress(joined["bitmap"])[1 * W + 1] == 3
        holder[0].cancel()  # the owner stops (its world stays on disk)
        await wait_for(lambda: "stopped" in holder)
        owner2 = owner_server()
        port2 = await nursery.start(owner2.run)
        assert owner2.cluster.owned == {MATCH}  # the same world: it holds the match again
        assert owner2.cluster.instance != owner.cluster.instance
        assert owner2.state.world == owner.state.world
        async with player(f"ws://127.0.0.1:{port2}/v1", faucet=False) as painter:
            await painter.request("canvas.join")
            await painter.request("canvas.place", {"x": 2, "y": 2, "color": 4})
            _, snap = await far.next_event("match.snapshot", match=MATCH, timeout=10)
            assert zlib.decompress(snap["state"]["bitmap"])[1 * W + 1] == 3  # the world's canvas, carried on
            await painter.request("canvas.place", {"x": 5, "y": 2, "color": 1})
            final = bytes(owner2.state.modes["canvas"].pixels)
            await wait_for(lambda: _after_snapshot(far) == final)
            assert far.seq_gaps == []


def _after_snapshot(client) -> bytes:
    """The bitmap of the last `match.snapshot` painted with the placements after it."""
    events = client.events_seen
    last = max(i for i, (t, _b, _s) in enumerate(events) if t == "match.snapshot")
    canvas = zlib.decompress(events[last][1]["state"]["bitmap"])
    pixels = []
    for t, b, _s in events[last + 1:]:
        if t == "canvas:pixels":
            pixels += pixels_of(b)
    return paint(canvas, pixels)


async def test_a_non_owner_delivers_in_order_skips_repeats_and_resyncs_on_a_gap():
    """Without services: the non-owner's handling of relayed messages."""
    from types import SimpleNamespace

    from arena.engine.mode import Relay

    pushed = []
    session = SimpleNamespace(id="s1", push_event=pushed.append)
    gateway = SimpleNamespace(sessions=SimpleNamespace(by_id={"s1": session}), flush=lambda: None, _nursery=None)
    c = Cluster("redis://unused", node="x", advertise="ws://x/v1")
    c.server = SimpleNamespace(gateway=gateway)
    c.relays = {MATCH: ("canvas", Relay(MATCH, {"canvas:pixels", "week_reset"}, "canvas.join", {"week_reset"}))}

    def msg(instance, seq, *types):
        return msgpack.packb([instance, seq, list(types), [t.encode() for t in types]], use_bin_type=True)

    c._relayed(MATCH, msg("a", 1, "canvas:pixels"))  # before any watcher: kept in the backlog
    c.watch(MATCH, session, 1, [])
    c._relayed(MATCH, msg("a", 2, "canvas:pixels"))
    c._relayed(MATCH, msg("a", 2, "canvas:pixels"))  # a repeat
    c._relayed(MATCH, b"\xc1 not msgpack")
    c._relayed(MATCH, msgpack.packb(["a", "3", [], []]))  # a malformed one
    c._relayed(MATCH, msg("a", 3, "canvas:pixels"))
    assert pushed == [b"canvas:pixels", b"canvas:pixels"]
    b = c.backlog[MATCH]
    assert (b.first, b.last, [it[0] for it in b.items]) == (1, 3, [1, 2, 3])
    c._relayed(MATCH, msg("a", 5, "canvas:pixels"))  # a gap: the watcher waits for a fresh view
    assert c.watching[MATCH] == {"s1": None} and len(pushed) == 2
    assert (c.backlog[MATCH].first, c.backlog[MATCH].last) == (5, 5)
    c.watch(MATCH, session, 5, [])
    c._relayed(MATCH, msg("a", 6, "canvas:pixels", "week_reset"))  # its watch ends with it
    c._relayed(MATCH, msg("a", 7, "canvas:pixels"))
    assert pushed[2:] == [b"canvas:pixels", b"week_reset"] and c.watching[MATCH] == {}
