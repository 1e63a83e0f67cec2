"""A store written by the release before modes had a registry still recovers.

tests/data/previous-release/ holds such a store (made by
tests/data/make_previous_release_store.py with that release's code): a roast
battle in the middle of its first round, both entry fees in escrow, and a
`[roast]` settings change journaled as the old `RoastSettingsChanged` input.
This release must verify its snapshots' hashes unchanged, replay its journal
to the same hashes, and carry the battle on to its payout.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import trio
from solders.keypair import Keypair

from arena.benchkit.serverproc import free_port
from arena.client import open_client
from crash_harness import ServerProcess

DATA = Path(__file__).resolve().parent / "data" / "previous-release"
ROOT = Path(__file__).resolve().parent.parent
FAUCET = 10_000


def config(tmp: Path, port: int) -> Path:
    path = tmp / "config.toml"
    path.write_text(f"""
[server]
port = {port}
tick_hz = 20

[engine]
seed = 5

[roast]
countdown_ms = 100
time_limit_ms = 590000
entry_deadline_ms = 60000
disconnect_grace_ms = 600000

[ledger]
faucet_amount = {FAUCET}

[media]
path = "{tmp / 'media'}"

[store]
path = "{tmp / 'arena.sqlite'}"
snapshot_every_ticks = 10
""")
    return path


async def test_a_store_of_the_previous_release_recovers_verifies_and_plays_on(tmp_path):
    shutil.copy(DATA / "arena.sqlite", tmp_path / "arena.sqlite")
    keys = [Keypair.from_bytes(bytes(k)) for k in json.loads((DATA / "wallets.json").read_text())]
    with sqlite3.connect(tmp_path / "arena.sqlite") as db:
        (match,) = [r[0] for r in db.execute("SELECT id FROM battles WHERE status = 'live'")]
        world = db.execute("SELECT v FROM meta WHERE k = 'world'").fetchone()[0]
    port = free_port()
    cfg = config(tmp_path, port)
    replay = subprocess.run([sys.executable, "-m", "arena", "replay", "--config", str(cfg)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0 and "MISMATCH" not in replay.stdout, replay.stdout + replay.stderr
    assert replay.stdout.count(" ok") >= 2  # more than one snapshot verified

    server = ServerProcess(cfg, port, tmp_path)
    await server.start()
    try:
        async with open_client(server.url) as a, open_client(server.url) as b:
            for c, kp in ((a, keys[0]), (b, keys[1])):
                await c.hello()
                await c.login(kp)
            assert await a.balance() == FAUCET - 100 and await b.balance() == FAUCET - 100  # in escrow
            await b.submit(match, 1, "meh")
            for rnd in (2, 3):
                for c in (a, b):
                    _, start = await c.next_event("battle:round_start", match=match, timeout=30)
                    assert start["roundNumber"] == rnd
                await trio.sleep(0.25)
                await a.submit(match, rnd, f"Your {start['prompt']} is older than this store's schema!")
                await b.submit(match, rnd, "meh")
            _, end = await a.next_event("battle:ended", match=match, timeout=60)
            assert end["reason"] == "completed" and end["winnerId"] == a.wallet
            with trio.fail_after(20):
                while await a.balance() != FAUCET - 100 + end["prizeAmount"]:
                    await trio.sleep(0.05)
            assert await b.balance() == FAUCET - 100
    finally:
        server.kill()
    with sqlite3.connect(tmp_path / "arena.sqlite") as db:
        assert db.execute("SELECT v FROM meta WHERE k = 'world'").fetchone()[0] == world
        assert db.execute("SELECT status, winner FROM battles WHERE id = ?", (match,)).fetchone() == ("ended", str(keys[0].pubkey()))
