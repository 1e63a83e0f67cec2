"""`python -m arena devnet`: the node semantics the Solana ledger relies on."""

from __future__ import annotations

import base64
import json

import httpx2
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import mint_to
from spl.token.models import MintToParams

from arena.chain import solana_tx as stx
from arena.chain.devnet import DevnetChain, RpcError, start_devnet
from arena.config import load_config
from solana_net import solana_devnet  # noqa: F401


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def net():
    clock = FakeClock()
    chain = DevnetChain(slot_ms=400, valid_slots=10, confirm_slots=1, clock=clock)
    escrow = Keypair()
    setup = chain.setup_arena(escrow)
    mint = Pubkey.from_string(setup["mint"])
    return chain, clock, escrow, mint, setup


def call(chain, method, *params):
    out = chain.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    if "error" in out:
        raise RpcError(out["error"]["code"], out["error"]["message"], out["error"].get("data"))
    return out["result"]


def funded_player(chain, escrow, mint, amount=1000) -> Keypair:
    kp = Keypair()
    chain.airdrop(kp.pubkey(), 10**9)
    chain.execute([escrow], [
        stx.create_idempotent_associated_token_account(escrow.pubkey(), kp.pubkey(), mint),
        mint_to(MintToParams(program_id=TOKEN_PROGRAM_ID, mint=mint, dest=stx.ata(kp.pubkey(), mint),
                             mint_authority=escrow.pubkey(), amount=amount)),
    ])
    return kp


def entry_tx(chain, mint, setup, kp, amount, memo_nonce="n", blockhash=None) -> bytes:
    tok = stx.Token(mint, 6, Pubkey.from_string(setup["escrow"]), Pubkey.from_string(setup["escrow_token_account"]),
                    stx.ata(Pubkey.from_string(setup["fee_protocol"]), mint))
    bh = blockhash or chain.svm.latest_blockhash()
    msg = stx.entry_message(tok, kp.pubkey(), "m1", amount, memo_nonce, bh)
    from solders.transaction import Transaction

    return bytes(Transaction.populate(msg, [kp.sign_message(bytes(msg))]))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_setup_creates_mint_escrow_and_fee_accounts(net):
    chain, clock, escrow, mint, setup = net
    info = call(chain, "getAccountInfo", setup["mint"], {"encoding": "base64"})["value"]
    data = base64.b64decode(info["data"][0])
    assert info["owner"] == str(TOKEN_PROGRAM_ID) and data[44] == 6
    assert Pubkey.from_bytes(data[4:36]) == escrow.pubkey()  # mint authority: the escrow key (faucet)
    for owner in (setup["escrow"], setup["fee_creator"], setup["fee_partner"], setup["fee_protocol"]):
        bal = call(chain, "getTokenAccountBalance", str(stx.ata(Pubkey.from_string(owner), mint)))
        assert bal["value"]["amount"] == "0" and bal["value"]["decimals"] == 6
    with pytest.raises(RpcError, match="could not find account"):
        call(chain, "getTokenAccountBalance", str(Keypair().pubkey()))


def test_confirmation_levels_follow_slots(net):
    chain, clock, escrow, mint, setup = net
    kp = funded_player(chain, escrow, mint)
    sig = call(chain, "sendTransaction", b64(entry_tx(chain, mint, setup, kp, 10)), {"encoding": "base64"})
    st = call(chain, "getSignatureStatuses", [sig])["value"][0]
    assert st["confirmationStatus"] == "processed" and st["err"] is None
    assert call(chain, "getTransaction", sig, {"encoding": "base64", "commitment": "confirmed"}) is None
    clock.t += 0.4
    assert call(chain, "getSignatureStatuses", [sig])["value"][0]["confirmationStatus"] == "confirmed"
    tx = call(chain, "getTransaction", sig, {"encoding": "base64", "commitment": "confirmed"})
    assert tx["meta"]["err"] is None and base64.b64decode(tx["transaction"][0])
    clock.t += 0.4 * 32
    assert call(chain, "getSignatureStatuses", [sig])["value"][0]["confirmationStatus"] == "finalized"
    assert call(chain, "getSignatureStatuses", [str(Keypair().sign_message(b"x"))])["value"] == [None]


def test_blockhash_expires_after_valid_slots(net):
    chain, clock, escrow, mint, setup = net
    kp = funded_player(chain, escrow, mint)
    latest = call(chain, "getLatestBlockhash")["value"]
    assert latest["lastValidBlockHeight"] == call(chain, "getBlockHeight") + 10
    raw = entry_tx(chain, mint, setup, kp, 10)
    clock.t += 0.4 * 11
    assert call(chain, "getBlockHeight") > latest["lastValidBlockHeight"]
    with pytest.raises(RpcError) as e:
        call(chain, "sendTransaction", b64(raw), {"encoding": "base64"})
    assert e.value.code == -32002 and e.value.data["err"] == "BlockhashNotFound"
    # With skipPreflight the node takes it and drops it: it never lands.
    sig = call(chain, "sendTransaction", b64(raw), {"encoding": "base64", "skipPreflight": True})
    assert call(chain, "getSignatureStatuses", [sig])["value"] == [None]
    assert call(chain, "arena_advanceSlots", 5) == call(chain, "getSlot")


def test_preflight_refuses_a_failing_transaction_and_nothing_lands(net):
    chain, clock, escrow, mint, setup = net
    kp = funded_player(chain, escrow, mint, amount=5)
    raw = entry_tx(chain, mint, setup, kp, 10)
    with pytest.raises(RpcError) as e:
        call(chain, "sendTransaction", b64(raw), {"encoding": "base64"})
    assert e.value.code == -32002
    assert e.value.data["err"] == {"InstructionError": [0, {"Custom": 1}]}
    assert any("insufficient funds" in line for line in e.value.data["logs"])
    assert call(chain, "getTokenAccountBalance", str(stx.ata(kp.pubkey(), mint)))["value"]["amount"] == "5"


def test_skip_preflight_failing_transaction_lands_with_its_error(net):
    chain, clock, escrow, mint, setup = net
    kp = funded_player(chain, escrow, mint, amount=5)
    sig = call(chain, "sendTransaction", b64(entry_tx(chain, mint, setup, kp, 10)),
               {"encoding": "base64", "skipPreflight": True})
    st = call(chain, "getSignatureStatuses", [sig])["value"][0]
    assert st["err"] == {"InstructionError": [0, {"Custom": 1}]}
    assert call(chain, "getTokenAccountBalance", str(stx.ata(kp.pubkey(), mint)))["value"]["amount"] == "5"


def test_resend_is_already_processed_and_bad_signature_is_refused(net):
    chain, clock, escrow, mint, setup = net
    kp = funded_player(chain, escrow, mint)
    raw = entry_tx(chain, mint, setup, kp, 10)
    sig = call(chain, "sendTransaction", b64(raw), {"encoding": "base64"})
    with pytest.raises(RpcError) as e:
        call(chain, "sendTransaction", b64(raw), {"encoding": "base64"})
    assert e.value.data["err"] == "AlreadyProcessed"
    assert call(chain, "sendTransaction", b64(raw), {"encoding": "base64", "skipPreflight": True}) == sig
    forged = bytearray(entry_tx(chain, mint, setup, kp, 10, memo_nonce="other"))
    forged[1:65] = bytes(Keypair().sign_message(bytes(forged[65:])))
    with pytest.raises(RpcError) as e:
        call(chain, "sendTransaction", b64(bytes(forged)), {"encoding": "base64"})
    assert e.value.code == -32003
    bal = call(chain, "getTokenAccountBalance", str(stx.ata(kp.pubkey(), mint)))["value"]["amount"]
    assert bal == "990"


def test_signatures_for_address_carry_memos_newest_first(net):
    chain, clock, escrow, mint, setup = net
    kp = funded_player(chain, escrow, mint)
    sigs = [call(chain, "sendTransaction", b64(entry_tx(chain, mint, setup, kp, 1, memo_nonce=f"n{i}")),
                 {"encoding": "base64"}) for i in range(3)]
    clock.t += 0.4
    got = call(chain, "getSignaturesForAddress", setup["escrow_token_account"], {"limit": 10})
    assert got == []  # default commitment: finalized
    got = call(chain, "getSignaturesForAddress", setup["escrow_token_account"], {"commitment": "confirmed"})
    assert [g["signature"] for g in got][:3] == sigs[::-1]  # (then the set-up that created the account)
    assert got[0]["memo"] == f"[{len('arena:entry:m1:n2')}] arena:entry:m1:n2"
    page = call(chain, "getSignaturesForAddress", setup["escrow_token_account"],
                {"commitment": "confirmed", "before": sigs[2], "limit": 1})
    assert [g["signature"] for g in page] == [sigs[1]]


def test_http_server_speaks_json_rpc():
    server, setup, escrow = start_devnet()
    try:
        with httpx2.Client() as c:
            r = c.post(server.url, json=[{"jsonrpc": "2.0", "id": 1, "method": "getSlot"},
                                         {"jsonrpc": "2.0", "id": 2, "method": "nope"}]).json()
            assert isinstance(r[0]["result"], int) and r[1]["error"]["code"] == -32601
            assert c.post(server.url, content=b"{nope").json()["error"]["code"] == -32700
            assert c.get(server.url + "/health").text == "ok"
            r = c.post(server.url, json={"jsonrpc": "2.0", "id": 3, "method": "getBalance",
                                         "params": [setup["escrow"]]}).json()
            assert r["result"]["value"] > 0
    finally:
        server.stop()


def test_config_out_is_a_loadable_arena_config(solana_devnet):
    text = solana_devnet.config_path.read_text()
    assert "secret" not in text.lower()
    cfg = load_config(solana_devnet.config_path, env={})
    assert cfg.ledger.kind == "solana" and cfg.ledger.rpc_url == solana_devnet.url
    assert cfg.ledger.mint == solana_devnet.ledger["mint"]
    key = json.loads(open(cfg.ledger.escrow_keypair).read())
    assert len(key) == 64  # a Solana CLI keypair file ...
    import os
    import stat

    assert not os.stat(cfg.ledger.escrow_keypair).st_mode & (stat.S_IRWXG | stat.S_IRWXO)  # ... owner-only
