"""kill -9 at any moment loses nothing and repeats nothing.

Six bots play roast battles against `python -m arena serve` in a child
process; a killer SIGKILLs the server at chosen moments (between the two
entry payments of a battle, mid-round, around the payout) and at random
times, and restarts it on the same store. The bots reconnect and
`session.resume`. At the end every battle has finished or been refunded,
money is conserved to the base unit over every account (escrow and fee
accounts included), no escrow holds anything, and no battle was paid twice.
Run on the embedded store and on PostgreSQL.
"""

from __future__ import annotations

import random

import pytest
import trio

from crash_harness import Bot, Moments, ServerProcess, check_money, free_port, killer, read_store, write_config

pytestmark = pytest.mark.slow

PLAN = ["between_entries", "mid_round", "payout", "random", "between_entries", "mid_round", "payout", "random"]


async def crash_run(tmp_path, store_cfg: dict, make_store, *, seed: int, bots: int = 6, battles: int = 3,
                    kill=None, min_kills: int = 4):
    rnd = random.Random(seed)
    port = free_port()
    config = write_config(tmp_path, port, store_cfg)
    server = ServerProcess(config, port, tmp_path)
    await server.start()
    moments = Moments()
    players = [Bot(f"bot{i}", server, moments, battles) for i in range(bots)]
    stop = trio.Event()
    kills: list[str] = []
    try:
        with trio.fail_after(240):
            async with trio.open_nursery() as nursery:
                async def kill_task():
                    if kill is not None:
                        kills.extend(await kill(server, moments, rnd, stop))
                    else:
                        kills.extend(await killer(server, moments, PLAN, rnd, stop))

                nursery.start_soon(kill_task)
                async with trio.open_nursery() as players_nursery:
                    for p in players:
                        players_nursery.start_soon(p.run)
                stop.set()
        # One more death right at the end, then let recovery finish what was in flight.
        server.kill()
        await server.start()
        await trio.sleep(3)
        server.kill()
    except BaseException:
        server.kill()
        print(server.log_tail())
        for p in players:
            print(p.name, p.wallet, p.log[-15:])
        raise

    state, book, battle_rows, outbox, rec = await read_store(make_store())
    assert len(kills) >= min_kills, f"only {kills} kills happened"
    assert server.kills >= len(kills) + 1
    # every battle finished or was refunded: nothing live, nothing unsettled
    assert state.matches == {}, f"live battles after the run: {list(state.matches)}"
    assert state.unsettled == {}, f"unsettled money effects: {state.unsettled}"
    assert not [o for o in outbox if o["kind"] == "Settle" and o["done_tick"] is None]
    assert battle_rows and all(b["status"] == "ended" for b in battle_rows), battle_rows
    for p in players:
        assert len(p.done) == battles
    summary = check_money(book, [p.wallet for p in players], battle_rows)
    assert summary["payouts"] + sum(1 for b in battle_rows if b["reason"] != "completed" or not b["winner"]) >= 1
    return kills, summary, battle_rows


async def test_kill_9_anywhere_embedded(tmp_path):
    from arena.persistence.sqlite import SqliteStore

    path = tmp_path / "arena.sqlite"
    kills, summary, battles = await crash_run(
        tmp_path, {"kind": "embedded", "path": str(path)}, lambda: SqliteStore(path), seed=1)
    print("kills:", kills, "summary:", summary, "battles:", [(b["reason"], b["winner"] is not None, b["score1"], b["score2"]) for b in battles])


async def test_kill_9_anywhere_postgres(tmp_path, pg_schema):
    from arena.persistence.postgres import PostgresStore

    dsn = pg_schema
    import subprocess
    import sys

    from crash_harness import ROOT

    config = write_config(tmp_path, 1, {"kind": "postgres", "dsn": dsn})
    out = subprocess.run([sys.executable, "-m", "arena", "migrate", "--config", str(config)],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    kills, summary, battles = await crash_run(
        tmp_path, {"kind": "postgres", "dsn": dsn}, lambda: PostgresStore(dsn), seed=2)
    print("kills:", kills, "summary:", summary, "battles:", [(b["reason"], b["winner"] is not None, b["score1"], b["score2"]) for b in battles])


async def test_kill_9_while_postgres_is_down(tmp_path, pg_schema, nursery):
    """PostgreSQL becomes unreachable mid-battle (journal buffering, payouts held),
    and the server is killed before it comes back: what was only in memory is
    gone, and still no money is lost or paid twice."""
    import subprocess
    import sys
    from urllib.parse import urlsplit

    from arena.persistence.postgres import PostgresStore
    from crash_harness import ROOT
    from tcp_proxy import TcpProxy

    parts = urlsplit(pg_schema)
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    pport = await nursery.start(proxy.run)
    dsn = pg_schema.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{pport}")
    config = write_config(tmp_path, 1, {"kind": "postgres", "dsn": pg_schema})  # migrate directly
    out = subprocess.run([sys.executable, "-m", "arena", "migrate", "--config", str(config)],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr

    async def outage_then_kill(server, moments, rnd, stop):
        done = []
        for moment in ("mid_round", "payout", "between_entries"):
            if stop.is_set():
                break
            await moments.wait(moment, timeout=20)
            proxy.cut()
            await trio.sleep(rnd.uniform(0.3, 1.5))
            server.kill()
            proxy.restore()
            done.append(f"outage+{moment}")
            await trio.sleep(rnd.uniform(0, 0.3))
            await server.start()
        return done

    kills, summary, battles = await crash_run(
        tmp_path, {"kind": "postgres", "dsn": dsn}, lambda: PostgresStore(pg_schema), seed=3,
        kill=outage_then_kill, min_kills=2)
    print("kills:", kills, "summary:", summary)
