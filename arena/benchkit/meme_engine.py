"""`python -m arena bench meme`: what metering N concurrent viewers costs.

In process, no sockets (10,000 viewers would need 10,000 connections and
more load generators than a small machine has; the socket path of a beat is
the same as any small request's, measured by `duel`). It builds an engine
state with the meme hall, 100 ready items in the round and N viewers, each
with a deposit and a running view, plus a gateway holding one session per
viewer. Then it runs `seconds` of ticks at the server's rate, every viewer
beating every 2 s (spread over the ticks), and times the tick body the
server runs (`core.step`, `gateway.deliver`, `gateway.flush`): `seconds` of
the meter alone (each tick charges the views of its slot, 1/tick_hz of
them, and delivers their `view:charged`), then `seconds` with the beats. It counts the settlements the engine issued per
minute, and reports the process's CPU time and RSS.
"""

from __future__ import annotations

import gc
import resource
import statistics
import time

from arena.engine import core
from arena.engine import inputs as I
from arena.engine.config import EngineConfig
from arena.engine.outputs import FetchFeed, Settle
from arena.modes.meme.messages import ContentProcessed, MemePaid, MemeRead, MemeUpload, ViewBeat, ViewStart
from arena.modes.meme.settings import MemeConfig

T0 = 1_800_000_000_000
ITEMS = 100
BEAT_S = 2


class _World:
    def __init__(self, state):
        self.state = state


def measure(viewers: int = 10_000, seconds: int = 20, tick_hz: int = 20, settle_every_s: int = 10) -> dict:
    from arena.config import default_config
    from arena.net.gateway import Gateway

    cfg = MemeConfig(settle_every_s=settle_every_s, round_fallback_ms=10**9, max_deposit=10**12,
                     beat_timeout_ms=3_600_000)
    state = core.new_state(EngineConfig.of(tick_hz=tick_hz, seed=5, modes={"meme": cfg}))
    gw = Gateway(default_config().net, _World(state))
    clock = {"tick": 0, "ms": T0}
    settles: list[Settle] = []
    fetches: list[FetchFeed] = []

    def step(inputs):
        clock["tick"] += 1
        clock["ms"] += 1000 // tick_hz
        msgs, effects = core.step(state, clock["tick"], [I.ClockSet(clock["ms"]), *inputs])
        for e in effects:
            if isinstance(e, Settle):
                settles.append(e)
            elif isinstance(e, FetchFeed):
                fetches.append(e)
        return msgs

    def feed(height):
        answers = [I.FeedResult(f.key, f.mode, f.match, f.feed, I.FEED_OK, height) for f in fetches]
        fetches.clear()
        return answers

    wallets = [f"V{i:06d}" for i in range(viewers)]
    for w in wallets:
        gw.sessions.create(w)
    step([MemeRead("s", 0, "op", "round")])
    sh = state.modes["meme"]
    step(feed(100))
    step([MemeUpload("s", 0, "op", f"meme {i}", "image/png", f"file:///m/{i}", 1000, f"O{i:03d}")
          for i in range(ITEMS)])
    step([ContentProcessed(f"process:{c}:1", c, True, "c", ("t",), 80, False, "", "embedded") for c in sh.contents])
    for _ in range(tick_hz * 2):
        step(feed(sh.round.end_height if sh.round else 100))
    items = list(sh.round.content)
    chunk = 2000
    for i in range(0, viewers, chunk):
        step([x for n, w in enumerate(wallets[i:i + chunk], i)
              for x in (I.EntryFeePaid(sh.hall, w, 10**6, f"p{n}"), MemePaid(sh.hall, w, 10**6, f"p{n}", "deposit"))])
    for i in range(0, viewers, chunk):
        step([ViewStart("s", 0, w, items[n % ITEMS]) for n, w in enumerate(wallets[i:i + chunk], i)])
    settles.clear()
    gc.collect()

    def run(beats_per_s: float) -> list[float]:
        """`seconds` of ticks with `beats_per_s` beats spread over them."""
        per_tick = beats_per_s / tick_hz
        times, sent, k = [], 0.0, 0
        for _ in range(seconds * tick_hz):
            sent += per_tick
            n = int(sent)
            sent -= n
            beats = [ViewBeat("s", 0, wallets[(k + j) % viewers], items[((k + j) % viewers) % ITEMS])
                     for j in range(n)]
            k += n
            t0 = time.perf_counter()
            msgs = step(beats + feed(sh.height))
            gw.deliver(msgs)
            gw.flush()
            times.append(time.perf_counter() - t0)
        return times

    cpu0, t_start = time.process_time(), time.perf_counter()
    # The beat timeout is an hour: the first run is the meter alone, the
    # second adds every viewer's beat every BEAT_S seconds.
    metering = run(0)
    with_beats = run(viewers / BEAT_S)
    wall = time.perf_counter() - t_start
    cpu = time.process_time() - cpu0

    def stats(xs):
        xs = sorted(xs)
        return {"n": len(xs), "mean_ms": round(statistics.fmean(xs) * 1e3, 3),
                "p99_ms": round(xs[max(0, int(len(xs) * 0.99) - 1)] * 1e3, 3), "max_ms": round(xs[-1] * 1e3, 3)}

    return {
        "viewers": viewers, "views_running_at_end": len(sh.views), "seconds": 2 * seconds, "tick_hz": tick_hz,
        "beats_per_s": round(viewers / BEAT_S), "charged": sh.charged,
        "metering_ticks": stats(metering), "ticks_with_beats": stats(with_beats),
        "metering_us_per_view_second": round(sum(metering) / seconds / max(1, viewers) * 1e6, 3),
        "tick_budget_ms": round(1000 / tick_hz, 1),
        "settlements": len(settles), "settlements_per_min": round(len(settles) * 60 / (2 * seconds), 1),
        "transfers_per_settlement": round(statistics.fmean(len(s.transfers) for s in settles), 1) if settles else 0,
        "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "cpu_share": round(cpu / wall, 3),
        "rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def print_report(r: dict, out) -> None:
    print(f"== arena bench meme: {r['viewers']} viewers metered for {r['seconds']} s at {r['tick_hz']} Hz, "
          "in process, no sockets", file=out)
    for name, label in (("metering_ticks", "meter only"), ("ticks_with_beats", f"+{r['beats_per_s']} beat/s")):
        s = r[name]
        print(f"{label:>15}: {s['n']:>5} ticks  mean {s['mean_ms']:>8.3f} ms  p99 {s['p99_ms']:>8.3f} ms  "
              f"max {s['max_ms']:>8.3f} ms  (budget {r['tick_budget_ms']} ms)", file=out)
    print(f"metering: {r['metering_us_per_view_second']} us of tick per view per second (charge, split, "
          f"view:charged delivered); views running at the end {r['views_running_at_end']}; "
          f"charged {r['charged']}", file=out)
    print(f"settlements: {r['settlements']} ({r['settlements_per_min']}/min, {r['transfers_per_settlement']} "
          f"transfers each)", file=out)
    print(f"process: cpu {r['cpu_s']} s over {r['wall_s']} s wall ({r['cpu_share']:.0%}), max RSS "
          f"{r['rss_mib']} MiB", file=out)
