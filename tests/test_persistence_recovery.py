"""Recovery in-process: stop a server mid-battle (its task cancelled, nothing
flushed on the way out beyond what the writer already made durable), start a
new one on the same store, resume the clients, and finish the battle."""

from __future__ import annotations

import trio

from arena.client import open_client
from arena.modes.roast import messages as R
from arena.engine.canonical import state_hash
from arena.persistence.memory import MemoryStore
from arena.server import ArenaServer
from conftest import make_config, player, wait_until


async def start(nursery, cfg, store=None):
    srv = ArenaServer(cfg, store=store)
    scope = trio.CancelScope()

    async def run(task_status=trio.TASK_STATUS_IGNORED):
        with scope:
            await srv.run(task_status=task_status)

    port = await nursery.start(run)
    return srv, scope, f"ws://127.0.0.1:{port}/v1"


async def crash(srv, scope):
    scope.cancel()
    await trio.sleep(0.05)


async def test_battle_survives_restart_on_sqlite(nursery, tmp_path):
    cfg = make_config(tmp_path, roast={"disconnect_grace_ms": 5_000})
    srv, scope, url = await start(nursery, cfg)
    async with player(url) as a, player(url) as b:
        await a.queue("bronze")
        await b.queue("bronze")
        _, found = await a.next_event("match.found")
        match = found["match"]
        await a.pay_entry(match)
        await b.pay_entry(match)
        await a.next_event("battle:round_start", match=match)
        await wait_until(lambda: srv.state.matches[match].phase == "recording")
        await a.submit(match, 1, "first round roast, durable")
        await wait_until(lambda: srv.persistence.durability.durable_tick >= srv.state.tick)
        hash_before = state_hash(srv.state)
        tick_before = srv.state.tick
        sess = (a.session, a.last_seq, a.keypair), (b.session, b.last_seq, b.keypair)
        await crash(srv, scope)

    srv2, scope2, url2 = await start(nursery, cfg)
    rec = srv2.persistence.durability.recovered
    assert rec["fresh"] is False and rec["tick"] == tick_before and rec["hash"] == hash_before
    # both players are marked disconnected at the first tick after recovery
    await wait_until(lambda: srv2.state.tick > tick_before + 1)
    m = srv2.state.matches[match]
    assert set(m.gone_until) == {a.wallet, b.wallet}
    assert m.submissions[a.wallet]["text"] == "first round roast, durable"
    assert await srv2.ledger.account_balance(f"escrow:{match}") == 200

    (sa, la, ka), (sb, lb, kb) = sess
    async with open_client(url2, keypair=ka) as a2, open_client(url2, keypair=kb) as b2:
        a2.session, b2.session = sa, sb
        ra = await a2.resume(sa, la)
        rb = await b2.resume(sb, lb)
        assert ra["resumed"] and rb["resumed"]
        _, snap = await a2.next_event("match.snapshot", match=match)
        assert snap["state"]["phase"] in ("recording", "scoring")
        await wait_until(lambda: not srv2.state.matches[match].gone_until)
        if srv2.state.matches[match].phase == "recording":
            await b2.submit(match, 1, "second")
        for rnd in (2, 3):
            _, start_ev = await a2.next_event("battle:round_start", match=match, timeout=15)
            assert start_ev["roundNumber"] == rnd
            await wait_until(lambda: srv2.state.matches[match].phase == "recording")
            await a2.submit(match, rnd, "a savage roast about your {prompt}")
            await b2.submit(match, rnd, "meh")
        _, end = await a2.next_event("battle:ended", match=match, timeout=15)
        assert end["reason"] == "completed"
        await wait_until(lambda: not srv2.state.unsettled)
        assert await srv2.ledger.account_balance(f"escrow:{match}") == 0
        assert srv2.ledger.book.total() == 0
        assert await a2.balance() + await b2.balance() == 20_000 - 200 + end["prizeAmount"]
    battles = await srv2.persistence.store.query("battles")
    assert [b["id"] for b in battles] == [match] and battles[0]["status"] == "ended"
    rounds = await srv2.persistence.store.query("rounds")
    assert len(rounds) == 6
    await crash(srv2, scope2)


async def test_memory_store_survives_restart_in_process(nursery, tmp_path):
    cfg = make_config(tmp_path)
    store = MemoryStore()
    srv, scope, url = await start(nursery, cfg, store)
    async with player(url) as a:
        bal = await a.balance()
        await wait_until(lambda: srv.persistence.durability.durable_tick >= 3)
    await crash(srv, scope)
    srv2, scope2, url2 = await start(nursery, cfg, store)
    assert srv2.ledger.book.balance(a.wallet) == bal
    await crash(srv2, scope2)


async def test_changed_roast_settings_apply_after_a_restart_and_replay(nursery, tmp_path):
    """config.toml's [roast] changed between two runs on one store: the change
    is journaled on the first tick and a replay of the store makes it too."""
    from arena.engine import inputs as I
    from arena.persistence import codec
    from arena.persistence.durable import replay

    store = MemoryStore()
    srv, scope, _ = await start(nursery, make_config(tmp_path), store)
    await wait_until(lambda: srv.persistence.durability.durable_tick >= 2)
    first_roast = srv.state.config.modes["roast"]
    await crash(srv, scope)
    changed = make_config(tmp_path, roast={"time_limit_ms": first_roast.time_limit_ms + 1000})
    srv2, scope2, _ = await start(nursery, changed, store)
    await wait_until(lambda: srv2.state.config.modes["roast"] == changed.engine.modes["roast"])
    changed_at = srv2.state.tick
    await wait_until(lambda: srv2.persistence.durability.durable_tick >= changed_at)
    journaled = [t for t, blob in store.journal.items()
                 if any(isinstance(x, I.SettingsChanged) for x in codec.decode_inputs(blob))]
    assert len(journaled) == 1
    rec = await store.load_recovery()
    state = replay(codec.load_snapshot(rec.snapshot), rec.journal, rec.durable_tick)
    assert state.config.modes["roast"] == changed.engine.modes["roast"] and state.config.seed == srv2.state.config.seed
    await crash(srv2, scope2)
    # a third start with the same settings journals nothing new
    srv3, scope3, _ = await start(nursery, changed, store)
    started_at = srv3.state.tick
    await wait_until(lambda: srv3.persistence.durability.durable_tick >= started_at + 2)
    assert sum(any(isinstance(x, I.SettingsChanged) for x in codec.decode_inputs(b))
               for b in store.journal.values()) == 1
    await crash(srv3, scope3)
