"""One simulated world: the real server, bots, faults and invariants, from a seed.

`run_seed(seed, ticks)` runs, in one process and on trio's `MockClock`
(simulated seconds cost nothing while every task waits), the real
`ArenaServer`: tick loop, engine, gateway, sessions, persistence (on a
`SimStore`), the embedded ledger, the embedded judge, the scheduler. Bots
play every registered mode that brings them (`Mode.simulation`), through
the real protocol and the real `ArenaClient`, over in-memory links
(`arena.sim.transport`). The seed decides everything: the bots' choices,
the fault plan, the ids the server draws (`secrets` is seeded for the run)
and trio's task order (its deterministic scheduling, as under Hypothesis).

Faults (`arena.sim.faults`) come at their ticks: connections dropped, cut
or slow; garbage frames; store writes that fail or stall; crashes (the
server's memory is dropped, a new server recovers from what the store made
durable); ledger calls that fail, stall, or apply and lose their answer;
judge calls that fail; wall-clock jumps.

Invariants are checked every `check_every` ticks and at the end
(`arena.sim.invariants`); the first violation stops the run. After the
last tick the bots stop, faults stop, and the world is given simulated time
to settle: every match must end and every effect be carried out.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import random
import secrets
import tempfile
import time
from contextlib import asynccontextmanager

import attrs
import msgpack
import trio
import trio.testing
from attrs import define, field, frozen

from arena.client import ArenaClient, running

from . import invariants
from .faults import FaultPlan, Flaky, SimStore
from .media import SimMedia
from .transport import SimGateway

log = logging.getLogger("arena.sim")

EPOCH_MS = 1_796_256_000_000  # 2026-12-02 00:00 UTC: simulated wall clock at trio time 0
SETTLE_S = 180.0  # simulated seconds after the last tick for every match to end


class Violation(Exception):
    """An invariant failed (the message says which and how)."""


@frozen
class SimSettings:
    seed: int
    ticks: int = 1200
    bots: int = 4
    fault_rate: float = 1.0
    check_every: int = 20
    tick_hz: int = 20


@define
class SimResult:
    seed: int
    ticks: int
    plan: FaultPlan
    ok: bool
    failure: str = ""
    stats: dict = field(factory=dict)
    notes: list = field(factory=list)  # the bots' last lines

    def summary(self) -> str:
        s = self.stats
        head = f"seed {self.seed}: {'ok' if self.ok else 'FAILED'}"
        body = (f" ticks {s.get('ticks', 0)}, lives {s.get('lives', 0)}, faults {s.get('faults', 0)}, "
                f"checks {s.get('checks', 0)}, matches {s.get('matches', 0)}, digest {s.get('digest', '')[:16]}")
        return head + body + ("" if self.ok else f"\n  {self.failure}\n  plan: {self.plan.text() or '(none)'}")


@contextlib.contextmanager
def seeded_randomness(seed: int, wall_clock):
    """For one run: `secrets` (session ids, nonces, world ids, seeds) and trio's
    task order drawn from the seed, and the host's clocks simulated
    (`wall_clock()`: the world's epoch ms), so a seed replays
    exactly; restored after."""
    from trio._core import _run as trio_run

    rng = random.Random(f"secrets:{seed}")
    names = ("token_bytes", "token_hex", "token_urlsafe", "randbits", "randbelow")
    saved = {n: getattr(secrets, n) for n in names}
    secrets.token_bytes = lambda n=32: rng.randbytes(n)
    secrets.token_hex = lambda n=32: rng.randbytes(n).hex()
    secrets.token_urlsafe = lambda n=32: base64.urlsafe_b64encode(rng.randbytes(n)).rstrip(b"=").decode()
    secrets.randbits = rng.getrandbits
    secrets.randbelow = rng.randrange
    # The host's clocks: the simulated ones (wall = `World.clock`, monotonic =
    # trio's mock clock), so nothing the server decides depends on how fast
    # this machine runs the world.
    clocks = {n: getattr(time, n) for n in ("time", "time_ns", "monotonic")}
    real_monotonic = clocks["monotonic"]

    def monotonic():
        try:
            return trio.current_time()
        except RuntimeError:  # outside the run
            return real_monotonic()

    def wall_ms():
        try:
            return wall_clock()
        except RuntimeError:
            return clocks["time_ns"]() // 1_000_000

    # Work handed to a thread finishes when the thread does, in real time:
    # meanwhile the mock clock would jump by however long that took. In a
    # world it runs inline instead (it is CPU work: hashing, encoding).
    run_sync = trio.to_thread.run_sync

    async def inline(fn, *args, **_options):  # a limiter, abandon_on_cancel: nothing to do inline
        await trio.lowlevel.checkpoint()
        return fn(*args)

    trio.to_thread.run_sync = inline
    time.time = lambda: wall_ms() / 1000
    time.time_ns = lambda: wall_ms() * 1_000_000
    time.monotonic = monotonic
    was = trio_run._ALLOW_DETERMINISTIC_SCHEDULING
    state = trio_run._r.getstate()
    trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True
    trio_run._r.seed(f"trio:{seed}")
    try:
        yield rng
    finally:
        for n, f in saved.items():
            setattr(secrets, n, f)
        for n, f in clocks.items():
            setattr(time, n, f)
        trio.to_thread.run_sync = run_sync
        trio_run._ALLOW_DETERMINISTIC_SCHEDULING = was
        trio_run._r.setstate(state)


class World:
    """What bots and invariants see of the running simulation."""

    def __init__(self, settings: SimSettings, plan: FaultPlan) -> None:
        self.settings = settings
        self.plan = plan
        self.rng = random.Random(f"world:{settings.seed}")
        self.store = SimStore()
        self.media = SimMedia()  # the world's media, across its server's lives
        self.clock_jump_ms = 0  # how far the wall clock has jumped forward
        self.server = None  # the live ArenaServer, None while "crashed"
        self.ledger: Flaky | None = None
        self.judge: Flaky | None = None
        self.book = None  # the embedded ledger's book (lives in the store across lives)
        self.bots: list = []
        self.links: set = set()
        self.stats = {"ticks": 0, "lives": 0, "faults": 0, "checks": 0, "matches": 0, "bot_errors": 0}
        self.applied_faults: list[str] = []
        self.stopping = False
        self.torn_down = False  # the run is over and its tasks are being cancelled
        self.last_tick = 0  # the highest tick any life reached
        self.notes: list[str] = []  # the bots' last log lines, for a failure report

    def note(self, line: str) -> None:
        self.notes.append(f"[{trio.current_time():9.2f}] {line}")
        del self.notes[:-40]

    def clock(self) -> int:
        return EPOCH_MS + int(trio.current_time() * 1000) + self.clock_jump_ms

    # --- connections ----------------------------------------------------------------------
    @asynccontextmanager
    async def connect(self, bot):
        """An ArenaClient on an in-memory link to the live server's gateway
        (OSError while the server is down, as a refused TCP connect)."""
        srv = self.server
        if srv is None or self.stopping:
            raise OSError("simulated: the server is down")
        link = srv.gateway.connect(f"sim:{bot.name}")
        self.links.add(link)
        client = ArenaClient(link.client, keypair=bot.keypair, client_name=f"sim/{bot.name}")
        bot.link = link
        try:
            async with running(client):
                yield client
        finally:
            self.links.discard(link)
            link.close(1000, "client gone", by_server=False)


async def _life(world: World, cfg, task_status=trio.TASK_STATUS_IGNORED):
    """One life of the server: start (recovering from the store), serve until cancelled."""
    from arena.ai.service import make_judge
    from arena.server import ArenaServer

    judge = Flaky(make_judge(cfg), ("score", "generate_prompt", "transcribe", "moderate"))
    srv = ArenaServer(cfg, store=world.store, judge=judge, media=world.media, clock=world.clock)
    srv.gateway = SimGateway(cfg.net, srv, cfg.server.host, 0)
    srv.persistence.rate_limits.clock = trio.current_time
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.run)
        world.ledger = Flaky(srv.ledger, ("settle", "confirm_entry", "build_entry", "faucet"))
        srv.ledger = world.ledger
        world.judge = judge
        world.book = srv.ledger._inner.inner.book
        world.server = srv
        world.stats["lives"] += 1
        task_status.started(srv)


def make_config(settings: SimSettings, media_dir: str):
    from arena.config import default_config

    base = default_config()
    engine = attrs.evolve(base.engine, seed=settings.seed % (2**62) + 1, tick_hz=settings.tick_hz)
    for plugin in invariants.plugins():
        # A mode's plugin may size its part of the world (`configure(engine)`).
        configure = getattr(plugin, "configure", None)
        if configure is not None:
            engine = configure(engine)
    return attrs.evolve(
        base,
        server=attrs.evolve(base.server, port=0, tick_hz=settings.tick_hz, metrics_port=0),
        engine=engine,
        ledger=attrs.evolve(base.ledger, kind="embedded", faucet_amount=10_000),
        # The store object is the simulator's (`SimStore`); these say how it is used.
        store=attrs.evolve(base.store, snapshot_every_ticks=200, keep_snapshots=4),
        redis=attrs.evolve(base.redis, url=""),
        media=attrs.evolve(base.media, kind="local", path=media_dir),
    )


async def _conductor(world: World, cfg) -> None:
    """Start the server, apply the plan's faults at their ticks, check the
    invariants, restart after crashes; then let the world settle."""
    s = world.settings
    faults = list(world.plan.faults)
    period = 1.0 / s.tick_hz
    async with trio.open_nursery() as top:
        scope = trio.CancelScope()

        async def serve(task_status=trio.TASK_STATUS_IGNORED):
            with scope:
                await _life(world, cfg, task_status=task_status)
                await trio.sleep_forever()

        await top.start(serve)
        bots = []
        for plugin in invariants.plugins():
            bots += plugin.bots(world, s.bots)
        world.bots = bots
        for bot in bots:
            top.start_soon(_keep_playing, world, bot)
        while world.last_tick < s.ticks:
            await trio.sleep(period)
            srv = world.server
            if srv is None:
                continue
            tick = srv.state.tick
            world.last_tick = max(world.last_tick, tick)
            world.stats["ticks"] = world.last_tick
            world.stats["matches"] = srv.state.match_counter
            while faults and faults[0].tick <= world.last_tick:
                fault = faults.pop(0)
                crash = await _apply(world, fault)
                if crash:
                    scope.cancel()
                    world.server = None
                    for link in list(world.links):
                        link.close(1006, "server gone", by_server=True)
                    await trio.sleep(fault.arg * period)
                    _clear_faults(world)
                    scope = trio.CancelScope()
                    await top.start(serve)
                    break
            if world.server is not None and tick % s.check_every == 0:
                _check(world, invariants.continuous)
        # Settle: no more faults or new matches; every match must end.
        world.stopping = True
        _clear_faults(world)
        for bot in bots:
            bot.stop = True
        with trio.move_on_after(SETTLE_S):
            while not invariants.settled(world):
                await trio.sleep(0.5)
        await _make_durable(world.server)
        world.stats["ticks"] = world.server.state.tick
        world.stats["matches"] = world.server.state.match_counter
        _check(world, invariants.continuous)
        _check(world, invariants.final)
        _check(world, invariants.replay)
        world.stats["digest"] = invariants.digest(world)
        world.torn_down = True
        top.cancel_scope.cancel()


async def _make_durable(srv) -> None:
    """Write until the store has every tick stepped; return between two ticks
    (no await after the check), so the checks see the live state at the
    durable tick."""
    d = srv.persistence.durability
    for _ in range(100):
        await d.flush()
        # state.tick past stepped_tick: a tick is being formed (an input
        # arrived after the last one closed); wait for it to close.
        if d.durable_tick == d.stepped_tick == srv.state.tick:
            return
        await trio.sleep(1 / srv.tick_hz)
    raise Violation(f"the store never caught up: durable {d.durable_tick}, stepped {d.stepped_tick}")


def _clear_faults(world: World) -> None:
    world.store.failing = False
    world.store.stall_s = 0.0
    for flaky in (world.ledger, world.judge):
        if flaky is not None:
            flaky.fail_next = flaky.lose_next = flaky.slow_next = flaky.garbage_next = 0


async def _apply(world: World, fault) -> bool:
    """Put `fault` into the world; True for a crash (the conductor restarts)."""
    world.stats["faults"] += 1
    world.applied_faults.append(fault.text())
    k, period = fault.kind, 1.0 / world.settings.tick_hz
    bots = world.bots
    bot = (bots[fault.arg % len(bots)] if bots and k in ("drop_client", "abort_client", "slow_reader", "garbage", "flood")
           else None)
    if k == "crash":
        return True
    if k == "drop_client" and bot is not None and getattr(bot, "link", None) is not None:
        bot.link.close(1001, "simulated drop", by_server=False)
    elif k == "abort_client" and bot is not None and getattr(bot, "link", None) is not None:
        bot.link.close(1006, "simulated cut", by_server=False)
    elif k == "slow_reader" and bot is not None and getattr(bot, "link", None) is not None:
        bot.link.deaf_until = trio.current_time() + fault.arg2 * period
    elif k == "garbage" and bot is not None and getattr(bot, "link", None) is not None:
        link = bot.link
        if not link.is_closed:
            junk = world.rng.choice((b"\xc1", b"\x94\x01", b"\x94\x01\x05\xa3bad\x80", b"\xff" * 64,
                                     b"\x94\x01\x07\xa5hello\x81\xa8protocol\xa1x"))
            link.gateway._on_message(link.server, junk, False)
    elif k == "store_fail":
        world.store.failing = True
        _later(world, fault.arg * period, lambda: setattr(world.store, "failing", False))
    elif k == "store_stall":
        world.store.stall_s = 0.5
        _later(world, fault.arg * period, lambda: setattr(world.store, "stall_s", 0.0))
    elif k == "ledger_fail" and world.ledger is not None:
        world.ledger.fail_next += fault.arg
    elif k == "ledger_lost_answer" and world.ledger is not None:
        world.ledger.lose_next += fault.arg
    elif k == "ledger_slow" and world.ledger is not None:
        world.ledger.slow_next += fault.arg
    elif k == "judge_fail" and world.judge is not None:
        world.judge.fail_next += fault.arg
    elif k == "judge_garbage" and world.judge is not None:
        world.judge.garbage_next += fault.arg
    elif k == "flood" and bot is not None and getattr(bot, "link", None) is not None:
        link = bot.link
        for n in range(fault.arg2):
            if link.is_closed:
                break
            kind = ("ping", "wallet.balance", "queue.join", "reaction.send")[n % 4]
            body = {"mode": "roast", "tier": "bronze"} if kind == "queue.join" else (
                {"match": "ro-0000000000000000", "emoji": "🔥"} if kind == "reaction.send" else {})
            link.gateway._on_message(link.server, msgpack.packb([1, 900_000 + n, kind, body]), False)
    elif k == "clock_jump":
        world.clock_jump_ms += fault.arg * 1000
    return False


def _later(world: World, delay: float, fn) -> None:
    srv = world.server
    if srv is None:
        return

    async def run():
        await trio.sleep(delay)
        fn()

    srv.gateway._nursery.start_soon(run)


def _check(world: World, check) -> None:
    world.stats["checks"] += 1
    problems = check(world)
    if problems:
        raise Violation(f"{check.__name__} at tick {world.server.state.tick if world.server else '?'}: "
                        + "; ".join(problems))


async def _keep_playing(world: World, bot) -> None:
    """Run a bot; a bot that gives up (a fault can make it) starts again
    with the same wallet, until the world stops."""
    while not world.stopping:
        try:
            ok = await bot.run()
        except BaseException:
            if world.torn_down:
                return  # the world is being taken down around the bot: nothing to report
            raise
        if world.stopping:
            return
        if not ok:
            world.stats["bot_errors"] += 1
        await trio.sleep(2.0)
        bot.reset()


def run_seed(seed: int, ticks: int = 1200, *, bots: int = 4, fault_rate: float = 1.0,
             plan: FaultPlan | None = None) -> SimResult:
    """Run one world; never raises for what the world did (the result says)."""
    settings = SimSettings(seed=seed, ticks=ticks, bots=bots, fault_rate=fault_rate)
    if plan is None:
        plan = FaultPlan.draw(seed, ticks, bots, fault_rate)
    world = World(settings, plan)
    result = SimResult(seed, ticks, plan, ok=True)
    with seeded_randomness(seed, world.clock), _quiet(), tempfile.TemporaryDirectory(prefix="arena-sim-") as media:
        cfg = make_config(settings, media)
        try:
            trio.run(_conductor, world, cfg, clock=trio.testing.MockClock(autojump_threshold=0))
        except BaseException as exc:  # noqa: BLE001 - a crash of the server code is a finding too
            if isinstance(exc, KeyboardInterrupt):
                raise
            found = _violation(exc)
            result.ok = False
            result.failure = str(found) if found is not None else f"crashed: {_describe(exc)}"
            result.notes = list(world.notes)
    result.stats = dict(world.stats)
    return result


def _violation(exc: BaseException) -> Violation | None:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, Violation) else None


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions[:3])
    import traceback

    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


@contextlib.contextmanager
def _quiet():
    """The server logs every fault it survives; a run of hundreds of worlds
    keeps only errors from code that is not the simulator's."""
    root = logging.getLogger("arena")
    level = root.level
    root.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        root.setLevel(level)


__all__ = ["run_seed", "SimResult", "SimSettings", "World", "Violation", "seeded_randomness"]
