"""The composition root: config in, a running Arena out.

`ArenaServer.run` opens one trio nursery holding everything the server does:
the WebSocket gateway, the fixed-rate tick loop, and the side tasks (judge,
ledger settlements, data feeds) each under a `Supervisor`. Cancel the nursery
and the whole server stops; nothing runs outside it.

The tick loop, each tick: take the queued inputs, `step` the engine, record
the tick's inputs in the journal, hand the engine's messages to the gateway
(one frame per client), and hand its effects to their side tasks. Money
effects leave only after the journal has the tick that made them
(write-ahead). A late tick is measured (`metrics`), never hidden; the loop
keeps its cadence by sleeping until the next deadline.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import deque

import attrs
import trio

from arena.ai.service import JudgeService
from arena.engine import core
from arena.engine import inputs as I
from arena.engine.clock import now_ms
from arena.engine.errors import KEY_CONFLICT, ArenaError
from arena.engine.outputs import Event, Settle
from arena.engine.registry import FEED_WORKER, registry
from arena.feeds.service import FeedService
from arena.net.gateway import Gateway
from arena.persistence.ledger import INBOX_INPUTS
from arena.persistence.runtime import SHED_INPUTS, ServerPersistence
from arena.net.metrics import Histogram, serve_metrics
from arena.supervisor import Supervisor
from arena.gcwatch import GcWatch
from arena.wallclock import system_clock

log = logging.getLogger("arena.server")

# Inputs queued for one tick beyond which new client requests are refused
# with `overloaded` (results of side tasks are always accepted).
MAX_PENDING_INPUTS = 50_000


class TickMetrics:
    """Tick durations and lateness over a sliding window, for operators and the bench."""

    def __init__(self, window: int = 2400):
        self.durations: deque[float] = deque(maxlen=window)
        self.lateness: deque[float] = deque(maxlen=window)
        self.stamps: deque[float] = deque(maxlen=window)
        self.traces: deque[tuple] = deque(maxlen=window)
        self.ticks = 0
        self.inputs = 0
        self.messages = 0
        self.effects = 0
        self.max_duration = 0.0
        self.max_lateness = 0.0
        self.cpu_seconds = 0.0  # CPU time spent in ticks (wall time minus preemption)
        # Cumulative histograms for the metrics endpoint (arena.net.metrics).
        self.duration_hist = Histogram()
        self.lateness_hist = Histogram()

    def record(self, now: float, duration: float, lateness: float, n_in: int, n_msg: int, n_eff: int) -> None:
        self.ticks += 1
        self.inputs += n_in
        self.messages += n_msg
        self.effects += n_eff
        self.durations.append(duration)
        self.lateness.append(lateness)
        self.stamps.append(now)
        self.max_duration = max(self.max_duration, duration)
        self.max_lateness = max(self.max_lateness, lateness)
        self.duration_hist.observe(duration)
        self.lateness_hist.observe(lateness)

    def trace(self, tick: int, lateness: float, gc_before: float, step: float, send: float,
              journal: float, gc_in: float) -> None:
        """One tick's phases (seconds): how late it started and how much of
        that wait the collector took, then stepping, sending (deliver and
        flush) and journaling with dispatch, and the collector inside them."""
        self.traces.append((tick, lateness, gc_before, step, send, journal, gc_in))

    def slowest(self, n: int = 10, since_tick: int = 0) -> list[dict]:
        """The `n` ticks after `since_tick` (of the last 2 minutes) that ended
        latest (lateness + duration), each with its phases in milliseconds:
        where a latency tail comes from."""
        recent = (t for t in self.traces if t[0] > since_tick)
        worst = sorted(recent, key=lambda t: t[1] + t[3] + t[4] + t[5], reverse=True)[:n]
        keys = ("late", "gc_before", "step", "send", "journal", "gc_in")
        return [{"tick": t[0], **{k: round(v * 1000, 2) for k, v in zip(keys, t[1:])}} for t in worst]

    @staticmethod
    def _pct(values, q: float) -> float:
        if not values:
            return 0.0
        s = sorted(values)
        return s[min(len(s) - 1, int(math.ceil(q * len(s))) - 1)]

    def snapshot(self) -> dict:
        rate = 0.0
        if len(self.stamps) >= 2 and self.stamps[-1] > self.stamps[0]:
            rate = (len(self.stamps) - 1) / (self.stamps[-1] - self.stamps[0])
        return {
            "ticks": self.ticks,
            "tick_rate_hz": round(rate, 2),
            "tick_ms_p50": round(self._pct(self.durations, 0.5) * 1000, 3),
            "tick_ms_p99": round(self._pct(self.durations, 0.99) * 1000, 3),
            "tick_ms_max": round(self.max_duration * 1000, 3),
            "lateness_ms_p99": round(self._pct(self.lateness, 0.99) * 1000, 3),
            "lateness_ms_max": round(self.max_lateness * 1000, 3),
            "inputs_total": self.inputs,
            "messages_total": self.messages,
            "effects_total": self.effects,
        }


class MemoryJournal:
    """Keeps nothing: the stand-in until a durable journal is configured.

    With it a restart loses live battles (balances live in the ledger).
    """

    durable_tick = 0

    def append(self, tick: int, inputs: list) -> None:
        self.durable_tick = tick


def make_ledger(cfg):
    kind = cfg.ledger.kind
    if kind == "embedded":
        from arena.chain.embedded import EmbeddedLedger

        return EmbeddedLedger(faucet_amount=cfg.ledger.faucet_amount)
    if kind == "solana":
        from arena.chain.solana import make_solana_ledger

        return make_solana_ledger(cfg)
    if kind == "bsv":
        from arena.chain.bsv import make_bsv_ledger

        return make_bsv_ledger(cfg)
    raise ValueError(f"ledger kind {kind!r} is not available in this build")


def make_judge(cfg):
    from arena.ai.service import make_judge as make  # [ai] kind: embedded | openai

    return make(cfg)


def make_media(cfg):
    from arena.media import make_media as make  # [media] kind: local | s3

    return make(cfg)


class ArenaServer:
    def __init__(self, cfg, *, ledger=None, judge=None, media=None, journal=None, store=None,
                 port: int | None = None, clock=None):
        from arena.chain.keys import is_wallet, verify_bsv_text, verify_wallet_signature, wallet_kind

        self.cfg = cfg
        engine_cfg = cfg.engine
        if engine_cfg.seed == 0:
            # Seed 0 asks for a fresh random seed, so that match ids (and the
            # escrow accounts named after them) never repeat across fresh
            # starts. The seed lives in the state, so replay still sees it.
            engine_cfg = attrs.evolve(engine_cfg, seed=secrets.randbits(62) + 1)
        self.state = core.new_state(engine_cfg)
        # The inputs of the tick being formed, in the order they were taken
        # (the journal's order). With `[server] apply_on_arrival` they are
        # also stepped as they come, into `_open` (the open tick), except
        # while the loop closes a tick (`_closing`): those wait for the next.
        self.pending: list = []
        self.apply_on_arrival = cfg.server.apply_on_arrival
        self._open = None
        self._closing = False
        self.ledger = ledger if ledger is not None else make_ledger(cfg)
        self.judge = judge if judge is not None else make_judge(cfg)
        self.media = media if media is not None else make_media(cfg)
        # `journal`: an observer given every tick's inputs (tests read which
        # judge answered from it); with no store given it also means "keep
        # nothing on disk".
        self.journal_tap = journal if hasattr(journal, "append") else None
        if journal is not None and store is None:
            from arena.persistence.memory import MemoryStore

            store = MemoryStore()
        self.verify_signature = verify_wallet_signature
        self.is_wallet = is_wallet
        self.wallet_kind = wallet_kind
        self.verify_bsv_text = verify_bsv_text
        self.tip_fee_bps = cfg.tips.fee_bps
        self.server_name = cfg.server.name
        self.domain = cfg.server.domain
        self.tick_hz = cfg.server.tick_hz
        # The wall clock (epoch ms) engine time and the schedules come from.
        self.clock = clock if clock is not None else system_clock
        self.clock_tolerance_ms = cfg.server.clock_tolerance_ms
        # --- persistence (arena/persistence): journal, snapshots, recovery, Redis ---
        self.persistence = ServerPersistence(self, cfg, store=store)
        self.store = self.persistence.store  # the gateway's read requests query it
        # The gateway asks this for every request: the persistence layer's
        # limiter itself, not a method that forwards to it.
        self.wallet_rate_limit = self.persistence.wallet_rate_limit
        from arena.credentials import Credentials

        self.credentials = Credentials(self.persistence.store)
        self.gateway = Gateway(cfg.net, self, cfg.server.host, cfg.server.port if port is None else port)
        # The web pages on the same port: the start page and every registered
        # mode's declared page (arena/net/pages.py).
        self.site = None
        if cfg.server.pages:
            from arena.net.pages import Site

            self.site = Site.build(registry.modes())
            # Followed links (`Page.link`) read the state between ticks and submit inputs.
            self.site.attach(lambda: self.state, self.submit)
            self.gateway.http_handler = self.site.answer
        self.metrics = TickMetrics()
        self.gc_watch = GcWatch()
        # One of a cluster of serving processes (docs/SCALING.md): a named
        # node with Redis pairs, seats and forwards events through Redis.
        self.cluster = None
        if cfg.cluster.node and cfg.redis.url:
            from arena.persistence.cluster import Cluster

            self.cluster = Cluster(cfg.redis.url, node=cfg.cluster.node, advertise=cfg.cluster.advertise,
                                   prefix=cfg.redis.key_prefix, heartbeat_ms=cfg.cluster.heartbeat_ms,
                                   seat_ttl_ms=cfg.cluster.seat_ttl_ms,
                                   shard=cfg.cluster.shard)
            self.gateway.cluster = self.cluster
        self.supervisors = {
            "judge": Supervisor("judge", failure_threshold=cfg.ai.circuit_failures,
                                reset_after=cfg.ai.circuit_reset_ms / 1000),
            "ledger": Supervisor("ledger"),
            FEED_WORKER: Supervisor(FEED_WORKER),
        }
        # AI judge side task: deadline, fallback, circuit, counters (arena/ai/service.py).
        self.judge_service = JudgeService.from_config(
            cfg, self.judge, supervisor=self.supervisors["judge"], media=self.media, engine_cfg=engine_cfg)
        # Data feeds (`FetchFeed` -> `FeedResult`): sources, consensus, breakers (arena/feeds), on
        # the world's wall clock (a simulated feed's values follow it).
        self.feed_service = FeedService(cfg.feeds, supervisor=self.supervisors[FEED_WORKER], wall=self.clock)
        self.supervisors.update(self.persistence.supervisors)
        if self.cluster is not None:
            self.supervisors["cluster"] = self.cluster.supervisor
        # Calendar rules of every mode -> journaled ScheduleFired inputs.
        from arena.scheduler import Scheduler

        self.supervisors["schedule"] = Supervisor("schedule")
        self.scheduler = Scheduler(lambda: self.state, lambda inp: self.submit(inp, force=True), self.clock,
                                   poll_ms=cfg.schedule.poll_ms, late_after_ms=cfg.schedule.late_after_ms,
                                   supervisor=self.supervisors["schedule"])
        self._judge_send, self._judge_recv = trio.open_memory_channel(math.inf)
        self._ledger_send, self._ledger_recv = trio.open_memory_channel(math.inf)
        self._feed_send, self._feed_recv = trio.open_memory_channel(math.inf)
        # Side tasks by the names modes give them in `Mode.effects`.
        self._workers = {"ledger": self._ledger_send, "judge": self._judge_send, FEED_WORKER: self._feed_send}
        # Side tasks the modes bring (`Mode.side_tasks`), their results journaled.
        from arena.mode_tasks import TaskContext, build_mode_tasks

        self.mode_tasks = build_mode_tasks(TaskContext(cfg, self.media, self.persistence.store, self.judge),
                                           lambda result: self.submit(result, force=True))
        for name, task in self.mode_tasks.items():
            self.supervisors[name] = task.supervisor
            self._workers[name] = task.send
        self.started = trio.Event()
        self.metrics_port: int | None = None
        self.conflicts: dict[str, str] = {}  # settlement key -> why (ledger key conflicts)

    # --- the world interface the gateway uses ------------------------------------------
    async def audit(self, actor: str, role: str, action: str, detail: dict, result: str) -> None:
        """An operator action, in the store's audit log (logged if the store fails)."""
        import json

        try:
            await self.persistence.store.audit(actor, role, action, json.dumps(detail, sort_keys=True), result)
        except Exception as exc:  # noqa: BLE001 - the action stands; the log line keeps the record
            log.error("audit log write failed", extra={"actor": actor, "action": action, "result": result,
                                                       "error": str(exc)[:200]})
        log.info("operator action", extra={"actor": actor, "action": action, "result": result})

    def submit(self, inp, force: bool = False) -> bool:
        # Runs for every request: the persistence checks only for the input
        # types they concern (class tests here, not two calls per input).
        cls = inp.__class__
        if cls in INBOX_INPUTS and self.persistence.duplicate(inp):
            return True  # the durable ledger delivered this result already
        if not force and (len(self.pending) >= MAX_PENDING_INPUTS
                          or (cls in SHED_INPUTS and self.persistence.refuses(inp))):
            return False
        self.take(inp)
        return True

    def take(self, inp) -> None:
        """Queue `inp` for the tick being formed (no admission checks: for
        results the store's inbox already admitted), and with apply on
        arrival step it now and hand its replies and events to the gateway,
        which sends them after the socket batch (or at the tick's end)."""
        self.pending.append(inp)
        if self.apply_on_arrival and not self._closing:
            ctx = self._open
            if ctx is None:
                n = 0
                ctx = self._open = self._open_tick()  # steps `inp` too
            else:
                n = len(ctx.messages)
                core.apply(ctx, inp)
            if len(ctx.messages) > n:
                self._send(ctx.messages[n:])

    def _send(self, messages) -> None:
        """The engine's replies and events to the gateway (in a cluster with
        a seat reservation in each `match.found` for a wallet elsewhere),
        written after the socket batch or by the tick's own flush."""
        if self.cluster is not None:
            messages = self.cluster.outgoing(messages)
        self.gateway.deliver(messages)
        self.gateway.wants_flush = True

    def _open_tick(self):
        """Open the next tick and step the inputs `pending` holds, after a
        clock reading (journaled as the tick's first input) when engine time
        fell behind the wall clock: on a world's first tick, after a restart
        (ticks stopped meanwhile) and when the loop fell behind."""
        state = self.state
        tick = state.tick + 1
        ctx = core.begin(state, tick)
        wall = self.clock()
        if state.clock is None or wall - now_ms(state, tick) > self.clock_tolerance_ms:
            self.pending.insert(0, I.ClockSet(wall))
        for inp in self.pending:
            core.apply(ctx, inp)
        return ctx

    @property
    def port(self) -> int | None:
        return self.gateway.listen_port

    def health(self, since_tick: int = 0) -> dict:
        return {
            "tick": self.state.tick,
            "matches": len(self.state.matches),
            "sessions": len(self.gateway.sessions.by_id),
            "connections": len(self.gateway.conns),
            "tick_metrics": self.metrics.snapshot(),
            "slowest_ticks": self.metrics.slowest(10, since_tick),
            "net": dict(self.gateway.stats),
            "side_tasks": {**{name: s.health() for name, s in self.supervisors.items()},
                           "judge": self.judge_service.health(),
                           "schedule": {**self.supervisors["schedule"].health(), **self.scheduler.health()},
                           FEED_WORKER: self.feed_service.health()},
            "unsettled": len(self.state.unsettled),
            "world": self.state.world,
            # settlement keys the ledger applied with other transfers (alert)
            "settlement_conflicts": dict(self.conflicts),
            "persistence": self.persistence.health(),
            **({"cluster": self.cluster.health()} if self.cluster is not None else {}),
        }

    # --- running ---------------------------------------------------------------------
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.gc_watch.install()
        try:
            await self._run(task_status)
        finally:
            self.gc_watch.uninstall()
            # However the run ended: the world may get another writer now.
            release = getattr(self.persistence.store, "release_writer", None)
            if release is not None:
                release()

    async def _run(self, task_status) -> None:
        async with trio.open_nursery() as nursery:
            await self.persistence.start(nursery)  # recovery first: nothing listens before it
            port = await nursery.start(self.gateway.serve)
            if self.cluster is not None:  # registered before the first tick: its matches are in the directory
                await self.cluster.start(nursery, self)
            nursery.start_soon(self.supervisors["judge"].run, self._judge_worker)
            nursery.start_soon(self.supervisors["ledger"].run, self._ledger_worker)
            nursery.start_soon(self.supervisors[FEED_WORKER].run, self._feed_worker)
            for task in self.mode_tasks.values():
                nursery.start_soon(task.supervisor.run, task.run)
            if hasattr(self.ledger, "run"):
                # A ledger whose payments can confirm after entry/tip.confirm
                # answered "pending" (solana) feeds EntryFeePaid / TipSent here.
                chain = self.supervisors.setdefault("chain", Supervisor("chain"))
                # Its announcements go through the store's inbox (exactly once, durably).
                nursery.start_soon(chain.run, lambda: self.ledger.run(self._announce))
            nursery.start_soon(self._tick_loop)
            nursery.start_soon(self.supervisors["schedule"].run, self.scheduler.run)
            if self.cfg.server.health_push_ms:
                nursery.start_soon(self._health_pushes, self.cfg.server.health_push_ms / 1000)
            if self.cfg.server.metrics_port:
                self.metrics_port = await nursery.start(
                    serve_metrics, self, self.cfg.server.host, self.cfg.server.metrics_port)
            log.info("arena started", extra={"port": port, "tick_hz": self.tick_hz})
            self.started.set()
            task_status.started(port)

    def service_health(self) -> dict:
        """{service: {"state", "failures"}}: every supervised side task, and
        every feed's and feed source's circuit breaker ("feed:<name>",
        "source:<feed>/<source>"), as `health:update` tells operators."""
        out = {name: {"state": s.state, "failures": s.consecutive_failures} for name, s in self.supervisors.items()}
        feeds = self.feed_service
        for name, b in feeds.feed_breakers.items():
            h = b.health()
            out[f"feed:{name}"] = {"state": h["state"], "failures": h["failures_in_window"]}
        for (feed, source), b in feeds.source_breakers.items():
            h = b.health()
            out[f"source:{feed}/{source}"] = {"state": h["state"], "failures": h["failures_in_window"]}
        return out

    async def _health_pushes(self, every_s: float) -> None:
        """`health:update` to the operator connections, every `every_s`."""
        while True:
            await trio.sleep(every_s)
            operators = tuple(dict.fromkeys(c.session.wallet for c in self.gateway.conns
                                            if c.role == "operator" and c.session is not None))
            if operators:
                self.gateway.deliver([Event(operators, "health:update", {"services": self.service_health()})])
                self.gateway.flush()

    async def _tick_loop(self) -> None:
        period = 1.0 / self.tick_hz
        deadline = trio.current_time()
        state, gateway, metrics, gcw, cluster = self.state, self.gateway, self.metrics, self.gc_watch, self.cluster
        send = self._send
        gc_after = gcw.paused_total()
        while True:
            now = trio.current_time()
            lateness = max(0.0, now - deadline)
            t0 = time.perf_counter()
            c0 = time.thread_time()  # bench: CPU time of the tick, apart from its wall time
            gc0 = gcw.paused_total()
            self._closing = True
            ctx, self._open = self._open, None
            if ctx is None:
                # Nothing arrived (or apply on arrival is off): the whole
                # tick is stepped here.
                sent = 0
                ctx = self._open_tick()
            else:
                sent = len(ctx.messages)  # already handed to the gateway as they came
            inputs, self.pending = self.pending, []
            messages, effects = core.finish(ctx)
            t1 = time.perf_counter()
            # Frames first: the journal write is asynchronous anyway (events
            # never waited for it), so encoding the tick for the store before
            # sending would only delay every frame. Money effects still wait
            # until their tick is durable (`record_tick` holds them back).
            send(messages[sent:] if sent else messages)
            if cluster is not None:  # the match directory
                cluster.tick_done(state)
            gateway.flush()
            t2 = time.perf_counter()
            effects = self.persistence.record_tick(state, inputs, messages, effects)
            if self.journal_tap is not None:
                self.journal_tap.append(state.tick, inputs)
            self._dispatch(effects)
            metrics.cpu_seconds += time.thread_time() - c0
            t3 = time.perf_counter()
            gc1 = gcw.paused_total()
            metrics.record(now, t3 - t0, lateness, len(inputs), len(messages), len(effects))
            # Where the time of this tick went, and of the wait before it
            # (lateness: other tasks, i.e. the socket hub, or the collector).
            metrics.trace(state.tick, lateness, gc0 - gc_after, t1 - t0, t2 - t1, t3 - t2, gc1 - gc0)
            gc_after = gc1
            self._closing = False
            if self.pending and self.apply_on_arrival:
                # Taken while the tick closed: they open the next one now.
                ctx = self._open = self._open_tick()
                send(ctx.messages)
            deadline += period
            if now - deadline > 1.0:
                # More than a second behind: report it and rebase instead of
                # running a burst of catch-up ticks.
                log.warning("tick loop behind", extra={"behind_s": round(now - deadline, 3)})
                deadline = now
            await trio.sleep_until(deadline)

    def _dispatch(self, effects) -> None:
        for eff in effects:
            self._dispatch_one(eff)

    def _dispatch_one(self, eff) -> None:
        # The side task named by the effect's mode (`Mode.effects`); money
        # (`Settle`) always goes to the ledger.
        send = self._workers.get(registry.worker_of(eff))
        if send is not None:
            send.send_nowait(eff)
        else:
            log.error("effect with no side task", extra={"effect": type(eff).__name__})

    # --- side tasks ------------------------------------------------------------------
    async def _announce(self, inp) -> None:
        """A payment the chain confirmed after `entry/tip.confirm` answered
        "pending": to the engine exactly once (the store's inbox), and to the
        connected wallets whose balance it changed."""
        if await self.persistence.announce(inp):
            self.gateway.notify_paid(inp)

    async def _judge_worker(self) -> None:
        await self.judge_service.serve(self._judge_recv, lambda result: self.submit(result, force=True))

    async def _feed_worker(self) -> None:
        await self.feed_service.serve(self._feed_recv, lambda result: self.submit(result, force=True))

    async def _ledger_worker(self) -> None:
        async with trio.open_nursery() as nursery:
            async for eff in self._ledger_recv:
                nursery.start_soon(self._settle_one, eff)

    async def _settle_one(self, eff: Settle) -> None:
        """Carry out one settlement, retrying until the ledger takes it.

        The ledger applies a key at most once, so a retry after an unclear
        failure cannot pay twice; giving up would strand money in escrow.
        """
        sup = self.supervisors["ledger"]
        delay = 0.2
        while True:
            try:
                await self.ledger.settle(eff)
                sup.record_success()
                break
            except ArenaError as exc:
                if exc.code != KEY_CONFLICT:
                    sup.record_failure(exc)
                    log.error("settlement failed; retrying", extra={"key": eff.key, "error": str(exc)[:200]})
                    await trio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                # Never treated as done, never retried blindly: kept pending
                # (the outbox re-dispatches it on the next start) for an operator.
                self.conflicts[eff.key] = exc.message[:500]
                log.critical("settlement key conflict: kept pending for an operator",
                             extra={"key": eff.key, "match": eff.match, "error": exc.message[:500]})
                return
            except Exception as exc:  # noqa: BLE001
                sup.record_failure(exc)
                log.error("settlement failed; retrying", extra={"key": eff.key, "error": str(exc)[:200]})
                await trio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.submit(I.SettlementDone(eff.key), force=True)
        # The ledger has applied it: tell the connected wallets it paid.
        changes: dict[str, int] = {}
        for t in eff.transfers:
            for account, delta in ((t.dest, t.amount), (t.source, -t.amount)):
                if self.is_wallet(account):
                    changes[account] = changes.get(account, 0) + delta
        for wallet, change in changes.items():
            self.gateway.notify_balance(wallet, change, eff.reason, eff.key)


async def serve(cfg) -> None:
    server = ArenaServer(cfg)
    await server.run()
