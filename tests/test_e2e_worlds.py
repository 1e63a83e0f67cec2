"""Two fresh worlds in a row, as an operator runs them: every refund and payout lands.

The reproduction that lost players' money: real `python -m arena serve`
processes started one after the other from one working directory, each on a
fresh `[store] path`, with and without a configured `[engine] seed`, on the
embedded ledger and on the local Solana network (`python -m arena devnet`).
In each world one battle is cancelled (one player paid, the other did not:
the payer is refunded) and one is played to the end (the winner is paid).
Before worlds had ids, the second world's battles had the first's match ids
and the Solana record store took the first world's settlements of those keys
for its own: the refund and the payout never left the escrow.

Balances on Solana are read from the chain, not from the server.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from arena.benchkit.serverproc import free_port
from arena.persistence.world import world_name
from conftest import player
from crash_harness import ServerProcess
from solana_net import solana_devnet  # noqa: F401
from test_e2e_solana import Chain

FAUCET = 10_000
TEXT = "Your {p} energy is so weak even your echo gives up halfway through the joke!"


def world_config(cwd: Path, name: str, port: int, *, store: str, seed: int | None,
                 ledger: dict | None = None) -> Path:
    """A config as an operator writes it from docs/CONFIG.md: relative paths, seed only if given."""
    ledger_lines = "\n".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}"
                             for k, v in (ledger or {}).items())
    engine = f"[engine]\nseed = {seed}\n" if seed is not None else ""
    path = cwd / f"{name}.toml"
    path.write_text(f"""
[server]
port = {port}
tick_hz = 20

{engine}
[roast]
countdown_ms = 100
time_limit_ms = 4000
entry_deadline_ms = 3000
disconnect_grace_ms = 15000

[ledger]
faucet_amount = {FAUCET}
{ledger_lines}

[media]
path = "{name}-media"

[store]
path = "{store}"
""")
    return path


def world_of(store: Path) -> str:
    """The store's world id as the server names it."""
    with sqlite3.connect(store) as db:
        return world_name(int(db.execute("SELECT v FROM meta WHERE k = 'world'").fetchone()[0]))


async def settled_in(records: Path, n: int, timeout: float = 30.0) -> None:
    """Wait until the record store holds `n` settlements, all landed (`done`)."""
    with trio.fail_after(timeout):
        while True:
            with sqlite3.connect(records) as db:
                states = [s for (s,) in db.execute("SELECT state FROM settlements")]
            if len(states) == n and all(s == "done" for s in states):
                return
            await trio.sleep(0.1)


def reconcile(cwd: Path, config: Path) -> tuple[int, dict]:
    """`python -m arena reconcile --json` as an operator runs it (from the same directory)."""
    proc = subprocess.run([sys.executable, "-m", "arena", "reconcile", "--config", str(config), "--json"],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


class Balances:
    """Where a player's money is read: the chain (solana) or the server (embedded)."""

    def __init__(self, chain: Chain | None):
        self.chain = chain

    async def of(self, client) -> int:
        return await (self.chain.of(client.wallet) if self.chain else client.balance())

    async def until(self, client, want: int, timeout: float = 30.0) -> None:
        with trio.fail_after(timeout):
            while await self.of(client) != want:
                await trio.sleep(0.05)


async def play_a_world(url: str, money: Balances) -> list[str]:
    """One cancelled battle (refund) and one completed battle (payout); returns their match ids."""
    async with player(url) as a, player(url) as b, player(url) as c, player(url) as d:
        await a.queue("silver")
        await b.queue("silver")
        _, found = await a.next_event("match.found")
        cancelled, fee = found["match"], found["entry_fee"]
        assert await a.pay_entry(cancelled) in ("confirmed", "pending")  # b never pays

        await c.queue("bronze")
        await d.queue("bronze")
        _, found = await c.next_event("match.found")
        played, fee2 = found["match"], found["entry_fee"]
        for p in (c, d):
            assert await p.pay_entry(played) in ("confirmed", "pending")
        for rnd in (1, 2, 3):
            for p in (c, d):
                _, start = await p.next_event("battle:round_start", match=played, timeout=30)
                assert start["roundNumber"] == rnd
            await trio.sleep(0.25)
            await c.submit(played, rnd, TEXT.format(p=start["prompt"]))
            await d.submit(played, rnd, "meh")
        _, end = await c.next_event("battle:ended", match=played, timeout=60)
        assert end["reason"] == "completed" and end["winnerId"] == c.wallet
        _, ended = await a.next_event("battle:ended", match=cancelled, timeout=60)
        assert ended["reason"] == "cancelled"

        await money.until(a, FAUCET)  # the refund landed
        await money.until(c, FAUCET - fee2 + end["prizeAmount"])  # the payout landed
        assert await money.of(b) == FAUCET and await money.of(d) == FAUCET - fee2
        assert fee > 0 and end["prizeAmount"] > 0
    return [cancelled, played]


@pytest.fixture(params=["embedded", "solana"])
def ledger_kind(request):
    return request.param


@pytest.mark.parametrize("seed", [None, 1], ids=["no-seed", "seed-1"])
async def test_two_fresh_worlds_in_a_row_every_refund_and_payout_lands(ledger_kind, seed, tmp_path, request):
    ledger, money = {}, Balances(None)
    if ledger_kind == "solana":
        dn = request.getfixturevalue("solana_devnet")
        ledger = {"kind": "solana", "rpc_url": dn.url, "mint": dn.ledger["mint"],
                  "escrow_keypair": dn.keypair_path, **{f"fee_{n}": w for n, w in dn.fee_wallets().items()}}
        money = Balances(Chain(dn))
        escrow_before = await money.chain.escrow()
    cwd = tmp_path / "operator"
    cwd.mkdir()
    seen, worlds = [], []
    for n in (1, 2):
        port = free_port()
        store = f"world-{n}/arena.sqlite"  # a fresh [store] path each time, one working directory
        config = world_config(cwd, f"world-{n}", port, store=store, seed=seed, ledger=ledger)
        server = ServerProcess(config, port, cwd, cwd=cwd)
        await server.start()
        try:
            seen += await play_a_world(server.url, money)
            if ledger_kind == "solana":
                await settled_in(cwd / f"world-{n}" / "solana-ledger.sqlite", 2)
            with trio.fail_after(30):  # the engine has journaled both settlements as done
                while reconcile(cwd, config)[1]["unsettled"]:
                    await trio.sleep(0.2)
        finally:
            server.kill()
        worlds.append(world_of(cwd / store))
        rc, report = reconcile(cwd, config)  # nothing stuck, nothing paid to others
        assert rc == 0 and report["problems"] == 0 and report["world"] == worlds[-1], report
        assert report["settlements_issued"] == 2 and report["unsettled"] == 0
        if ledger_kind == "solana":  # the record store sits beside the world's store
            assert (cwd / f"world-{n}" / "solana-ledger.sqlite").exists()
    assert worlds[0] != worlds[1]
    assert len(set(seen)) == 4, f"match ids repeated across worlds: {seen}"
    if ledger_kind == "solana":
        assert await money.chain.escrow() == escrow_before  # nothing left behind in escrow


async def test_records_of_the_previous_world_are_refused_then_adopted_by_name(solana_devnet, tmp_path):
    """The README's old advice, "delete the store file for a fresh world", on Solana: the
    record store beside it belongs to the old world. The new world refuses it, naming
    both worlds, and changes nothing; told to adopt it by name, it runs, and its refunds
    and payouts land (its keys are its own, so no old `done` row can stand in for them)."""
    dn = solana_devnet
    ledger = {"kind": "solana", "rpc_url": dn.url, "mint": dn.ledger["mint"],
              "escrow_keypair": dn.keypair_path, **{f"fee_{n}": w for n, w in dn.fee_wallets().items()}}
    money = Balances(Chain(dn))
    cwd = tmp_path / "operator"
    cwd.mkdir()
    store = cwd / "var" / "arena.sqlite"
    port = free_port()
    first = ServerProcess(world_config(cwd, "first", port, store="var/arena.sqlite", seed=1, ledger=ledger),
                          port, cwd, cwd=cwd)
    records = cwd / "var" / "solana-ledger.sqlite"
    await first.start()
    try:
        await play_a_world(first.url, money)
        await settled_in(records, 2)  # the server has recorded both as landed
    finally:
        first.kill()
    old_world = world_of(store)
    with sqlite3.connect(records) as db:
        old_rows = db.execute("SELECT key, state, sig FROM settlements ORDER BY key").fetchall()
    for f in cwd.glob("var/arena.sqlite*"):
        f.unlink()

    port = free_port()
    second = ServerProcess(world_config(cwd, "second", port, store="var/arena.sqlite", seed=1, ledger=ledger),
                           port, cwd, cwd=cwd)
    with pytest.raises(RuntimeError) as refused:
        await second.start()
    assert second.proc.returncode == 2
    msg = str(refused.value)
    new_world = world_of(store)
    assert f"belong to world {old_world}" in msg and f"world {new_world}" in msg
    assert f'adopt_records = "{old_world}"' in msg
    with sqlite3.connect(records) as db:
        assert db.execute("SELECT v FROM meta WHERE k = 'world'").fetchone()[0] == old_world
        assert db.execute("SELECT key, state, sig FROM settlements ORDER BY key").fetchall() == old_rows

    adopting = dict(ledger, adopt_records=old_world)
    port = free_port()
    third = ServerProcess(world_config(cwd, "third", port, store="var/arena.sqlite", seed=1, ledger=adopting),
                          port, cwd, cwd=cwd)
    await third.start()
    try:
        await play_a_world(third.url, money)
        await settled_in(records, 4)
    finally:
        third.kill()
    with sqlite3.connect(records) as db:
        assert dict(db.execute("SELECT k, v FROM meta").fetchall())["adopted_from"] == old_world


async def test_reconcile_lists_unexplained_escrow_and_conflicting_settlements(solana_devnet, tmp_path):
    """A real world's records, then what a shared record store of the previous release
    could hold: another world's escrow and one of this world's keys carried out with
    another world's transfers. `reconcile` lists both and exits 1."""
    dn = solana_devnet
    ledger = {"kind": "solana", "rpc_url": dn.url, "mint": dn.ledger["mint"],
              "escrow_keypair": dn.keypair_path, **{f"fee_{n}": w for n, w in dn.fee_wallets().items()}}
    cwd = tmp_path / "operator"
    cwd.mkdir()
    port = free_port()
    config = world_config(cwd, "w", port, store="var/arena.sqlite", seed=None, ledger=ledger)
    server = ServerProcess(config, port, cwd, cwd=cwd)
    await server.start()
    try:
        cancelled, played = await play_a_world(server.url, Balances(Chain(dn)))
        await settled_in(cwd / "var" / "solana-ledger.sqlite", 2)
    finally:
        server.kill()
    assert reconcile(cwd, config)[0] == 0
    with sqlite3.connect(cwd / "var" / "solana-ledger.sqlite") as db:
        db.execute("INSERT INTO escrow (match, balance) VALUES ('ro-507edeac91f2', 700)")
        db.execute("UPDATE settlements SET transfers = ? WHERE key = ?",
                   (json.dumps([[f"escrow:{cancelled}", "SomeoneElse1111111111111111111111111111111", 500]]),
                    f"refund:{cancelled}"))
    rc, report = reconcile(cwd, config)
    assert rc == 1 and report["problems"] == 2
    assert report["unexplained_escrow"] == [{"match": "ro-507edeac91f2", "escrow": 700}]
    (conflict,) = report["conflicting_done_settlements"]
    assert conflict["key"] == f"refund:{cancelled}" and conflict["ledger_did"][0][1].startswith("SomeoneElse")
    text = subprocess.run([sys.executable, "-m", "arena", "reconcile", "--config", str(config)],
                          cwd=cwd, capture_output=True, text=True, timeout=120).stdout
    assert "UNEXPLAINED escrow:ro-507edeac91f2 holds 700" in text and f"CONFLICT refund:{cancelled}" in text
