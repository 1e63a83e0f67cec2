"""Sign-In With Solana (`auth.siws`): the parser and the rules (sans-IO), and
the request over real sockets, with forged, replayed, expired, wrong-domain
and malformed messages refused as `auth_failed` and nothing changed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from solders.keypair import Keypair

from arena.client import open_client
from arena.net import siws

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
ADDR = "2x9VwCu4V2XUGoDQHqBLv1czAoF7xAi17kgHoAHDX89N"


def msg(**kw) -> siws.SiwsMessage:
    base = dict(domain="arena.example", address=ADDR, statement="Sign in to Arena.", uri="https://arena.example",
                version="1", chain_id="mainnet", nonce="n1", issued_at="2026-12-03T11:59:00Z",
                expiration_time="2026-12-03T12:10:00Z")
    return siws.SiwsMessage(**{**base, **kw})


def test_the_wallet_standard_text_round_trips():
    m = msg(resources=("https://arena.example/terms",), request_id="r-1", not_before="2026-12-03T11:00:00Z")
    text = siws.build(m)
    assert text.startswith("arena.example wants you to sign in with your Solana account:\n" + ADDR + "\n\n"
                           "Sign in to Arena.\n\nURI: https://arena.example\nVersion: 1\nChain ID: mainnet\n"
                           "Nonce: n1\nIssued At: 2026-12-03T11:59:00Z\n")
    assert siws.parse(text) == m
    bare = msg(statement=None, uri=None, chain_id=None, issued_at=None, expiration_time=None)
    assert siws.parse(siws.build(bare)) == bare


@pytest.mark.parametrize("text, why", [
    ("", "empty"),
    ("x" * 5000, "longer than"),
    ("hello\n" + ADDR, "first line"),
    (" wants you to sign in with your Solana account:\n" + ADDR, "first line"),
    ("a.b wants you to sign in with your Solana account:\n", "address"),
    ("a.b wants you to sign in with your Solana account:\n" + ADDR + "\n\nURI: x\nURI: y", "repeated"),
    ("a.b wants you to sign in with your Solana account:\n" + ADDR + "\n\nNonce: x\nURI: y", "out of order"),
    ("a.b wants you to sign in with your Solana account:\n" + ADDR + "\n\nURI: x\nEvil: y", "unexpected line"),
    ("a.b wants you to sign in with your Solana account:\n" + ADDR + "\n\nResources:\n- a\nNonce: n", "follow"),
])
def test_malformed_messages_are_refused_saying_why(text, why):
    with pytest.raises(siws.SiwsError, match=why):
        siws.parse(text)


@pytest.mark.parametrize("m, nonce, why", [
    (msg(domain="evil.example"), "n1", "domain"),
    (msg(), None, "no unused login nonce"),
    (msg(), "n2", "nonce"),
    (msg(version="2"), "n1", "version"),
    (msg(issued_at="2026-12-03T13:00:00Z"), "n1", "future"),
    (msg(expiration_time="2026-12-03T11:59:59Z"), "n1", "expired"),
    (msg(not_before="2026-12-03T12:30:00Z"), "n1", "not valid yet"),
    (msg(issued_at="yesterday"), "n1", "RFC 3339"),
    (msg(expiration_time="2026-12-03T12:10:00"), "n1", "no time zone"),
])
def test_the_server_rules(m, nonce, why):
    with pytest.raises(siws.SiwsError, match=why):
        siws.check(m, domain="arena.example", nonce=nonce, now=NOW)


def test_a_valid_message_passes():
    siws.check(msg(), domain="arena.example", nonce="n1", now=NOW)
    siws.check(msg(expiration_time=None, issued_at=None), domain="arena.example", nonce="n1", now=NOW)


# --- over real sockets ------------------------------------------------------------------


def signed(kp: Keypair, text: str) -> dict:
    return {"message": text, "signature": bytes(kp.sign_message(text.encode()))}


def text_for(kp: Keypair, nonce: str, **kw) -> str:
    now = datetime.now(timezone.utc)
    base = dict(domain="localhost", address=str(kp.pubkey()), statement="Sign in.", uri="https://localhost",
                version="1", chain_id="mainnet", nonce=nonce,
                issued_at=now.isoformat(timespec="seconds"),
                expiration_time=(now + timedelta(minutes=5)).isoformat(timespec="seconds"))
    return siws.build(siws.SiwsMessage(**{**base, **kw}))


async def code_of(c, body) -> str:
    status, reply = await c.request_raw("auth.siws", body)
    assert status == "error", reply
    return reply["code"]


async def test_siws_logs_in_and_refuses_forged_replayed_expired_and_foreign(arena_server):
    _, url = await arena_server()
    async with open_client(url) as c:
        hello = await c.hello()
        assert hello["domain"] == "localhost"
        body = await c.login_siws()
        assert body["user"]["wallet"] == c.wallet and await c.balance() >= 0
        assert (await c.request_raw("auth.siws", {"message": "x", "signature": b"s"}))[1]["code"] == "wrong_state"

    kp, other = Keypair(), Keypair()
    async with open_client(url) as c:
        assert await code_of(c, signed(kp, text_for(kp, "nonce"))) == "unauthenticated"  # before hello
        cases = [
            lambda n: signed(kp, text_for(kp, n, domain="evil.example")),         # another site's message
            lambda n: signed(kp, text_for(kp, "not-the-nonce")),                   # not this hello's nonce
            lambda n: signed(kp, text_for(kp, n, expiration_time="2020-01-01T00:00:00Z")),  # expired
            lambda n: signed(other, text_for(kp, n)),                              # signed by someone else
            lambda n: {"message": text_for(kp, n), "signature": b"\x00" * 64},     # forged
            lambda n: signed(kp, text_for(kp, n, address="not-a-wallet")),
            lambda n: signed(kp, "hello " + n),                                    # not a SIWS message
        ]
        for make in cases:
            nonce = (await c.hello())["nonce"]
            assert await code_of(c, make(nonce)) == "auth_failed"
        # Wrong shapes are bad_request (field checks), before anything is used up.
        nonce = (await c.hello())["nonce"]
        assert (await c.request_raw("auth.siws", {"message": 5, "signature": b"s"}))[1]["code"] == "bad_request"
        assert (await c.request_raw("auth.siws", {"message": "m" * 5000, "signature": b"s"}))[1]["code"] == "bad_request"
        good = signed(kp, text_for(kp, nonce))
        assert (await c.request_raw("auth.siws", good))[0] == "ok"
    async with open_client(url) as c:
        await c.hello()
        assert await code_of(c, good) == "auth_failed"  # replayed on a new connection: its nonce is gone
