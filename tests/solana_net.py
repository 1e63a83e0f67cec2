"""A local Solana network for tests: `python -m arena devnet` in a subprocess.

`solana_devnet` (session fixture) starts one devnet on 127.0.0.1 with an
OS-chosen port, waits for the `[ledger]` config it writes, and stops it at
the end of the session. Tests import the fixture from here::

    from solana_net import solana_devnet, ledger_kwargs, rpc  # noqa: F401
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx2
import pytest
from solders.keypair import Keypair

# Fast slots so confirmations take ~0.1 s; blockhashes stay valid for 60 s.
SLOT_MS = 100
VALID_SLOTS = 600


class Devnet:
    def __init__(self, proc: subprocess.Popen, config_path: Path, log_path: Path):
        self.proc = proc
        self.config_path = config_path
        self.log_path = log_path
        self.ledger = tomllib.loads(config_path.read_text())["ledger"]
        self.url = self.ledger["rpc_url"]
        self.keypair_path = self.ledger["escrow_keypair"]

    def escrow(self) -> Keypair:
        return Keypair.from_bytes(bytes(json.loads(Path(self.keypair_path).read_text())))

    def fee_wallets(self) -> dict[str, str]:
        return {n: self.ledger[f"fee_{n}"] for n in ("creator", "partner", "protocol")}


def start_devnet_process(directory: Path, *extra: str, timeout: float = 60.0) -> Devnet:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "ledger.toml"
    log = directory / "devnet.log"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "arena", "devnet", "--port", "0", "--config-out", str(config),
             "--slot-ms", str(SLOT_MS), "--valid-slots", str(VALID_SLOTS), "--log-level", "WARNING", *extra],
            stdout=out, stderr=subprocess.STDOUT, cwd=directory, env=env,
        )
    deadline = time.monotonic() + timeout
    while not config.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"devnet exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            stop_devnet_process(proc)
            raise RuntimeError(f"devnet did not start within {timeout}s: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    return Devnet(proc, config, log)


def stop_devnet_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="session")
def solana_devnet(tmp_path_factory):
    dn = start_devnet_process(tmp_path_factory.mktemp("devnet"))
    try:
        yield dn
    finally:
        stop_devnet_process(dn.proc)


def ledger_kwargs(dn: Devnet, **overrides) -> dict:
    """Keyword arguments for SolanaLedger against this devnet."""
    return {
        "rpc_url": dn.url,
        "mint": dn.ledger["mint"],
        "escrow": dn.escrow(),
        "fee_wallets": dn.fee_wallets(),
        "faucet_amount": 100_000,
        **overrides,
    }


async def rpc(url: str, method: str, *params):
    """One raw JSON-RPC call (for the devnet-only arena_advanceSlots and direct chain reads)."""
    async with httpx2.AsyncClient() as c:
        r = await c.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        body = r.json()
    if "error" in body:
        raise RuntimeError(body["error"])
    return body["result"]


async def token_balance(url: str, account) -> int:
    """A token account's balance read straight from the runtime (0 if it does not exist)."""
    try:
        return int((await rpc(url, "getTokenAccountBalance", str(account)))["value"]["amount"])
    except RuntimeError as exc:
        if "could not find account" in str(exc):
            return 0
        raise
