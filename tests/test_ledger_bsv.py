"""The BSV ledger against the simulated BSV network (tests/bsv_net.py): the
shared ledger contract, then what is BSV's own: real transactions checked
by the SDK, hostile payments (another key's signature, tampered outputs,
double spends, replays), settlements exactly once across crashes.
"""

from __future__ import annotations

import base64

import pytest
import trio
from bsv.keys import PrivateKey

from arena.chain import bsv_tx as T
from arena.chain.bsv import BsvLedger, EscrowKey, load_escrow_wif
from arena.chain.bsv_api import ApiUnavailable
from arena.chain.solana_store import RecordsOfAnotherWorld, SolanaStore
from arena.engine import errors
from arena.engine.errors import ArenaError
from arena.engine.outputs import Settle, Transfer
from bsv_net import BsvSetup, bsv_network, mine  # noqa: F401
from ledger_contract import LedgerContract, new_match, raises_code


def bsm(key: PrivateKey, data: bytes) -> bytes:
    return base64.b64decode(key.sign_text(bytes(data).hex())[1])


class BsvKeys:
    """The contract's wallet hooks for BSV keys."""

    def new_key(self):
        return PrivateKey()

    def wallet_of(self, key) -> str:
        return key.address()

    def signed(self, key, tx: bytes) -> tuple[bytes, bytes]:
        return T.sign_payment(key, tx)

    def forgeries(self, key, tx: bytes) -> list[tuple[bytes, bytes]]:
        stx, sig = T.sign_payment(key, tx)
        other = PrivateKey()
        otx, osig = T.sign_payment(other, tx)  # signs nothing of ours: the inputs stay unsigned
        inputs_by_other = T.to_ef(T.sign_inputs(T.parse_ef(tx), other, T.script_of(key.address())))
        return [(otx, osig), (stx, osig), (stx, bytes(65)), (stx, bsm(key, tx + b"x")), (stx, sig[:64]),
                (tx, sig), (inputs_by_other, sig)]


@pytest.fixture
async def make_ledger(bsv_network, tmp_path):
    made = []

    async def make(setup: BsvSetup | None = None, **overrides):
        setup = setup or BsvSetup.new(bsv_network)
        led = BsvLedger(**setup.ledger_kwargs(**overrides))
        led.setup = setup
        made.append(led)
        return led

    yield make
    for led in made:
        await led.aclose()


class TestBsvLedgerContract(BsvKeys, LedgerContract):
    @pytest.fixture
    async def ledger_factory(self, make_ledger):
        return make_ledger


class TestBsvLedgerContractMined(BsvKeys, LedgerContract):
    """The contract again with `bsv_commitment = "mined"`: every payment answers
    pending and lands with the next block."""

    @pytest.fixture
    async def ledger_factory(self, make_ledger):
        async def make():
            return await make_ledger(commitment="mined", confirm_wait_s=0)
        return make

    async def wait_final(self, ledger, result):
        assert result.status == "pending"
        mine(ledger.setup.net)
        assert await ledger.wait_payment(result.payment_id, 10) == "landed"


# --- helpers -------------------------------------------------------------------------------


async def funded(ledger) -> tuple[PrivateKey, str, int]:
    key = PrivateKey()
    bal = await ledger.faucet(key.address())
    return key, key.address(), bal


async def paid_entry(ledger, key, match, amount):
    tx = await ledger.build_entry(key.address(), match, amount)
    return await ledger.confirm_entry(key.address(), match, amount, *T.sign_payment(key, tx))


async def assert_nothing_charged(ledger, wallet, bal, match=None):
    assert await ledger.balance(wallet) == bal
    assert ledger.setup.on_chain(wallet) == bal
    if match is not None:
        assert await ledger.account_balance(f"escrow:{match}") == 0


def chain_tx(ledger, txid):
    return ledger.setup.net.chain.txs.get(txid)


# --- real transactions -----------------------------------------------------------------------


async def test_entry_is_a_real_p2pkh_transaction_the_network_checked(make_ledger):
    led = await make_ledger()
    key, w, bal = await funded(led)
    m = new_match()
    float_before = await led.float_balance()
    res = await paid_entry(led, key, m, 1234)
    assert res.status == "confirmed"
    rec = chain_tx(led, res.payment_id)
    assert rec["status"] == "SEEN_ON_NETWORK"
    tx = T.parse_raw(rec["raw"])
    assert tx.txid() == res.payment_id
    outs = {(o.locking_script.serialize(), o.satoshis) for o in tx.outputs}
    assert (T.script_of(led.escrow.address), 1234) in outs
    memo = [o for o in tx.outputs if o.satoshis == 0][0].locking_script.serialize()
    assert f"arena:entry:{m}:".encode() in memo
    # The player paid exactly the amount; the platform's float paid the network fee.
    assert led.setup.on_chain(w) == bal - 1234
    fee = tx_fee(led, res.payment_id)
    assert fee > 0 and await led.float_balance() == float_before - fee
    assert await led.account_balance(f"escrow:{m}") == 1234
    mine(led.setup.net)
    assert chain_tx(led, res.payment_id)["status"] == "MINED"


def tx_fee(led, txid) -> int:
    """inputs - outputs, from the EF the ledger recorded (it states every coin spent)."""
    ef = T.parse_ef(led.store.payment(txid).raw)
    return sum(i.satoshis for i in ef.inputs) - sum(o.satoshis for o in ef.outputs)


async def test_tip_pays_performer_and_protocol_in_one_transaction(make_ledger):
    led = await make_ledger()
    key, w, bal = await funded(led)
    performer = PrivateKey().address()
    before = led.setup.on_chain(led.fee_wallets["protocol"])
    tx = await led.build_tip(w, performer, 1000, 20)
    res = await led.confirm_tip(w, *T.sign_payment(key, tx))
    assert (res.status, res.amount, res.fee, res.to_wallet) == ("confirmed", 1000, 20, performer)
    assert led.setup.on_chain(performer) == 980
    assert led.setup.on_chain(led.fee_wallets["protocol"]) == before + 20
    assert led.setup.on_chain(w) == bal - 1000


# --- hostile payments ----------------------------------------------------------------------


async def test_a_tx_signed_by_another_key_is_refused(make_ledger):
    led = await make_ledger()
    key, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 500)
    thief = PrivateKey()
    forged = T.to_ef(T.sign_inputs(T.parse_ef(tx), thief, T.script_of(w)))  # thief's signatures on w's coins
    with raises_code(errors.PAYMENT_FAILED):
        await led.confirm_entry(w, m, 500, forged, bsm(key, tx))
    with raises_code(errors.PAYMENT_FAILED):
        await led.confirm_entry(w, m, 500, *T.sign_payment(thief, tx))
    await assert_nothing_charged(led, w, bal, m)
    assert (await paid_entry(led, key, m, 500)).status == "confirmed"


async def test_a_tampered_output_is_refused(make_ledger):
    led = await make_ledger()
    key, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, 500)
    parsed = T.parse_ef(tx)
    mallory = PrivateKey().address()
    parsed.outputs[0].locking_script = T.lock(mallory)  # the escrow's output redirected, then signed
    tampered = T.to_ef(parsed)
    for sent, sig in (T.sign_payment(key, tampered), (T.sign_payment(key, tampered)[0], bsm(key, tx))):
        with raises_code(errors.PAYMENT_FAILED, errors.BAD_REQUEST):
            await led.confirm_entry(w, m, 500, sent, sig)
    # The stated amount of a coin lowered (the signature hash would differ): refused.
    stx, sig = T.sign_payment(key, tx)
    lying = T.parse_ef(stx)
    lying.inputs[0].satoshis -= 1
    with raises_code(errors.BAD_REQUEST):
        await led.confirm_entry(w, m, 500, T.to_ef(lying), sig)
    # The platform's input signed by the player: refused.
    wrong = T.parse_ef(stx)
    wrong.inputs[-1].unlocking_script = wrong.inputs[0].unlocking_script
    with raises_code(errors.BAD_REQUEST):
        await led.confirm_entry(w, m, 500, T.to_ef(wrong), sig)
    await assert_nothing_charged(led, w, bal, m)
    assert mallory not in {r["tx_hash"] for r in led.setup.net.chain.unspent(mallory)}


async def signed_entry(make_ledger, amount):
    """A fresh ledger and funded wallet with one entry built and signed, not confirmed."""
    led = await make_ledger()
    key, w, bal = await funded(led)
    m = new_match()
    tx = await led.build_entry(w, m, amount)
    return led, key, w, bal, m, tx, *T.sign_payment(key, tx)


async def test_a_double_spend_is_refused_and_charges_nothing(make_ledger):
    led, key, w, bal, m, tx, stx, sig = await signed_entry(make_ledger, 500)
    # Before confirming, the player spends the same coins elsewhere (its own transaction).
    spent = T.parse_ef(tx)
    mine_inputs = [i for i in spent.inputs if i.locking_script.serialize() == T.script_of(w)]
    away = T.new_tx(mine_inputs, [(T.script_of(PrivateKey().address()), sum(i.satoshis for i in mine_inputs) - 100)])
    T.sign_inputs(away, key)
    assert led.setup.net.chain.submit(T.to_ef(away))["txStatus"] == "SEEN_ON_NETWORK"
    balance_after_away = led.setup.on_chain(w)
    with raises_code(errors.PAYMENT_FAILED):
        await led.confirm_entry(w, m, 500, stx, sig)
    assert await led.account_balance(f"escrow:{m}") == 0
    assert led.setup.on_chain(w) == balance_after_away


async def test_a_replayed_confirm_is_duplicate_and_charged_once(make_ledger):
    led, key, w, bal, m, tx, stx, sig = await signed_entry(make_ledger, 700)
    res = await led.confirm_entry(w, m, 700, stx, sig)
    assert res.status == "confirmed"
    for _ in range(3):
        with raises_code(errors.DUPLICATE):
            await led.confirm_entry(w, m, 700, stx, sig)
    # The broadcast transaction straight to the network again: the same txid, nothing more moves;
    # the player's half-signed bytes are a competing spend of coins already spent.
    chain = led.setup.net.chain
    again = chain.submit(led.store.payment(res.payment_id).raw)
    assert (again["txid"], again["txStatus"]) == (res.payment_id, "SEEN_ON_NETWORK")
    assert chain.submit(stx)["txStatus"] == "DOUBLE_SPEND_ATTEMPTED"
    assert led.setup.on_chain(w) == bal - 700
    assert await led.account_balance(f"escrow:{m}") == 700


async def test_malformed_and_oversized_confirms_are_bad_requests(make_ledger):
    led = await make_ledger()
    key, w, bal = await funded(led)
    m = new_match()
    for bad in (b"", b"\x01" * 9, b"\x00" * 200, bytes(4) + T.EF_MARKER + b"\xff" * 20, b"x" * 200_000, "text", None):
        with raises_code(errors.BAD_REQUEST):
            await led.confirm_entry(w, m, 500, bad, bytes(65))
    good = PrivateKey().address()
    with raises_code(errors.BAD_REQUEST):  # the checksum no longer matches
        await led.build_entry(good[:-1] + ("x" if good[-1] != "x" else "y"), m, 5)
    with raises_code(errors.BAD_REQUEST):  # a Solana address on the BSV ledger
        await led.build_entry("11111111111111111111111111111111", m, 5)
    with raises_code(errors.BAD_REQUEST):
        await led.build_tip(w, led.escrow.address, 100, 2)
    await assert_nothing_charged(led, w, bal)


async def test_faucet_refuses_public_networks():
    setup_key = PrivateKey()
    fees = {n: PrivateKey().address() for n in ("creator", "partner", "protocol")}
    led = BsvLedger("https://arc.example.com", "https://api.whatsonchain.example", setup_key, fees,
                    faucet_amount=1000)
    assert not led.faucet_network_ok
    with raises_code(errors.NOT_ALLOWED):
        await led.faucet(PrivateKey().address())


# --- announcements ---------------------------------------------------------------------------


async def test_mined_commitment_answers_pending_and_run_announces(make_ledger, nursery):
    led = await make_ledger(commitment="mined", confirm_wait_s=0.1)
    fed = []
    nursery.start_soon(led.run, fed.append)
    key, w, bal = await funded(led)
    m = new_match()
    res = await paid_entry(led, key, m, 300)
    assert res.status == "pending"
    assert await led.account_balance(f"escrow:{m}") == 0  # not counted before it is mined
    mine(led.setup.net)
    with trio.fail_after(10):
        while not fed:
            await trio.sleep(0.02)
    assert fed[0].match == m and fed[0].amount == 300 and fed[0].payment_id == res.payment_id
    assert await led.account_balance(f"escrow:{m}") == 300


class _LosingBroadcasts:
    """The first `n` broadcasts reach the network but their answers are lost."""

    def __init__(self, api, n=1):
        self.api, self.n = api, n

    def __getattr__(self, name):
        return getattr(self.api, name)

    async def broadcast(self, tx):
        st = await self.api.broadcast(tx)
        if self.n > 0:
            self.n -= 1
            raise ApiUnavailable("answer lost")
        return st


class _DroppingBroadcasts(_LosingBroadcasts):
    """The first `n` broadcasts never reach the network."""

    async def broadcast(self, tx):
        if self.n > 0:
            self.n -= 1
            raise ApiUnavailable("connection reset")
        return await self.api.broadcast(tx)


async def test_a_lost_broadcast_is_followed_rebroadcast_and_announced(make_ledger, nursery):
    led = await make_ledger()
    led.api = _DroppingBroadcasts(led.api)
    fed = []
    nursery.start_soon(led.run, fed.append)
    key, w, bal = await funded(led)
    m = new_match()
    res = await paid_entry(led, key, m, 400)
    assert res.status == "pending"
    with trio.fail_after(10):
        while not fed:
            await trio.sleep(0.02)
    assert fed[0].payment_id == res.payment_id
    assert led.setup.on_chain(w) == bal - 400 and await led.account_balance(f"escrow:{m}") == 400


# --- settlements -------------------------------------------------------------------------------


async def _two_paid(led, m, fee=1000):
    (a, wa, _), (b, wb, _) = await funded(led), await funded(led)
    await paid_entry(led, a, m, fee)
    await paid_entry(led, b, m, fee)
    return wa, wb


def _payout(m, winner, pot=2000):
    return Settle(key=f"payout:{m}", match=m, reason="completed",
                  transfers=(Transfer(f"escrow:{m}", winner, pot - 100), Transfer(f"escrow:{m}", "fee:protocol", 50),
                             Transfer(f"escrow:{m}", "fee:creator", 50)))


async def test_settle_is_one_escrow_signed_transaction_with_its_key_as_memo(make_ledger):
    led = await make_ledger()
    m = new_match()
    wa, _ = await _two_paid(led, m)
    before = led.setup.on_chain(wa)
    await led.settle(_payout(m, wa))
    rec = await trio.to_thread.run_sync(led.store.settlement, f"payout:{m}")
    assert rec.state == "done"
    tx = T.parse_raw(chain_tx(led, rec.sig)["raw"])
    assert any(f"arena:settle:payout:{m}".encode() in o.locking_script.serialize() for o in tx.outputs)
    assert led.setup.on_chain(wa) == before + 1900
    assert await led.account_balance(f"escrow:{m}") == 0
    assert (await led.settlement_receipt(f"payout:{m}"))["signature"] == rec.sig


class _CrashBeforeBroadcast(Exception):
    pass


class _NoBroadcast(_LosingBroadcasts):
    async def broadcast(self, tx):
        raise _CrashBeforeBroadcast()


async def test_crash_between_record_and_broadcast_pays_once(make_ledger, tmp_path):
    """Killed after the settlement was recorded, before it was broadcast: the
    restarted ledger broadcasts the recorded bytes (same txid), never a second payout."""
    path = tmp_path / "records.sqlite"
    led = await make_ledger(store=SolanaStore(path))
    m = new_match()
    wa, _ = await _two_paid(led, m)
    before = led.setup.on_chain(wa)
    led.api = _NoBroadcast(led.api)
    with pytest.raises(_CrashBeforeBroadcast):
        await led.settle(_payout(m, wa))
    rec = SolanaStore(path).settlement(f"payout:{m}")
    assert rec.state == "sending" and chain_tx(led, rec.sig) is None  # recorded, never sent
    led.store.close()

    again = await make_ledger(setup=led.setup, store=SolanaStore(path))
    await again.settle(_payout(m, wa))
    await again.settle(_payout(m, wa))
    assert led.setup.on_chain(wa) == before + 1900
    done = again.store.settlement(f"payout:{m}")
    assert done.state == "done" and done.sig == rec.sig and done.attempts == 1
    assert await again.account_balance(f"escrow:{m}") == 0


async def test_crash_after_broadcast_pays_once(make_ledger, tmp_path):
    """The broadcast went out, its answer was lost, the server died: the
    restarted ledger finds the same txid on the network and pays nothing more."""
    path = tmp_path / "records.sqlite"
    led = await make_ledger(store=SolanaStore(path))
    m = new_match()
    wa, _ = await _two_paid(led, m)
    before = led.setup.on_chain(wa)

    class Die(_LosingBroadcasts):
        async def broadcast(self, tx):
            await self.api.broadcast(tx)
            raise _CrashBeforeBroadcast()

    led.api = Die(led.api)
    with pytest.raises(_CrashBeforeBroadcast):
        await led.settle(_payout(m, wa))
    assert led.setup.on_chain(wa) == before + 1900  # it reached the network
    led.store.close()
    again = await make_ledger(setup=led.setup, store=SolanaStore(path))
    for _ in range(3):
        await again.settle(_payout(m, wa))
    assert led.setup.on_chain(wa) == before + 1900
    assert again.store.settlement(f"payout:{m}").attempts == 1


async def test_refused_attempt_then_retry_conflicts_with_it(make_ledger):
    """A new attempt of a key spends an input of the refused one: the two can never both be mined."""
    led = await make_ledger()
    m = new_match()
    wa, _ = await _two_paid(led, m)
    net = led.setup.net.chain
    real_fee = net.fee_sat_per_kb
    net.fee_sat_per_kb = 10**6  # the network now wants more than the ledger pays
    with raises_code(errors.PAYMENT_FAILED):
        await led.settle(_payout(m, wa))
    net.fee_sat_per_kb = real_fee
    first = led.store.settlement(f"payout:{m}")
    assert first.state == "failed"
    await led.settle(_payout(m, wa))
    second = led.store.settlement(f"payout:{m}")
    assert second.state == "done" and second.attempts == 2
    a_ins = {(i.source_txid, i.source_output_index) for i in T.parse_ef(first.raw).inputs}
    b_ins = {(i.source_txid, i.source_output_index) for i in T.parse_ef(second.raw).inputs}
    assert a_ins & b_ins


async def test_concurrent_settles_of_one_key_pay_once(make_ledger):
    led = await make_ledger()
    m = new_match()
    wa, _ = await _two_paid(led, m)
    before = led.setup.on_chain(wa)
    async with trio.open_nursery() as n:
        for _ in range(5):
            n.start_soon(led.settle, _payout(m, wa))
    assert led.setup.on_chain(wa) == before + 1900
    assert await led.account_balance(f"escrow:{m}") == 0


async def test_bind_world_refuses_another_worlds_records(make_ledger, tmp_path):
    path = tmp_path / "records.sqlite"
    led = await make_ledger(store=SolanaStore(path))
    await led.bind_world("world-a")
    led.store.close()
    other = await make_ledger(setup=led.setup, store=SolanaStore(path))
    with pytest.raises(RecordsOfAnotherWorld):
        await other.bind_world("world-b")


def test_escrow_key_never_shows_its_wif():
    key = PrivateKey()
    ek = EscrowKey(key)
    for text in (repr(ek), str(ek)):
        assert key.wif() not in text and key.address() in text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(ek)
    with pytest.raises(ValueError) as err:
        load_escrow_wif("Kx" + "1" * 50)
    assert "1" * 50 not in str(err.value)
    assert load_escrow_wif(key.wif()).address == key.address()


def test_config_masks_the_escrow_wif_and_arc_key(tmp_path):
    from arena.config import describe, load_config

    key = PrivateKey()
    p = tmp_path / "config.toml"
    p.write_text('[ledger]\nkind = "bsv"\narc_url = "https://arc.example.com/v1?token=arc-secret-1"\n'
                 'woc_url = "https://woc.example.com"\n')
    cfg = load_config(p, env={"ARENA_BSV_ESCROW_WIF": key.wif(), "ARENA_BSV_ARC_API_KEY": "arc-secret-2"})
    assert cfg.ledger.escrow_wif == key.wif() and cfg.ledger.arc_api_key == "arc-secret-2"
    shown = repr(cfg) + repr(describe(cfg))
    for secret in (key.wif(), "arc-secret-1", "arc-secret-2"):
        assert secret not in shown
    assert describe(cfg)["ledger"]["escrow_wif"] == "***"


def test_server_config_makes_a_bsv_ledger(tmp_path, bsv_network):
    from arena.config import load_config
    from arena.server import make_ledger

    setup = BsvSetup.new(bsv_network)
    p = tmp_path / "config.toml"
    p.write_text('[ledger]\n' + "".join(f'{k} = "{v}"\n' for k, v in setup.ledger_config(tmp_path).items()
                                        if isinstance(v, str) and k != "escrow_wif"))
    cfg = load_config(p, env={"ARENA_BSV_ESCROW_WIF": setup.escrow.wif()})
    led = make_ledger(cfg)
    assert isinstance(led, BsvLedger) and led.escrow.address == setup.escrow.address()
    assert led.store.path == str(tmp_path / "bsv-ledger.sqlite")
    cfg2 = load_config(p, env={"ARENA_BSV_ESCROW_WIF": "not-a-wif"})
    with pytest.raises(ValueError, match="not a WIF") as err:
        make_ledger(cfg2)
    assert "not-a-wif" not in str(err.value)


async def test_an_abandoned_build_locks_no_coins_and_conflicting_builds_charge_once(make_ledger):
    led = await make_ledger()
    key = PrivateKey()
    w = key.address()
    led.setup.net.chain.faucet(w, 1000)  # one coin only
    m = new_match()
    first = await led.build_entry(w, m, 600)   # holds the coin, never confirmed
    second = await led.build_entry(w, m, 600)  # takes the same coin anyway
    assert (await led.confirm_entry(w, m, 600, *T.sign_payment(key, second))).status == "confirmed"
    with raises_code(errors.PAYMENT_FAILED):  # the two spend one coin: at most one is ever charged
        await led.confirm_entry(w, m, 600, *T.sign_payment(key, first))
    assert led.setup.on_chain(w) == 400
    assert await led.account_balance(f"escrow:{m}") == 600
    assert await led.balance(w) == 400


async def test_bsvnet_command_writes_a_usable_ledger_config(tmp_path):
    """`python -m arena bsvnet --config-out` starts a simulated network whose
    [ledger] section (plus the escrow WIF file) gives a working BSV ledger."""
    import os
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "bsvnet.toml"
    proc = subprocess.Popen([sys.executable, "-m", "arena", "bsvnet", "--port", "0", "--block-ms", "0",
                             "--config-out", str(out), "--log-level", "WARNING"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(root)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with trio.fail_after(30):
            while not out.exists():
                assert proc.poll() is None, proc.stderr.read()
                await trio.sleep(0.05)
        section = tomllib.loads(out.read_text())["ledger"]
        assert "SIMULATED" in out.read_text()
        wif = Path(str(out) + ".escrow.wif").read_text().strip()
        assert wif not in out.read_text()
        assert section["kind"] == "bsv"
        fees = {n: section[f"fee_{n}"] for n in ("creator", "partner", "protocol")}
        led = BsvLedger(section["arc_url"], section["woc_url"], load_escrow_wif(wif), fees,
                        faucet_amount=section["faucet_amount"], poll_s=0.02)
        try:
            key = PrivateKey()
            assert await led.faucet(key.address()) == section["faucet_amount"]
            assert await led.float_balance() > 0
            m = new_match()
            assert (await paid_entry(led, key, m, 777)).status == "confirmed"
            assert await led.account_balance(f"escrow:{m}") == 777
        finally:
            await led.aclose()
    finally:
        proc.terminate()
        proc.wait(10)


async def test_many_payments_built_at_once_split_the_float(make_ledger, bsv_network):
    """More builds than free escrow coins: the ledger splits one escrow coin
    (to itself) and every payment still confirms; the float loses only fees."""
    setup = BsvSetup.new(bsv_network)
    led = await make_ledger(setup)
    float_before = await led.float_balance()
    keys = [PrivateKey() for _ in range(45)]  # the fixture's float has 30 coins
    for k in keys:
        bsv_network.chain.faucet(k.address(), 1000)
    m = new_match()
    built = [(k, await led.build_entry(k.address(), m, 100)) for k in keys]
    assert led.stats["float_splits"] >= 1
    paid = []
    for k, tx in built:
        res = await led.confirm_entry(k.address(), m, 100, *T.sign_payment(k, tx))
        assert res.status == "confirmed"
        paid.append(res.payment_id)
    assert await led.account_balance(f"escrow:{m}") == 4500
    # The float lost exactly the fees: the payments' and the splits'.
    fees = sum(tx_fee(led, txid) for txid in paid) + led.stats["network_fees_paid"]
    assert float_before - await led.float_balance() == fees
    for k in keys:
        assert setup.on_chain(k.address()) == 900


async def test_mined_commitment_still_settles_once_seen(make_ledger, nursery):
    """Payments wait for a block under "mined"; a payout, spending only escrow
    coins, is done once the network has it."""
    led = await make_ledger(commitment="mined", confirm_wait_s=0.05)
    nursery.start_soon(led.run, lambda inp: None)
    m = new_match()
    (a, wa, _), (b, wb, _) = await funded(led), await funded(led)
    for key in (a, b):
        assert (await paid_entry(led, key, m, 1000)).status == "pending"
    mine(led.setup.net)
    for p in list(led._open):
        assert await led.wait_payment(p, 10) == "landed"
    assert await led.account_balance(f"escrow:{m}") == 2000
    before = led.setup.on_chain(wa)
    with trio.fail_after(10):
        await led.settle(_payout(m, wa))  # no block needed
    assert led.setup.on_chain(wa) == before + 1900


async def test_concurrent_payments_of_many_wallets_all_land_once(make_ledger):
    led = await make_ledger()
    m = new_match()
    keys = [PrivateKey() for _ in range(12)]
    for k in keys:
        await led.faucet(k.address())
    results = []

    async def pay(k):
        for _ in range(2):  # two payments each, built and confirmed concurrently with the others
            results.append(await paid_entry(led, k, m, 300))

    async with trio.open_nursery() as n:
        for k in keys:
            n.start_soon(pay, k)
    assert all(r.status == "confirmed" for r in results) and len({r.payment_id for r in results}) == 24
    assert await led.account_balance(f"escrow:{m}") == 24 * 300
    for k in keys:
        assert led.setup.on_chain(k.address()) == 100_000 - 600
