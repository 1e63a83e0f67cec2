"""Measure the persistence paths on this machine (numbers for docs/PERSISTENCE.md).

    python -m arena.benchkit.store_bench --dsn postgresql://postgres@127.0.0.1:5432/test

- PostgreSQL from trio: the chosen bridge (a dedicated asyncio thread,
  `run_coroutine_threadsafe`, woken through the trio token) against parking a
  worker thread per call (`trio.to_thread` + `future.result()`): sequential
  round trips, and rows/s for executemany and COPY in batches of 1,000.
- One tick's transaction as the store writes it (journal row + outbox + meta),
  on PostgreSQL and on SQLite (synchronous FULL and NORMAL).
- Snapshot cost (plain data + MessagePack + state hash) for N live battles.

Writes into a scratch schema / file and removes it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time

import trio

from arena.persistence.aiobridge import AsyncioThread


def _fmt(xs):
    xs = sorted(xs)
    return f"p50 {statistics.median(xs) * 1000:.3f} ms, p99 {xs[int(len(xs) * 0.99) - 1] * 1000:.3f} ms"


async def bench_pg(dsn: str, n: int = 2000) -> dict:
    import asyncpg

    bridge = AsyncioThread("bench")
    bridge.start()
    schema = f"arena_bench_{secrets.token_hex(4)}"
    out = {}

    async def mkpool():
        return await asyncpg.create_pool(dsn, min_size=2, max_size=4, server_settings={"search_path": schema})

    async def setup():
        c = await asyncpg.connect(dsn)
        await c.execute(f'CREATE SCHEMA "{schema}"')
        await c.execute(f'CREATE TABLE "{schema}".t (id BIGINT PRIMARY KEY, b BYTEA)')
        await c.close()

    await bridge.call(setup)
    pool = await bridge.call(mkpool)

    async def one():
        async with pool.acquire() as c:
            return await c.fetchval("SELECT 1")

    # 1. chosen bridge: sequential round trips
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        await bridge.call(one)
        lat.append(time.perf_counter() - t0)
    out["bridge_call"] = (n / sum(lat), _fmt(lat))

    # 2. a parked worker thread per call
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        await trio.to_thread.run_sync(lambda: asyncio.run_coroutine_threadsafe(one(), bridge.loop).result())
        lat.append(time.perf_counter() - t0)
    out["to_thread_call"] = (n / sum(lat), _fmt(lat))

    # 3. 100 concurrent callers through the chosen bridge
    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(100):
            async def worker():
                for _ in range(n // 100):
                    await bridge.call(one)
            nursery.start_soon(worker)
    out["bridge_concurrent_100"] = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(100):
            async def tworker():
                for _ in range(n // 100):
                    await trio.to_thread.run_sync(
                        lambda: asyncio.run_coroutine_threadsafe(one(), bridge.loop).result())
            nursery.start_soon(tworker)
    out["to_thread_concurrent_100"] = n / (time.perf_counter() - t0)

    # 4. batches
    rows = [(i, b"x" * 64) for i in range(1000)]

    async def many(base):
        async with pool.acquire() as c:
            async with c.transaction():
                await c.executemany("INSERT INTO t (id, b) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                                    [(base + i, b) for i, b in rows])

    async def copy(base):
        async with pool.acquire() as c:
            await c.copy_records_to_table("t", records=[(base + i, b) for i, b in rows])

    t0 = time.perf_counter()
    for k in range(20):
        await bridge.call(many, 1_000_000 + k * 1000)
    out["executemany_rows_per_s"] = 20_000 / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for k in range(20):
        await bridge.call(copy, 2_000_000 + k * 1000)
    out["copy_rows_per_s"] = 20_000 / (time.perf_counter() - t0)

    async def teardown():
        await pool.close()
        c = await asyncpg.connect(dsn)
        await c.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await c.close()

    await bridge.call(teardown)
    bridge.stop()
    return out


async def bench_tick_writes(dsn: str | None, n: int = 300) -> dict:
    from arena.persistence import codec, schema as _schema  # noqa: F401
    from arena.persistence.sqlite import SqliteStore
    from arena.persistence.store import TickBatch

    out = {}
    inputs = codec.encode_tick([{"t": "RoastSubmit", "session": "s" * 32, "rid": 7, "wallet": "w" * 44,
                                 "match": "ro-123456789abc", "round": 1, "text": "x" * 120,
                                 "audio_url": None, "at_ms": 0}] * 5)

    async def run(store, label):
        await store.open()
        lat = []
        for t in range(1, n + 1):
            b = TickBatch(ticks=[(t, inputs)], durable_tick=t,
                          outbox_add=[(f"score:ro-1:{t}:w", "ScoreRoast", t, b"e" * 200)])
            t0 = time.perf_counter()
            await store.write(b)
            lat.append(time.perf_counter() - t0)
        out[label] = _fmt(lat)
        await store.close()

    with tempfile.TemporaryDirectory() as tmp:
        await run(SqliteStore(os.path.join(tmp, "full.sqlite")), "sqlite_full_tick_tx")
        await run(SqliteStore(os.path.join(tmp, "normal.sqlite"), synchronous="NORMAL"), "sqlite_normal_tick_tx")
    if dsn:
        from arena.persistence.postgres import PostgresStore

        schema = f"arena_bench_{secrets.token_hex(4)}"
        sep = "&" if "?" in dsn else "?"
        store = PostgresStore(f"{dsn}{sep}search_path={schema}")
        await store.migrate()
        await run(store, "postgres_tick_tx")
        drop = PostgresStore(dsn)
        drop.bridge.start()
        await drop._with_conn(lambda c: c.execute(f'DROP SCHEMA "{schema}" CASCADE'))
        await drop.close()
    return out


def bench_snapshot(battles: int) -> dict:
    from arena.engine import inputs as I
    from arena.engine.canonical import state_hash
    from arena.engine.config import EngineConfig
    from arena.engine.core import new_state, step

    from arena.persistence import codec

    state = new_state(EngineConfig(seed=3))
    tick = 0
    wallets = [f"w{i:040d}" for i in range(battles * 2)]
    joins = [I.QueueJoin(f"s{i}", 1, w, "roast", "bronze") for i, w in enumerate(wallets)]
    for k in range(0, len(joins), 500):
        tick += 1
        step(state, tick, joins[k:k + 500])
    out = {"matches": len(state.matches)}
    t0 = time.perf_counter()
    blob = codec.dump_snapshot(state)
    out["dump_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    t0 = time.perf_counter()
    state_hash(state)
    out["hash_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    t0 = time.perf_counter()
    codec.load_snapshot(blob)
    out["load_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    out["bytes"] = len(blob)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", default=os.environ.get("ARENA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    p.add_argument("--no-pg", action="store_true")
    args = p.parse_args()
    dsn = None if args.no_pg else args.dsn
    if dsn:
        for k, v in trio.run(bench_pg, dsn).items():
            print(f"{k:28} {v[0]:10.0f}/s  {v[1]}" if isinstance(v, tuple) else f"{k:28} {v:10.0f}/s")
    for k, v in trio.run(bench_tick_writes, dsn).items():
        print(f"{k:28} {v}")
    for n in (100, 1000):
        print("snapshot", bench_snapshot(n))


if __name__ == "__main__":
    main()
