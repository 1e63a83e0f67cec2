"""The chain ledgers' record store in the world's PostgreSQL schema (`PgRecordStore`).

The same random sequences of record operations (payments sent, landed,
failed, refused; settlements reserved, finished, adopted) run on the SQLite
`SolanaStore` and on `PgRecordStore`: every answer and the records they end
with must be the same, and the escrow must equal what landed less what the
done settlements took. The PostgreSQL one is fenced like every write of the
world: once another node claims the world's lease, it can change no record.
"""

from __future__ import annotations

import random

import pytest
import trio

from arena.chain.pg_records import PgRecordStore, translate
from arena.chain.solana_store import Payment, RecordsOfAnotherWorld, SolanaStore
from arena.persistence.lease import FencedOut, LeaseTerms
from solana_net import solana_devnet  # noqa: F401 - the local Solana network fixture

W1, W2 = "1111111111111111", "2222222222222222"
MINT, ESCROW = "Mint1111", "Escrow1111"


def test_translation():
    assert translate("SELECT * FROM payments WHERE sig = ? AND state = ?") == \
        "SELECT * FROM chain_payments WHERE sig = $1 AND state = $2"
    assert translate("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)") == \
        "INSERT INTO chain_meta (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
    assert translate("UPDATE settlements SET state = 'done' WHERE key = ?") == \
        "UPDATE chain_settlements SET state = 'done' WHERE key = $1"
    assert translate("SELECT COALESCE(SUM(balance), 0) FROM escrow WHERE balance != 0") == \
        "SELECT COALESCE(SUM(balance), 0) FROM chain_escrow WHERE balance != 0"


async def _world(dsn: str, owner: str = "t1"):
    from arena.persistence.postgres import PostgresStore

    store = PostgresStore(dsn, lease=LeaseTerms(owner=owner, ttl_ms=60_000))
    await store.migrate()
    await store.open()
    await store.acquire_writer()
    return store


def _dump(s: SolanaStore) -> dict:
    return {
        "stats": s.stats(),
        "escrows": s.nonzero_escrows(),
        "total": s.escrow_total(),
        "open": sorted(p.sig for p in s.open_payments()),
        "unannounced": sorted(p.sig for p in s.unannounced()),
        "done": sorted((x.key, x.sig, tuple(sorted(x.debits.items()))) for x in s.done_settlements()),
        "sending": sorted((x.key, x.sig, x.attempts, tuple(x.prior_sigs)) for x in s.open_settlements()),
        "binding": s.binding(),
        "contents": s.contents(),
    }


def _all_payments(s: SolanaStore) -> list[Payment]:
    return [Payment(**dict(r)) for r in s._read("SELECT * FROM payments")]


def _ops(rnd: random.Random, n: int):
    """A random sequence of record operations: (method name, args)."""
    matches = ["ro-a", "ro-b", "ro-c"]
    sigs: list[str] = []
    for i in range(n):
        what = rnd.choice(["pay", "pay", "resolve", "resolve", "drop", "announce", "reserve", "reserve",
                           "finish", "adopt"])
        m = rnd.choice(matches)
        if what == "pay" or not sigs:
            sig = f"sig{i}"
            sigs.append(sig)
            yield "add_payment", (Payment(sig=sig, msg_hash=f"h{i % 17}", kind=rnd.choice(["entry", "tip"]),
                                          wallet=f"w{i % 3}", match=m, to_wallet=None,
                                          amount=rnd.randrange(1, 3_000_000_000), fee=rnd.randrange(0, 5),
                                          raw=bytes([i % 256]) * 3, blockhash="bh", last_valid=100 + i),)
        elif what == "resolve":
            yield "resolve_payment", (rnd.choice(sigs), rnd.choice(["landed", "failed", "expired"]), "d",
                                      rnd.random() < 0.5)
        elif what == "drop":
            yield "drop_refused", (rnd.choice(sigs),)
        elif what == "announce":
            yield "mark_announced", (rnd.choice(sigs),)
        elif what == "reserve":
            key = f"payout:{m}:{rnd.randrange(3)}"
            yield "reserve_settlement", (key, m, {m: rnd.randrange(1, 2_000_000_000)}, [["escrow", "w0", 1]],
                                         f"s{i}", b"raw", "bh", 50 + i)
        elif what == "finish":
            yield "finish_settlement", (f"payout:{m}:{rnd.randrange(3)}", f"s{rnd.randrange(i + 1)}",
                                        rnd.random() < 0.7, "x")
        else:
            yield "adopt_settlement", (f"refund:{m}:{rnd.randrange(3)}", f"a{i}", {m: rnd.randrange(1, 1000)},
                                       [["escrow", "w1", 2]])


@pytest.mark.parametrize("seed", range(4))
async def test_the_postgres_record_store_answers_like_the_sqlite_one(pg_schema, seed):
    world = await _world(pg_schema)
    try:
        pg, lite = PgRecordStore(world), SolanaStore(":memory:")
        rnd = random.Random(seed)

        def run_all():
            assert pg.bind(W1, MINT, ESCROW) == lite.bind(W1, MINT, ESCROW) == "bound"
            for name, args in _ops(rnd, 120):
                a, b = getattr(lite, name)(*args), getattr(pg, name)(*args)
                assert a == b, (name, args, a, b)
            d = _dump(pg)
            assert d == _dump(lite)
            assert d["stats"]["payments"].get("landed") and d["done"], d  # the sequence reached the money
            # the escrow is what landed entries put in, less what done settlements took
            landed = sum(p.amount for p in _all_payments(pg) if p.kind == "entry" and p.state == "landed")
            taken = sum(sum(x.debits.values()) for x in pg.done_settlements())
            assert pg.escrow_total() == landed - taken
            assert pg.bind(W1, MINT, ESCROW) == "kept"
            with pytest.raises(RecordsOfAnotherWorld, match="PostgreSQL schema"):
                pg.bind(W2, MINT, ESCROW)

        await trio.to_thread.run_sync(run_all)
    finally:
        await world.close()


async def test_records_survive_a_takeover_and_the_old_holder_can_change_none(pg_schema):
    from arena.persistence.postgres import PostgresStore

    old = await _world(pg_schema, "old")
    pay = Payment(sig="s1", msg_hash="h1", kind="entry", wallet="w", match="ro-a", to_wallet=None, amount=700,
                  fee=0, raw=b"x", blockhash="bh", last_valid=9)
    records = PgRecordStore(old)

    def before():
        records.bind(W1, MINT, ESCROW)
        assert records.add_payment(pay) and records.resolve_payment("s1", "landed")

    await trio.to_thread.run_sync(before)
    # the lease runs out (the holder paused) and another node claims the world
    await old._with_conn(lambda c: c.execute("UPDATE writer_lease SET expires_at = now() - interval '1 second'"))
    new = PostgresStore(pg_schema, lease=LeaseTerms(owner="new", ttl_ms=60_000))
    await new.open()
    await new.acquire_writer()
    try:
        theirs = PgRecordStore(new)

        def after():
            assert theirs.bind(W1, MINT, ESCROW) == "kept"  # the same world's records, carried over
            assert theirs.escrow_balance("ro-a") == 700
            with pytest.raises(FencedOut):
                records.reserve_settlement("payout:ro-a", "ro-a", {"ro-a": 700}, [], "sx", b"r", "bh", 5)
            with pytest.raises(FencedOut):
                records.mark_announced("s1")
            assert theirs.settlement("payout:ro-a") is None and theirs.unannounced()[0].sig == "s1"
            assert theirs.reserve_settlement("payout:ro-a", "ro-a", {"ro-a": 700}, [], "sy", b"r", "bh", 5)[0] == "ok"
            assert theirs.finish_settlement("payout:ro-a", "sy", True)
            assert theirs.escrow_total() == 0

        await trio.to_thread.run_sync(after)
    finally:
        await new.close()
        old.epoch = None  # fenced: it has nothing to give up
        await old.close()


async def test_a_solana_battle_keeps_its_records_in_the_world_schema(arena_server, solana_devnet, tmp_path, pg_schema):
    """On the local Solana network, a PostgreSQL world with `[ledger] records =
    "store"`: the entry fee and the refund are recorded in the world's
    chain_* tables (no record file is made), and the escrow is empty again."""
    from arena.persistence.postgres import PostgresStore
    from conftest import player, wait_until
    from test_e2e_solana import Chain, solana_ledger, until_balance

    migrator = PostgresStore(pg_schema)
    await migrator.migrate()
    await migrator.close()
    chain = Chain(solana_devnet)
    ledger = {**solana_ledger(solana_devnet, tmp_path), "records": "store"}
    server, url = await arena_server(ledger=ledger, server_kwargs={"store": PostgresStore(pg_schema)},
                                     roast={"entry_deadline_ms": 4_000})
    assert isinstance(server.ledger.inner.store, PgRecordStore)
    async with player(url) as a, player(url) as b:
        escrow_before = await chain.escrow()
        await a.queue("silver")
        await b.queue("silver")
        _, found = await a.next_event("match.found")
        match = found["match"]
        await a.pay_entry(match)  # b never pays: the battle is cancelled and a refunded
        _, end = await a.next_event("battle:ended", match=match, timeout=60)
        assert end["reason"] == "cancelled"
        await until_balance(chain, a.wallet, 10_000)
        assert await chain.escrow() == escrow_before
        await wait_until(lambda: not server.state.unsettled, timeout=30)
    rows = await server.store._with_conn(lambda c: c.fetch("SELECT key, state FROM chain_settlements"))
    assert {(r["key"], r["state"]) for r in rows} == {(f"refund:{match}", "done")}
    pays = await server.store._with_conn(lambda c: c.fetch("SELECT wallet, match, state FROM chain_payments"))
    assert [(r["wallet"], r["match"], r["state"]) for r in pays] == [(a.wallet, match, "landed")]
    meta = await server.store._with_conn(lambda c: c.fetch("SELECT k, v FROM chain_meta"))
    assert {r["k"]: r["v"] for r in meta}["world"] == server.state.world
    assert not (tmp_path / "solana-ledger.sqlite").exists()
