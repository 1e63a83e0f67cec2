"""Meme rounds at the engine level: the money rules (second split, pool
shares, trade fee), metering in engine ticks (stop, missed beat, disconnect,
exhausted deposit, round end), batched settlements, rounds following the
block feed with a fallback deadline, the content pipeline (review, quality
threshold, retries), the market, and hostile requests that change nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.engine.money import bps_of
from arena.modes.meme import economics
from arena.modes.meme.settings import MemeConfig
from meme_harness import Engine


# --- pure rules -----------------------------------------------------------------------
@given(st.integers(0, 10**12), st.integers(1, 10**6), st.integers(4000, 4500), st.integers(1, 200))
def test_seconds_split_exactly_and_owners_get_the_floor_of_the_total(before, rate, bps, n):
    charged, direct = before, 0
    for _ in range(n):
        d, p = economics.second_split(charged, rate, bps)
        assert d >= 0 and p >= 0 and d + p == rate
        charged += rate
        direct += d
    assert direct == bps_of(charged, bps) - bps_of(before, bps)


def test_one_satoshi_seconds_give_the_owner_two_in_five():
    shares = [economics.second_split(n, 1, 4000)[0] for n in range(10)]
    assert shares == [0, 0, 1, 0, 1, 0, 0, 1, 0, 1] and sum(shares) == 4


@given(st.integers(0, 10**12), st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 10**6), max_size=6))
def test_pool_shares_sum_to_the_pool(pool, seconds):
    if not any(seconds.values()):
        if pool:
            with pytest.raises(ValueError):
                economics.pool_shares(pool, seconds)
        return
    shares, top = economics.pool_shares(pool, seconds)
    assert sum(shares.values()) == pool
    total = sum(seconds.values())
    for owner, s in shares.items():
        base = pool * seconds[owner] // total
        assert s == base or (owner == top and s >= base)
    assert top == min((o for o in seconds if seconds[o]), key=lambda o: (-seconds[o], o))


def test_trade_fee_is_two_percent_floor():
    assert economics.trade_money(1000, 200) == (980, 20)
    assert economics.trade_money(49, 200) == (49, 0)


def test_direct_share_is_bounded():
    for bad in (3999, 4501, 10_000):
        with pytest.raises(ValueError):
            MemeConfig(direct_bps=bad)
    assert MemeConfig(direct_bps=4500).direct_bps == 4500


# --- an engine with one round -------------------------------------------------------------
def _open(**settings) -> Engine:
    e = Engine(**settings)
    assert e.read_round().body["code"] == "wrong_state"  # opens the hall; no height yet
    e.run(0.2)
    assert e.shared().round is not None
    return e


def _with_content(owner="alice", **settings) -> tuple[Engine, str]:
    e = _open(**settings)
    cid = e.ready(owner)
    e.next_round()
    assert cid in e.shared().round.content
    return e, cid


def test_rounds_start_at_the_feeds_height_and_end_after_their_blocks():
    e = _open(blocks_per_round=3)
    r = e.shared().round
    assert (r.start_height, r.end_height) == (1000, 1003)
    start = e.events_of("round:start")[-1]
    assert start["round"] == r.id and start["height"] == 1000
    e.chain_height = 1002
    e.run(3)
    assert e.shared().round.id == r.id
    e.chain_height = 1003
    e.run(3)
    ended = e.events_of("round:ended")
    assert ended[-1]["round"] == r.id and ended[-1]["pool"] == 0 and ended[-1]["rewards"] == []
    assert e.shared().round.start_height == 1003


def test_a_round_whose_block_is_late_closes_at_the_fallback_deadline():
    e = _open(round_fallback_ms=10_000)
    first = e.shared().round.id
    e.run(9)
    assert e.shared().round.id == first
    e.run(2)
    assert e.events_of("round:ended")[-1]["round"] == first
    assert e.events_of("round:start")[-1]["opened_by"] == "fallback"


def test_viewing_charges_whole_seconds_split_between_owner_and_pool():
    e, cid = _with_content(rate_per_s=10, direct_bps=4000, settle_every_s=600)
    e.pay("bob", 1000)
    assert e.shared().balances["bob"] == 1000
    assert e.start("bob", cid).body == {"rate_per_s": 10, "balance": 1000}
    for _ in range(3):
        e.run(2.5)
        assert e.beat("bob", cid).ok
    e.run(0.4)  # 7.9 s and a few ticks of requests
    reply = e.stop("bob")
    seconds = reply.body["seconds"]
    assert 7 <= seconds <= 8 and reply.body["charged"] == 10 * seconds
    sh = e.shared()
    assert sh.balances["bob"] == 1000 - 10 * seconds
    assert sh.round.pool == 10 * seconds - bps_of(10 * seconds, 4000)
    assert e.events_of("view:stopped", "bob")[-1] == {"content": cid, "reason": "stopped"}
    e.run(0.2)  # the batch at the view's end
    direct = [s for k, s in e.settles.items() if k.startswith("direct:")]
    assert len(direct) == 1 and direct[0].transfers[0].dest == "alice"
    assert e.accounts["alice"] == bps_of(10 * seconds, 4000)
    charged = e.events_of("view:charged", "bob")
    assert charged and charged[-1]["seconds"] <= seconds


def test_view_charged_comes_at_most_once_a_second():
    e, cid = _with_content()
    e.pay("bob", 1000)
    e.start("bob", cid)
    ticks = []
    for n in range(8 * 20):
        before = len(e.events_of("view:charged", "bob"))
        if n % 40 == 0:
            e.beat("bob", cid)
        else:
            e.step()
        if len(e.events_of("view:charged", "bob")) > before:
            ticks.append(e.tick)
    assert len(ticks) >= 6
    assert all(b - a >= 20 for a, b in zip(ticks, ticks[1:]))


def test_a_missed_beat_stops_the_view_at_the_beat_deadline():
    e, cid = _with_content(beat_timeout_ms=5_000)
    e.pay("bob", 1000)
    e.start("bob", cid)
    e.run(12)
    assert "bob" not in e.shared().views
    assert e.events_of("view:stopped", "bob")[-1]["reason"] == "no_beat"
    assert 1000 - e.shared().balances["bob"] in (5, 6)  # charged up to the deadline, not after


def test_disconnect_stops_the_view():
    e, cid = _with_content()
    e.pay("bob", 1000)
    e.start("bob", cid)
    e.run(3.1)
    e.disconnect("bob")
    assert e.events_of("view:stopped", "bob")[-1]["reason"] == "disconnected"
    assert 1000 - e.shared().balances["bob"] == 3


def test_the_deposit_running_out_stops_the_view_without_overcharging():
    e, cid = _with_content(rate_per_s=3)
    e.pay("bob", 10)
    e.start("bob", cid)
    for _ in range(3):
        e.run(2)
        e.beat("bob", cid)
    assert e.events_of("view:stopped", "bob")[-1]["reason"] == "no_balance"
    assert e.shared().balances["bob"] == 1  # three seconds at 3, and 1 left that buys no second


def test_round_end_stops_views_and_pays_the_pool_by_engagement():
    e, a = _with_content("alice", rate_per_s=100, settle_every_s=600)
    b = e.ready("carol", "a dog reading the news")
    e.next_round()
    rid = e.shared().round.id
    e.pay("bob", 10_000)
    e.pay("dan", 10_000)
    e.start("bob", a)
    e.start("dan", b)
    e.run(3.05)
    e.beat("bob", a)
    e.stop("dan")
    e.run(3)
    e.beat("bob", a)
    pool = e.shared().round.pool
    e.next_round()
    ended = next(x for x in e.events_of("round:ended") if x["round"] == rid)
    assert ended["pool"] >= pool > 0  # bob watched on until the block came
    rewards = {x["wallet"]: x["amount"] for x in ended["rewards"]}
    assert sum(rewards.values()) == ended["pool"] and rewards["alice"] > rewards["carol"] > 0
    assert e.events_of("view:stopped", "bob")[-1]["reason"] == "round_ended"
    assert [t.dest for t in e.settles[f"pool:{rid}"].transfers] == ["alice", "carol"]
    assert e.escrow() == e.owed_by_escrow()


def test_shares_settle_in_batches_not_per_second():
    e, cid = _with_content(settle_every_s=5)
    e.pay("bob", 1000)
    e.start("bob", cid)
    for _ in range(10):
        e.run(2)
        e.beat("bob", cid)
    batches = [k for k in e.settles if k.startswith("direct:")]
    assert 3 <= len(batches) <= 5  # about one per 5 s over 20 s, never one per second


def test_content_pipeline_quality_moderation_and_retries():
    e = _open(quality_min=50, process_retry_ms=2_000)
    ok = e.upload("good one").body["content"]
    low = e.upload("bad one").body["content"]
    bad = e.upload("rude one").body["content"]
    flaky = e.upload("flaky one").body["content"]
    assert [x["state"] for x in e.events_of("content:state", "op") if x["content"] == ok] == ["pending", "processing"]
    by = {eff.content: eff for eff in e.reviews}
    e.review(by[ok], quality=70)
    e.review(by[low], quality=30)
    e.review(by[bad], quality=90, flagged=True, reason="hateful")
    e.review(by[flaky], ok=False, reason="media store down")
    assert e.get(ok).body["state"] == "ready"
    low_view = e.get(low).body
    assert low_view["state"] == "rejected" and "below the threshold 50" in low_view["reason"]
    assert "moderation" in e.get(bad).body["reason"]
    assert e.get(flaky).body["state"] == "processing"
    e.run(2.5)  # asked again under a new key; the old key's answer is ignored
    again = next(eff for eff in e.reviews if eff.content == flaky)
    assert again.key.endswith(":2")
    e.review(by[flaky], quality=99)
    assert e.get(flaky).body["state"] == "processing"
    e.review(again, quality=60)
    assert e.get(flaky).body["state"] == "ready"
    e.next_round()
    assert set(e.shared().round.content) == {ok, flaky}
    assert e.get(ok).body["round"] == e.shared().round.id


def test_a_trade_mid_round_moves_the_direct_share_to_the_new_owner():
    e, cid = _with_content("alice", rate_per_s=100, settle_every_s=600, market_fee_bps=200)
    e.pay("bob", 100_000)
    e.start("bob", cid)
    e.run(4.02)
    e.beat("bob", cid)
    assert e.list("alice", cid, 5_000).ok
    e.pay("carol", 5_000, "buy", cid)
    assert e.shared().contents[cid].owner == "carol"
    assert e.events_of("market:traded")[-1] == {"content": cid, "from": "alice", "to": "carol", "price": 5000,
                                                "fee": 100}
    assert e.events_of("ownership:changed")[-1] == {"content": cid, "owner": "carol"}
    e.run(3)
    e.beat("bob", cid)
    e.stop("bob")
    e.run(0.2)
    direct = {}
    for k, s in e.settles.items():
        if k.startswith("direct:"):
            for t in s.transfers:
                direct[t.dest] = direct.get(t.dest, 0) + t.amount
    # The meter charges on its once-a-second beat: alice's seconds are those
    # charged before the trade (3 or 4 of the 4 watched), carol's the rest.
    assert direct["alice"] >= 3 * 40 and direct["carol"] >= 2 * 40
    assert direct["alice"] + direct["carol"] == bps_of(100_000 - e.shared().balances["bob"], 4000)
    assert e.accounts["alice"] == direct["alice"] + 4_900 and e.accounts["fee:meme"] == 100


def test_money_and_purpose_in_either_order_and_strays_are_refunded():
    e = _open(purpose_wait_ms=3_000)
    e.pay("bob", 50, order="purpose_first")
    e.pay("bob", 70, tick_between=True)
    assert e.shared().balances["bob"] == 120
    pid = e.pay("dan", 40, order="money_only")
    e.run(4)
    assert e.settles[f"refund:{e.shared().hall}:pay:{pid}"].transfers[0].amount == 40
    assert e.escrow() == e.owed_by_escrow() == 120


def test_withdraw_gives_the_unspent_balance_back_once():
    e, cid = _with_content()
    e.pay("bob", 100)
    e.start("bob", cid)
    e.run(3.1)
    assert e.withdraw("bob").body["code"] == "wrong_state"  # watching
    e.stop("bob")
    left = e.shared().balances["bob"]
    assert e.withdraw("bob").body == {"amount": left}
    assert e.withdraw("bob").body == {"amount": 0}
    key = f"withdraw:{e.shared().hall}:1"
    assert e.settles[key].transfers[0].amount == left and e.accounts["bob"] == -100 + left
    assert e.escrow() == e.owed_by_escrow()


# --- hostile input ------------------------------------------------------------------------
def test_hostile_requests_are_refused_and_change_nothing():
    e, cid = _with_content("alice")
    e.pay("bob", 100)
    e.start("bob", cid)
    before = e.hash()
    code = lambda reply: reply.body["code"]  # noqa: E731
    assert code(e.start("eve", cid)) == "insufficient_funds"      # no deposit
    assert code(e.beat("eve", cid)) == "wrong_state"              # a beat for another viewer's view
    assert code(e.beat("bob", "me-nope")) == "wrong_state"
    assert code(e.stop("eve")) == "wrong_state"
    assert code(e.start("bob", "nope")) == "not_found"
    assert code(e.list("eve", cid, 10)) == "not_allowed"          # not the owner
    assert code(e.list("alice", cid, 0)) == "bad_request"
    assert code(e.list("alice", cid, -5)) == "bad_request"
    assert code(e.unlist("alice", cid)) == "wrong_state"
    assert code(e.get("x" * 64)) == "not_found"
    sh = e.shared()
    assert sh.contents[cid].owner == "alice" and sh.contents[cid].price == -1
    assert "eve" not in sh.balances and list(sh.views) == ["bob"]
    pid = e.pay("eve", 500, "buy", cid)  # buying what is not for sale: refunded whole
    assert e.settles[f"refund:{sh.hall}:pay:{pid}"].transfers[0].amount == 500
    assert sh.contents[cid].owner == "alice"
    assert e.escrow() == e.owed_by_escrow()
    assert before != e.hash()  # time passed; the replay agrees
    assert e.replayed_hash() == e.hash()


def test_replay_gives_the_same_hash():
    e, cid = _with_content()
    e.pay("bob", 100)
    e.start("bob", cid)
    e.run(3)
    e.next_round()
    assert e.replayed_hash() == e.hash()
