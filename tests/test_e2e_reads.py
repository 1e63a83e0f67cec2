"""The platform's reads end to end, over real sockets: boards, history,
profiles after real battles, and match.list during a live one."""

from __future__ import annotations

import io

import pytest
import trio
from PIL import Image

from arena.client import open_client
from arena.engine.clock import now_ms
from arena.engine.periods import week_key
from conftest import player, wait_until
from test_e2e_support import TIMEOUT, error_code, play_battle, queue_pair, wait_phase


def png(w: int = 32, h: int = 32, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), color).save(out, format="PNG")
    return out.getvalue()


async def board(client, name, **kw) -> list[tuple]:
    got = await client.leaderboard(name, **kw)
    assert got["board"] == name
    return [(e["rank"], e["wallet"], e["score"]) for e in got["entries"]]


async def written(server, check, timeout: float = TIMEOUT) -> None:
    """Wait until the store writer has written what `check()` (async) needs."""
    with trio.fail_after(timeout):
        while not await check():
            await trio.sleep(0.05)


@pytest.fixture(params=["embedded", "postgres"])
async def store_kwargs(request):
    """The server's store: the default SQLite file, or PostgreSQL (a schema of its own)."""
    if request.param == "embedded":
        return {}
    from arena.persistence.postgres import PostgresStore

    store = PostgresStore(request.getfixturevalue("pg_schema"))
    await store.migrate()
    return {"store": store}


async def test_boards_history_and_profiles_after_two_battles(arena_server, store_kwargs):
    server, url = await arena_server(server_kwargs=store_kwargs)
    async with player(url) as a, player(url) as b, player(url) as c:
        m1, fee, end1 = await play_battle(server, a, b)
        m2, _, end2 = await play_battle(server, c, b)
        prize = end1["prizeAmount"]
        assert end1["winnerId"] == a.wallet and end2["winnerId"] == c.wallet

        async def both_written():
            return len((await b.history())["matches"]) == 2
        await written(server, both_written)

        # roast.wins: a and c tied on 1 (one rank, wallet order); b never won.
        tied = sorted([a.wallet, c.wallet])
        assert await board(a, "roast.wins") == [(1, tied[0], 1), (1, tied[1], 1)]
        assert await board(a, "roast.earnings") == [(1, tied[0], prize), (1, tied[1], prize)]
        battles = await board(a, "roast.battles")
        assert battles[0] == (1, b.wallet, 2) and sorted(battles[1:]) == [(2, w, 1) for w in tied]
        # This week's boards hold the same battles, under the week's key.
        week = await a.leaderboard("roast.wins", period="week")
        assert week["period"] == "week" and len(week["entries"]) == 2
        assert week["period_key"] == week_key(now_ms(server.state))
        # top N, and the page around a wallet
        assert len(await board(a, "roast.battles", limit=1)) == 1
        assert (await board(a, "roast.battles", limit=1, around=tied[1]))[0][1] == tied[1]

        # b's history, newest first, with the whole result; paged with the cursor.
        hist = await a.history(b.wallet)  # another wallet's history is public
        assert [h["match"] for h in hist["matches"]] == [m2, m1] and hist["next"] is None
        first = hist["matches"][1]
        assert first["mode"] == "roast" and first["ended_at_ms"] > 0
        r = first["result"]
        assert r["winner"] == a.wallet and r["prize"] == prize and r["reason"] == "completed"
        assert r["settlement_key"] == f"payout:{m1}" and r["players"] == [a.wallet, b.wallet]
        # What the ledger did with it (the embedded ledger has no transaction signatures).
        assert r["settlement"] == {"ledger": "embedded", "status": "done", "signature": None}
        assert [rnd["round"] for rnd in r["rounds"]] == [1, 2, 3]
        for rnd in r["rounds"]:
            assert rnd["prompt"] and set(rnd["scores"]) == {a.wallet, b.wallet}
            assert rnd["scores"][b.wallet]["score"] == 0 and rnd["scores"][a.wallet]["commentary"]
        assert sum(x["scores"][a.wallet]["score"] for x in r["rounds"]) == r["scores"][a.wallet]
        page = await b.history(limit=1)
        assert [h["match"] for h in page["matches"]] == [m2] and page["next"]
        rest = await b.history(limit=1, before=page["next"])
        assert [h["match"] for h in rest["matches"]] == [m1]
        assert (await a.history(mode="roast"))["matches"][0]["match"] == m1

        # Profiles: a username, unique regardless of case; an avatar.
        mine = await a.set_profile(username="Ace_1")
        assert mine["username"] == "Ace_1" and mine["stats"]["roast.wins"] == 1
        assert await error_code(b.set_profile(username="ace_1")) == "duplicate"
        assert (await b.profile())["username"] is None
        seen = await b.profile(a.wallet)
        assert seen == {"wallet": a.wallet, "username": "Ace_1", "avatar_url": None,
                        "stats": {"roast.battles": 1, "roast.earnings": prize, "roast.wins": 1}}
        assert [e["username"] for e in (await b.leaderboard("roast.wins"))["entries"]
                if e["wallet"] == a.wallet] == ["Ace_1"]
        with_avatar = await a.set_profile(avatar=png(200, 100))
        assert with_avatar["username"] == "Ace_1" and with_avatar["avatar_url"].startswith("file://")
        stored = Image.open(io.BytesIO(await server.media.fetch(with_avatar["avatar_url"])))
        assert stored.format == "PNG" and stored.size == (200, 100)

        # A later login (either kind) carries the profile's username; a wallet without one gets nil.
        async with open_client(url, keypair=a.keypair) as again:
            assert (await again.login())["user"] == {"id": a.wallet, "wallet": a.wallet, "username": "Ace_1"}
        async with open_client(url, keypair=a.keypair) as again:
            assert (await again.login_siws())["user"]["username"] == "Ace_1"
        async with open_client(url, keypair=b.keypair) as again:
            assert (await again.login())["user"]["username"] is None


async def test_match_list_reads_live_battles(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b, player(url) as w:
        assert await w.list_matches() == []
        match, _ = await queue_pair(a, b)
        listed = await w.list_matches()
        assert len(listed) == 1
        row = listed[0]
        assert row["match"] == match and row["mode"] == "roast" and row["phase"] == "entry"
        assert row["players"] == [a.wallet, b.wallet] and row["watchers"] == 0
        assert row["started_at_ms"] > 0 and row["tier"] == "bronze"
        await w.watch(match)
        await wait_until(lambda: len(server.state.matches[match].watchers) == 1)
        assert (await w.list_matches(phase="entry"))[0]["watchers"] == 1
        assert await w.list_matches(phase="recording") == []
        assert await w.list_matches(limit=1) == [dict(row, watchers=1)]
        # Into the rounds: the list follows the live state.
        assert await a.pay_entry(match) == "confirmed" and await b.pay_entry(match) == "confirmed"
        await wait_phase(server, match, "recording", 1)
        [live] = await w.list_matches(phase="recording")
        assert live["match"] == match and live["round"] == 1 and live["started_at_ms"] == row["started_at_ms"]


async def test_a_tip_sent_while_watching_is_in_the_battles_history(arena_server, store_kwargs):
    from test_e2e_support import play_round, start_battle

    server, url = await arena_server(server_kwargs=store_kwargs)
    async with player(url) as a, player(url) as b, player(url) as fan:
        match, _ = await start_battle(a, b)
        await fan.watch(match)
        status, amount, fee = await fan.tip(a.wallet, 100, match=match)
        assert status == "confirmed"
        _, got = await a.next_event("tip:received", timeout=TIMEOUT)
        assert got == {"from": fan.wallet, "to": a.wallet, "amount": amount, "fee": fee, "match": match}
        # A tip naming no live battle, or none at all, is tied to nothing.
        await fan.tip(a.wallet, 10, match="ro-0000000000000000")
        _, loose = await a.next_event("tip:received", timeout=TIMEOUT)
        assert "match" not in loose
        await fan.tip(a.wallet, 10)
        for rnd in (1, 2, 3):
            await play_round(server, a, b, match, rnd)
        await a.next_event("battle:ended", match=match, timeout=TIMEOUT)

        async def recorded():
            return bool((await a.history())["matches"])

        await written(server, recorded)
        [item] = (await fan.history(a.wallet))["matches"]
        assert item["result"]["tips"] == [{"from": fan.wallet, "to": a.wallet, "amount": amount, "fee": fee}]
        assert await error_code(fan.request("tip.confirm", {"tx": b"x", "signature": b"y", "match": 5})) \
            == "bad_request"
