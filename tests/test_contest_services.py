"""The contest's processing services (arena/modes/contest/services.py):
evaluation, rake and referrals, each a supervised side task with its own
circuit breaker, answering the engine with journaled results.

In the engine (tests/contest_harness.py): the evaluation is asked only with
fresh end prices, the payout waits for every service's answer and is one
settlement, exactly once; a wrong answer is refused and asked again; a
cancel while the services work refunds everyone and late answers change
nothing; the requests survive the outbox's encoding; replay gives the same
hash. Under the server's `ModeTask` (trio's mock clock, so the 120 s reset
takes no time): the evaluation service failing opens its breaker after the
design's 10 failures, nothing is tried while it is open, and after the
reset it evaluates, the same as a service that never failed."""

from __future__ import annotations

import types

import pytest
import trio
import trio.testing

from arena.engine import inputs as I
from arena.engine.errors import ArenaError
from arena.mode_tasks import ModeTask
from arena.modes.contest import requests as contest_requests
from arena.modes.contest import services
from arena.modes.contest.messages import (
    ContestEvaluated, ContestRead, EvaluateContest, ProcessRake, ProcessReferrals, RakeProcessed, ReferralsProcessed,
)
from arena.modes.contest.mode import standings
from arena.modes.contest.settings import ContestConfig
from arena.persistence import codec
from arena.supervisor import ACTIVE, CIRCUIT_OPEN, DEGRADED, INITIALIZING, RECOVERING
from contest_harness import TOKENS, Engine, corrupt

A, B, C = TOKENS[0], TOKENS[1], TOKENS[2]
END_MS = 120_000 + 600_000 + 1_000  # the harness's default contest has ended by then


def _ended(referral: bool = True, services_answer: bool = False, **settings):
    """A contest of three (one referred) that has ended, its services'
    requests not answered yet (unless `services_answer`)."""
    e = Engine(referral_bps=5_000, **settings)
    cid = e.create(entry_fee=1_000, rake_bps=1_000, prizes_bps=(7_000, 3_000)).body["contest"]
    if referral:
        code = e.referral("r", "code").body["code"]
        assert e.referral("a", "register", code).ok
    for wallet, token in (("a", A), ("b", B), ("c", C)):
        e.pay(cid, wallet, [(token, 10_000)])
    e.run(END_MS, services=services_answer)
    return e, cid


def _payout(e, cid) -> dict:
    paid = {}
    for t in e.settles[f"payout:{cid}"].transfers:
        paid[t.dest] = paid.get(t.dest, 0) + t.amount
    return paid


def test_the_payout_waits_for_every_service_and_is_one_settlement():
    e, cid = _ended()
    c = e.contest(cid)
    assert c.state == "evaluating" and c.end_prices is not None
    assert [type(j) for j in e.jobs] == [EvaluateContest] and f"payout:{cid}" not in e.settles
    ask = e.jobs[0]
    assert dict(ask.end_prices) == c.end_prices and dict(ask.start_prices) == c.start_prices
    assert [w for w, _ in ask.entries] == ["a", "b", "c"]
    # The rankings pushed live stop once the end prices are taken.
    pushes = len(e.events_of("contest:rankings"))
    e.run(5_000, services=False)
    assert len(e.events_of("contest:rankings")) == pushes

    evaluation = services.evaluate(e.jobs.pop())
    e.step(evaluation)
    assert c.ranked and c.rankings == standings(c, c.end_prices)
    assert sorted(type(j).__name__ for j in e.jobs) == ["ProcessRake", "ProcessReferrals"]
    rake_ask = next(j for j in e.jobs if isinstance(j, ProcessRake))
    referral_ask = next(j for j in e.jobs if isinstance(j, ProcessReferrals))
    assert rake_ask.pool == 3_000 and rake_ask.ranked == tuple(w for w, _ in c.rankings)
    assert referral_ask.referred == (("a", "r", 1_000),)
    e.jobs.clear()

    e.step(services.process_rake(rake_ask))
    assert c.state == "evaluating" and f"payout:{cid}" not in e.settles  # the rewards are not in yet
    e.step(services.process_referrals(referral_ask))
    assert c.state == "settled"
    paid = _payout(e, cid)
    # rake 300; a's part of it is 100, half of that to the referrer.
    ranked = [w for w, _ in c.rankings]
    assert paid == {ranked[0]: 1_890, ranked[1]: 810, "r": 50, "fee:contest": 250}
    assert e.escrow[f"escrow:{cid}"] == 0 and e.events_of("referral:reward") == [
        {"referee": "a", "contest": cid, "amount": 50}]
    # Every answer again (a restart re-asked them): nothing more happens.
    settles, events = dict(e.settles), len(e.events)
    e.step(evaluation, services.process_rake(rake_ask), services.process_referrals(referral_ask))
    assert e.settles == settles and len(e.events) == events and not e.jobs
    assert e.replayed_hash() == e.hash()


def test_a_wrong_answer_is_refused_and_asked_again_under_a_new_key():
    e, cid = _ended()
    c = e.contest(cid)
    for round_ in range(3):  # each service answers wrong once (evaluation, then rake and referrals)
        keys = {j.key for j in e.jobs}
        assert e.answer_jobs("wrong") >= 1
        assert c.state == "evaluating" and f"payout:{cid}" not in e.settles
        assert e.jobs and not keys & {j.key for j in e.jobs}  # asked again, under new keys
        e.answer_jobs("ok")
        if c.state == "settled":
            break
    assert c.state == "settled" and c.refused == 3
    assert c.rankings == standings(c, c.end_prices)
    paid = _payout(e, cid)
    assert sum(paid.values()) == 3_000 and paid["r"] == 50 and paid["fee:contest"] == 250
    assert e.replayed_hash() == e.hash()


def test_an_answer_nobody_asked_for_changes_nothing():
    e, cid = _ended()
    c = e.contest(cid)
    fake = ContestEvaluated(f"contest-evaluation:{cid}:99", cid, (("c", 10**6), ("b", 0), ("a", -1)))
    e.step(fake, RakeProcessed(f"contest-rake:{cid}:1", cid, 0, (("c", 3_000),)),
           ReferralsProcessed(f"contest-referrals:{cid}:1", cid, (("x", "c", 3_000),)))
    assert c.state == "evaluating" and not c.ranked and c.rake is None and not c.rewarded
    assert f"payout:{cid}" not in e.settles


def test_evaluation_is_asked_only_on_fresh_prices():
    e = Engine(stale_after_ms=2_000)
    cid = e.create(entry_fee=100, min_players=1).body["contest"]
    e.pay(cid, "a", [(A, 10_000)])
    e.run(120_000 + 600_000 - 5_000)
    # The market fails from before the end: the contest waits, nothing is asked.
    end = e.now + 30_000
    while e.now < end:
        e.step()
        while e.fetches:
            if ":tokens:" in e.fetches[0].key:
                e.answer_tokens()
            else:
                e.answer_prices(status=I.FEED_UNAVAILABLE)
    c = e.contest(cid)
    assert c.state == "evaluating" and c.end_prices is None and not e.jobs
    while not e.jobs:
        e.run(50, services=False)  # fresh prices again
    assert [type(j) for j in e.jobs] == [EvaluateContest]
    assert dict(e.jobs[0].end_prices) == c.end_prices
    assert c.evaluated_at_ms == e.shared().market.accepted_at_ms
    e.run(1_000)
    assert c.state == "settled"


def test_a_cancel_while_the_services_work_refunds_and_late_answers_change_nothing():
    e, cid = _ended()
    ask = e.jobs.pop()
    assert e.cancel(cid).ok
    c = e.contest(cid)
    assert c.state == "cancelled" and e.escrow[f"escrow:{cid}"] == 0
    e.step(services.evaluate(ask))
    assert c.state == "cancelled" and not e.jobs and f"payout:{cid}" not in e.settles
    assert e.replayed_hash() == e.hash()


def test_the_requests_survive_the_outbox_and_the_results_the_journal():
    e, cid = _ended()
    e.answer_jobs()
    for eff in [*e.jobs]:
        again = codec.decode_effect(codec.encode_effect(eff))
        assert again == eff and services.COMPUTE[type(again)](again) == services.COMPUTE[type(eff)](eff)
        result = services.COMPUTE[type(eff)](eff)
        assert codec.decode_inputs(codec.encode_inputs([result])) == [result]


def test_settings_of_the_services():
    cfg = ContestConfig()
    assert (cfg.evaluation_failure_threshold, cfg.evaluation_reset_s) == (10, 120)
    assert (cfg.rake_failure_threshold, cfg.rake_reset_s, cfg.referral_failure_threshold, cfg.referral_reset_s) \
        == (5, 60, 5, 60)
    context = types.SimpleNamespace(config=types.SimpleNamespace(engine=types.SimpleNamespace(
        modes={"contest": ContestConfig(rake_failure_threshold=7, rake_reset_s=9, service_retry_ms=250)})))
    assert services.make_evaluator(context).breaker == {"failure_threshold": 10, "reset_after": 120.0}
    rake = services.make_rake(context)
    assert rake.breaker == {"failure_threshold": 7, "reset_after": 9.0} and rake.retry_after_s(None, 3) == 0.25
    assert services.make_referrals(context).breaker == {"failure_threshold": 5, "reset_after": 60.0}
    with pytest.raises(ValueError):
        ContestConfig(evaluation_failure_threshold=0)


class Failing:
    """A service whose first `failures` tries raise (its store is down),
    recording each try's time and the breaker's state when it was made."""

    def __init__(self, inner, failures: int):
        self.inner = inner
        self.breaker = inner.breaker
        self.failures = failures
        self.tries: list[tuple[float, str]] = []
        self.task: ModeTask | None = None

    def retry_after_s(self, effect, attempts):
        return self.inner.retry_after_s(effect, attempts)

    async def run(self, effect):
        self.tries.append((trio.current_time(), self.task.supervisor.state))
        if len(self.tries) <= self.failures:
            raise OSError("evaluation store unreachable")
        return await self.inner.run(effect)


def _serve(handler, effect, watch_s: float = 1.0):
    """Run `effect` through a `ModeTask` on trio's mock clock until its
    result comes; the breaker's states, sampled every `watch_s`."""
    results, states = [], []

    async def main():
        task = handler.task = ModeTask("contest-evaluation", handler, results.append)
        states.append((trio.current_time(), task.supervisor.state))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(task.run)
            await task.send.send(effect)
            while not results:
                await trio.sleep(watch_s)
                states.append((trio.current_time(), task.supervisor.state))
            nursery.cancel_scope.cancel()
        states.append((trio.current_time(), task.supervisor.state))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return results, states


def test_the_evaluation_breaker_opens_after_10_failures_and_evaluates_after_the_reset():
    e, cid = _ended()
    twin, twin_cid = _ended(services_answer=True)  # the same contest, its services never failing
    ask = e.jobs.pop()
    context = types.SimpleNamespace(config=types.SimpleNamespace(engine=types.SimpleNamespace(
        modes={"contest": e.state.config.modes["contest"]})))
    # 11 failures: 10 open the breaker; the first try after the reset fails
    # too (recovering -> open again); the next one, another reset later, evaluates.
    handler = Failing(services.make_evaluator(context), failures=11)
    results, states = _serve(handler, ask)

    assert states[0][1] == INITIALIZING and states[-1][1] == ACTIVE
    times = [t for t, _ in handler.tries]
    assert len(handler.tries) == 12
    assert [s for _, s in handler.tries[:10]] == [ACTIVE] + [DEGRADED] * 9
    assert all(b - a == pytest.approx(1.0) for a, b in zip(times[:10], times[1:10]))  # service_retry_ms
    # Open after the 10th failure: nothing tried for the 120 s reset, then one try (recovering).
    assert times[10] - times[9] >= 120 and handler.tries[10][1] == RECOVERING
    assert times[11] - times[10] >= 120 and handler.tries[11][1] == RECOVERING
    opened = [t for t, s in states if s == CIRCUIT_OPEN]
    assert opened and times[9] <= min(opened) and max(opened) <= times[11]
    assert not any(times[9] < t < times[9] + 120 for t in times)

    # The answer, journaled, settles the contest as if the service never failed.
    [result] = results
    assert result == services.evaluate(ask)
    e.step(result)
    e.run(1_000)
    c, t = e.contest(cid), twin.contest(twin_cid)
    assert c.state == t.state == "settled"
    assert c.rankings == t.rankings == standings(c, c.end_prices)
    assert cid == twin_cid and e.settles[f"payout:{cid}"] == twin.settles[f"payout:{cid}"]
    assert e.replayed_hash() == e.hash()


# --- bounded rankings pushes, and the paged read ------------------------------------------

def _ranked_contest(top: int = 2):
    e = Engine(rankings_top=top)
    cid = e.create(entry_fee=100, min_players=1, portfolio_size=1).body["contest"]
    for wallet, token in zip("abcde", TOKENS):
        e.pay(cid, wallet, [(token, 10_000)])
    assert e.request(lambda s, r: ContestRead(s, r, "viewer", "watch", cid)).ok
    e.run(125_000)
    return e, cid


def test_a_rankings_push_carries_the_top_n_and_each_recipients_own_row():
    e, cid = _ranked_contest(top=2)
    c = e.contest(cid)
    last_at = max(ev.body["at_ms"] for ev in e.events if ev.type == "contest:rankings")
    pushes = [ev for ev in e.events if ev.type == "contest:rankings" and ev.body["at_ms"] == last_at]
    full = [w for w, _ in c.rankings]
    top = [{"rank": i + 1, "wallet": w, "score_bps": s} for i, (w, s) in enumerate(c.rankings[:2])]
    by_wallet = {}
    for ev in pushes:
        assert ev.body["total"] == 5 and ev.body["stale"] is False
        for w in ev.to:
            assert w not in by_wallet, f"{w} got two pushes"
            by_wallet[w] = ev.body["rankings"]
    assert set(by_wallet) == {*full, "viewer"}
    # One body for the top two and the watcher, one each for the three below.
    assert len(pushes) == 4
    for w in (*full[:2], "viewer"):
        assert by_wallet[w] == top
    for rank, w in enumerate(full[2:], 3):
        assert by_wallet[w] == [*top, {"rank": rank, "wallet": w, "score_bps": dict(c.rankings)[w]}]


def test_the_whole_ranking_in_pages():
    e, cid = _ranked_contest(top=2)
    c = e.contest(cid)

    def page(offset, limit, contest=cid):
        return e.request(lambda s, r: ContestRead(s, r, "anyone", "rankings", contest, "", offset, limit))

    rows = [{"rank": i + 1, "wallet": w, "score_bps": s} for i, (w, s) in enumerate(c.rankings)]
    first, second, past = page(0, 3).body, page(3, 3).body, page(9, 3).body
    assert first["rankings"] == rows[:3] and second["rankings"] == rows[3:] and past["rankings"] == []
    assert first["total"] == 5 and first["offset"] == 0 and first["at_ms"] == c.rankings_at_ms
    assert not page(0, 3, "co-nope").ok and page(0, 3, "co-nope").body["code"] == "not_found"
    # The request's checks (the gateway's, before the engine sees it).
    make = next(r for r in contest_requests.REQUESTS if r.name == "contest.rankings").make
    assert make("s", 1, "w", {"contest": cid}, 0, "").limit == contest_requests.PAGE_DEFAULT
    for bad in ({"offset": -1}, {"limit": 0}, {"limit": contest_requests.PAGE_MAX + 1}, {"offset": 2**40}):
        with pytest.raises(ArenaError) as err:
            make("s", 1, "w", {"contest": cid, **bad}, 0, "")
        assert err.value.code == "bad_request"
    # Settled: the final ranking.
    e.run(600_000)
    assert c.state == "settled"
    final = page(0, 10).body
    assert final["state"] == "settled" and final["stale"] is False
    assert [r["wallet"] for r in final["rankings"]] == [w for w, _ in c.rankings]


# --- referral links ------------------------------------------------------------------------

def test_a_followed_referral_link_counts_a_click_at_most_so_often():
    from arena.engine.registry import registry
    from arena.modes.contest.messages import ReferralClicked

    mode = registry.modes()["contest"]
    e = Engine(referral_clicks_per_min=3)
    code = e.referral("r", "code").body["code"]
    inp, location = mode.page_link(e.state, code.lower() + "/")
    assert inp == ReferralClicked(code) and location == f"/contest/?ref={code}"
    # Unknown: on to the page, nothing journaled; malformed: no such link.
    assert mode.page_link(e.state, "ABCDEF1234") == (None, "/contest/")
    for bad in ("", "x", "AB/CD", "A" * 33, "../../etc", "<script>", "ÄÖÜÄÖ"):
        assert mode.page_link(e.state, bad) is None, bad
    for _ in range(5):
        e.step(ReferralClicked(code))
    e.step(ReferralClicked("ABCDEF1234"))  # a code nobody has: nothing
    assert e.referral("r", "stats").body["clicks"] == 3  # three a minute
    e.now += 60_000
    e.step(ReferralClicked(code))
    assert e.referral("r", "stats").body["clicks"] == 4
    assert e.replayed_hash() == e.hash()


# --- token sync rows -------------------------------------------------------------------------

def test_a_token_sync_takes_flags_or_token_list_rows_and_nothing_else():
    e = Engine()
    e.create(entry_fee=100, min_players=1, starts_in_ms=3_600_000)  # a live contest: its timer syncs
    mk = e.shared().market

    def answer(value, status=I.FEED_OK):
        e.run(30_000, answer=False)
        eff = next(f for f in e.fetches if ":tokens:" in f.key)
        e.fetches.clear()
        e.step(I.FeedResult(eff.key, eff.mode, eff.match, eff.feed, status, value))

    rows = tuple((0 if i == 1 else 1, 6, f"S{i}", f"Token {i}") for i in range(len(TOKENS)))
    answer(rows)
    assert list(mk.delisted) == [TOKENS[1]] and mk.meta[TOKENS[2]] == ["S2", 6, "Token 2"]
    view = {t["token"]: t for t in e.read("x", "tokens").body["tokens"]}
    assert view[TOKENS[1]]["listed"] is False and view[TOKENS[0]]["meta"] == {
        "symbol": "S0", "decimals": 6, "name": "Token 0"}
    synced = mk.synced_at_ms
    for garbage in (rows[:-1], (*rows[:-1], (1, 99, "S", "N")), (*rows[:-1], (1, 6, "S" * 40, "N")),
                    (*rows[:-1], (True, 6, "S", "N")), (*rows[:-1], 2), (*rows[:-1], "1"), "1" * len(TOKENS)):
        answer(garbage)
        assert mk.synced_at_ms == synced and list(mk.delisted) == [TOKENS[1]], garbage
    answer(rows, status=I.FEED_UNAVAILABLE)
    assert mk.synced_at_ms == synced
    answer(tuple(1 for _ in TOKENS))  # listed flags only (the simulated feed): no metadata
    assert not mk.delisted and mk.meta == {}
    assert e.replayed_hash() == e.hash()


def test_joins_are_told_to_the_joiner_at_once_and_to_the_rest_at_most_once_a_second():
    e = Engine()
    cid = e.create(entry_fee=100, min_players=1, portfolio_size=1).body["contest"]
    assert e.request(lambda s, r: ContestRead(s, r, "viewer", "watch", cid)).ok
    e.run(2_000)
    start = len(e.events)
    for wallet, token in zip("abcde", TOKENS):  # five joins within 0.5 s
        e.pay(cid, wallet, [(token, 10_000)])
    e.run(3_000)
    joined = [ev for ev in e.events[start:] if ev.type == "contest:joined"]
    own = [ev for ev in joined if len(ev.to) == 1 and ev.to[0] == ev.body["wallet"]]
    assert [ev.body["wallet"] for ev in own] == list("abcde")
    assert [ev.body["players"] for ev in own] == [1, 2, 3, 4, 5]
    told = [ev for ev in joined if ev not in own]
    assert 1 <= len(told) <= 3  # coalesced: not one per join for everyone
    assert told[-1].body["players"] == 5 and "viewer" in told[-1].to
    viewer_times = [e.events.index(ev) for ev in told if "viewer" in ev.to]
    assert len(viewer_times) == len(told)
    assert e.replayed_hash() == e.hash()
