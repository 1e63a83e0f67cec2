"""The lottery on real SPL tokens: a server with `[ledger] kind = "solana"`
against the local Solana network (`python -m arena devnet`), clients over
real sockets. A round from creation to payout (bets into the escrow token
account, the unmatched part refunded at lock, the winner paid and the fee
to the `fee_protocol` wallet, in transactions), and a void round that
refunds every stake. Balances are read straight from the runtime."""

from __future__ import annotations

from contextlib import AsyncExitStack

import attrs

from arena.modes.lottery.settings import LotteryConfig
from arena.wallclock import ManualClock
from conftest import make_config, wait_until
from solana_net import solana_devnet  # noqa: F401
from test_e2e_solana import FAUCET, Chain, solana_ledger, until_balance
from test_lottery_e2e import DRAW, HOUR, T0, _expected_draw, _server, bet, create, operator_and_two


def _solana_config(tmp_path, dn, **lottery):
    base = make_config(tmp_path, ledger=solana_ledger(dn, tmp_path))
    settings = LotteryConfig(**{"lock_lead_ms": 600_000, "result_delay_ms": 0, "fee_bps": 200, **lottery})
    return attrs.evolve(base, schedule=attrs.evolve(base.schedule, poll_ms=20),
                        engine=base.engine.with_mode("lottery", settings))


async def _bet_on_chain(srv, c, rid, side, amount):
    got = await bet(c, rid, side, amount)
    assert got["status"] in ("confirmed", "pending")
    rounds = srv.state.modes["lottery"].rounds
    await wait_until(lambda: got["bet"] in rounds[rid].bets, timeout=30)  # the money reached the engine


async def test_a_round_pays_its_winner_in_spl_tokens(nursery, tmp_path, solana_devnet):
    chain = Chain(solana_devnet)
    clock = ManualClock(T0)
    srv, url = await _server(nursery, _solana_config(tmp_path, solana_devnet), clock)
    assert srv.ledger.name == "solana"
    async with AsyncExitStack() as stack:
        op, alice, bob = await operator_and_two(srv, url, stack)
        assert await chain.of(alice.wallet) == FAUCET
        escrow_before = await chain.escrow()
        fee_before = await chain.fee("protocol")
        rid = await create(op)
        await _bet_on_chain(srv, alice, rid, "yes", 300)
        await _bet_on_chain(srv, bob, rid, "no", 200)
        assert await chain.escrow() == escrow_before + 500
        assert await chain.of(alice.wallet) == FAUCET - 300
        clock.set(DRAW - 600_000)  # lock: alice's unmatched 100 go back on chain
        await until_balance(chain, alice.wallet, FAUCET - 200)
        whites, bonus = _expected_draw(rid)
        clock.set(DRAW + 1_000)
        _, fin = await alice.next_event("lottery:round_finalized", timeout=30)
        assert fin["result"]["bonus"] == bonus
        winner, loser = (alice, bob) if bonus % 2 else (bob, alice)
        await until_balance(chain, winner.wallet, FAUCET - 200 + 400 - 4)
        assert await chain.of(loser.wallet) == FAUCET - 200
        assert await chain.fee("protocol") - fee_before == 4
        assert await chain.escrow() == escrow_before
        await wait_until(lambda: not srv.state.unsettled, timeout=30)
        assert await srv.ledger.account_balance(f"escrow:{rid}") == 0
        receipt = await srv.ledger.settlement_receipt(f"payout:{rid}:{winner.wallet}")
        assert receipt["status"] == "done" and len(receipt["signature"]) > 60
        assert (await alice.request("lottery.round", {"round": rid}))["state"] == "settled"


async def test_a_void_round_refunds_every_stake_on_chain(nursery, tmp_path, solana_devnet):
    chain = Chain(solana_devnet)
    clock = ManualClock(T0)
    cfg = _solana_config(tmp_path, solana_devnet, feed="nowhere", void_after_ms=HOUR, result_retry_ms=1_000)
    srv, url = await _server(nursery, cfg, clock)
    async with AsyncExitStack() as stack:
        op, alice, bob = await operator_and_two(srv, url, stack)
        escrow_before = await chain.escrow()
        rid = await create(op, "megamillions", "bonus_over", 12)
        await _bet_on_chain(srv, alice, rid, "yes", 70)
        await _bet_on_chain(srv, bob, rid, "no", 120)
        clock.set(DRAW + 1)
        await wait_until(lambda: srv.state.modes["lottery"].rounds[rid].attempt >= 1, timeout=10)
        clock.set(DRAW + HOUR)
        _, void = await bob.next_event("lottery:round_void", timeout=30)
        assert void["round"] == rid
        await until_balance(chain, alice.wallet, FAUCET)
        await until_balance(chain, bob.wallet, FAUCET)
        assert await chain.escrow() == escrow_before
        await wait_until(lambda: not srv.state.unsettled, timeout=30)
