"""End to end over real sockets: every money path of protocol v1.

Tips (exact amounts and fee, tip:received), duplicate payments, payments
signed by the wrong key, tampered transactions, insufficient funds, the
faucet, entry payments out of place - and a property test that drives random
sequences of payments (good, duplicated, concurrent, mis-signed, tampered,
unaffordable) through the socket and checks after every step that the
balances are exactly what a model says and that no token is created or
destroyed: wallets + escrows + fee accounts always hold exactly what the
faucet minted.
"""

from __future__ import annotations

import msgpack
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair

from arena.client import ArenaRequestError, open_client
from conftest import player, wait_until
from test_e2e_support import (
    FAUCET,
    TIMEOUT,
    error_code,
    held_total,
    money,
    queue_pair,
    settled,
    start_battle,
)

TIP_FEE_BPS = 200


def tip_fee(amount: int) -> int:
    return amount * TIP_FEE_BPS // 10_000


def retx(tx: bytes, **changes) -> bytes:
    """The tx with some fields changed, canonically re-encoded (sorted keys)."""
    body = msgpack.unpackb(tx, raw=False)
    body.update(changes)
    return msgpack.packb({k: body[k] for k in sorted(body)}, use_bin_type=True)


async def confirm_entry(c, match, tx, signer=None):
    sig = (signer or c).sign(tx)
    return await c.request("entry.confirm", {"match": match, "tx": tx, "signature": sig})


async def confirm_tip(c, tx, signer=None):
    sig = (signer or c).sign(tx)
    return await c.request("tip.confirm", {"tx": tx, "signature": sig})


# --- tips -------------------------------------------------------------------------


async def test_tip_moves_exact_amounts_and_notifies_both(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b, player(url, faucet=False) as bystander:
        built = await a.request("tip.build", {"to": b.wallet, "amount": 1_234})
        assert built["amount"] == 1_234 and built["fee"] == 24 and isinstance(built["tx"], bytes)
        assert await confirm_tip(a, built["tx"]) == {"status": "confirmed"}
        for c in (a, b):
            _, ev = await c.next_event("tip:received", timeout=TIMEOUT)
            assert ev == {"from": a.wallet, "to": b.wallet, "amount": 1_234, "fee": 24}
        assert await a.balance() == FAUCET - 1_234
        assert await b.balance() == FAUCET + 1_234 - 24
        assert await server.ledger.account_balance("fee:protocol") == 24
        await trio.sleep(0.2)
        assert bystander.events_seen == []
        assert a.seq_gaps == [] and b.seq_gaps == []
        money(server)


async def test_tip_fee_rounds_down(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        total_fee = 0
        for amount in (1, 49, 50, 99, 100, 10_001 // 3):
            status, got_amount, fee = await a.tip(b.wallet, amount)
            assert (status, got_amount, fee) == ("confirmed", amount, tip_fee(amount))
            total_fee += fee
        assert [tip_fee(x) for x in (1, 49, 50, 99, 100)] == [0, 0, 1, 1, 2]
        spent = 1 + 49 + 50 + 99 + 100 + 10_001 // 3
        assert await a.balance() == FAUCET - spent
        assert await b.balance() == FAUCET + spent - total_fee
        assert await server.ledger.account_balance("fee:protocol") == total_fee
        money(server)


async def test_tip_build_bad_requests(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        for body in (
            {"to": a.wallet, "amount": 10},                 # to self
            {"to": "not-a-wallet", "amount": 10},
            {"to": b.wallet[:-1] + "0", "amount": 10},  # "0" is not base58
            {"to": b.wallet + "1", "amount": 10},
            {"to": " " + b.wallet, "amount": 10},
            {"to": "", "amount": 10},
            {"to": f"escrow:{b.wallet}", "amount": 10},
            {"to": "fee:protocol", "amount": 10},
            {"to": b.wallet, "amount": 0},
            {"to": b.wallet, "amount": -1},
            {"to": b.wallet, "amount": -(2**63)},
            {"to": b.wallet, "amount": 2**63},
            {"to": b.wallet, "amount": "10"},
            {"to": b.wallet, "amount": 10.0},
            {"to": b.wallet, "amount": True},
        ):
            assert await error_code(a.request("tip.build", body)) == "bad_request", body
        assert await a.balance() == FAUCET and await b.balance() == FAUCET
        money(server)


async def test_duplicate_tip_is_charged_once(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        built = await a.request("tip.build", {"to": b.wallet, "amount": 500})
        sig = a.sign(built["tx"])
        assert (await a.request("tip.confirm", {"tx": built["tx"], "signature": sig}))["status"] == "confirmed"
        assert await error_code(a.request("tip.confirm", {"tx": built["tx"], "signature": sig})) == "duplicate"
        # The same tx twice in one batch, after it was confirmed: both duplicate.
        replies = await a.request_batch([("tip.confirm", {"tx": built["tx"], "signature": sig})] * 2)
        assert [r.code for r in replies] == ["duplicate", "duplicate"]
        assert await a.balance() == FAUCET - 500
        assert await b.balance() == FAUCET + 490
        await trio.sleep(0.2)
        assert [t for t, _, _ in b.events_seen].count("tip:received") == 1
        money(server)


async def test_concurrent_confirms_of_one_tip_charge_once(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        async with open_client(url, keypair=a.keypair) as a2:
            await a2.login()
            built = await a.request("tip.build", {"to": b.wallet, "amount": 700})
            body = {"tx": built["tx"], "signature": a.sign(built["tx"])}
            results = {}

            async def confirm(name, c):
                results[name] = await c.request_batch([("tip.confirm", body)] * 3)

            async with trio.open_nursery() as n:
                n.start_soon(confirm, "a", a)
                n.start_soon(confirm, "a2", a2)
            flat = results["a"] + results["a2"]
            ok = [r for r in flat if not isinstance(r, ArenaRequestError)]
            assert ok == [{"status": "confirmed"}]
            assert sorted(r.code for r in flat if isinstance(r, ArenaRequestError)) == ["duplicate"] * 5
            assert await a.balance() == FAUCET - 700
            assert await b.balance() == FAUCET + 700 - 14
            money(server)


async def test_tip_signed_by_another_key_is_payment_failed(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        built = await a.request("tip.build", {"to": b.wallet, "amount": 300})
        tx = built["tx"]
        assert await error_code(confirm_tip(a, tx, signer=b)) == "payment_failed"
        assert await error_code(a.request("tip.confirm", {"tx": tx, "signature": bytes(64)})) == "payment_failed"
        assert await error_code(a.request("tip.confirm", {"tx": tx, "signature": b"short"})) == "payment_failed"
        # The payee cannot confirm the payer's tx either, even with the payer's signature.
        assert await error_code(b.request("tip.confirm", {"tx": tx, "signature": a.sign(tx)})) == "bad_request"
        assert await a.balance() == FAUCET and await b.balance() == FAUCET
        # Nothing of that spoiled the tx: properly signed it still goes through, once.
        assert (await confirm_tip(a, tx))["status"] == "confirmed"
        assert await a.balance() == FAUCET - 300
        money(server)


async def test_tampered_tip_tx(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b, player(url) as c:
        tx = (await a.request("tip.build", {"to": b.wallet, "amount": 1_000}))["tx"]
        cases = {
            # Re-encoded with changed fields and signed by the payer: never built by the server.
            "amount": (retx(tx, amount=999), "payment_failed"),
            "fee": (retx(tx, fee=0), "payment_failed"),
            "recipient": (retx(tx, to=c.wallet), "payment_failed"),
            "nonce": (retx(tx, nonce="0" * 16), "payment_failed"),
            "expiry": (retx(tx, expires_ms=2**62), "payment_failed"),
            # Malformed: bad_request.
            "fee over amount": (retx(tx, fee=1_001), "bad_request"),
            "negative amount": (retx(tx, amount=-5), "bad_request"),
            "to self": (retx(tx, to=a.wallet), "bad_request"),
            "kind": (retx(tx, kind="entry"), "bad_request"),
            "extra field": (retx(tx, extra=1), "bad_request"),
            "trailing byte": (tx + b"\x00", "bad_request"),
            "truncated": (tx[:-1], "bad_request"),
            "not canonical": (msgpack.packb(dict(reversed(list(msgpack.unpackb(tx).items()))),
                                            use_bin_type=True), "bad_request"),
            "empty": (b"", "bad_request"),
            "huge": (tx + b"\x00" * 2_000, "bad_request"),
            "not a map": (msgpack.packb([1, 2]), "bad_request"),
            "payer is someone else": (retx(tx, **{"from": c.wallet}), "bad_request"),
        }
        for label, (bad, code) in cases.items():
            assert await error_code(confirm_tip(a, bad)) == code, label
        assert await a.balance() == FAUCET and await b.balance() == FAUCET and await c.balance() == FAUCET
        assert (await confirm_tip(a, tx))["status"] == "confirmed"
        money(server)


async def test_tip_with_insufficient_funds_can_be_confirmed_later(arena_server):
    server, url = await arena_server()
    async with player(url, faucet=False) as a, player(url) as b:
        built = await a.request("tip.build", {"to": b.wallet, "amount": 2_000})
        sig = a.sign(built["tx"])
        assert await error_code(a.request("tip.confirm", {"tx": built["tx"], "signature": sig})) \
            == "insufficient_funds"
        assert await a.balance() == 0 and await b.balance() == FAUCET
        await a.faucet()
        assert (await a.request("tip.confirm", {"tx": built["tx"], "signature": sig}))["status"] == "confirmed"
        assert await a.balance() == FAUCET - 2_000
        assert await error_code(a.request("tip.confirm", {"tx": built["tx"], "signature": sig})) == "duplicate"
        money(server)


# --- the faucet and balances --------------------------------------------------------------


async def test_faucet(arena_server):
    server, url = await arena_server()
    async with player(url, faucet=False) as a:
        assert await a.balance() == 0
        for i in range(1, 11):
            assert await a.faucet() == i * FAUCET
        # Enough is enough (10x the faucet amount).
        assert await error_code(a.faucet()) == "not_allowed"
        assert await a.balance() == 10 * FAUCET
        money(server)


async def test_faucet_disabled(arena_server):
    server, url = await arena_server(ledger={"faucet_amount": 0})
    async with player(url, faucet=False) as a:
        assert await error_code(a.faucet()) == "not_allowed"
        assert await a.balance() == 0
    assert held_total(server) == 0


# --- entry fees ------------------------------------------------------------------------


async def test_entry_payment_rules(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b, player(url) as x:
        assert await error_code(a.request("entry.build", {"match": "ro-nope"})) == "not_found"
        assert await error_code(a.request("entry.build", {"match": ""})) == "not_found"
        match, fee = await queue_pair(a, b, "gold")
        built = await a.request("entry.build", {"match": match})
        assert built["amount"] == fee == 2_000
        # Not one of the players: not_allowed, for build and confirm alike.
        assert await error_code(x.request("entry.build", {"match": match})) == "not_allowed"
        assert await error_code(confirm_entry(x, match, built["tx"])) == "not_allowed"
        # Signed by another wallet: payment_failed.
        assert await error_code(confirm_entry(a, match, built["tx"], signer=b)) == "payment_failed"
        assert await error_code(a.request("entry.confirm", {"match": match, "tx": built["tx"],
                                                            "signature": bytes(64)})) == "payment_failed"
        # The payer's tx confirmed by the other player: bad_request (not theirs).
        assert await error_code(confirm_entry(b, match, built["tx"], signer=a)) == "bad_request"
        # The right tx for the wrong match: bad_request (mismatched).
        async with player(url) as p, player(url) as q:
            other_match, _ = await queue_pair(p, q, "gold")
            other = await p.request("entry.build", {"match": other_match})
            assert await error_code(confirm_entry(p, match, other["tx"])) == "not_allowed"
            assert await error_code(confirm_entry(a, other_match, built["tx"])) == "not_allowed"
        assert await a.balance() == FAUCET
        # Properly signed: confirmed; again: duplicate; building again: duplicate.
        assert await confirm_entry(a, match, built["tx"]) == {"status": "confirmed"}
        assert await error_code(confirm_entry(a, match, built["tx"])) == "duplicate"
        assert await error_code(a.request("entry.build", {"match": match})) == "duplicate"
        assert await a.balance() == FAUCET - fee
        assert await server.ledger.account_balance(f"escrow:{match}") == fee
        money(server)


async def test_tampered_entry_tx(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        match, fee = await queue_pair(a, b, "silver")
        tx = (await a.request("entry.build", {"match": match}))["tx"]
        cases = {
            "cheaper": (retx(tx, amount=1), "bad_request"),              # differs from the entry fee
            "other escrow": (retx(tx, to="escrow:ro-other"), "bad_request"),
            "other match": (retx(tx, match="ro-other", to="escrow:ro-other"), "bad_request"),
            "to a wallet": (retx(tx, to=b.wallet), "bad_request"),
            "paid by b": (retx(tx, **{"from": b.wallet}), "bad_request"),
            "nonce": (retx(tx, nonce="f" * 16), "payment_failed"),       # well-formed, never built
            "expiry": (retx(tx, expires_ms=1), "payment_failed"),
            "kind": (retx(tx, kind="tip"), "bad_request"),
            "garbage": (b"\xc1" * 10, "bad_request"),
        }
        for label, (bad, code) in cases.items():
            assert await error_code(confirm_entry(a, match, bad)) == code, label
        assert await a.balance() == FAUCET
        assert await confirm_entry(a, match, tx) == {"status": "confirmed"}
        assert await a.balance() == FAUCET - fee
        money(server)


async def test_entry_with_insufficient_funds_then_later(arena_server):
    server, url = await arena_server(roast={"entry_deadline_ms": 60_000})
    async with player(url, faucet=False) as a, player(url) as b:
        match, fee = await queue_pair(a, b, "bronze")
        built = await a.request("entry.build", {"match": match})
        assert await error_code(confirm_entry(a, match, built["tx"])) == "insufficient_funds"
        assert await a.balance() == 0
        assert await server.ledger.account_balance(f"escrow:{match}") == 0
        assert await a.faucet() == FAUCET
        assert await confirm_entry(a, match, built["tx"]) == {"status": "confirmed"}
        assert await b.pay_entry(match) == "confirmed"
        await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        assert await a.balance() == FAUCET - fee
        money(server)


async def test_duplicate_entry_payment_in_one_batch_is_charged_once(arena_server):
    """Both confirms reach the ledger before the engine hears of the first."""
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        match, fee = await queue_pair(a, b, "silver")
        tx = (await a.request("entry.build", {"match": match}))["tx"]
        body = {"match": match, "tx": tx, "signature": a.sign(tx)}
        r = await a.request_batch([("entry.confirm", body)] * 2)
        assert r[0] == {"status": "confirmed"}
        assert isinstance(r[1], ArenaRequestError) and r[1].code == "duplicate"
        assert await a.balance() == FAUCET - fee
        money(server)


async def test_two_entry_payments_in_one_batch_second_refunded(arena_server):
    """Two different txs for one fee: the ledger takes both, the engine refunds one in full."""
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        match, fee = await queue_pair(a, b, "gold")
        tx1 = (await a.request("entry.build", {"match": match}))["tx"]
        tx2 = (await a.request("entry.build", {"match": match}))["tx"]
        r = await a.request_batch([("entry.confirm", {"match": match, "tx": t, "signature": a.sign(t)})
                                   for t in (tx1, tx2)])
        assert r == [{"status": "confirmed"}, {"status": "confirmed"}]
        await settled(server)
        assert await a.balance() == FAUCET - fee
        assert await server.ledger.account_balance(f"escrow:{match}") == fee
        _, ev = await b.next_event("entry.confirmed", match=match, timeout=TIMEOUT)
        assert ev["player"] == a.wallet
        await trio.sleep(0.2)
        assert [t for t, _, _ in b.events_seen].count("entry.confirmed") == 1
        # The battle then runs normally.
        assert await b.pay_entry(match) == "confirmed"
        await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        money(server)


# --- the property: conservation and an exact model under random payments ------------------

OPS = st.one_of(
    st.tuples(st.just("tip"), st.integers(0, 2), st.integers(0, 2),
              st.one_of(st.integers(-3, 25_000), st.sampled_from([1, 49, 50, 2**40, 2**63 - 1])),
              st.sampled_from(["ok", "dup", "batch_dup", "wrong_key", "tamper", "payee_confirms"])),
    st.tuples(st.just("faucet"), st.integers(0, 2)),
    st.tuples(st.just("entry"), st.sampled_from(["ok", "dup", "twice", "wrong_key", "skip"]),
              st.sampled_from(["ok", "skip"])),
)


async def test_money_is_conserved_under_random_payments(arena_server):
    server, url = await arena_server(roast={"entry_deadline_ms": 1_500, "rounds": 1, "time_limit_ms": 30_000})
    async with player(url) as p0, player(url) as p1, player(url) as p2:
        clients = [p0, p1, p2]
        model = {c.wallet: FAUCET for c in clients}
        fees = {"fee:protocol": 0}
        minted = [3 * FAUCET]

        async def check() -> None:
            await settled(server)
            for c in clients:
                assert await c.balance() == model[c.wallet]
            assert await server.ledger.account_balance("fee:protocol") == fees["fee:protocol"]
            money(server)
            assert held_total(server) == minted[0]

        async def tip(i, j, amount, how):
            a, b = clients[i], clients[j]
            if i == j or amount <= 0 or amount >= 2**63:
                assert await error_code(a.request("tip.build", {"to": b.wallet, "amount": amount})) == "bad_request"
                return
            tx = (await a.request("tip.build", {"to": b.wallet, "amount": amount}))["tx"]
            fee = tip_fee(amount)
            affordable = model[a.wallet] >= amount
            body = {"tx": tx, "signature": a.sign(tx)}
            if how == "wrong_key":
                assert await error_code(confirm_tip(a, tx, signer=b)) == "payment_failed"
                return
            if how == "tamper":
                assert await error_code(confirm_tip(a, retx(tx, nonce="0" * 16))) == "payment_failed"
                return
            if how == "payee_confirms":
                assert await error_code(b.request("tip.confirm", body)) == "bad_request"
                return
            if how == "batch_dup":
                replies = await a.request_batch([("tip.confirm", body)] * 2)
            else:
                replies = [await a.request_raw("tip.confirm", body)]
                replies = [r[1] if r[0] == "ok" else ArenaRequestError.from_body(r[1]) for r in replies]
                if how == "dup":
                    s, rb = await a.request_raw("tip.confirm", body)
                    replies.append(rb if s == "ok" else ArenaRequestError.from_body(rb))
            if affordable:
                assert replies[0] == {"status": "confirmed"}
                assert all(r.code == "duplicate" for r in replies[1:])
                model[a.wallet] -= amount
                model[b.wallet] += amount - fee
                fees["fee:protocol"] += fee
            else:
                assert all(r.code == "insufficient_funds" for r in replies)

        async def faucet(i):
            c = clients[i]
            if model[c.wallet] >= 10 * FAUCET:
                assert await error_code(c.faucet()) == "not_allowed"
            else:
                assert await c.faucet() == model[c.wallet] + FAUCET
                model[c.wallet] += FAUCET
                minted[0] += FAUCET

        async def entry(how_a, how_b):
            # A 1-round bronze battle between p0 and p1 (p2 watches the money).
            a, b = p0, p1
            match, fee = await queue_pair(a, b, "bronze")
            paid = []
            for c, how in ((a, how_a), (b, how_b)):
                if how == "skip" or model[c.wallet] < fee:
                    continue
                tx = (await c.request("entry.build", {"match": match}))["tx"]
                body = {"match": match, "tx": tx, "signature": c.sign(tx)}
                if how == "wrong_key":
                    assert await error_code(confirm_entry(c, match, tx, signer=p2)) == "payment_failed"
                    continue
                if how == "twice" and model[c.wallet] >= 2 * fee:
                    tx2 = (await c.request("entry.build", {"match": match}))["tx"]
                    r = await c.request_batch([("entry.confirm", body), ("entry.confirm", {
                        "match": match, "tx": tx2, "signature": c.sign(tx2)})])
                    assert r == [{"status": "confirmed"}] * 2  # the second is refunded
                elif how == "dup":
                    r = await c.request_batch([("entry.confirm", body)] * 2)
                    assert r[0] == {"status": "confirmed"} and r[1].code == "duplicate"
                else:
                    assert await c.request("entry.confirm", body) == {"status": "confirmed"}
                paid.append(c)
            if len(paid) == 2:
                await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
                await wait_until(lambda: server.state.matches[match].phase == "recording", timeout=TIMEOUT)
                await a.submit(match, 1, "Your jokes are so stale even the bread mold files a complaint!")
                await b.submit(match, 1, "   ")
            _, end = await a.next_event("battle:ended", match=match, timeout=TIMEOUT)
            await b.next_event("battle:ended", match=match, timeout=TIMEOUT)
            if len(paid) == 2:
                assert end["winnerId"] == a.wallet and end["reason"] == "completed"
                pool = 2 * fee
                platform = pool * 500 // 10_000
                model[a.wallet] += pool - platform - fee
                model[b.wallet] -= fee
                fees.setdefault("platform", 0)
                fees["platform"] += platform
            else:
                assert end["reason"] == "cancelled" and end["winnerId"] is None
            await settled(server)
            assert await server.ledger.account_balance(f"escrow:{match}") == 0

        async def run(ops):
            for op in ops:
                if op[0] == "tip":
                    await tip(*op[1:])
                elif op[0] == "faucet":
                    await faucet(op[1])
                else:
                    await entry(*op[1:])
                await check()
            creator = await server.ledger.account_balance("fee:creator")
            partner = await server.ledger.account_balance("fee:partner")
            assert creator + partner == fees.get("platform", 0)

        @settings(max_examples=15, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(OPS, min_size=1, max_size=5))
        def prop(ops):
            trio.from_thread.run(run, ops)

        await trio.to_thread.run_sync(prop)
        await check()


async def test_money_is_conserved_across_many_concurrent_players(arena_server, nursery):
    """Eight players at once: battles, tips and duplicate confirms interleaved."""
    server, url = await arena_server(roast={"rounds": 1, "time_limit_ms": 30_000})
    keys = [Keypair() for _ in range(8)]
    wallets = [str(k.pubkey()) for k in keys]
    done = []

    async def one(i):
        async with player(url, keypair=keys[i]) as c:
            to = wallets[(i + 1) % 8]
            for amount in (10, 333, 1_000):
                tx = (await c.request("tip.build", {"to": to, "amount": amount}))["tx"]
                r = await c.request_batch([("tip.confirm", {"tx": tx, "signature": c.sign(tx)})] * 2)
                assert r[0] == {"status": "confirmed"} and r[1].code == "duplicate"
            await c.queue("silver")
            _, found = await c.next_event("match.found", timeout=TIMEOUT)
            assert await c.pay_entry(found["match"]) == "confirmed"
            await c.next_event("battle:round_start", match=found["match"], timeout=TIMEOUT)
            await wait_until(lambda: server.state.matches[found["match"]].phase == "recording", timeout=TIMEOUT)
            await c.submit(found["match"], 1, "You are so slow even your shadow leaves you behind!"
                           if found["players"][0] == c.wallet else " ")
            _, end = await c.next_event("battle:ended", match=found["match"], timeout=TIMEOUT)
            assert end["reason"] == "completed"
            done.append(i)

    async with trio.open_nursery() as n:
        for i in range(8):
            n.start_soon(one, i)
    assert sorted(done) == list(range(8))
    await settled(server)
    balances = money(server)
    assert held_total(server) == 8 * FAUCET
    assert not any(v for k, v in balances.items() if k.startswith("escrow:"))
    tips_fee = 8 * sum(tip_fee(x) for x in (10, 333, 1_000))
    assert balances.get("fee:protocol", 0) == tips_fee
    platform = 4 * (1_000 * 500 // 10_000)
    assert balances.get("fee:creator", 0) + balances.get("fee:partner", 0) == platform
    assert sum(balances[w] for w in wallets) == 8 * FAUCET - tips_fee - platform


async def test_wallet_requests_in_a_batch_run_in_order(arena_server):
    """PROTOCOL.md: a batch is read exactly as its envelopes one after another."""
    server, url = await arena_server()
    async with player(url, faucet=False) as a, player(url) as b:
        for i in range(1, 6):
            r = await a.request_batch([("wallet.faucet", {}), ("wallet.balance", {}),
                                       ("wallet.faucet", {}), ("wallet.balance", {})])
            assert r == [{"balance": (2 * i - 1) * FAUCET}, {"balance": (2 * i - 1) * FAUCET},
                         {"balance": 2 * i * FAUCET}, {"balance": 2 * i * FAUCET}]
        # A tip and the balance right after it.
        tx = (await b.request("tip.build", {"to": a.wallet, "amount": 100}))["tx"]
        r = await b.request_batch([("tip.confirm", {"tx": tx, "signature": b.sign(tx)}), ("wallet.balance", {})])
        assert r == [{"status": "confirmed"}, {"balance": FAUCET - 100}]
        money(server)
