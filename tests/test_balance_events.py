"""`wallet:updated`: a connected wallet hears of every balance change the
ledger has applied (entry fee, tip, payout, refund), with its new balance,
so a client never polls; a disconnected one gets nothing (and nothing fails)."""

from __future__ import annotations

import trio

from conftest import player
from test_e2e_support import TIMEOUT, queue_pair

FAUCET = 10_000


async def updates(client, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        _, body = await client.next_event("wallet:updated", timeout=TIMEOUT)
        out.append(body)
    return out


async def test_entry_refund_and_tip_each_send_the_new_balance(arena_server):
    server, url = await arena_server(roast={"entry_deadline_ms": 600})
    async with player(url) as a, player(url) as b:
        match, fee = await queue_pair(a, b)
        await a.pay_entry(match)  # b never pays: the battle is cancelled, a refunded
        (paid,) = await updates(a, 1)
        assert paid["change"] == -fee and paid["balance"] == FAUCET - fee and paid["reason"] == "entry"
        (refund,) = await updates(a, 1)
        assert refund == {"balance": FAUCET, "change": fee, "reason": "cancelled", "key": f"refund:{match}"}
        assert await a.balance() == refund["balance"]  # the event came after the ledger applied it

        await a.tip(b.wallet, 1000)
        (sent,) = await updates(a, 1)
        (got,) = await updates(b, 1)
        assert sent["change"] == -1000 and sent["balance"] == FAUCET - 1000 and sent["reason"] == "tip_sent"
        assert got["change"] == 980 and got["balance"] == FAUCET + 980 and got["reason"] == "tip_received"
        assert sent["key"] == got["key"]


async def test_a_payout_reaches_the_winner_after_it_landed_and_nobody_else(arena_server):
    server, url = await arena_server(roast={"rounds": 1, "time_limit_ms": 30_000})
    async with player(url) as a, player(url) as b:
        match, fee = await queue_pair(a, b)
        for c in (a, b):
            await c.pay_entry(match)
        await updates(a, 1)
        await updates(b, 1)
        for c in (a, b):
            await c.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        await trio.sleep(0.2)
        await a.submit(match, 1, "Your wifi is so slow even your excuses buffer before they arrive!")
        await b.submit(match, 1, "meh")
        _, end = await a.next_event("battle:ended", match=match, timeout=TIMEOUT)
        (won,) = await updates(a, 1)
        assert won == {"balance": FAUCET - fee + end["prizeAmount"], "change": end["prizeAmount"],
                       "reason": "completed", "key": f"payout:{match}"}
        await trio.sleep(0.3)
        assert not [t for t, _, _ in b.events_seen if t == "wallet:updated"][1:]  # only b's own entry fee
