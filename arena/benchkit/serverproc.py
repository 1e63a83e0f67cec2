"""Starting a server for the bench, and reading its metrics endpoint."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from arena.net.metrics import parse

# The bench's server config: battles stay in their recording window for an
# hour (time_limit_ms), nobody forfeits or misses a deadline while the load
# generator sets up thousands of battles, and the faucet pays for a long run.
BENCH_CONFIG = """\
# Written by `python -m arena bench`; every key not listed has its default.
[server]
host = "127.0.0.1"
port = {port}
tick_hz = {tick_hz}
name = "arena-bench"
metrics_port = {metrics_port}

[net]
session_ttl_ms = 3600000
max_connections = 20000           # the lottery scenario holds 10,000 watchers and its bettors
max_connections_per_address = 0  # every bench client comes from 127.0.0.1
reads_per_s = 100                # the reads step's clients send 40/s each
reads_burst = 200
{net_extra}

[roast]
countdown_ms = 100
time_limit_ms = 3600000
entry_deadline_ms = 600000
disconnect_grace_ms = 600000
scoring_timeout_ms = 60000
prompt_timeout_ms = 60000

[ledger]
faucet_amount = 100000

[media]
path = "{media}"

[store]
path = "{store}"
"""


def free_port() -> int:
    """A free loopback port below the ephemeral range (32768-60999 here): a port
    picked inside it collides with the kernel's own outgoing choices."""
    import random

    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


class ServerProcess:
    """`python -m arena serve` with the bench config, pinned to `cpus`."""

    def __init__(self, *, tick_hz: int = 20, cpus: list[int] | None = None, src: str | None = None,
                 log_path: str | None = None, extra_config: str = "", board_rows: int = 0,
                 net_extra: str = "", workers: int = 0, pg_dsn: str = "", prepare=None):
        """`workers` > 0: `serve --workers N` on PostgreSQL (`pg_dsn`, in a
        schema of its own, dropped at the stop): N shard workers, one shard
        each, no standby; `shard_urls` and `worker_metrics_urls` name each.
        `prepare(config_path)` runs before the server starts (e.g. to make
        an operator key in its store)."""
        self.dir = Path(tempfile.mkdtemp(prefix="arena-bench-"))
        self.workers = workers
        span = workers + 1 if workers else 1  # a node's public port, then its shards' (port + 1 + k)
        self.port = free_port_range(span)
        self.metrics_port = free_port_range(span)
        while abs(self.metrics_port - self.port) <= span:
            self.metrics_port = free_port_range(span)
        cfg = BENCH_CONFIG.format(port=self.port, tick_hz=tick_hz, metrics_port=self.metrics_port,
                                  media=self.dir / "media", store=self.dir / "arena.sqlite",
                                  net_extra=net_extra)
        self.pg_dsn = ""
        if workers:
            import secrets

            from arena.persistence.shards import shard_dsn

            sep = "&" if "?" in pg_dsn else "?"
            self.pg_dsn = f"{pg_dsn}{sep}search_path=arena_bench_{os.getpid()}_{secrets.token_hex(3)}"
            self.shard_dsns = [shard_dsn(self.pg_dsn, k) for k in range(workers)]
            cfg = cfg.replace(f'[store]\npath = "{self.dir / "arena.sqlite"}"\n',
                              f'[store]\nkind = "postgres"\ndsn = "{self.pg_dsn}"\n\n'
                              f"[cluster]\nshards = {workers}\nstandby_workers = 0\n")
        self.config_path = self.dir / "bench-config.toml"
        self.config_path.write_text(cfg + extra_config)
        if board_rows:
            seed_board(self.dir / "arena.sqlite", board_rows)
        if prepare is not None:
            prepare(self.config_path)  # before the server holds the store (e.g. an operator key made in it)
        self.log_path = log_path or str(self.dir / "server.log")
        cmd = [sys.executable, "-m", "arena", "serve", "--config", str(self.config_path), "--log-level", "WARNING"]
        if workers:
            cmd += ["--workers", str(workers)]
        cmd, self.pinned = pinned_to(cpus, cmd)
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=str(self.dir))
        self.url = f"ws://127.0.0.1:{self.port}/v1"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.shard_urls = [f"ws://127.0.0.1:{self.port + 1 + k}/v1" for k in range(workers)]
        self.worker_metrics_urls = [f"http://127.0.0.1:{self.metrics_port + 1 + k}/metrics" for k in range(workers)]
        if workers:
            self.metrics_url = self.worker_metrics_urls[0]

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Until the WebSocket port accepts; True if the metrics endpoint answers too."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                for port in [self.port] + [self.port + 1 + k for k in range(self.workers)]:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        pass
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"server did not listen within {timeout}s; see {self.log_path}")
        return all(scrape(url) is not None for url in (self.worker_metrics_urls or [self.metrics_url]))

    def stop(self) -> None:
        crashed = stop_process(self.proc, 30 if self.workers else 5)  # workers end their leases first
        self.log.close()
        if self.workers:
            drop_schemas(self.pg_dsn, self.shard_dsns)
        if not crashed and self.log_path.startswith(str(self.dir)):
            shutil.rmtree(self.dir, ignore_errors=True)  # keep the log only when it crashed


def pinned_to(cpus: list[int] | None, cmd: list[str]) -> tuple[list[str], bool]:
    """`cmd` run under `taskset` on `cpus` where that is possible (a
    multi-core machine with taskset), and whether it is."""
    if cpus and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", ",".join(map(str, cpus))] + cmd, True
    return cmd, False


def stop_process(proc: subprocess.Popen, grace: float) -> bool:
    """SIGTERM, then SIGKILL after `grace` seconds. True if it had already
    exited before being asked (it crashed: its log is worth keeping)."""
    if proc.poll() is not None:
        return True
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    return False


def free_port_range(n: int) -> int:
    """A port p with p .. p + n - 1 free (a node's public port and its shards' ports)."""
    for _ in range(200):
        p = free_port()
        socks = []
        try:
            for q in range(p, p + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} free consecutive ports")


def drop_schemas(base_dsn: str, dsns: list[str]) -> None:
    """Drop the bench's shard schemas (best effort: a leftover schema is only space)."""
    import asyncio

    import asyncpg

    from arena.persistence.postgres import schema_of

    async def go():
        conn = await asyncpg.connect(base_dsn.split("?")[0], timeout=5)
        try:
            for dsn in dsns:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema_of(dsn)}" CASCADE')
        finally:
            await conn.close()

    try:
        asyncio.run(go())
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        print(f"bench: could not drop the shard schemas: {exc}", file=sys.stderr)


SEED_BOARD = "roast.wins"


def seed_board(path: Path, rows: int, board: str = SEED_BOARD) -> None:
    """A store whose board already has `rows` wallets (scores 0..999, many
    ties), so the reads step ranks a board of a realistic size rather than
    an empty one. Written through the store itself (it migrates the file)."""
    import trio

    from arena.persistence.sqlite import SqliteStore
    from arena.persistence.store import TickBatch

    ops = [("board_add", board, "all", f"seed{i:06d}", i * 7919 % 1000, "seed") for i in range(rows)]

    async def go():
        store = SqliteStore(path)
        await store.open()
        try:
            await store.write(TickBatch(records=ops))
        finally:
            await store.close()

    trio.run(go)


def scrape(url: str | None, timeout: float = 5.0, attempts: int = 3) -> dict | None:
    """The server's metrics, or None when it did not answer `attempts` times.

    A busy (or, on a shared machine, starved) server can miss one scrape;
    a report without the server's figures is worth a retry.
    """
    if not url:
        return None
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return parse(resp.read().decode("utf-8"))
        except (OSError, ValueError):
            if attempt + 1 < attempts:
                time.sleep(0.2)
    return None


def hist_delta(a: dict, b: dict, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """Bucket (upper bound, count in window) pairs, window sum and count of a histogram."""
    prefix = name + '_bucket{le="'
    bounds = []
    for key in b:
        if key.startswith(prefix):
            le = key[len(prefix):-2]
            bounds.append((float("inf") if le == "+Inf" else float(le), key))
    bounds.sort()
    out = []
    prev = 0.0
    for bound, key in bounds:
        cum = b[key] - a.get(key, 0.0)
        out.append((bound, cum - prev))
        prev = cum
    return out, b.get(name + "_sum", 0) - a.get(name + "_sum", 0), b.get(name + "_count", 0) - a.get(name + "_count", 0)


def hist_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Quantile by linear interpolation inside the bucket (Prometheus' method)."""
    total = sum(n for _, n in buckets)
    if total <= 0:
        return None
    rank = q * total
    acc = 0.0
    lower = 0.0
    for bound, n in buckets:
        if acc + n >= rank and n > 0:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - acc) / n
        acc += n
        if bound != float("inf"):
            lower = bound
    return lower


def hist_max(buckets: list[tuple[float, float]]) -> float | None:
    top = None
    for bound, n in buckets:
        if n > 0:
            top = bound
    return top


COLYSEUS_DIR = Path(__file__).resolve().parents[2] / "bench" / "colyseus"


class ColyseusProcess:
    """The duel workload as a Colyseus 0.16 room (bench/colyseus/server.js),
    on Node.js, pinned to `cpus`: the server `bench duel --against colyseus`
    measures. Its dependencies are installed by `npm ci` in that folder."""

    def __init__(self, *, cpus: list[int] | None = None, directory: Path = COLYSEUS_DIR):
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("bench: --against colyseus needs Node.js (`node`) on PATH")
        core = directory / "node_modules" / "@colyseus" / "core" / "package.json"
        if not core.exists():
            raise RuntimeError(f"bench: Colyseus is not installed: run `npm ci` in {directory}")
        self.version = json.loads(core.read_text())["version"]
        self.dir = Path(tempfile.mkdtemp(prefix="arena-bench-colyseus-"))
        self.port = free_port()
        self.log_path = str(self.dir / "server.log")
        cmd = [node, str(directory / "server.js"), str(self.port)]
        cmd, self.pinned = pinned_to(cpus, cmd)
        env = dict(os.environ, NODE_ENV="production")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=str(directory))
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.port}/metrics"

    def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"colyseus server exited with {self.proc.returncode}; see {self.log_path}")
            if scrape(self.metrics_url, timeout=1.0, attempts=1) is not None:
                return True
            time.sleep(0.1)
        raise RuntimeError(f"colyseus server did not answer within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        crashed = stop_process(self.proc, 5)
        self.log.close()
        if not crashed:
            shutil.rmtree(self.dir, ignore_errors=True)


def colyseus_window(m0: dict, m1: dict, wall: float) -> dict:
    """What `server_window` gives for Arena, from a Colyseus room server's
    /metrics: tick_rate_hz is the rooms' simulation ticks per room per
    second (every room runs its own 20 Hz interval), inputs_per_s the
    reactions it handled; the event loop's delay stands in for lateness."""
    rooms = int(m1["colyseus_rooms"])
    ticks = m1["colyseus_ticks_total"] - m0["colyseus_ticks_total"]
    inputs = m1["colyseus_reactions_total"] - m0["colyseus_reactions_total"]
    cpu_s = m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]
    return {
        "cpu_pct": round(cpu_s / wall * 100, 1),
        "rss_bytes": int(m1["process_resident_memory_bytes"]),
        "tick_hz": m1["colyseus_tick_hz"],
        "tick_rate_hz": round(ticks / rooms / wall, 2) if rooms else None,
        "matches": rooms,
        "connections": int(m1["colyseus_clients"]),
        "inputs_per_s": round(inputs / wall, 1),
        "cpu_us_per_input": round(cpu_s / inputs * 1e6, 1) if inputs else None,
        "refused": int(m1["colyseus_refused_total"] - m0["colyseus_refused_total"]),
        "lateness_ms_p99": round(m1["colyseus_loop_delay_p99_seconds"] * 1000, 1),
        "lateness_ms_max": round(m1["colyseus_loop_delay_max_seconds"] * 1000, 1),
    }


def server_window(m0: dict, m1: dict, wall: float) -> dict:
    """The server's CPU, RSS and ticks over a window between two scrapes:
    cpu_pct (of one core), rss_bytes, tick_hz, tick_rate_hz and the tick
    duration's p50/p99/mean/max in ms (the quantiles interpolated within
    their buckets, never above the window's max)."""

    def ms(x):
        return None if x is None else round(x * 1000, 3)

    out = {
        "cpu_pct": round((m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]) / wall * 100, 1),
        "rss_bytes": int(m1["process_resident_memory_bytes"]),
        "tick_hz": m1["arena_tick_hz"],
        "tick_rate_hz": round((m1["arena_ticks_total"] - m0["arena_ticks_total"]) / wall, 2),
    }
    b, s, c = hist_delta(m0, m1, "arena_tick_duration_seconds")
    out["tick_ms_p50"] = ms(hist_quantile(b, 0.5))
    out["tick_ms_p99"] = ms(hist_quantile(b, 0.99))
    out["tick_ms_mean"] = ms(s / c if c else None)
    top = hist_max(b)
    out["tick_ms_max"] = ms(min(top, m1["arena_tick_duration_max_seconds"]) if top is not None else None)
    if out["tick_ms_max"] is not None:
        for key in ("tick_ms_p50", "tick_ms_p99"):
            if out[key] is not None:
                out[key] = min(out[key], out["tick_ms_max"])
    return out


def gc_window(m0: dict, m1: dict) -> dict:
    """The collector's passes in a window, by generation: count, total and
    longest pause (ms). The longest is since the server started, so it is
    only the window's when the window's count of that generation is > 0."""
    out = {}
    for g in (0, 1, 2):
        key = f'{{generation="{g}"}}'
        n = m1.get("arena_gc_collections_total" + key, 0) - m0.get("arena_gc_collections_total" + key, 0)
        total = m1.get("arena_gc_pause_seconds_total" + key, 0) - m0.get("arena_gc_pause_seconds_total" + key, 0)
        out[f"gen{g}"] = {"n": int(n), "ms": round(total * 1000, 2),
                          "max_ms": round(m1.get("arena_gc_pause_max_seconds" + key, 0) * 1000, 2)}
    return out


def slowest_ticks(metrics_url: str | None, m0: dict | None, n: int = 5) -> list[dict] | None:
    """The window's slowest ticks with their phases, from the server's /health
    (ticks after the one current at the window's start)."""
    if not metrics_url or not m0 or "arena_tick" not in m0:
        return None
    url = metrics_url.rsplit("/", 1)[0] + f"/health?since_tick={int(m0['arena_tick'])}"
    try:
        with urllib.request.urlopen(url, timeout=5.0) as resp:
            return json.loads(resp.read().decode("utf-8")).get("slowest_ticks", [])[:n]
    except (OSError, ValueError):
        return None


def pin_away_from(cpus: list[int] | None) -> None:
    """Keep this (the load-generating) process off the server's cores."""
    ncpu = os.cpu_count() or 1
    if cpus and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, [c for c in range(ncpu) if c not in cpus] or list(range(ncpu)))
        except OSError:
            pass


def emit_report(report: dict, args, print_report) -> None:
    """Stamp the report with its command line and time, print it, and write
    it as JSON where `--json` says."""
    report["command"] = "python -m arena bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:])
    report["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    print_report(report, sys.stdout)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: JSON written to {args.json_path}")
