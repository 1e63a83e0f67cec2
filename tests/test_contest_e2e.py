"""Trading contests over real sockets on the embedded ledger: an operator
(API key) creates a contest, players register a referral code and join
with portfolios through `contest.join.build` / `contest.join.confirm` into
`escrow:<contest>`, a manual clock moves the contest through its start and
end (one-off schedule rules), rankings are pushed live, and the one payout
settlement pays prizes, rake and the referral reward, every balance
checked. A contest under its minimum is cancelled and refunds everyone. A
market feed over HTTP (a Jupiter-format source on 127.0.0.1) fails until
its breaker opens: rankings say stale, the evaluation waits, and once the
source recovers the contest is evaluated on the recovered prices. Hostile
input is refused with clear codes and changes nothing."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
import trio

from arena.client import ArenaRequestError
from arena.config import FeedConfig, FeedSourceConfig
from arena.modes.contest import rules
from arena.modes.contest.settings import ContestConfig, whitelist
from arena.wallclock import ManualClock
from conftest import make_config, operator_client, player, start_server, wait_until
from feed_http import FeedSources

T0 = 1_800_000_000_000
START = T0 + 60_000
END = T0 + 120_000
TOKENS = [t for t, _ in whitelist(ContestConfig().tokens)]


def _config(tmp_path, feeds=None, **contest):
    base = make_config(tmp_path)
    settings = ContestConfig(**{"min_duration_ms": 1_000, "price_every_ticks": 2, "referral_bps": 5_000,
                                **contest})
    cfg = attrs.evolve(base, schedule=attrs.evolve(base.schedule, poll_ms=20),
                       engine=base.engine.with_mode("contest", settings))
    if feeds is not None:
        cfg = attrs.evolve(cfg, feeds=attrs.evolve(cfg.feeds, feeds=feeds))
    return cfg


_server = start_server
_operator = operator_client


def _terms(**kw):
    return {"entry_fee": 100, "starts_at_ms": START, "ends_at_ms": END, "min_players": 2, "max_players": 10,
            "prizes_bps": [7_000, 3_000], "rake_bps": 1_000, "tokens": TOKENS[:4], "portfolio_size": 2, **kw}


def _pf(*pairs):
    return [{"token": t, "weight_bps": w} for t, w in pairs]


async def join(c, contest, portfolio):
    built = await c.request("contest.join.build", {"contest": contest, "portfolio": portfolio})
    assert built["amount"] == 100
    return await c.request("contest.join.confirm", {"contest": contest, "tx": built["tx"],
                                                     "signature": c.sign(built["tx"])})


async def _code(c, type_, body):
    with pytest.raises(ArenaRequestError) as err:
        await c.request(type_, body)
    return err.value.code


def _contest(srv, cid):
    return srv.state.modes["contest"].contests[cid]


async def test_a_contest_from_create_to_payout(nursery, tmp_path):
    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path), clock)
    ledger = srv.ledger
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        bob = await stack.enter_async_context(player(url))
        ref = await stack.enter_async_context(player(url, faucet=False))
        start = {c: await c.balance() for c in (alice, bob)}
        assert await _code(alice, "contest.create", _terms()) == "not_allowed"
        cid = (await op.request("contest.create", _terms()))["contest"]
        tokens = (await alice.request("contest.tokens", {}))["tokens"]
        assert [t["token"] for t in tokens] == TOKENS and tokens[0]["symbol"] == "SOL"
        code = (await ref.request("referral.code", {}))["code"]
        assert await alice.request("referral.register", {"code": code}) == {}

        assert (await join(alice, cid, _pf((TOKENS[0], 6_000), (TOKENS[2], 4_000))))["status"] == "confirmed"
        assert (await join(bob, cid, _pf((TOKENS[1], 10_000))))["status"] == "confirmed"
        await wait_until(lambda: len(_contest(srv, cid).entries) == 2)
        assert await ledger.account_balance(f"escrow:{cid}") == 200
        view = await ref.request("contest.get", {"contest": cid})
        assert view["state"] == "registration" and view["players"] == 2 and view["rankings"] is None
        assert [m["phase"] for m in await ref.list_matches("contest")] == ["registration"]
        assert await ref.request("contest.watch", {"contest": cid}) == {}
        await ref.next_event("contest:rankings")

        clock.set(START)
        _, started = await alice.next_event("contest:started", timeout=10)
        assert started["contest"] == cid and set(started["start_prices"]) == set(TOKENS[:4])
        _, live = await ref.next_event("contest:rankings", where=lambda b: b["rankings"], timeout=10)
        assert {r["wallet"] for r in live["rankings"]} == {alice.wallet, bob.wallet} and live["stale"] is False
        assert await _code(bob, "contest.join.build", {"contest": cid, "portfolio": _pf((TOKENS[0], 10_000))}) \
            == "wrong_state"

        clock.set(END)
        _, ended = await bob.next_event("contest:ended", timeout=10)
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        change = rules.changes(ended["start_prices"], ended["end_prices"])
        scores = {alice.wallet: rules.score_bps(((TOKENS[0], 6_000), (TOKENS[2], 4_000)), change),
                  bob.wallet: rules.score_bps(((TOKENS[1], 10_000),), change)}
        order = sorted(scores, key=lambda w: (-scores[w], w != alice.wallet))  # ties: alice joined first
        assert [r["wallet"] for r in ended["rankings"]] == order
        assert [r["score_bps"] for r in ended["rankings"]] == [scores[w] for w in order]
        # pool 200, rake 20 (alice's part of it 10, half to her referrer), prizes 126 + 54
        assert ended["rake"] == 20 and ended["prizes"] == [{"wallet": order[0], "amount": 126},
                                                          {"wallet": order[1], "amount": 54}]
        _, reward = await ref.next_event("referral:reward", timeout=10)
        assert reward == {"referee": alice.wallet, "contest": cid, "amount": 5}
        assert await ledger.account_balance(f"escrow:{cid}") == 0
        assert await ledger.account_balance("fee:contest") == 15
        assert await ref.balance() == 5
        prize = {p["wallet"]: p["amount"] for p in ended["prizes"]}
        for c in (alice, bob):
            assert await c.balance() == start[c] - 100 + prize[c.wallet]
        _, unlocked = await alice.next_event("achievement:unlocked", timeout=10)
        assert unlocked["wallet"] == alice.wallet and unlocked["achievement"] == "first_contest"
        final = await ref.request("contest.get", {"contest": cid})
        assert final["state"] == "settled" and final["result"]["prizes"] == ended["prizes"]
        profile = await ref.request("contest.profile", {"wallet": order[0]})
        assert profile["stats"]["wins"] == 1 and "first_win" in profile["achievements"]
        # The store has it: history, the boards, the profile's stats.
        with trio.fail_after(10):
            while not (hist := (await alice.request("history.get", {"mode": "contest"}))["matches"]):
                await trio.sleep(0.1)
        assert hist[0]["match"] == cid and hist[0]["result"]["prizes"] == ended["prizes"]
        board = await ref.request("leaderboard.get", {"board": "contest.wins"})
        assert [e["wallet"] for e in board["entries"]] == [order[0]]
        stats = (await ref.request("profile.get", {"wallet": order[0]}))["stats"]
        assert stats["contest.wins"] == 1 and stats["contest.achievements"] >= 3


async def test_a_contest_under_its_minimum_is_cancelled_and_refunded(nursery, tmp_path):
    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path), clock)
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        bob = await stack.enter_async_context(player(url))
        start = {c: await c.balance() for c in (alice, bob)}
        cid = (await op.request("contest.create", _terms(min_players=3)))["contest"]
        await join(alice, cid, _pf((TOKENS[0], 10_000)))
        await join(bob, cid, _pf((TOKENS[1], 10_000)))
        await wait_until(lambda: len(_contest(srv, cid).entries) == 2)
        clock.set(START)
        _, cancelled = await alice.next_event("contest:cancelled", timeout=10)
        assert cancelled["contest"] == cid and "under the minimum" in cancelled["reason"]
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        assert await srv.ledger.account_balance(f"escrow:{cid}") == 0
        for c in (alice, bob):
            assert await c.balance() == start[c]
        assert (await bob.request("contest.get", {"contest": cid}))["state"] == "cancelled"
        # An operator's cancel refunds too.
        other = (await op.request("contest.create", _terms(starts_at_ms=END, ends_at_ms=END + 60_000)))["contest"]
        await join(alice, other, _pf((TOKENS[0], 10_000)))
        await wait_until(lambda: len(_contest(srv, other).entries) == 1)
        assert (await op.request("contest.cancel", {"contest": other}))["state"] == "cancelled"
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        assert await alice.balance() == start[alice]


class Market:
    """A Jupiter-format price API on 127.0.0.1 (`/price?ids=<mints>` ->
    `{"data": {mint: {"id", "type", "price": "<decimal string>"}}}`) that can
    be taken down."""

    def __init__(self, prices: dict):
        self.prices = dict(prices)
        self.down = False

    def __call__(self, path: str):
        if self.down:
            return 503, {}, b"maintenance"
        ids = parse_qs(urlsplit(path).query)["ids"][0].split(",")
        data = {m: {"id": m, "type": "derivedPrice", "price": self.prices[m]} for m in ids}
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": data, "timeTaken": 0.001}).encode()


async def test_the_market_breaker_opens_and_recovers_and_evaluation_waits(nursery, tmp_path):
    market = Market({t: "1.000000" for t in TOKENS})
    with FeedSources() as sources:
        sources.handlers["jup"] = market
        feed = FeedConfig(kind="http", consensus="median", decimals=6, deadline_ms=400, timeout_ms=200,
                          retry_ms=100, failure_threshold=3, reset_s=1, min_healthy_s=1, window_s=60,
                          sources=(FeedSourceConfig(name="jup", url=f"http://127.0.0.1:{sources.port}/jup/price"
                                                                    "?ids={tokens}",
                                                    value_path="data.{*tokens}.price"),))
        clock = ManualClock(T0)
        srv, url = await _server(nursery, _config(tmp_path, feeds={"market": feed}, price_feed="market",
                                                  stale_after_ms=1_000), clock)
        async with AsyncExitStack() as stack:
            op = await _operator(srv, url, stack)
            alice = await stack.enter_async_context(player(url))
            bob = await stack.enter_async_context(player(url))
            cid = (await op.request("contest.create", _terms()))["contest"]
            await join(alice, cid, _pf((TOKENS[0], 5_000), (TOKENS[1], 5_000)))
            await join(bob, cid, _pf((TOKENS[2], 10_000)))
            await wait_until(lambda: len(_contest(srv, cid).entries) == 2)
            clock.set(START)
            _, started = await alice.next_event("contest:started", timeout=10)
            assert started["start_prices"][TOKENS[0]] == 1_000_000

            market.down = True
            breaker = srv.feed_service.feed_breakers["market"]
            await wait_until(lambda: breaker.state == "circuit_open", timeout=10)
            clock.set(END)
            _, stale = await alice.next_event("contest:rankings", where=lambda b: b["stale"], timeout=10)
            assert stale["contest"] == cid
            await trio.sleep(0.3)
            assert _contest(srv, cid).state == "evaluating" and f"payout:{cid}" not in srv.state.unsettled

            market.prices.update({TOKENS[0]: "1.100000", TOKENS[1]: "0.950000", TOKENS[2]: "1.020000"})
            market.down = False
            _, ended = await alice.next_event("contest:ended", timeout=15)
            assert ended["end_prices"][TOKENS[0]] == 1_100_000 and ended["evaluated_at_ms"] >= END
            # alice: half +10 %, half -5 % = +250 bps; bob: +2 % = +200 bps.
            assert [(r["wallet"], r["score_bps"]) for r in ended["rankings"]] == [(alice.wallet, 250),
                                                                                (bob.wallet, 200)]
            await wait_until(lambda: not srv.state.unsettled, timeout=10)
            assert await srv.ledger.account_balance(f"escrow:{cid}") == 0
            assert srv.feed_service.health()["feeds"]["market"]["state"] in ("recovering", "active")


async def test_hostile_input_is_refused_and_changes_nothing(nursery, tmp_path):
    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path), clock)
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        cid = (await op.request("contest.create", _terms()))["contest"]
        before = await alice.balance()
        a, b, c = TOKENS[:3]
        for portfolio, code in [
            (_pf((a, 5_000), (b, 4_000)), "bad_request"),  # weights not summing to 10,000
            (_pf(("So1111111111111111111111111111111111111111X", 10_000)), "bad_request"),  # off the whitelist
            (_pf((TOKENS[5], 10_000)), "bad_request"),  # on the whitelist, not in this contest
            (_pf((a, 4_000), (b, 3_000), (c, 3_000)), "bad_request"),  # over the size limit
            (_pf((a, 5_000), (a, 5_000)), "bad_request"),
            ([{"token": a}], "bad_request"),
            ("everything", "bad_request"),
        ]:
            assert await _code(alice, "contest.join.build", {"contest": cid, "portfolio": portfolio}) == code, portfolio[:2]
        assert await _code(alice, "contest.join.build", {"contest": "co-nope",
                                                          "portfolio": _pf((a, 10_000))}) == "not_found"
        for body in [_terms(prizes_bps=["a"]), _terms(tokens="SOL"), _terms(entry_fee="100"),
                     _terms(prizes_bps=[5_000]), _terms(starts_at_ms=T0 - 1), _terms(rake_bps=10_000)]:
            assert await _code(op, "contest.create", body) in ("bad_request",), body
        assert await _code(alice, "referral.register", {"code": "NOPE"}) == "not_found"
        assert await _code(alice, "contest.get", {"contest": "co-nope"}) == "not_found"
        # every other request path: malformed, oversized, unknown, not allowed
        for type_, body, code in [
            ("contest.create", _terms(tokens=["x"] * 300), "bad_request"),  # over 256 items
            ("contest.create", _terms(prizes_bps=[1] * 300), "bad_request"),
            ("contest.create", {k: v for k, v in _terms().items() if k != "rake_bps"}, "bad_request"),
            ("contest.watch", {"contest": "co-nope"}, "not_found"),
            ("contest.watch", {"contest": 5}, "bad_request"),
            ("contest.get", {"contest": "x" * 65}, "bad_request"),
            ("contest.profile", {"wallet": "x" * 100}, "bad_request"),
            ("referral.register", {"code": "x" * 40}, "bad_request"),
            ("referral.register", {"code": 7}, "bad_request"),
            ("referral.register", {}, "bad_request"),
            ("referral.click", {"code": "NOPE"}, "not_found"),
            ("contest.cancel", {"contest": cid}, "not_allowed"),
            ("contest.join.confirm", {"contest": cid, "tx": b"junk", "signature": b"\0" * 64}, "payment_failed"),
            ("contest.join.confirm", {"contest": cid, "tx": b"junk", "signature": b"\0" * 66}, "bad_request"),
        ]:
            client = op if type_ == "contest.create" else alice
            assert await _code(client, type_, body) == code, (type_, str(body)[:80])
        assert await _code(op, "contest.cancel", {"contest": "co-nope"}) == "not_found"
        assert await alice.balance() == before and _contest(srv, cid).entries == {}
        # someone else's tx is refused; joining twice is refused before money moves
        eve = await stack.enter_async_context(player(url))
        built = await alice.request("contest.join.build", {"contest": cid, "portfolio": _pf((a, 10_000))})
        assert await _code(eve, "contest.join.confirm", {"contest": cid, "tx": built["tx"],
                                                         "signature": eve.sign(built["tx"])}) == "payment_failed"
        await alice.request("contest.join.confirm", {"contest": cid, "tx": built["tx"],
                                                     "signature": alice.sign(built["tx"])})
        await wait_until(lambda: len(_contest(srv, cid).entries) == 1)
        assert await _code(alice, "contest.join.build", {"contest": cid, "portfolio": _pf((b, 10_000))}) \
            == "duplicate"
        assert await _code(alice, "contest.join.confirm", {"contest": cid, "tx": built["tx"],
                                                           "signature": alice.sign(built["tx"])}) == "payment_failed"
        assert await alice.balance() == before - 100
        assert await srv.ledger.account_balance(f"escrow:{cid}") == 100
        clock.set(START)
        await wait_until(lambda: _contest(srv, cid).state != "registration", timeout=10)
        assert await _code(eve, "contest.join.build", {"contest": cid, "portfolio": _pf((a, 10_000))}) \
            == "wrong_state"


async def test_operators_get_health_updates(nursery, tmp_path):
    cfg = _config(tmp_path)
    cfg = attrs.evolve(cfg, server=attrs.evolve(cfg.server, health_push_ms=100))
    srv, url = await _server(nursery, cfg, ManualClock(T0))
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        _, health = await op.next_event("health:update", timeout=5)
        services = health["services"]
        assert {"judge", "ledger", "feed", "schedule"} <= set(services)
        # The contest's processing services, each a supervised side task of its own.
        assert {services[n]["state"] for n in ("contest-evaluation", "contest-rake", "contest-referrals")} \
            == {"active"}
        assert all(set(v) == {"state", "failures"} for v in services.values())
        await trio.sleep(0.3)
        assert not [t for t, _ in alice.drain_events() if t == "health:update"]


async def test_a_failing_evaluation_service_shows_in_health_and_recovers(nursery, tmp_path):
    """The evaluation service fails (its breaker here: 2 failures, 1 s
    reset): the health says circuit_open, nothing is paid; once it answers,
    the contest is evaluated and paid, and the health says active."""
    clock = ManualClock(T0)
    cfg = _config(tmp_path, evaluation_failure_threshold=2, evaluation_reset_s=1, service_retry_ms=50)
    srv, url = await _server(nursery, cfg, clock)
    task = srv.mode_tasks["contest-evaluation"]
    assert task.supervisor.failure_threshold == 2 and task.supervisor.reset_after == 1.0
    real, failures = task.handler.run, [3]

    async def unreachable(effect):
        if failures[0]:
            failures[0] -= 1
            raise OSError("evaluation store unreachable")
        return await real(effect)

    task.handler.run = unreachable
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        bob = await stack.enter_async_context(player(url))
        cid = (await op.request("contest.create", _terms()))["contest"]
        await join(alice, cid, _pf((TOKENS[0], 10_000)))
        await join(bob, cid, _pf((TOKENS[1], 10_000)))
        await wait_until(lambda: len(_contest(srv, cid).entries) == 2)
        clock.set(START)
        await alice.next_event("contest:started", timeout=10)
        clock.set(END)
        await wait_until(lambda: srv.service_health()["contest-evaluation"]["state"] == "circuit_open", timeout=10)
        c = _contest(srv, cid)
        assert c.state == "evaluating" and c.end_prices is not None
        assert await srv.ledger.account_balance(f"escrow:{cid}") == 200
        _, ended = await bob.next_event("contest:ended", timeout=15)
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        assert failures == [0] and srv.service_health()["contest-evaluation"] == {"state": "active", "failures": 0}
        assert [[r["wallet"], r["score_bps"]] for r in ended["rankings"]] == rules_standings(c)
        assert await srv.ledger.account_balance(f"escrow:{cid}") == 0


def rules_standings(c) -> list:
    return [list(r) for r in rules.standings(c.start_prices, c.end_prices,
                                             [(w, e.portfolio) for w, e in c.entries.items()])]


async def test_a_followed_referral_link_counts_a_click_and_redirects(nursery, tmp_path):
    from test_web_pages import get

    srv, url = await _server(nursery, _config(tmp_path), ManualClock(T0))
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    async with AsyncExitStack() as stack:
        ref = await stack.enter_async_context(player(url, faucet=False))
        code = (await ref.request("referral.code", {}))["code"]
        status, headers, _ = await get(port, f"/r/{code}")
        assert status == 303 and headers["location"] == f"/contest/?ref={code}"
        await wait_until(lambda: srv.state.modes["contest"].referrals.get(ref.wallet, {}).get("clicks") == 1)
        assert (await ref.request("referral.stats", {}))["clicks"] == 1
        # Unknown and hostile links: nothing counted.
        assert (await get(port, "/r/ZZZZZZZZZZ"))[1]["location"] == "/contest/"
        assert (await get(port, "/r/%3Cscript%3E"))[0] == 404
        assert (await get(port, "/r/" + "A" * 500))[0] == 404
        assert (await get(port, f"/r/{code}", method="HEAD"))[0] == 303
        await trio.sleep(0.2)
        assert (await ref.request("referral.stats", {}))["clicks"] == 1


class JupiterTokens:
    """The Jupiter Tokens API v2 search on 127.0.0.1
    (`/tokens/v2/search?query=<mints>` -> a JSON array of token objects with
    `id`, `name`, `symbol`, `decimals`, `isVerified`, and more that Arena
    ignores); `unverified` mints answer isVerified false, `gone` ones are
    missing from the answer."""

    def __init__(self):
        self.unverified: set = set()
        self.gone: set = set()

    def __call__(self, path: str):
        mints = parse_qs(urlsplit(path).query)["query"][0].split(",")
        symbols = dict((m, s) for m, s in ((t, s) for t, s in whitelist(ContestConfig().tokens)))
        doc = [{"id": m, "name": f"{symbols.get(m, 'X')} token", "symbol": symbols.get(m, "X"), "decimals": 6,
                "icon": "https://example.invalid/i.png", "tags": ["verified"], "usdPrice": 1.5,
                "isVerified": m not in self.unverified, "organicScore": 90.1}
               for m in mints if m not in self.gone]
        return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()


async def test_token_sync_from_a_jupiter_token_list_delists_and_shows_metadata(nursery, tmp_path):
    tokens = JupiterTokens()
    tokens.unverified.add(TOKENS[3])
    tokens.gone.add(TOKENS[5])
    with FeedSources() as sources:
        sources.handlers["jup"] = tokens
        feed = FeedConfig(kind="http", consensus="first", deadline_ms=1_000, timeout_ms=500, retry_ms=100,
                          sources=(FeedSourceConfig(
                              name="jupiter", format="jupiter_tokens",
                              url=f"http://127.0.0.1:{sources.port}/jup/tokens/v2/search?query={{tokens}}"),))
        clock = ManualClock(T0)
        srv, url = await _server(nursery, _config(tmp_path, feeds={"tokens": feed}, token_feed="tokens",
                                                  token_sync_ms=30_000), clock)
        async with AsyncExitStack() as stack:
            op = await _operator(srv, url, stack)
            alice = await stack.enter_async_context(player(url))
            cid = (await op.request("contest.create", _terms(tokens=TOKENS[:4])))["contest"]  # before any sync
            await wait_until(lambda: srv.state.modes["contest"].market.synced_at_ms > 0, timeout=10)
            listed = {t["token"]: t for t in (await alice.request("contest.tokens", {}))["tokens"]}
            assert [t for t in TOKENS if not listed[t]["listed"]] == [TOKENS[3], TOKENS[5]]
            assert listed[TOKENS[0]]["meta"] == {"symbol": "SOL", "decimals": 6, "name": "SOL token"}
            assert listed[TOKENS[5]]["meta"] == {"symbol": "", "decimals": 0, "name": ""}
            # Delisted: not in a new contest, not in a new portfolio; the contest holding it goes on.
            assert await _code(op, "contest.create", _terms(tokens=[TOKENS[0], TOKENS[3]])) == "bad_request"
            assert await _code(alice, "contest.join.build",
                               {"contest": cid, "portfolio": _pf((TOKENS[3], 10_000))}) == "bad_request"
            assert (await join(alice, cid, _pf((TOKENS[0], 10_000))))["status"] == "confirmed"
            assert (await alice.request("contest.get", {"contest": cid}))["terms"]["tokens"] == TOKENS[:4]
            # Listed again at the next sync (30 s of engine time later).
            tokens.unverified.clear()
            synced = srv.state.modes["contest"].market.synced_at_ms
            clock.set(T0 + 31_000)
            await wait_until(lambda: srv.state.modes["contest"].market.synced_at_ms > synced, timeout=10)
            listed = {t["token"]: t["listed"] for t in (await alice.request("contest.tokens", {}))["tokens"]}
            assert listed[TOKENS[3]] and not listed[TOKENS[5]]
            assert sources.hits["jup"] >= 2
