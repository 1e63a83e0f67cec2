"""`python -m arena bench canvas`: the weekly canvas under load, over real sockets.

One step: a server started here (pinned to one core, `serverproc`) with a
canvas of `--canvas-size` and no cooldown, W watchers joined to it, P placer
connections placing `--placements` pixels per second between them (one
`canvas.place` per frame, as people send them), and a new watcher joining
every `--join-every` seconds during the window. Measured:

- placements per second accepted (ok replies), and refused (by code);
- latency placement -> seen: from the moment a placer's frame is written to
  the moment a *probe* watcher (the first `--probes` watchers; the others
  only count) reads the `canvas:pixels` event holding it, on the load
  generator's event-loop clock (so it includes the generator's own lag,
  reported beside it);
- frames and bytes per second the server sent (its own counters) and per
  watcher; seq gaps, closed connections;
- server CPU, RSS, tick rate and tick duration (its metrics endpoint);
- the join of a newcomer during the load: round trip and reply size (the
  bitmap of the canvas as it is then);
- in process, without sockets: the server CPU one newcomer's full-canvas
  snapshot costs on a full 1000 x 1000 canvas of noise (the worst case), as
  the join's whole bitmap and as the parts of `canvas.bitmap`.

`--steps W:R,W:R,...` runs several steps, each on a fresh server, in order.
Every loop is bounded in count and time; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing as mp
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from .loadgen import _cpu, run_generator_process
from .wsclient import EVENT, REPLY, Client, Stats, encode_request, envelopes_of, mask_frame

SLA_P99_MS = 250.0
SLA_RATE_FRACTION = 0.95
SLA_TICK_FRACTION = 0.95
SETUP_CONCURRENCY = 48
SLOT_S = 0.005
PLACE_RID_BASE = 1 << 20  # placements use rids from here (setup requests stay below)



def add_arguments(p) -> None:
    """Flags of the canvas scenario (the bench's common ones are in cli.py)."""
    p.add_argument("--placements", type=float, default=3333.0,
                   help="canvas: placements per second, all placers together (default 3333)")
    p.add_argument("--placers", type=int, default=16, help="canvas: placer connections (default 16)")
    p.add_argument("--probes", type=int, default=20,
                   help="canvas: watchers that decode every placement for the latency (default 20)")
    p.add_argument("--broadcast-ticks", type=int, default=2,
                   help="canvas: [canvas] broadcast_every_ticks of the started server (default 2: 10 events/s)")
    p.add_argument("--canvas-size", type=int, default=1000, help="canvas: width and height (default 1000)")
    p.add_argument("--join-every", type=float, default=1.0,
                   help="canvas: a newcomer joins every this many seconds of the window (default 1)")


def _server_config(args) -> tuple[str, str]:
    """([net] lines, extra sections) for the started server: no cooldown, and
    rate limits far above the bench's own rate (the bench measures the
    server's work, not its refusals)."""
    per_conn = int(max(1000, 4 * args.placements / max(1, args.placers)))
    net = f"requests_per_s = {per_conn}\nrequest_burst = {per_conn}\n"
    extra = (f"\n[canvas]\nwidth = {args.canvas_size}\nheight = {args.canvas_size}\ncooldown_ms = 0\n"
             f"broadcast_every_ticks = {args.broadcast_ticks}\n"
             f"place_per_s = {per_conn}\nplace_burst = {per_conn}\n")
    return net, extra


def steps_of(args) -> list[tuple[int, float]]:
    if not args.steps:
        return [(args.watchers, args.placements)]
    out = []
    for item in args.steps.split(","):
        w, _, r = item.strip().partition(":")
        out.append((int(w), float(r) if r else args.placements))
    return out


def main(args) -> int:
    from .cli import _loadavg, interrupted_or_failed

    if args.watchers < 1 or args.placers < 1 or args.placements <= 0 or args.duration <= 0:
        print("bench: canvas needs --watchers, --placers, --placements and --duration above 0", file=sys.stderr)
        return 2
    try:
        steps = steps_of(args)
    except ValueError:
        print("bench: canvas --steps is a list of WATCHERS:PLACEMENTS_PER_S, e.g. 500:1000,2000:3333",
              file=sys.stderr)
        return 2
    # The snapshot is measured at the issue's worst case, 1000 x 1000, whatever the steps' size.
    report = {"scenario": "canvas", "command": " ".join(sys.argv[1:]), "load_avg_start": _loadavg(),
              "snapshot_cpu": snapshot_cpu(1000), "steps": []}

    def run_steps() -> None:
        for watchers, rate in steps:
            report["steps"].append(run_step(args, watchers, rate))

    failed = interrupted_or_failed(run_steps)
    if failed is not None:
        return failed
    report["load_avg_end"] = _loadavg()
    print_table(report, sys.stdout)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: JSON written to {args.json_path}")
    return 0 if all(s["sla"]["pass"] for s in report["steps"]) else 1


# --- in process: what a newcomer's snapshot costs ------------------------------------------------


def snapshot_cpu(size: int, repeats: int = 3) -> dict:
    """Server CPU (process time, best of `repeats`) of one newcomer's
    snapshot on a `size` x `size` canvas of noise in 32 colours: the join's
    whole bitmap, and every part of `canvas.bitmap` (the chunked form).
    Through the mode's own code, its caches emptied before each run."""
    from arena.engine.config import EngineConfig
    from arena.engine.core import new_state
    from arena.modes.canvas.bitmap import BitmapCache, part_count, part_rows
    from arena.modes.canvas.mode import CanvasMode
    from arena.modes.canvas.settings import CanvasConfig

    cfg = CanvasConfig(width=size, height=size)
    state = new_state(EngineConfig.of(modes={"canvas": cfg}))
    shared = state.modes["canvas"]
    shared.seq, shared.width, shared.height = 1, size, size
    rng = random.Random(1)
    shared.pixels = bytearray(rng.randrange(32) for _ in range(size * size))
    out = {"canvas": f"{size}x{size} noise, 32 colours"}
    whole = []
    for _ in range(repeats):
        mode = CanvasMode()
        t = time.process_time()
        blob = mode._bitmap(shared)
        whole.append(time.process_time() - t)
    out["join_bitmap_ms"] = round(min(whole) * 1000, 2)
    out["join_bitmap_bytes"] = len(blob)
    rows = part_rows(size, cfg.part_bytes)
    n = part_count(size, rows)
    runs = []
    for _ in range(repeats):
        cache = BitmapCache()
        t = time.process_time()
        sizes = [len(cache.part(shared, rows, i)) for i in range(n)]
        runs.append(time.process_time() - t)
    out["parts"] = n
    out["part_rows"] = rows
    out["parts_ms"] = round(min(runs) * 1000, 2)
    out["part_bytes_max"] = max(sizes)
    out["parts_bytes"] = sum(sizes)
    # Under load: one band changed since the last newcomer, the others cached.
    shared.placed += 1
    cache.touched(shared, 0)
    t = time.process_time()
    for i in range(n):
        cache.part(shared, rows, i)
    out["parts_one_band_changed_ms"] = round((time.process_time() - t) * 1000, 2)
    return out


# --- one step ------------------------------------------------------------------------------------


def run_step(args, watchers: int, rate: float) -> dict:
    from .cli import _proc_stat
    from .serverproc import ServerProcess, scrape, server_window

    ncpu = os.cpu_count() or 1
    server_cpus = [int(c) for c in args.server_cpus.split(",")] if args.server_cpus else ([0] if ncpu > 1 else None)
    gen_cpus = ([int(c) for c in args.gen_cpus.split(",")] if args.gen_cpus else
                [c for c in range(ncpu) if c not in (server_cpus or [])] or None)
    net, extra = _server_config(args)
    server = ServerProcess(tick_hz=args.tick_hz, cpus=server_cpus, src=args.server_src,
                           net_extra=net, extra_config=extra)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    gen = None
    try:
        if not server.wait_ready():
            raise RuntimeError("the started server has no metrics endpoint")
        opts = {"url": server.url, "watchers": watchers, "placers": args.placers, "probes": args.probes,
                "rate": rate, "size": args.canvas_size, "duration": args.duration,
                "join_every": args.join_every, "cpus": gen_cpus}
        gen = ctx.Process(target=generator_main, args=(child, opts), daemon=True)
        gen.start()
        ready = _wait(parent, "ready", 120 + watchers / 20)
        m0, s0 = scrape(server.metrics_url), _proc_stat()
        parent.send(("go",))
        res = _wait(parent, "done", args.duration + 60)
        m1, s1 = scrape(server.metrics_url), _proc_stat()
    finally:
        try:
            parent.send(("stop",))
        except (OSError, BrokenPipeError):
            pass
        if gen is not None:
            gen.join(10)
            if gen.is_alive():
                gen.terminate()
                gen.join(2)
        server.stop()
    if m0 is None or m1 is None:
        raise RuntimeError("the server's metrics endpoint did not answer")
    wall = res["wall_s"]
    lat = sorted(res["latencies"])
    srv = server_window(m0, m1, wall)
    cpu_s = m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]
    for key in ("frames_in", "frames_out", "bytes_in", "bytes_out", "dropped_slow"):
        name = f"arena_net_{key}_total"
        srv[f"net_{key}_per_s"] = round((m1.get(name, 0) - m0.get(name, 0)) / wall, 1)
    srv["connections"] = int(m1["arena_connections"])
    st = res["stats"]
    # Sent within the window (`--duration`); their replies may come a little after it.
    placed_per_s = round(res["placed_ok"] / res["window_s"], 1)
    step = {
        "watchers": watchers, "placers": args.placers, "probes": min(args.probes, watchers),
        "target_placements_per_s": rate, "duration_s": round(wall, 2), "setup_s": ready["setup_s"],
        "setup_failures": ready["setup_failures"], "setup_errors": ready["setup_errors"],
        "placements_sent": res["placed_sent"], "placements_ok": res["placed_ok"],
        "placements_per_s": placed_per_s, "place_errors": res["place_errors"],
        "latency_samples": len(lat), "latency_ms_p50": _ms(_pct(lat, 0.5)), "latency_ms_p99": _ms(_pct(lat, 0.99)),
        "latency_ms_max": _ms(lat[-1] if lat else None),
        "pixels_events_per_watcher_s": round(res["pixel_events"] / max(1, watchers) / wall, 2),
        "bytes_per_watcher_s": round(res["watcher_bytes"] / max(1, watchers) / wall, 1),
        "seq_gaps": st["seq_gaps"], "protocol_errors": st["protocol_errors"], "closed": st["closed"],
        "joins": res["joins"], "gen_cpu_pct": round(res["cpu_s"] / wall * 100, 1),
        "gen_lag_ms_max": round(res["lag_max_s"] * 1000, 1), "server": srv,
    }
    if s0 and s1:
        busy = (s1[0] - s0[0]) / s1[2]
        step["others_cpu_pct"] = round(max(0.0, busy - cpu_s - res["cpu_s"]) / wall * 100, 1)
    sla = {
        "rate_ok": placed_per_s >= SLA_RATE_FRACTION * rate,
        "latency_ok": step["latency_ms_p99"] is not None and step["latency_ms_p99"] < SLA_P99_MS,
        "tick_ok": srv["tick_rate_hz"] >= SLA_TICK_FRACTION * srv["tick_hz"],
        "clean": not (res["place_errors"] or st["seq_gaps"] or st["protocol_errors"] or st["closed"]
                      or ready["setup_failures"] or srv["net_dropped_slow_per_s"]),
    }
    sla["pass"] = all(sla.values())
    step["sla"] = sla
    step["gen_saturated"] = step["gen_cpu_pct"] >= 90
    return step


def _wait(pipe, kind: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pipe.poll(0.5):
            msg = pipe.recv()
            if msg[0] == kind:
                return msg[1]
            if msg[0] == "error":
                raise RuntimeError(f"load generator: {msg[1]}")
    raise RuntimeError(f"load generator: no {kind!r} within {timeout:.0f}s")


def _pct(xs, q):
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, int(q * len(xs) + 0.999999) - 1))]


def _ms(x):
    return None if x is None else round(x * 1000, 2)


def print_table(report: dict, out) -> None:
    snap = report["snapshot_cpu"]
    out.write(f"\n== arena bench canvas  ({report['command']})\n")
    out.write(f"snapshot, in process, {snap['canvas']}: join bitmap {snap['join_bitmap_ms']} ms CPU, "
              f"{snap['join_bitmap_bytes']} bytes")
    out.write(f"; {snap['parts']} parts of {snap['part_rows']} rows: {snap['parts_ms']} ms CPU in all "
              f"({snap['parts_one_band_changed_ms']} ms with one band changed since the last newcomer), "
              f"largest {snap['part_bytes_max']} bytes")
    out.write("\n")
    head = ("watchers", "place/s", "ok/s", "lat p50", "p99", "max", "ev/w/s", "B/w/s", "srv out fr/s",
            "srvCPU%", "tick/s", "tick p99", "RSS MB", "join ms", "parts ms", "genCPU%", "others%", "SLA")
    out.write("  ".join(f"{h:>8}" for h in head) + "\n")
    for s in report["steps"]:
        srv = s["server"]
        joins = s["joins"]
        join_ms = max((j["ms"] for j in joins if j.get("ms") is not None), default=None)
        parts_ms = max((j["parts_ms"] for j in joins if j.get("parts_ms") is not None), default=None)
        vals = (s["watchers"], f"{s['target_placements_per_s']:.0f}", f"{s['placements_per_s']:.0f}",
                _f(s["latency_ms_p50"]), _f(s["latency_ms_p99"]), _f(s["latency_ms_max"]),
                _f(s["pixels_events_per_watcher_s"]), _f(s["bytes_per_watcher_s"], "{:.0f}"),
                _f(srv["net_frames_out_per_s"], "{:.0f}"), _f(srv["cpu_pct"]), _f(srv["tick_rate_hz"]),
                _f(srv["tick_ms_p99"]), _f(srv["rss_bytes"] / 1e6, "{:.0f}"), _f(join_ms), _f(parts_ms),
                _f(s["gen_cpu_pct"]) + ("!" if s["gen_saturated"] else ""), _f(s.get("others_cpu_pct"), "{:.0f}"),
                "ok" if s["sla"]["pass"] else "FAIL")
        line = "  ".join(f"{v!s:>8}" for v in vals)
        why = [k for k, v in s["sla"].items() if k != "pass" and not v]
        failed_joins = [j for j in joins if j.get("ms") is None]
        if failed_joins:
            why.append(f"{len(failed_joins)} newcomer joins failed ({failed_joins[0].get('error')})")
        if why:
            line += "   fails: " + ", ".join(why)
            if s["place_errors"]:
                line += f" {s['place_errors']}"
        if s["gen_saturated"]:
            line += "   WARNING: load generator saturated (its numbers bound the result)"
        out.write(line + "\n")
    out.write("units: placements/s, ms (latency placement -> seen by a probe watcher, on the generator's clock), "
              "events and bytes per watcher per second, server frames out per second, join = a newcomer's "
              "whole-bitmap canvas.join round trip during the load (worst), parts = its fetch of every "
              "canvas.bitmap part after it, all asked for at once (worst)\n")


def _f(x, fmt="{:.1f}"):
    return "-" if x is None else fmt.format(x)


# --- the load generator (its own process) ----------------------------------------------------------


class Watcher(Client):
    """A watcher: counts every frame; a probe also reads each `canvas:pixels`
    event's placements and takes the latency of those it has a send stamp for."""

    def __init__(self, stats: Stats, gen: "CanvasGenerator", probe: bool):
        super().__init__(stats)
        self.gen = gen
        self.probe = probe
        self.pixel_events = 0
        self.watch_bytes = 0

    def _message(self, payload) -> None:
        if not self.counting:
            return super()._message(payload)
        stats = self.stats
        envs = envelopes_of(payload, stats)
        if envs is None:
            return
        stats.frames_in += 1
        stats.bytes_in += len(payload)
        self.watch_bytes += len(payload)
        now = time.monotonic()
        for env in envs:
            kind = env[0]
            if kind == EVENT:
                if env[1] != self.seq + 1:
                    stats.seq_gaps += 1
                self.seq = env[1]
                if env[2] == "canvas:pixels":
                    self.pixel_events += 1
                    if self.probe:
                        sent = self.gen.sent_at
                        blob = env[3]["pixels"]
                        lats = stats.latencies
                        for i in range(0, len(blob), 5):
                            t = sent.get(blob[i:i + 5])
                            if t is not None:
                                lats.append(now - t)
            elif kind == REPLY:
                fut = self.pending.pop(env[1], None)
                if fut is not None and not fut.done():
                    fut.set_result((env[2], env[3]))
                elif env[2] == "ok":
                    self.gen.placed_ok += 1
                else:
                    code = env[3].get("code", "?") if isinstance(env[3], dict) else "?"
                    self.gen.place_errors[code] = self.gen.place_errors.get(code, 0) + 1
            else:
                stats.protocol_errors += 1


class CanvasGenerator:
    def __init__(self, pipe, opts: dict):
        self.pipe = pipe
        self.opts = opts
        u = urlsplit(opts["url"])
        self.host, self.port, self.path = u.hostname or "127.0.0.1", u.port or 80, u.path or "/v1"
        self.stats = Stats()
        self.watchers: list[Watcher] = []
        self.placers: list[Watcher] = []
        self.sent_at: dict[bytes, float] = {}
        self.placed_ok = 0
        self.place_errors: dict[str, int] = {}
        self.setup_failures = 0
        self.setup_errors: dict[str, int] = {}

    async def connect(self, probe: bool = False) -> Watcher:
        from solders.keypair import Keypair

        loop = asyncio.get_running_loop()
        c = Watcher(self.stats, self, probe)
        c.upgraded, c.closed_fut = loop.create_future(), loop.create_future()
        await asyncio.wait_for(loop.create_connection(lambda: c, self.host, self.port), 10)
        import base64

        key = base64.b64encode(os.urandom(16)).decode()
        c.transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        await asyncio.wait_for(c.upgraded, 10)
        kp = Keypair()
        c.wallet = str(kp.pubkey())
        hello = await c.call("hello", {"protocol": 1, "client": "arena-bench-canvas"})
        sig = bytes(kp.sign_message(("arena:login:" + hello["nonce"]).encode()))
        await c.call("auth.login", {"wallet": c.wallet, "signature": sig})
        return c

    async def join(self, c: Watcher) -> dict:
        return await c.call("canvas.join", {}, timeout=60)

    async def setup(self) -> None:
        t0 = time.monotonic()
        sem = asyncio.Semaphore(SETUP_CONCURRENCY)
        o = self.opts

        async def one(i: int, placer: bool) -> None:
            async with sem:
                try:
                    c = await self.connect(probe=not placer and i < o["probes"])
                    await self.join(c)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    self.setup_failures += 1
                    key = str(exc)[:80]
                    self.setup_errors[key] = self.setup_errors.get(key, 0) + 1
                    return
            (self.placers if placer else self.watchers).append(c)

        await asyncio.gather(*(one(i, False) for i in range(o["watchers"])),
                             *(one(i, True) for i in range(o["placers"])))
        self.watchers.sort(key=lambda c: not c.probe)
        gc.collect()
        gc.freeze()
        self.pipe.send(("ready", {"setup_s": round(time.monotonic() - t0, 2), "setup_failures": self.setup_failures,
                                  "setup_errors": self.setup_errors}))

    async def window(self) -> dict:
        o = self.opts
        rate, size, duration = o["rate"], o["size"], o["duration"]
        cells = size * size
        step = 7919 if cells % 7919 else 7927  # a prime not dividing the cell count: every cell, spread out
        for c in self.watchers + self.placers:
            c.counting = True  # (event numbering goes on from the setup's)
        placers = self.placers
        if not placers:
            raise RuntimeError("no placer connected")
        joins: list[dict] = []
        loop = asyncio.get_running_loop()
        cpu0 = _cpu()
        t0 = time.monotonic()
        t1 = t0 + duration
        sent = 0
        lag_max = 0.0
        next_join = t0 + o["join_every"]
        next_prune = t0 + 2.0
        join_tasks = []
        rid = PLACE_RID_BASE
        sent_at = self.sent_at
        woke = t0
        while True:
            now = time.monotonic()
            if now >= t1:
                break
            lag_max = max(lag_max, now - woke - SLOT_S)  # how late the loop came back to send
            due = int(rate * (now - t0)) - sent
            for _ in range(max(0, due)):
                k = sent
                idx = (k * step) % cells
                x, y, colour = idx % size, idx // size, (k * 13 + idx) % 32
                c = placers[k % len(placers)]
                rid += 1
                c.transport.write(mask_frame(encode_request(rid, "canvas.place", {"x": x, "y": y, "color": colour}),
                                             c.mask))
                sent_at[x.to_bytes(2, "big") + y.to_bytes(2, "big") + bytes((colour,))] = now
                sent += 1
            if now >= next_join:
                next_join += o["join_every"]
                join_tasks.append(loop.create_task(self._newcomer(joins)))
            if now >= next_prune:  # stamps older than 5 s: far past any latency worth keeping
                next_prune = now + 2.0
                cut = now - 5.0
                for key in [key for key, t in sent_at.items() if t < cut]:
                    del sent_at[key]
            woke = time.monotonic()
            await asyncio.sleep(SLOT_S)
        # Every placement sent gets its reply and its event before the counts are read.
        deadline = time.monotonic() + 10
        while self.placed_ok + sum(self.place_errors.values()) < sent and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        if join_tasks:
            await asyncio.wait(join_tasks, timeout=10)
        wall = time.monotonic() - t0
        return {
            "wall_s": wall, "window_s": duration, "placed_sent": sent, "placed_ok": self.placed_ok, "place_errors": self.place_errors,
            "latencies": self.stats.latencies, "pixel_events": sum(c.pixel_events for c in self.watchers),
            "watcher_bytes": sum(c.watch_bytes for c in self.watchers), "stats": self.stats.as_dict(),
            "joins": joins, "cpu_s": _cpu() - cpu0, "lag_max_s": lag_max,
        }

    async def _newcomer(self, joins: list) -> None:
        try:
            c = await self.connect()
            t = time.monotonic()
            j = await self.join(c)
            whole = time.monotonic() - t
            t = time.monotonic()
            # The chunked form: every part asked for at once (within the bitmap
            # bucket's burst), so they come back in one tick or a few.
            got = sum(len(r["bitmap"]) for r in await asyncio.gather(
                *(c.call("canvas.bitmap", {"part": part}, timeout=60) for part in range(j["parts"]))))
            joins.append({"ms": round(whole * 1000, 1), "bitmap_bytes": len(j["bitmap"]),
                          "parts_ms": round((time.monotonic() - t) * 1000, 1), "parts": j["parts"],
                          "parts_bytes": got})
            c.close()
        except Exception as exc:  # noqa: BLE001 - reported as a failed join
            joins.append({"ms": None, "error": str(exc)[:80]})

    async def main(self) -> None:
        try:
            await self.setup()
            while not self.pipe.poll(0.05):
                await asyncio.sleep(0.05)
            if self.pipe.recv()[0] != "go":
                return
            res = await self.window()
            self.pipe.send(("done", res))
            while not self.pipe.poll(0.05):
                await asyncio.sleep(0.05)
        except Exception as exc:  # noqa: BLE001 - the orchestrator reports it
            self.pipe.send(("error", repr(exc)[:300]))
        finally:
            for c in self.watchers + self.placers:
                c.close()
            await asyncio.sleep(0.1)


def generator_main(pipe, opts: dict) -> None:
    run_generator_process(opts.get("cpus"), CanvasGenerator(pipe, opts).main)
