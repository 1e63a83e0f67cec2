"""One contract for every store: the embedded SQLite store, PostgreSQL (the real
server on this machine, in a schema of its own), and the in-memory one."""

from __future__ import annotations

import json

import pytest
from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.engine.core import step
from arena.engine.outputs import Settle, Transfer
from arena.persistence.world import world_name
from arena.persistence import codec
from arena.persistence.durable import Durability
from arena.persistence.memory import MemoryStore
from arena.persistence.sqlite import SqliteStore
from arena.persistence.store import LedgerBatch, TickBatch
from engine_driver import Driver


@pytest.fixture(params=["sqlite", "postgres", "memory"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "store.sqlite")
    elif request.param == "memory":
        s = MemoryStore()
    else:
        from arena.persistence.postgres import PostgresStore

        dsn = request.getfixturevalue("pg_schema")
        s = PostgresStore(dsn)
        assert await s.migrate() == [1, 2, 3, 4, 5, 6, 7, "roast:1", "roast:2", "roast:3", "canvas:1"]
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def settle(key="payout:ro-1"):
    return Settle(key=key, match="ro-1", transfers=(Transfer("escrow:ro-1", "w1", 190),), reason="completed")


async def test_fresh_store_is_empty(store):
    rec = await store.load_recovery()
    assert rec.snapshot is None and rec.durable_tick == 0
    assert rec.journal == [] and rec.outbox == [] and rec.inbox == [] and rec.sessions == []
    assert rec.ledger_entries == [] and rec.ledger_keys == []
    assert await store.migrate() == []  # idempotent


async def test_newest_snapshot_and_the_journal_after_it(store):
    await store.write(TickBatch(ticks=[(1, b"a"), (3, b"c")], durable_tick=3, snapshots=[(0, "h0", b"s0")]))
    await store.write(TickBatch(ticks=[(5, b"e")], durable_tick=6, snapshots=[(4, "h4", b"s4")]))
    await store.write(TickBatch(ticks=[(7, b"g")], durable_tick=8))
    rec = await store.load_recovery()
    assert (rec.snapshot_tick, rec.snapshot_hash, rec.snapshot) == (4, "h4", b"s4")
    assert rec.journal == [(5, b"e"), (7, b"g")]
    assert rec.durable_tick == 8
    assert await store.snapshot_list() == [(0, "h0"), (4, "h4")]
    assert await store.load_snapshot(0) == b"s0"
    assert await store.load_journal(0, 5) == [(1, b"a"), (3, b"c"), (5, b"e")]
    assert await store.durable_tick() == 8


async def test_retention_keeps_the_newest_snapshots_and_the_journal_after_the_oldest_kept(store):
    await store.write(TickBatch(ticks=[(1, b"a"), (3, b"c")], durable_tick=3, snapshots=[(0, "h0", b"s0")]))
    for k in range(1, 6):  # snapshots at 10, 20, ..., 50; a journal row before and after each
        t = 10 * k
        await store.write(TickBatch(ticks=[(t - 1, b"x"), (t, b"y")], durable_tick=t,
                                    snapshots=[(t, f"h{t}", f"s{t}".encode())], keep_snapshots=3))
        await store.write(TickBatch(ticks=[(t + 1, b"z")], durable_tick=t + 1))
    assert await store.snapshot_list() == [(30, "h30"), (40, "h40"), (50, "h50")]
    assert [t for t, _ in await store.load_journal(0)] == [31, 39, 40, 41, 49, 50, 51]
    rec = await store.load_recovery()
    assert (rec.snapshot_tick, rec.snapshot) == (50, b"s50") and rec.journal == [(51, b"z")]
    assert rec.durable_tick == 51
    # a batch without a snapshot prunes nothing; keep_snapshots=0 keeps everything
    await store.write(TickBatch(ticks=[(55, b"w")], durable_tick=55, keep_snapshots=1))
    await store.write(TickBatch(ticks=[(60, b"v")], durable_tick=60, snapshots=[(60, "h60", b"s60")]))
    assert [t for t, _ in await store.snapshot_list()] == [30, 40, 50, 60]
    assert (await store.load_journal(0))[0][0] == 31


async def test_a_batch_written_twice_changes_nothing(store):
    """A retry after an unclear failure (commit done, answer lost) must neither fail nor duplicate."""
    b = TickBatch(ticks=[(1, b"a")], durable_tick=1, snapshots=[(0, "h", b"s")],
                  outbox_add=[("payout:ro-1", "Settle", 1, codec.encode_effect(settle()))],
                  sessions=[("s1", "w1", 3)],
                  records=[("mode_op", "roast", ("battle", "ro-1", "roast", "bronze", "w1", "w2", 100, 1))])
    await store.write(b)
    await store.write(b)
    rec = await store.load_recovery()
    assert rec.journal == [(1, b"a")] and len(rec.outbox) == 1 and rec.sessions == [("s1", "w1", 3)]
    assert len(await store.query("battles")) == 1
    lb = LedgerBatch(entries=[(0, "faucet:0", "mint:faucet", "w1", 100)], keys=["faucet:0"])
    await store.write_ledger(lb)
    await store.write_ledger(lb)
    assert (await store.ledger_entries())[0] == [(0, "faucet:0", "mint:faucet", "w1", 100)]


async def test_outbox_until_done(store):
    eff = settle()
    await store.write(TickBatch(durable_tick=2, outbox_add=[(eff.key, "Settle", 2, codec.encode_effect(eff))]))
    rec = await store.load_recovery()
    assert [(k, kind, t) for k, kind, t, _ in rec.outbox] == [("payout:ro-1", "Settle", 2)]
    assert codec.decode_effect(rec.outbox[0][3]) == eff
    await store.write(TickBatch(durable_tick=3, outbox_done=[(eff.key, 3)]))
    assert (await store.load_recovery()).outbox == []
    rows = await store.query("outbox")
    assert rows[0]["done_tick"] == 3


async def test_ledger_entries_keys_and_inbox(store):
    paid = I.EntryFeePaid("ro-1", "w1", 100, "pid1")
    await store.write_ledger(LedgerBatch(
        entries=[(0, "faucet:0", "mint:faucet", "w1", 1000), (1, "entry:pid1", "w1", "escrow:ro-1", 100)],
        keys=["faucet:0", "entry:pid1", "settle:zero"],
        inbox=[("entry:pid1", codec.encode_inputs([paid]))],
    ))
    await store.write_ledger(LedgerBatch(entries=[(2, "faucet:2", "mint:faucet", "w2", 1000)], keys=["faucet:2"]))
    entries, keys = await store.ledger_entries()
    assert [e[0] for e in entries] == [0, 1, 2] and entries[1] == (1, "entry:pid1", "w1", "escrow:ro-1", 100)
    assert sorted(keys) == ["entry:pid1", "faucet:0", "faucet:2", "settle:zero"]
    rec = await store.load_recovery()
    assert [(k, codec.decode_inputs(b)) for k, b in rec.inbox] == [("entry:pid1", [paid])]
    await store.write(TickBatch(durable_tick=1, ticks=[(1, codec.encode_inputs([paid]))],
                                inbox_done=[("entry:pid1", 1)]))
    assert (await store.load_recovery()).inbox == []


async def test_sessions_keep_the_highest_seq_and_go(store):
    await store.write(TickBatch(sessions=[("s1", "w1", 5), ("s2", "w2", 0)]))
    await store.write(TickBatch(sessions=[("s1", "w1", 3), ("s2", "w2", 9)]))
    assert sorted((await store.load_recovery()).sessions) == [("s1", "w1", 5), ("s2", "w2", 9)]
    await store.write(TickBatch(sessions_gone=["s1"]))
    assert (await store.load_recovery()).sessions == [("s2", "w2", 9)]


async def test_records_battles_rounds_users_leaderboard(store):
    bd = json.dumps({"creativity": 5, "delivery": 5, "relevance": 5, "savagery": 5})
    await store.write(TickBatch(durable_tick=3, records=[
        ("mode_op", "roast", ("battle", "ro-1", "roast", "bronze", "w1", "w2", 100, 1)),
        ("mode_op", "roast", ("battle", "ro-2", "roast", "gold", "w3", "w4", 2000, 1)),
        ("mode_op", "roast", ("clip", "ro-1", 1, "w1", "file:///a.ogg", 2)),
        ("mode_op", "roast", ("round", "ro-1", 1, "w1", 20, bd, "Ouch.", 3)),
        ("mode_op", "roast", ("round", "ro-1", 1, "w2", 10, bd, "Meh.", 3)),
    ]))
    ended = ("mode_op", "roast", ("ended", "ro-1", "w1", 190, "completed", 20, 10, 4))
    await store.write(TickBatch(durable_tick=4, records=[ended, ("mode_op", "roast", ("ended", "ro-2", None, 0, "cancelled", 0, 0, 4))]))
    await store.write(TickBatch(durable_tick=5, records=[ended]))  # twice: counted once
    battles = {b["id"]: b for b in await store.query("battles")}
    assert battles["ro-1"]["status"] == "ended" and battles["ro-1"]["winner"] == "w1"
    assert battles["ro-1"]["prize"] == 190 and battles["ro-2"]["reason"] == "cancelled"
    rounds = await store.query("rounds")
    assert [(r["player"], r["score"]) for r in rounds] == [("w1", 20), ("w2", 10)]
    assert json.loads(rounds[0]["breakdown"])["savagery"] == 5
    assert [c["url"] for c in await store.query("clips")] == ["file:///a.ogg"]
    users = {u["wallet"]: u for u in await store.query("users")}
    assert (users["w1"]["battles"], users["w1"]["wins"], users["w1"]["earnings"]) == (1, 1, 190)
    assert (users["w2"]["battles"], users["w2"]["wins"]) == (1, 0)
    assert users["w3"]["battles"] == 0  # cancelled battles do not count
    await store.refresh_leaderboard()
    board = await store.query("leaderboard")
    assert [r["wallet"] for r in board] == ["w1", "w2"]


async def test_durability_over_the_store_recovers_the_same_state(store):
    """The journal, snapshots and outbox Durability writes rebuild the engine state exactly."""
    d = Driver(settle=False, scores=None)
    dur = Durability(store, snapshot_every_ticks=7, journal_buffer_max=1000)
    await store.write(TickBatch(snapshots=[(0, state_hash(d.state), codec.dump_snapshot(d.state))]))
    mid = d.start("alice", "bob")
    d.play_round(mid)
    # feed Durability what the tick loop would have, tick by tick
    d2 = Driver(settle=False)
    for tick, inputs in d.log:
        msgs, effs = step(d2.state, tick, list(inputs))
        dur.record_tick(d2.state, list(inputs), msgs, effs)
        await dur.flush()
    assert d2.hash() == d.hash()
    recovered = Durability(store, snapshot_every_ticks=7, journal_buffer_max=1000)
    state, redo, feed = await recovered.recover(None)
    assert state_hash(state) == d.hash()
    assert state.tick == d.tick
    # the judge was never answered: both score requests come back for re-dispatch
    assert {e.key for e in redo} == {f"score:{mid}:1:alice", f"score:{mid}:1:bob"}
    # The state was written without a world id (as by a release before worlds
    # had ids): recovery names it first, with the id the store now keeps.
    assert feed[0] == I.WorldNamed(recovered.world) and state.world is None
    assert set(feed[1:]) == {I.PlayerDisconnected("alice"), I.PlayerDisconnected("bob")}
    assert recovered.world == world_name(await store.world_id())


async def test_durability_prunes_to_keep_snapshots_and_still_recovers(store):
    """With `keep_snapshots`, old snapshots and journal go; recovery and a replay
    from the oldest snapshot kept still rebuild the same state."""
    d = Driver(settle=False, scores=None)
    dur = Durability(store, snapshot_every_ticks=2, journal_buffer_max=1000, keep_snapshots=2)
    mid = d.start("alice", "bob")
    for _ in range(3):
        d.play_round(mid)
    d2 = Driver(settle=False)
    logged = dict(d.log)
    for tick in range(d2.state.tick + 1, d.tick + 1):  # every tick, as the tick loop records them
        inputs = list(logged.get(tick, ()))
        msgs, effs = step(d2.state, tick, inputs)
        dur.record_tick(d2.state, inputs, msgs, effs)
        await dur.flush()
    assert d2.hash() == d.hash()
    snaps = await store.snapshot_list()
    assert d.tick >= 6 and len(snaps) == 2 and snaps[-1][0] == d.tick - d.tick % 2
    oldest = snaps[0][0]
    journal = await store.load_journal(0)
    assert journal and min(t for t, _ in journal) > oldest
    state, _, _ = await Durability(store, snapshot_every_ticks=2, journal_buffer_max=1000).recover(None)
    assert state_hash(state) == d.hash()
    # replay from the oldest snapshot kept reaches the newest one's hash
    replayed = codec.load_snapshot(await store.load_snapshot(oldest))
    for t, blob in await store.load_journal(oldest, snaps[-1][0]):
        while replayed.tick < t - 1:
            step(replayed, replayed.tick + 1, [])
        step(replayed, t, codec.decode_inputs(blob))
    while replayed.tick < snaps[-1][0]:
        step(replayed, replayed.tick + 1, [])
    assert state_hash(replayed) == snaps[-1][1]


async def test_add_inbox_admits_each_key_once_even_after_it_is_done(store):
    paid = I.EntryFeePaid("ro-1", "w1", 100, "sig-1")
    blob = codec.encode_inputs([paid])
    assert await store.add_inbox("entry:sig-1", blob) is True
    assert await store.add_inbox("entry:sig-1", blob) is False
    assert [k for k, _ in (await store.load_recovery()).inbox] == ["entry:sig-1"]
    await store.write(TickBatch(durable_tick=3, inbox_done=[("entry:sig-1", 3)]))
    assert (await store.load_recovery()).inbox == []
    assert await store.add_inbox("entry:sig-1", blob) is False  # consumed: never again
    # a row written by the embedded ledger's batch counts the same
    await store.write_ledger(LedgerBatch(inbox=[("tip:sig-2", b"x")]))
    assert await store.add_inbox("tip:sig-2", b"x") is False
