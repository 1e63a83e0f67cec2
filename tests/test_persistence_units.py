"""Small pieces of the durability design, in isolation."""

from __future__ import annotations

import trio

from arena.chain.embedded import EmbeddedLedger
from arena.engine import inputs as I
from arena.modes.roast import messages as R
from arena.engine.outputs import Settle
from arena.persistence import codec
from arena.persistence.durable import Durability, done_key, wallets_to_disconnect
from arena.persistence.ledger import DurableLedger
from arena.persistence.memory import MemoryStore
from engine_driver import Driver


def test_the_same_entry_payment_reported_twice_counts_once():
    d = Driver()
    mid = d.matchmake()
    paid = d.pay(mid, "alice")
    d.step(paid)
    out = d.step(paid)
    assert out.settles == [] and d.state.matches[mid].paid == {"alice": paid.payment_id}
    # a different payment by the same player is refunded as before
    out = d.step(d.pay(mid, "alice"))
    assert [s.reason for s in out.settles] == ["payment_not_accepted"]


def test_done_keys_match_the_effect_keys():
    d = Driver(scores=None, settle=False)
    mid = d.start()
    d.play_round(mid)
    keys = {e.key for e in d.effects}
    m = d.state.matches[mid]
    assert done_key(R.PromptGenerated(mid, 2, "p")) in keys
    assert done_key(R.RoastScored(mid, 1, "alice", 1, 1, 1, 1, "c")) in keys
    assert done_key(I.SettlementDone("payout:x")) == "payout:x"
    assert done_key(I.SettlementDone("payout:x", ok=False)) is None
    assert set(wallets_to_disconnect(d.state)) == set(m.players)


async def test_money_effects_wait_for_their_tick_to_be_durable():
    store = MemoryStore()
    await store.open()
    dur = Durability(store, snapshot_every_ticks=1000, journal_buffer_max=10)
    released = []
    dur.release = released.append
    d = Driver(settle=False)
    mid = d.start()
    d.step(I.PlayerDisconnected("alice"))
    out = d.advance(20)  # alice forfeits: a payout
    settles = [e for e in out.effects if isinstance(e, Settle)]
    assert settles
    store.fail = ConnectionError("down")
    now = dur.record_tick(d.state, [], [], settles)
    assert now == [] and released == [] and len(dur.held) == 1
    try:
        await dur.flush()
    except ConnectionError:
        pass
    assert released == []
    store.fail = None
    await dur.flush()
    assert released == settles
    assert (await store.load_recovery()).outbox[0][0] == settles[0].key


async def test_a_caller_that_hangs_up_still_gets_its_payment_to_the_engine(nursery):
    store = MemoryStore()
    await store.open()
    gate = trio.Event()
    real_write = store.write_ledger

    async def slow_write(batch):
        await gate.wait()
        await real_write(batch)

    store.write_ledger = slow_write
    delivered = []
    inner = EmbeddedLedger(faucet_amount=1000)
    ledger = DurableLedger(inner, store, deliver=delivered.append)
    nursery.start_soon(ledger.writer)
    await trio.sleep(0)
    from solders.keypair import Keypair

    kp = Keypair()
    wallet = str(kp.pubkey())
    gate.set()
    await ledger.faucet(wallet)
    gate = trio.Event()
    tx = await ledger.build_entry(wallet, "ro-1", 100)
    with trio.move_on_after(0.05):  # the client hangs up while the write is slow
        await ledger.confirm_entry(wallet, "ro-1", 100, tx, bytes(kp.sign_message(tx)))
    assert delivered == []
    gate.set()
    with trio.fail_after(5):
        while not delivered:
            await trio.sleep(0.01)
    assert type(delivered[0]) is I.EntryFeePaid and delivered[0].wallet == wallet
    entries, _ = await store.ledger_entries()
    assert [e[1].split(":")[0] for e in entries] == ["faucet", "entry"]
    assert [k for k, _ in (await store.load_recovery()).inbox] == [f"entry:{delivered[0].payment_id}"]
    assert codec.decode_inputs((await store.load_recovery()).inbox[0][1]) == delivered


def test_wallet_rate_limits_count_per_wallet_action_and_second():
    from arena.persistence.redis_mirror import WalletRateLimits

    now = [100.25]
    rl = WalletRateLimits({"reaction.send": 3}, default=5, clock=lambda: now[0])
    rl.shared = True  # as with a Redis mirror: counts not yet sent are kept for it
    assert [rl.take("w1", "reaction.send") for _ in range(4)][:3] == [0, 0, 0]
    assert rl.take("w1", "reaction.send") > 0  # 4th and 5th refused within the second
    assert rl.take("w2", "reaction.send") == 0  # other wallets are counted apart
    assert all(rl.take("w1", "queue.join") == 0 for _ in range(5))
    assert rl.take("w1", "queue.join") == 750  # ms to the next second
    # other nodes' counts (from Redis) count too
    rl.remote[("w3", "queue.join")] = 5
    assert rl.take("w3", "queue.join") > 0
    now[0] = 101.0  # a new second
    assert rl.take("w1", "reaction.send") == 0 and rl.take("w3", "queue.join") == 0
    assert rl.unsent == {("w1", "reaction.send"): 1, ("w3", "queue.join"): 1}


def test_wallet_rate_limits_without_redis_keep_nothing_to_send():
    from arena.persistence.redis_mirror import WalletRateLimits

    rl = WalletRateLimits({"reaction.send": 2}, default=5, clock=lambda: 7.5)
    assert [rl.take("w1", "reaction.send") for _ in range(3)] == [0, 0, 500]
    assert rl.unsent == {} and rl.refused == 1
