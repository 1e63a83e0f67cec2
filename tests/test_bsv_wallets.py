"""BSV wallets: Bitcoin Signed Message logins (auth.bsv) and payments.

The address and signature checks run through the BSV SDK (`bsv-sdk`); a BSV
wallet then plays, pays and is paid on the embedded ledger like a Solana
wallet. Hostile logins (wrong key, another nonce, a replayed nonce, a Solana
address, malformed or oversized fields) get `auth_failed` / `bad_request`
and log nobody in.
"""

from __future__ import annotations

import base64

import pytest
import trio
from bsv.keys import PrivateKey
from solders.keypair import Keypair

from arena.chain.keys import (
    BSV,
    SOLANA,
    is_bsv_address,
    is_solana_wallet,
    is_wallet,
    verify_bsv_text,
    verify_wallet_signature,
    wallet_kind,
)
from arena.client import open_client
from conftest import player
from test_e2e_support import error_code, play_battle

# --- addresses and signatures ---------------------------------------------------------


def test_addresses_of_both_kinds_and_nothing_else():
    key = PrivateKey()
    mainnet = key.address()
    solana = str(Keypair().pubkey())
    assert mainnet.startswith("1") and is_bsv_address(mainnet) and wallet_kind(mainnet) == BSV
    assert wallet_kind(solana) == SOLANA and not is_bsv_address(solana)
    assert is_wallet(mainnet) and is_wallet(solana) and not is_solana_wallet(mainnet)
    broken = mainnet[:-1] + ("1" if mainnet[-1] != "1" else "2")  # checksum no longer matches
    for bad in (broken, "1" * 30, "", "1", mainnet + "x", " " + mainnet, None, 7, b"1abc", "0" + mainnet[1:]):
        assert wallet_kind(bad) is None, bad


def test_bitcoin_signed_messages():
    key, other = PrivateKey(), PrivateKey()
    address, sig = key.sign_text("arena:login:n1")
    assert verify_bsv_text(address, "arena:login:n1", sig)
    assert not verify_bsv_text(address, "arena:login:n2", sig)  # another text
    assert not verify_bsv_text(other.address(), "arena:login:n1", sig)  # another key's address
    assert not verify_bsv_text(address, "arena:login:n1", other.sign_text("arena:login:n1")[1])
    for bad in ("", "!!!", "A" * 88, base64.b64encode(b"\x1f" + b"\x00" * 64).decode(), "A" * 5000, None, b"x", 12):
        assert not verify_bsv_text(address, "arena:login:n1", bad), bad
    assert not verify_bsv_text("not-an-address", "arena:login:n1", sig)

    # A payment: the 65 signature bytes of the message's hex.
    tx = b"\x81\xa1k\xa3pay"
    raw = base64.b64decode(key.sign_text(tx.hex())[1])
    assert len(raw) == 65 and verify_wallet_signature(address, tx, raw)
    assert not verify_wallet_signature(address, tx + b"!", raw)
    assert not verify_wallet_signature(address, tx, raw[:64])
    assert not verify_wallet_signature(address, tx, base64.b64encode(raw))  # the text, not the bytes
    # A Solana signature never passes for a BSV address, nor the other way round.
    kp = Keypair()
    assert not verify_wallet_signature(address, tx, bytes(kp.sign_message(tx)))
    assert not verify_wallet_signature(str(kp.pubkey()), tx, raw)


# --- over the socket ------------------------------------------------------------------


async def test_a_bsv_wallet_logs_in_plays_pays_and_is_paid(arena_server):
    server, url = await arena_server()
    async with open_client(url) as b, player(url) as s:
        key = PrivateKey()
        body = await b.login_bsv(key)
        assert body["user"] == {"id": key.address(), "wallet": key.address(), "username": None}
        assert b.wallet == key.address() and b.session
        start = await b.faucet()
        assert start > 0 and await b.balance() == start

        # A battle the BSV wallet wins: its entry fee signed with BSM, its prize paid to its address.
        match, fee, end = await play_battle(server, b, s)
        assert end["winnerId"] == b.wallet
        await balance_becomes(b, start - fee + end["prizeAmount"])  # the payout follows the journal

        # Tips both ways between the two kinds of wallet.
        status, amount, tip_fee = await b.tip(s.wallet, 50)
        assert status == "confirmed" and amount == 50
        status, _, _ = await s.tip(b.wallet, 20)
        assert status == "confirmed"
        # A tip's fee comes out of the tip: the performer receives amount - fee.
        await balance_becomes(b, start - fee + end["prizeAmount"] - 50 + 20 - 20 * server.tip_fee_bps // 10_000)

        # The profile read and a later login carry the BSV address too.
        await b.set_profile(username="bsv_fan")
        async with open_client(url) as again:
            assert (await again.login_bsv(key))["user"]["username"] == "bsv_fan"


async def balance_becomes(client, expected: int) -> None:
    with trio.fail_after(10):
        while (got := await client.balance()) != expected:
            await trio.sleep(0.05)
    assert got == expected


async def test_hostile_bsv_logins(arena_server):
    server, url = await arena_server()
    key, other = PrivateKey(), PrivateKey()
    async with open_client(url) as c:
        # Before hello.
        assert await error_code(c.request("auth.bsv", {"address": key.address(), "signature": "x"})) \
            == "unauthenticated"
        # Another key's signature; then the same (now used) nonce again, validly signed.
        hello = await c.hello()
        nonce = hello["nonce"]
        _, forged = other.sign_text("arena:login:" + nonce)
        assert await error_code(c.request("auth.bsv", {"address": key.address(), "signature": forged})) \
            == "auth_failed"
        _, good_but_used = key.sign_text("arena:login:" + nonce)
        assert await error_code(c.request("auth.bsv", {"address": key.address(), "signature": good_but_used})) \
            == "auth_failed"
        # A signature over another text (a replay of another connection's login).
        await c.hello()
        _, stale = key.sign_text("arena:login:" + nonce)
        assert await error_code(c.request("auth.bsv", {"address": key.address(), "signature": stale})) \
            == "auth_failed"
        # A Solana address, a broken address.
        for address in (str(Keypair().pubkey()), key.address()[:-2] + "zz"):
            h = await c.hello()
            _, sig = key.sign_text("arena:login:" + h["nonce"])
            assert await error_code(c.request("auth.bsv", {"address": address, "signature": sig})) == "auth_failed"
        # Wrong types, missing fields, oversized fields.
        for body in ({"address": key.address()}, {"signature": "x"}, {"address": 5, "signature": "x"},
                     {"address": key.address(), "signature": b"\x00" * 65},
                     {"address": "1" * 65, "signature": "x"}, {"address": key.address(), "signature": "A" * 101}):
            await c.hello()
            assert await error_code(c.request("auth.bsv", body)) == "bad_request", body
        assert c.session is None and server.gateway.sessions.by_id == {}

        # A BSV address cannot log in through the Solana logins.
        await c.hello()
        assert await error_code(c.request("auth.login", {"wallet": key.address(), "signature": b"\x00" * 64})) \
            == "auth_failed"

        # And a valid login works after all that; a second one on the connection is refused.
        c.nonce = None  # the last hello's nonce went to the refused auth.login
        await c.login_bsv(key)
        assert c.session
        h = await c.hello()
        _, sig = key.sign_text("arena:login:" + h["nonce"])
        assert await error_code(c.request("auth.bsv", {"address": key.address(), "signature": sig})) == "wrong_state"


async def test_the_solana_ledger_pays_solana_wallets_only():
    """The Solana ledger refuses a BSV address before it talks to any network."""
    from arena.chain.solana import SolanaLedger
    from arena.engine.errors import ArenaError

    ledger = SolanaLedger.__new__(SolanaLedger)  # its argument checks need no RPC
    with pytest.raises(ArenaError, match="Solana"):
        await ledger.build_tip(str(Keypair().pubkey()), PrivateKey().address(), 10, 1)
    with pytest.raises(ArenaError, match="Solana"):
        await ledger.balance(PrivateKey().address())
