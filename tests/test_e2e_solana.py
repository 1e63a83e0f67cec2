"""End to end on real SPL tokens: a server with `[ledger] kind = "solana"`
against the local Solana network, clients over real sockets, the same client
code as on the embedded ledger. Balances are read straight from the runtime
(getTokenAccountBalance on the devnet), not from the server.
"""

from __future__ import annotations

import trio
from solders.pubkey import Pubkey

from arena.chain.solana_tx import ata
from conftest import player, wait_until
from solana_net import solana_devnet, token_balance  # noqa: F401

FAUCET = 10_000


def solana_ledger(dn, tmp_path) -> dict:
    return {
        "kind": "solana",
        "rpc_url": dn.url,
        "mint": dn.ledger["mint"],
        "escrow_keypair": dn.keypair_path,
        "fee_creator": dn.ledger["fee_creator"],
        "fee_partner": dn.ledger["fee_partner"],
        "fee_protocol": dn.ledger["fee_protocol"],
        "faucet_amount": FAUCET,
        "records_path": str(tmp_path / "solana-ledger.sqlite"),
    }


class Chain:
    """Token balances read from the runtime."""

    def __init__(self, dn):
        self.dn = dn
        self.mint = Pubkey.from_string(dn.ledger["mint"])
        self.escrow_account = ata(dn.escrow().pubkey(), self.mint)

    async def of(self, owner: str) -> int:
        return await token_balance(self.dn.url, ata(Pubkey.from_string(owner), self.mint))

    async def fee(self, name: str) -> int:
        return await self.of(self.dn.ledger[f"fee_{name}"])

    async def escrow(self) -> int:
        return await token_balance(self.dn.url, self.escrow_account)


async def until_balance(chain: Chain, owner: str, want: int, timeout: float = 30.0) -> None:
    with trio.fail_after(timeout):
        while (have := await chain.of(owner)) != want:
            await trio.sleep(0.05)
    assert have == want


async def pay(client, match: str) -> None:
    """entry.build → sign → entry.confirm, then wait for the engine to hear of it."""
    status = await client.pay_entry(match)
    assert status in ("confirmed", "pending")
    await client.next_event("entry.confirmed", match=match, where=lambda b: b["player"] == client.wallet,
                            timeout=30)


async def test_battle_for_real_spl_tokens(arena_server, solana_devnet, tmp_path):
    chain = Chain(solana_devnet)
    server, url = await arena_server(ledger=solana_ledger(solana_devnet, tmp_path),
                                     roast={"entry_deadline_ms": 60_000})
    assert server.ledger.name == "solana"
    async with player(url) as a, player(url) as b:
        assert await chain.of(a.wallet) == FAUCET and await a.balance() == FAUCET
        escrow_before = await chain.escrow()
        fees_before = {n: await chain.fee(n) for n in ("creator", "partner", "protocol")}
        await a.queue("bronze")
        await b.queue("bronze")
        _, found = await a.next_event("match.found")
        await b.next_event("match.found")
        match, fee = found["match"], found["entry_fee"]
        await pay(a, match)
        await pay(b, match)
        assert await chain.of(a.wallet) == FAUCET - fee and await chain.of(b.wallet) == FAUCET - fee
        assert await chain.escrow() == escrow_before + 2 * fee
        assert await server.ledger.account_balance(f"escrow:{match}") == 2 * fee
        texts = {a: "Your {p} energy is so weak even your echo gives up halfway!", b: "meh"}
        for rnd in (1, 2, 3):
            for c in (a, b):
                _, start = await c.next_event("battle:round_start", match=match, timeout=30)
                assert start["roundNumber"] == rnd
            await trio.sleep(0.25)
            await a.submit(match, rnd, texts[a].format(p=start["prompt"]))
            await b.submit(match, rnd, texts[b])
        _, end = await a.next_event("battle:ended", match=match, timeout=60)
        assert end["reason"] == "completed" and end["winnerId"] == a.wallet
        pool = 2 * fee
        platform = pool * 500 // 10_000
        partner = platform * 2500 // 10_000
        assert end["prizeAmount"] == pool - platform
        # The payout is one transaction from the escrow (a side task).
        await until_balance(chain, a.wallet, FAUCET - fee + end["prizeAmount"])
        assert await chain.of(b.wallet) == FAUCET - fee
        assert await chain.fee("creator") - fees_before["creator"] == platform - partner
        assert await chain.fee("partner") - fees_before["partner"] == partner
        assert await chain.fee("protocol") == fees_before["protocol"]
        assert await chain.escrow() == escrow_before  # the match's escrow is empty again
        await wait_until(lambda: not server.state.unsettled, timeout=30)  # the engine heard it is done
        assert await server.ledger.account_balance(f"escrow:{match}") == 0
        assert await a.balance() == FAUCET - fee + end["prizeAmount"]  # wallet.balance reads the chain
        # The battle's history carries the payout's transaction signature.
        with trio.fail_after(30):
            while not (hist := (await a.history())["matches"]):
                await trio.sleep(0.1)
        receipt = hist[0]["result"]["settlement"]
        assert receipt["ledger"] == "solana" and receipt["status"] == "done"
        assert isinstance(receipt["signature"], str) and len(receipt["signature"]) > 60
        assert (await server.ledger.settlement_receipt(f"payout:{match}"))["signature"] == receipt["signature"]


async def test_cancelled_battle_refunds_on_chain(arena_server, solana_devnet, tmp_path):
    chain = Chain(solana_devnet)
    server, url = await arena_server(ledger=solana_ledger(solana_devnet, tmp_path),
                                     roast={"entry_deadline_ms": 4_000})
    async with player(url) as a, player(url) as b:
        escrow_before = await chain.escrow()
        await a.queue("silver")
        await b.queue("silver")
        _, found = await a.next_event("match.found")
        match, fee = found["match"], found["entry_fee"]
        await a.pay_entry(match)  # b never pays
        _, end = await a.next_event("battle:ended", match=match, timeout=60)
        assert end["reason"] == "cancelled" and end["winnerId"] is None and end["prizeAmount"] == 0
        await until_balance(chain, a.wallet, FAUCET)  # refunded in full
        assert await chain.of(b.wallet) == FAUCET
        assert await chain.escrow() == escrow_before
        await wait_until(lambda: not server.state.unsettled, timeout=30)
        assert await server.ledger.account_balance(f"escrow:{match}") == 0


async def test_tips_split_98_2_on_chain(arena_server, solana_devnet, tmp_path):
    chain = Chain(solana_devnet)
    server, url = await arena_server(ledger=solana_ledger(solana_devnet, tmp_path))
    async with player(url) as a, player(url, faucet=False) as b:
        proto_before = await chain.fee("protocol")
        status, amount, fee = await a.tip(b.wallet, 5_000)
        assert status in ("confirmed", "pending") and (amount, fee) == (5_000, 100)
        for c in (a, b):
            _, ev = await c.next_event("tip:received", timeout=30)
            assert ev == {"from": a.wallet, "to": b.wallet, "amount": 5_000, "fee": 100}
        assert await chain.of(a.wallet) == FAUCET - 5_000
        assert await chain.of(b.wallet) == 4_900  # the tip created b's token account
        assert await chain.fee("protocol") - proto_before == 100
        assert await b.balance() == 4_900


async def test_pending_entry_reaches_the_engine_through_the_chain_side_task(arena_server, solana_devnet, tmp_path):
    """entry.confirm answers "pending"; the ledger's run() side task (started by the
    server under a Supervisor) tells the engine once the payment lands."""
    from arena.chain.solana import SolanaLedger
    from solana_net import ledger_kwargs

    ledger = SolanaLedger(**ledger_kwargs(solana_devnet, faucet_amount=FAUCET, confirm_wait_s=0,
                                          store=str(tmp_path / "pending.sqlite")))
    server, url = await arena_server(server_kwargs={"ledger": ledger}, roast={"entry_deadline_ms": 60_000})
    assert "chain" in server.supervisors
    async with player(url) as a, player(url) as b:
        await a.queue("gold")
        await b.queue("gold")
        _, found = await a.next_event("match.found")
        match = found["match"]
        assert await a.pay_entry(match) == "pending"
        assert await b.pay_entry(match) == "pending"
        for c in (a, b):
            await c.next_event("entry.confirmed", match=match, where=lambda body: body["player"] == a.wallet,
                               timeout=30)
            await c.next_event("entry.confirmed", match=match, where=lambda body: body["player"] == b.wallet,
                               timeout=30)
        _, start = await a.next_event("battle:round_start", match=match, timeout=30)
        assert start["roundNumber"] == 1
        assert await ledger.account_balance(f"escrow:{match}") == 2 * found["entry_fee"]
        assert server.supervisors["chain"].health()["state"] == "active"
        # A payment that landed later still tells its wallet, once, with the
        # balance the chain has now.
        for c in (a, b):
            _, upd = await c.next_event("wallet:updated", where=lambda body: body["reason"] == "entry", timeout=30)
            assert upd["change"] == -found["entry_fee"]
            assert upd["balance"] == await ledger.balance(c.wallet) == FAUCET - found["entry_fee"]
            await trio.sleep(0.3)
            assert not [e for e in c.buffered if e[0] == "wallet:updated" and e[1]["key"] == upd["key"]]
