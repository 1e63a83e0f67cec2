"""Finished rounds in `history.get` and out of the engine's state.

A round that ends (finalized, or void) leaves a `history.get` entry for each
of its bettors (a `MatchResult`: the proposition, the draw and outcome, the
pool, every bettor's stake, every winner's payout, the fee; or the void
reason and the refunds) and its `mode_records` row. `archive_after_ms`
after it is settled or void, it leaves the engine's state (bounded state);
a round that still owes a claim stays until it is claimed. Stats count
archived rounds; a replay gives the same hash."""

from __future__ import annotations

from contextlib import AsyncExitStack

import trio

from arena.engine.mode import MatchResult, Record
from arena.modes.lottery import records
from arena.wallclock import ManualClock
from conftest import wait_until
from lottery_harness import Engine
from test_lottery_e2e import DRAW, HOUR, T0, _code, _config, _expected_draw, _server, bet, create, operator_and_two

WHITES = (4, 18, 33, 47, 60)


def _finish(e: Engine, rid: str, bonus: int = 7) -> None:
    e.at(e.round(rid).result_at_ms)
    while e.fetches:
        eff = e.fetches[0]
        e.feed(value=WHITES if ":white:" in eff.key else (bonus,))


def _played(e: Engine, bonus: int = 7) -> str:
    """A round alice (yes) and bob (no) bet 10 each on, to its result."""
    rid = e.create(draw_in_ms=120_000).body["round"]
    e.pay(rid, "alice", "yes", 10)
    e.pay(rid, "bob", "no", 10)
    _finish(e, rid, bonus)
    return rid


def _ended(e: Engine) -> list[dict]:
    return e.events_of(records.ROUND_ENDED)


def test_a_finished_round_is_a_history_entry_and_a_row():
    e = Engine(lock_lead_ms=60_000, result_delay_ms=0, fee_bps=200)
    rid = e.create(draw_in_ms=120_000).body["round"]
    e.pay(rid, "alice", "yes", 300)
    e.pay(rid, "bob", "no", 200)
    _finish(e, rid, bonus=7)  # odd: yes wins
    [body] = _ended(e)
    assert body == {"round": rid, "state": "finalized", "game": "powerball", "draw_time_ms": e.round(rid).draw_time_ms,
                    "proposition": {"kind": "bonus_parity"}, "pool": {"yes": 300, "no": 200, "matched": 200},
                    "stakes": {"alice": 300, "bob": 200}, "outcome": "yes",
                    "result": {"game": "powerball", "whites": list(WHITES), "bonus": 7},
                    "payouts": {"alice": 396}, "fees": 4}
    ops = records.from_events([ev for ev in e.events if ev.type == records.ROUND_ENDED])
    assert ops[0] == Record("round", rid, {"state": "finalized", "outcome": "yes", "result": body["result"]})
    assert ops[1] == MatchResult(rid, ("alice", "bob"), body)


def test_a_void_round_s_entry_has_its_refunds():
    e = Engine(lock_lead_ms=60_000, result_delay_ms=0, void_after_ms=600_000)
    rid = e.create(draw_in_ms=120_000).body["round"]
    e.pay(rid, "alice", "yes", 50)
    e.pay(rid, "bob", "no", 80)
    e.at(e.round(rid).void_at_ms)
    [body] = _ended(e)
    assert body["state"] == "void" and body["refunds"] == {"alice": 50, "bob": 50}
    assert body["reason"] == "no agreed result by the void deadline"


def test_ended_rounds_leave_the_state_after_archive_after_ms_and_owed_ones_stay():
    e = Engine(lock_lead_ms=60_000, result_delay_ms=0, archive_after_ms=HOUR, auto_settle=False)
    paid, owed = (_played(e) for _ in range(2))
    assert e.claim("alice", paid).ok  # paid is settled; owed waits for alice's claim
    e.advance(HOUR + 60_000)  # engine time runs a little ahead of the harness's clock
    e.create(draw_in_ms=120_000)  # a new round sweeps the old ones
    rounds = e.shared().rounds
    assert paid not in rounds and owed in rounds and e.shared().archived == 1
    assert e.claim("alice", paid).body["code"] == "not_found"
    assert [x[0] for x in e.shared().by_wallet["alice"]] == [owed]
    assert e.read("bob", "stats").body == {"rounds": 3, "volume": 40, "bettors": 2, "paid": 20}
    assert e.claim("alice", owed).ok  # settled now; archived an hour after
    e.advance(HOUR + 60_000)  # engine time runs a little ahead of the harness's clock
    e.create(draw_in_ms=120_000)
    assert owed not in e.shared().rounds and e.shared().archived == 2
    assert e.read("bob", "stats").body["rounds"] == 4
    assert e.replayed_hash() == e.hash()


def test_state_is_bounded_by_recent_rounds_not_every_round_ever():
    e = Engine(lock_lead_ms=60_000, result_delay_ms=0, archive_after_ms=0)
    for _ in range(30):
        _played(e)
    assert len(e.shared().rounds) <= 1 and e.shared().archived >= 29
    assert all(not v for v in e.shared().by_wallet.values())
    assert len(_ended(e)) == 30


async def test_history_get_lists_a_finished_round_for_its_bettors(nursery, tmp_path):
    clock = ManualClock(T0)
    srv, url = await _server(nursery, _config(tmp_path, archive_after_ms=0), clock)
    async with AsyncExitStack() as stack:
        op, alice, bob = await operator_and_two(srv, url, stack)
        rid = await create(op, kind="bonus_over", threshold=13)
        await bet(alice, rid, "yes", 100)
        await bet(bob, rid, "no", 100)
        await wait_until(lambda: srv.state.modes["lottery"].rounds[rid].matched == 100)
        clock.set(DRAW + 1_000)
        await alice.next_event("lottery:round_finalized", timeout=10)
        _, bonus = _expected_draw(rid)
        winner = alice if bonus > 13 else bob
        await wait_until(lambda: rid not in srv.state.modes["lottery"].rounds, timeout=10)  # archived at once
        for c in (alice, bob):
            with_entry = None
            for _ in range(100):
                hist = await c.history(mode="lottery")
                if hist["matches"]:
                    with_entry = hist["matches"][0]
                    break
                await trio.sleep(0.05)  # the store writes the entry with the tick's journal rows
            assert with_entry is not None and with_entry["match"] == rid and with_entry["mode"] == "lottery"
            result = with_entry["result"]
            assert result["state"] == "finalized" and result["stakes"] == {alice.wallet: 100, bob.wallet: 100}
            assert result["payouts"] == {winner.wallet: 198} and result["result"]["bonus"] == bonus
        assert await _code(alice, "lottery.round", {"round": rid}) == "not_found"
        assert (await alice.request("lottery.stats", {}))["rounds"] == 1
        assert await winner.balance() == 10_000 + 98


NEW_FIELDS = {"LotteryRound": ("ended_at_ms", "watch_groups", "pool_sweep"),
              "LotteryShared": ("next_draw", "archived"),
              "LotteryConfig": ("archive_after_ms", "draws", "round_propositions")}


def _without_new_fields(data):
    """A snapshot's plain data as a store written before those fields has it."""
    if isinstance(data, list):
        out = [_without_new_fields(v) for v in data]
        if len(out) >= 2 and out[0] == "A" and out[1] in NEW_FIELDS:
            pairs = list(zip(out[2::2], out[3::2]))
            out = ["A", out[1], *[x for k, v in pairs if k not in NEW_FIELDS[out[1]] for x in (k, v)]]
        return out
    return data


def test_a_state_stored_before_the_new_fields_loads_and_verifies_with_the_same_hash():
    from arena.engine import snapshot
    from arena.engine.canonical import state_hash

    e = Engine(lock_lead_ms=60_000, result_delay_ms=0)
    rid = e.create(draw_in_ms=120_000).body["round"]
    e.read("w", "watch", rid)
    e.pay(rid, "alice", "yes", 10)
    old = _without_new_fields(snapshot.dump(e.state))
    assert "watch_groups" not in str(old) and "archive_after_ms" not in str(old)
    loaded = snapshot.load(old)
    # Before the sweep, the loaded round has its watchers but no groups; the
    # hash is the stored one all the same (new fields at their defaults are
    # not in it), and the watcher is regrouped at the next pool sweep.
    e.round(rid).watch_groups = [[] for _ in e.round(rid).watch_groups]
    assert state_hash(loaded) == state_hash(e.state)
    e.state = loaded
    e.pay(rid, "bob", "no", 10)
    e.advance(2_000)
    assert ("w",) in {ev.to for ev in e.events if ev.type == "lottery:pool"}
    assert e.round(rid).watch_groups[0] == ["w"]
