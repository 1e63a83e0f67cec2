"""The feed side task: `FetchFeed` effects in, one `FeedResult` input each out.

The server hands every `FetchFeed` to `FeedService.serve` (worker "feed",
under its `Supervisor`), which answers each with exactly one `FeedResult`,
submitted like the judge's answers and journaled like any input. A replay
reads the result back from the journal and never fetches; after a restart,
a fetch whose result was never journaled is still in the outbox and is
dispatched again (the key makes a repeat harmless).

One fetch, for an http feed:

1. Ask every source whose last answer is not a fresh ok one (all of them
   if they all answered and disagree), concurrently, each within its
   timeout and the feed's deadline. A source whose breaker
   is open is not asked (its answer: `circuit_open`); one that answered 429
   is not asked again before its Retry-After (its answer: `rate_limited`).
2. Apply the feed's consensus rule to the latest answer of every source.
3. Decided: submit status "ok" with the value. Not decided: wait (backoff
   from `retry_ms`, doubling, at most 10 s, and not past a rate limit's end
   when only rate-limited sources are missing) and go to 1, as long as the
   next round starts before `deadline_ms`; then submit "no_consensus" (some
   source answered) or "unavailable" (none did), with every answer. (No
   round starts just to be cut short by the deadline.)

Outcomes feed the breakers (per source, per feed; `arena.feeds.breaker`);
an open feed breaker answers "unavailable" at once. A background loop probes
sources whose breaker is open or recovering every `health_check_s`, with the
last query they were asked. A simulated feed (`arena.feeds.simulated`)
answers at once, and says so in its answer and in the log.

Nothing a source sends can crash the task: bad data is an answer with status
"error", and an unexpected exception in one fetch still yields an
"unavailable" result for it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import attrs
import trio

from arena.engine.inputs import FEED_NO_CONSENSUS, FEED_OK, FEED_UNAVAILABLE, FeedResult
from arena.engine.outputs import FetchFeed
from arena.supervisor import Supervisor

from . import simulated
from .breaker import Breaker, BreakerConfig
from .consensus import CIRCUIT_OPEN, ERROR, OK, RATE_LIMITED, Answer, Rule

log = logging.getLogger("arena.feeds")

BACKOFF_MAX_S = 10.0
HEALTH_LOOP_S = 1.0


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def breaker_config(feed) -> BreakerConfig:
    """A feed's `[feeds.<feed>]` breaker keys (the same names as BreakerConfig's)."""
    return BreakerConfig(**{a.name: getattr(feed, a.name) for a in attrs.fields(BreakerConfig)})


def rule_of(feed) -> Rule:
    return Rule(kind=feed.consensus, k=feed.k, max_deviation_bps=feed.max_deviation_bps,
                max_age_ms=feed.max_age_ms, min_sources=feed.min_sources)


class FeedService:
    def __init__(self, feeds_cfg, *, supervisor: Supervisor | None = None,
                 clock: Callable[[], float] = trio.current_time, wall: Callable[[], int] = wall_ms,
                 client_factory: Callable[[], Any] | None = None):
        self.cfg = feeds_cfg
        self.supervisor = supervisor
        self.clock = clock
        self.wall = wall
        self.client_factory = client_factory
        self.client = None
        self.feed_breakers: dict[str, Breaker] = {}
        self.source_breakers: dict[tuple[str, str], Breaker] = {}
        self.rate_limited_until: dict[tuple[str, str], float] = {}  # (feed, source) -> clock seconds
        self.last_query: dict[tuple[str, str], tuple] = {}
        self.in_flight: set[str] = set()
        self.ready = False
        # Every configured http feed's breaker exists from the start, so health
        # shows it initializing until `serve` has its HTTP client up.
        for name in self.cfg.feeds:
            feed = self.cfg.feed(name)
            if feed.kind == "http":
                self.feed_breaker(name, feed)
        self.counters = {"fetches": 0, "http_requests": 0, "simulated": 0, "probes": 0,
                         FEED_OK: 0, FEED_NO_CONSENSUS: 0, FEED_UNAVAILABLE: 0, "internal_errors": 0}

    # --- breakers -------------------------------------------------------------------
    def feed_breaker(self, name: str, feed) -> Breaker:
        b = self.feed_breakers.get(name)
        if b is None:
            # Initializing until the HTTP client is up (`serve` marks them ready).
            b = self.feed_breakers[name] = Breaker(f"feed:{name}", breaker_config(feed), clock=self.clock,
                                                   initializing=not self.ready)
        return b

    def source_breaker(self, name: str, feed, source: str) -> Breaker:
        b = self.source_breakers.get((name, source))
        if b is None:
            b = self.source_breakers[(name, source)] = Breaker(
                f"source:{name}/{source}", breaker_config(feed), clock=self.clock)
        return b

    # --- the side task ----------------------------------------------------------------
    async def serve(self, effects: trio.MemoryReceiveChannel, submit: Callable[[Any], Any]) -> None:
        import httpx

        factory = self.client_factory or (lambda: httpx.AsyncClient(follow_redirects=False))
        async with factory() as client:
            self.client = client
            self.ready = True
            for b in self.feed_breakers.values():
                b.ready()
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._health_checks)
                    async for eff in effects:
                        if eff.key in self.in_flight:
                            continue  # dispatched again while its first fetch runs
                        self.in_flight.add(eff.key)
                        nursery.start_soon(self._answer_and_submit, eff, submit)
            finally:
                self.ready = False
                self.client = None

    async def _answer_and_submit(self, eff: FetchFeed, submit) -> None:
        try:
            result = await self.handle(eff)
        except Exception as exc:  # noqa: BLE001 - one fetch must never take the task down
            self.counters["internal_errors"] += 1
            log.exception("feed fetch failed inside the service", extra={"key": eff.key, "feed": eff.feed})
            result = self._result(eff, FEED_UNAVAILABLE, None,
                                  [Answer("feed-service", ERROR, None, f"internal error: {type(exc).__name__}",
                                          self.wall())])
        finally:
            self.in_flight.discard(eff.key)
        self.counters[result.status] += 1
        if self.supervisor is not None:
            if result.status == FEED_OK:
                self.supervisor.record_success()
            else:
                self.supervisor.record_failure(f"feed {eff.feed}: {result.status}")
        log.info("feed result", extra={"key": eff.key, "feed": eff.feed, "mode": eff.mode, "match": eff.match,
                                       "status": result.status,
                                       "sources_ok": sum(1 for a in result.answers if a[1] == OK)})
        submit(result)

    def _result(self, eff: FetchFeed, status: str, value, answers) -> FeedResult:
        return FeedResult(key=eff.key, mode=eff.mode, match=eff.match, feed=eff.feed, status=status,
                          value=value if status == FEED_OK else None,
                          answers=tuple(a.as_tuple() for a in answers))

    async def handle(self, eff: FetchFeed) -> FeedResult:
        """Fetch and decide one `FetchFeed`; always returns a result."""
        self.counters["fetches"] += 1
        feed = self.cfg.feed(eff.feed)
        if feed is None:
            return self._result(eff, FEED_UNAVAILABLE, None,
                                [Answer("config", ERROR, None, f"no feed named {eff.feed!r} is configured",
                                        self.wall())])
        if feed.kind == "simulated":
            if feed.simulate not in simulated.KINDS:  # only a config built in code can get here
                return self._result(eff, FEED_UNAVAILABLE, None,
                                    [Answer("config", ERROR, None, f"no simulation named {feed.simulate!r}",
                                            self.wall())])
            answer = simulated.answer(feed.simulate, eff.query, self.wall())
            self.counters["simulated"] += 1
            log.info("SIMULATED feed value (not real data)",
                     extra={"key": eff.key, "feed": eff.feed, "simulate": feed.simulate, "value": answer.value})
            return self._result(eff, FEED_OK, answer.value, [answer])
        return await self._fetch_http(eff, feed)

    async def _fetch_http(self, eff: FetchFeed, feed) -> FeedResult:
        name = eff.feed
        rule = rule_of(feed)
        fb = self.feed_breaker(name, feed)
        deadline = self.clock() + feed.deadline_ms / 1000
        latest: dict[str, Answer] = {}
        delay = feed.retry_ms / 1000
        decision = None
        while True:
            if not fb.allow():
                for s in feed.sources:
                    latest.setdefault(s.name, Answer(s.name, CIRCUIT_OPEN, None, f"feed {name} circuit open",
                                                     self.wall()))
                # Not a failure of its own: counting it would keep the circuit
                # open for as long as modes keep asking.
                return self._undecided(eff, decision, latest, feed)
            await self._round(name, feed, eff.query, latest, deadline)
            answers = [latest[s.name] for s in feed.sources]
            decision = rule.decide(answers, self.wall())
            if decision.decided:
                fb.record_success()
                return self._result(eff, FEED_OK, decision.value, decision.answers)
            wait = self._wait(name, feed, latest, delay)
            if self.clock() + wait >= deadline:
                break  # the next round would start at or past the deadline: give the answer now
            await trio.sleep(wait)
            delay = min(delay * 2, BACKOFF_MAX_S)
        fb.record_failure("no decision by the deadline")
        return self._undecided(eff, decision, latest, feed)

    def _undecided(self, eff: FetchFeed, decision, latest: dict, feed) -> FeedResult:
        """"no_consensus" if some source answered, else "unavailable", with
        every answer (the rule's annotated ones if it ran)."""
        answers = decision.answers if decision is not None else tuple(latest[s.name] for s in feed.sources)
        status = FEED_NO_CONSENSUS if any(a.status == OK for a in answers) else FEED_UNAVAILABLE
        return self._result(eff, status, None, answers)

    def _wait(self, name: str, feed, latest: dict, delay: float) -> float:
        """The backoff delay; if every source not answered ok is rate limited,
        until the first of them may be asked again (if that is later)."""
        now = self.clock()
        pending = [s.name for s in feed.sources if latest[s.name].status != OK]
        ends = [self.rate_limited_until.get((name, s), 0.0) for s in pending]
        if pending and all(latest[s].status == RATE_LIMITED for s in pending):
            return max(delay, min(ends) - now)
        return delay

    def _needs_asking(self, feed, answer: Answer | None) -> bool:
        if answer is None or answer.status != OK:
            return True
        return feed.max_age_ms > 0 and answer.age_ms(self.wall()) > feed.max_age_ms

    async def _round(self, name: str, feed, query, latest: dict, deadline: float) -> None:
        ask = [s for s in feed.sources if self._needs_asking(feed, latest.get(s.name))]
        if not ask:
            # Every source answered, fresh, and the rule still decides nothing
            # (they disagree): ask them all again, a lagging one may catch up.
            ask = list(feed.sources)
        async with trio.open_nursery() as nursery:
            for source in ask:
                nursery.start_soon(self._ask, name, feed, source, query, latest, deadline)

    async def _ask(self, name: str, feed, source, query, latest: dict, deadline: float) -> None:
        from .sources import fetch

        key = (name, source.name)
        now = self.clock()
        until = self.rate_limited_until.get(key, 0.0)
        if until > now:
            latest[source.name] = Answer(source.name, RATE_LIMITED, None,
                                         f"rate limited for {math.ceil(until - now)} s more", self.wall())
            return
        breaker = self.source_breaker(name, feed, source.name)
        if not breaker.allow():
            latest[source.name] = Answer(source.name, CIRCUIT_OPEN, None, "source circuit open", self.wall())
            return
        self.last_query[key] = query
        timeout_ms = max(1, min(source.timeout_ms or feed.timeout_ms, int((deadline - now) * 1000)))
        self.counters["http_requests"] += 1
        answer, retry_after = await fetch(self.client, source, query, timeout_ms=timeout_ms,
                                          decimals=feed.decimals, wall_ms=self.wall)
        if answer.status == OK:
            breaker.record_success()
        elif answer.status == RATE_LIMITED:
            # The source is protecting itself, not failing: wait, do not open its circuit.
            self.rate_limited_until[key] = self.clock() + retry_after
        else:
            breaker.record_failure(f"{answer.status}: {answer.detail}")
            log.warning("feed source failed", extra={"feed": name, "source": source.name,
                                                     "status": answer.status, "detail": answer.detail})
        latest[source.name] = answer

    async def _health_checks(self) -> None:
        """Probe, every `health_check_s`, each source whose breaker is open or
        recovering, with the last query it was asked (no query: no probe)."""
        from .sources import fetch

        while True:
            await trio.sleep(HEALTH_LOOP_S)
            for (name, source_name), breaker in list(self.source_breakers.items()):
                feed = self.cfg.feed(name)
                query = self.last_query.get((name, source_name))
                if feed is None or query is None or not breaker.health_check_due():
                    continue
                source = next((s for s in feed.sources if s.name == source_name), None)
                if source is None:
                    continue
                self.counters["probes"] += 1
                answer, _ = await fetch(self.client, source, query, timeout_ms=source.timeout_ms or feed.timeout_ms,
                                        decimals=feed.decimals, wall_ms=self.wall)
                breaker.probe_result(answer.status == OK, answer.detail)

    def health(self) -> dict:
        out = {
            "kind": self.cfg.kind,
            "simulated_default": self.cfg.kind == "simulated",
            "in_flight": len(self.in_flight),
            **self.counters,
            "feeds": {name: b.health() for name, b in self.feed_breakers.items()},
            "sources": {f"{f}/{s}": b.health() for (f, s), b in self.source_breakers.items()},
        }
        if self.supervisor is not None:
            out["supervisor"] = self.supervisor.health()
        return out
