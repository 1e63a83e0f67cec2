"""End to end over real sockets: roast battles from match.found to payout.

Full battle watched by a spectator (reactions, events, exact payout and fee
split), a draw, a battle cancelled at the entry deadline, forfeits, resuming
a dropped connection mid-round (with the events still held, and with them
gone), and a session taken over by another connection. Money is checked to
the base unit against the embedded ledger's book after every battle.
"""

from __future__ import annotations

import trio

from arena.client import open_client
from conftest import player, wait_until
from test_e2e_support import (
    BLANK,
    FAUCET,
    GOOD,
    TIMEOUT,
    money,
    play_round,
    queue_pair,
    settled,
    start_battle,
    wait_phase,
)

SNAPSHOT_KEYS = {"mode", "tier", "phase", "round", "rounds", "players", "entry_fee", "paid", "prompt",
                 "submitted", "scores", "deadline_ms", "disconnected", "reactions", "watchers"}


def payout(fee: int) -> tuple[int, int, int]:
    """(prize, creator share, partner share) of a battle with entry fee `fee`."""
    pool = 2 * fee
    platform = pool * 500 // 10_000
    partner = platform * 2_500 // 10_000
    return pool - platform, platform - partner, partner


async def balances(server, *wallets) -> list[int]:
    return [await server.ledger.account_balance(w) for w in wallets]


def types_of(client, skip=("reaction:sent", "wallet:updated")) -> list[str]:
    return [t for t, _, _ in client.events_seen if t not in skip]


async def test_full_battle_with_spectator_reactions_and_exact_payout(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b, player(url, faucet=False) as w:
        match, fee = await queue_pair(a, b, "silver")
        assert fee == 500
        _, found = a.events_seen[0][:2]
        assert found == {"match": match, "mode": "roast", "tier": "silver", "players": [a.wallet, b.wallet],
                         "opponent": b.wallet, "entry_fee": 500, "entry_deadline_ms": 5_000}

        # match.watch: the reply, then a match.snapshot event.
        assert await w.watch(match) == {}
        _, snap = await w.next_event("match.snapshot", match=match, timeout=TIMEOUT)
        assert set(snap) == {"match", "tick", "state"} and isinstance(snap["tick"], int)
        state = snap["state"]
        assert set(state) == SNAPSHOT_KEYS
        assert state["phase"] == "entry" and state["players"] == [a.wallet, b.wallet]
        assert state["paid"] == [] and state["watchers"] == 1 and state["rounds"] == 3
        assert state["entry_fee"] == 500 and state["prompt"] is None

        assert await a.pay_entry(match) == "confirmed"
        for c in (a, b):
            _, ev = await c.next_event("entry.confirmed", match=match, timeout=TIMEOUT)
            assert ev == {"match": match, "player": a.wallet}
        assert await b.pay_entry(match) == "confirmed"
        assert await balances(server, a.wallet, b.wallet, f"escrow:{match}") == [9_500, 9_500, 1_000]

        totals = {a.wallet: 0, b.wallet: 0}
        for rnd in (1, 2, 3):
            if rnd == 2:
                # Reactions from the spectator and a player; counts per emoji.
                assert await w.react(match, "🔥") == {}
                assert await w.react(match, "🔥") == {}
                assert await a.react(match, "🔥") == {}
                assert await b.react(match, "😂") == {}
            scores = await play_round(server, a, b, match, rnd, watchers=(w,))
            for s in scores:
                totals[s["playerId"]] += s["score"]
                assert set(s["breakdown"]) == {"savagery", "creativity", "delivery", "relevance"}
                assert all(0 <= v <= 10 for v in s["breakdown"].values())
                assert isinstance(s["commentary"], str)
            for c in (a, b, w):
                subs = [await c.next_event("battle:roast_submitted", match=match, timeout=TIMEOUT)
                        for _ in range(2)]
                assert [e["playerId"] for _, e in subs] == [a.wallet, b.wallet]
                assert all(e["audioUrl"] is None and isinstance(e["timestamp"], int) for _, e in subs)
        assert totals[a.wallet] > 0 and totals[b.wallet] == 0

        ends = [(await c.next_event("battle:ended", match=match, timeout=TIMEOUT))[1] for c in (a, b, w)]
        assert ends[0] == ends[1] == ends[2]
        prize, creator, partner = payout(fee)
        assert (prize, creator, partner) == (950, 38, 12)
        assert ends[0] == {"match": match, "winnerId": a.wallet, "prizeAmount": prize, "reason": "completed",
                           "finalScores": {"player1": totals[a.wallet], "player2": totals[b.wallet]}}

        for c in (a, b, w):
            reacts = [e for t, e, _ in c.events_seen if t == "reaction:sent"]
            assert [(e["emoji"], e["count"], e["senderId"]) for e in reacts] == [
                ("🔥", 1, w.wallet), ("🔥", 2, w.wallet), ("🔥", 3, a.wallet), ("😂", 1, b.wallet)]
            assert c.seq_gaps == []
        per_round = ["battle:round_start", "battle:roast_submitted", "battle:roast_submitted",
                     "battle:score_revealed", "battle:score_revealed"]
        assert types_of(a) == ["match.found", "entry.confirmed", "entry.confirmed"] + per_round * 3 + ["battle:ended"]
        assert types_of(w) == ["match.snapshot"] + per_round * 3 + ["battle:ended"]

        await settled(server)
        assert await a.balance() == FAUCET - fee + prize
        assert await b.balance() == FAUCET - fee
        assert await w.balance() == 0
        assert await balances(server, "fee:creator", "fee:partner", f"escrow:{match}") == [creator, partner, 0]
        book = money(server)
        assert sum(v for k, v in book.items() if not k.startswith("mint:")) == 2 * FAUCET
        # The battle is over: nothing about it is accepted any more.
        assert (await w.request_raw("match.watch", {"match": match}))[1]["code"] == "not_found"
        assert (await a.request_raw("roast.submit", {"match": match, "round": 3, "text": "x"}))[1]["code"] == "not_found"


async def test_payout_fee_split_for_every_tier(arena_server):
    """The fee split floors the partner share and gives the remainder to the creator."""
    server, url = await arena_server(
        roast={"rounds": 1, "tiers": {"bronze": 1, "silver": 333, "gold": 2_001, "diamond": 9_999}})
    expected_creator = expected_partner = 0
    for tier, fee in (("bronze", 1), ("silver", 333), ("gold", 2_001), ("diamond", 9_999)):
        async with player(url) as a, player(url) as b:
            match, got_fee = await start_battle(a, b, tier)
            assert got_fee == fee
            await play_round(server, a, b, match, 1)
            _, end = await a.next_event("battle:ended", match=match, timeout=TIMEOUT)
            prize, creator, partner = payout(fee)
            assert end["winnerId"] == a.wallet and end["prizeAmount"] == prize
            await settled(server)
            assert await a.balance() == FAUCET - fee + prize
            assert await b.balance() == FAUCET - fee
            expected_creator += creator
            expected_partner += partner
            assert await balances(server, "fee:creator", "fee:partner") == [expected_creator, expected_partner]
    assert (expected_creator, expected_partner) == (0 + 25 + 150 + 750, 0 + 8 + 50 + 249)
    money(server)


async def test_draw_refunds_both_players(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        match, fee = await start_battle(a, b, "gold")
        for rnd in (1, 2, 3):
            scores = await play_round(server, a, b, match, rnd, text_a=BLANK, text_b=BLANK)
            assert [s["score"] for s in scores] == [0, 0]
        for c in (a, b):
            _, end = await c.next_event("battle:ended", match=match, timeout=TIMEOUT)
            assert end == {"match": match, "winnerId": None, "prizeAmount": 0, "reason": "completed",
                           "finalScores": {"player1": 0, "player2": 0}}
        await settled(server)
        assert await a.balance() == FAUCET and await b.balance() == FAUCET
        assert await balances(server, "fee:creator", "fee:partner", f"escrow:{match}") == [0, 0, 0]
        money(server)


async def test_entry_deadline_with_one_payment_cancels_and_refunds_in_full(arena_server):
    server, url = await arena_server(roast={"entry_deadline_ms": 2_500})
    async with player(url) as a, player(url) as b:
        match, fee = await queue_pair(a, b, "diamond")
        assert fee == 10_000
        assert await a.pay_entry(match) == "confirmed"
        assert await a.balance() == 0
        late = await b.request("entry.build", {"match": match})
        for c in (a, b):
            _, end = await c.next_event("battle:ended", match=match, timeout=TIMEOUT)
            assert end == {"match": match, "winnerId": None, "prizeAmount": 0, "reason": "cancelled",
                           "finalScores": {"player1": 0, "player2": 0}}
        await settled(server)
        assert await a.balance() == FAUCET and await b.balance() == FAUCET
        assert await balances(server, f"escrow:{match}", "fee:creator", "fee:partner") == [0, 0, 0]
        # Too late: the battle is gone, nothing is charged.
        status, body = await b.request_raw("entry.confirm", {"match": match, "tx": late["tx"],
                                                             "signature": b.sign(late["tx"])})
        assert (status, body["code"]) == ("error", "not_found")
        assert await b.balance() == FAUCET
        # Both players may queue again.
        assert await a.queue("bronze") == {"queued": True}
        assert await b.queue("bronze") == {"queued": True}
        await a.next_event("match.found", timeout=TIMEOUT)
        money(server)


async def test_entry_deadline_with_no_payment_cancels(arena_server):
    server, url = await arena_server(roast={"entry_deadline_ms": 500})
    async with player(url) as a, player(url) as b:
        match, _ = await queue_pair(a, b)
        _, end = await a.next_event("battle:ended", match=match, timeout=TIMEOUT)
        assert end["reason"] == "cancelled" and end["winnerId"] is None and end["prizeAmount"] == 0
        await settled(server)
        assert await a.balance() == FAUCET and await b.balance() == FAUCET
        money(server)


async def test_forfeit_after_the_grace_period(arena_server):
    server, url = await arena_server(roast={"disconnect_grace_ms": 500, "time_limit_ms": 60_000})
    async with player(url) as b:
        async with player(url) as a:
            match, fee = await start_battle(a, b, "silver")
            await play_round(server, a, b, match, 1)
            await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
            await wait_phase(server, match, "recording", 2)
            assert await b.submit(match, 2, GOOD.format(p="x")) == {}
            await a.close()
        _, end = await b.next_event("battle:ended", match=match, timeout=TIMEOUT)
        prize, creator, partner = payout(fee)
        assert end["reason"] == "forfeit" and end["winnerId"] == b.wallet and end["prizeAmount"] == prize
        assert end["finalScores"]["player2"] == 0  # round 2 was never scored
        await settled(server)
        assert await b.balance() == FAUCET - fee + prize
        assert await balances(server, a.wallet, "fee:creator", "fee:partner", f"escrow:{match}") == [
            FAUCET - fee, creator, partner, 0]
        assert b.seq_gaps == []
        money(server)


async def test_forfeit_after_an_abrupt_network_drop(arena_server):
    server, url = await arena_server(roast={"disconnect_grace_ms": 300, "time_limit_ms": 60_000})
    async with player(url) as a:
        async with player(url) as b:
            match, fee = await start_battle(a, b)
            await b.next_event("battle:round_start", match=match, timeout=TIMEOUT)
            await wait_phase(server, match, "recording", 1)
            await b.abort()  # no closing handshake
            _, end = await a.next_event("battle:ended", match=match, timeout=TIMEOUT)
        assert end["reason"] == "forfeit" and end["winnerId"] == a.wallet
        await settled(server)
        assert await a.balance() == FAUCET - fee + payout(fee)[0]
        money(server)


async def test_both_players_gone_cancels_with_refunds(arena_server):
    server, url = await arena_server(roast={"disconnect_grace_ms": 300, "time_limit_ms": 60_000})
    async with player(url, faucet=True) as a, player(url) as b:
        match, fee = await start_battle(a, b, "gold")
        await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        await wait_phase(server, match, "recording", 1)
        await a.close()
        await b.close()
    await wait_until(lambda: match not in server.state.matches, timeout=TIMEOUT)
    await settled(server)
    assert await balances(server, a.wallet, b.wallet, f"escrow:{match}", "fee:creator") == [FAUCET, FAUCET, 0, 0]
    money(server)


async def test_a_player_back_within_grace_does_not_forfeit(arena_server):
    server, url = await arena_server(roast={"disconnect_grace_ms": 30_000, "time_limit_ms": 60_000})
    async with player(url) as b:
        async with player(url) as a:
            match, fee = await start_battle(a, b)
            await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
            await wait_phase(server, match, "recording", 1)
            session = a.session
            await a.close()
        await wait_until(lambda: a.wallet in server.state.matches[match].gone_until, timeout=TIMEOUT)
        async with open_client(url, keypair=a.keypair) as a2:
            assert (await a2.resume(session, a.last_seq))["resumed"] is True
            await wait_until(lambda: not server.state.matches[match].gone_until, timeout=TIMEOUT)
            assert await a2.submit(match, 1, GOOD.format(p="x")) == {}
            assert await b.submit(match, 1, BLANK) == {}
            for rnd in (2, 3):
                await play_round(server, a2, b, match, rnd)
            _, end = await b.next_event("battle:ended", match=match, timeout=TIMEOUT)
            assert end["reason"] == "completed" and end["winnerId"] == a.wallet
            assert a2.seq_gaps == [] and b.seq_gaps == []


async def test_resume_mid_round_replays_missed_events_in_order(arena_server):
    server, url = await arena_server(roast={"disconnect_grace_ms": 30_000, "time_limit_ms": 60_000})
    async with player(url) as b:
        async with player(url) as a:
            match, fee = await start_battle(a, b, "silver")
            await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
            await wait_phase(server, match, "recording", 1)
            assert await a.submit(match, 1, GOOD.format(p="x")) == {}
            await a.next_event("battle:roast_submitted", match=match, timeout=TIMEOUT)
            session, last_seq = a.session, a.last_seq
            assert a.seq_gaps == []
            await a.close()
        # While a is away: b's roast, both scores, round 2 starts.
        await wait_until(lambda: a.wallet in server.state.matches[match].gone_until, timeout=TIMEOUT)
        assert await b.submit(match, 1, BLANK) == {}
        await b.next_event("battle:round_start", match=match, where=lambda e: e["roundNumber"] == 2,
                           timeout=TIMEOUT)
        sess = server.gateway.sessions.get(session)
        missed = sess.seq - last_seq
        assert missed == 4

        async with open_client(url, keypair=a.keypair) as a2:
            reply = await a2.resume(session, last_seq)
            assert reply == {"resumed": True, "replayed": missed}
            got = [await a2.next_event(timeout=TIMEOUT) for _ in range(missed)]
            assert [t for t, _ in got] == ["battle:roast_submitted", "battle:score_revealed",
                                           "battle:score_revealed", "battle:round_start"]
            assert got[0][1]["playerId"] == b.wallet and got[3][1]["roundNumber"] == 2
            assert a2.seq_gaps == [] and a2.last_seq == last_seq + missed
            # Nothing replayed twice, no snapshot on this path.
            assert a2.buffered == []
            # The battle goes on with the new connection.
            await wait_phase(server, match, "recording", 2)
            assert await a2.submit(match, 2, GOOD.format(p="x")) == {}
            assert await b.submit(match, 2, BLANK) == {}
            await play_round(server, a2, b, match, 3)
            _, end = await a2.next_event("battle:ended", match=match, timeout=TIMEOUT)
            assert end["reason"] == "completed" and end["winnerId"] == a.wallet
            assert a2.seq_gaps == [] and b.seq_gaps == []
            await settled(server)
            assert await a2.balance() == FAUCET - fee + payout(fee)[0]
    money(server)


async def test_resume_when_events_are_gone_sends_a_fresh_snapshot(arena_server):
    server, url = await arena_server(net={"event_buffer": 2},
                                     roast={"disconnect_grace_ms": 30_000, "time_limit_ms": 60_000})
    async with player(url) as b:
        async with player(url) as a:
            match, fee = await start_battle(a, b)
            await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
            await wait_phase(server, match, "recording", 1)
            assert await a.submit(match, 1, GOOD.format(p="x")) == {}
            await a.next_event("battle:roast_submitted", match=match, timeout=TIMEOUT)
            session, last_seq = a.session, a.last_seq
            await a.close()
        await wait_until(lambda: a.wallet in server.state.matches[match].gone_until, timeout=TIMEOUT)
        assert await b.submit(match, 1, BLANK) == {}
        await b.next_event("battle:round_start", match=match, where=lambda e: e["roundNumber"] == 2,
                           timeout=TIMEOUT)
        sess = server.gateway.sessions.get(session)
        assert sess.seq - last_seq == 4  # more than the 2 events kept

        async with open_client(url, keypair=a.keypair) as a2:
            assert await a2.resume(session, last_seq) == {"resumed": True, "replayed": 0}
            _, snap = await a2.next_event("match.snapshot", match=match, timeout=TIMEOUT)
            # seq continues from where the session stands: no restart, no reuse.
            assert a2.events_seen[-1][2] == last_seq + 5
            assert a2.seq_gaps == [(last_seq + 1, last_seq + 5)]
            assert a2.buffered == []
            state = snap["state"]
            assert state["round"] == 2 and state["phase"] in ("countdown", "recording")
            assert state["players"] == [a.wallet, b.wallet] and state["paid"] == [a.wallet, b.wallet]
            assert state["scores"]["player2"] == 0 and state["scores"]["player1"] > 0
            assert state["submitted"] == []
            # Play on to the end on the new connection: seq goes on without gaps.
            await wait_phase(server, match, "recording", 2)
            assert await a2.submit(match, 2, GOOD.format(p="x")) == {}
            assert await b.submit(match, 2, BLANK) == {}
            await play_round(server, a2, b, match, 3)
            _, end = await a2.next_event("battle:ended", match=match, timeout=TIMEOUT)
            assert end["reason"] == "completed" and end["winnerId"] == a.wallet
            assert a2.seq_gaps == [(last_seq + 1, last_seq + 5)]
            assert b.seq_gaps == []
    await settled(server)
    money(server)


async def test_resume_takes_over_a_live_connection(arena_server):
    server, url = await arena_server(roast={"disconnect_grace_ms": 500, "time_limit_ms": 60_000})
    async with player(url) as a, player(url) as b:
        match, fee = await start_battle(a, b)
        await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        await wait_phase(server, match, "recording", 1)
        async with open_client(url, keypair=a.keypair) as a2:
            reply = await a2.resume(a.session, a.last_seq)
            assert reply["resumed"] is True
            assert await a.wait_closed(timeout=TIMEOUT) == 4000
            # The wallet never went offline: no forfeit, even well past the grace period.
            assert not server.state.matches[match].gone_until
            assert await a2.submit(match, 1, GOOD.format(p="x")) == {}
            assert await b.submit(match, 1, BLANK) == {}
            await trio.sleep(1.0)
            assert match in server.state.matches
            for rnd in (2, 3):
                await play_round(server, a2, b, match, rnd)
            _, end = await b.next_event("battle:ended", match=match, timeout=TIMEOUT)
            assert end["reason"] == "completed" and end["winnerId"] == a.wallet
            assert a2.seq_gaps == [] and b.seq_gaps == []
    await settled(server)
    money(server)


async def pair_watched_by(a, b, w) -> tuple[str, str, int]:
    """a and b matched, w watching: (match, w's session, w's last seq)."""
    match, _ = await queue_pair(a, b)
    assert await w.watch(match) == {}
    await w.next_event("match.snapshot", match=match, timeout=TIMEOUT)
    return match, w.session, w.last_seq


async def test_watcher_receives_a_snapshot_on_resume_too(arena_server):
    server, url = await arena_server(net={"event_buffer": 1}, roast={"time_limit_ms": 60_000})
    async with player(url) as a, player(url) as b:
        async with player(url, faucet=False) as w:
            match, session, last_seq = await pair_watched_by(a, b, w)
            # Keep the watcher's wallet online through a second connection so
            # the session's events keep flowing while this one is away.
            async with open_client(url, keypair=w.keypair) as w_other:
                await w_other.login()
                await w.close()
                await a.pay_entry(match)
                await b.pay_entry(match)
                await a.react(match, "👏")
                await a.react(match, "👏")
                await w_other.next_event("reaction:sent", where=lambda e: e["count"] == 2, timeout=TIMEOUT)
                assert server.gateway.sessions.get(session).seq >= last_seq + 3
                async with open_client(url, keypair=w.keypair) as w2:
                    assert await w2.resume(session, last_seq) == {"resumed": True, "replayed": 0}
                    _, snap = await w2.next_event("match.snapshot", match=match, timeout=TIMEOUT)
                    assert snap["state"]["reactions"] == {"👏": 2}
                    assert snap["state"]["paid"] == [a.wallet, b.wallet]


async def test_a_watcher_that_drops_and_resumes_still_watches(arena_server):
    """A spectator's only connection drops: the battle's events wait in its
    session and a resume replays them; it can react again afterwards."""
    server, url = await arena_server(roast={"time_limit_ms": 60_000})
    async with player(url) as a, player(url) as b:
        async with player(url, faucet=False) as w:
            match, session, last_seq = await pair_watched_by(a, b, w)
            await w.close()
            await a.react(match, "👏")
            await a.next_event("reaction:sent", where=lambda e: e["count"] == 1, timeout=TIMEOUT)
            assert server.gateway.sessions.get(session).seq == last_seq + 1  # kept for the watcher
            async with open_client(url, keypair=w.keypair) as w2:
                assert await w2.resume(session, last_seq) == {"resumed": True, "replayed": 1}
                _, ev = await w2.next_event("reaction:sent", timeout=TIMEOUT)
                assert ev == {"match": match, "emoji": "👏", "senderId": a.wallet, "count": 1}
                assert await w2.react(match, "🔥") == {}
                await a.next_event("reaction:sent", where=lambda e: e["emoji"] == "🔥", timeout=TIMEOUT)


async def test_audio_roasts_are_stored_only_when_accepted(arena_server, tmp_path):
    """A refused audio submission stores nothing and never replaces the accepted audio."""
    server, url = await arena_server(roast={"time_limit_ms": 60_000})
    media = tmp_path / "media"

    def stored():
        return {p.relative_to(media).as_posix(): p.read_bytes() for p in media.rglob("*.webm")}

    def sub(match, rnd, audio, text="listen to this"):
        return {"match": match, "round": rnd, "text": text, "audio": audio}

    async with player(url) as a, player(url) as b, player(url) as x:
        match, _ = await start_battle(a, b)
        codes = {}
        codes["countdown"] = await a.request_raw("roast.submit", sub(match, 1, b"early"))
        await wait_phase(server, match, "recording", 1)
        for rnd in (0, 2, 999, -3, 2**40):
            codes[rnd] = await a.request_raw("roast.submit", sub(match, rnd, b"wrong round"))
        codes["stranger"] = await x.request_raw("roast.submit", sub(match, 1, b"not a player"))
        codes["long text"] = await a.request_raw("roast.submit", sub(match, 1, b"long", "x" * 2_001))
        assert {k: v[1]["code"] for k, v in codes.items()} == {
            "countdown": "wrong_state", 0: "wrong_state", 2: "wrong_state", 999: "wrong_state",
            -3: "wrong_state", 2**40: "wrong_state", "stranger": "not_allowed", "long text": "bad_request"}
        assert stored() == {}

        assert await a.submit(match, 1, "hear me", audio=b"first take") == {}
        status, body = await a.request_raw("roast.submit", sub(match, 1, b"second take"))
        assert (status, body["code"]) == ("error", "duplicate")
        assert stored() == {f"audio/{match}/round1_player1.webm": b"first take"}

        # Two audio roasts for one round in one batch: the first wins, the
        # second is a duplicate and does not replace it.
        assert await b.submit(match, 1, BLANK) == {}
        await wait_phase(server, match, "recording", 2)
        r = await b.request_batch([("roast.submit", sub(match, 2, b"take one")),
                                   ("roast.submit", sub(match, 2, b"take two"))])
        assert r[0] == {} and r[1].code == "duplicate"
        assert stored()[f"audio/{match}/round2_player2.webm"] == b"take one"
        _, ev = await a.next_event("battle:roast_submitted", match=match,
                                   where=lambda e: e["playerId"] == b.wallet and e["audioUrl"], timeout=TIMEOUT)
        assert ev["audioUrl"].endswith(f"{match}/round2_player2.webm")


async def test_a_missing_roast_scores_zero_when_the_window_closes(arena_server):
    server, url = await arena_server(roast={"time_limit_ms": 300, "rounds": 1})
    async with player(url) as a, player(url) as b:
        match, fee = await start_battle(a, b)
        await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        await wait_phase(server, match, "recording", 1)
        assert await b.submit(match, 1, GOOD.format(p="x")) == {}
        got = [(await a.next_event("battle:score_revealed", match=match, timeout=TIMEOUT))[1] for _ in range(2)]
        assert got[0]["playerId"] == a.wallet and got[0]["score"] == 0
        assert got[0]["commentary"] == "No roast submitted."
        assert got[1]["score"] > 0
        _, end = await a.next_event("battle:ended", match=match, timeout=TIMEOUT)
        assert end["winnerId"] == b.wallet and end["reason"] == "completed"
        await settled(server)
        assert await b.balance() == FAUCET - fee + payout(fee)[0]
        money(server)


class _HangingJudge:
    """The embedded judge, except that prompts and/or scores never come."""

    name = "hanging"

    def __init__(self, prompts: bool, scores: bool):
        from arena.ai.embedded import EmbeddedJudge

        self.inner = EmbeddedJudge()
        self.hang_prompts, self.hang_scores = prompts, scores

    async def generate_prompt(self, *args, **kwargs):
        if self.hang_prompts:
            await trio.sleep_forever()
        return await self.inner.generate_prompt(*args, **kwargs)

    async def score(self, *args, **kwargs):
        if self.hang_scores:
            await trio.sleep_forever()
        return await self.inner.score(*args, **kwargs)

    def health(self) -> dict:
        return {"judge": self.name, "state": "active"}


async def test_a_judge_that_never_gives_prompts_does_not_stall_the_battle(arena_server):
    # The judge service answers from the embedded judge within the prompt
    # budget (below the engine's prompt_timeout_ms), so the battle goes on.
    # The engine's own prompt deadline (cancel + refunds) is tested in
    # tests/test_engine_roast.py, where no fallback stands in the way.
    server, url = await arena_server(roast={"prompt_timeout_ms": 600, "rounds": 1},
                                     server_kwargs={"judge": _HangingJudge(prompts=True, scores=False)})
    async with player(url) as a, player(url) as b:
        match, fee = await start_battle(a, b, "gold")
        await play_round(server, a, b, match, 1, text_a=GOOD, text_b=GOOD)
        _, end = await a.next_event("battle:ended", match=match, timeout=TIMEOUT)
        assert end["reason"] == "completed"
        starts = [e for t, e, _ in a.events_seen if t == "battle:round_start"]
        assert starts and starts[0]["prompt"]
        await settled(server)
        money(server)
        assert server.health()["side_tasks"]["judge"]["fallbacks"]


async def test_a_judge_that_never_scores_falls_back_in_time(arena_server):
    server, url = await arena_server(roast={"scoring_timeout_ms": 600, "rounds": 1},
                                     server_kwargs={"judge": _HangingJudge(prompts=False, scores=True)})
    async with player(url) as a, player(url) as b:
        match, fee = await start_battle(a, b)
        await play_round(server, a, b, match, 1, text_a=GOOD, text_b=GOOD)
        scores = [e for t, e, _ in a.events_seen if t == "battle:score_revealed"]
        assert len(scores) == 2
        assert all(s["commentary"].startswith("(fallback judge)") for s in scores)
        _, end = await a.next_event("battle:ended", match=match, timeout=TIMEOUT)
        assert end["reason"] == "completed"
        await settled(server)
        money(server)


