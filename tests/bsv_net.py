"""A SIMULATED BSV network for tests: `arena.chain.bsvnet` (ARC and
WhatsOnChain API shapes, a UTXO set, every transaction checked with the BSV
SDK) in a background thread on 127.0.0.1.

    from bsv_net import bsv_network, BsvSetup  # noqa: F401

`bsv_network` (session fixture) is the running server; `BsvSetup.new(net)`
gives a fresh escrow key (its float funded by the faucet) and fresh fee
addresses, so tests never share escrow coins.
"""

from __future__ import annotations

import httpx
import pytest
from bsv.keys import PrivateKey

from arena.chain.bsvnet import BsvChain, BsvNetServer

FEE_SAT_PER_KB = 50
FLOAT_COINS = 30
FLOAT_COIN_SATS = 5_000


@pytest.fixture(scope="session")
def bsv_network():
    server = BsvNetServer(BsvChain(fee_sat_per_kb=FEE_SAT_PER_KB), "127.0.0.1", 0, block_ms=0).start()
    try:
        yield server
    finally:
        server.stop()


class BsvSetup:
    """One ledger's keys on the network: escrow (funded float) and fee addresses."""

    def __init__(self, net: BsvNetServer):
        self.net = net
        self.url = net.url
        self.escrow = PrivateKey()
        self.fee_wallets = {n: PrivateKey().address() for n in ("creator", "partner", "protocol")}
        for _ in range(FLOAT_COINS):
            net.chain.faucet(self.escrow.address(), FLOAT_COIN_SATS)

    @classmethod
    def new(cls, net: BsvNetServer) -> BsvSetup:
        return cls(net)

    def ledger_kwargs(self, **overrides) -> dict:
        return {"arc_url": self.url, "woc_url": self.url, "escrow": self.escrow,
                "fee_wallets": self.fee_wallets, "faucet_amount": 100_000,
                "fee_sat_per_kb": FEE_SAT_PER_KB, "poll_s": 0.02, "rebroadcast_s": 0.2, **overrides}

    def ledger_config(self, tmp_path, **overrides) -> dict:
        """The `[ledger]` table of a server on this network."""
        return {"kind": "bsv", "arc_url": self.url, "woc_url": self.url, "escrow_wif": self.escrow.wif(),
                **{f"fee_{n}": a for n, a in self.fee_wallets.items()}, "faucet_amount": 10_000,
                "fee_sat_per_kb": FEE_SAT_PER_KB, "records_path": str(tmp_path / "bsv-ledger.sqlite"),
                **overrides}

    def on_chain(self, address: str) -> int:
        """An address's coins as the network holds them (not as any ledger says)."""
        return sum(r["value"] for r in self.net.chain.unspent(address))


def mine(net: BsvNetServer, blocks: int = 1) -> int:
    return httpx.post(f"{net.url}/arena/mine", json={"blocks": blocks}).json()["height"]


class GatedChain:
    """A `BsvChain` whose broadcasts of transactions carrying `marker` are held
    (`held` is set) until `release` is set, then dropped unseen: the network
    never had them. Lets a test kill a server while its broadcast is in the air."""

    def __init__(self, marker: bytes, **kwargs):
        import threading

        self.inner = BsvChain(**kwargs)
        self.marker = marker
        self.armed = True
        self.held = threading.Event()
        self.release = threading.Event()
        self.dropped: list[bytes] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def submit(self, data: bytes) -> dict:
        from arena.chain.bsvnet import Refused

        if self.armed and self.marker in data:
            self.held.set()
            self.release.wait(60)
            self.dropped.append(data)
            raise Refused(460, "Dropped", "held and dropped by the test gate (the network never saw it)")
        return self.inner.submit(data)
