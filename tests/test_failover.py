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


async def serving(nodes: list[ServerProcess], timeout: float = 60) -> ServerProcess:
    """The node whose port is open (the one holding the lease)."""
    with trio.fail_after(timeout):
        while True:
            for node in nodes:
                if node.proc is not None and node.proc.poll() is None:
                    try:
                        stream = await trio.open_tcp_stream("127.0.0.1", node.port)
                    except OSError:
                        continue
                    await stream.aclose()
                    return node
            await trio.sleep(0.05)


async def test_three_nodes_random_kills_and_pauses(tmp_path, pg_schema):
    """Three nodes on one world; at random moments of the battles the serving
    node is killed or paused, and whoever claims the lease next serves on.
    A killed node is started again (as a standby); a paused one is resumed
    after the takeover, must stop by itself, and is started again too.
    Every battle is finished, each paid once, money conserved."""
    config = write_config(tmp_path, 1, {"kind": "postgres", "dsn": pg_schema})
    out = subprocess.run([sys.executable, "-m", "arena", "migrate", "--config", str(config)],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    rnd = random.Random(17)
    nodes = [node_config(tmp_path, f"node-{c}", pg_schema) for c in "abc"]
    await nodes[0].start()
    for node in nodes[1:]:
        node.proc = None
    target = Failover(nodes[0])
    moments = Moments()
    bots = [Bot(f"bot{i}", target, moments, 3) for i in range(4)]
    faults: list[str] = []
    fenced_stops = 0

    async def start_standby(node: ServerProcess, nursery) -> None:
        nursery.start_soon(lambda: node.start(timeout=180))  # returns once it holds the lease

    try:
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                for node in nodes[1:]:
                    await start_standby(node, nursery)
                    await trio.sleep(0.3)

                async def chaos():
                    nonlocal fenced_stops
                    for _ in range(4):
                        moment = rnd.choice(["between_entries", "mid_round", "payout", "random"])
                        if moment == "random":
                            await trio.sleep(rnd.uniform(0.3, 2.0))
                        elif not await moments.wait(moment, timeout=30):
                            break  # the battles are over
                        await trio.sleep(rnd.uniform(0, 0.1))
                        holder = await serving(nodes)
                        how = rnd.choice(["kill", "pause"])
                        faults.append(f"{how} {holder.config.parent.name} at {moment}")
                        if how == "kill":
                            holder.kill()
                        else:
                            holder.proc.send_signal(signal.SIGSTOP)
                        others = [n for n in nodes if n is not holder]
                        target.node = await serving(others)
                        if how == "pause":
                            holder.proc.send_signal(signal.SIGCONT)
                            with trio.fail_after(30):
                                while holder.proc.poll() is None:
                                    await trio.sleep(0.05)
                            assert "taken over" in holder.log_tail(20_000), holder.log_tail()
                            fenced_stops += 1
                        await start_standby(holder, nursery)

                nursery.start_soon(chaos)
                async with trio.open_nursery() as players:
                    for p in bots:
                        players.start_soon(p.run)
                nursery.cancel_scope.cancel()
        for node in nodes:
            node.kill()
    except BaseException:
        for node in nodes:
            node.kill()
            print(node.log_tail())
        print("faults:", faults)
        for p in bots:
            print(p.name, p.wallet, p.log[-15:])
        raise

    from arena.persistence.postgres import PostgresStore

    # Let one node finish what was in flight (payouts of the last battles), then check.
    last = nodes[0]
    await last.start(timeout=60)
    await trio.sleep(3)
    last.kill()
    state, book, battle_rows, outbox, rec = await read_store(PostgresStore(pg_schema))
    assert len(faults) >= 2, f"only {faults}"
    assert state.matches == {} and state.unsettled == {}, (list(state.matches), state.unsettled)
    assert not [o for o in outbox if o["kind"] == "Settle" and o["done_tick"] is None]
    assert battle_rows and all(r["status"] == "ended" for r in battle_rows), battle_rows
    for p in bots:
        assert len(p.done) == 3
    summary = check_money(book, [p.wallet for p in bots], battle_rows)
    print("faults:", faults, "fenced stops:", fenced_stops, "summary:", summary)


async def test_a_killed_node_s_battles_finish_on_the_standby(tmp_path, pg_schema):
    await failover_run(tmp_path, pg_schema, how="kill", seed=11)


async def test_a_paused_node_that_wakes_after_the_takeover_cannot_write_and_stops(tmp_path, pg_schema):
    await failover_run(tmp_path, pg_schema, how="pause", seed=12)
