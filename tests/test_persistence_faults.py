"""Faults: the store down at run time (in memory, and the real PostgreSQL behind
an unpluggable proxy), an adapter result lost between the ledger and the
journal, and Redis away."""

from __future__ import annotations

import attrs
import pytest
import trio

from arena.client import ArenaRequestError, open_client
from arena.engine.canonical import state_hash
from arena.persistence.memory import MemoryStore
from arena.server import ArenaServer
from conftest import make_config, player, wait_until
from tcp_proxy import TcpProxy


async def start(nursery, cfg, store=None):
    srv = ArenaServer(cfg, store=store)
    scope = trio.CancelScope()

    async def run(task_status=trio.TASK_STATUS_IGNORED):
        with scope:
            await srv.run(task_status=task_status)

    port = await nursery.start(run)
    return srv, scope, f"ws://127.0.0.1:{port}/v1"


def with_store(cfg, **store):
    return attrs.evolve(cfg, store=attrs.evolve(cfg.store, **store))


async def play_outage(srv, url, cut, restore, store_state):
    """A battle in progress keeps going while the store is down; new matches are
    refused past the buffer; the payout waits; everything lands when it is back."""
    async with player(url) as a, player(url) as b, player(url) as c:
        await a.queue("bronze")
        await b.queue("bronze")
        _, found = await a.next_event("match.found")
        match = found["match"]
        await a.pay_entry(match)
        await b.pay_entry(match)
        await a.next_event("battle:round_start", match=match)
        await wait_until(lambda: srv.persistence.durability.durable_tick >= srv.state.tick - 1)

        cut()
        await wait_until(lambda: store_state() != "active", timeout=20)
        for rnd in (1, 2, 3):
            await wait_until(lambda: srv.state.matches[match].phase == "recording"
                             and srv.state.matches[match].round == rnd, timeout=20)
            await a.submit(match, rnd, "Your comebacks are so weak even your echo gives up halfway!")
            await b.submit(match, rnd, "meh")
        _, end = await a.next_event("battle:ended", match=match, timeout=20)
        assert end["winnerId"] == a.wallet
        dur = srv.persistence.durability
        # write-ahead: the payout has not left, the money is still in escrow
        assert dur.held and await srv.ledger.account_balance(f"escrow:{match}") == 200
        assert dur.buffered_inputs > dur.buffer_max and dur.shedding
        with pytest.raises(ArenaRequestError) as info:
            await c.queue("bronze")
        assert info.value.code == "overloaded"
        health = srv.health()
        assert health["persistence"]["shedding"] and health["side_tasks"]["store"]["state"] in (
            "degraded", "circuit_open", "recovering")

        restore()
        await wait_until(lambda: not dur.held and dur.durable_tick >= srv.state.tick - 1, timeout=30)
        await wait_until(lambda: not srv.state.unsettled, timeout=10)
        assert await srv.ledger.account_balance(f"escrow:{match}") == 0
        assert await a.balance() == 10_000 - 100 + end["prizeAmount"]
        assert not dur.shedding
        assert (await c.queue("bronze"))["queued"] is True
        await wait_until(lambda: store_state() == "active", timeout=10)
        return match


async def test_store_down_in_memory(nursery, tmp_path):
    store = MemoryStore()
    cfg = with_store(make_config(tmp_path), journal_buffer_max=5)
    srv, scope, url = await start(nursery, cfg, store)

    def cut():
        store.fail = ConnectionError("store unplugged")

    def restore():
        store.fail = None

    await play_outage(srv, url, cut, restore, lambda: srv.supervisors["store"].state)
    await wait_until(lambda: srv.persistence.durability.durable_tick >= srv.state.tick - 1)
    scope.cancel()
    await trio.sleep(0.05)
    # everything buffered was written: recovery reaches the same state
    srv2, scope2, _ = await start(nursery, cfg, store)
    rec = srv2.persistence.durability.recovered
    assert rec["tick"] == srv.persistence.durability.durable_tick
    if rec["tick"] == srv.state.tick:
        assert rec["hash"] == state_hash(srv.state)
    scope2.cancel()


async def test_postgres_unreachable_at_run_time(nursery, tmp_path, pg_schema):
    from arena.persistence.postgres import PostgresStore
    from urllib.parse import urlsplit

    direct = PostgresStore(pg_schema)
    await direct.migrate()
    await direct.close()
    parts = urlsplit(pg_schema)
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    pport = await nursery.start(proxy.run)
    dsn = pg_schema.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{pport}")
    cfg = with_store(make_config(tmp_path), kind="postgres", dsn=dsn, journal_buffer_max=5)
    srv, scope, url = await start(nursery, cfg)
    await play_outage(srv, url, proxy.cut, proxy.restore, lambda: srv.supervisors["store"].state)
    await wait_until(lambda: srv.persistence.durability.durable_tick >= srv.state.tick - 1)
    scope.cancel()
    await trio.sleep(0.1)
    # the buffered journal reached PostgreSQL: a replay gives the server's state at the durable tick
    check = PostgresStore(pg_schema)
    await check.open()
    rec = await check.load_recovery()
    entries, _ = await check.ledger_entries()
    battles = await check.query("battles")
    await check.close()
    # The writer may have committed one more batch while being cancelled (the
    # commit completes on the database's side before the writer hears back):
    # the store is never behind what the server counted durable, nor ahead of
    # what it stepped.
    assert srv.persistence.durability.durable_tick <= rec.durable_tick <= srv.state.tick
    from arena.persistence import codec
    from arena.persistence.durable import replay

    state = replay(codec.load_snapshot(rec.snapshot), rec.journal, rec.durable_tick)
    if state.tick == srv.state.tick:
        assert state_hash(state) == state_hash(srv.state)
    assert battles[0]["status"] == "ended"
    assert any(e[1].startswith("settle:payout:") for e in entries)


async def test_entry_fee_between_ledger_and_journal_is_not_forgotten(nursery, tmp_path):
    """The ledger took the fee (durably) but the tick that told the engine never
    became durable: recovery feeds the fee again from the inbox."""
    store = MemoryStore()
    cfg = make_config(tmp_path, roast={"disconnect_grace_ms": 10_000})
    srv, scope, url = await start(nursery, cfg, store)
    async with player(url) as a, player(url) as b:
        await a.queue("bronze")
        await b.queue("bronze")
        _, found = await a.next_event("match.found")
        match = found["match"]
        await a.pay_entry(match)
        await wait_until(lambda: a.wallet in srv.state.matches[match].paid)
        await wait_until(lambda: srv.persistence.durability.durable_tick >= srv.state.tick)
        store.fail_ticks = ConnectionError("journal unplugged")
        await b.pay_entry(match)  # the ledger entry and its inbox row are durable
        await wait_until(lambda: b.wallet in getattr(srv.state.matches.get(match), 'paid', {b.wallet: 1}))
        sb, lb, kb = b.session, b.last_seq, b.keypair
        sa, la, ka = a.session, a.last_seq, a.keypair
    scope.cancel()
    await trio.sleep(0.05)
    store.fail_ticks = None
    srv2, scope2, url2 = await start(nursery, cfg, store)
    assert srv2.persistence.durability.recovered["inbox_fed"] == 1
    await wait_until(lambda: match in srv2.state.matches and len(srv2.state.matches[match].paid) == 2)
    assert await srv2.ledger.account_balance(f"escrow:{match}") == 200
    async with open_client(url2, keypair=ka) as a2, open_client(url2, keypair=kb) as b2:
        await a2.resume(sa, la)
        await b2.resume(sb, lb)
        # a restored session gets fresh snapshots: the battle is under way
        _, snap = await a2.next_event("match.snapshot", match=match, timeout=10)
        assert snap["state"]["paid"] == [a2.wallet, b2.wallet]
        assert snap["state"]["phase"] in ("waiting_prompt", "countdown", "recording")
    scope2.cancel()


async def test_payout_done_but_not_acknowledged_is_not_paid_twice(nursery, tmp_path):
    """The ledger paid the winner (durably), then the server died before the
    journal had `SettlementDone`: recovery re-dispatches the payout, the ledger
    sees its key and does nothing, and the outbox row is closed."""
    store = MemoryStore()
    cfg = make_config(tmp_path)
    srv, scope, url = await start(nursery, cfg, store)
    paid = []
    real_settle = srv.ledger.settle

    async def settle_then_lose_the_journal(eff):
        await real_settle(eff)
        paid.append(eff.key)
        store.fail_ticks = ConnectionError("journal unplugged right after the payout")

    async with player(url) as a, player(url) as b:
        srv.ledger.settle = settle_then_lose_the_journal
        await a.queue("bronze")
        await b.queue("bronze")
        _, found = await a.next_event("match.found")
        match = found["match"]
        await a.pay_entry(match)
        await b.pay_entry(match)
        for rnd in (1, 2, 3):
            await wait_until(lambda: srv.state.matches[match].phase == "recording"
                             and srv.state.matches[match].round == rnd, timeout=15)
            await a.submit(match, rnd, "Your comebacks are so weak even your echo gives up halfway!")
            await b.submit(match, rnd, "meh")
        _, end = await a.next_event("battle:ended", match=match, timeout=15)
        await wait_until(lambda: paid == [f"payout:{match}"], timeout=10)
        await wait_until(lambda: not srv.state.unsettled)  # consumed in memory only
        winner_balance = srv.ledger.book.balance(a.wallet)
    scope.cancel()
    await trio.sleep(0.05)
    store.fail_ticks = None
    srv2, scope2, _ = await start(nursery, cfg, store)
    assert srv2.persistence.durability.recovered["redispatched"] >= 1
    await wait_until(lambda: not srv2.state.unsettled, timeout=10)
    await wait_until(lambda: all(r["done_tick"] is not None for r in store.outbox_rows()), timeout=10)
    book = srv2.ledger.book
    assert book.balance(a.wallet) == winner_balance == 10_000 - 100 + end["prizeAmount"]
    assert book.balance(f"escrow:{match}") == 0
    assert sum(1 for e in book.entries if e.key == f"settle:payout:{match}" and e.credit == a.wallet) == 1
    scope2.cancel()
