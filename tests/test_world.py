"""A world's identity and its single writer (arena.persistence.world)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest
import trio

from arena.engine import core
from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.engine.config import EngineConfig
from arena.engine.context import Ctx
from arena.persistence.memory import MemoryStore
from arena.persistence.sqlite import SqliteStore
from arena.persistence.world import WriterLockHeld, world_name

from crash_harness import ServerProcess, write_config
from arena.benchkit.serverproc import free_port


def _first_ids(world, seed=1, n=3):
    state = core.new_state(EngineConfig(seed=seed), world=world)
    ctx = Ctx(state, 1)
    return [ctx.new_match_id("roast") for _ in range(n)]


def test_match_ids_differ_across_worlds_whatever_the_seed():
    a, b = _first_ids("0123456789abcdef"), _first_ids("fedcba9876543210")
    assert not set(a) & set(b)
    assert a == _first_ids("0123456789abcdef")  # deterministic within a world (replay)
    # The ids of a world without an id keep their old form, so keys already
    # issued by a store of the previous release keep working; new ones never equal them.
    legacy = _first_ids(None)
    assert legacy[0] == "ro-507edeac91f2" and all(len(x) == 15 for x in legacy)
    assert all(len(x) == 19 for x in a) and not set(legacy) & set(a)


def test_world_named_once_and_part_of_the_hash():
    state = core.new_state(EngineConfig(seed=1))
    h0 = state_hash(state)
    core.step(state, 1, [I.WorldNamed("00000000000000aa")])
    assert state.world == "00000000000000aa" and state_hash(state) != h0
    core.step(state, 2, [I.WorldNamed("00000000000000bb"), I.WorldNamed("")])
    assert state.world == "00000000000000aa"  # a world keeps its id


@pytest.fixture(params=["sqlite", "postgres", "memory"])
async def two_handles(request, tmp_path):
    """Two store objects on the same store, as two processes would open it."""
    if request.param == "sqlite":
        path = tmp_path / "w.sqlite"
        stores = [SqliteStore(path), SqliteStore(path)]
    elif request.param == "memory":
        s = MemoryStore()
        stores = [s, s]
    else:
        from arena.persistence.postgres import PostgresStore

        dsn = request.getfixturevalue("pg_schema")
        stores = [PostgresStore(dsn), PostgresStore(dsn)]
        await stores[0].migrate()
    for s in stores:
        await s.open()
    try:
        yield request.param, stores
    finally:
        for s in stores:
            await s.close()


async def test_world_id_is_made_once_and_kept(two_handles):
    _, (a, b) = two_handles
    first = await a.world_id()
    assert isinstance(first, int) and first > 0
    assert await a.world_id() == first and await b.world_id() == first
    assert len(world_name(first)) == 16


async def test_second_writer_refused_naming_the_holder(two_handles):
    kind, (a, b) = two_handles
    await a.acquire_writer()
    if kind == "memory":
        return  # one object: nothing to lock between processes
    with pytest.raises(WriterLockHeld) as err:
        await b.acquire_writer()
    assert f"pid={os.getpid()}" in str(err.value) or f"pid {os.getpid()}" in str(err.value)
    a.release_writer()
    await b.acquire_writer()  # free once the holder let go


HOLDER = textwrap.dedent("""
    import sys, trio
    from arena.persistence.sqlite import SqliteStore
    from arena.persistence.postgres import PostgresStore
    async def main():
        kind, where = sys.argv[1], sys.argv[2]
        s = SqliteStore(where) if kind == "sqlite" else PostgresStore(where)
        await s.open()
        await s.acquire_writer()
        print("held", flush=True)
        await trio.sleep(600)
    trio.run(main)
""")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_lock_is_free_after_kill_9(kind, tmp_path, request):
    if kind == "sqlite":
        where = str(tmp_path / "k.sqlite")
        other = SqliteStore(where)
    else:
        from arena.persistence.postgres import PostgresStore

        where = request.getfixturevalue("pg_schema")
        other = PostgresStore(where)
        await other.migrate()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, kind, where], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"held"
        await other.open()
        with pytest.raises(WriterLockHeld, match=f"pid.{proc.pid}"):
            await other.acquire_writer()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with trio.fail_after(10):
            while True:  # PostgreSQL ends the dead session's backend shortly after
                try:
                    await other.acquire_writer()
                    break
                except WriterLockHeld:
                    await trio.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
        await other.close()


async def test_two_servers_on_one_store_the_second_refuses(tmp_path):
    store = tmp_path / "one.sqlite"
    p1, p2 = free_port(), free_port()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = ServerProcess(write_config(tmp_path / "a", p1, {"kind": "embedded", "path": str(store)}), p1, tmp_path / "a")
    second = ServerProcess(write_config(tmp_path / "b", p2, {"kind": "embedded", "path": str(store)}), p2, tmp_path / "b")
    def world_of_store():
        with sqlite3.connect(store) as db:
            return db.execute("SELECT v FROM meta WHERE k = 'world'").fetchone()[0]

    await first.start()
    try:
        world = world_of_store()
        with pytest.raises(RuntimeError, match=f"already in use by pid {first.proc.pid}"):
            await second.start()
        assert second.proc.returncode != 0
        assert world_of_store() == world  # the refused server changed nothing
        first.kill()
        await second.start()  # the dead writer's lock is free: no hand needed
        assert world_of_store() == world  # and it carries on the same world
    finally:
        first.kill()
        second.kill()
