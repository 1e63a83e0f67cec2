"""The Solana ledger against a local Solana network (`python -m arena devnet`).

- the shared ledger contract (tests/ledger_contract.py);
- every refusal of issue 4, each charging nothing;
- payments that confirm after their confirm call (the `run` hook);
- crash safety: settlements and payments survive a "crash" (a new ledger
  on the same record store and RPC) without paying twice.
"""

from __future__ import annotations

import pickle

import pytest
import trio
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import freeze_account, thaw_account
from spl.token.models import FreezeAccountParams, ThawAccountParams

from arena.chain import solana_tx as stx
from arena.chain.solana import EscrowKey, SolanaLedger, faucet_network_ok, load_escrow_key
from arena.chain.solana_rpc import RpcUnavailable
from arena.chain.solana_store import SolanaStore
from arena.engine import errors
from arena.engine import inputs as I
from arena.engine.outputs import Settle, Transfer
from ledger_contract import LedgerContract, new_match, raises_code, sign, wallet_of
from solana_net import ledger_kwargs, rpc, solana_devnet, token_balance  # noqa: F401


@pytest.fixture
async def make_ledger(solana_devnet, tmp_path):
    """`await make_ledger(**overrides)`: a SolanaLedger on the session devnet; closed afterwards."""
    made = []

    async def make(**overrides):
        overrides.setdefault("store", str(tmp_path / f"records-{len(made)}.sqlite"))
        led = SolanaLedger(**ledger_kwargs(solana_devnet, **overrides))
        made.append(led)
        return led

    yield make
    for led in made:
        await led.aclose()


class TestSolanaLedgerContract(LedgerContract):
    @pytest.fixture
    async def ledger_factory(self, make_ledger):
        return make_ledger

    async def wait_final(self, ledger, result):
        if result.status == "pending":
            assert await ledger.wait_payment(result.payment_id) == "landed"
        else:
            assert result.status == "confirmed"


# --- helpers -------------------------------------------------------------------------


async def funded(ledger) -> tuple[Keypair, str, int]:
    kp = Keypair()
    w = wallet_of(kp)
    return kp, w, await ledger.faucet(w)


async def escrow_total(dn) -> int:
    led_escrow = stx.ata(dn.escrow().pubkey(), Pubkey.from_string(dn.ledger["mint"]))
    return await token_balance(dn.url, led_escrow)


async def send_as_escrow(dn, ixs) -> None:
    """Land a transaction signed by the escrow key (the devnet mint's freeze authority)."""
    esc = dn.escrow()
    bh = (await rpc(dn.url, "getLatestBlockhash"))["value"]["blockhash"]
    from solders.hash import Hash
    from solders.transaction import Transaction

    tx = Transaction([esc], Message.new_with_blockhash(ixs, esc.pubkey(), Hash.from_string(bh)), Hash.from_string(bh))
    import base64

    sig = await rpc(dn.url, "sendTransaction", base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"})
    with trio.fail_after(30):
        while True:
            st = (await rpc(dn.url, "getSignatureStatuses", [sig]))["value"][0]
            if st and st["confirmationStatus"] in ("confirmed", "finalized"):
                assert st["err"] is None
                return
            await trio.sleep(0.05)


def freeze_ix(dn, owner: str, thaw: bool = False):
    mint = Pubkey.from_string(dn.ledger["mint"])
    account = stx.ata(Pubkey.from_string(owner), mint)
    auth = dn.escrow().pubkey()
    if thaw:
        return thaw_account(ThawAccountParams(program_id=TOKEN_PROGRAM_ID, account=account, mint=mint, authority=auth))
    return freeze_account(FreezeAccountParams(program_id=TOKEN_PROGRAM_ID, account=account, mint=mint, authority=auth))


async def assert_nothing_charged(ledger, wallet, bal, match=None):
    assert await ledger.balance(wallet) == bal
    if match is not None:
        assert await ledger.account_balance(f"escrow:{match}") == 0


# --- what a player signs ----------------------------------------------------------------


async def test_entry_tx_is_a_real_transfer_checked_with_memo(make_ledger, solana_devnet):
    led = await make_ledger()
    kp, w, _ = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 1234)
    msg = Message.from_bytes(tx)
    assert msg.account_keys[0] == kp.pubkey()  # fee payer: the player
    assert msg.header.num_required_signatures == 1
    programs = [msg.account_keys[ix.program_id_index] for ix in msg.instructions]
    assert programs == [TOKEN_PROGRAM_ID, Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")]
    parsed = stx.parse_payment(led.token, tx)
    assert (parsed.wallet, parsed.match, parsed.amount) == (w, m, 1234)
    assert bytes(msg.instructions[1].data).decode().startswith(f"arena:entry:{m}:")
    res = await led.confirm_entry(w, m, 1234, tx, sign(kp, tx))
    assert res.status in ("confirmed", "pending")
    # On chain: the memo names the match, and the escrow account holds the fee.
    sigs = await rpc(solana_devnet.url, "getSignaturesForAddress", str(led.token.escrow_account), {"limit": 5,
                                                                                                    "commitment": "confirmed"})
    assert any(s["signature"] == res.payment_id and f"arena:entry:{m}:" in (s["memo"] or "") for s in sigs)


async def test_tip_tx_splits_98_2_in_one_transaction(make_ledger, solana_devnet):
    led = await make_ledger()
    kp, w, bal = await funded(led)
    performer = wallet_of(Keypair())  # has no token account yet: the tip creates it
    tx = await led.build_tip(w, performer, 10_000, 200)
    parsed = stx.parse_payment(led.token, tx)
    assert parsed.creates_ata and (parsed.amount, parsed.fee) == (10_000, 200)
    proto = stx.ata(Pubkey.from_string(solana_devnet.ledger["fee_protocol"]), led.mint)
    before = await token_balance(solana_devnet.url, proto)
    res = await led.confirm_tip(w, tx, sign(kp, tx))
    if res.status == "pending":
        assert await led.wait_payment(res.payment_id) == "landed"
    assert await token_balance(solana_devnet.url, stx.ata(Pubkey.from_string(performer), led.mint)) == 9_800
    assert await token_balance(solana_devnet.url, proto) - before == 200
    assert await led.balance(w) == bal - 10_000


# --- refusals: each charges nothing -------------------------------------------------------------


async def test_refused_wrong_amount(make_ledger):
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 500)
    with raises_code(errors.BAD_REQUEST) as r:
        await led.confirm_entry(w, m, 501, tx, sign(kp, tx))
    assert "amount" in r.error.message
    await assert_nothing_charged(led, w, bal, m)


async def test_refused_wrong_match(make_ledger):
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 500)
    with raises_code(errors.BAD_REQUEST) as r:
        await led.confirm_entry(w, new_match(), 500, tx, sign(kp, tx))
    assert "match" in r.error.message
    await assert_nothing_charged(led, w, bal, m)


async def test_refused_wrong_account(make_ledger):
    """A transaction (signed by the player) that pays somewhere other than the escrow."""
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    thief = stx.ata(Keypair().pubkey(), led.mint)
    bh = (await led.rpc.latest_blockhash())[0]
    tok = led.token
    evil = stx.Token(tok.mint, tok.decimals, tok.escrow_authority, thief, tok.protocol_account)
    tx = bytes(stx.entry_message(evil, kp.pubkey(), m, 500, "abc", bh))
    with raises_code(errors.BAD_REQUEST) as r:
        await led.confirm_entry(w, m, 500, tx, sign(kp, tx))
    assert "wrong account" in r.error.message
    await assert_nothing_charged(led, w, bal, m)


async def test_refused_wrong_mint(make_ledger):
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    bh = (await led.rpc.latest_blockhash())[0]
    tok = led.token
    other = stx.Token(Keypair().pubkey(), tok.decimals, tok.escrow_authority, tok.escrow_account, tok.protocol_account)
    tx = bytes(stx.entry_message(other, kp.pubkey(), m, 500, "abc", bh))
    with raises_code(errors.BAD_REQUEST) as r:
        await led.confirm_entry(w, m, 500, tx, sign(kp, tx))
    assert "wrong mint" in r.error.message
    await assert_nothing_charged(led, w, bal, m)


async def test_refused_tx_not_built_here(make_ledger):
    """Right shape, right everything, but not a message this ledger built."""
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    bh = (await led.rpc.latest_blockhash())[0]
    tx = bytes(stx.entry_message(led.token, kp.pubkey(), m, 500, "selfmade", bh))
    with raises_code(errors.PAYMENT_FAILED) as r:
        await led.confirm_entry(w, m, 500, tx, sign(kp, tx))
    assert "unknown" in r.error.message
    await assert_nothing_charged(led, w, bal, m)


async def test_refused_stale_blockhash(make_ledger, solana_devnet):
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 500)
    # Move the chain past the blockhash's last valid block height.
    await rpc(solana_devnet.url, "arena_advanceSlots", 700)
    with raises_code(errors.PAYMENT_FAILED) as r:
        await led.confirm_entry(w, m, 500, tx, sign(kp, tx))
    assert "stale blockhash" in r.error.message
    await assert_nothing_charged(led, w, bal, m)
    # A fresh build works.
    tx = await led.build_entry(w, m, 500)
    res = await led.confirm_entry(w, m, 500, tx, sign(kp, tx))
    if res.status == "pending":
        await led.wait_payment(res.payment_id)
    assert await led.account_balance(f"escrow:{m}") == 500


async def test_refused_signature_by_another_key(make_ledger):
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 500)
    with raises_code(errors.PAYMENT_FAILED) as r:
        await led.confirm_entry(w, m, 500, tx, sign(Keypair(), tx))
    assert "signature" in r.error.message
    await assert_nothing_charged(led, w, bal, m)


async def test_refused_same_tx_twice_is_duplicate(make_ledger, solana_devnet):
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 500)
    sig = sign(kp, tx)
    first = await led.confirm_entry(w, m, 500, tx, sig)
    with raises_code(errors.DUPLICATE):  # while it may still be in flight, or after
        await led.confirm_entry(w, m, 500, tx, sig)
    if first.status == "pending":
        await led.wait_payment(first.payment_id)
    with raises_code(errors.DUPLICATE):
        await led.confirm_entry(w, m, 500, tx, sig)
    assert await led.balance(w) == bal - 500
    assert await led.account_balance(f"escrow:{m}") == 500


async def test_refused_tx_that_fails_on_chain_preflight(make_ledger, solana_devnet):
    """The token account is frozen: the transaction would fail; nothing lands."""
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 500)
    await send_as_escrow(solana_devnet, [freeze_ix(solana_devnet, w)])
    try:
        with raises_code(errors.PAYMENT_FAILED) as r:
            await led.confirm_entry(w, m, 500, tx, sign(kp, tx))
        assert "frozen" in r.error.message
    finally:
        await send_as_escrow(solana_devnet, [freeze_ix(solana_devnet, w, thaw=True)])
    await assert_nothing_charged(led, w, bal, m)


async def test_refused_tx_that_lands_failed_on_chain(make_ledger, solana_devnet):
    """Without preflight the failing transaction lands with an error: payment_failed, no tokens move."""
    led = await make_ledger(preflight=False)
    kp, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 500)
    await send_as_escrow(solana_devnet, [freeze_ix(solana_devnet, w)])
    try:
        with raises_code(errors.PAYMENT_FAILED) as r:
            await led.confirm_entry(w, m, 500, tx, sign(kp, tx))
        assert "failed on chain" in r.error.message
    finally:
        await send_as_escrow(solana_devnet, [freeze_ix(solana_devnet, w, thaw=True)])
    await assert_nothing_charged(led, w, bal, m)


async def test_refused_tip_with_tampered_split(make_ledger):
    """A tip whose fee part is moved to the performer (signed by the tipper): not ours."""
    led = await make_ledger()
    kp, w, bal = await funded(led)
    performer = Keypair().pubkey()
    bh = (await led.rpc.latest_blockhash())[0]
    tx = bytes(stx.tip_message(led.token, kp.pubkey(), performer, 1000, 0, "n", bh, create_ata=True))
    with raises_code(errors.PAYMENT_FAILED):
        await led.confirm_tip(w, tx, sign(kp, tx))
    assert await led.balance(w) == bal


async def test_faucet_refuses_mainnet_and_other_networks():
    assert faucet_network_ok("http://127.0.0.1:8899")
    assert faucet_network_ok("http://localhost:8899")
    assert faucet_network_ok("https://api.devnet.solana.com")
    assert faucet_network_ok("https://api.testnet.solana.com")
    assert not faucet_network_ok("https://api.mainnet-beta.solana.com")
    assert not faucet_network_ok("https://mainnet.helius-rpc.com/?api-key=x")
    assert not faucet_network_ok("https://devnet.example.com.mainnet.example.org")
    assert not faucet_network_ok("https://rpc.example.com")
    led = SolanaLedger("https://api.mainnet-beta.solana.com", str(Keypair().pubkey()), Keypair(),
                       {n: str(Keypair().pubkey()) for n in ("creator", "partner", "protocol")},
                       faucet_amount=10_000)
    with raises_code(errors.NOT_ALLOWED) as r:
        await led.faucet(str(Keypair().pubkey()))  # refused before any network call
    assert "devnet" in r.error.message
    await led.aclose()


async def test_faucet_disabled(make_ledger):
    led = await make_ledger(faucet_amount=0)
    with raises_code(errors.NOT_ALLOWED):
        await led.faucet(str(Keypair().pubkey()))


# --- payments that confirm later: the run() hook ---------------------------------------------------


async def wait_fed(fed: list, n: int = 1, timeout: float = 30) -> None:
    """Until `run` has fed `n` inputs (what it feeds lands in `fed`)."""
    with trio.fail_after(timeout):
        while len(fed) < n:
            await trio.sleep(0.05)


async def test_pending_entry_is_announced_by_run(make_ledger, nursery):
    led = await make_ledger(confirm_wait_s=0)
    fed = []
    nursery.start_soon(led.run, fed.append)
    kp, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 700)
    res = await led.confirm_entry(w, m, 700, tx, sign(kp, tx))
    assert res.status == "pending"
    # RoastPush: another payment for the same entry while one is in flight waits.
    tx2 = await led.build_entry(w, m, 700)
    with raises_code(errors.WRONG_STATE) as r:
        await led.confirm_entry(w, m, 700, tx2, sign(kp, tx2))
    assert r.error.retry_after_ms > 0
    await wait_fed(fed)
    assert fed == [I.EntryFeePaid(m, w, 700, res.payment_id)]
    assert await led.account_balance(f"escrow:{m}") == 700
    assert await led.balance(w) == bal - 700
    # Once it has landed, nothing is in flight: the second build can be paid.
    res2 = await led.confirm_entry(w, m, 700, tx2, sign(kp, tx2))
    with trio.fail_after(30):
        while len(fed) < 2:
            await trio.sleep(0.05)
    assert fed[1] == I.EntryFeePaid(m, w, 700, res2.payment_id)


async def test_pending_tip_is_announced_by_run(make_ledger, nursery):
    led = await make_ledger(confirm_wait_s=0)
    fed = []
    nursery.start_soon(led.run, fed.append)
    kp, w, bal = await funded(led)
    to = str(Keypair().pubkey())
    tx = await led.build_tip(w, to, 1000, 20)
    res = await led.confirm_tip(w, tx, sign(kp, tx))
    assert res.status == "pending"
    await wait_fed(fed)
    assert fed == [I.TipSent(w, to, 1000, 20, res.payment_id)]


async def test_confirmed_but_unacknowledged_payment_is_announced_by_run(make_ledger, nursery, monkeypatch):
    """A confirm call answered "confirmed", but its caller never acknowledged
    (its store could not take the announcement): the watcher announces it,
    once, after ACK_WAIT_S. An acknowledged one it leaves alone."""
    from arena.chain import solana as solana_mod

    monkeypatch.setattr(solana_mod, "ACK_WAIT_S", 0.3)
    led = await make_ledger(poll_s=0.05)
    fed = []
    nursery.start_soon(led.run, fed.append)
    kp, w, _ = await funded(led)
    m1, m2 = new_match(), new_match()
    tx1 = await led.build_entry(w, m1, 100)
    acked = await led.confirm_entry(w, m1, 100, tx1, sign(kp, tx1))
    tx2 = await led.build_entry(w, m2, 200)
    unacked = await led.confirm_entry(w, m2, 200, tx2, sign(kp, tx2))
    assert acked.status == unacked.status == "confirmed"
    await led.acknowledge(acked.payment_id)
    await wait_fed(fed)
    await trio.sleep(1.0)  # a few more sweeps: nothing else is announced
    assert fed == [I.EntryFeePaid(m2, w, 200, unacked.payment_id)]
    assert [p.sig for p in led.store.unannounced()] == []


async def test_restart_announces_a_payment_confirmed_before_a_crash(make_ledger, tmp_path, nursery):
    """Confirmed to its caller, and the process died before the caller
    acknowledged: the restarted ledger's watcher announces it at start."""
    store = str(tmp_path / "crash-confirmed.sqlite")
    led1 = await make_ledger(store=store)
    kp, w, _ = await funded(led1)
    m = new_match()
    tx = await led1.build_entry(w, m, 250)
    res = await led1.confirm_entry(w, m, 250, tx, sign(kp, tx))
    assert res.status == "confirmed"  # ... and the process dies before acknowledging
    led2 = await make_ledger(store=store)
    fed = []
    nursery.start_soon(led2.run, fed.append)
    await wait_fed(fed)
    assert fed == [I.EntryFeePaid(m, w, 250, res.payment_id)]


class _LosingSends:
    """Wraps the RPC: the first `n` sendTransaction calls are lost (never reach the node)."""

    def __init__(self, rpc, n=1):
        self._rpc, self.lost = rpc, n

    def __getattr__(self, name):
        return getattr(self._rpc, name)

    async def send(self, raw, *, preflight=True):
        if self.lost > 0:
            self.lost -= 1
            raise RpcUnavailable("connection reset (simulated)")
        return await self._rpc.send(raw, preflight=preflight)


async def test_send_lost_in_transit_is_rebroadcast_and_announced(make_ledger, nursery):
    """The client never heard (the send failed on the way): `run` re-broadcasts
    the recorded transaction, sees it land and tells the engine."""
    led = await make_ledger(rebroadcast_s=0.1)
    kp, w, bal = await funded(led)
    led.rpc = _LosingSends(led.rpc)
    m = new_match()
    tx = await led.build_entry(w, m, 300)
    res = await led.confirm_entry(w, m, 300, tx, sign(kp, tx))
    assert res.status == "pending"
    assert await led.balance(w) == bal  # nothing reached the chain yet
    fed = []
    nursery.start_soon(led.run, fed.append)
    await wait_fed(fed)
    assert fed == [I.EntryFeePaid(m, w, 300, res.payment_id)]
    assert await led.balance(w) == bal - 300


async def test_payment_that_never_reached_the_chain_expires_and_can_be_retried(make_ledger, solana_devnet, nursery):
    led = await make_ledger(rebroadcast_s=3600, retry_after_s=3600)
    kp, w, bal = await funded(led)
    led.rpc = _LosingSends(led.rpc)
    m = new_match()
    tx = await led.build_entry(w, m, 300)
    res = await led.confirm_entry(w, m, 300, tx, sign(kp, tx))
    assert res.status == "pending"
    tx2 = await led.build_entry(w, m, 300)
    with raises_code(errors.WRONG_STATE):
        await led.confirm_entry(w, m, 300, tx2, sign(kp, tx2))
    await rpc(solana_devnet.url, "arena_advanceSlots", 700)  # its blockhash expires
    assert await led.wait_payment(res.payment_id) == "expired"
    assert await led.balance(w) == bal
    tx3 = await led.build_entry(w, m, 300)
    res3 = await led.confirm_entry(w, m, 300, tx3, sign(kp, tx3))
    if res3.status == "pending":
        assert await led.wait_payment(res3.payment_id) == "landed"
    assert await led.balance(w) == bal - 300
    assert await led.account_balance(f"escrow:{m}") == 300


async def test_crash_after_recording_a_payment_recovers_on_restart(make_ledger, tmp_path, nursery):
    """Crash between recording the payment and sending it: the restarted ledger
    finds it in the record store, sends it and announces it."""
    store = str(tmp_path / "crash-pay.sqlite")
    led1 = await make_ledger(store=store)
    kp, w, bal = await funded(led1)
    led1.rpc = _LosingSends(led1.rpc)
    m = new_match()
    tx = await led1.build_entry(w, m, 400)
    res = await led1.confirm_entry(w, m, 400, tx, sign(kp, tx))
    assert res.status == "pending"  # ... and the process dies here
    led2 = await make_ledger(store=store, rebroadcast_s=0.1)
    fed = []
    nursery.start_soon(led2.run, fed.append)
    await wait_fed(fed)
    assert fed == [I.EntryFeePaid(m, w, 400, res.payment_id)]
    assert await led2.account_balance(f"escrow:{m}") == 400
    assert await led2.balance(w) == bal - 400


# --- settlements: atomic, idempotent, crash-safe ------------------------------------------------------


async def _two_paid(led, m, fee=1000):
    players = []
    for _ in range(2):
        kp, w, bal = await funded(led)
        tx = await led.build_entry(w, m, fee)
        res = await led.confirm_entry(w, m, fee, tx, sign(kp, tx))
        if res.status == "pending":
            await led.wait_payment(res.payment_id)
        players.append((w, bal))
    return players


def _payout(m, winner, pot=2000):
    fee = pot * 500 // 10_000
    partner = fee * 2500 // 10_000
    return Settle(key=f"payout:{m}", match=m, reason="completed", transfers=(
        Transfer(f"escrow:{m}", winner, pot - fee),
        Transfer(f"escrow:{m}", "fee:creator", fee - partner),
        Transfer(f"escrow:{m}", "fee:partner", partner),
    ))


async def test_settle_is_one_atomic_transaction_with_its_key_as_memo(make_ledger, solana_devnet):
    led = await make_ledger()
    m = new_match()
    (a, bal_a), (b, _) = await _two_paid(led, m)
    total_before = await escrow_total(solana_devnet)
    await led.settle(_payout(m, a))
    rec = led.store.settlement(f"payout:{m}")
    assert rec.state == "done" and rec.attempts == 1
    st = (await rpc(solana_devnet.url, "getSignaturesForAddress", str(led.token.escrow_account),
                    {"limit": 10, "commitment": "confirmed"}))
    mine = [s for s in st if s["signature"] == rec.sig]
    digest = stx.transfers_digest(rec.transfers)
    assert mine and mine[0]["memo"].endswith(f"arena:settle:payout:{m}#{digest}") and mine[0]["err"] is None
    assert await escrow_total(solana_devnet) == total_before - 2000
    assert await led.balance(a) == bal_a - 1000 + 1900


async def test_crash_after_settle_then_settle_again_pays_once(make_ledger, tmp_path, solana_devnet):
    store = str(tmp_path / "crash-settle.sqlite")
    led1 = await make_ledger(store=store)
    m = new_match()
    (a, bal_a), (b, bal_b) = await _two_paid(led1, m)
    s = _payout(m, a)
    await led1.settle(s)
    led2 = await make_ledger(store=store)  # "crash": a new ledger on the same records and RPC
    await led2.settle(s)
    await led2.settle(s)
    assert await led2.balance(a) == bal_a - 1000 + 1900
    assert await led2.account_balance(f"escrow:{m}") == 0
    assert led2.store.settlement(s.key).attempts == 1


def _lost_attempt(led, key, m):
    """Give `led`'s records a failed attempt of `key` (as if its own record of
    the attempt that landed were lost), so the next settle checks the chain."""
    assert led.store.reserve_settlement(key, m, {}, [], "lost-attempt", b"", "bh", 0)[0] == "ok"
    assert led.store.finish_settlement(key, "lost-attempt", False, "lost")


async def test_memo_on_chain_of_the_same_settlement_is_proof_and_pays_once(make_ledger):
    led1 = await make_ledger()
    m = new_match()
    (a, bal_a), _ = await _two_paid(led1, m)
    s = _payout(m, a)
    await led1.settle(s)
    led2 = await make_ledger()  # other records, same chain
    _lost_attempt(led2, s.key, m)
    await led2.settle(s)
    rec = led2.store.settlement(s.key)
    assert rec.state == "done" and rec.detail == "adopted from chain"
    assert await led2.balance(a) == bal_a - 1000 + 1900  # paid once


async def test_memo_on_chain_of_the_key_with_other_transfers_is_a_conflict(make_ledger):
    """Another world's (or a bug's) settlement of the same key is no proof of payment."""
    led1 = await make_ledger()
    m = new_match()
    (a, bal_a), (b, bal_b) = await _two_paid(led1, m)
    await led1.settle(_payout(m, a))
    led2 = await make_ledger()
    other = _payout(m, b)  # the same key, another winner
    _lost_attempt(led2, other.key, m)
    with raises_code(errors.KEY_CONFLICT):
        await led2.settle(other)
    assert led2.stats["conflicts"] == 1
    assert led2.store.settlement(other.key).state == "failed"  # not done: kept for an operator
    assert await led2.balance(b) == bal_b - 1000
    assert await led2.balance(a) == bal_a - 1000 + 1900


def test_settle_memo_parses_with_and_without_digest():
    d = stx.transfers_digest([["escrow:m", "w", 5]])
    assert len(d) == 16 and d != stx.transfers_digest([["escrow:m", "w", 6]])
    assert stx.parse_settle_memo(stx.settle_memo("refund:ro-1", d)) == ("refund:ro-1", d)
    assert stx.parse_settle_memo("arena:settle:refund:ro-1") == ("refund:ro-1", None)  # before digests
    assert stx.parse_settle_memo("arena:settle:a#b") == ("a#b", None)
    assert stx.parse_settle_memo("arena:entry:m:n") is None


async def test_bind_world_refuses_another_worlds_records(make_ledger, tmp_path):
    from arena.chain.solana_store import RecordsOfAnotherWorld

    path = str(tmp_path / "bound.sqlite")
    led1 = await make_ledger(store=path)
    await led1.bind_world("00000000000000aa")
    m = new_match()
    await _two_paid(led1, m)
    led1.store.close()
    led2 = await make_ledger(store=path)
    with pytest.raises(RecordsOfAnotherWorld, match="00000000000000aa.*00000000000000bb"):
        await led2.bind_world("00000000000000bb")
    assert led2.world is None
    led2.store.close()
    led3 = await make_ledger(store=path, adopt_records="00000000000000aa")
    await led3.bind_world("00000000000000bb")
    assert led3.store.binding()["world"] == "00000000000000bb"
    assert led3.store.binding()["adopted_from"] == "00000000000000aa"
    assert led3.store.escrow_balance(m) == 2000  # the adopted escrow is still accounted for


class _CrashAfterSend(Exception):
    pass


async def test_crash_between_send_and_landing_pays_once(make_ledger, tmp_path, solana_devnet):
    """The settlement transaction left, the process died before it learnt the
    outcome: the restarted ledger resolves that attempt instead of paying again."""
    store = str(tmp_path / "crash-inflight.sqlite")
    led1 = await make_ledger(store=store)
    m = new_match()
    (a, bal_a), _ = await _two_paid(led1, m)
    s = _payout(m, a)

    async def crash(*args, **kwargs):
        raise _CrashAfterSend()

    led1._finish_attempt = crash  # dies right after sendTransaction returned
    with pytest.raises(_CrashAfterSend):
        await led1.settle(s)
    assert led1.store.settlement(s.key).state == "sending"
    led2 = await make_ledger(store=store)
    await led2.settle(s)
    rec = led2.store.settlement(s.key)
    assert rec.state == "done" and rec.attempts == 1
    assert await led2.balance(a) == bal_a - 1000 + 1900
    assert await led2.account_balance(f"escrow:{m}") == 0


class _CrashBeforeSend(Exception):
    pass


class _NoSend:
    def __init__(self, rpc):
        self._rpc = rpc

    def __getattr__(self, name):
        return getattr(self._rpc, name)

    async def send(self, raw, *, preflight=True):
        raise _CrashBeforeSend()


async def test_crash_between_record_and_send_after_expiry_pays_once(make_ledger, tmp_path, solana_devnet):
    """Recorded but never sent, and its blockhash has expired by the restart:
    the old attempt can never land, so a new one is sent (after checking the chain)."""
    store = str(tmp_path / "crash-unsent.sqlite")
    led1 = await make_ledger(store=store)
    m = new_match()
    (a, bal_a), _ = await _two_paid(led1, m)
    s = _payout(m, a)
    led1.rpc = _NoSend(led1.rpc)
    with pytest.raises(_CrashBeforeSend):
        await led1.settle(s)
    await rpc(solana_devnet.url, "arena_advanceSlots", 700)
    led2 = await make_ledger(store=store)
    await led2.settle(s)
    rec = led2.store.settlement(s.key)
    assert rec.state == "done" and rec.attempts == 2 and len(rec.prior_sigs) == 1
    assert await led2.balance(a) == bal_a - 1000 + 1900
    await led2.settle(s)
    assert await led2.balance(a) == bal_a - 1000 + 1900


async def test_crash_between_record_and_send_before_expiry_rebroadcasts_the_same_tx(make_ledger, tmp_path):
    store = str(tmp_path / "crash-unsent2.sqlite")
    led1 = await make_ledger(store=store)
    m = new_match()
    (a, bal_a), _ = await _two_paid(led1, m)
    s = _payout(m, a)
    led1.rpc = _NoSend(led1.rpc)
    with pytest.raises(_CrashBeforeSend):
        await led1.settle(s)
    led2 = await make_ledger(store=store, rebroadcast_s=0.1)
    await led2.settle(s)
    rec = led2.store.settlement(s.key)
    assert rec.state == "done" and rec.attempts == 1  # the recorded transaction itself landed
    assert await led2.balance(a) == bal_a - 1000 + 1900


async def test_concurrent_settles_of_one_key_pay_once(make_ledger):
    led = await make_ledger()
    m = new_match()
    (a, bal_a), _ = await _two_paid(led, m)
    s = _payout(m, a)
    async with trio.open_nursery() as n:
        for _ in range(4):
            n.start_soon(led.settle, s)
    assert await led.balance(a) == bal_a - 1000 + 1900
    assert led.store.settlement(s.key).attempts == 1


async def test_concurrent_settles_cannot_overdraw_one_match(make_ledger):
    led = await make_ledger()
    m = new_match()
    (a, _), (b, _) = await _two_paid(led, m)
    results = []

    async def go(key, who):
        try:
            await led.settle(Settle(key=key, match=m, reason="x", transfers=(Transfer(f"escrow:{m}", who, 1500),)))
            results.append("ok")
        except Exception as exc:  # noqa: BLE001
            results.append(getattr(exc, "code", repr(exc)))

    async with trio.open_nursery() as n:
        n.start_soon(go, f"k1:{m}", a)
        n.start_soon(go, f"k2:{m}", b)
    assert sorted(results) == ["ok", errors.PAYMENT_FAILED]
    assert await led.account_balance(f"escrow:{m}") == 500


async def test_settle_refuses_sources_it_cannot_sign_for(make_ledger):
    led = await make_ledger()
    with raises_code(errors.BAD_REQUEST):
        await led.settle(Settle(key="k-wallet-src", match="m", reason="x",
                                transfers=(Transfer(str(Keypair().pubkey()), "fee:creator", 1),)))
    with raises_code(errors.BAD_REQUEST):
        await led.settle(Settle(key="k-bad-dest", match="m", reason="x",
                                transfers=(Transfer("escrow:m", "fee:nobody", 1),)))


# --- the escrow key -------------------------------------------------------------------------------------


def test_escrow_key_never_shows_its_secret(tmp_path):
    kp = Keypair()
    secret_b58 = str(kp)  # solders prints the secret key here: exactly what must not leak
    key = EscrowKey(kp)
    for text in (repr(key), str(key), f"{key}"):
        assert secret_b58 not in text and str(kp.pubkey()) in text
    with pytest.raises(TypeError):
        pickle.dumps(key)
    led = SolanaLedger("http://127.0.0.1:1", str(Keypair().pubkey()), kp,
                       {n: str(Keypair().pubkey()) for n in ("creator", "partner", "protocol")})
    assert secret_b58 not in repr(led) and secret_b58 not in repr(led.health())
    assert not any(isinstance(v, Keypair) for v in vars(led).values())


def test_escrow_key_file_errors_name_the_file_not_the_contents(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('"not-a-keypair-secret-123"')
    with pytest.raises(ValueError) as e:
        load_escrow_key(p)
    assert str(p) in str(e.value) and "secret-123" not in str(e.value)
    with pytest.raises(ValueError) as e:
        load_escrow_key(tmp_path / "missing.json")
    assert "cannot read" in str(e.value)
    good = tmp_path / "good.json"
    kp = Keypair()
    good.write_text(str(list(bytes(kp))))
    good.chmod(0o600)
    assert load_escrow_key(good).pubkey == kp.pubkey()


def test_store_reservations_are_atomic(tmp_path):
    st = SolanaStore(tmp_path / "s.sqlite")
    st._tx(lambda db: db.execute("INSERT INTO escrow (match, balance) VALUES ('m', 100)"))
    assert st.reserve_settlement("a", "m", {"m": 60}, [], "sigA", b"r", "h", 10)[0] == "ok"
    assert st.reserve_settlement("b", "m", {"m": 60}, [], "sigB", b"r", "h", 10)[0] == "insufficient"
    assert st.reserve_settlement("a", "m", {"m": 60}, [], "sigA2", b"r", "h", 10)[0] == "in_flight"
    assert st.finish_settlement("a", "sigA", landed=False)
    assert st.reserve_settlement("b", "m", {"m": 60}, [], "sigB", b"r", "h", 10)[0] == "ok"
    assert st.finish_settlement("b", "sigB", landed=True)
    assert st.escrow_balance("m") == 40
    assert st.reserve_settlement("b", "m", {"m": 60}, [], "sigB3", b"r", "h", 10)[0] == "done"
    st.close()
    again = SolanaStore(tmp_path / "s.sqlite")
    assert again.escrow_balance("m") == 40 and again.settlement("b").state == "done"


class _OptimisticBalances:
    """Wraps the RPC so the ledger's own balance pre-check passes: the chain's preflight decides."""

    def __init__(self, rpc):
        self._rpc = rpc

    def __getattr__(self, name):
        return getattr(self._rpc, name)

    async def token_balance(self, account):
        return 10**12


async def test_preflight_insufficient_funds_leaves_the_tx_confirmable(make_ledger):
    led = await make_ledger()
    kp, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, bal + 5)
    real = led.rpc
    led.rpc = _OptimisticBalances(real)
    with raises_code(errors.INSUFFICIENT_FUNDS):
        await led.confirm_entry(w, m, bal + 5, tx, sign(kp, tx))
    led.rpc = real
    await assert_nothing_charged(led, w, bal, m)
    await led.faucet(w)  # top up, then the very same signed transaction goes through
    res = await led.confirm_entry(w, m, bal + 5, tx, sign(kp, tx))
    if res.status == "pending":
        await led.wait_payment(res.payment_id)
    assert await led.account_balance(f"escrow:{m}") == bal + 5


async def test_rpc_url_with_an_api_key_stays_out_of_the_logs(make_ledger, solana_devnet, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    led = await make_ledger(rpc_url=solana_devnet.url + "/?api-key=SECRET123")
    kp, w, _ = await funded(led)
    await led.balance(w)
    assert "SECRET123" not in caplog.text
    assert "SECRET123" not in repr(led.health())


async def test_entry_retry_is_allowed_after_retry_after_without_confirmation(make_ledger):
    """RoastPush: no confirmation within the retry window (60 s by default) -> the player may pay again."""
    led = await make_ledger(rebroadcast_s=3600, retry_after_s=0.3)
    kp, w, bal = await funded(led)
    led.rpc = _LosingSends(led.rpc)  # the first payment never reaches the chain
    m = new_match()
    tx1 = await led.build_entry(w, m, 250)
    assert (await led.confirm_entry(w, m, 250, tx1, sign(kp, tx1))).status == "pending"
    tx2 = await led.build_entry(w, m, 250)
    with raises_code(errors.WRONG_STATE) as r:
        await led.confirm_entry(w, m, 250, tx2, sign(kp, tx2))
    assert 0 < r.error.retry_after_ms <= 300
    await trio.sleep(0.35)
    res = await led.confirm_entry(w, m, 250, tx2, sign(kp, tx2))
    if res.status == "pending":
        assert await led.wait_payment(res.payment_id) == "landed"
    assert await led.balance(w) == bal - 250


async def test_rpc_errors_never_carry_the_rpc_url(caplog):
    """An RPC provider answering 500: its URL (with the API key) stays out of errors, logs and health."""
    import logging
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Fail(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Fail)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    caplog.set_level(logging.DEBUG)
    led = SolanaLedger(f"http://127.0.0.1:{httpd.server_address[1]}/v1/?api-key=SECRET123",
                       str(Keypair().pubkey()), Keypair(),
                       {n: str(Keypair().pubkey()) for n in ("creator", "partner", "protocol")})
    try:
        with raises_code(errors.INTERNAL) as r:
            await led.balance(str(Keypair().pubkey()))
        assert r.error.retry_after_ms
        assert "SECRET123" not in r.error.message
        assert "SECRET123" not in caplog.text and "SECRET123" not in repr(led.health())
        assert "500" in (led.last_error or "") + caplog.text
    finally:
        await led.aclose()
        httpd.shutdown()
