"""The writer lease on real PostgreSQL: claims, renewals and fencing.

Two stores on one world stand for two nodes. Only one holds the lease; the
other waits as a standby and claims it once it has expired (by the
database's clock); from then on every write of the old holder (journal,
inbox, ledger) is refused with `FencedOut`, and so is its renewal, while the
new holder writes on.
"""

from __future__ import annotations

import pytest
import trio

from arena.persistence.lease import FencedOut, LeaseTerms
from arena.persistence.postgres import PostgresStore
from arena.persistence.store import LedgerBatch, TickBatch

TTL_MS = 400


@pytest.fixture
async def world(pg_schema):
    await PostgresStore(pg_schema).migrate()
    stores = []

    def node(name: str, ttl_ms: int = TTL_MS) -> PostgresStore:
        store = PostgresStore(pg_schema, lease=LeaseTerms(owner=name, ttl_ms=ttl_ms))
        stores.append(store)
        return store

    yield node
    for store in stores:
        await store.close()


async def holder(store: PostgresStore) -> tuple:
    rows = await store._rows("SELECT owner, epoch FROM writer_lease")
    return tuple(rows[0]) if rows else None


def tick_batch(tick: int) -> TickBatch:
    return TickBatch(ticks=[(tick, b"\x90")], durable_tick=tick)


async def test_a_standby_waits_then_takes_over_and_the_old_holder_is_fenced(world):
    a, b = world("node-a"), world("node-b")
    await a.open()
    await a.acquire_writer()
    assert a.epoch == 1 and await holder(a) == ("node-a", 1)
    await a.write(tick_batch(1))

    # b waits while a renews; its claim goes through only once a stops renewing.
    await b.open()
    claimed = trio.Event()

    async def standby():
        await b.acquire_writer()
        claimed.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(standby)
        for _ in range(4):  # a keeps the lease for longer than one TTL by renewing it
            await trio.sleep(TTL_MS / 3000)
            await a.renew_lease()
            assert not claimed.is_set()
        with trio.fail_after(10):
            await claimed.wait()  # a stopped renewing: its lease expires and b claims it
    assert b.epoch == 2 and await holder(b) == ("node-b", 2)

    # a wakes up: nothing it writes gets in, and it learns it must stop.
    with pytest.raises(FencedOut, match="epoch 2"):
        await a.write(tick_batch(2))
    with pytest.raises(FencedOut):
        await a.add_inbox("k1", b"\x90")
    with pytest.raises(FencedOut):
        await a.write_ledger(LedgerBatch(entries=[(1, "payout:x", "escrow:x", "wallet:w", 5)], keys=["payout:x"]))
    with pytest.raises(FencedOut, match="taken over"):
        await a.renew_lease()
    assert [r[0] for r in await b._rows("SELECT tick FROM journal")] == [1]
    assert await b._rows("SELECT key FROM inbox") == [] and await b._rows("SELECT key FROM ledger_keys") == []

    # b writes on.
    await b.write(tick_batch(2))
    assert await b.add_inbox("k1", b"\x90")
    await b.renew_lease()
    assert [r[0] for r in await b._rows("SELECT tick FROM journal ORDER BY tick")] == [1, 2]


async def test_a_live_holder_keeps_its_lease_and_a_clean_stop_hands_it_over_at_once(world):
    a, b = world("node-a", ttl_ms=60_000), world("node-b", ttl_ms=60_000)
    await a.open()
    await a.acquire_writer()
    await b.open()
    with trio.move_on_after(0.5):
        await b.acquire_writer()  # a's lease has a minute left: b keeps waiting
    assert b.epoch is None and await holder(b) == ("node-a", 1)
    a.release_writer()  # a stops cleanly: its lease ends now
    with trio.fail_after(5):
        await b.acquire_writer()
    assert b.epoch == 2
    await b.write(tick_batch(1))


async def test_a_write_in_flight_finishes_before_the_claim_and_none_after(world):
    """The claim's UPDATE waits for the holder's writing transaction (it holds
    the lease row FOR SHARE): a write that began under the old epoch commits
    whole, and it is the last one."""
    a, b = world("node-a"), world("node-b")
    await a.open()
    await a.acquire_writer()
    await b.open()
    done = trio.Event()

    async def slow_write(conn):
        await a._fence(conn)
        await conn.execute("INSERT INTO journal (tick, inputs) VALUES (7, $1)", b"\x90")
        await conn.execute("SELECT pg_sleep(1.0)")  # busy past the lease's expiry

    async def writer():
        await a._with_conn(slow_write)
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.sleep(0.1)
        with trio.fail_after(10):
            await b.acquire_writer()
        assert done.is_set(), "the claim went through while a write under the old epoch was open"
    assert b.epoch == 2
    assert [r[0] for r in await b._rows("SELECT tick FROM journal")] == [7]
    with pytest.raises(FencedOut):
        await a.write(tick_batch(8))


async def test_a_holder_stopped_mid_transaction_cannot_hold_the_successor_up(world):
    """A holder that stops between two statements of a transaction (SIGSTOP,
    a stall) leaves it idle: PostgreSQL ends it after the lease's length, so
    the successor's claim goes through and the half-done write is rolled back."""
    a, b = world("node-a"), world("node-b")
    await a.open()
    await a.acquire_writer()
    await b.open()
    failed = []

    async def stalled_write(conn):
        await a._fence(conn)
        await conn.execute("INSERT INTO journal (tick, inputs) VALUES (7, $1)", b"\x90")
        await asyncio_sleep(3 * TTL_MS / 1000)  # idle in transaction, holding the lease row

    async def writer():
        try:
            await a._with_conn(stalled_write)
        except Exception as exc:  # noqa: BLE001 - the database ended the transaction
            failed.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.sleep(0.1)
        with trio.fail_after(10):
            await b.acquire_writer()
    assert b.epoch == 2 and failed, "the stalled transaction should have been ended by the database"
    assert await b._rows("SELECT tick FROM journal") == []


async def asyncio_sleep(seconds: float) -> None:
    """Sleep inside a coroutine that runs on the store's asyncio thread."""
    import asyncio

    await asyncio.sleep(seconds)


async def test_a_named_node_needs_postgres():
    from arena.config import default_config
    from arena.persistence.runtime import make_store

    cfg = default_config()
    import attrs

    cfg = attrs.evolve(cfg, cluster=attrs.evolve(cfg.cluster, node="n1"))
    with pytest.raises(ValueError, match="needs \\[store\\] kind"):
        make_store(cfg)
