"""The cluster's Redis parts on the real Redis (arena/persistence/cluster.py).

Several `Cluster`s (one per simulated serving process, each its own asyncio
thread and Redis connection) share one key prefix: the pairing script under
many racers makes exactly one pair of each two wallets and puts no wallet in
two pairs; entries of a dead process are dropped, never paired; a wallet is
in one queue at a time; seat tokens are one-time, expiring, bound to their
process, and hostile ones are refused with stable codes; an event for a
wallet present on another process reaches it there.
"""

from __future__ import annotations

import random

import pytest
import trio

from arena.engine import inputs as I
from arena.engine.errors import AUTH_FAILED, BAD_REQUEST, DUPLICATE, NOT_FOUND, WRONG_STATE, ArenaError
from arena.engine.outputs import Event
from arena.persistence.cluster import Cluster


class FakeSession:
    def __init__(self, connected=True):
        self.conn = object() if connected else None
        self.events: list[bytes] = []

    def push_event(self, tail: bytes) -> None:
        self.events.append(tail)


class FakeGateway:
    def __init__(self):
        self.sessions = type("Reg", (), {})()
        self.sessions.by_wallet = {}
        self._nursery = None
        self.flushes = 0

    def flush(self):
        self.flushes += 1


class FakeServer:
    """What a Cluster reads of its server: state, gateway, port, submit."""

    def __init__(self, world: str):
        self.state = type("State", (), {})()
        self.state.world = world
        self.state.matches = {}
        self.gateway = FakeGateway()
        self.cfg = type("Cfg", (), {})()
        self.cfg.server = type("S", (), {"host": "127.0.0.1"})()
        self.port = 1
        self.submitted: list = []

    def submit(self, inp, force=False):
        self.submitted.append(inp)
        return True


def make(url, prefix, name, **kw):
    c = Cluster(url, node=name, advertise=f"ws://127.0.0.1:9{len(name)}/v1", prefix=prefix,
                heartbeat_ms=kw.pop("heartbeat_ms", 60_000), **kw)
    c.server = FakeServer(f"world-{name}")
    c.bridge.start()
    return c


async def registered(url, prefix, names, **kw):
    out = []
    for n in names:
        c = make(url, prefix, n, **kw)
        await c._call(c._register)
        out.append(c)
    return out


def pairs_of(clusters):
    return [inp.players for c in clusters for inp in c.server.submitted if isinstance(inp, I.MatchPaired)]


def stop(clusters):
    for c in clusters:
        c.bridge.stop()


async def test_pairing_under_racers_makes_exactly_one_match_per_pair(redis_url):
    url, prefix = redis_url
    nodes = await registered(url, prefix, ["a", "b", "c", "d"])
    rnd = random.Random(17)
    wallets = [f"w{i:03d}" for i in range(60)]
    try:
        async with trio.open_nursery() as nursery:
            for w in wallets:
                node = rnd.choice(nodes)

                async def go(node=node, w=w):
                    await trio.sleep(rnd.random() * 0.05)
                    await node.join(w, "roast", "bronze")

                nursery.start_soon(go)
            for node in nodes:  # sweeps racing the joins' own pairings
                async def sweeps(node=node):
                    for _ in range(5):
                        await node.pair("roast", "bronze")
                        await trio.sleep(0.01)

                nursery.start_soon(sweeps)
        for node in nodes:
            await node.pair("roast", "bronze")
        pairs = pairs_of(nodes)
        paired = [w for p in pairs for w in p]
        assert len(pairs) == 30
        assert all(len(p) == 2 and p[0] != p[1] for p in pairs)
        assert sorted(paired) == sorted(wallets)  # every wallet once: none twice, none left
        r = await nodes[0]._client_sync()
        assert await nodes[0]._call(_zcard, r, nodes[0].k("queue:roast:bronze")) == 0
    finally:
        stop(nodes)


async def _zcard(r, key):
    return await r.zcard(key)


Cluster._client_sync = lambda self: self._call(self._client)


async def test_a_wallet_is_in_one_queue_and_leaves_it(redis_url):
    url, prefix = redis_url
    a, b = await registered(url, prefix, ["a", "b"])
    try:
        await a.join("w1", "roast", "bronze")
        for node, queue in ((a, "bronze"), (b, "bronze"), (b, "gold")):
            with pytest.raises(ArenaError) as err:
                await node.join("w1", "roast", queue)
            assert err.value.code == DUPLICATE
        assert not await b.leave("w1", only_here=True)  # a disconnect on b: not b's entry
        assert await b.leave("w1")  # queue.leave from any of its connections
        assert not await a.leave("w1")
        await b.join("w1", "roast", "gold")  # free to join another queue now
        await a.join("w2", "roast", "gold")
        assert pairs_of([a, b]) == [("w1", "w2")]
    finally:
        stop([a, b])


async def test_a_dead_process_entries_are_dropped_not_paired(redis_url):
    url, prefix = redis_url
    a, b = await registered(url, prefix, ["a", "b"])
    try:
        await a.join("gone1", "roast", "bronze")
        r = await a._client_sync()
        await a._call(_delete, r, a.k("node:a"))  # a's heartbeat stopped: its key expired
        await b.join("live1", "roast", "bronze")
        assert pairs_of([a, b]) == []  # never paired with a dead process's player
        # The dead entry was dropped on the way; its wallet may queue again elsewhere.
        await b.join("gone1", "roast", "bronze")
        assert pairs_of([a, b]) == [("live1", "gone1")]
        # A process restarted under the same name is another instance: the
        # old one's entries are still dead.
        a2 = make(url, prefix, "a")
        await a2._call(a2._register)
        await a.join("old", "roast", "silver")  # the old instance (its key is a2's now)
        await b.join("new", "roast", "silver")
        assert pairs_of([a, b, a2]) == [("live1", "gone1")]
        a2.bridge.stop()
    finally:
        stop([a, b])


async def _delete(r, key):
    return await r.delete(key)


async def test_a_wallet_playing_somewhere_cannot_queue(redis_url):
    url, prefix = redis_url
    (a,) = await registered(url, prefix, ["a"])
    try:
        match = type("M", (), {"mode": "roast", "players": ["p1", "p2"]})()
        a.server.state.matches["ro-1"] = match
        a.tick_done(a.server.state)
        await a.flush()
        with pytest.raises(ArenaError) as err:
            await a.join("p1", "roast", "bronze")
        assert err.value.code == WRONG_STATE
        r = await a._client_sync()
        assert (await a._call(_hgetall, r, a.k("match:ro-1")))[b"node"] == b"a"
        del a.server.state.matches["ro-1"]
        a.tick_done(a.server.state)
        await a.flush()
        await a.join("p1", "roast", "bronze")  # the battle ended: free again
        assert await a._call(_hgetall, r, a.k("match:ro-1")) == {}
    finally:
        stop([a])


async def _hgetall(r, key):
    return await r.hgetall(key)


def found(to, match="ro-x"):
    return Event(tuple(to), "match.found", {"match": match, "mode": "roast", "players": list(to)})


async def test_seat_tokens_are_one_time_bound_and_expiring(redis_url):
    url, prefix = redis_url
    a, b = await registered(url, prefix, ["a", "b"], seat_ttl_ms=400)
    try:
        here = FakeSession()
        a.server.gateway.sessions.by_wallet["local"] = {"s": here}
        out = a.outgoing([found(["local", "remote"])])
        assert [m.to for m in out] == [("local",), ("remote",)]
        assert "seat" not in out[0].body  # connected here already: plays here
        seat = out[1].body["seat"]
        assert seat["url"] == a.advertise and seat["node"] == "a"
        await a.flush()
        with pytest.raises(ArenaError) as err:
            await b.claim_seat(seat["token"])  # another process's seat: refused, and kept
        assert err.value.code == NOT_FOUND
        assert await a.claim_seat(seat["token"]) == ("remote", "ro-x")
        with pytest.raises(ArenaError) as err:
            await a.claim_seat(seat["token"])  # replayed
        assert err.value.code == AUTH_FAILED
        for hostile in ("", "x", "a" * 65, "../../etc", "tok en" * 4, None, 12, b"bytes-token-123456", "é" * 20):
            with pytest.raises(ArenaError) as err:
                await a.claim_seat(hostile)
            assert err.value.code == BAD_REQUEST
        with pytest.raises(ArenaError) as err:
            await a.claim_seat("A" * 32)  # well formed, never issued
        assert err.value.code == AUTH_FAILED
        late = a.outgoing([found(["remote"], "ro-y")])[0].body["seat"]["token"]
        await a.flush()
        await trio.sleep(0.6)
        with pytest.raises(ArenaError) as err:
            await a.claim_seat(late)  # expired
        assert err.value.code == AUTH_FAILED
    finally:
        stop([a, b])


async def test_an_event_for_a_wallet_elsewhere_reaches_it(redis_url, nursery):
    url, prefix = redis_url
    a = make(url, prefix, "a", heartbeat_ms=5000)
    b = make(url, prefix, "b", heartbeat_ms=5000)
    session = FakeSession()
    b.server.gateway.sessions.by_wallet["tipped"] = {"s": session}
    await a.start(nursery, a.server)
    await b.start(nursery, b.server)
    try:
        b.wallet_present("tipped")
        await b.flush()
        await trio.sleep(0.3)  # b's subscription is up
        a.forward("tipped", b"\xa3tip\x80")
        a.forward("nobody", b"\xa3tip\x80")  # present nowhere: dropped
        with trio.fail_after(5):
            while not session.events:
                await trio.sleep(0.02)
        assert session.events == [b"\xa3tip\x80"]
        assert b.server.gateway.flushes >= 1
        nodes = await a.nodes()
        assert set(nodes) >= {"a", "b"} and nodes["b"]["url"] == b.advertise
        assert nodes["a"]["world"] == "world-a" and nodes["a"]["node"] == "a"
        worker = make(url, prefix, "n", shard="s1")  # one of a node's shard workers
        assert worker.node == "n/s1"
        await worker._call(worker._register)
        listed = (await a.nodes())["n/s1"]
        assert listed["node"] == "n" and listed["shard"] == "s1"
        worker.bridge.stop()
    finally:
        nursery.cancel_scope.cancel()
    # a clean stop (cancelled) leaves the registry at once, not after its TTL (15 s here)
    probe = make(url, prefix, "probe")
    with trio.fail_after(0.5):
        while {"a", "b"} & set(await probe.nodes()):
            await trio.sleep(0.02)
    probe.bridge.stop()


async def test_a_new_owner_overwrites_the_directory(redis_url):
    """After a takeover the successor holds the world's matches: its first
    (full) directory write names it, whatever the old owner wrote."""
    url, prefix = redis_url
    old, new = await registered(url, prefix, ["old", "new"])
    try:
        match = type("M", (), {"mode": "roast", "players": ["p1", "p2"]})()
        for c in (old, new):
            c.server.state.matches["ro-9"] = match
        old.tick_done(old.server.state)
        await old.flush()
        r = await old._client_sync()
        assert (await old._call(_hgetall, r, old.k("match:ro-9")))[b"node"] == b"old"
        new.sync_directory(new.server.state, full=True)  # what `start` does after recovery
        await new.flush()
        entry = await old._call(_hgetall, r, old.k("match:ro-9"))
        assert entry[b"node"] == b"new" and entry[b"url"] == new.advertise.encode()
        assert entry[b"players"] == b"p1,p2"
    finally:
        stop([old, new])


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_joins_leaves_and_a_death_keep_the_queue_consistent(redis_url, seed):
    """Racers join, leave and pair at random through three processes, one of
    which dies midway: no wallet is in two pairs, no wallet is paired after
    its leave took it out or after its process died, and what is left in the
    queue is exactly what the `queued` hash says."""
    url, prefix = redis_url
    nodes = await registered(url, prefix, ["a", "b", "c"])
    rnd = random.Random(seed)
    left: set[str] = set()
    joined_through: dict[str, Cluster] = {}
    try:
        async with trio.open_nursery() as nursery:
            async def racer(i):
                w = f"r{i:03d}"
                node = rnd.choice(nodes)
                await trio.sleep(rnd.random() * 0.2)
                try:
                    await node.join(w, "roast", rnd.choice(["bronze", "silver"]))
                except ArenaError as exc:
                    assert exc.code == DUPLICATE
                    return
                joined_through[w] = node
                if rnd.random() < 0.3:
                    await trio.sleep(rnd.random() * 0.05)
                    if await node.leave(w):
                        left.add(w)

            async def killer():
                await trio.sleep(0.1)
                r = await nodes[2]._client_sync()
                await nodes[2]._call(_delete, r, nodes[2].k("node:c"))

            for i in range(80):
                nursery.start_soon(racer, i)
            nursery.start_soon(killer)
        for node in nodes[:2]:
            await node.pair("roast", "bronze")
            await node.pair("roast", "silver")
        pairs = pairs_of(nodes)
        paired = [w for p in pairs for w in p]
        assert len(paired) == len(set(paired))  # nobody in two pairs
        assert not set(paired) & left  # a wallet that left is never paired
        r = await nodes[0]._client_sync()
        queued = {k.decode(): v.decode() for k, v in (await nodes[0]._call(_hgetall, r, nodes[0].k("queued"))).items()}
        in_queues = set()
        for tier in ("bronze", "silver"):
            members = await nodes[0]._call(_zrange, r, nodes[0].k(f"queue:roast:{tier}"))
            in_queues |= {m.decode() for m in members}
            for m in members:
                assert queued[m.decode()].split("\t")[1] == tier
        assert in_queues == set(queued)  # the hash and the sorted sets agree
        for w in set(joined_through) - set(paired) - left:
            # every wallet neither paired nor gone is still waiting, unless its process died
            assert w in queued or joined_through[w] is nodes[2]
        # no live entry is left waiting in a tier with another live entry: the sweeps paired them
        for tier in ("bronze", "silver"):
            live = [w for w, e in queued.items() if e.split("\t")[1] == tier and e.split("\t")[2] != "c"]
            assert len(live) <= 1
    finally:
        stop(nodes)


async def _zrange(r, key):
    return await r.zrange(key, 0, -1)


async def test_two_live_processes_under_one_name_are_reported(redis_url):
    url, prefix = redis_url
    first, second = await registered(url, prefix, ["same", "same"])  # e.g. workers without a shard
    try:
        await first._call(first._beat, {}, [])
        assert first.stats.get("name_clashes") == 1 and first.health()["name_clashes"] == 1
    finally:
        stop([first, second])


async def test_a_stalled_process_queues_its_dropped_wallets_again(redis_url):
    """A process that stalled past its registry TTL had its entries dropped
    by another's pairing; back, its heartbeat queues its still-connected
    wallets again (not the ones gone meanwhile), and they get paired."""
    url, prefix = redis_url
    a, b = await registered(url, prefix, ["a", "b"])
    try:
        a.server.gateway.sessions.by_wallet["still"] = {"s": FakeSession()}
        a.server.gateway.sessions.by_wallet["went"] = {"s": FakeSession(connected=False)}
        await a.join("still", "roast", "bronze")
        await a.join("went", "roast", "silver")
        r = await a._client_sync()
        await a._call(_delete, r, a.k("node:a"))  # a stalls: its key expires
        await b.join("x", "roast", "bronze")
        await b.join("y", "roast", "silver")
        assert pairs_of([a, b]) == []  # a's entries were dropped, not paired
        await a._call(a._beat, {}, [])  # a is back
        assert await a.requeue_dropped() == 1
        assert pairs_of([a, b]) == [("x", "still")]
        assert await a.requeue_dropped() == 0  # taken once
    finally:
        stop([a, b])


async def test_a_process_registering_anew_rewrites_its_directory(redis_url, nursery):
    """Redis lost the keys (a restart, or a stall past their TTL): the next
    heartbeat registers again and writes the directory again."""
    url, prefix = redis_url
    a = make(url, prefix, "a", heartbeat_ms=100)
    a.server.state.matches["ro-5"] = type("M", (), {"mode": "roast", "players": ["p1", "p2"]})()
    await a.start(nursery, a.server)
    r = await a._client_sync()
    with trio.fail_after(5):
        while not await a._call(_hgetall, r, a.k("match:ro-5")):
            await trio.sleep(0.02)
    await a._call(_delete, r, a.k("node:a"))
    await a._call(_delete, r, a.k("match:ro-5"))
    with trio.fail_after(5):
        while not await a._call(_hgetall, r, a.k("match:ro-5")):
            await trio.sleep(0.02)
    assert (await a._call(_hgetall, r, a.k("node:a")))[b"instance"] == a.instance.encode()
    nursery.cancel_scope.cancel()
