"""`python -m arena bench SCENARIO`: drive a server over real sockets and report.

Scenarios (see bench/README.md):
  duel     N battles held in their recording window, both players sending
           reaction.send at R/s; latency = reaction.send -> own reaction:sent
  battles  N pairs of players playing full battles in a loop (queue, pay,
           3 rounds, scores, payout, requeue); battles/s and per-step latency
  idle     N battles waiting on timers with no input; the tick cost against
           N (plus an in-process engine measure at --engine-matches)
  profile  no sockets: the duel's per-input Python cost by stage (read, step,
           deliver, flush, journal), in process, steady enough for A/B runs
  lottery  --watchers connections watching one lottery round's pool while
           --bettors place --bet-rate bets per second (arena.benchkit.lottery_bench)
  contest  no sockets: one trading contest (--participants, --tokens) at 10
           price updates a second; the cost of a ranking update and push per
           tick, push latency, journal bytes per contest-hour, CPU, RSS;
           with --sockets: over WebSockets to a started server, the push
           latency at the client, server CPU and RSS (contest_sockets.py)
  canvas   W watchers on the weekly canvas while placers place R pixels/s;
           latency placement -> seen, frames and bytes out, a newcomer's
           snapshot (arena/benchkit/canvas_bench.py)
  meme     no sockets: N meme viewers (--matches, default 10000) metered for
           --duration seconds alone, then as long with every viewer beating
           every 2 s; the tick cost, settlements per minute, CPU and RSS
           (arena/benchkit/meme_engine.py)

With `--reads R` (duel), every step is measured twice on the same battles:
without reads, then with a reader process sending R `leaderboard.get` per
second over `--read-conns` more connections (the store's board seeded with
`--read-board-rows` wallets), so the table shows tick rate and input
latency with and without the reads.

Modes: one step (`--matches N`) or a ladder (`--ladder`: N rising until the
service level breaks, or `--max-matches`). The server is started here, pinned
to one core (`taskset`), unless `--url` names a running one. Load generators
are separate processes (`--generators K`) pinned to the other cores.
Everything runs against loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

SCENARIOS = ("duel", "battles", "idle", "profile", "lottery", "canvas", "meme", "contest")
SLA_TICK_FRACTION = 0.95
SLA_P99_MS = 100.0
GEN_SATURATED_CPU = 0.90


def add_arguments(p) -> None:
    p.add_argument("scenario", choices=SCENARIOS)
    p.add_argument("--matches", "-n", type=int, default=None,
                   help="battles (pairs of clients) for a single step (default 100; ladder start)")
    p.add_argument("--rate", type=float, default=10.0, help="duel: reactions per second per player (default 10)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per step (default 10)")
    p.add_argument("--ladder", action="store_true", help="raise N step by step until the service level breaks")
    p.add_argument("--steps", default=None,
                   help="ladder: comma-separated N values (default: 250, 500, 750, 875, 1000, 1125, 1250, "
                        "then +250 up to --max-matches; with --matches or --step-size: evenly from there; "
                        "canvas: WATCHERS:PLACEMENTS_PER_S pairs, e.g. 500:1000,2000:3333)")
    p.add_argument("--step-size", type=int, default=None, help="ladder: N increment (default: the list above)")
    p.add_argument("--max-matches", type=int, default=2500, help="ladder: stop after this N (default 2500)")
    p.add_argument("--keep-going", action="store_true", help="ladder: do not stop at the first failing step")
    p.add_argument("--generators", "-k", type=int, default=None,
                   help="load-generator processes (default: one per core left to them, at least 1)")
    p.add_argument("--in-loop-sender", dest="split_sender", action="store_false",
                   help="duel: send from the generator's event loop too (default where fork() exists: a forked "
                        "child sends on a strict schedule, and arrival times are the kernel's receive stamps)")
    p.add_argument("--workers", type=int, default=0,
                   help="duel, battles: start `serve --workers N` on PostgreSQL (N shard workers, no standby) "
                        "instead of the one-process server; each pair of clients plays on one shard's port")
    p.add_argument("--pg-dsn", default=os.environ.get("ARENA_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
                   help="--workers: the PostgreSQL to keep the shards in (a fresh schema, dropped after)")
    p.add_argument("--against", choices=("arena", "colyseus"), default="arena",
                   help="duel: the server to measure: this one (default) or the same workload as a Colyseus 0.16 "
                        "room (bench/colyseus, Node.js; `npm ci` there first), driven by the same generator")
    p.add_argument("--url", default=None, help="bench a running server (ws://HOST:PORT/v1) instead of starting one")
    p.add_argument("--metrics-url", default=None,
                   help="with --url: its metrics endpoint (http://HOST:PORT/metrics), for server-side numbers")
    p.add_argument("--tick-hz", type=int, default=20, help="tick rate of the server the bench starts (default 20)")
    p.add_argument("--server-cpus", default=None,
                   help="cores for the started server (default: core 0 when there are 2+)")
    p.add_argument("--gen-cpus", default=None, help="cores for load generators (default: all but the server's)")
    p.add_argument("--server-src", default=None,
                   help="PYTHONPATH for the started server (to bench another checkout, e.g. a baseline)")
    p.add_argument("--engine-matches", default="0,1000,10000",
                   help="idle: in-process engine measure at these N (default 0,1000,10000; '' = skip)")
    p.add_argument("--ticks", type=int, default=200, help="profile: ticks measured per run (default 200)")
    p.add_argument("--runs", type=int, default=3, help="profile: runs; the table shows each and the best (default 3)")
    p.add_argument("--baseline", default=None,
                   help="profile: another checkout (its root folder) to compare with: runs alternate between it "
                        "and this one, each in a fresh process, and the table ends with the means and the change")
    p.add_argument("--reads", type=float, default=0.0,
                   help="duel: measure each step again with this many leaderboard.get per second (default 0: off)")
    p.add_argument("--read-conns", type=int, default=25, help="--reads: reader connections (default 25)")
    p.add_argument("--read-board-rows", type=int, default=10_000,
                   help="--reads: wallets on the board read, seeded into the started server's store (default 10000)")
    p.add_argument("--participants", type=int, default=1_000, help="contest: participants (default 1000)")
    p.add_argument("--tokens", type=int, default=50, help="contest: whitelisted tokens (default 50)")
    p.add_argument("--sockets", action="store_true",
                   help="contest: over real WebSockets to a started server (push latency at the client)")
    p.add_argument("--watchers", type=int, default=2000,
                   help="canvas: watchers joined to the canvas; lottery: connections watching the round's pool "
                        "(default 2000; the lottery's target is 10000)")
    from .canvas_bench import add_arguments as canvas_arguments

    canvas_arguments(p)
    p.add_argument("--json", dest="json_path", default=None, help="write the report as JSON here")
    p.add_argument("--plot", dest="plot_path", default=None, help="write a PNG plot here (matplotlib, Agg)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    from .lottery_bench import add_arguments as lottery_arguments

    lottery_arguments(p)


def _cpus(spec: str | None) -> list[int] | None:
    if not spec:
        return None
    return [int(x) for x in spec.split(",") if x.strip()]


def main_from_args(args) -> int:
    if args.against == "colyseus" and (args.scenario != "duel" or args.url or args.workers):
        print("bench: --against colyseus runs the duel on a Colyseus server the bench starts "
              "(no --url, no --workers)", file=sys.stderr)
        return 2
    if args.scenario == "profile":
        return _profile(args)
    if args.scenario == "meme":
        return _meme(args)
    if args.scenario == "contest":
        return _contest(args)
    if args.scenario == "lottery":
        from .lottery_bench import main

        return main(args)
    if args.scenario == "canvas":
        from .canvas_bench import main

        return main(args)
    bench = Bench(args)
    reports: list = []
    try:
        failed = interrupted_or_failed(lambda: reports.append(bench.run()))
    finally:
        bench.close()
    if failed is not None:
        return failed
    report = reports[0]
    print_table(report, sys.stdout)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: JSON written to {args.json_path}")
    if args.plot_path:
        plot(report, args.plot_path)
        print(f"bench: plot written to {args.plot_path}")
    if args.ladder:
        return 0  # a ladder is meant to end in a failing step
    return 0 if report["steps"] and report["steps"][0]["sla"]["pass"] else 1


def _contest(args) -> int:
    if args.sockets:
        from .contest_sockets import main

        return main(args)
    from .contest_bench import print_report, run

    report = run(participants=args.participants, tokens=args.tokens, seconds=args.duration, tick_hz=args.tick_hz)
    print_report(report, sys.stdout)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: JSON written to {args.json_path}")
    return 0
def interrupted_or_failed(run) -> int | None:
    """Call `run()`; the exit status when it was interrupted (130) or failed
    with a bench error (2, said on stderr), None when it ran."""
    try:
        run()
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError) as exc:
        print(f"\nbench: {exc}", file=sys.stderr)
        return 2
    return None


def _meme(args) -> int:
    """In-process metering of meme viewers (arena/benchkit/meme_engine.py)."""
    from .meme_engine import measure, print_report

    n = args.matches or 10_000
    seconds = max(1, int(args.duration))
    if n < 1:
        print("bench: meme needs --matches (viewers) of at least 1", file=sys.stderr)
        return 2
    report = measure(n, seconds, args.tick_hz)
    print_report(report, sys.stdout)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: JSON written to {args.json_path}")
    return 0


def _profile(args) -> int:
    """The in-process duel profile (arena/benchkit/duel_profile.py), as a table."""
    from .duel_profile import STAGES, measure

    n = args.matches or 1125
    if n < 1 or args.ticks < 1 or args.runs < 1:
        print("bench: profile needs --matches, --ticks and --runs of at least 1", file=sys.stderr)
        return 2
    here = Path(__file__).resolve().parents[2]
    builds = [("this", None)]
    if args.baseline:
        base = Path(args.baseline).resolve()
        if not (base / "arena" / "engine" / "core.py").is_file():
            print(f"bench: --baseline {args.baseline}: not an Arena checkout (no arena/engine/core.py)",
                  file=sys.stderr)
            return 2
        # Interleaved, each in a fresh process: on a shared host the speed
        # drifts between runs, so only alternating runs compare.
        builds = [("base", base), ("this", here)]
    print(f"== arena bench profile: {n} battles, {args.ticks} ticks per run, rate {args.rate}/s per player "
          "(us of server CPU per input, no sockets)")
    print(f"{'run':>8} " + " ".join(f"{s:>8}" for s in STAGES) + f" {'total':>8} {'frames/in':>9}")
    runs: dict[str, list] = {label: [] for label, _ in builds}
    for i in range(args.runs):
        for label, tree in builds:
            try:
                r = measure(n, ticks=args.ticks, rate=args.rate) if tree is None else \
                    _profile_in(tree, n, args.ticks, args.rate)
            except RuntimeError as exc:
                print(f"bench: {exc}", file=sys.stderr)
                return 1
            if r["accepted"] != r["inputs"] or r["bad_frames"] or r["phases"] != ["recording"]:
                print(f"bench: profile run {i + 1} ({label}): {r['inputs'] - r['accepted']} inputs refused, "
                      f"{r['bad_frames']} bad frames, phases {r['phases']}: the measure is not of the duel path",
                      file=sys.stderr)
                return 1
            runs[label].append(r)
            per = r["us_per_input"]
            print(f"{label + ' ' + str(i + 1):>8} " + " ".join(f"{per[s]:>8.2f}" for s in STAGES)
                  + f" {r['us_per_input_total']:>8.2f} {r['frames_per_input']:>9.2f}")
    summary = {}
    for label, rs in runs.items():
        mean = {s: round(sum(r["us_per_input"][s] for r in rs) / len(rs), 2) for s in STAGES}
        summary[label] = {"best": {s: min(r["us_per_input"][s] for r in rs) for s in STAGES}, "mean": mean}
        print(f"{label + ' mean':>8} " + " ".join(f"{mean[s]:>8.2f}" for s in STAGES) + f" {sum(mean.values()):>8.2f}")
    if args.baseline:
        b, t = (sum(summary[k]["mean"].values()) for k in ("base", "this"))
        summary["change_pct"] = round((t - b) / b * 100, 1)
        print(f"this checkout against the baseline: {summary['change_pct']:+.1f} % CPU per input (means)")
    if args.json_path:
        report = {"scenario": "profile", "baseline": args.baseline, "runs": runs, **summary}
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: JSON written to {args.json_path}")
    return 0


# Runs this checkout's duel_profile.py against another checkout's `arena` package.
_PROFILE_CHILD = """\
import json, runpy, sys
sys.path.insert(0, sys.argv[1])
measure = runpy.run_path(sys.argv[2])["measure"]
print(json.dumps(measure(int(sys.argv[3]), ticks=int(sys.argv[4]), rate=float(sys.argv[5]))))
"""


def _profile_in(tree: Path, n: int, ticks: int, rate: float) -> dict:
    import subprocess

    script = Path(__file__).with_name("duel_profile.py")
    proc = subprocess.run([sys.executable, "-c", _PROFILE_CHILD, str(tree), str(script), str(n), str(ticks), str(rate)],
                          cwd=tree, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"profile of {tree} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Bench:
    def __init__(self, args):
        self.args = args
        self.server = None
        self.gens: list = []
        self.reader = None  # (process, pipe) of the reads step's generator, with --reads
        self.shard_urls: list[str] = []  # --workers: each shard worker's own URL
        self.worker_metrics: list[str] = []  # --workers: each worker's metrics endpoint
        self.progress = not args.quiet and sys.stderr.isatty()

    # --- set-up -------------------------------------------------------------------------
    def _start(self) -> dict:
        args = self.args
        ncpu = os.cpu_count() or 1
        server_cpus = _cpus(args.server_cpus)
        gen_cpus = _cpus(args.gen_cpus)
        info = {"cpus": ncpu, "load_avg_start": _loadavg()}
        if args.url:
            self.url = args.url
            self.metrics_url = args.metrics_url
            self.server_pid = None
            info["server"] = {"url": args.url, "started_by_bench": False}
        elif args.against == "colyseus":
            from .serverproc import ColyseusProcess

            if server_cpus is None and ncpu > 1:
                server_cpus = [0]
            self.server = ColyseusProcess(cpus=server_cpus)
            self.server.wait_ready()
            self.url, self.metrics_url = self.server.url, self.server.metrics_url
            self.server_pid = self.server.proc.pid
            info["server"] = {"kind": "colyseus", "version": self.server.version, "url": self.url,
                              "started_by_bench": True, "log": self.server.log_path,
                              "pinned_cpus": server_cpus if self.server.pinned else None}
        else:
            from .serverproc import ServerProcess

            if server_cpus is None and ncpu > 1:
                server_cpus = [0]
            self.server = ServerProcess(tick_hz=args.tick_hz, cpus=server_cpus, src=args.server_src,
                                        board_rows=args.read_board_rows if args.reads else 0,
                                        workers=args.workers, pg_dsn=args.pg_dsn)
            has_metrics = self.server.wait_ready()
            self.url = self.server.url
            self.metrics_url = self.server.metrics_url if has_metrics else None
            self.server_pid = self.server.proc.pid
            self.shard_urls = self.server.shard_urls
            self.worker_metrics = self.server.worker_metrics_urls
            info["server"] = {
                "workers": args.workers or None, "shard_urls": self.shard_urls or None,
                "url": self.url, "started_by_bench": True, "pinned_cpus": server_cpus if self.server.pinned else None,
                "config": str(self.server.config_path), "log": self.server.log_path, "src": args.server_src,
                "metrics": bool(has_metrics),
            }
        if gen_cpus is None and server_cpus and ncpu > 1:
            gen_cpus = [c for c in range(ncpu) if c not in server_cpus] or None
        if gen_cpus and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(0, gen_cpus)  # the orchestrator stays off the server's core too
            except OSError:
                pass
        info["generator_cpus"] = gen_cpus
        ctx = mp.get_context("spawn")
        from .loadgen import generator_main

        if args.generators is None:
            # One per core: two generators sharing one core measured worse
            # (p99 118 ms vs 71 ms at N=1000) than one using it alone.
            args.generators = len(gen_cpus) if gen_cpus else 1
        info["generators"] = args.generators
        for i in range(max(1, args.generators)):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=generator_main, args=(child, i, {
                "url": self.url, "urls": self.shard_urls, "scenario": args.scenario, "cpus": gen_cpus,
                "split_sender": args.split_sender, "against": args.against}), daemon=True)
            proc.start()
            self.gens.append((proc, parent))
        if args.reads:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=generator_main, args=(child, len(self.gens), {
                "url": self.url, "scenario": "reads", "cpus": gen_cpus}), daemon=True)
            proc.start()
            self.reader = (proc, parent)
            parent.send(("grow", args.read_conns))
            info["reader"] = {"connections": args.read_conns, "reads_per_s": args.reads}
        return info

    def close(self) -> None:
        if self.reader is not None:
            self.gens.append(self.reader)
            self.reader = None
        for proc, pipe in self.gens:
            try:
                pipe.send(("stop",))
            except (OSError, BrokenPipeError):
                pass
        for proc, _ in self.gens:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(2)
        self.gens = []
        if self.server is not None:
            self.server.stop()
            self.server = None

    # --- helpers ------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        if self.progress:
            sys.stderr.write("\r\x1b[2K" + text)
            sys.stderr.flush()

    def _collect(self, kind: str, timeout: float, label: str, gens: list | None = None) -> list:
        """Wait for one `kind` message from every generator (or those of
        `gens`), showing progress."""
        gens = self.gens if gens is None else gens
        out: dict[int, object] = {}
        prog: dict[int, int] = {}
        deadline = time.monotonic() + timeout
        while len(out) < len(gens):
            if time.monotonic() > deadline:
                raise RuntimeError(f"load generators did not answer {kind!r} within {timeout:.0f}s")
            for i, (proc, pipe) in enumerate(gens):
                if i in out:
                    continue
                if not proc.is_alive():
                    raise RuntimeError(f"load generator {i} died (exit {proc.exitcode})")
                while pipe.poll(0.02):
                    msg = pipe.recv()
                    if msg[0] == "progress":
                        prog[i] = msg[1]
                    elif msg[0] == kind:
                        out[i] = msg[1]
                        break
            if label:
                self._say(f"{label} {sum(prog.values())} clients ready" if kind == "ready" else label)
        return [out[i] for i in range(len(gens))]

    def _proc_usage(self):
        if self.server_pid is None:
            return None
        try:
            import psutil

            p = psutil.Process(self.server_pid)
            kids = p.children(recursive=True)
            procs = [p] + kids
            cpu = sum(sum(x.cpu_times()[:2]) for x in procs)
            rss = sum(x.memory_info().rss for x in procs)
            return cpu, rss
        except Exception:  # noqa: BLE001
            return None

    # --- run ------------------------------------------------------------------------------
    def run(self) -> dict:
        from .serverproc import scrape

        args = self.args
        report = {
            "scenario": args.scenario,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": "python -m arena bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:]),
            "params": {"rate": args.rate, "duration": args.duration, "tick_hz": args.tick_hz,
                       "split_sender": args.split_sender, "against": args.against},
            "service_level": {"tick_rate_fraction": SLA_TICK_FRACTION, "p99_ms": SLA_P99_MS,
                              "errors": 0, "dropped": 0},
            "steps": [],
        }
        report["host"] = self._start()
        time.sleep(0.5)
        idle = scrape(self.metrics_url)
        usage = self._proc_usage()
        if self.worker_metrics and usage:
            report["idle_rss_bytes"] = usage[1]  # every process of the node, as the steps measure it
        else:
            report["idle_rss_bytes"] = (idle or {}).get("process_resident_memory_bytes") or (usage[1] if usage else None)
        if args.ladder:
            if args.steps:
                ladder = [int(x) for x in args.steps.split(",") if x.strip()]
            elif args.matches or args.step_size:
                size = args.step_size or 250
                ladder = list(range(args.matches or size, args.max_matches + 1, size))
            else:
                # Finer around the comparison points: Colyseus 0.16 holds ~750
                # rooms per core (fails at 875); Arena's target is 1,125.
                ladder = [250, 500, 750, 875, 1000, 1125, 1250]
                ladder += list(range(1500, args.max_matches + 1, 250))
                ladder = [n for n in ladder if n <= args.max_matches]
        else:
            ladder = [args.matches or 100]
        if self.reader is not None:
            self._collect("ready", 120, "reader:", [self.reader])
        for i, n in enumerate(ladder):
            step = self.step(n, i + 1, len(ladder), report["idle_rss_bytes"])
            report["steps"].append(step)
            if self.progress:
                self._say("")
                sys.stderr.write("\r\x1b[2K")
            print(_row(step, header=(i == 0)), flush=True)
            if self.reader is not None:
                # The same battles again, with the reads next to them.
                with_reads = self.step(n, i + 1, len(ladder), report["idle_rss_bytes"], reads=args.reads)
                report["steps"].append(with_reads)
                print(_row(with_reads), flush=True)
            if args.ladder and not step["sla"]["pass"] and not args.keep_going:
                break
        passing = [s["matches"] for s in report["steps"] if s["sla"]["pass"]]
        report["max_matches_at_service_level"] = max(passing) if passing else 0
        if args.scenario == "idle" and args.engine_matches:
            from .idle_engine import measure

            report["engine_idle"] = []
            for n in [int(x) for x in args.engine_matches.split(",") if x.strip()]:
                self._say(f"idle: in-process engine tick with {n} battles waiting on timers ...")
                report["engine_idle"].append(measure(n))
            self._say("")
        report["host"]["load_avg_end"] = _loadavg()
        return report

    def step(self, n_matches: int, index: int, total: int, idle_rss, reads: float = 0.0) -> dict:
        from .serverproc import (colyseus_window, gc_window, hist_delta, hist_max, hist_quantile, scrape,
                                 server_window, slowest_ticks)

        args = self.args
        n_clients = 2 * n_matches
        k = len(self.gens)
        share = [n_clients // k + (1 if i < n_clients % k else 0) for i in range(k)]
        label = f"[{index}/{total}] {args.scenario} N={n_matches}: setting up"
        t_setup = time.monotonic()
        for (proc, pipe), n in zip(self.gens, share):
            pipe.send(("grow", n))
        ready = self._collect("ready", 120 + n_clients * 0.05, label)
        setup_s = time.monotonic() - t_setup
        clients = sum(r["clients"] for r in ready)
        setup_failures = sum(r["setup_failures"] for r in ready)
        setup_errors: dict = {}
        for r in ready:
            for key, v in r["setup_errors"].items():
                setup_errors[key] = setup_errors.get(key, 0) + v

        m_before = scrape(self.metrics_url)
        t0 = time.monotonic() + 0.5
        t1 = t0 + args.duration
        for proc, pipe in self.gens:
            pipe.send(("run", t0, t1, args.rate))
        if reads:
            self.reader[1].send(("run", t0, t1, reads))
        time.sleep(max(0.0, t0 - time.monotonic()))
        m0 = scrape(self.metrics_url)
        w_m0 = [scrape(u) for u in self.worker_metrics]
        u0 = self._proc_usage()
        s0 = _proc_stat()
        w0 = time.monotonic()
        while time.monotonic() < t1:
            left = t1 - time.monotonic()
            self._say(f"[{index}/{total}] {args.scenario} N={n_matches} ({clients} clients): "
                      f"measuring, {left:4.1f}s left")
            time.sleep(min(0.25, max(0.0, left)))
        m1 = scrape(self.metrics_url)
        w_m1 = [scrape(u) for u in self.worker_metrics]
        u1 = self._proc_usage()
        s1 = _proc_stat()
        w1 = time.monotonic()
        slowest = slowest_ticks(self.metrics_url, m0)
        results = self._collect("result", 60 + args.duration + 40, f"[{index}/{total}] draining")
        read = self._collect("result", 60, "", [self.reader])[0] if reads else None
        m_after = scrape(self.metrics_url)
        wall = w1 - w0

        # --- client side ---
        tot = {key: sum(r[key] for r in results) for key in (
            "frames_out", "bytes_out", "frames_in", "bytes_in", "envelopes_in", "replies_ok", "replies_error",
            "events", "own_reactions", "other_reactions", "seq_gaps", "protocol_errors", "closed", "sends_skipped")}
        lat = sorted(x for r in results for x in r["latencies"])
        codes: dict = {}
        for r in results:
            for key, v in r["error_codes"].items():
                codes[key] = codes.get(key, 0) + v
        if read is not None:
            # Its frames are on the wire too (both ends must count the same);
            # its replies count toward the errors; its latencies are its own.
            for key in ("frames_out", "bytes_out", "frames_in", "bytes_in", "envelopes_in", "replies_error",
                        "protocol_errors", "closed"):
                tot[key] += read[key]
            for key, v in read["error_codes"].items():
                codes[key] = codes.get(key, 0) + v
        gen_cpu = [r["cpu_s"] / r["wall_s"] if r["wall_s"] > 0 else 0.0 for r in results]
        step = {
            "scenario": args.scenario,
            "matches": n_matches,
            "clients": clients,
            "setup_s": round(setup_s, 1),
            "setup_failures": setup_failures,
            "setup_errors": setup_errors,
            "duration_s": round(wall, 2),
            "rate_per_player": args.rate if args.scenario == "duel" else None,
            "latency_ms_min": _ms(lat[0] if lat else None),
            "latency_ms_p50": _ms(_pct(lat, 0.50)),
            "latency_ms_p90": _ms(_pct(lat, 0.90)),
            "latency_ms_p95": _ms(_pct(lat, 0.95)),
            "latency_ms_p99": _ms(_pct(lat, 0.99)),
            "latency_ms_p999": _ms(_pct(lat, 0.999)),
            "latency_ms_max": _ms(lat[-1] if lat else None),
            "latency_samples": len(lat),
            "client": tot,
            "error_codes": codes,
            "msgs_in_per_client_s": _per(tot["frames_out"], clients, wall),   # client -> server
            "msgs_out_per_client_s": _per(tot["frames_in"], clients, wall),   # server -> client
            "envelopes_out_per_client_s": _per(tot["envelopes_in"], clients, wall),
            "bytes_in_per_client_s": _per(tot["bytes_out"], clients, wall),
            "bytes_out_per_client_s": _per(tot["bytes_in"], clients, wall),
            "gen_cpu_pct": [round(c * 100, 1) for c in gen_cpu],
            "gen_lag_ms_max": round(max((r["lag_max_s"] for r in results), default=0) * 1000, 1),
            "load_avg": _loadavg(),
            "cpu_pressure_some_avg10": _pressure(),
        }
        if read is not None:
            rl = sorted(read["latencies"])
            step["reads"] = {
                "rate": reads, "connections": read["clients"], "sent": read["frames_out"],
                "per_s": round(read["frames_out"] / wall, 1) if wall > 0 else None,
                "ok": read["replies_ok"], "errors": read["replies_error"], "error_codes": read["error_codes"],
                "latency_ms_p50": _ms(_pct(rl, 0.50)), "latency_ms_p99": _ms(_pct(rl, 0.99)),
                "latency_ms_max": _ms(rl[-1] if rl else None),
                "reader_lag_ms_max": round(read["lag_max_s"] * 1000, 1),
                "reader_cpu_pct": round(read["cpu_s"] / read["wall_s"] * 100, 1) if read["wall_s"] > 0 else None,
            }
        else:
            step["reads"] = None
        step["gen_saturated"] = any(c >= GEN_SATURATED_CPU for c in gen_cpu)
        step["gen_lagged"] = step["gen_lag_ms_max"] > 50  # its sends ran late (its core was busy)
        if args.scenario == "battles":
            done = sum(r.get("battles_completed", 0) for r in results)
            step["battles_completed"] = done
            step["battles_per_s"] = round(done / wall, 2) if wall > 0 else None
            step["battles_other"] = sum(r.get("battles_other", 0) for r in results)
            step["battle_failures"] = sum(r.get("battle_failures", 0) for r in results)
            reasons: dict = {}
            for r in results:
                for key, v in r.get("battle_failure_reasons", {}).items():
                    reasons[key] = reasons.get(key, 0) + v
            step["battle_failure_reasons"] = reasons
            names = sorted({name for r in results for name in r["steps"]})
            step["step_latency_ms"] = {}
            for name in names:
                xs = sorted(x for r in results for x in r["steps"].get(name, []))
                step["step_latency_ms"][name] = {"n": len(xs), "p50": _ms(_pct(xs, 0.5)),
                                                 "p99": _ms(_pct(xs, 0.99)), "max": _ms(xs[-1] if xs else None)}

        # --- server side ---
        srv: dict = {"metrics": m0 is not None and m1 is not None}
        if u0 and u1:
            srv["cpu_pct"] = round((u1[0] - u0[0]) / wall * 100, 1)
            srv["rss_bytes"] = u1[1]
        if m0 and m1 and args.against == "colyseus":
            srv.update(colyseus_window(m0, m1, wall))
        elif m0 and m1:
            mwall = wall
            srv.update(server_window(m0, m1, mwall))
            ticks = m1["arena_ticks_total"] - m0["arena_ticks_total"]
            bl, sl, cl = hist_delta(m0, m1, "arena_tick_lateness_seconds")
            top = hist_max(bl)
            srv["lateness_ms_max"] = _ms(min(top, m1["arena_tick_lateness_max_seconds"]) if top is not None else None)
            q = hist_quantile(bl, 0.99)
            srv["lateness_ms_p99"] = _ms(min(q, srv["lateness_ms_max"] / 1000) if q is not None else None)
            tick_cpu = m1.get("arena_tick_cpu_seconds_total", 0) - m0.get("arena_tick_cpu_seconds_total", 0)
            srv["tick_cpu_ms_mean"] = round(tick_cpu / ticks * 1000, 3) if ticks else None
            srv["inputs_per_s"] = round((m1["arena_inputs_total"] - m0["arena_inputs_total"]) / mwall, 1)
            srv["messages_per_s"] = round((m1["arena_messages_total"] - m0["arena_messages_total"]) / mwall, 1)
            srv["gc"] = gc_window(m0, m1)
            srv["slowest_ticks"] = slowest
            srv["matches"] = int(m1["arena_matches"])
            srv["sessions"] = int(m1["arena_sessions"])
            srv["connections"] = int(m1["arena_connections"])
        if m_before and m_after:
            for key in ("frames_in", "frames_out", "bytes_in", "bytes_out", "bad_frames", "dropped_slow",
                        "hub_wakes", "hub_events"):
                name = f"arena_net_{key}_total"
                if name in m_after:
                    srv[f"net_{key}"] = int(m_after[name] - m_before.get(name, 0))
        if m0 and m1 and srv.get("inputs_per_s"):
            cpu_s = m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]
            srv["cpu_us_per_input"] = round(cpu_s / (srv["inputs_per_s"] * wall) * 1e6, 1)
        if self.worker_metrics:
            # Each shard worker on its own: its CPU, ticks and inputs (the
            # top-level tick figures above are worker 0's; cpu_pct is the node's).
            srv["workers"] = []
            for a, b in zip(w_m0, w_m1):
                if not (a and b):
                    srv["workers"].append(None)
                    continue
                w = server_window(a, b, wall)
                w["inputs_per_s"] = round((b["arena_inputs_total"] - a["arena_inputs_total"]) / wall, 1)
                w["matches"] = int(b["arena_matches"])
                cpu_s = b["process_cpu_seconds_total"] - a["process_cpu_seconds_total"]
                w["cpu_us_per_input"] = (round(cpu_s / (w["inputs_per_s"] * wall) * 1e6, 1)
                                         if w["inputs_per_s"] else None)
                srv["workers"].append(w)
            live = [w for w in srv["workers"] if w]
            if u0 and u1:
                srv["cpu_pct"] = round((u1[0] - u0[0]) / wall * 100, 1)  # the node: supervisor and workers
                srv["rss_bytes"] = u1[1]
            if live:
                srv["inputs_per_s"] = round(sum(w["inputs_per_s"] for w in live), 1)
                srv["tick_rate_hz"] = min(w["tick_rate_hz"] for w in live)  # the service level: every worker's
                if srv.get("cpu_pct") is not None and srv["inputs_per_s"]:
                    # the whole node (supervisor and workers) per input of every worker
                    srv["cpu_us_per_input"] = round(srv["cpu_pct"] / 100 * 1e6 / srv["inputs_per_s"], 1)
        if s0 and s1:
            # Everything the machine ran besides this bench: other people's work on shared cores.
            busy = (s1[0] - s0[0]) / s1[2]
            ours = sum(r["cpu_s"] for r in results) + (srv.get("cpu_pct", 0) / 100 * wall)
            step["machine_busy_pct"] = round(busy / wall * 100, 1)
            step["others_cpu_pct"] = round(max(0.0, busy - ours) / wall * 100, 1)
            step["steal_pct"] = round((s1[1] - s0[1]) / s1[2] / wall * 100, 1)
        if srv.get("rss_bytes") and idle_rss:
            srv["rss_per_match_bytes"] = int((srv["rss_bytes"] - idle_rss) / max(1, n_matches))
        step["server"] = srv

        # --- service level ---
        errors = tot["replies_error"] + tot["protocol_errors"] + tot["seq_gaps"] + step.get("battle_failures", 0)
        dropped = tot["closed"] + tot["sends_skipped"] + srv.get("net_dropped_slow", 0)
        tick_ok = (srv["tick_rate_hz"] >= SLA_TICK_FRACTION * srv["tick_hz"]) if "tick_rate_hz" in srv else None
        if args.scenario == "duel":
            lat_ok = step["latency_ms_p99"] is not None and step["latency_ms_p99"] < SLA_P99_MS
        else:
            lat_ok = True
        sla = {"tick_ok": tick_ok, "latency_ok": lat_ok, "errors": errors, "dropped": dropped,
               "setup_ok": setup_failures == 0}
        sla["pass"] = bool(tick_ok is not False and lat_ok and errors == 0 and dropped == 0 and setup_failures == 0)
        step["sla"] = sla
        return step


# --- formatting ----------------------------------------------------------------------------


def _pct(xs, q):
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, int(math.ceil(q * len(xs))) - 1))]


def _ms(x):
    return None if x is None else round(x * 1000, 3)


def _per(count, clients, wall):
    if not clients or wall <= 0:
        return None
    return round(count / clients / wall, 2)


def _proc_stat():
    """(busy seconds, steal seconds, ticks per second) of the whole machine, or None."""
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()
        v = [int(x) for x in parts[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq
        return (busy, v[7] if len(v) > 7 else 0, hz)
    except (OSError, ValueError, IndexError):
        return None


def _pressure():
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split()[1].split("=")[1])
    except (OSError, ValueError, IndexError):
        return None


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _f(x, fmt="{:.1f}"):
    return "-" if x is None else fmt.format(x)


COLUMNS = [
    ("N", 6), ("clients", 7), ("srvCPU%", 7), ("tick/s", 6), ("tick p50", 8), ("p99", 6), ("max", 6),
    ("late p99", 8), ("lat p50", 7), ("p99", 7), ("max", 7), ("in/c/s", 6), ("out/c/s", 7),
    ("B in/c/s", 8), ("B out/c/s", 9), ("RSS MB", 6), ("KB/match", 8), ("us/input", 8), ("genCPU%", 11),
    ("others%", 7), ("SLA", 4),
]


def _row(step: dict, header: bool = False) -> str:
    s = step["server"]
    rss = s.get("rss_bytes")
    per = s.get("rss_per_match_bytes")
    vals = [
        str(step["matches"]), str(step["clients"]), _f(s.get("cpu_pct")), _f(s.get("tick_rate_hz")),
        _f(s.get("tick_ms_p50"), "{:.2f}"), _f(s.get("tick_ms_p99")), _f(s.get("tick_ms_max")),
        _f(s.get("lateness_ms_p99")), _f(step["latency_ms_p50"]), _f(step["latency_ms_p99"]),
        _f(step["latency_ms_max"]), _f(step["msgs_in_per_client_s"]), _f(step["msgs_out_per_client_s"]),
        _f(step["bytes_in_per_client_s"], "{:.0f}"), _f(step["bytes_out_per_client_s"], "{:.0f}"),
        _f(rss / 1e6 if rss else None, "{:.0f}"), _f(per / 1024 if per is not None else None),
        _f(s.get("cpu_us_per_input")),
        "/".join(f"{c:.0f}" for c in step["gen_cpu_pct"]) + ("!" if step["gen_saturated"] else ""),
        _f(step.get("others_cpu_pct"), "{:.0f}"),
        "ok" if step["sla"]["pass"] else "FAIL",
    ]
    line = "  ".join(v.rjust(w) for v, (_, w) in zip(vals, COLUMNS))
    extra = []
    gc_ = s.get("gc")
    if gc_ and (gc_["gen2"]["n"] or gc_["gen1"]["n"]):
        extra.append("gc: " + ", ".join(f"gen{g} {gc_[f'gen{g}']['n']}x {gc_[f'gen{g}']['ms']:.0f} ms"
                                        for g in (0, 1, 2)) + f" (gen2 longest {gc_['gen2']['max_ms']:.0f} ms)")
    worst = s.get("slowest_ticks")
    if worst and step["sla"]["pass"] is False:
        extra.append("slowest ticks (ms late/gc-before | step/send/journal/gc-in): " + "; ".join(
            f"{t['late']:.0f}/{t['gc_before']:.0f} | {t['step']:.0f}/{t['send']:.0f}/{t['journal']:.0f}/{t['gc_in']:.0f}"
            for t in worst[:3]))
    r = step.get("reads")
    if r:
        extra.append(f"with reads: {r['per_s']} leaderboard.get/s, {r['ok']} ok, {r['errors']} errors, "
                     f"read latency p50/p99/max {_f(r['latency_ms_p50'])}/{_f(r['latency_ms_p99'])}/"
                     f"{_f(r['latency_ms_max'])} ms")
    if step.get("battles_per_s") is not None:
        extra.append(f"battles/s={step['battles_per_s']}")
    sla = step["sla"]
    if not sla["pass"]:
        why = []
        if sla["tick_ok"] is False:
            why.append("tick rate")
        if not sla["latency_ok"]:
            why.append("p99 latency")
        if sla["errors"]:
            why.append(f"{sla['errors']} errors {step['error_codes'] or ''}")
        if sla["dropped"]:
            why.append(f"{sla['dropped']} dropped")
        if not sla["setup_ok"]:
            first = next(iter(step["setup_errors"]), "")
            why.append(f"{step['setup_failures']} setup failures ({first})" if first
                       else f"{step['setup_failures']} setup failures")
        extra.append("fails: " + ", ".join(why))
    if step["gen_saturated"]:
        extra.append("WARNING: load generator saturated (its numbers bound the result)")
    elif step.get("gen_lagged"):
        extra.append(f"note: load generator sends ran up to {step['gen_lag_ms_max']:.0f} ms late")
    if extra:
        line += "   " + "; ".join(extra)
    if header:
        head = "  ".join(name.rjust(w) for name, w in COLUMNS)
        return head + "\n" + line
    return line


def print_table(report: dict, out) -> None:
    out.write(f"\n== arena bench {report['scenario']}  ({report['command']})\n")
    h = report["host"]
    out.write(f"server {h['server'].get('url')} pinned to {h['server'].get('pinned_cpus')}, "
              f"generators on {h.get('generator_cpus')}, load avg {h.get('load_avg_start')} -> {h.get('load_avg_end')}\n")
    out.write("units: ms (tick, latency), msgs and bytes per client per second (in = client->server), "
              "RSS per match above idle, server CPU us per input, others% = CPU used by other processes "
              "on the machine (% of a core)\n")
    for i, step in enumerate(report["steps"]):
        out.write(_row(step, header=(i == 0)) + "\n")
    if report["scenario"] == "battles":
        for step in report["steps"]:
            out.write(f"N={step['matches']}: {step.get('battles_completed')} battles in {step['duration_s']}s "
                      f"= {step.get('battles_per_s')}/s; step latency ms (p50/p99/max):\n")
            for name, v in step.get("step_latency_ms", {}).items():
                out.write(f"    {name:22s} n={v['n']:6d}  {_f(v['p50'])} / {_f(v['p99'])} / {_f(v['max'])}\n")
    for e in report.get("engine_idle", []):
        out.write(f"engine only: {e['matches']} battles waiting on timers: tick p50 {e['tick_us_p50']} us, "
                  f"p99 {e['tick_us_p99']} us, max {e['tick_us_max']} us\n")
    out.write(f"largest N at the service level: {report.get('max_matches_at_service_level')}\n")


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = report["steps"]
    n = [s["matches"] for s in steps]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0][0]
    for key, label in (("latency_ms_p50", "p50"), ("latency_ms_p99", "p99"), ("latency_ms_max", "max")):
        ax.plot(n, [s[key] if s[key] is not None else float("nan") for s in steps], marker="o", label=label)
    ax.axhline(SLA_P99_MS, color="red", linestyle="--", linewidth=1, label="p99 limit")
    ax.set_yscale("log")
    ax.set_title("input -> event latency at the clients (ms)")
    ax.legend()
    ax = axes[0][1]
    ax.plot(n, [s["server"].get("cpu_pct", float("nan")) for s in steps], marker="o", label="server CPU %")
    ax.plot(n, [max(s["gen_cpu_pct"]) if s["gen_cpu_pct"] else float("nan") for s in steps], marker="s",
            label="busiest load generator CPU %")
    ax.plot(n, [s.get("others_cpu_pct", float("nan")) for s in steps], marker="x", linestyle=":",
            label="other processes on the machine %")
    ax.set_ylim(bottom=0)
    ax.set_title("CPU (% of one core)")
    ax.legend()
    ax = axes[1][0]
    ax.plot(n, [s["server"].get("tick_ms_p50", float("nan")) for s in steps], marker="o", label="tick p50 ms")
    ax.plot(n, [s["server"].get("tick_ms_p99", float("nan")) for s in steps], marker="o", label="tick p99 ms")
    ax.plot(n, [s["server"].get("lateness_ms_p99", float("nan")) for s in steps], marker="x", label="lateness p99 ms")
    ax2 = ax.twinx()
    ax2.plot(n, [s["server"].get("tick_rate_hz", float("nan")) for s in steps], color="black", marker="^",
             label="achieved tick/s")
    hz = steps[0]["server"].get("tick_hz") if steps else None
    if hz:
        ax2.axhline(hz * SLA_TICK_FRACTION, color="red", linestyle="--", linewidth=1)
    ax2.set_ylim(bottom=0)
    ax.set_title("tick duration (ms) and achieved tick rate")
    ax.legend(loc="upper left")
    ax2.legend(loc="upper right")
    ax = axes[1][1]
    per = [s["server"].get("rss_per_match_bytes", float("nan")) / 1024 for s in steps]
    ax.plot(n, per, marker="o", label="RSS per match above idle (KB)")
    finite = [x for x in per if x == x]
    ax.set_ylim(0, max(finite + [1]) * 1.4)
    ax.set_title("server memory per live battle (KB)")
    ax.legend()
    for row in axes:
        for a in row:
            a.set_xlabel("battles (N); clients = 2N")
            a.grid(alpha=0.3)
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(f"arena bench {report['scenario']}: {report['command']}", 110)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
