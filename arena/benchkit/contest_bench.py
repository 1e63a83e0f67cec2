"""`python -m arena bench contest`: one trading contest under market load,
in process.

Builds an engine state holding one active contest of N participants (1,000
by default) over T tokens (50), each portfolio 5 tokens, and a gateway with
one session per participant (no sockets: events are encoded and queued to
every session as the server does, nothing is written to a socket). Then it
runs the server's tick body (`core.step`, `gateway.deliver`,
`gateway.flush`) with the market answering every price fetch at once, with
prices that move on every update (price_every_ticks = 2 at 20 Hz: 10
updates a second), and reports:

- the cost of a tick that takes a price input, and of one that pushes
  `contest:rankings` (scores of every portfolio, the sort, the event's
  encoding and its fan-out to every participant): p50 / p99 / max;
- the push latency: from the start of the tick that pushes to every
  participant's frame queued (that tick's time), p99;
- journal bytes per contest-hour: the encoded inputs of the measured ticks
  (as the journal writes them), scaled to an hour;
- CPU: the process time of the measured ticks over the seconds they stand
  for (ticks run back to back, not paced: this is the share of one core
  the contest takes at real time), and the peak RSS.

The prices are SIMULATED (a seeded walk), as are the wallets. Socket-level
costs (framing, syscalls) are not in these numbers: bench/RESULTS.md says so.
"""

from __future__ import annotations

import gc
import hashlib
import random
import resource
import time

from arena.chain.b58 import b58encode
from arena.engine import core
from arena.engine import inputs as I
from arena.engine.config import EngineConfig
from arena.engine.outputs import FetchFeed
from arena.modes.contest.messages import ContestCreate, ContestJoinChosen
from arena.modes.contest.settings import ContestConfig, whitelist
from arena.persistence import codec

T0 = 1_800_000_000_000
PORTFOLIO = 5


class _World:
    def __init__(self, state):
        self.state = state


def token_list(n: int) -> str:
    """A whitelist of `n` made-up tokens (SYMBOL:mint; the mints are base58
    strings of 32 hashed bytes, not real tokens)."""
    return ",".join(f"T{i}:{b58encode(hashlib.sha256(f'bench-token-{i}'.encode()).digest())}" for i in range(n))


def _pct(xs: list, q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))] if s else 0.0


def run(participants: int = 1_000, tokens: int = 50, seconds: float = 20.0, tick_hz: int = 20,
        price_every_ticks: int = 2, seed: int = 5) -> dict:
    from arena.config import default_config
    from arena.net.gateway import Gateway

    rng = random.Random(seed)
    cfg = ContestConfig(tokens=token_list(tokens), price_every_ticks=price_every_ticks, min_duration_ms=1_000,
                        max_portfolio_size=PORTFOLIO)
    mints = [t for t, _ in whitelist(cfg.tokens)]
    state = core.new_state(EngineConfig.of(tick_hz=tick_hz, seed=seed, modes={"contest": cfg}), world="bench")
    gw = Gateway(default_config().net, _World(state))
    tick = 0
    pending: list = []
    prices = {m: 1_000_000 + rng.randrange(1_000_000_000) for m in mints}

    def market_answers(effects) -> None:
        """The market answers each fetch in the next tick, every price moved."""
        for eff in effects:
            if isinstance(eff, FetchFeed):
                for m in mints:
                    prices[m] = max(1, prices[m] * (10_000 + rng.randint(-30, 30)) // 10_000)
                value = tuple(prices[m] for m in eff.query[1][1].split(","))
                pending.append(I.FeedResult(eff.key, eff.mode, eff.match, eff.feed, "ok", value,
                                            (("simulated:bench", "ok", value, "simulated", 0, 0),)))

    def step(inputs):
        nonlocal tick
        tick += 1
        ins = [*pending, *inputs]
        pending.clear()
        if tick == 1:
            ins.insert(0, I.ClockSet(T0))
        msgs, effects = core.step(state, tick, ins)
        market_answers(effects)
        return ins, msgs

    starts = T0 + 5_000
    step([ContestCreate("op", 1, "op", 100, starts, starts + 3_600_000, 1, participants, (5_000, 3_000, 2_000),
                        1_000, tuple(mints), PORTFOLIO)])
    cid = next(iter(state.modes["contest"].contests))
    wallets = [f"W{i:06d}" for i in range(participants)]
    for w in wallets:
        gw.sessions.create(w)
    for i in range(0, participants, 500):
        joins = []
        for w in wallets[i:i + 500]:
            picked = rng.sample(mints, PORTFOLIO)
            pid = hashlib.sha256(w.encode()).hexdigest()
            joins += [I.EntryFeePaid(cid, w, 100, pid),
                      ContestJoinChosen(cid, w, 100, pid, tuple((t, 2_000) for t in picked))]
        step(joins)
    while state.modes["contest"].contests[cid].start_prices is None:
        step([])
    c = state.modes["contest"].contests[cid]
    assert c.state == "active" and len(c.entries) == participants
    gc.collect()

    price_ticks, push_ticks, other_ticks = [], [], []
    journal_bytes = 0
    price_inputs = 0
    n = int(seconds * tick_hz)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        t = time.perf_counter()
        ins, msgs = step([])
        gw.deliver(msgs)
        gw.flush()
        dt = time.perf_counter() - t
        journal_bytes += len(codec.encode_inputs(ins)) if ins else 0
        pushed = any(getattr(m, "type", "") == "contest:rankings" for m in msgs)
        priced = any(isinstance(x, I.FeedResult) for x in ins)
        price_inputs += priced
        (push_ticks if pushed else price_ticks if priced else other_ticks).append(dt)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    us = lambda x: round(x * 1e6, 1)  # noqa: E731
    return {
        "participants": participants, "tokens": tokens, "portfolio": PORTFOLIO, "tick_hz": tick_hz,
        "price_every_ticks": price_every_ticks, "measured_s": seconds, "ticks": n,
        "price_updates_per_s": round(price_inputs / seconds, 2),
        "price_tick_us": {"p50": us(_pct(price_ticks, 0.5)), "p99": us(_pct(price_ticks, 0.99)),
                          "max": us(max(price_ticks, default=0))},
        "rankings_push_tick_us": {"p50": us(_pct(push_ticks, 0.5)), "p99": us(_pct(push_ticks, 0.99)),
                                  "max": us(max(push_ticks, default=0)), "pushes": len(push_ticks)},
        "idle_tick_us_p50": us(_pct(other_ticks, 0.5)),
        "rankings_push_latency_ms_p99": round(_pct(push_ticks, 0.99) * 1e3, 2),
        "journal_bytes_per_contest_hour": int(journal_bytes * 3600 / seconds),
        "journal_bytes_per_price_input": int(journal_bytes / max(1, price_inputs)),
        # Ticks run back to back here, not paced: CPU over the simulated
        # seconds is the share of one core the contest takes at real time.
        "cpu_fraction_of_one_core": round(cpu / (n / tick_hz), 4),
        "wall_s": round(wall, 2),
        "tick_budget_used": round(sum(price_ticks + push_ticks + other_ticks) / (n / tick_hz), 4),
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def print_report(r: dict, out) -> None:
    print(f"contest bench (in process, no sockets; SIMULATED prices): {r['participants']} participants, "
          f"{r['tokens']} tokens, portfolios of {r['portfolio']}, {r['price_updates_per_s']} price updates/s "
          f"over {r['measured_s']:g} s ({r['ticks']} ticks at {r['tick_hz']} Hz)", file=out)
    p, k = r["price_tick_us"], r["rankings_push_tick_us"]
    print(f"  tick with a price input      p50 {p['p50']:>9} us  p99 {p['p99']:>9} us  max {p['max']:>9} us", file=out)
    print(f"  tick pushing rankings        p50 {k['p50']:>9} us  p99 {k['p99']:>9} us  max {k['max']:>9} us"
          f"  ({k['pushes']} pushes)", file=out)
    print(f"  rankings push latency p99    {r['rankings_push_latency_ms_p99']} ms (tick start -> every frame queued)",
          file=out)
    print(f"  journal                      {r['journal_bytes_per_contest_hour'] / 1e6:.1f} MB per contest-hour "
          f"({r['journal_bytes_per_price_input']} bytes per price input)", file=out)
    print(f"  CPU                          {r['cpu_fraction_of_one_core'] * 100:.2f} % of one core at real time "
          f"(tick work {r['tick_budget_used'] * 100:.2f} % of the tick budget)", file=out)
    print(f"  RSS peak                     {r['rss_peak_mb']} MB", file=out)
