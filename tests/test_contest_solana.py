"""A trading contest on real SPL tokens: `[ledger] kind = "solana"` against
the local Solana network, the same clients as on the embedded ledger.
Entry fees go into the escrow on chain; the one payout settlement pays the
prizes, the referral reward and the platform's rake (to the configured
`fee:protocol` wallet), every balance read from the runtime. A contest
under its minimum is refunded on chain."""

from __future__ import annotations

from contextlib import AsyncExitStack

import attrs

from arena.cli_reconcile import reconcile
from arena.modes.contest.settings import ContestConfig
from arena.wallclock import ManualClock
from conftest import make_config, player, wait_until
from solana_net import solana_devnet  # noqa: F401
from test_contest_e2e import END, START, T0, TOKENS, _operator, _pf, _server, _terms, join
from test_e2e_solana import FAUCET, Chain, solana_ledger, until_balance


def _config(tmp_path, dn):
    base = make_config(tmp_path, ledger=solana_ledger(dn, tmp_path))
    settings = ContestConfig(min_duration_ms=1_000, price_every_ticks=2, referral_bps=5_000,
                             platform_account="fee:protocol")
    return attrs.evolve(base, schedule=attrs.evolve(base.schedule, poll_ms=20),
                        engine=base.engine.with_mode("contest", settings))


async def test_a_contest_paid_out_on_chain(nursery, tmp_path, solana_devnet):
    chain = Chain(solana_devnet)
    clock = ManualClock(T0)
    cfg = _config(tmp_path, solana_devnet)
    srv, url = await _server(nursery, cfg, clock)
    assert srv.ledger.name == "solana"
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        bob = await stack.enter_async_context(player(url))
        ref = await stack.enter_async_context(player(url))
        escrow_before = await chain.escrow()
        protocol_before = await chain.fee("protocol")
        cid = (await op.request("contest.create", _terms()))["contest"]
        code = (await ref.request("referral.code", {}))["code"]
        await alice.request("referral.register", {"code": code})
        for c, pf in ((alice, _pf((TOKENS[0], 10_000))), (bob, _pf((TOKENS[1], 10_000)))):
            assert (await join(c, cid, pf))["status"] in ("confirmed", "pending")
        await wait_until(lambda: len(srv.state.modes["contest"].contests[cid].entries) == 2, timeout=30)
        assert await chain.of(alice.wallet) == FAUCET - 100 and await chain.escrow() == escrow_before + 200
        clock.set(START)
        await alice.next_event("contest:started", timeout=30)
        clock.set(END)
        _, ended = await alice.next_event("contest:ended", timeout=30)
        prize = {p["wallet"]: p["amount"] for p in ended["prizes"]}
        assert sorted(prize.values()) == [54, 126]
        for c in (alice, bob):
            await until_balance(chain, c.wallet, FAUCET - 100 + prize[c.wallet])
        await until_balance(chain, ref.wallet, FAUCET + 5)
        assert await chain.fee("protocol") - protocol_before == 15
        assert await chain.escrow() == escrow_before
        # Settled in the live state and in the store (reconcile reads the
        # store: the tick that took the settlement's answer must be written).
        await wait_until(lambda: not srv.state.unsettled
                         and srv.persistence.durability.durable_tick >= srv.state.tick, timeout=30)
        assert await srv.ledger.account_balance(f"escrow:{cid}") == 0
        # `python -m arena reconcile`: the ledger's escrows against this world's settlements.
        report = await reconcile(cfg)
        assert report["problems"] == 0 and report["settlements_issued"] >= 1 and report["unsettled"] == 0, report


async def test_a_cancelled_contest_refunds_on_chain(nursery, tmp_path, solana_devnet):
    chain = Chain(solana_devnet)
    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path, solana_devnet), clock)
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        escrow_before = await chain.escrow()
        cid = (await op.request("contest.create", _terms(min_players=2)))["contest"]
        await join(alice, cid, _pf((TOKENS[0], 10_000)))
        await wait_until(lambda: len(srv.state.modes["contest"].contests[cid].entries) == 1, timeout=30)
        clock.set(START)
        await alice.next_event("contest:cancelled", timeout=30)
        await until_balance(chain, alice.wallet, FAUCET)
        assert await chain.escrow() == escrow_before
        await wait_until(lambda: not srv.state.unsettled, timeout=30)
