"""The lottery over real sockets on the embedded ledger: an operator (API
key) creates a round, players bet both sides through `lottery.bet.build` /
`lottery.bet.confirm` into `escrow:<round>`, a manual clock moves the round
through lock (the one-off schedule rule), the simulated draw feed's answer
and payout, with every balance checked; a round whose feed never agrees is
void and refunds everyone; hostile input is refused with clear codes and
changes nothing."""

from __future__ import annotations

import attrs
import pytest

from arena.client import ArenaRequestError, open_client
from arena.feeds import simulated
from arena.modes.lottery import book
from arena.modes.lottery.settings import LotteryConfig
from arena.wallclock import ManualClock
from conftest import make_config, player, wait_until

T0 = 1_800_000_000_000
HOUR = 3_600_000
DRAW = T0 + HOUR


def _config(tmp_path, **lottery):
    base = make_config(tmp_path)
    settings = LotteryConfig(**{"lock_lead_ms": 600_000, "result_delay_ms": 0, "fee_bps": 200, **lottery})
    return attrs.evolve(base, schedule=attrs.evolve(base.schedule, poll_ms=20),
                        engine=base.engine.with_mode("lottery", settings))


async def _server(nursery, cfg, clock):
    from arena.server import ArenaServer

    srv = ArenaServer(cfg, clock=clock)
    port = await nursery.start(srv.run)
    return srv, f"ws://127.0.0.1:{port}/v1"


async def _operator(srv, url, stack):
    key = await srv.credentials.create("ops", "operator")
    op = await stack.enter_async_context(open_client(url))
    await op.hello()
    await op.request("auth.key", {"key": key})
    return op


async def operator_and_two(srv, url, stack):
    """An operator and two funded players (alice, bob), closed with `stack`."""
    op = await _operator(srv, url, stack)
    alice = await stack.enter_async_context(player(url))
    bob = await stack.enter_async_context(player(url))
    return op, alice, bob


async def create(op, game: str = "powerball", kind: str = "bonus_parity", threshold: int | None = None,
                 draw_time_ms: int = DRAW) -> str:
    proposition = {"kind": kind, **({} if threshold is None else {"threshold": threshold})}
    return (await op.request("lottery.create", {"game": game, "draw_time_ms": draw_time_ms,
                                                "proposition": proposition}))["round"]


async def bet(c, round_, side, amount):
    built = await c.request("lottery.bet.build", {"round": round_, "side": side, "amount": amount})
    assert built["amount"] == amount
    return await c.request("lottery.bet.confirm", {"round": round_, "tx": built["tx"],
                                                    "signature": c.sign(built["tx"])})


async def _code(c, type_, body):
    with pytest.raises(ArenaRequestError) as err:
        await c.request(type_, body)
    return err.value.code


def _expected_draw(round_, game="powerball"):
    g = book.GAMES[game]
    q = lambda part, count, top: (("game", game), ("part", part), ("draw_time_ms", str(DRAW)),  # noqa: E731
                                  ("count", str(count)), ("max", str(top)))
    return simulated.draw(q("white", g.whites, g.white_max)), simulated.draw(q("bonus", 1, g.bonus_max))[0]


async def test_a_round_from_create_to_payout(nursery, tmp_path):
    from contextlib import AsyncExitStack

    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path), clock)
    ledger = srv.ledger
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        bob = await stack.enter_async_context(player(url))
        watcher = await stack.enter_async_context(player(url, faucet=False))
        start = {c: await c.balance() for c in (alice, bob)}
        assert await _code(alice, "lottery.create", {"game": "powerball", "draw_time_ms": DRAW,
                                                      "proposition": {"kind": "bonus_parity"}}) == "not_allowed"
        rid = (await op.request("lottery.create", {"game": "powerball", "draw_time_ms": DRAW,
                                                   "proposition": {"kind": "bonus_parity"}}))["round"]
        info = await watcher.request("lottery.round", {"round": rid})
        assert info == {"round": rid, "game": "powerball", "draw_time_ms": DRAW, "lock_time_ms": DRAW - 600_000,
                        "proposition": {"kind": "bonus_parity"}, "state": "open", "result": None}
        assert await watcher.request("lottery.watch", {"round": rid}) == {}
        _, pool = await watcher.next_event("lottery:pool")
        assert pool["yes"] == {"total": 0, "matched": 0}

        a = await bet(alice, rid, "yes", 300)
        assert a["status"] == "confirmed" and a["bet"].startswith("bet-")
        b = await bet(bob, rid, "no", 200)
        await wait_until(lambda: srv.state.modes["lottery"].rounds[rid].matched == 200)
        _, ev = await alice.next_event("lottery:bet_matched", match=None)
        assert ev["round"] == rid and ev["bet"] == a["bet"] and ev["matched"] == 200
        _, ev = await watcher.next_event("lottery:pool", where=lambda b: b["no"]["total"] == 200, timeout=5)
        assert ev["yes"] == {"total": 300, "matched": 200}  # watchers see the pool, at most once a second
        assert await ledger.account_balance(f"escrow:{rid}") == 500
        pool = await bob.request("lottery.pool", {"round": rid})
        assert pool == {"round": rid, "yes": {"total": 300, "matched": 200}, "no": {"total": 200, "matched": 200}}
        mine = await alice.request("lottery.my_bets", {})
        assert mine["bets"] == [{"bet": a["bet"], "round": rid, "side": "yes", "amount": 300, "matched": 200,
                                 "state": "open"}]
        listed = await watcher.list_matches("lottery")
        assert [m["phase"] for m in listed] == ["open"]

        clock.set(DRAW - 600_000)  # the lock rule fires; alice's unmatched 100 go back
        _, locked = await alice.next_event("lottery:round_locked", timeout=10)
        assert locked["round"] == rid
        assert await _code(bob, "lottery.bet.build", {"round": rid, "side": "no", "amount": 5}) == "wrong_state"

        whites, bonus = _expected_draw(rid)
        clock.set(DRAW + 1_000)
        _, fin = await alice.next_event("lottery:round_finalized", timeout=10)
        assert fin["result"] == {"game": "powerball", "whites": list(whites), "bonus": bonus}
        winner, loser = (alice, bob) if bonus % 2 else (bob, alice)
        assert fin["outcome"] == ("yes" if bonus % 2 else "no")
        assert all(s["detail"] == "simulated" for s in fin["sources"])
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        assert await ledger.account_balance(f"escrow:{rid}") == 0
        assert await ledger.account_balance("fee:protocol") == 4  # 2 % of the loser's 200
        gain = {alice: -200, bob: -200}
        gain[winner] += 400 - 4
        for c in (alice, bob):
            assert await c.balance() == start[c] + gain[c]
        assert (await watcher.request("lottery.round", {"round": rid}))["state"] == "settled"
        assert await _code(winner, "lottery.claim", {"round": rid}) == "duplicate"
        assert await _code(loser, "lottery.claim", {"round": rid}) == "not_allowed"
        assert await _code(watcher, "lottery.claim", {"round": rid}) == "not_allowed"
        stats = await watcher.request("lottery.stats", {})
        assert stats == {"rounds": 1, "volume": 500, "bettors": 2, "paid": 396}
        assert b["status"] == "confirmed"


async def test_a_round_without_an_agreed_result_is_void_and_refunds_all(nursery, tmp_path):
    from contextlib import AsyncExitStack

    clock = ManualClock(T0)
    # A feed nobody configured answers "unavailable": the round can never be decided.
    srv, url = await _server(nursery, _config(tmp_path, feed="nowhere", void_after_ms=HOUR,
                                              result_retry_ms=1_000), clock)
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        bob = await stack.enter_async_context(player(url))
        start = {c: await c.balance() for c in (alice, bob)}
        rid = (await op.request("lottery.create", {"game": "megamillions", "draw_time_ms": DRAW,
                                                   "proposition": {"kind": "white_sum_over", "threshold": 150}}))[
            "round"]
        await bet(alice, rid, "yes", 70)
        await bet(bob, rid, "no", 120)
        clock.set(DRAW + 1)
        await wait_until(lambda: srv.state.modes["lottery"].rounds[rid].attempt >= 1, timeout=10)
        clock.set(DRAW + HOUR)
        _, void = await bob.next_event("lottery:round_void", timeout=10)
        assert void["round"] == rid
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        assert await srv.ledger.account_balance(f"escrow:{rid}") == 0
        for c in (alice, bob):
            assert await c.balance() == start[c]
        assert (await alice.request("lottery.round", {"round": rid}))["state"] == "void"
        assert await _code(alice, "lottery.claim", {"round": rid}) == "wrong_state"


async def test_hostile_input_is_refused_and_changes_nothing(nursery, tmp_path):
    from contextlib import AsyncExitStack

    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path, max_bet=1_000), clock)
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        eve = await stack.enter_async_context(player(url))
        rid = (await op.request("lottery.create", {"game": "powerball", "draw_time_ms": DRAW,
                                                   "proposition": {"kind": "bonus_over", "threshold": 13}}))["round"]
        before = await alice.balance()
        for body, code in [
            ({"round": rid, "side": "maybe", "amount": 5}, "bad_request"),
            ({"round": "lo-nope", "side": "yes", "amount": 5}, "not_found"),
            ({"round": rid, "side": "yes", "amount": 0}, "bad_request"),
            ({"round": rid, "side": "yes", "amount": -5}, "bad_request"),
            ({"round": rid, "side": "yes", "amount": 10**15}, "bad_request"),
            ({"round": rid, "side": "yes", "amount": "5"}, "bad_request"),
            ({"round": rid, "side": "yes"}, "bad_request"),
        ]:
            assert await _code(alice, "lottery.bet.build", body) == code, body
        for body in [{"game": "lotto", "draw_time_ms": DRAW, "proposition": {"kind": "bonus_parity"}},
                     {"game": "powerball", "draw_time_ms": T0, "proposition": {"kind": "bonus_parity"}},
                     {"game": "powerball", "draw_time_ms": DRAW, "proposition": {"kind": "bonus_over"}},
                     {"game": "powerball", "draw_time_ms": DRAW,
                      "proposition": {"kind": "bonus_over", "threshold": "x"}},
                     {"game": "powerball", "draw_time_ms": DRAW, "proposition": []}]:
            assert await _code(op, "lottery.create", body) == "bad_request", body
        # someone else's tx, a tx never built, a bad signature
        built = await alice.request("lottery.bet.build", {"round": rid, "side": "yes", "amount": 5})
        assert await _code(eve, "lottery.bet.confirm", {"round": rid, "tx": built["tx"],
                                                        "signature": eve.sign(built["tx"])}) == "payment_failed"
        assert await _code(alice, "lottery.bet.confirm", {"round": rid, "tx": b"junk",
                                                          "signature": alice.sign(b"junk")}) == "payment_failed"
        assert await _code(alice, "lottery.bet.confirm", {"round": rid, "tx": built["tx"],
                                                          "signature": eve.sign(built["tx"])}) == "payment_failed"
        # a tx built for one round, confirmed naming another: refused before any money moves
        other = (await op.request("lottery.create", {"game": "powerball", "draw_time_ms": DRAW,
                                                     "proposition": {"kind": "bonus_parity"}}))["round"]
        assert await _code(alice, "lottery.bet.confirm", {"round": other, "tx": built["tx"],
                                                          "signature": alice.sign(built["tx"])}) == "bad_request"
        for type_ in ("lottery.round", "lottery.pool", "lottery.watch", "lottery.claim"):
            assert await _code(eve, type_, {"round": "lo-nope"}) == "not_found"
        assert await _code(eve, "lottery.claim", {"round": rid}) == "not_allowed"
        assert await alice.balance() == before
        assert await srv.ledger.account_balance(f"escrow:{rid}") == 0
        assert srv.state.modes["lottery"].rounds[rid].bets == {}
        # a confirmed bet, then the same tx again: refused, counted once
        ok = await alice.request("lottery.bet.confirm", {"round": rid, "tx": built["tx"],
                                                         "signature": alice.sign(built["tx"])})
        assert ok["status"] == "confirmed"
        assert await _code(alice, "lottery.bet.confirm", {"round": rid, "tx": built["tx"],
                                                          "signature": alice.sign(built["tx"])}) == "payment_failed"
        await wait_until(lambda: len(srv.state.modes["lottery"].rounds[rid].bets) == 1)
        assert await srv.ledger.account_balance(f"escrow:{rid}") == 5
        assert await _code(alice, "lottery.claim", {"round": rid}) == "wrong_state"
        # after lock: no more bets
        clock.set(DRAW - 600_000)
        await wait_until(lambda: srv.state.modes["lottery"].rounds[rid].state == "locked", timeout=10)
        assert await _code(alice, "lottery.bet.build", {"round": rid, "side": "no", "amount": 5}) == "wrong_state"
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        assert await alice.balance() == before  # the unmatched 5 came back
