"""Redis (the real server on this machine, under a key prefix of its own): the
mirrored keys, and the server degrading, not failing, while Redis is away."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs
import trio

from arena.server import ArenaServer
from conftest import make_config, player, wait_until
from tcp_proxy import TcpProxy


def redis_cfg(tmp_path, url, prefix, **roast):
    cfg = make_config(tmp_path, roast=roast or None)
    return attrs.evolve(cfg, redis=attrs.evolve(cfg.redis, url=url, key_prefix=prefix))


async def rcall(url, fn):
    import redis

    def go():
        r = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
        try:
            return fn(r)
        finally:
            r.close()

    return await trio.to_thread.run_sync(go)


async def test_mirrored_keys(nursery, tmp_path, redis_url):
    url, prefix = redis_url
    srv = ArenaServer(redis_cfg(tmp_path, url, prefix))
    port = await nursery.start(srv.run)
    ws = f"ws://127.0.0.1:{port}/v1"
    async with player(ws) as a, player(ws) as b, player(ws) as c:
        await c.queue("silver")
        await wait_until(lambda: srv.persistence.redis.connected, timeout=10)

        async def queue_in_redis():
            return await rcall(url, lambda r: r.zrange(f"{prefix}matchmaking:silver", 0, -1))

        with trio.fail_after(10):
            while await queue_in_redis() != [c.wallet]:
                await trio.sleep(0.05)
        with trio.fail_after(15):
            while True:
                sess = await rcall(url, lambda r: (r.hgetall(f"{prefix}session:{a.wallet}"),
                                                    r.ttl(f"{prefix}session:{a.wallet}")))
                if sess[0]:
                    break
                await trio.sleep(0.1)
        assert a.session in sess[0] and 0 < sess[1] <= 300
        # rate-limit counters: one per wallet and request type, summed per second
        for _ in range(3):
            await a.balance()
        counters = await rcall(url, lambda r: list(r.scan_iter(f"{prefix}ratelimit:{a.wallet}:*")))
        with trio.fail_after(5):
            while not counters:
                await trio.sleep(0.05)
                counters = await rcall(url, lambda r: list(r.scan_iter(f"{prefix}ratelimit:{a.wallet}:*")))
        await a.queue("bronze")
        await b.queue("bronze")
        _, found = await a.next_event("match.found")
        match = found["match"]
        await a.pay_entry(match)
        await b.pay_entry(match)
        await a.next_event("battle:round_start", match=match)
        with trio.fail_after(10):
            while True:
                h = await rcall(url, lambda r: r.hgetall(f"{prefix}battle:{match}"))
                if h.get("phase") in ("countdown", "recording"):
                    break
                await trio.sleep(0.05)
        assert h["player1"] == a.wallet and h["player2"] == b.wallet and h["tier"] == "bronze"
        assert h["entry_fee"] == "100" and h["round"] == "1"
        for rnd in (1, 2, 3):
            await wait_until(lambda: srv.state.matches[match].phase == "recording"
                             and srv.state.matches[match].round == rnd, timeout=15)
            await a.submit(match, rnd, "Your comebacks are so weak even your echo gives up halfway!")
            await b.submit(match, rnd, "meh")
        _, end = await a.next_event("battle:ended", match=match, timeout=15)
        with trio.fail_after(10):
            while await rcall(url, lambda r: r.exists(f"{prefix}battle:{match}")):
                await trio.sleep(0.05)
        board = await rcall(url, lambda r: r.zrange(f"{prefix}leaderboard", 0, -1, withscores=True))
        assert (end["winnerId"], 1.0) in board
    health = srv.health()
    assert health["persistence"]["redis"]["connected"] is True
    assert health["side_tasks"]["redis"]["state"] == "active"


async def test_redis_away_degrades_then_resyncs(nursery, tmp_path, redis_url):
    url, prefix = redis_url
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname, parts.port or 6379)
    pport = await nursery.start(proxy.run)
    proxy.cut()
    srv = ArenaServer(redis_cfg(tmp_path, f"redis://127.0.0.1:{pport}/0", prefix))
    port = await nursery.start(srv.run)  # starts without Redis
    ws = f"ws://127.0.0.1:{port}/v1"
    async with player(ws) as a, player(ws) as b:
        await wait_until(lambda: srv.supervisors["redis"].state != "active", timeout=15)
        h = srv.health()
        assert h["persistence"]["redis"]["connected"] is False
        assert "in-process" in h["persistence"]["redis"]["fallback"]
        # the game goes on: sessions and rate limits are the process's own
        await a.queue("bronze")
        await b.queue("bronze")
        _, found = await a.next_event("match.found")
        match = found["match"]
        assert await a.pay_entry(match) == "confirmed"
        await b.pay_entry(match)
        await a.next_event("battle:round_start", match=match)
        proxy.restore()
        await wait_until(lambda: srv.persistence.redis.connected, timeout=20)
        with trio.fail_after(10):
            while not await rcall(url, lambda r: r.exists(f"{prefix}battle:{match}")):
                await trio.sleep(0.05)
        with trio.fail_after(10):
            while not await rcall(url, lambda r: r.exists(f"{prefix}session:{a.wallet}")):
                await trio.sleep(0.05)
        assert srv.persistence.redis.stats["resyncs"] >= 1
        await wait_until(lambda: srv.supervisors["redis"].state == "active", timeout=10)
