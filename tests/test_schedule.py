"""Wall-clock time and calendar schedules: rules, DST, exactly once, restarts.

Units: rule text, occurrences across daylight-saving changes (America/New_York
falls back on 2026-11-01 and springs forward on 2027-03-14), `decide`'s
policies. Engine: engine time is journaled (`ClockSet`), an occurrence is
applied once, replay gives the same hash. Scheduler: polls with an injected
clock. End to end: a real server with a manual clock and a SQLite store,
stopped before an occurrence and started after it (it fires late, once),
and a one-off instant that comes from the engine state.
"""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.client import ArenaRequestError
from arena.engine import core
from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.engine.clock import now_ms
from arena.engine.config import EngineConfig
from arena.engine.registry import registry
from arena.persistence.durable import replay
from arena.schedule import Rule, RuleError, decide, next_after, occurrences, parse
from arena.scheduler import Scheduler
from arena.wallclock import ManualClock
from conftest import make_config, player, wait_until

NY = "America/New_York"
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000


def utc(*args) -> int:
    return int(dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp()) * 1000


# --- rule text ----------------------------------------------------------------------------


def test_rule_text_round_trips():
    for text in ("weekly SAT 09:00 America/New_York", "weekly MON,WED,FRI 18:30 Europe/London",
                 "daily 00:00 UTC", "monthly 28 23:59 Asia/Tokyo", "once 2026-12-24T18:00 Europe/London"):
        assert parse("r", text).text() == text
    at = parse("r", "once 2026-12-24T18:00:05.250 UTC")
    assert at.instant_ms == utc(2026, 12, 24, 18, 0, 5) + 250
    assert parse("r", at.text()) == at


@pytest.mark.parametrize("text", [
    "", "weekly", "weekly SAT 9 UTC", "weekly XYZ 09:00 UTC", "weekly SAT 24:00 UTC", "daily 09:60 UTC",
    "daily 09:00 Mars/Olympus", "monthly 31 09:00 UTC", "monthly x 09:00 UTC", "once 2026-13-01T00:00 UTC",
    "once 2026-12-01T00:00+01:00 UTC", "hourly 09:00 UTC", "daily 09:00 UTC extra", "weekly SAT,SAT 09:00 UTC",
])
def test_bad_rule_text_is_refused_with_a_reason(text):
    with pytest.raises(RuleError) as err:
        parse("reset", text)
    assert "reset" in str(err.value)


def test_rule_values_are_validated():
    with pytest.raises((RuleError, ValueError)):
        Rule(name="bad name!", kind="daily", zone="UTC")
    with pytest.raises((RuleError, ValueError)):
        Rule(name="r", kind="weekly", zone="UTC")  # no days
    with pytest.raises((RuleError, ValueError)):
        parse("r", "daily 09:00 UTC", missed="sometimes")


# --- occurrences and daylight saving ------------------------------------------------------


def test_weekly_new_york_follows_daylight_saving():
    rule = parse("reset", "weekly SAT 09:00 America/New_York")
    got = occurrences(rule, utc(2026, 10, 24, 0, 0), utc(2026, 11, 15, 0, 0))
    # 09:00 EDT (UTC-4) before 1 November, 09:00 EST (UTC-5) after.
    assert got == [utc(2026, 10, 24, 13), utc(2026, 10, 31, 13), utc(2026, 11, 7, 14), utc(2026, 11, 14, 14)]
    spring = occurrences(rule, utc(2027, 3, 10), utc(2027, 3, 25))
    assert spring == [utc(2027, 3, 13, 14), utc(2027, 3, 20, 13)]
    assert next_after(rule, utc(2026, 11, 1)) == utc(2026, 11, 7, 14)


def test_a_local_time_in_the_spring_gap_fires_once_after_it():
    rule = parse("r", "daily 02:30 America/New_York")
    day = occurrences(rule, utc(2027, 3, 14, 0), utc(2027, 3, 15, 0))
    # 02:30 does not exist on 14 March: it fires at 03:30 EDT = 07:30 UTC.
    assert day == [utc(2027, 3, 14, 7, 30)]


def test_a_local_time_that_happens_twice_fires_once():
    rule = parse("r", "daily 01:30 America/New_York")
    day = occurrences(rule, utc(2026, 11, 1, 0), utc(2026, 11, 2, 0))
    assert day == [utc(2026, 11, 1, 5, 30)]  # the first 01:30 (EDT); not again at 06:30 UTC


@settings(max_examples=60, deadline=None)
@given(start=st.integers(utc(2024, 1, 1), utc(2030, 1, 1)), span=st.integers(0, 40 * DAY),
       zone=st.sampled_from(["UTC", NY, "Europe/London", "Australia/Sydney", "Asia/Kolkata"]))
def test_occurrences_are_ordered_distinct_and_split_exactly(start, span, zone):
    rule = parse("r", f"daily 02:30 {zone}")
    whole = occurrences(rule, start, start + span)
    mid = start + span // 2
    assert whole == sorted(set(whole))
    assert whole == occurrences(rule, start, mid) + occurrences(rule, mid, start + span)
    # One a day: gaps between 23 and 25 hours.
    assert all(23 * HOUR <= b - a <= 25 * HOUR for a, b in zip(whole, whole[1:]))


# --- decide: arming, on time, late, skipped, once -----------------------------------------


def test_decide_policies():
    rule = parse("reset", "weekly SAT 09:00 America/New_York")
    sat = utc(2026, 10, 31, 13)
    assert decide(rule, None, sat - HOUR, 60_000).kind == "armed"
    assert decide(rule, sat - HOUR, sat - 1, 60_000) is None
    d = decide(rule, sat - HOUR, sat + 500, 60_000)
    assert (d.at_ms, d.kind, d.missed) == (sat, "on_time", 0)
    assert decide(rule, sat, sat + 500, 60_000) is None  # applied already
    # Down for three weeks: three occurrences missed; the newest fires late, once.
    d = decide(rule, sat, sat + 21 * DAY + 2 * HOUR, 60_000)
    assert (d.at_ms, d.kind, d.missed) == (utc(2026, 11, 21, 14), "late", 2)
    skip = parse("reset", "weekly SAT 09:00 America/New_York", missed="skip")
    d = decide(skip, sat, sat + 21 * DAY + 2 * HOUR, 60_000)
    assert (d.kind, d.missed) == ("skipped", 3)


def test_decide_a_one_off_instant():
    rule = Rule.at("lock", utc(2026, 12, 24, 18) + 123)
    assert decide(rule, None, utc(2026, 12, 24, 17), 60_000) is None
    d = decide(rule, None, utc(2026, 12, 24, 18) + 200, 60_000)
    assert (d.at_ms, d.kind) == (utc(2026, 12, 24, 18) + 123, "on_time")
    assert decide(rule, d.at_ms, utc(2027, 1, 1), 60_000) is None  # once, ever
    late = decide(rule, None, utc(2026, 12, 25), 60_000)
    assert late.kind == "late"


# --- the engine: journaled time, applied once, replay -------------------------------------


@pytest.fixture
def ticker(monkeypatch):
    # Only the ticker's rules: a built-in mode's own (the canvas's weekly
    # reset) would otherwise be armed and fire alongside them.
    for mode in registry.modes().values():
        monkeypatch.setattr(mode, "schedules", lambda settings, shared: ())
    module = importlib.import_module("ticker_mode")
    registry.register(module.MODE)
    module.RULES[:] = []
    try:
        yield module
    finally:
        module.RULES[:] = []
        registry.unregister("ticker")


def test_engine_time_is_anchored_by_clock_inputs_and_never_goes_back():
    state = core.new_state(EngineConfig(tick_hz=20, seed=3), world="w")
    core.step(state, 1, [])
    assert now_ms(state) == 0
    core.step(state, 2, [I.ClockSet(1_000_000)])
    core.step(state, 3, [])
    core.step(state, 22, [])
    assert now_ms(state) == 1_000_000 + 20 * 50
    core.step(state, 23, [I.ClockSet(5)])  # the host clock stepped back: engine time holds
    assert now_ms(state) == 1_000_000 + 21 * 50
    core.step(state, 24, [I.ClockSet(9_000_000)])
    assert now_ms(state) == 9_000_000


def test_an_occurrence_is_applied_once_and_replays_to_the_same_hash(ticker):
    state = core.new_state(EngineConfig(tick_hz=20, seed=3), world="w")
    sat = utc(2026, 10, 31, 13)
    journal = [
        (1, [I.ClockSet(sat - HOUR)]),
        (2, [I.ScheduleFired("ticker", "reset", sat - HOUR, "armed")]),
        (3, [I.ScheduleFired("ticker", "reset", sat, "on_time")]),
        (4, [I.ScheduleFired("ticker", "reset", sat, "on_time"),  # sent twice: applied once
             I.ScheduleFired("ticker", "reset", sat - 7 * DAY, "late")]),  # older than the mark
        (5, [I.ScheduleFired("nobody", "reset", sat, "on_time")]),  # unknown mode: nothing
    ]
    for tick, inputs in journal:
        core.step(state, tick, inputs)
    fired = state.modes["ticker"].fired
    assert [(r, at, kind) for r, at, kind, _, _ in fired] == [("reset", sat, "on_time")]
    assert state.schedule_marks == {"ticker:reset": sat}
    from arena.persistence import codec

    again = core.new_state(EngineConfig(tick_hz=20, seed=3), world="w")
    replay(again, [(t, codec.encode_inputs(i)) for t, i in journal], 5)
    assert state_hash(again) == state_hash(state)


def test_a_state_without_schedules_or_clock_keeps_its_hash():
    """Snapshots written before engine time existed still verify."""
    state = core.new_state(EngineConfig(tick_hz=20, seed=3), world="w")
    before = state_hash(state)
    assert state.clock is None and state.schedule_marks is None
    core.step(state, 1, [])
    state.tick = 0
    assert state_hash(state) == before


# --- the scheduler side task, with an injected clock ----------------------------------------


def test_scheduler_arms_fires_and_does_not_resend(ticker):
    ticker.RULES[:] = [parse("reset", "weekly SAT 09:00 America/New_York")]
    state = core.new_state(EngineConfig(tick_hz=20, seed=3), world="w")
    sat = utc(2026, 10, 31, 13)
    clock = ManualClock(sat - 10 * MIN)
    queue = []
    sched = Scheduler(lambda: state, lambda inp: queue.append(inp) or True, clock, late_after_ms=60_000)
    tick = 0

    def run_tick():
        nonlocal tick
        tick += 1
        core.step(state, tick, [I.ClockSet(clock()), *queue])
        queue.clear()

    assert [i.kind for i in sched.poll()] == ["armed"]
    assert sched.poll() == []  # sent, not yet applied: not sent again
    run_tick()
    assert sched.poll() == []
    clock.set(sat + 300)
    assert [(i.kind, i.at_ms) for i in sched.poll()] == [("on_time", sat)]
    run_tick()
    clock.advance(HOUR)
    assert sched.poll() == []
    assert [f[:3] for f in state.modes["ticker"].fired] == [["reset", sat, "on_time"]]
    # The engine saw the occurrence at its own journaled time.
    assert state.modes["ticker"].fired[0][4] == sat + 300


def test_a_submitted_occurrence_lost_in_a_crash_is_found_again(ticker):
    """The input never reached a durable tick: the state's mark is older, so a
    new scheduler (after the restart) fires it, late by then."""
    ticker.RULES[:] = [parse("reset", "daily 09:00 UTC")]
    state = core.new_state(EngineConfig(tick_hz=20, seed=3), world="w")
    nine = utc(2026, 12, 3, 9)
    core.step(state, 1, [I.ScheduleFired("ticker", "reset", nine - HOUR, "armed")])
    lost = []
    Scheduler(lambda: state, lambda inp: lost.append(inp) or True, ManualClock(nine + 100)).poll()
    assert [i.kind for i in lost] == ["on_time"]  # ... and the process died before its tick
    fed = Scheduler(lambda: state, lambda inp: True, ManualClock(nine + 5 * MIN), late_after_ms=60_000).poll()
    assert [(i.kind, i.at_ms) for i in fed] == [("late", nine)]


def test_a_broken_mode_schedule_is_reported_not_fatal(ticker):
    ticker.RULES[:] = ["not a rule", parse("ok", "daily 09:00 UTC")]
    state = core.new_state(EngineConfig(tick_hz=20, seed=3), world="w")
    sched = Scheduler(lambda: state, lambda inp: True, ManualClock(utc(2026, 12, 3)))
    assert [i.rule for i in sched.poll()] == ["ok"]
    assert sched.health()["bad_rules"] == 1


# --- end to end: a real server, a manual clock, a SQLite store, a restart -----------------


async def _run_until(cfg, clock, predicate, body=None):
    """Run a server on `cfg` until `predicate(server)`, then stop it (as a kill would)."""
    from arena.server import ArenaServer

    srv = ArenaServer(cfg, clock=clock)
    async with trio.open_nursery() as n:
        port = await n.start(srv.run)
        if body is not None:
            await body(srv, f"ws://127.0.0.1:{port}/v1")
        await wait_until(lambda: predicate(srv), timeout=15)
        await wait_until(lambda: srv.persistence.durability.durable_tick >= srv.state.tick, timeout=15)
        n.cancel_scope.cancel()
    return srv


@pytest.mark.parametrize("kind", ["embedded", pytest.param("postgres", marks=pytest.mark.services)])
async def test_restart_across_an_occurrence_fires_it_late_once(ticker, tmp_path, kind, request):
    import attrs

    ticker.RULES[:] = [parse("reset", "weekly SAT 09:00 America/New_York")]
    base = make_config(tmp_path)
    store = base.store if kind == "embedded" else attrs.evolve(
        base.store, kind="postgres", dsn=request.getfixturevalue("pg_schema"))
    if kind == "postgres":
        from arena.persistence.postgres import PostgresStore

        direct = PostgresStore(store.dsn)
        await direct.migrate()
        await direct.close()
    cfg = attrs.evolve(base, store=store, schedule=attrs.evolve(base.schedule, poll_ms=20))
    sat = utc(2026, 10, 31, 13)  # 09:00 EDT
    clock = ManualClock(sat - MIN)

    def marks(srv):
        return (srv.state.schedule_marks or {}).get("ticker:reset")

    # First life: armed, then the occurrence fires on time.
    srv = await _run_until(cfg, clock, lambda s: marks(s) is not None)
    assert marks(srv) == sat - MIN
    clock.set(sat + 200)
    srv = await _run_until(cfg, clock, lambda s: marks(s) == sat)
    assert [f[:3] for f in srv.state.modes["ticker"].fired] == [["reset", sat, "on_time"]]
    # Down across the next Saturday (09:00 EST after the change: 14:00 UTC):
    # on start-up it fires late, once, at the DST-correct instant.
    next_sat = utc(2026, 11, 7, 14)
    clock.set(next_sat + 3 * HOUR)
    srv = await _run_until(cfg, clock, lambda s: marks(s) == next_sat)
    fired = srv.state.modes["ticker"].fired
    assert [f[:4] for f in fired] == [["reset", sat, "on_time", 0], ["reset", next_sat, "late", 0]]
    # The engine's time after the restart is the clock's, not the ticks'.
    assert fired[-1][4] >= next_sat + 3 * HOUR
    # Another restart, same time: nothing fires again.
    srv = await _run_until(cfg, clock, lambda s: s.state.tick > 5)
    await trio.sleep(0.2)
    assert len(srv.state.modes["ticker"].fired) == 2


async def test_a_one_off_instant_from_the_state_fires_over_the_socket(ticker, tmp_path):
    import attrs

    base = make_config(tmp_path)
    cfg = attrs.evolve(base, schedule=attrs.evolve(base.schedule, poll_ms=20))
    t0 = utc(2026, 12, 24, 17)
    clock = ManualClock(t0)
    seen = {}

    async def body(srv, url):
        async with player(url, faucet=False) as c:
            reply = await c.request("ticker.alarm", {"at_ms": t0 + 30 * MIN})
            assert reply["alarms"] == 1 and reply["now_ms"] >= t0
            with pytest.raises(ArenaRequestError) as err:
                await c.request("ticker.alarm", {"at_ms": "soon"})  # bad type: refused
            assert err.value.code == "bad_request"
            clock.set(t0 + 30 * MIN + 5)
            _, ev = await c.next_event("ticker:fired", timeout=10)
            seen.update(ev)

    srv = await _run_until(cfg, clock, lambda s: len(s.state.modes["ticker"].fired) == 1, body)
    assert seen == {"rule": "alarm-0", "at_ms": t0 + 30 * MIN, "kind": "on_time"}
    assert srv.health()["side_tasks"]["schedule"]["on_time"] == 1
