"""`auth.bsv` over real sockets: a Bitcoin Signed Message over the login
nonce, made with `bsv-sdk`'s wallet signing, logs the address in; a wrong
nonce, another key's signature, a replay, a malformed signature or address
are `auth_failed`; the nonce is used up by one attempt."""

from __future__ import annotations

import pytest
from bsv import PrivateKey

from arena.client import ArenaRequestError, open_client
from arena.net import bsv_auth
from conftest import make_config


async def _server(nursery, tmp_path):
    from arena.server import ArenaServer

    srv = ArenaServer(make_config(tmp_path))
    port = await nursery.start(srv.run)
    return f"ws://127.0.0.1:{port}/v1"


async def _code(c, type_, body):
    with pytest.raises(ArenaRequestError) as err:
        await c.request(type_, body)
    return err.value.code


def test_verify_accepts_only_the_addresss_own_signature_of_the_nonce():
    key = PrivateKey()
    address, sig = key.sign_text("arena:login:n1")
    assert bsv_auth.verify(address, "n1", sig)
    assert not bsv_auth.verify(address, "n2", sig)
    assert not bsv_auth.verify(PrivateKey().address(), "n1", sig)
    assert not bsv_auth.verify(address, "n1", "A" * 88)
    assert not bsv_auth.verify(address, "n1", sig[:-4] + "!!!!")
    assert not bsv_auth.verify("not-an-address", "n1", sig)


async def test_auth_bsv_logs_in_the_address(nursery, tmp_path):
    url = await _server(nursery, tmp_path)
    key = PrivateKey()
    async with open_client(url) as c:
        hello = await c.hello()
        address, sig = key.sign_text("arena:login:" + hello["nonce"])
        reply = await c.request("auth.bsv", {"address": address, "signature": sig})
        assert reply["user"] == {"id": address, "wallet": address, "username": None}
        # Logged in: a game request is answered by its own rules, not `unauthenticated`
        # (the embedded ledger keeps ed25519 wallets only, so its requests need a BSV ledger).
        assert await _code(c, "meme.round", {}) == "wrong_state"
        assert await _code(c, "auth.bsv", {"address": address, "signature": sig}) == "wrong_state"


async def test_auth_bsv_refuses_what_does_not_verify(nursery, tmp_path):
    url = await _server(nursery, tmp_path)
    key, other = PrivateKey(), PrivateKey()
    async with open_client(url) as c:
        assert await _code(c, "auth.bsv", {"address": key.address(), "signature": "x"}) == "unauthenticated"
        hello = await c.hello()
        stale = hello["nonce"]
        _, sig = other.sign_text("arena:login:" + stale)
        assert await _code(c, "auth.bsv", {"address": key.address(), "signature": sig}) == "auth_failed"
        # the nonce is used up: even the right signature needs a new hello
        address, good = key.sign_text("arena:login:" + stale)
        assert await _code(c, "auth.bsv", {"address": address, "signature": good}) == "auth_failed"
        for body in ({"address": address}, {"address": address, "signature": b"bin"},
                     {"address": "x" * 65, "signature": good}, {"address": address, "signature": "y" * 129}):
            await c.hello()
            assert await _code(c, "auth.bsv", body) == "bad_request", body
        await c.hello()
        assert await _code(c, "auth.bsv", {"address": "1notbase58!!", "signature": good}) == "auth_failed"
        fresh = await c.hello()
        address, sig = key.sign_text("arena:login:" + fresh["nonce"])
        assert (await c.request("auth.bsv", {"address": address, "signature": sig}))["user"]["wallet"] == address
