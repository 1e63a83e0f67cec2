"""Meme rounds on the BSV ledger, over real sockets, on the SIMULATED BSV
network (tests/bsv_net.py: one process with a UTXO set, every transaction
checked with the BSV SDK; not a node). Every satoshi is checked on that
network's UTXO set, not taken from the server's word.

The round's blocks are the network's own: the height feed reads its
WhatsOnChain-style `chain/info` endpoint, and the test mines blocks to end
a round. An operator uploads an item; `auth.bsv` wallets deposit with
`view.deposit.build` -> `sign_payment` -> `view.deposit.confirm` (real
P2PKH transactions into the escrow address), watch for a measured time and
are charged exactly that (± one second); a purchase (`market.buy.*`) is paid
in satoshis; the owners' direct shares, the seller's proceeds, the fee and
the round's pool leave the escrow as settlement transactions to the owners'
BSV addresses; `python -m arena reconcile` finds nothing amiss afterwards.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import attrs
import trio
from bsv.keys import PrivateKey

from arena.cli_reconcile import reconcile
from arena.client import ArenaRequestError, open_client
from arena.config import FeedConfig, FeedsConfig, FeedSourceConfig
from arena.engine.money import bps_of
from arena.modes.meme.settings import MemeConfig
from bsv_net import BsvSetup, bsv_network, mine  # noqa: F401
from conftest import make_config, operator_client, wait_until
from test_e2e_bsv import until_on_chain
from test_meme_e2e import picture, watch

FAUCET = 10_000
RATE = 10
BLOCKS = 2


def _config(tmp_path, setup: BsvSetup):
    """A server on the BSV ledger whose rounds follow the network's blocks."""
    height = FeedConfig(kind="http", consensus="first", timeout_ms=1_000, retry_ms=100, sources=(
        FeedSourceConfig(name="bsvnet", url=setup.url + "/v1/bsv/main/chain/info", value_path="blocks"),))
    base = make_config(tmp_path, ledger=setup.ledger_config(tmp_path),
                       feeds=FeedsConfig(kind="simulated", feeds={"block_height": height}))
    settings = MemeConfig(rate_per_s=RATE, blocks_per_round=BLOCKS, block_poll_ms=200, settle_every_s=600,
                          fee_account="fee:protocol")
    return attrs.evolve(base, engine=base.engine.with_mode("meme", settings))


async def _server(nursery, cfg):
    from arena.server import ArenaServer

    srv = ArenaServer(cfg)
    port = await nursery.start(srv.run)
    return srv, f"ws://127.0.0.1:{port}/v1"


async def bsv_wallet(url, stack, *, faucet=True):
    c = await stack.enter_async_context(open_client(url))
    await c.hello()
    await c.login_bsv(PrivateKey())
    if faucet:
        assert await c.faucet() == FAUCET
    return c


async def pay(c, build: str, confirm: str, body: dict) -> dict:
    """A payment the BSV way: the ledger builds the transaction, the wallet
    signs its inputs (`sign_payment`), the signed transaction goes back."""
    built = await c.request(build, body)
    tx, signature = c.sign_payment(built["tx"])
    return {**await c.request(confirm, {**body, "tx": tx, "signature": signature}), "built": built}


async def _open_hall(srv, c):
    """The first meme request (through `c`) opens the hall; the first height opens a round."""
    try:
        await c.request("meme.round", {})
    except ArenaRequestError:
        pass  # wrong_state until the first round is open
    await wait_until(lambda: srv.state.modes["meme"].round is not None, timeout=10)
    return srv.state.modes["meme"]


def settled_on_chain(setup, srv, key: str) -> dict:
    """The network's transaction of settlement `key` (recorded done by the ledger)."""
    (rec,) = [s for s in srv.ledger.store.done_settlements() if s.key == key]
    tx = setup.net.chain.txs[rec.sig]
    assert tx["status"] in ("SEEN_ON_NETWORK", "MINED") and f"arena:settle:{key}".encode() in tx["raw"]
    return {"record": rec, "tx": tx}


async def test_a_meme_round_in_satoshis_on_the_bsv_network(nursery, tmp_path, bsv_network):
    setup = BsvSetup.new(bsv_network)
    cfg = _config(tmp_path, setup)
    srv, url = await _server(nursery, cfg)
    assert srv.ledger.name == "bsv"
    async with AsyncExitStack() as stack:
        op = await operator_client(srv, url, stack)
        alice = await bsv_wallet(url, stack)  # owns the meme at first
        carol = await bsv_wallet(url, stack)  # buys it mid-round
        v1 = await bsv_wallet(url, stack)
        v2 = await bsv_wallet(url, stack)

        # The first meme request opens the hall; its first round starts at the network's height.
        sh = await _open_hall(srv, v1)
        first = sh.round.id
        assert sh.round.start_height == bsv_network.chain.height

        sent = await op.request("content.upload", {"title": "a cat on a keyboard", "media": picture(),
                                                   "media_type": "image/png", "owner": alice.wallet})
        cid = sent["content"]
        await wait_until(lambda: sh.contents[cid].state == "ready", timeout=10)
        mine(bsv_network, BLOCKS)  # the round's last block: the next round has the meme
        _, start = await v1.next_event("round:start", where=lambda b: cid in b["content"], timeout=10)
        rid = start["round"]
        assert rid != first and start["height"] == bsv_network.chain.height

        escrow_before = setup.on_chain(setup.escrow.address())
        protocol_before = setup.on_chain(setup.fee_wallets["protocol"])
        float_before = await srv.ledger.float_balance()
        for c in (v1, v2):
            paid = await pay(c, "view.deposit.build", "view.deposit.confirm", {"amount": 500})
            assert {k: paid[k] for k in ("status", "balance")} == {"status": "confirmed", "balance": 500}
            await until_on_chain(setup, c.wallet, FAUCET - 500)  # a real transaction moved the satoshis
        assert await srv.ledger.account_balance(f"escrow:{sh.hall}") == 1_000
        await wait_until(lambda: sh.balances.get(v2.wallet) == 500, timeout=10)

        assert await v1.request("view.start", {"content": cid}) == {"rate_per_s": RATE, "balance": 500}
        await v2.request("view.start", {"content": cid})
        async with trio.open_nursery() as beats:
            beats.start_soon(watch, v2, cid, 60)  # v2 watches on through the trade
            t0 = trio.current_time()
            await watch(v1, cid, 3.0)
            stopped = await v1.request("view.stop", {})
            measured = trio.current_time() - t0
            assert abs(stopped["seconds"] - measured) <= 1 and stopped["charged"] == RATE * stopped["seconds"]

            await alice.request("market.list", {"content": cid, "price": 1_000})
            bought = await pay(carol, "market.buy.build", "market.buy.confirm", {"content": cid})
            assert bought["status"] == "confirmed" and bought["built"]["amount"] == 1_000
            assert bought["built"]["fee"] == 20
            _, owner = await v2.next_event("ownership:changed", timeout=10)
            assert owner == {"content": cid, "owner": carol.wallet}
            await until_on_chain(setup, carol.wallet, FAUCET - 1_000)  # before any share reaches her
            at_trade = sh.views[v2.wallet].charged
            await trio.sleep(2.5)
            beats.cancel_scope.cancel()
        done = await v2.request("view.stop", {})
        assert done["charged"] >= at_trade + RATE

        mine(bsv_network, BLOCKS)
        _, ended = await v1.next_event("round:ended", where=lambda b: b["round"] == rid, timeout=10)
        charged = stopped["charged"] + done["charged"]
        pool = ended["pool"]
        assert pool + sh.direct_paid == charged and pool > 0
        assert ended["rewards"] == [{"wallet": carol.wallet, "amount": pool}]  # the owner at the round's end
        await wait_until(lambda: not srv.state.unsettled, timeout=30)

        # The satoshis on the network: the seller's proceeds and shares, the buyer's pool and shares.
        direct = bps_of(stopped["charged"], 4_000) + bps_of(done["charged"], 4_000)
        assert sh.direct_paid == direct
        alice_direct = setup.on_chain(alice.wallet) - FAUCET - 980
        carol_direct = setup.on_chain(carol.wallet) - (FAUCET - 1_000) - pool
        assert alice_direct > 0 and carol_direct > 0 and alice_direct + carol_direct == direct
        assert setup.on_chain(setup.fee_wallets["protocol"]) - protocol_before == 20
        # The ledger's records: each settlement one transaction the network holds, with its memo.
        escrow = f"escrow:{sh.hall}"
        done_keys = [s.key for s in srv.ledger.store.done_settlements()]
        (trade_key,) = [k for k in done_keys if k.startswith("trade:")]
        trade = settled_on_chain(setup, srv, trade_key)
        assert sorted(tuple(t) for t in trade["record"].transfers) == sorted(
            [(escrow, alice.wallet, 980), (escrow, "fee:protocol", 20)])
        rewards = settled_on_chain(setup, srv, f"pool:{rid}")
        assert [tuple(t) for t in rewards["record"].transfers] == [(escrow, carol.wallet, pool)]
        batches = [settled_on_chain(setup, srv, k) for k in done_keys if k.startswith("direct:")]
        assert batches and sum(t[2] for b in batches for t in b["record"].transfers) == direct

        # Withdrawing: v1 has paid exactly what it watched.
        back = await v1.request("view.withdraw", {})
        assert back == {"amount": 500 - stopped["charged"]}
        await wait_until(lambda: not srv.state.unsettled, timeout=30)
        await until_on_chain(setup, v1.wallet, FAUCET - stopped["charged"])
        assert setup.on_chain(v2.wallet) == FAUCET - 500
        escrow_share = await srv.ledger.account_balance(f"escrow:{sh.hall}")
        assert escrow_share == sum(sh.balances.values()) == 500 - done["charged"]
        # The escrow address lost exactly what was paid out, plus the network fees from its float.
        fees_paid = float_before - await srv.ledger.float_balance()
        assert fees_paid > 0
        assert setup.on_chain(setup.escrow.address()) == escrow_before + escrow_share - fees_paid

    report = await reconcile(cfg)
    assert report["ledger"] == "bsv" and report["problems"] == 0, report


async def _hall_with_item(srv, bsv_network, op, viewer, owner: str) -> tuple[object, str]:
    """Opens the hall (through `viewer`), uploads an item owned by `owner`
    and mines blocks until the item is in the current round."""
    sh = await _open_hall(srv, viewer)
    cid = (await op.request("content.upload", {"title": "a goose guarding the fridge", "media": picture(),
                                               "media_type": "image/png", "owner": owner}))["content"]
    await wait_until(lambda: sh.contents[cid].state == "ready", timeout=10)
    mine(bsv_network, BLOCKS)
    await wait_until(lambda: sh.round is not None and cid in sh.round.content, timeout=10)
    return sh, cid


async def _code(c, type_, body) -> str:
    try:
        await c.request(type_, body)
    except ArenaRequestError as err:
        return err.code
    raise AssertionError(f"{type_} was accepted: {body}")


async def test_hostile_bsv_payments_for_deposits_and_purchases_move_no_satoshi(nursery, tmp_path, bsv_network):
    """Unsigned, forged, tampered, truncated and replayed transactions, another
    wallet's payment, a deposit's transaction offered as a purchase, a wallet
    without coins: refused with the protocol's codes, nothing moves on chain."""
    from arena.chain import bsv_tx as T

    setup = BsvSetup.new(bsv_network)
    srv, url = await _server(nursery, _config(tmp_path, setup))
    async with AsyncExitStack() as stack:
        op = await operator_client(srv, url, stack)
        alice = await bsv_wallet(url, stack)
        eve = await bsv_wallet(url, stack)
        broke = await bsv_wallet(url, stack, faucet=False)
        sh, cid = await _hall_with_item(srv, bsv_network, op, eve, alice.wallet)
        escrow = f"escrow:{sh.hall}"
        # Owners this ledger could never pay are refused at upload.
        from bsv.constants import Network

        for owner in ("So11111111111111111111111111111111111111112",  # a Solana address
                      PrivateKey(network=Network.TESTNET).address(),    # a BSV testnet address
                      None):                                            # none: the operator's key is no wallet
            body = {"title": "a wallet nobody can pay", "media": picture(64), "media_type": "image/png",
                    **({"owner": owner} if owner else {})}
            assert await _code(op, "content.upload", body) == "bad_request", owner
        assert list(sh.contents) == [cid]

        built = await eve.request("view.deposit.build", {"amount": 300})
        tx = built["tx"]
        assert T.is_ef(tx)
        signed, sig = eve.sign_payment(tx)
        thief = PrivateKey()
        forged = T.to_ef(T.sign_inputs(T.parse_ef(tx), thief, T.script_of(eve.wallet)))
        tampered = T.parse_ef(signed)
        tampered.outputs[0].satoshis += 1
        for body, code in [
            ({"tx": tx, "signature": eve.sign(tx)}, "payment_failed"),          # the inputs left unsigned
            ({"tx": forged, "signature": sig}, "payment_failed"),               # another key's input signatures
            ({"tx": signed, "signature": bytes(65)}, "payment_failed"),         # a bad message signature
            ({"tx": T.to_ef(tampered), "signature": sig}, "payment_failed"),    # an output changed after signing
            ({"tx": b"\x00" * 50, "signature": sig}, "payment_failed"),         # not a transaction
            ({"tx": signed[:-3], "signature": sig}, "payment_failed"),          # truncated
            ({"tx": signed, "signature": b"\x01" * 66}, "bad_request"),         # oversized signature
            ({"tx": "text", "signature": sig}, "bad_request"),                  # not bytes
            ({"tx": signed}, "bad_request"),                                    # no signature
        ]:
            assert await _code(eve, "view.deposit.confirm", body) == code, body
        # Another wallet confirming eve's payment; eve's deposit offered as a purchase.
        assert await _code(alice, "view.deposit.confirm", {"tx": signed, "signature": sig}) == "payment_failed"
        await alice.request("market.list", {"content": cid, "price": 300})
        assert await _code(eve, "market.buy.confirm", {"content": cid, "tx": signed, "signature": sig}) \
            == "bad_request"
        assert setup.on_chain(eve.wallet) == FAUCET and await srv.ledger.account_balance(escrow) == 0
        # The genuine one works once; its replay is refused.
        assert (await eve.request("view.deposit.confirm", {"tx": signed, "signature": sig}))["status"] == "confirmed"
        assert await _code(eve, "view.deposit.confirm", {"tx": signed, "signature": sig}) == "payment_failed"
        await until_on_chain(setup, eve.wallet, FAUCET - 300)
        assert await srv.ledger.account_balance(escrow) == 300
        # Out of order: a purchase built, then the listing withdrawn before its confirm.
        buy = await eve.request("market.buy.build", {"content": cid})
        await alice.request("market.unlist", {"content": cid})
        btx, bsig = eve.sign_payment(buy["tx"])
        assert await _code(eve, "market.buy.confirm", {"content": cid, "tx": btx, "signature": bsig}) \
            == "wrong_state"
        # A wallet without coins: the build is returned, its confirm is insufficient_funds.
        poor = await broke.request("view.deposit.build", {"amount": 100})
        ptx, psig = broke.sign_payment(poor["tx"])
        assert await _code(broke, "view.deposit.confirm", {"tx": ptx, "signature": psig}) == "insufficient_funds"
        await wait_until(lambda: sh.balances.get(eve.wallet) == 300, timeout=10)
        assert setup.on_chain(eve.wallet) == FAUCET - 300 and setup.on_chain(broke.wallet) == 0
        assert broke.wallet not in sh.balances and sh.contents[cid].owner == alice.wallet
        assert await srv.ledger.account_balance(escrow) == 300


async def test_a_deposit_pending_until_its_block_counts_when_mined(nursery, tmp_path, bsv_network):
    """`bsv_commitment = "mined"`: the deposit's purpose reaches the engine
    before its money; the money comes through the chain watcher and the
    store's inbox once a block holds the transaction, and only then counts."""
    setup = BsvSetup.new(bsv_network)
    cfg = _config(tmp_path, setup)
    cfg = attrs.evolve(cfg, ledger=attrs.evolve(cfg.ledger, bsv_commitment="mined"))
    srv, url = await _server(nursery, cfg)
    async with AsyncExitStack() as stack:
        op = await operator_client(srv, url, stack)
        alice = await bsv_wallet(url, stack)
        viewer = await bsv_wallet(url, stack)
        sh, cid = await _hall_with_item(srv, bsv_network, op, viewer, alice.wallet)
        paid = await pay(viewer, "view.deposit.build", "view.deposit.confirm", {"amount": 200})
        assert {k: paid[k] for k in ("status", "balance")} == {"status": "pending", "balance": 0}
        assert await _code(viewer, "view.start", {"content": cid}) == "insufficient_funds"
        assert await srv.ledger.account_balance(f"escrow:{sh.hall}") == 0
        mine(bsv_network)
        _, dep = await viewer.next_event("view:deposited", timeout=30)
        assert dep == {"amount": 200, "balance": 200}
        assert await srv.ledger.account_balance(f"escrow:{sh.hall}") == 200
        assert await viewer.request("view.start", {"content": cid}) == {"rate_per_s": RATE, "balance": 200}
        await viewer.request("view.stop", {})
