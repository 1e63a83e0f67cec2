"""`python -m arena replay` and `python -m arena migrate` on a store."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from pathlib import Path

from arena.cli_replay import replay_store
from arena.engine.canonical import state_hash
from arena.engine.core import step
from arena.persistence import codec
from arena.persistence.durable import Durability
from arena.persistence.sqlite import SqliteStore
from arena.persistence.store import TickBatch
from engine_driver import Driver

ROOT = Path(__file__).resolve().parent.parent


async def build_store(path) -> tuple[SqliteStore, Driver]:
    store = SqliteStore(path)
    await store.open()
    d = Driver()
    await store.write(TickBatch(snapshots=[(0, state_hash(d.state), codec.dump_snapshot(d.state))]))
    mid = d.start("alice", "bob")
    d.play_round(mid)
    d.advance(30)
    dur = Durability(store, snapshot_every_ticks=5, journal_buffer_max=1000)
    d2 = Driver()
    for tick, inputs in d.log:
        msgs, effs = step(d2.state, tick, list(inputs))
        dur.record_tick(d2.state, list(inputs), msgs, effs)
        await dur.flush()
    await store.close()
    return store, d


def config_for(tmp_path, db) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[store]\nkind = "embedded"\npath = "{db}"\n')
    return cfg


async def test_replay_prints_matching_hashes(tmp_path):
    store, d = await build_store(tmp_path / "a.sqlite")
    out = io.StringIO()
    assert await replay_store(SqliteStore(tmp_path / "a.sqlite"), out=out) == 0
    text = out.getvalue()
    assert "MISMATCH" not in text
    assert text.count(" ok") >= 5
    assert d.hash() in text  # the durable tick's hash is the uninterrupted run's
    # from a later snapshot too
    out = io.StringIO()
    assert await replay_store(SqliteStore(tmp_path / "a.sqlite"), start=10, out=out) == 0


async def test_replay_reports_a_mismatch(tmp_path):
    await build_store(tmp_path / "b.sqlite")
    db = sqlite3.connect(tmp_path / "b.sqlite")
    db.execute("UPDATE snapshots SET hash = 'bad' WHERE tick = 15")
    db.commit()
    db.close()
    out = io.StringIO()
    assert await replay_store(SqliteStore(tmp_path / "b.sqlite"), out=out) == 1
    assert "MISMATCH (stored bad)" in out.getvalue()


async def test_cli_commands(tmp_path):
    await build_store(tmp_path / "c.sqlite")
    cfg = config_for(tmp_path, tmp_path / "c.sqlite")
    r = subprocess.run([sys.executable, "-m", "arena", "replay", "--config", str(cfg)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "durable tick" in r.stdout
    cfg2 = config_for(tmp_path, tmp_path / "fresh.sqlite")
    r = subprocess.run([sys.executable, "-m", "arena", "migrate", "--config", str(cfg2)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "applied 1, 2, 3, 4, 5, roast:1, roast:2, roast:3, canvas:1; schema version 5" in r.stdout
    r = subprocess.run([sys.executable, "-m", "arena", "migrate", "--config", str(cfg2)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert "up to date" in r.stdout


async def test_postgres_refuses_an_unmigrated_schema(pg_schema):
    import pytest

    from arena.persistence.postgres import PostgresStore
    from arena.persistence.store import StoreError

    s = PostgresStore(pg_schema)
    with pytest.raises(StoreError, match="python -m arena migrate"):
        await s.open()
    assert await s.migrate() == [1, 2, 3, 4, 5, 6, 7, "roast:1", "roast:2", "roast:3", "canvas:1"]
    await s.open()
    assert await s.schema_version() == 7
    await s.close()
