"""kill -9 of a server on the BSV ledger while its payout is between the
record and the network: the restarted server sends the recorded transaction
(the same txid) and the winner is paid exactly once.

The server is a real process (`python -m arena serve`); the simulated BSV
network runs in this test process and holds the payout's broadcast
(tests/bsv_net.py `GatedChain`) until the server is dead, then drops it, so
the network never saw it: the crash fell between "recorded" and "sent".
"""

from __future__ import annotations

import trio
from bsv.keys import PrivateKey

from arena.chain.bsvnet import BsvNetServer
from arena.chain.solana_store import SolanaStore
from arena.client import open_client
from bsv_net import FEE_SAT_PER_KB, BsvSetup, GatedChain
from crash_harness import ServerProcess, free_port

FAUCET = 10_000
GOOD = "Your {p} energy is so weak even your echo gives up halfway, and your best joke needs a refund!"


def write_bsv_config(tmp, port, setup: BsvSetup, records) -> object:
    ledger = "\n".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}"
                       for k, v in setup.ledger_config(tmp, records_path=str(records)).items()
                       if k != "escrow_wif")
    text = f"""
[server]
port = {port}
tick_hz = 20

[roast]
countdown_ms = 100
time_limit_ms = 4000
entry_deadline_ms = 30000
disconnect_grace_ms = 30000
scoring_timeout_ms = 5000
prompt_timeout_ms = 8000

[ledger]
{ledger}

[media]
path = "{tmp / 'media'}"

[store]
kind = "embedded"
path = "{tmp / 'arena.sqlite'}"
"""
    path = tmp / "config.toml"
    path.write_text(text)
    return path


async def play_to_the_end(url) -> tuple[str, str, int, int]:
    """Two BSV wallets play one battle that `a` wins; (match, winner, entry fee, prize)."""
    async with open_client(url) as a, open_client(url) as b:
        for c in (a, b):
            await c.login_bsv(PrivateKey())
            await c.faucet()
        await a.queue("bronze")
        await b.queue("bronze")
        _, found = await a.next_event("match.found", timeout=30)
        await b.next_event("match.found", timeout=30)
        match, fee = found["match"], found["entry_fee"]
        assert await a.pay_entry(match) == "confirmed"
        assert await b.pay_entry(match) == "confirmed"
        for rnd in (1, 2, 3):
            for c in (a, b):
                _, start = await c.next_event("battle:round_start", match=match, timeout=30,
                                              where=lambda e, r=rnd: e["roundNumber"] == r)
            await trio.sleep(0.4)
            await a.submit(match, rnd, GOOD.format(p=start["prompt"]))
            await b.submit(match, rnd, "meh")
        _, end = await a.next_event("battle:ended", match=match, timeout=60)
        assert end["winnerId"] == a.wallet
        return match, a.wallet, fee, end["prizeAmount"]


async def test_kill9_between_record_and_broadcast_pays_once(tmp_path, monkeypatch):
    chain = GatedChain(b"arena:settle:payout:", fee_sat_per_kb=FEE_SAT_PER_KB)
    net = BsvNetServer(chain, "127.0.0.1", 0).start()
    try:
        setup = BsvSetup(net)
        monkeypatch.setenv("ARENA_BSV_ESCROW_WIF", setup.escrow.wif())
        records = tmp_path / "bsv-ledger.sqlite"
        port = free_port()
        server = ServerProcess(write_bsv_config(tmp_path, port, setup, records), port, tmp_path)
        await server.start()
        try:
            match, winner, fee, prize = await play_to_the_end(server.url)
            # The payout is recorded and its broadcast is in the air: kill -9 now.
            with trio.fail_after(30):
                while not chain.held.is_set():
                    await trio.sleep(0.02)
            server.kill()
            chain.release.set()
            with trio.fail_after(10):
                while not chain.dropped:
                    await trio.sleep(0.02)
            rec = SolanaStore(records).settlement(f"payout:{match}")
            assert rec is not None and rec.state == "sending"
            assert rec.sig not in chain.txs  # the network never saw it
            assert setup.on_chain(winner) == FAUCET - fee

            chain.armed = False
            await server.start()
            with trio.fail_after(60):
                while setup.on_chain(winner) != FAUCET - fee + prize:
                    await trio.sleep(0.05)
            await trio.sleep(1.0)  # any second payout would arrive by now
            assert setup.on_chain(winner) == FAUCET - fee + prize
            done = SolanaStore(records).settlement(f"payout:{match}")
            assert done.state == "done" and done.sig == rec.sig and done.attempts == 1
            settles = [t for t, x in chain.txs.items() if f"arena:settle:payout:{match}".encode() in x["raw"]]
            assert settles == [rec.sig]
        except BaseException:
            print(server.log_tail())
            raise
        finally:
            server.kill()
    finally:
        net.stop()
