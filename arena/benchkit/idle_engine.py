"""In-process measure of what idle battles cost the tick.

Builds an engine state holding N roast battles in their recording window
(through the engine's own inputs: queue.join, entry fees, prompts), all
waiting on a timer an hour away, plus a gateway with two sessions per battle
and no traffic; then times the tick body the server runs (`core.step`,
`gateway.deliver`, `gateway.flush`) over many ticks. This is the `idle`
target at 10,000 battles without 20,000 sockets; the socket-level `idle`
scenario covers smaller N over the wire.
"""

from __future__ import annotations

import gc
import statistics
import time

import attrs

from arena.engine import core
from arena.engine import inputs as I
from arena.engine.config import EngineConfig
from arena.modes.roast import messages as R
from arena.modes.roast.settings import RoastConfig


class _World:
    def __init__(self, state):
        self.state = state


def build(n_matches: int, tick_hz: int = 20):
    from arena.config import default_config
    from arena.net.gateway import Gateway

    roast = attrs.evolve(RoastConfig(), countdown_ms=0, time_limit_ms=3_600_000,
                         entry_deadline_ms=3_600_000, prompt_timeout_ms=3_600_000)
    state = core.new_state(EngineConfig.of(tick_hz=tick_hz, seed=11, modes={"roast": roast}))
    gw = Gateway(default_config().net, _World(state))
    tick = 0

    def step(inputs):
        nonlocal tick
        tick += 1
        msgs, _ = core.step(state, tick, inputs)
        return msgs

    wallets = [f"W{i:06d}" for i in range(2 * n_matches)]
    for w in wallets:
        gw.sessions.create(w)
    chunk = 2000
    for i in range(0, len(wallets), chunk):
        step([I.QueueJoin(f"s{j}", j, wallets[j], "roast", "bronze") for j in range(i, min(i + chunk, len(wallets)))])
    fees = []
    prompts = []
    for mid, m in state.matches.items():
        for p in m.players:
            fees.append(I.EntryFeePaid(mid, p, m.entry_fee, f"pay-{mid}-{p}"))
        for r in (1, 2, 3):
            prompts.append(R.PromptGenerated(mid, r, f"prompt {r}"))
    for i in range(0, len(prompts), 3 * chunk):
        step(prompts[i:i + 3 * chunk])
    for i in range(0, len(fees), 2 * chunk):
        step(fees[i:i + 2 * chunk])
    for _ in range(3):
        step([])  # countdown (0) -> recording
    phases = {m.phase for m in state.matches.values()}
    return state, gw, step, phases


def measure(n_matches: int, ticks: int = 400) -> dict:
    state, gw, step, phases = build(n_matches)
    gc.collect()
    times = []
    for _ in range(ticks):
        t = time.perf_counter()
        msgs = step([])
        gw.deliver(msgs)
        gw.flush()
        times.append(time.perf_counter() - t)
    times.sort()
    return {
        "matches": len(state.matches),
        "phases": sorted(phases),
        "timers_pending": len(state.timer_heap),
        "ticks": ticks,
        "tick_us_p50": round(times[len(times) // 2] * 1e6, 2),
        "tick_us_p99": round(times[int(len(times) * 0.99) - 1] * 1e6, 2),
        "tick_us_max": round(times[-1] * 1e6, 2),
        "tick_us_mean": round(statistics.fmean(times) * 1e6, 2),
    }
