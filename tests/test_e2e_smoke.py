"""The shortest end-to-end path: two clients over real sockets play a battle."""

import trio

from conftest import player


async def test_two_clients_play_a_full_battle(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        await a.queue("bronze")
        await b.queue("bronze")
        _, found_a = await a.next_event("match.found")
        _, found_b = await b.next_event("match.found")
        match = found_a["match"]
        assert found_b["match"] == match
        assert found_a["opponent"] == b.wallet and found_b["opponent"] == a.wallet
        assert found_a["players"] == [a.wallet, b.wallet]
        fee = found_a["entry_fee"]
        assert await a.pay_entry(match) == "confirmed"
        assert await b.pay_entry(match) == "confirmed"
        texts = {a: "Your {p} energy is so weak even your echo gives up halfway!",
                 b: "meh"}
        for rnd in (1, 2, 3):
            for c in (a, b):
                _, start = await c.next_event("battle:round_start", match=match)
                assert start["roundNumber"] == rnd
            # The recording window opens after the countdown.
            await trio.sleep(0.25)
            await a.submit(match, rnd, texts[a].format(p=start["prompt"]))
            await b.submit(match, rnd, texts[b])
            for c in (a, b):
                for _ in range(2):
                    _, sc = await c.next_event("battle:score_revealed", match=match)
                    assert sc["roundNumber"] == rnd
                    assert sc["score"] == sum(sc["breakdown"].values())
        _, end_a = await a.next_event("battle:ended", match=match)
        _, end_b = await b.next_event("battle:ended", match=match)
        assert end_a == end_b
        assert end_a["reason"] == "completed"
        assert end_a["winnerId"] == a.wallet
        pool = 2 * fee
        assert end_a["prizeAmount"] == pool - pool * 500 // 10_000
        await trio.sleep(0.3)  # settlement is a side task
        assert await a.balance() == 10_000 - fee + end_a["prizeAmount"]
        assert await b.balance() == 10_000 - fee
        assert a.seq_gaps == [] and b.seq_gaps == []
