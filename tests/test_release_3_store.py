"""A store written by the release that first had the canvas and the lottery
still recovers, verifies and plays on.

tests/data/release-3/ holds such a store (made by
tests/data/make_release_3_store.py with that release's code, commit e6c3ff7;
gzipped): a canvas week with three placements (two wallets and an agent)
and a lottery round with a bet on each side in escrow. This release added
fields to the canvas's state and settings and compresses snapshots; it must
verify the old snapshots' hashes unchanged, replay the journal to the same
hashes, serve the same canvas and round, and go on (a placement, a bet),
writing compressed snapshots from then on.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

from solders.keypair import Keypair

from arena.benchkit.serverproc import free_port
from arena.client import open_client
from crash_harness import ServerProcess

DATA = Path(__file__).resolve().parent / "data" / "release-3"
ROOT = Path(__file__).resolve().parent.parent
FAUCET = 10_000


def config(tmp: Path, port: int) -> Path:
    path = tmp / "config.toml"
    path.write_text(f"""
[server]
port = {port}
tick_hz = 20

[engine]
seed = 7

[ledger]
faucet_amount = {FAUCET}

[media]
path = "{tmp / 'media'}"

[store]
path = "{tmp / 'arena.sqlite'}"
snapshot_every_ticks = 10
keep_snapshots = 3
""")
    return path


async def test_a_store_of_the_canvas_and_lottery_release_recovers_and_plays_on(tmp_path):
    (tmp_path / "arena.sqlite").write_bytes(gzip.decompress((DATA / "arena.sqlite.gz").read_bytes()))
    secrets = json.loads((DATA / "secrets.json").read_text())
    keys = [Keypair.from_bytes(bytes(k)) for k in secrets["wallets"]]
    rid = secrets["round"]
    with sqlite3.connect(tmp_path / "arena.sqlite") as db:
        assert all(blob[:1] != b"\x78" for (blob,) in db.execute("SELECT data FROM snapshots"))  # stored raw
    port = free_port()
    cfg = config(tmp_path, port)
    replay = subprocess.run([sys.executable, "-m", "arena", "replay", "--config", str(cfg)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0 and "MISMATCH" not in replay.stdout, replay.stdout + replay.stderr
    assert replay.stdout.count(" ok") >= 2

    server = ServerProcess(cfg, port, tmp_path)
    await server.start()
    try:
        async with open_client(server.url) as a, open_client(server.url) as b, open_client(server.url) as op:
            for c, kp in ((a, keys[0]), (b, keys[1])):
                await c.hello()
                await c.login(kp)
            await op.hello()
            await op.request("auth.key", {"key": secrets["operator_key"]})
            # The canvas as it was: the three placements, and the week goes on.
            joined = await a.request("canvas.join")
            bitmap = zlib.decompress(joined["bitmap"])
            for x, y, colour in secrets["pixels"]:
                assert bitmap[y * joined["width"] + x] == colour
            assert sum(1 for v in bitmap if v) == len(secrets["pixels"])
            async with open_client(server.url) as newcomer:  # the old wallets may still be in their cooldown
                await newcomer.hello()
                await newcomer.login()
                await newcomer.request("canvas.join")
                placed = await newcomer.request("canvas.place", {"x": 20, "y": 21, "color": 3})
                assert placed["next_place_ms"] > 0
            again = zlib.decompress((await a.request("canvas.join"))["bitmap"])
            assert again[21 * joined["width"] + 20] == 3
            # The round as it was: both stakes in escrow, matched; a new bet goes in.
            pool = await a.request("lottery.pool", {"round": rid})
            assert pool["yes"] == {"total": 300, "matched": 200} and pool["no"] == {"total": 200, "matched": 200}
            assert await a.balance() == FAUCET - 300 and await b.balance() == FAUCET - 200
            built = await b.request("lottery.bet.build", {"round": rid, "side": "no", "amount": 50})
            got = await b.request("lottery.bet.confirm", {"round": rid, "tx": built["tx"],
                                                         "signature": b.sign(built["tx"])})
            assert got["status"] == "confirmed"
            pool = await a.request("lottery.pool", {"round": rid})
            assert pool["no"]["total"] == 250 and await b.balance() == FAUCET - 250
            info = await op.request("lottery.round", {"round": rid})
            assert info["state"] == "open"
        import trio

        await trio.sleep(1.5)  # a few snapshots of this release
    finally:
        server.kill()
    with sqlite3.connect(tmp_path / "arena.sqlite") as db:
        blobs = [blob for (blob,) in db.execute("SELECT data FROM snapshots ORDER BY tick DESC")]
    assert blobs and blobs[0][:1] == b"\x78" and len(blobs[0]) < 100_000  # compressed from now on
    replay = subprocess.run([sys.executable, "-m", "arena", "replay", "--config", str(cfg)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0 and "MISMATCH" not in replay.stdout, replay.stdout + replay.stderr
