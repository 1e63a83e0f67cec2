"""End to end on the simulated BSV network: a server with `[ledger] kind =
"bsv"`, BSV wallets logged in with `auth.bsv` over real sockets, the same
client code as on the other ledgers. Balances are read from the network's
UTXO set (tests/bsv_net.py), not from the server.
"""

from __future__ import annotations

import trio
from bsv.keys import PrivateKey

from arena.client import open_client
from bsv_net import BsvSetup, bsv_network  # noqa: F401
from conftest import wait_until
from test_e2e_support import play_battle

FAUCET = 10_000


async def bsv_player(url):
    c = open_client(url)
    client = await c.__aenter__()
    await client.login_bsv(PrivateKey())
    return c, client


async def until_on_chain(setup, address, want, timeout=30.0):
    with trio.fail_after(timeout):
        while (have := setup.on_chain(address)) != want:
            await trio.sleep(0.05)
    assert have == want


async def test_battle_for_real_satoshis_from_entry_fees_to_payout(arena_server, bsv_network, tmp_path):
    setup = BsvSetup.new(bsv_network)
    server, url = await arena_server(ledger=setup.ledger_config(tmp_path), roast={"entry_deadline_ms": 60_000})
    assert server.ledger.name == "bsv"
    async with open_client(url) as a, open_client(url) as b:
        for c in (a, b):
            await c.login_bsv(PrivateKey())
            assert await c.faucet() == FAUCET
            assert setup.on_chain(c.wallet) == FAUCET
        escrow_before = setup.on_chain(setup.escrow.address())
        float_before = await server.ledger.float_balance()
        fees_before = {n: setup.on_chain(setup.fee_wallets[n]) for n in ("creator", "partner", "protocol")}
        match, fee, end = await play_battle(server, a, b)
        assert end["reason"] == "completed" and end["winnerId"] == a.wallet
        pool = 2 * fee
        platform = pool * 500 // 10_000
        partner = platform * 2500 // 10_000
        assert end["prizeAmount"] == pool - platform
        # Entry fees paid exactly; the payout is one escrow-signed transaction.
        await until_on_chain(setup, a.wallet, FAUCET - fee + end["prizeAmount"])
        assert setup.on_chain(b.wallet) == FAUCET - fee
        assert setup.on_chain(setup.fee_wallets["creator"]) - fees_before["creator"] == platform - partner
        assert setup.on_chain(setup.fee_wallets["partner"]) - fees_before["partner"] == partner
        await wait_until(lambda: not server.state.unsettled, timeout=30)
        assert await server.ledger.account_balance(f"escrow:{match}") == 0
        # The escrow address lost exactly the network fees the platform paid (from its float).
        spent_on_fees = float_before - await server.ledger.float_balance()
        assert spent_on_fees > 0
        assert setup.on_chain(setup.escrow.address()) == escrow_before - spent_on_fees
        assert await a.balance() == FAUCET - fee + end["prizeAmount"]
        # The history's receipt names the payout's txid, which the network knows as a settlement.
        with trio.fail_after(30):
            while not (hist := (await a.history())["matches"]):
                await trio.sleep(0.1)
        receipt = hist[0]["result"]["settlement"]
        assert receipt["ledger"] == "bsv" and receipt["status"] == "done"
        tx = setup.net.chain.txs[receipt["signature"]]
        assert tx["status"] == "SEEN_ON_NETWORK" and f"arena:settle:payout:{match}".encode() in tx["raw"]
        # `python -m arena reconcile` reads the BSV ledger's records and finds nothing unaccounted for.
        from arena.cli_reconcile import reconcile

        report = await reconcile(server.cfg)
        assert report["ledger"] == "bsv" and report["records"]["path"].endswith("bsv-ledger.sqlite")
        assert report["problems"] == 0, report


async def test_tips_between_bsv_wallets_over_the_socket(arena_server, bsv_network, tmp_path):
    setup = BsvSetup.new(bsv_network)
    server, url = await arena_server(ledger=setup.ledger_config(tmp_path))
    async with open_client(url) as a, open_client(url) as b:
        await a.login_bsv(PrivateKey())
        await b.login_bsv(PrivateKey())
        await a.faucet()
        status, amount, fee = await a.tip(b.wallet, 500)
        assert status == "confirmed" and amount == 500
        await until_on_chain(setup, b.wallet, 500 - fee)
        assert setup.on_chain(a.wallet) == FAUCET - 500


async def test_hostile_payments_over_the_socket_change_nothing(arena_server, bsv_network, tmp_path):
    from arena.chain import bsv_tx as T
    from test_e2e_support import error_code

    setup = BsvSetup.new(bsv_network)
    server, url = await arena_server(ledger=setup.ledger_config(tmp_path))
    async with open_client(url) as a, open_client(url) as b, open_client(url) as sol:
        key = PrivateKey()
        await a.login_bsv(key)
        await b.login_bsv(PrivateKey())
        await a.faucet()
        built = await a.request("tip.build", {"to": b.wallet, "amount": 500})
        tx = built["tx"]
        assert T.is_ef(tx)
        stx, sig = T.sign_payment(key, tx)
        thief = PrivateKey()
        forged = T.to_ef(T.sign_inputs(T.parse_ef(tx), thief, T.script_of(key.address())))
        tampered = T.parse_ef(stx)
        tampered.outputs[0].satoshis += 1
        cases = [
            ({"tx": tx, "signature": a.sign(tx)}, "payment_failed"),        # the inputs left unsigned
            ({"tx": forged, "signature": sig}, "payment_failed"),           # another key's input signatures
            ({"tx": stx, "signature": bytes(65)}, "payment_failed"),        # a bad message signature
            ({"tx": T.to_ef(tampered), "signature": sig}, "payment_failed"),  # an output changed after signing
            ({"tx": b"\x00" * 50, "signature": sig}, "bad_request"),        # not a transaction
            ({"tx": stx[:-3], "signature": sig}, "bad_request"),            # truncated
            ({"tx": stx, "signature": b"\x01" * 66}, "bad_request"),        # oversized signature
        ]
        for body, code in cases:
            assert await error_code(a.request("tip.confirm", body)) == code, body
        assert setup.on_chain(a.wallet) == FAUCET and setup.on_chain(b.wallet) == 0
        # The genuine one works once; its replay is a duplicate.
        assert (await a.request("tip.confirm", {"tx": stx, "signature": sig}))["status"] == "confirmed"
        assert await error_code(a.request("tip.confirm", {"tx": stx, "signature": sig})) == "duplicate"
        await until_on_chain(setup, b.wallet, 500 - built["fee"])
        assert setup.on_chain(a.wallet) == FAUCET - 500
        # Another wallet confirming a's payment; a Solana wallet on the BSV ledger.
        assert await error_code(b.request("tip.confirm", {"tx": stx, "signature": sig})) in (
            "bad_request", "duplicate", "payment_failed")
        await sol.hello()
        await sol.login()
        assert await error_code(sol.request("wallet.faucet", {})) == "bad_request"
        assert await error_code(sol.request("tip.build", {"to": a.wallet, "amount": 5})) == "bad_request"


async def test_pending_entries_land_with_a_block_and_reach_the_engine_through_the_inbox(
        arena_server, bsv_network, tmp_path):
    """bsv_commitment = "mined": entry.confirm answers pending; once a block
    is mined the chain watcher announces the fees (through the store's
    inbox) and the battle starts."""
    from bsv_net import mine
    from test_e2e_support import queue_pair

    setup = BsvSetup.new(bsv_network)
    server, url = await arena_server(ledger=setup.ledger_config(tmp_path, bsv_commitment="mined"),
                                     roast={"entry_deadline_ms": 60_000})
    async with open_client(url) as a, open_client(url) as b:
        for c in (a, b):
            await c.login_bsv(PrivateKey())
            await c.faucet()
        match, fee = await queue_pair(a, b)
        assert await a.pay_entry(match) == "pending"
        assert await b.pay_entry(match) == "pending"
        assert await server.ledger.account_balance(f"escrow:{match}") == 0
        mine(bsv_network)
        for c in (a, b):
            await c.next_event("entry.confirmed", match=match, where=lambda e, w=c.wallet: e["player"] == w,
                               timeout=30)
        _, start = await a.next_event("battle:round_start", match=match, timeout=30)
        assert start["roundNumber"] == 1
        assert await server.ledger.account_balance(f"escrow:{match}") == 2 * fee


async def test_bots_with_bsv_wallets_play_and_are_paid(arena_server, bsv_network, tmp_path):
    """`python -m arena bot --wallet bsv` against a BSV-ledger server: the bots
    log in with auth.bsv, pay their entries in satoshis and the winner is paid."""
    from arena.bot import run_bots

    setup = BsvSetup.new(bsv_network)
    server, url = await arena_server(ledger=setup.ledger_config(tmp_path), roast={"entry_deadline_ms": 60_000})
    lines: list[str] = []
    with trio.fail_after(120):
        rc = await run_bots(url, 2, "bronze", 1, 7, lines.append, wallet="bsv")
    assert rc == 0, lines
    await wait_until(lambda: not server.state.unsettled, timeout=30)
    done = server.ledger.store.done_settlements()
    assert len(done) == 1 and done[0].key.startswith("payout:"), "\n".join(lines)
    assert any("won" in line for line in lines), lines
