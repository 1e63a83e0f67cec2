"""Trading contests' rules in the engine: creating (every term checked),
joining (portfolio checks, money and portfolio in either order, late, twice,
full), the start (cancelled with every fee back under the minimum), prices
(stale and missing: no start, no evaluation, rankings say stale), the
evaluation (integer basis-point scores, ties to the earlier join), the one
payout settlement (prizes + rake + referral rewards == pool), referrals and
achievements. Hostile input changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.engine import inputs as I
from arena.engine.errors import ArenaError
from arena.modes.contest import rules
from arena.modes.contest.requests import portfolio_of
from contest_harness import TOKENS, Engine

A, B, C = TOKENS[0], TOKENS[1], TOKENS[2]


def _pf(*pairs):
    return [{"token": t, "weight_bps": w} for t, w in pairs]


def _contest(e, **kw):
    reply = e.create(**kw)
    assert reply.ok, reply.body
    return reply.body["contest"]


# --- pure rules -------------------------------------------------------------------------


@given(pool_fees=st.lists(st.integers(1, 10**9), min_size=1, max_size=30), rake=st.integers(0, 10_000),
       referral=st.integers(0, 10_000), places=st.lists(st.integers(1, 5_000), min_size=1, max_size=8),
       referred=st.sets(st.integers(0, 29)))
def test_settlement_conserves_the_pool_exactly(pool_fees, rake, referral, places, referred):
    fee = pool_fees[0]
    n = len(pool_fees)
    wallets = [f"w{i}" for i in range(n)]
    prizes_bps = list(places)
    prizes_bps[-1] += 10_000 - sum(prizes_bps) if sum(prizes_bps) <= 10_000 else 0
    if sum(prizes_bps) != 10_000:
        prizes_bps = [10_000]
    referrer_of = {wallets[i]: "ref" for i in referred if i < n}
    prizes, platform, rewards = rules.settlement(fee * n, rake, prizes_bps, wallets, {w: fee for w in wallets},
                                                 referrer_of, referral)
    assert sum(a for _, a in prizes) + platform + sum(a for *_, a in rewards) == fee * n
    assert platform >= 0 and all(a >= 0 for _, a in prizes)
    assert sum(a for *_, a in rewards) <= fee * n * rake // 10_000
    assert [w for w, _ in prizes] == wallets[:min(n, len(prizes_bps))]


def test_scores_are_integer_basis_points_and_ties_go_to_the_earlier_join():
    change = rules.changes({A: 1_000, B: 3}, {A: 1_100, B: 2})
    assert change == {A: 10_000_000, B: -33_333_334}
    assert rules.score_bps(((A, 5_000), (B, 5_000)), change) == (5_000 * 10_000_000 - 5_000 * 33_333_334) // 10**8
    assert rules.rank([("x", 5), ("y", 7), ("z", 5)]) == [("y", 7), ("x", 5), ("z", 5)]


@pytest.mark.parametrize("portfolio, why", [
    ((), "non-empty"),
    (((A, 5_000),), "sum to 10000"),
    (((A, 5_000), (A, 5_000)), "twice"),
    (((A, 10_000), (B, 0)), "weight_bps"),
    ((("not-a-token", 10_000),), "not allowed"),
    (((A, 2_500), (B, 2_500), (C, 2_500), (TOKENS[3], 2_500)), "at most 3"),
])
def test_portfolio_checks(portfolio, why):
    assert why in rules.check_portfolio(portfolio, TOKENS, 3, 1, 10_000)


@pytest.mark.parametrize("raw", [None, [], "x", [1], [{"token": A}], [{"token": 5, "weight_bps": 1}],
                                 [{"token": A, "weight_bps": True}], [{"token": A, "weight_bps": -1}],
                                 [{"token": "x" * 65, "weight_bps": 1}], [{"token": A, "weight_bps": 2**40}]])
def test_malformed_portfolios_are_bad_requests(raw):
    with pytest.raises(ArenaError) as err:
        portfolio_of(raw)
    assert err.value.code == "bad_request"


# --- create -----------------------------------------------------------------------------


@pytest.mark.parametrize("terms", [
    {"entry_fee": 0}, {"entry_fee": -5}, {"starts_in_ms": 0}, {"starts_in_ms": -1_000},
    {"duration_ms": 1_000}, {"min_players": 0}, {"min_players": 5, "max_players": 4},
    {"max_players": 10**6}, {"prizes_bps": ()}, {"prizes_bps": (5_000, 4_000)}, {"prizes_bps": (11_000, -1_000)},
    {"rake_bps": 9_000}, {"rake_bps": -1}, {"tokens": ()}, {"tokens": (A, A)}, {"tokens": ("nope",)},
    {"portfolio_size": 0}, {"portfolio_size": 7}, {"tokens": (A, B), "portfolio_size": 3},
    {"min_weight_bps": 0}, {"max_weight_bps": 2_000}, {"starts_in_ms": 10**14},
])
def test_create_refuses_bad_terms(terms):
    e = Engine()
    reply = e.create(**terms)
    assert not reply.ok and reply.body["code"] == "bad_request"
    assert not e.shared().contests and not e.state.matches


# --- joining ----------------------------------------------------------------------------


def test_join_quotes_refuse_hostile_portfolios_and_change_nothing():
    e = Engine()
    cid = _contest(e)
    before = e.hash()
    codes = {
        "weights": e.quote("a", cid, _pf((A, 5_000), (B, 4_000))),
        "whitelist": e.quote("a", cid, _pf(("So1111111111111111111111111111111111111111X", 10_000))),
        "size": e.quote("a", cid, _pf((A, 2_500), (B, 2_500), (C, 2_500), (TOKENS[3], 2_500))),
        "shape": e.quote("a", cid, [{"token": A, "weight_bps": "10000"}]),
        "unknown": e.quote("a", "co-nope", _pf((A, 10_000))),
    }
    assert {k: v.code for k, v in codes.items()} == {"weights": "bad_request", "whitelist": "bad_request",
                                                    "size": "bad_request", "shape": "bad_request",
                                                    "unknown": "not_found"}
    assert e.hash() == before
    assert e.quote("a", cid, _pf((A, 10_000))) == (cid, 100)


def test_joining_twice_or_after_the_start_is_refused_and_refunded():
    e = Engine()
    cid = _contest(e, min_players=1)
    e.pay(cid, "a", [(A, 10_000)])
    assert e.quote("a", cid, _pf((B, 10_000))).code == "duplicate"
    e.pay(cid, "a", [(B, 10_000)])  # two confirms raced past the quote: the second goes back
    c = e.contest(cid)
    assert list(c.entries) == ["a"] and c.entries["a"].portfolio == [[A, 10_000]]
    assert e.events_of("contest:refunded")[-1]["amount"] == 100
    e.run(125_000)
    assert c.state == "active"
    assert e.quote("b", cid, _pf((A, 10_000))).code == "wrong_state"
    e.pay(cid, "b", [(A, 10_000)])
    assert "b" not in c.entries and e.escrow[f"escrow:{cid}"] == 100


def test_a_full_contest_and_a_wrong_amount_refund_the_payment():
    e = Engine()
    cid = _contest(e, min_players=1, max_players=1)
    e.pay(cid, "a", [(A, 10_000)])
    assert e.quote("b", cid, _pf((A, 10_000))).code == "not_allowed"
    e.pay(cid, "b", [(A, 10_000)])
    e.pay(cid, "c", [(A, 10_000)], amount=99)
    assert list(e.contest(cid).entries) == ["a"]
    assert e.escrow[f"escrow:{cid}"] == 100


@pytest.mark.parametrize("order, between", [("money_first", False), ("side_first", False), ("side_first", True)])
def test_money_and_portfolio_in_either_order(order, between):
    e = Engine()
    cid = _contest(e)
    e.pay(cid, "a", [(A, 4_000), (B, 6_000)], order=order, tick_between=between)
    assert e.contest(cid).entries["a"].portfolio == [[A, 4_000], [B, 6_000]]


def test_money_without_a_portfolio_goes_back_at_the_start():
    e = Engine()
    cid = _contest(e, min_players=1)
    e.pay(cid, "a", [(A, 10_000)])
    e.pay(cid, "b", [(A, 10_000)], order="money_only")
    e.run(125_000)
    assert list(e.contest(cid).entries) == ["a"] and e.escrow[f"escrow:{cid}"] == 100


# --- the start, prices, evaluation ----------------------------------------------------------


def test_under_the_minimum_at_the_start_every_fee_is_refunded():
    e = Engine()
    cid = _contest(e, min_players=3)
    e.pay(cid, "a", [(A, 10_000)])
    e.pay(cid, "b", [(B, 10_000)])
    e.run(125_000)
    c = e.contest(cid)
    assert c.state == "cancelled" and "under the minimum" in c.reason
    refund = e.settles[f"refund:{cid}"]
    assert sorted((t.dest, t.amount) for t in refund.transfers) == [("a", 100), ("b", 100)]
    assert e.escrow[f"escrow:{cid}"] == 0 and cid not in e.state.matches
    assert e.events_of("contest:cancelled") == [{"contest": cid, "reason": c.reason}]


def test_operator_cancel_refunds_and_a_second_cancel_is_wrong_state():
    e = Engine()
    cid = _contest(e)
    e.pay(cid, "a", [(A, 10_000)])
    assert e.cancel(cid).ok
    assert e.escrow[f"escrow:{cid}"] == 0
    assert e.cancel(cid).body["code"] == "wrong_state"
    assert e.cancel("co-none").body["code"] == "not_found"


def _two_player_contest(e, **kw):
    cid = _contest(e, **kw)
    e.pay(cid, "a", [(A, 10_000)])
    e.pay(cid, "b", [(B, 10_000)])
    return cid


def test_stale_prices_delay_the_evaluation_until_fresh_ones_come():
    e = Engine(stale_after_ms=2_000)
    cid = _two_player_contest(e)
    e.run(125_000)
    c = e.contest(cid)
    assert c.state == "active" and c.start_prices is not None
    e.run(600_000 - 10_000)
    # The market goes down: every fetch is unavailable (the breaker open).
    for _ in range(200):
        e.step()
        while any(":prices:" in f.key for f in e.fetches):
            e.answer_prices(status=I.FEED_UNAVAILABLE)
    assert c.state == "evaluating" and f"payout:{cid}" not in e.settles
    last = e.events_of("contest:rankings")[-1]
    assert last["stale"] is True
    # Back up: evaluated on the first fresh prices, with those prices.
    e.run(2_000)
    assert c.state == "settled"
    ended = e.events_of("contest:ended")[-1]
    change = rules.changes(c.start_prices, c.end_prices)
    scores = {"a": rules.score_bps(((A, 10_000),), change), "b": rules.score_bps(((B, 10_000),), change)}
    assert {r["wallet"]: r["score_bps"] for r in ended["rankings"]} == scores
    assert c.evaluated_at_ms > c.ends_at_ms


def test_missing_answers_are_given_up_and_asked_again():
    e = Engine(price_timeout_ms=1_000)
    _two_player_contest(e)
    e.run(200, answer=False)
    first = e.fetches[0].key
    e.run(1_500, answer=False)
    assert e.fetches[-1].key != first and e.shared().market.failed >= 1
    e.step(I.FeedResult(first, "contest", "", "price", "ok", (1,) * len(TOKENS)))  # late: ignored
    assert e.shared().market.prices == {}


def test_garbage_prices_are_not_accepted():
    e = Engine()
    _two_player_contest(e)
    e.run(100, answer=False)
    e.answer_prices(value=(1, 2))
    e.run(1_100, answer=False)
    e.answer_prices(value=tuple([0] * len(TOKENS)))
    assert e.shared().market.prices == {} and e.shared().market.failed == 2


def test_rankings_at_most_once_a_second_and_ties_to_the_earlier_join():
    e = Engine(price_every_ticks=1)
    cid = _contest(e)
    for w in ("a", "b", "c"):
        e.pay(cid, w, [(A, 10_000)])  # same portfolio: same score
    e.run(130_000)
    pushes = [p for p in e.events_of("contest:rankings") if p["contest"] == cid]
    times = [p["at_ms"] for p in pushes]
    assert len(pushes) >= 9 and all(b - a >= 1_000 for a, b in zip(times, times[1:]))
    assert [r["wallet"] for r in pushes[-1]["rankings"]] == ["a", "b", "c"]
    assert [r["rank"] for r in pushes[-1]["rankings"]] == [1, 2, 3]


def test_the_payout_is_one_settlement_with_prizes_rake_and_referral_rewards():
    e = Engine(referral_bps=5_000)
    cid = _contest(e, entry_fee=1_000, rake_bps=1_000, prizes_bps=(7_000, 3_000))
    code = e.referral("r", "code").body["code"]
    assert e.referral("a", "register", code).ok
    e.pay(cid, "a", [(A, 10_000)])
    e.pay(cid, "b", [(B, 10_000)])
    e.pay(cid, "c", [(C, 10_000)])
    e.run(125_000 + 600_000 + 2_000)
    c = e.contest(cid)
    assert c.state == "settled"
    payout = e.settles[f"payout:{cid}"]
    paid = {}
    for t in payout.transfers:
        paid[t.dest] = paid.get(t.dest, 0) + t.amount
    assert sum(paid.values()) == 3_000
    # rake 300; a's part of it is 100, half of that to the referrer.
    assert paid["r"] == 50 and paid["fee:contest"] == 250
    ranked = [w for w, _ in c.rankings]
    assert paid[ranked[0]] == 1_890 and paid[ranked[1]] == 810 and ranked[2] not in paid
    assert e.events_of("referral:reward") == [{"referee": "a", "contest": cid, "amount": 50}]
    stats = e.referral("r", "stats").body
    assert stats["registered"] == 1 and stats["converted"] == 1 and stats["rewards"] == 50
    assert e.escrow[f"escrow:{cid}"] == 0


def test_referral_codes_register_once_before_the_first_contest():
    e = Engine()
    code = e.referral("r", "code").body["code"]
    assert e.referral("r", "code").body["code"] == code
    assert e.referral("r", "register", code).body["code"] == "not_allowed"
    assert e.referral("a", "register", "NOPE").body["code"] == "not_found"
    assert e.referral("a", "click", code).ok and e.referral("r", "stats").body["clicks"] == 1
    assert e.referral("a", "register", code).ok
    assert e.referral("a", "register", code).body["code"] == "duplicate"
    cid = _contest(e)
    e.pay(cid, "b", [(A, 10_000)])
    assert e.referral("b", "register", code).body["code"] == "wrong_state"


def test_achievements_unlock_once_and_show_on_the_profile():
    e = Engine(achievements="first_contest=contests:1,double=wins:2")
    for _ in range(2):
        cid = _contest(e, min_players=1, prizes_bps=(10_000,))
        e.pay(cid, "a", [(A, 10_000)])
        e.run(125_000 + 600_000 + 1_000)
        assert e.contest(cid).state == "settled"
    unlocked = e.events_of("achievement:unlocked")
    assert [u["achievement"] for u in unlocked] == ["first_contest", "double"]
    profile = e.read("x", "profile", wallet_of="a").body
    assert profile["stats"]["wins"] == 2 and profile["stats"]["win_streak"] == 2
    assert profile["achievements"] == ["first_contest", "double"]


def test_views_and_watch():
    e = Engine()
    cid = _contest(e)
    view = e.read("x", "get", cid).body
    assert view["state"] == "registration" and view["players"] == 0 and view["rankings"] is None
    assert view["terms"]["tokens"] == TOKENS
    assert e.read("x", "get", "co-none").body["code"] == "not_found"
    assert e.read("w", "watch", cid).ok
    assert e.events_of("contest:rankings")[-1]["contest"] == cid
    tokens = e.read("x", "tokens").body["tokens"]
    assert [t["token"] for t in tokens] == TOKENS and all(t["decimals"] == 6 for t in tokens)


def test_replay_reproduces_ranks_and_money():
    e = Engine()
    cid = _two_player_contest(e)
    e.run(125_000 + 600_000 + 1_000)
    again = e.replayed_state()
    assert again.modes["contest"].contests[cid].rankings == e.contest(cid).rankings
    assert e.replayed_hash() == e.hash()


def test_a_schedule_opens_recurring_contests():
    e = Engine(recurring="daily 12:00 UTC", recurring_lead_ms=600_000, recurring_duration_ms=3_600_000,
               recurring_prizes_bps="7000,3000", recurring_portfolio_size=2)
    from arena.schedule import next_after, parse

    at = next_after(parse("r", "daily 12:00 UTC"), e.now)
    e.now = at - 50
    e.run(1_000)
    contests = list(e.shared().contests.values())
    assert len(contests) == 1
    c = contests[0]
    assert c.creator == "schedule" and c.starts_at_ms == at + 600_000 and c.ends_at_ms == at + 4_200_000
    assert c.prizes_bps == [7_000, 3_000] and c.tokens == TOKENS and c.portfolio_size == 2
    e.run(2_000)
    assert len(e.shared().contests) == 1  # once per occurrence


def test_bad_recurring_settings_are_refused():
    from arena.modes.contest.settings import ContestConfig

    for bad in ({"recurring": "sometimes"}, {"recurring": "once 2027-01-01T00:00 UTC"},
                {"recurring_prizes_bps": "6000,3000"}, {"recurring_prizes_bps": "x"}):
        with pytest.raises(ValueError):
            ContestConfig(**bad)


def test_token_sync_keeps_delisted_tokens_out_of_new_contests_and_portfolios():
    e = Engine(token_sync_ms=30_000)
    cid = _contest(e)
    e.run(100, answer=False)
    syncs = [f for f in e.fetches if ":tokens:" in f.key]
    assert len(syncs) == 1 and syncs[0].feed == "token_status"
    e.answer_tokens(delisted=(B,))
    assert e.quote("a", cid, _pf((B, 10_000))).code == "bad_request"
    assert e.quote("a", cid, _pf((A, 10_000))) == (cid, 100)
    assert e.create(tokens=(A, B)).body["code"] == "bad_request"
    e.pay(cid, "a", [(B, 10_000)])  # raced past the quote: refunded
    assert "a" not in e.contest(cid).entries
    tokens = {t["token"]: t["listed"] for t in e.read("x", "tokens").body["tokens"]}
    assert tokens[B] is False and tokens[A] is True
    e.run(31_000)  # the next sync lists it again
    assert e.quote("a", cid, _pf((B, 10_000))) == (cid, 100)
    before = dict(e.shared().market.delisted)
    e.run(30_000, answer=False)
    e.answer_tokens(status=I.FEED_UNAVAILABLE)  # a failed sync changes nothing
    assert e.shared().market.delisted == before
