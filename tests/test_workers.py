"""`serve --workers N`: shard worlds served by worker processes, re-homed when a worker dies.

Real processes on the real PostgreSQL: a node (`python -m arena serve
--workers N`) is a supervisor with N shard workers and `standby_workers`
standbys. Each serving worker holds one shard world (`<schema>_s<k>`) under
that shard's writer lease and listens on `port + 1 + k` and on the shared
public port. Bots play roast battles on a shard's own port; when the worker
serving it is killed (`kill -9`) or paused (SIGSTOP), a standby (of this
node or another) claims the shard once its lease expires, recovers it and
serves on that port; every battle is finished, each paid exactly once.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from arena.benchkit.serverproc import free_port_range
from arena.config import load_config
from arena.persistence.shards import claim_order, shard_dsn, shard_schema
from arena.workers import WorkersRefused, worker_count
from crash_harness import ROOT, Bot, Moments, check_money, read_store, write_config

LEASE_MS = 1500


# --- no services ---------------------------------------------------------------------------
def _cfg(tmp_path, text: str):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return load_config(p)


def test_worker_count_single_process_unless_asked(tmp_path):
    pg = '[store]\nkind = "postgres"\ndsn = "postgresql://u@h/db?search_path=w"\n'
    assert worker_count(_cfg(tmp_path, pg), None) is None  # no shards configured: one process, one world
    assert worker_count(_cfg(tmp_path, pg), 1) is None
    assert worker_count(_cfg(tmp_path, pg), 3) == 3
    sharded = pg + "[cluster]\nshards = 4\n"
    assert worker_count(_cfg(tmp_path, sharded), None) == (os.cpu_count() or 1)
    assert worker_count(_cfg(tmp_path, sharded), 1) == 1


def test_workers_refused_on_the_embedded_store_and_chain_ledgers(tmp_path):
    embedded = _cfg(tmp_path, f'[store]\nkind = "embedded"\npath = "{tmp_path / "a.sqlite"}"\n')
    assert worker_count(embedded, None) is None and worker_count(embedded, 1) is None
    with pytest.raises(WorkersRefused, match="needs \\[store\\] kind = \"postgres\""):
        worker_count(embedded, 2)
    with pytest.raises(WorkersRefused, match="at least one"):
        worker_count(embedded, 0)
    chain = _cfg(tmp_path, '[store]\nkind = "postgres"\ndsn = "postgresql://u@h/db"\n[ledger]\nkind = "bsv"\n')
    with pytest.raises(WorkersRefused, match="records"):
        worker_count(chain, 2)


def test_serve_workers_on_sqlite_says_why(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[store]\nkind = "embedded"\npath = "{tmp_path / "a.sqlite"}"\n')
    out = subprocess.run([sys.executable, "-m", "arena", "serve", "--config", str(config), "--workers", "2"],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "cannot start: --workers 2 needs [store] kind = \"postgres\"" in out.stderr


def test_worker_urls(tmp_path):
    import attrs

    from arena.workers import worker_url

    cfg = _cfg(tmp_path, '[server]\nhost = "127.0.0.1"\nport = 7000\n')
    assert worker_url(cfg, 7000, 0) == "ws://127.0.0.1:7001/v1"
    assert worker_url(cfg, 7000, 3) == "ws://127.0.0.1:7004/v1"
    wild = attrs.evolve(cfg, server=attrs.evolve(cfg.server, host="0.0.0.0"))
    assert worker_url(wild, 7000, 1) == f"ws://{socket.gethostname()}:7002/v1"
    if hasattr(cfg.cluster, "advertise"):  # the cluster registry's key, where this build has it
        adv = attrs.evolve(cfg, cluster=attrs.evolve(cfg.cluster, advertise="wss://play.example:443/v1"))
        assert worker_url(adv, 7000, 2) == "wss://play.example:7003/v1"


def test_serve_workers_needs_a_fixed_port(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[server]\nport = 0\n[store]\nkind = "postgres"\ndsn = "postgresql://u@127.0.0.1:9/db"\n')
    out = subprocess.run([sys.executable, "-m", "arena", "serve", "--config", str(config), "--workers", "2"],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "needs a fixed [server] port" in out.stderr, out.stderr


def test_shard_schemas_and_dsns():
    dsn = "postgresql://postgres@127.0.0.1:5432/test?search_path=prod&application_name=x"
    assert shard_schema(dsn, 0) == "prod_s0" and shard_schema(dsn, 12) == "prod_s12"
    out = shard_dsn(dsn, 3)
    assert "search_path=prod_s3" in out and "application_name=x" in out and "search_path=prod&" not in out
    assert shard_schema("postgresql://h/db", 1) == "arena_s1"
    with pytest.raises(ValueError):
        shard_schema("postgresql://h/db?search_path=a%22b", 0)
    with pytest.raises(ValueError):
        shard_schema(dsn, -1)
    assert claim_order(4, 2) == [2, 3, 0, 1]
    assert sorted(claim_order(5, 7)) == list(range(5))


# --- real processes on PostgreSQL -----------------------------------------------------------
@pytest.fixture
def pg_base():
    """A DSN whose search_path is a unique base name; every `<base>_s<k>` shard schema is dropped after."""
    import services

    base = services.require("postgres")
    schema = services.unique_name("arena_w")
    yield services.dsn_with_schema(base, schema)
    for k in range(8):
        services.drop_schema(base, f"{schema}_s{k}")


class Node:
    """One `python -m arena serve --workers N` process (the supervisor) and its log."""

    def __init__(self, tmp_path: Path, name: str, dsn: str, port: int, shards: int, workers: int,
                 standby: int = 1):
        self.name = name
        self.folder = tmp_path / name
        self.folder.mkdir()
        extra = (f'\n[cluster]\nnode = "{name}"\nlease_ttl_ms = {LEASE_MS}\nshards = {shards}\n'
                 f"standby_workers = {standby}\n")
        self.config = write_config(self.folder, port, {"kind": "postgres", "dsn": dsn}, extra=extra)
        self.port = port
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.folder / f"node-{self.starts}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arena", "serve", "--config", str(self.config), "--workers", str(self.workers)],
            cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=True)
        log.close()

    def log(self) -> str:
        return "\n".join((self.folder / f"node-{i}.log").read_text(errors="replace")
                         for i in range(1, self.starts + 1))

    def lines(self) -> list[str]:
        return [ln for ln in self.log().splitlines() if ln.startswith("arena: ")]

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    async def shutdown(self) -> None:
        """SIGTERM, up to 30 s for a clean stop, then whatever is left killed."""
        self.stop()
        with trio.move_on_after(30):
            while self.proc is not None and self.proc.poll() is None:
                await trio.sleep(0.1)
        self.kill_all()

    def kill_all(self) -> None:
        """The supervisor's whole process group, at once (a node lost)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


class ShardURL:
    def __init__(self, port: int):
        self.url = f"ws://127.0.0.1:{port}/v1"


async def leases(dsn: str, shards: int) -> dict:
    from arena.persistence.shards import holders

    return await holders(dsn, shards)


def pid_of(row) -> int | None:
    m = re.search(r"pid=(\d+)", row["owner"]) if row else None
    return int(m.group(1)) if m else None


async def served(dsn: str, shards: int, *, timeout: float = 90, not_by: set | None = None) -> dict[int, int]:
    """Wait until every shard has a live lease holder listening on its port: {shard: pid}."""
    with trio.fail_after(timeout):
        while True:
            rows = await leases(dsn, shards)
            pids = {k: pid_of(r) for k, r in rows.items() if r is not None and r["left_ms"] > 0}
            if len(pids) == shards and not (set(pids.values()) & (not_by or set())):
                return pids
            await trio.sleep(0.1)


async def port_open(port: int, timeout: float = 60) -> None:
    with trio.fail_after(timeout):
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                await stream.aclose()
                return
            except OSError:
                await trio.sleep(0.05)


async def world_of(port: int) -> tuple[str, int]:
    """(the server's name and tick) from `hello` on a port: proof that something serves there."""
    from arena.client import open_client

    async with open_client(f"ws://127.0.0.1:{port}/v1", connect_timeout=3) as c:
        reply = await c.hello()
    return reply["server"], reply["tick"]


async def world_ids(dsn: str, shards: int) -> list[str]:
    from arena.persistence.postgres import PostgresStore

    out = []
    for k in range(shards):
        store = PostgresStore(shard_dsn(dsn, k))
        store.bridge.start()
        try:
            out.append(await store._with_conn(lambda conn: conn.fetchval("SELECT v FROM meta WHERE k = 'world'")))
        finally:
            await store.close()
    return out


async def resume_is_redirected(port: int) -> None:
    """A session of shard 1 resumed on shard 0's worker: told where it is, then resumed there."""
    from solders.keypair import Keypair

    from arena.client import ArenaRequestError, open_client

    kp = Keypair()
    async with open_client(f"ws://127.0.0.1:{port + 2}/v1", keypair=kp, connect_timeout=3) as c:
        await c.hello()
        await c.login(kp)
        session = c.session
    with trio.fail_after(20):
        while True:  # the session reaches shard 1's store with the next durable tick
            async with open_client(f"ws://127.0.0.1:{port + 1}/v1", connect_timeout=3) as c:
                await c.hello()
                with pytest.raises(ArenaRequestError) as err:
                    await c.resume(session, 0)
            if "url" in err.value.body:
                break
            assert err.value.code == "not_found"
            await trio.sleep(0.1)
    assert err.value.code == "not_found"
    assert err.value.body["shard"] == 1 and err.value.body["url"] == f"ws://127.0.0.1:{port + 2}/v1"
    async with open_client(err.value.body["url"], connect_timeout=3) as c:
        await c.hello()
        await c.resume(session, 0)
    async with open_client(f"ws://127.0.0.1:{port + 1}/v1", connect_timeout=3) as c:
        await c.hello()
        for sid in ("no-such-session-at-all", "x" * 10_000, "not a session id!", "\x00" * 20):
            with pytest.raises(ArenaRequestError) as err:
                await c.resume(sid, 0)
            assert err.value.code in ("not_found", "bad_request") and "url" not in err.value.body
        # a connection gets a few lookups in other shards, then the plain answer
        for _ in range(3):
            with pytest.raises(ArenaRequestError) as err:
                await c.resume(session, 0)
        assert err.value.code == "not_found" and "url" not in err.value.body


async def test_two_workers_serve_two_shard_worlds_and_stop_cleanly(tmp_path, pg_base):
    port = free_port_range(4)
    node = Node(tmp_path, "node-a", pg_base, port, shards=2, workers=2)
    node.start()
    try:
        pids = await served(pg_base, 2)
        for k in range(2):
            await port_open(port + 1 + k)
            await world_of(port + 1 + k)
        await world_of(port)  # the public port: whichever worker the kernel picks answers
        await resume_is_redirected(port)
        ids = await world_ids(pg_base, 2)
        assert all(ids) and ids[0] != ids[1], ids
        assert len(set(pids.values())) == 2 and node.proc.pid not in pids.values()
        # the third worker is a standby: it holds nothing
        with trio.fail_after(30):
            while not any("standby" in ln for ln in node.log().splitlines()):
                await trio.sleep(0.1)
        node.stop(signal.SIGTERM)
        with trio.fail_after(40):
            while node.proc.poll() is None:
                await trio.sleep(0.1)
        assert node.proc.returncode == 0, node.log()[-3000:]
        rows = await leases(pg_base, 2)
        assert all(r["left_ms"] < 0 for r in rows.values()), rows  # leases ended at the stop, not left to expire
        lines = node.lines()
        assert any("worker 0 serves shard" in ln or "worker 1 serves shard" in ln for ln in lines), lines
        assert sum(" stopped (exit status 0)" in ln for ln in lines) == 3, lines
        assert lines[-1] == "arena: stopped: every worker has ended"
        for pid in pids.values():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        node.kill_all()


async def test_migrate_creates_every_shard_and_a_worker_that_cannot_start_stops_the_node(tmp_path, pg_base):
    port = free_port_range(4)
    node = Node(tmp_path, "node-a", pg_base, port, shards=2, workers=2)
    out = subprocess.run([sys.executable, "-m", "arena", "migrate", "--config", str(node.config)],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for k in range(2):
        assert f"shard {k} ({shard_schema(pg_base, k)}): applied 1, 2, 3, 4, 5, 6, 7" in out.stdout, out.stdout
    assert (await leases(pg_base, 2)) == {0: None, 1: None}  # migrated, claimed by nobody yet
    # A chain ledger without its escrow key: each worker claims a shard, cannot build its server, says so.
    text = node.config.read_text().replace("[ledger]\n", '[ledger]\nkind = "solana"\nrecords = "store"\nrpc_url = "http://127.0.0.1:9"\n'
                                            'mint = "So11111111111111111111111111111111111111112"\n', 1)
    node.config.write_text(text)
    node.start()
    try:
        with trio.fail_after(60):
            while node.proc.poll() is None:
                await trio.sleep(0.1)
        assert node.proc.returncode == 2, node.log()[-3000:]
        lines = node.lines()
        assert any("cannot start: [ledger] escrow_keypair" in ln for ln in lines), lines
        assert any("refused to start (exit status 2): stopping the node" in ln for ln in lines), lines
        assert sum("started (pid" in ln for ln in lines) == 3, lines  # no worker started after worker
        rows = await leases(pg_base, 2)
        assert all(r is None or r["left_ms"] < 0 for r in rows.values()), rows  # nothing left held
    finally:
        node.kill_all()


async def _play(bots) -> None:
    async with trio.open_nursery() as players:
        for p in bots:
            players.start_soon(p.run)


async def check_shard(dsn: str, k: int, bots, battles: int) -> dict:
    from arena.persistence.postgres import PostgresStore

    state, book, battle_rows, outbox, rec = await read_store(PostgresStore(shard_dsn(dsn, k)))
    assert state.matches == {}, f"shard {k}: live battles after the run: {list(state.matches)}"
    assert state.unsettled == {}, f"shard {k}: unsettled money effects: {state.unsettled}"
    assert not [o for o in outbox if o["kind"] == "Settle" and o["done_tick"] is None]
    assert battle_rows and all(r["status"] == "ended" for r in battle_rows), battle_rows
    for p in bots:
        assert len(p.done) == battles
    return check_money(book, [p.wallet for p in bots], battle_rows)


@pytest.mark.slow
async def test_a_killed_worker_s_shard_is_claimed_by_the_standby_and_its_battles_paid_once(tmp_path, pg_base):
    port = free_port_range(4)
    node = Node(tmp_path, "node-a", pg_base, port, shards=2, workers=2)
    node.start()
    moments = Moments()
    bots = [Bot(f"bot{i}", ShardURL(port + 1), moments, 2) for i in range(4)]  # all on shard 0
    try:
        pids = await served(pg_base, 2)
        await port_open(port + 1)
        with trio.fail_after(240):
            async with trio.open_nursery() as nursery:
                async def fail_shard_0():
                    assert await moments.wait("mid_round", timeout=60), "no battle reached a round"
                    await trio.sleep(random.uniform(0, 0.2))
                    os.kill(pids[0], signal.SIGKILL)
                    now = await served(pg_base, 2, not_by={pids[0]})
                    assert now[1] == pids[1]  # the other shard's worker was left alone

                nursery.start_soon(fail_shard_0)
                await _play(bots)
        summary = await check_shard(pg_base, 0, bots, 2)
        assert summary["payouts"] >= 1
        assert sum(p.reconnects for p in bots) >= len(bots), "the bots never lost their worker"
        rows = await leases(pg_base, 2)
        assert rows[0]["epoch"] == 2 and rows[1]["epoch"] == 1, rows
        # the supervisor saw the death and started a new standby after the old one claimed the shard
        lines = node.lines()
        assert any("exited with status -9" in ln for ln in lines), lines
        with trio.fail_after(30):
            while not any(ln.startswith("arena: worker 3 started") for ln in node.lines()):
                await trio.sleep(0.1)
    except BaseException:
        print(node.log()[-6000:])
        for p in bots:
            print(p.name, p.wallet, p.log[-15:])
        raise
    finally:
        await node.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("n_nodes,seed", [(2, 1717), (2, 4242), (3, 3333)])
async def test_random_kills_and_pauses_over_nodes_and_shards(tmp_path, pg_base, n_nodes, seed):
    """Two or three nodes (1 worker + 1 standby each) over as many shards; at
    random moments a serving worker (any shard, any node) is killed, or
    paused and resumed after the takeover, or a whole node is killed and
    started again. Every battle of every shard finishes, each paid once."""
    rnd = random.Random(seed)
    shards = n_nodes
    dsn = pg_base
    # The nodes' shard ports differ (port + 1 + k of each); bots follow the shard's holder.
    nodes = {}
    for c in "abc"[:n_nodes]:
        node = Node(tmp_path, f"node-{c}", dsn, free_port_range(shards + 1), shards=shards, workers=1)
        nodes[node.name] = node
        node.start()
    all_nodes = list(nodes.values())

    class Follow:
        """The URL of whichever node's worker holds shard k now (from its lease row)."""

        def __init__(self, k: int):
            self.k = k
            self.url = None

    targets = [Follow(k) for k in range(shards)]

    async def look():
        rows = await leases(dsn, shards)
        for t in targets:
            row = rows[t.k]
            if row is not None and row["left_ms"] > 0:
                m = re.search(r"url=(\S+)", row["owner"])
                if m:
                    t.url = m.group(1)

    async def follow():
        while True:
            await look()
            await trio.sleep(0.1)

    moments = [Moments() for _ in range(shards)]
    bots = [[Bot(f"bot{i}", targets[k], moments[k], 2) for i in range(3)] for k in range(shards)]
    faults: list[str] = []
    try:
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                await served(dsn, shards)
                with trio.fail_after(30):
                    while not all(t.url for t in targets):
                        await look()
                        await trio.sleep(0.1)
                nursery.start_soon(follow)

                async def chaos():
                    for _ in range(5):
                        k = rnd.randrange(shards)
                        moment = rnd.choice(["between_entries", "mid_round", "payout", "random"])
                        if moment == "random":
                            await trio.sleep(rnd.uniform(0.3, 2.0))
                        elif not await moments[k].wait(moment, timeout=30):
                            continue
                        await trio.sleep(rnd.uniform(0, 0.1))
                        pids = await served(dsn, shards)
                        row = (await leases(dsn, shards))[k]
                        owner_node = row["owner"].split()[0]
                        how = rnd.choice(["kill", "pause", "node"])
                        faults.append(f"{how} shard {k} on {owner_node} at {moment}")
                        victim = pids[k]
                        rows = await leases(dsn, shards)
                        on_node = {pids[j] for j in pids if rows[j]["owner"].split()[0] == owner_node}
                        if how == "node":
                            nodes[owner_node].kill_all()
                            nodes[owner_node].start()
                        elif how == "kill":
                            os.kill(victim, signal.SIGKILL)
                        else:
                            os.kill(victim, signal.SIGSTOP)
                        await served(dsn, shards, not_by={victim} if how != "node" else on_node)
                        if how == "pause":
                            os.kill(victim, signal.SIGCONT)
                            with trio.fail_after(30):  # it finds itself fenced and exits
                                while True:
                                    try:
                                        os.kill(victim, 0)
                                    except ProcessLookupError:
                                        break
                                    await trio.sleep(0.05)

                nursery.start_soon(chaos)
                async with trio.open_nursery() as players:
                    for group in bots:
                        for p in group:
                            players.start_soon(p.run)
                nursery.cancel_scope.cancel()
        # let the serving workers finish what was in flight (the last payouts), then stop both nodes
        await trio.sleep(3)
        for node in all_nodes:
            node.stop()
        with trio.fail_after(40):
            while any(n.proc.poll() is None for n in all_nodes):
                await trio.sleep(0.1)
        for k in range(shards):
            await check_shard(dsn, k, bots[k], 2)
        assert len(faults) >= 2, faults
        fenced = sum("taken over" in n.log() for n in all_nodes)
        print("faults:", faults, "fenced stops seen:", fenced)
    except BaseException:
        for n in all_nodes:
            print(n.name, n.log()[-5000:])
        print("faults:", faults)
        for group in bots:
            for p in group:
                print(p.name, p.wallet, p.log[-15:])
        raise
    finally:
        for n in all_nodes:
            n.kill_all()


@pytest.mark.slow
async def test_players_on_two_workers_are_paired_through_redis_and_play_on_one(tmp_path, pg_base, redis_url):
    """`serve --workers 2` with the cluster through Redis: two players logged in
    on different workers (each on its shard's own port) queue, the shared
    queue pairs them, the one on the other worker is seated there (the seat
    names that worker's own URL) and the battle is played to its payout."""
    from test_cluster_e2e import HEARTBEAT_MS, Player, check_payout

    url, prefix = redis_url
    port = free_port_range(3)
    node = Node(tmp_path, "node-a", pg_base, port, shards=2, workers=2, standby=0)
    text = node.config.read_text().replace(
        "[cluster]\n", f"[cluster]\nheartbeat_ms = {HEARTBEAT_MS}\nseat_ttl_ms = 20000\n", 1)
    node.config.write_text(text + f'\n[redis]\nurl = "{url}"\nkey_prefix = "{prefix}"\n')
    node.start()
    try:
        with trio.fail_after(120):
            await served(pg_base, 2)
            for k in range(2):
                await port_open(port + 1 + k)
            await trio.sleep(3 * HEARTBEAT_MS / 1000)  # both workers registered and subscribed
            p1, p2 = Player("p1a"), Player("p2b")
            async with trio.open_nursery() as n:
                n.start_soon(p1.play, f"ws://127.0.0.1:{port + 1}/v1")
                n.start_soon(p2.play, f"ws://127.0.0.1:{port + 2}/v1")
        assert p1.seated != p2.seated, "exactly one of them played on the other worker"
        seated = p1 if p1.seated else p2
        assert seated.owner_url in (f"ws://127.0.0.1:{port + 1}/v1", f"ws://127.0.0.1:{port + 2}/v1")
        check_payout(p1, p2)
        # the registry names each worker <node>/<shard>, at its own URL
        import redis

        r = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
        try:
            entries = {k: r.hgetall(f"{prefix}cluster:node:node-a/{k}") for k in range(2)}
        finally:
            r.close()
        assert {k: (e.get("shard"), e.get("url")) for k, e in entries.items()} == {
            k: (str(k), f"ws://127.0.0.1:{port + 1 + k}/v1") for k in range(2)}, entries
    except BaseException:
        print(node.log()[-6000:])
        raise
    finally:
        await node.shutdown()
