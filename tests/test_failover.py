"""Two nodes on one world: a battle survives the death of the node playing it.

Node A serves the world under the writer lease; node B, started on the same
PostgreSQL world, waits as a standby. Bots play roast battles on A; at a
chosen moment A is killed (`kill -9`) or paused (SIGSTOP). B's claim goes
through once A's lease expires; it rebuilds the world from the latest
snapshot and the journal (the same recovery as after a crash) and serves it;
the bots reconnect to B and resume their sessions, and every battle is
finished or refunded, each paid exactly once, money conserved.

A paused A that wakes up after B took over (SIGCONT) finds its lease gone:
its writes and its renewal are refused, and it stops with a message naming
the takeover, having written nothing after it.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import pytest
import trio

from crash_harness import ROOT, Bot, Moments, ServerProcess, check_money, free_port, read_store, write_config

pytestmark = pytest.mark.slow

LEASE_MS = 1500


class Failover:
    """What the bots connect to: the node serving the world now."""

    def __init__(self, node: ServerProcess):
        self.node = node

    @property
    def url(self) -> str:
        return self.node.url


def node_config(tmp_path, name: str, dsn: str):
    folder = tmp_path / name
    folder.mkdir()
    port = free_port()
    extra = f'\n[cluster]\nnode = "{name}"\nlease_ttl_ms = {LEASE_MS}\n'
    config = write_config(folder, port, {"kind": "postgres", "dsn": dsn}, extra=extra)
    return ServerProcess(config, port, folder)


async def failover_run(tmp_path, dsn: str, *, how: str, seed: int):
    config = write_config(tmp_path, 1, {"kind": "postgres", "dsn": dsn})
    out = subprocess.run([sys.executable, "-m", "arena", "migrate", "--config", str(config)],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    rnd = random.Random(seed)
    a, b = node_config(tmp_path, "node-a", dsn), node_config(tmp_path, "node-b", dsn)
    await a.start()
    target = Failover(a)
    moments = Moments()
    bots = [Bot(f"bot{i}", target, moments, 2) for i in range(4)]
    try:
        with trio.fail_after(240):
            async with trio.open_nursery() as nursery:
                b_listening = trio.Event()

                async def standby():
                    await b.start(timeout=120)  # returns once B holds the lease and listens
                    b_listening.set()

                nursery.start_soon(standby)
                await trio.sleep(1.0)
                assert not b_listening.is_set(), "the standby served the world while A held it"

                async def fail_a():
                    assert await moments.wait("mid_round", timeout=60), "no battle reached a round"
                    await trio.sleep(rnd.uniform(0, 0.2))
                    if how == "kill":
                        a.kill()
                    else:
                        a.proc.send_signal(signal.SIGSTOP)
                    target.node = b
                    with trio.fail_after(60):
                        await b_listening.wait()
                    if how == "pause":
                        a.proc.send_signal(signal.SIGCONT)  # A wakes up to a world that is no longer its own

                nursery.start_soon(fail_a)
                async with trio.open_nursery() as players:
                    for p in bots:
                        players.start_soon(p.run)
        if how == "pause":
            with trio.fail_after(30):
                while a.proc.poll() is None:
                    await trio.sleep(0.1)
            assert a.proc.returncode != 0
            assert "arena: stopped: " in a.log_tail(20_000) and "taken over" in a.log_tail(20_000), a.log_tail()
        b.kill()
    except BaseException:
        a.kill()
        b.kill()
        print(a.log_tail())
        print(b.log_tail())
        for p in bots:
            print(p.name, p.wallet, p.log[-15:])
        raise

    from arena.persistence.postgres import PostgresStore

    state, book, battle_rows, outbox, rec = await read_store(PostgresStore(dsn))
    assert state.matches == {}, f"live battles after the run: {list(state.matches)}"
    assert state.unsettled == {}, f"unsettled money effects: {state.unsettled}"
    assert not [o for o in outbox if o["kind"] == "Settle" and o["done_tick"] is None]
    assert battle_rows and all(r["status"] == "ended" for r in battle_rows), battle_rows
    for p in bots:
        assert len(p.done) == 2
    assert sum(p.reconnects for p in bots) >= len(bots), "the bots never moved to node B"
    summary = check_money(book, [p.wallet for p in bots], battle_rows)
    assert summary["payouts"] >= 1
    return summary


async def test_a_killed_node_s_battles_finish_on_the_standby(tmp_path, pg_schema):
    await failover_run(tmp_path, pg_schema, how="kill", seed=11)


async def test_a_paused_node_that_wakes_after_the_takeover_cannot_write_and_stops(tmp_path, pg_schema):
    await failover_run(tmp_path, pg_schema, how="pause", seed=12)
