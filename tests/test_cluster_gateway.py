"""The gateway's cluster paths, with two in-process servers and the real Redis.

Two `ArenaServer`s (each its own embedded world, its own port) get a
`Cluster` each on one Redis key prefix, as `[cluster] node` + `[redis]`
would give two PostgreSQL nodes (tests/test_cluster_e2e.py runs those as
processes). Shown: `queue.join` goes to the shared queue and pairs across
the two; the player connected to the other server gets a seat and claims it
over the wire; `auth.seat` refuses replayed, foreign, malformed and
out-of-order tokens with stable codes; queue.leave and a disconnect take a
wallet out of the shared queue.
"""

from __future__ import annotations

import pytest
import trio

from arena.client import ArenaRequestError, open_client
from arena.persistence.cluster import Cluster
from conftest import make_config, player


async def two_servers(nursery, tmp_path, redis_url):
    from arena.server import ArenaServer

    url, prefix = redis_url
    out = []
    for name in ("x", "y"):
        folder = tmp_path / name
        folder.mkdir()
        srv = ArenaServer(make_config(folder))
        srv.cluster = Cluster(url, node=name, advertise="", prefix=prefix, heartbeat_ms=300, seat_ttl_ms=10_000)
        srv.gateway.cluster = srv.cluster
        srv.supervisors["cluster"] = srv.cluster.supervisor
        port = await nursery.start(srv.run)
        out.append((srv, f"ws://127.0.0.1:{port}/v1"))
    await trio.sleep(0.4)  # subscribed
    return out


async def queued(cluster) -> dict:
    async def read():
        r = await cluster._client()
        return await r.hgetall(cluster.k("queued"))

    return await cluster._call(read)


async def test_paired_across_servers_and_the_seat_claimed_once(nursery, tmp_path, redis_url):
    (sx, ux), (sy, uy) = await two_servers(nursery, tmp_path, redis_url)
    async with player(ux) as p1, player(uy) as p2:
        with pytest.raises(ArenaRequestError) as err:
            await p1.queue("plastic")  # the mode's own check, before Redis
        assert err.value.code == "bad_request"
        assert await p1.queue("bronze") == {"queued": True}
        with pytest.raises(ArenaRequestError) as err:
            await p1.queue("bronze")
        assert err.value.code == "duplicate"
        assert await p2.queue("bronze") == {"queued": True}  # y pops the pair: the battle is y's
        _, found1 = await p1.next_event("match.found", timeout=10)
        _, found2 = await p2.next_event("match.found", timeout=10)
        assert "seat" not in found2 and found1["match"] == found2["match"]
        seat = found1["seat"]
        assert seat["url"] == uy and seat["node"] == "y"
        mid = found1["match"]
        assert mid in sy.state.matches and mid not in sx.state.matches

        async with open_client(ux, keypair=p1.keypair) as wrong:
            with pytest.raises(ArenaRequestError) as err:
                await wrong.claim_seat(seat["token"])  # y's seat, claimed on x: refused and kept
            assert err.value.code == "not_found"
        async with open_client(uy) as early:
            with pytest.raises(ArenaRequestError) as err:
                await early.request("auth.seat", {"token": seat["token"]})  # before hello
            assert err.value.code == "unauthenticated"
            await early.hello()
            for body in ({"token": "x" * 65}, {"token": 5}, {}, {"token": "no spaces allowed here"}):
                with pytest.raises(ArenaRequestError) as err:
                    await early.request("auth.seat", body)
                assert err.value.code == "bad_request"
        async with open_client(uy, keypair=p1.keypair) as there:
            reply = await there.claim_seat(seat["token"])
            assert reply["match"] == mid and reply["user"]["wallet"] == p1.wallet
            _, snap = await there.next_event("match.snapshot", match=mid, timeout=5)
            assert snap["state"]["phase"] == "entry"
            with pytest.raises(ArenaRequestError) as err:
                await there.request("auth.seat", {"token": seat["token"]})  # logged in already
            assert err.value.code == "wrong_state"
            async with open_client(uy) as replay:
                await replay.hello()
                with pytest.raises(ArenaRequestError) as err:
                    await replay.request("auth.seat", {"token": seat["token"]})  # used up
                assert err.value.code == "auth_failed"
            await there.faucet()
            await there.pay_entry(mid)  # the entry fee is paid in y's world
            await wait_for(lambda: p1.wallet in sy.state.matches[mid].paid)
        # the match directory names y as the owner, and any server answers match.locate from it
        entry = await sy.cluster._call(_hgetall, sy.cluster, f"match:{mid}")
        assert entry[b"node"] == b"y" and entry[b"url"] == uy.encode()
        assert await p1.locate(mid) == {"match": mid, "url": uy, "node": "y", "world": sy.state.world,
                                        "mode": "roast"}
        for bad in ("ro-nothing", "", "x" * 128):
            with pytest.raises(ArenaRequestError) as err:
                await p1.locate(bad)
            assert err.value.code == "not_found"
        with pytest.raises(ArenaRequestError) as err:
            await p1.request("match.locate", {"match": 7})
        assert err.value.code == "bad_request"


async def _hgetall(cluster, key):
    r = await cluster._client()
    return await r.hgetall(cluster.k(key))


async def wait_for(pred, timeout=5.0):
    with trio.fail_after(timeout):
        while not pred():
            await trio.sleep(0.02)


async def test_leave_and_disconnect_take_the_wallet_out(nursery, tmp_path, redis_url):
    (sx, ux), _ = await two_servers(nursery, tmp_path, redis_url)
    async with player(ux) as p1:
        await p1.queue("silver")
        assert p1.wallet.encode() in await queued(sx.cluster)
        assert await p1.leave_queue() == {"queued": False}
        assert p1.wallet.encode() not in await queued(sx.cluster)
        await p1.queue("silver")
        assert p1.wallet.encode() in await queued(sx.cluster)
    # the connection closed: the entry goes
    for _ in range(100):
        if p1.wallet.encode() not in await queued(sx.cluster):
            break
        await trio.sleep(0.05)
    assert p1.wallet.encode() not in await queued(sx.cluster)


async def test_seat_request_on_a_server_outside_any_cluster(arena_server):
    _, url = await arena_server()
    async with open_client(url) as c:
        await c.hello()
        with pytest.raises(ArenaRequestError) as err:
            await c.request("auth.seat", {"token": "A" * 32})
        assert err.value.code == "not_allowed"
        await c.login()
        with pytest.raises(ArenaRequestError) as err:
            await c.locate("ro-1")
        assert err.value.code == "not_allowed"
