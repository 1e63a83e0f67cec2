"""Chain payments reach the engine through the store's inbox, exactly once.

`ServerPersistence.announce` writes the inbox row before the engine hears of
a payment, and only the announcement that adds the row hands the input over;
`ChainAnnouncements` makes a chain ledger's confirm calls announce that way
(and answer "pending", not "confirmed", when the store cannot take it).
The Solana watcher's side is in tests/test_ledger_solana.py.
"""

from __future__ import annotations

import pytest
import trio

from arena.chain.port import PaymentResult, TipResult
from arena.engine import inputs as I
from arena.persistence.chain_inbox import ChainAnnouncements
from arena.persistence.memory import MemoryStore
from arena.persistence.store import TickBatch
from arena.server import ArenaServer
from conftest import make_config

PAID = I.EntryFeePaid("ro-x", "w1", 100, "sig-1")


def taken(srv) -> list:
    """The inputs the engine took for the tick being formed, without the
    clock reading an opening tick may start with."""
    return [inp for inp in srv.pending if not isinstance(inp, I.ClockSet)]


async def test_announce_hands_a_payment_over_once(tmp_path):
    store = MemoryStore()
    srv = ArenaServer(make_config(tmp_path), store=store)
    await store.open()
    await srv.persistence.announce(PAID)
    await srv.persistence.announce(PAID)
    assert taken(srv) == [PAID]
    assert list(store.inbox) == ["entry:sig-1"]
    # the gateway's own submit of the same payment is recognised as delivered
    assert srv.submit(PAID, force=True) is True and taken(srv) == [PAID]
    with pytest.raises(TypeError):
        await srv.persistence.announce(I.PlayerDisconnected("w1"))


async def test_after_a_crash_recovery_feeds_the_row_and_a_new_announcement_adds_nothing(tmp_path, nursery):
    store = MemoryStore()
    srv = ArenaServer(make_config(tmp_path), store=store)
    with trio.CancelScope() as first_life:
        async with trio.open_nursery() as n:
            await srv.persistence.start(n)  # a started server: its store has a snapshot
            await srv.persistence.announce(PAID)  # ... and it dies before the engine's tick is durable
            first_life.cancel()
    srv2 = ArenaServer(make_config(tmp_path), store=store)
    await srv2.persistence.start(nursery)
    assert taken(srv2).count(PAID) == 1  # recovery fed the unconsumed row
    await srv2.persistence.announce(PAID)  # the chain watcher announces it again after the restart
    assert taken(srv2).count(PAID) == 1


async def test_a_consumed_payment_is_never_handed_over_again(tmp_path):
    store = MemoryStore()
    await store.open()
    srv = ArenaServer(make_config(tmp_path), store=store)
    await srv.persistence.announce(PAID)
    await store.write(TickBatch(durable_tick=5, inbox_done=[("entry:sig-1", 5)]))
    srv2 = ArenaServer(make_config(tmp_path), store=store)  # a later process: nothing in memory
    await srv2.persistence.announce(PAID)
    assert taken(srv2) == []


class _FakeChain:
    """A chain ledger whose confirm calls land at once; records acknowledgements."""

    def __init__(self):
        self.acked = []

    async def confirm_entry(self, wallet, match, amount, tx, signature):
        return PaymentResult("confirmed", "sig-e", match, wallet, amount)

    async def confirm_tip(self, wallet, tx, signature):
        return TipResult("confirmed", "sig-t", wallet, "w2", 1000, 20)

    async def acknowledge(self, payment_id):
        self.acked.append(payment_id)

    def balance_of_something(self):
        return 42


async def _wrapped(tmp_path):
    """(store, server, fake chain, the chain wrapped as the server wraps it)."""
    store = MemoryStore()
    await store.open()
    srv = ArenaServer(make_config(tmp_path), store=store)
    chain = _FakeChain()
    return store, srv, chain, ChainAnnouncements(chain, srv.persistence.announce)


async def test_confirm_calls_announce_then_acknowledge(tmp_path):
    store, srv, chain, led = await _wrapped(tmp_path)
    res = await led.confirm_entry("w1", "ro-y", 100, b"tx", b"sig")
    tip = await led.confirm_tip("w1", b"tx", b"sig")
    assert res.status == tip.status == "confirmed"
    assert taken(srv) == [I.EntryFeePaid("ro-y", "w1", 100, "sig-e"), I.TipSent("w1", "w2", 1000, 20, "sig-t")]
    assert sorted(store.inbox) == ["entry:sig-e", "tip:sig-t"] and chain.acked == ["sig-e", "sig-t"]
    assert led.balance_of_something() == 42  # everything else is the inner ledger's


async def test_a_store_that_cannot_take_it_makes_the_answer_pending(tmp_path):
    store, srv, chain, led = await _wrapped(tmp_path)
    store.fail = ConnectionError("store unplugged")
    res = await led.confirm_entry("w1", "ro-y", 100, b"tx", b"sig")
    assert res.status == "pending" and res.payment_id == "sig-e"
    assert taken(srv) == [] and chain.acked == []  # unacknowledged: the chain watcher announces it later
    store.fail = None
    await srv.persistence.announce(I.EntryFeePaid("ro-y", "w1", 100, "sig-e"))  # what the watcher does
    assert taken(srv) == [I.EntryFeePaid("ro-y", "w1", 100, "sig-e")]
    await trio.lowlevel.checkpoint()
