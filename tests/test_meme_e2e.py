"""Meme rounds over real sockets on the embedded ledger, with the simulated
chain (its height follows a manual clock) and the embedded AI reviewer: an
operator's upload through the pipeline into a round; two viewers who
deposit, watch for a measured time and are charged exactly that (± one
second); a trade mid-round that moves the direct share to the new owner;
the round's pool paid by engagement at the next block; every balance
checked against the ledger. Hostile input is refused with clear codes and
changes nothing."""

from __future__ import annotations

import io
from contextlib import AsyncExitStack

import attrs
import trio
from PIL import Image

from arena.client import ArenaRequestError
from arena.engine.money import bps_of
from arena.feeds import simulated
from arena.modes.meme.settings import MemeConfig
from arena.wallclock import ManualClock
from conftest import make_config, player, wait_until
from test_lottery_e2e import _code, _operator, _server

BLOCK_MS = 1_000
T0 = simulated.GENESIS_MS + 10**6 * BLOCK_MS  # height 1,000,000 at the start


def picture(size=96) -> bytes:
    im = Image.new("RGB", (size, size))
    im.putdata([(x * 2 % 256, y * 2 % 256, (x + y) % 256) for y in range(size) for x in range(size)])
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def noise_png(size: int) -> bytes:
    """A PNG that does not compress: random pixels (from a fixed seed)."""
    import random

    out = io.BytesIO()
    Image.frombytes("RGB", (size, size), random.Random(1).randbytes(3 * size * size)).save(out, "PNG")
    return out.getvalue()


def _config(tmp_path, net=None, **meme):
    base = make_config(tmp_path, net=net)
    settings = MemeConfig(**{"simulated_block_ms": BLOCK_MS, "blocks_per_round": 5, "block_poll_ms": 200,
                             "rate_per_s": 10, "settle_every_s": 600, **meme})
    return attrs.evolve(base, engine=base.engine.with_mode("meme", settings))


async def deposit(c, amount):
    built = await c.request("view.deposit.build", {"amount": amount})
    return await c.request("view.deposit.confirm", {"tx": built["tx"], "signature": c.sign(built["tx"])})


async def watch(c, content, seconds: float) -> None:
    """Beats every half second for `seconds` of real time."""
    with trio.move_on_after(seconds):
        while True:
            await trio.sleep(0.5)
            try:
                await c.request("view.beat", {"content": content})
            except ArenaRequestError:
                raise AssertionError(f"beat refused; events: {c.buffered}") from None


async def wait_for_history(c, rid: str) -> dict:
    """The round in the wallet's `history.get` (written with its tick's journal)."""
    with trio.fail_after(10):
        while True:
            found = [m for m in (await c.request("history.get", {"mode": "meme"}))["matches"] if m["match"] == rid]
            if found:
                return found[0]
            await trio.sleep(0.1)


async def in_next_round(srv, clock, op, c, owner: str, title: str) -> str:
    """Opens the rounds (through `c`), uploads an item owned by `owner`, and
    moves the simulated chain on until the item is in the current round."""
    await _open_round(srv, c)
    cid = (await op.request("content.upload", {"title": title, "media": picture(), "media_type": "image/png",
                                               "owner": owner}))["content"]
    sh = srv.state.modes["meme"]
    await wait_until(lambda: sh.contents[cid].state == "ready")
    clock.advance(5 * BLOCK_MS)
    await wait_until(lambda: sh.round is not None and cid in sh.round.content)
    return cid


async def _open_round(srv, c) -> str:
    await _code(c, "meme.round", {})  # opens the hall; the first height opens the first round
    await wait_until(lambda: srv.state.modes["meme"].round is not None)
    return (await c.request("meme.round", {}))["round"]


async def test_upload_view_trade_and_pool_over_sockets(nursery, tmp_path):
    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path), clock)
    ledger = srv.ledger
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))  # owns the meme at first
        carol = await stack.enter_async_context(player(url))  # buys it mid-round
        v1 = await stack.enter_async_context(player(url))
        v2 = await stack.enter_async_context(player(url))
        first = await _open_round(srv, v1)

        sent = await op.request("content.upload", {"title": "a cat on a keyboard", "media": picture(),
                                                   "media_type": "image/png", "owner": alice.wallet})
        cid = sent["content"]
        assert sent["state"] == "pending"
        _, ready = await op.next_event("content:state", where=lambda b: b["state"] in ("ready", "rejected"))
        assert ready == {"content": cid, "state": "ready", "reason": None}
        info = await v1.request("content.get", {"content": cid})
        assert info["owner"] == alice.wallet and info["quality"] >= 40 and "heuristics" in info["caption"]
        assert info["media_url"].endswith(".png") and info["round"] is None

        clock.advance(5 * BLOCK_MS)  # the round's last block: it ends, the next one has the meme
        _, start = await v1.next_event("round:start", where=lambda b: cid in b["content"], timeout=10)
        rid = start["round"]
        assert rid != first
        r = await v2.request("meme.round", {})
        assert r["content"] == [cid] and r["end_height"] == r["start_height"] + 5

        start_bal = {c: await c.balance() for c in (alice, carol, v1, v2)}
        for c in (v1, v2):
            assert await deposit(c, 500) == {"status": "confirmed", "balance": 500}
        assert (await v1.request("view.start", {"content": cid})) == {"rate_per_s": 10, "balance": 500}
        await v2.request("view.start", {"content": cid})
        async with trio.open_nursery() as beats:
            beats.start_soon(watch, v2, cid, 30)  # v2 watches on through the trade
            t0 = trio.current_time()
            await watch(v1, cid, 3.0)
            stopped = await v1.request("view.stop", {})
            measured = trio.current_time() - t0
            assert abs(stopped["seconds"] - measured) <= 1 and stopped["charged"] == 10 * stopped["seconds"]
            _, ev = await v1.next_event("view:stopped")
            assert ev == {"content": cid, "reason": "stopped"}

            await alice.request("market.list", {"content": cid, "price": 1000})
            built = await carol.request("market.buy.build", {"content": cid})
            assert built["amount"] == 1000 and built["fee"] == 20
            bought = await carol.request("market.buy.confirm", {"content": cid, "tx": built["tx"],
                                                                "signature": carol.sign(built["tx"])})
            assert bought["status"] == "confirmed"
            _, owner = await v2.next_event("ownership:changed", timeout=5)
            assert owner == {"content": cid, "owner": carol.wallet}
            _, traded = await v2.next_event("market:traded")
            assert traded == {"content": cid, "from": alice.wallet, "to": carol.wallet, "price": 1000, "fee": 20}
            sh = srv.state.modes["meme"]
            at_trade = sh.views[v2.wallet].charged
            await trio.sleep(2.5)
            beats.cancel_scope.cancel()
        done = await v2.request("view.stop", {})
        assert done["charged"] >= at_trade + 10

        clock.advance(5 * BLOCK_MS)
        _, ended = await v1.next_event("round:ended", where=lambda b: b["round"] == rid, timeout=10)
        charged = stopped["charged"] + done["charged"]
        pool = ended["pool"]
        assert pool + sh.direct_paid == charged  # every charged second: direct + pool
        assert ended["rewards"] == [{"wallet": carol.wallet, "amount": pool}]  # the owner at the round's end
        history = await wait_for_history(carol, rid)
        assert history["result"] == {"pool": pool, "rewards": ended["rewards"]}
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        gain = {c: await c.balance() - start_bal[c] for c in (alice, carol, v1, v2)}
        assert gain[v1] == gain[v2] == -500  # the deposits; what is not spent stays in the viewing balance
        alice_direct, carol_direct = gain[alice] - 980, gain[carol] + 1000 - pool
        assert alice_direct > 0 and carol_direct > 0  # the direct share moved with the ownership
        assert alice_direct + carol_direct == sh.direct_paid == bps_of(stopped["charged"], 4000) \
            + bps_of(done["charged"], 4000)
        back = await v1.request("view.withdraw", {})
        assert back == {"amount": 500 - stopped["charged"]}
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        assert await v1.balance() == start_bal[v1] - stopped["charged"]  # paid exactly what it watched
        assert await ledger.account_balance("fee:meme") == 20
        escrow = await ledger.account_balance(f"escrow:{sh.hall}")
        assert escrow == sum(sh.balances.values()) == 500 - done["charged"]


async def test_hostile_input_is_refused_and_changes_nothing(nursery, tmp_path):
    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path, net={"max_audio_bytes": 100_000}), clock)
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        alice = await stack.enter_async_context(player(url))
        eve = await stack.enter_async_context(player(url))
        await _open_round(srv, alice)
        sh = srv.state.modes["meme"]
        big = noise_png(250)  # a real PNG, over the 100 kB media limit of this server
        assert 100_000 < len(big) < 1_000_000
        assert await _code(op, "content.upload", {"title": "x", "media": big, "media_type": "image/png"}) \
            == "bad_request"
        png = picture()
        for body, code in [
            ({"title": "x", "media": b"\x89PNG garbage", "media_type": "image/png"}, "bad_request"),
            ({"title": "x", "media": png, "media_type": "image/jpeg"}, "bad_request"),  # not what it claims
            ({"title": "x", "media": png, "media_type": "text/html"}, "bad_request"),
            ({"title": "x", "media": b"not a video at all", "media_type": "video/mp4"}, "bad_request"),
            ({"title": "  ", "media": png, "media_type": "image/png"}, "bad_request"),
            ({"title": "x" * 500, "media": png, "media_type": "image/png"}, "bad_request"),
            ({"title": "x", "media": "text", "media_type": "image/png"}, "bad_request"),
            ({"title": "x", "media": png, "media_type": "image/png", "owner": "fee:meme"}, "bad_request"),
            ({"title": "x", "media": png, "media_type": "image/png", "owner": "0OIl" * 8}, "bad_request"),
            ({"title": "x", "media": png, "media_type": "image/png"}, "bad_request"),  # an operator's key is paid nothing
        ]:
            assert await _code(op, "content.upload", body) == code, body["media_type"]
        assert await _code(eve, "content.upload", {"title": "x", "media": png,
                                                   "media_type": "image/png"}) == "not_allowed"
        assert sh.contents == {}
        cid = (await op.request("content.upload", {"title": "a dog reading the news", "media": png,
                                                   "media_type": "image/png", "owner": alice.wallet}))["content"]
        await wait_until(lambda: sh.contents[cid].state == "ready")
        clock.advance(5 * BLOCK_MS)
        await wait_until(lambda: sh.round is not None and cid in sh.round.content)
        before = await eve.balance()
        assert await _code(eve, "view.start", {"content": cid}) == "insufficient_funds"  # no deposit
        assert await _code(eve, "view.start", {"content": "me-nope"}) == "not_found"
        assert await _code(eve, "view.beat", {"content": cid}) == "wrong_state"  # not watching
        assert await _code(eve, "view.stop", {}) == "wrong_state"
        assert await _code(eve, "market.list", {"content": cid, "price": 5}) == "not_allowed"
        assert await _code(eve, "market.buy.build", {"content": cid}) == "wrong_state"  # not for sale
        assert await _code(alice, "market.buy.build", {"content": cid}) == "not_allowed"  # her own
        for body in [{"amount": 0}, {"amount": -1}, {"amount": "5"}, {"amount": 10**15}, {}]:
            assert await _code(eve, "view.deposit.build", body) == "bad_request", body
        built = await alice.request("view.deposit.build", {"amount": 50})
        assert await _code(eve, "view.deposit.confirm", {"tx": built["tx"],
                                                         "signature": eve.sign(built["tx"])}) == "payment_failed"
        assert await _code(eve, "view.deposit.confirm", {"tx": b"junk", "signature": eve.sign(b"junk")}) \
            == "payment_failed"
        # Malformed and oversized fields of every request: bad_request before the engine sees them.
        long_id = "me-" + "x" * 70
        for type_, body in [
            ("content.get", {"content": 5}), ("content.get", {"content": long_id}), ("content.get", {}),
            ("view.start", {"content": b"bin"}), ("view.start", {"content": long_id}), ("view.start", {}),
            ("view.beat", {"content": 1.5}), ("view.beat", {}),
            ("market.list", {"content": cid, "price": "5"}), ("market.list", {"content": cid}),
            ("market.list", {"content": cid, "price": 2**63}), ("market.unlist", {"content": None}),
            ("market.buy.build", {"content": ["x"]}), ("market.buy.build", {}),
            ("market.buy.confirm", {"content": cid, "tx": "text", "signature": b"s"}),
            ("market.buy.confirm", {"content": cid, "tx": b"t", "signature": b"s" * 66}),
            ("view.deposit.confirm", {"tx": b"t"}),
        ]:
            assert await _code(eve, type_, body) == "bad_request", (type_, body)
        # Out of order: a purchase confirmed with a tx built for a deposit of another amount.
        dep = await eve.request("view.deposit.build", {"amount": 7})
        await alice.request("market.list", {"content": cid, "price": 900})
        assert await _code(eve, "market.buy.confirm", {"content": cid, "tx": dep["tx"],
                                                       "signature": eve.sign(dep["tx"])}) == "bad_request"
        await alice.request("market.unlist", {"content": cid})
        assert await eve.balance() == before
        assert eve.wallet not in sh.balances and sh.contents[cid].owner == alice.wallet
        assert await srv.ledger.account_balance(f"escrow:{sh.hall}") == 0


async def test_a_bsv_wallet_deposits_watches_and_withdraws(nursery, tmp_path):
    """A viewer logged in with `auth.bsv`: its payments are Bitcoin Signed
    Messages (65-byte signatures), the rest is the same."""
    from arena.client import open_client

    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path), clock)
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        owner = await stack.enter_async_context(player(url))
        bsv = await stack.enter_async_context(open_client(url))
        await bsv.hello()
        await bsv.login_bsv()
        await bsv.faucet()
        start = await bsv.balance()
        cid = await in_next_round(srv, clock, op, bsv, owner.wallet, "a goose guarding the fridge")
        sh = srv.state.modes["meme"]
        assert (await deposit(bsv, 100))["balance"] == 100
        await bsv.request("view.start", {"content": cid})
        await watch(bsv, cid, 2.2)
        stopped = await bsv.request("view.stop", {})
        assert stopped["charged"] >= 10
        assert (await bsv.request("view.withdraw", {}))["amount"] == 100 - stopped["charged"]
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        assert await bsv.balance() == start - stopped["charged"]


async def test_a_round_on_postgresql_is_kept_in_history_and_on_the_board(nursery, tmp_path, pg_schema):
    """The same flow on the PostgreSQL store: the ended round is a finished
    match in `history.get`, and its rewards are on the `meme.rewards` board."""
    from arena.persistence.postgres import PostgresStore
    from arena.server import ArenaServer

    store = PostgresStore(pg_schema)
    await store.migrate()
    clock = ManualClock(T0)
    srv = ArenaServer(_config(tmp_path), clock=clock, store=store)
    port = await nursery.start(srv.run)
    url = f"ws://127.0.0.1:{port}/v1"
    async with AsyncExitStack() as stack:
        op = await _operator(srv, url, stack)
        owner = await stack.enter_async_context(player(url))
        viewer = await stack.enter_async_context(player(url))
        cid = await in_next_round(srv, clock, op, viewer, owner.wallet, "two frogs at a bus stop")
        sh = srv.state.modes["meme"]
        rid = sh.round.id
        await deposit(viewer, 100)
        await viewer.request("view.start", {"content": cid})
        await watch(viewer, cid, 2.2)
        charged = (await viewer.request("view.stop", {}))["charged"]
        clock.advance(5 * BLOCK_MS)
        _, ended = await viewer.next_event("round:ended", where=lambda b: b["round"] == rid, timeout=10)
        history = await wait_for_history(owner, rid)
        assert history["result"]["pool"] == ended["pool"] == charged - sh.direct_paid > 0
        with trio.fail_after(10):
            while True:
                board = await owner.request("leaderboard.get", {"board": "meme.rewards"})
                if board["entries"]:
                    break
                await trio.sleep(0.1)
        assert board["entries"][0]["wallet"] == owner.wallet and board["entries"][0]["score"] == ended["pool"]
