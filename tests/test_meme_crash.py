"""A meme view across `kill -9`, over real sockets and a real process: a
viewer deposits and watches; the server is killed mid-view and started
again from its store. The view comes back stopped (its viewer is told it is
gone); the seconds charged before the crash stay charged, once; nothing
after it is charged; and once the round ends, the store's ledger shows the
owner received exactly what the viewer was charged (direct shares and the
pool), the hall's escrow holds exactly the unspent balance, and no
settlement key was applied twice."""

from __future__ import annotations

import subprocess
import sys

import pytest
import trio

from arena.client import ArenaRequestError, open_client
from arena.modes.meme.mode import escrow_owed
from crash_harness import ROOT, ServerProcess, free_port, read_store, write_config
from test_meme_e2e import deposit, picture

BLOCK_MS = 3_000
MEME = f"""
[meme]
simulated_block_ms = {BLOCK_MS}
blocks_per_round = 2
block_poll_ms = 200
rate_per_s = 10
settle_every_s = 2
"""


def operator_key(config) -> str:
    out = subprocess.run([sys.executable, "-m", "arena", "keys", "create", "--config", str(config), "--role",
                          "operator", "--name", "ops"], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip().split("arena:")[0].strip()


async def in_round(c, cid: str) -> bool:
    try:
        return cid in (await c.request("meme.round", {}))["content"]
    except ArenaRequestError:
        return False


async def wait_for(predicate, timeout: float) -> None:
    with trio.fail_after(timeout):
        while not await predicate():
            await trio.sleep(0.2)


@pytest.mark.timeout(180)
async def test_kill_9_mid_view_loses_and_double_charges_nothing(tmp_path):
    from arena.persistence.sqlite import SqliteStore

    port = free_port()
    path = tmp_path / "arena.sqlite"
    config = write_config(tmp_path, port, {"kind": "embedded", "path": str(path)}, extra=MEME)
    key = operator_key(config)
    server = ServerProcess(config, port, tmp_path)
    await server.start()
    try:
        async with open_client(server.url) as owner, open_client(server.url) as op, \
                open_client(server.url) as viewer:
            for c in (owner, viewer):
                await c.hello()
                await c.login()
            await viewer.faucet()
            await op.hello()
            await op.request("auth.key", {"key": key})
            await in_round(owner, "")  # opens the hall
            cid = (await op.request("content.upload", {"title": "a cat on a keyboard", "media": picture(),
                                                       "media_type": "image/png", "owner": owner.wallet}))["content"]
            await wait_for(lambda: in_round(viewer, cid), 30)
            # Early in a round, so the view is killed before the round ends.
            rid = (await viewer.request("meme.round", {}))["round"]
            await wait_for(lambda: _round_changed(viewer, rid), 3 * BLOCK_MS / 1000)
            assert (await deposit(viewer, 500))["balance"] == 500
            await viewer.request("view.start", {"content": cid})
            for _ in range(4):
                await trio.sleep(0.5)
                await viewer.request("view.beat", {"content": cid})
            viewer_keypair = viewer.keypair
            server.kill()  # mid-view
        await server.start()
        async with open_client(server.url) as viewer:
            await viewer.hello()
            await viewer.login(viewer_keypair)
            with pytest.raises(ArenaRequestError) as err:
                await viewer.request("view.stop", {})
            assert err.value.code == "wrong_state"  # it was stopped as disconnected
            await wait_for(lambda: in_round(viewer, cid), 30)
            left = (await viewer.request("view.start", {"content": cid}))["balance"]
            stopped = await viewer.request("view.stop", {})  # (a second or less: at most 10 more)
            charged = 500 - left + stopped["charged"]
            assert 10 <= 500 - left <= 40  # 1..4 s before the kill at 10 per second, none during the downtime
            rid = (await viewer.request("meme.round", {}))["round"]
            await wait_for(lambda: _round_changed(viewer, rid), 4 * BLOCK_MS / 1000)  # its pool is paid
            await trio.sleep(1)  # its settlement lands
    finally:
        server.kill()
    state, book, _rows, _outbox, _rec = await read_store(SqliteStore(path))  # raises on a key applied twice
    book.audit()
    sh = state.modes["meme"]
    assert sh.charged == charged
    assert book.balance(f"escrow:{sh.hall}") == escrow_owed(sh) == 500 - charged
    assert book.balance(owner.wallet) == charged  # every charged second, direct share and pool, once
    assert sh.direct_paid + sh.pool_paid == charged


async def _round_changed(c, rid: str) -> bool:
    try:
        return (await c.request("meme.round", {}))["round"] != rid
    except ArenaRequestError:
        return False
