"""The lottery's pure rules and the money of a round, at the engine level:
matching (oldest first, partial), pair money (floor fee on the loser's
stake), conservation, lock refunds, finalization, void, claims, and a
payment whose money and side arrive in either order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.engine import inputs as I
from arena.modes.lottery import book
from lottery_harness import Engine

# --- pure rules ---------------------------------------------------------------------


def test_matching_is_oldest_first_and_partial():
    remaining = {"a": 30, "b": 50}
    queue = ["a", "b"]
    pairs, left = book.match_bet(queue, remaining, 60)
    assert pairs == [("a", 30), ("b", 30)] and left == 0
    assert queue == ["b"] and remaining["b"] == 20
    pairs, left = book.match_bet(queue, remaining, 25)
    assert pairs == [("b", 20)] and left == 5 and queue == []


@given(st.lists(st.tuples(st.sampled_from(book.SIDES), st.integers(1, 10**12)), max_size=40))
def test_matching_never_leaves_both_sides_unmatched(bets):
    queues = {"yes": [], "no": []}
    remaining = {}
    matched = {"yes": 0, "no": 0}
    for n, (side, amount) in enumerate(bets):
        pairs, left = book.match_bet(queues[book.other(side)], remaining, amount)
        for _other, take in pairs:
            matched[side] += take
            matched[book.other(side)] += take
        if left:
            remaining[n] = left
            queues[side].append(n)
        assert not (queues["yes"] and queues["no"])  # one side waits at most
    assert matched["yes"] == matched["no"]
    total = {s: sum(a for sd, a in bets if sd == s) for s in book.SIDES}
    assert sum(remaining[i] for q in queues.values() for i in q) == total["yes"] + total["no"] - 2 * matched["yes"]


@given(st.integers(0, 10**15), st.integers(0, 10_000))
def test_a_pair_pays_both_stakes_less_the_floor_fee(amount, fee_bps):
    won, fee = book.pair_money(amount, fee_bps)
    assert fee == amount * fee_bps // 10_000
    assert won + fee == 2 * amount and won >= amount


def test_outcomes():
    assert book.outcome("bonus_parity", -1, (1, 2, 3, 4, 5), 7) == "yes"
    assert book.outcome("bonus_parity", -1, (1, 2, 3, 4, 5), 8) == "no"
    assert book.outcome("bonus_over", 13, (1, 2, 3, 4, 5), 13) == "no"  # strictly above
    assert book.outcome("bonus_over", 13, (1, 2, 3, 4, 5), 14) == "yes"
    assert book.outcome("white_sum_over", 15, (1, 2, 3, 4, 5), 1) == "no"
    assert book.outcome("white_sum_over", 14, (1, 2, 3, 4, 5), 1) == "yes"


def test_propositions_must_leave_both_outcomes_possible():
    pb = book.GAMES["powerball"]
    assert book.check_proposition(pb, "bonus_parity", -1) is None
    assert book.check_proposition(pb, "bonus_parity", 3)
    assert book.check_proposition(pb, "bonus_over", 26)
    assert book.check_proposition(pb, "bonus_over", 25) is None
    assert book.check_proposition(pb, "white_sum_over", 14)
    assert book.check_proposition(pb, "white_sum_over", 335)
    assert book.check_proposition(pb, "bonus_odd", -1)


# --- a round in the engine ----------------------------------------------------------


def _settled_round(e: Engine, rid: str, whites=(3, 11, 25, 40, 61), bonus=7):
    r = e.round(rid)
    e.at(r.result_at_ms)
    assert r.state == "awaiting_result"
    e.feed(value=whites)
    e.feed(value=(bonus,))
    return r


def test_a_round_from_bets_to_payout_conserves_money():
    e = Engine(fee_bps=250, lock_lead_ms=60_000, result_delay_ms=0)
    rid = e.create().body["round"]
    e.pay(rid, "alice", "yes", 100)
    e.pay(rid, "bob", "no", 30)
    e.pay(rid, "carol", "no", 50, order="side_first")
    e.pay(rid, "dave", "yes", 10, order="side_first", tick_between=True)
    r = e.round(rid)
    assert r.pairs == [[r.bets[_bet(e, "alice")].id, _bet(e, "bob"), 30], [_bet(e, "alice"), _bet(e, "carol"), 50]]
    assert e.read("x", "pool", rid).body == {"round": rid, "yes": {"total": 110, "matched": 80},
                                             "no": {"total": 80, "matched": 80}}
    e.now = r.lock_time_ms
    e.step()  # the lock rule fires
    assert r.state == "locked"
    # alice's unmatched 20 and dave's 10 go back at lock
    assert e.settles[f"refund:{rid}:alice"].transfers[0].amount == 20
    assert e.settles[f"refund:{rid}:dave"].transfers[0].amount == 10
    _settled_round(e, rid, bonus=7)  # odd: yes wins
    assert r.state == "settled" and r.outcome == "yes"
    # alice won 30 + 50 from bob and carol: fee floor(30*250/1e4)=0, floor(50*250/1e4)=1
    assert e.settles[f"payout:{rid}:alice"].transfers[0].amount == 60 + 100 - 0 - 1
    assert e.settles[f"fee:{rid}"].transfers[0].amount == 1
    assert e.escrow[f"escrow:{rid}"] == 0
    assert r.escrow_in == r.paid_out + r.fees + r.refunded
    assert rid not in e.state.matches
    assert e.claim("alice", rid).body["code"] == "duplicate"
    assert e.read("alice", "stats").body == {"rounds": 1, "volume": 190, "bettors": 4, "paid": 159}
    assert e.replayed_hash() == e.hash()


def _bet(e: Engine, wallet: str) -> str:
    return next(b for b in e.events_of("lottery:bet_placed") if b["wallet"] == wallet)["bet"]


def test_claims_pay_once_and_only_winners():
    e = Engine(auto_settle=False, result_delay_ms=0)
    rid = e.create().body["round"]
    e.pay(rid, "alice", "yes", 40)
    e.pay(rid, "bob", "no", 40)
    r = e.round(rid)
    assert e.claim("alice", rid).body["code"] == "wrong_state"
    e.at(r.lock_time_ms)
    _settled_round(e, rid, bonus=8)  # even: no wins
    assert r.state == "finalized" and r.outcome == "no"
    assert e.claim("mallory", rid).body["code"] == "not_allowed"
    assert e.claim("alice", rid).body["code"] == "not_allowed"
    assert e.claim("bob", rid).body == {"amount": 80 - 0}
    assert e.claim("bob", rid).body["code"] == "duplicate"
    assert r.state == "settled" and e.escrow[f"escrow:{rid}"] == 0
    assert e.replayed_hash() == e.hash()


def test_no_agreement_by_the_void_deadline_refunds_everything():
    e = Engine(result_delay_ms=0, result_retry_ms=1_000, void_after_ms=10_000)
    rid = e.create().body["round"]
    e.pay(rid, "alice", "yes", 70)
    e.pay(rid, "bob", "no", 50)
    r = e.round(rid)
    e.at(r.result_at_ms)  # locks and asks
    e.feed(status=I.FEED_NO_CONSENSUS)
    e.feed(status=I.FEED_UNAVAILABLE)
    e.advance(1_000)  # asks again, new keys
    assert {f.key.rsplit(":", 1)[1] for f in e.fetches} == {"2"}
    e.at(r.void_at_ms)
    assert r.state == "void"
    assert e.settles[f"refund:{rid}:alice"].transfers[0].amount == 20
    assert e.settles[f"refund:{rid}:alice:void"].transfers[0].amount == 50
    assert e.settles[f"refund:{rid}:bob:void"].transfers[0].amount == 50
    assert e.escrow[f"escrow:{rid}"] == 0
    e.feed(value=(1, 2, 3, 4, 5))  # a late answer changes nothing
    assert r.state == "void" and r.result is None
    assert e.events_of("lottery:round_void") == [{"round": rid, "reason": "no agreed result by the void deadline"}]
    assert e.replayed_hash() == e.hash()


def test_money_whose_side_never_comes_and_bets_after_lock_are_refunded_whole():
    e = Engine()
    rid = e.create().body["round"]
    pid = e.pay(rid, "alice", "yes", 33, order="money_only")
    r = e.round(rid)
    e.at(r.lock_time_ms)
    assert e.settles[f"refund:{rid}:pay:{pid}"].transfers[0].amount == 33
    late = e.pay(rid, "bob", "no", 9)
    assert e.settles[f"refund:{rid}:pay:{late}"].transfers[0].amount == 9
    assert r.bets == {} and e.escrow[f"escrow:{rid}"] == 0


def test_a_payment_reported_twice_counts_once():
    e = Engine()
    rid = e.create().body["round"]
    pid = e.pay(rid, "alice", "yes", 5)
    e.step(I.EntryFeePaid(rid, "alice", 5, pid))
    assert len(e.round(rid).bets) == 1 and e.round(rid).escrow_in == 5


@pytest.mark.parametrize("kind,threshold,draw_in,code", [
    ("bonus_parity", -1, 1_000, "bad_request"),      # locks before now
    ("bonus_over", 26, 3_600_000, "bad_request"),
    ("coin", -1, 3_600_000, "bad_request"),
])
def test_bad_rounds_are_refused(kind, threshold, draw_in, code):
    e = Engine()
    assert e.create(kind=kind, threshold=threshold, draw_in_ms=draw_in).body["code"] == code
    assert e.create(game="lotto").body["code"] == "bad_request"
    assert e.shared().rounds == {}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(book.SIDES),
                          st.integers(1, 10**9)), max_size=12),
       st.integers(0, 10_000), st.integers(1, 26), st.booleans())
def test_money_is_conserved_and_nothing_is_unmatched_after_lock(bets, fee_bps, bonus, void):
    e = Engine(fee_bps=fee_bps, result_delay_ms=0, void_after_ms=5_000)
    rid = e.create().body["round"]
    for wallet, side, amount in bets:
        e.pay(rid, wallet, side, amount)
    r = e.round(rid)
    e.at(r.lock_time_ms)
    assert r.unmatched == {} and all(b.state in ("matched", "refunded") for b in r.bets.values())
    assert sum(b.amount - b.matched for b in r.bets.values()) == r.refunded
    if void:
        e.at(r.void_at_ms)
    else:
        _settled_round(e, rid, bonus=bonus)
    assert r.state in ("settled", "void")
    assert e.escrow.get(f"escrow:{rid}", 0) == 0
    assert r.escrow_in == r.paid_out + r.fees + r.refunded == sum(a for _w, _s, a in bets)


def test_watchers_get_the_pool_at_most_once_a_second():
    e = Engine(pool_interval_ms=1_000)
    rid = e.create().body["round"]
    assert e.read("w", "watch", rid).body == {}
    assert len(e.events_of("lottery:pool")) == 1  # right after the watch
    for n in range(30):  # 30 bets over 1.5 s (a tick is 50 ms)
        e.pay(rid, f"p{n % 3}", "yes" if n % 2 else "no", 10)
    pools = [ev for ev in e.events if ev.type == "lottery:pool"]
    assert 2 <= len(pools) <= 3 and all(ev.to == ("w",) for ev in pools)
    e.advance(2_000)
    last = e.events_of("lottery:pool")[-1]
    assert last == e.read("w", "pool", rid).body
    assert last["yes"]["total"] == 150 and last["no"]["matched"] == 150


def test_many_watchers_are_told_in_groups_one_a_tick_each_at_most_once_a_second():
    from arena.modes.lottery.mode import POOL_GROUPS

    e = Engine(pool_interval_ms=1_000)
    rid = e.create().body["round"]
    watchers = [f"w{i}" for i in range(3 * POOL_GROUPS + 5)]
    for w in watchers:
        e.read(w, "watch", rid)
    start = len(e.events)
    for i in range(50):  # five seconds of ticks with bets arriving all along
        e.now += 100
        e.pay(rid, "alice" if i % 2 else "bob", "yes" if i % 2 else "no", 5)
    pools = [ev for ev in e.events[start:] if ev.type == "lottery:pool"]
    per_tick = [len(ev.to) for ev in pools]
    assert max(per_tick) <= -(-len(watchers) // POOL_GROUPS)  # one group a tick, never everyone at once
    got: dict[str, int] = {}
    for ev in pools:
        for w in ev.to:
            got[w] = got.get(w, 0) + 1
    assert set(got) == set(watchers)  # everyone is told
    assert max(got.values()) <= 6  # at most once a second (five seconds, plus the window's edges)
    assert e.replayed_hash() == e.hash()
