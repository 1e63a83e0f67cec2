"""`python -m arena bench contest --sockets`: one trading contest over real
WebSockets.

The bench starts `python -m arena serve` pinned to core 0 (an operator API
key made for it first with `python -m arena keys create`), with a
whitelist of `--tokens` made-up tokens whose prices come from the
SIMULATED price feed, `price_every_ticks = 2` (10 updates a second at 20
Hz). In this process (the other cores), an operator creates one contest;
`--participants` lean clients (arena.benchkit.wsclient: raw frames) log
in, take the faucet and join it with a random portfolio of 5 tokens
(`contest.join.build` → sign → `contest.join.confirm`, on the embedded
ledger). Once the contest is active, for `--duration` seconds every
client stamps each `contest:rankings` frame it receives: the push latency
is the arrival time (this host's wall clock) less the push's `at_ms` (the
engine time of the tick that computed it: the server's wall clock at that
tick, the same clock). Reported: latency p50 / p99 / max, pushes per
participant per second (the throttle: at most one), the frames' size, the
server's CPU share and RSS and its tick times (metrics endpoint), and
this process's CPU (above 90 % of a core the client bounds the numbers).
The operator cancels the contest at the end (every fee refunded).

Everything is on loopback; every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from .contest_bench import PORTFOLIO, token_list
from .lottery_bench import _connect_all, _pct, _tick_metrics, _usage
from .wsclient import Client, Stats

GEN_SATURATED_CPU = 0.90


def contest_config(tokens: int, participants: int) -> str:
    return (f'\n[contest]\ntokens = "{token_list(tokens)}"\nprice_every_ticks = 2\nmin_duration_ms = 1000\n'
            f"max_portfolio_size = {PORTFOLIO}\nmax_players = {max(participants, 1)}\n")


def make_operator_key(config_path: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "arena", "keys", "create", "--role", "operator", "--name",
                          "bench-operator", "--config", str(config_path)],
                         capture_output=True, text=True, timeout=60, cwd=str(config_path.parent))
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"could not make the bench's operator key: {out.stderr.strip()[:300]}")
    return out.stdout.strip().splitlines()[0]


class RankingsClient(Client):
    """A participant that stamps every `contest:rankings` it receives."""

    def __init__(self, stats: Stats):
        super().__init__(stats)
        self.latencies_ms: list = []
        self.measuring_from_ms: float | None = None
        self.push_bytes = 0
        self.pushes = 0

    def _message(self, payload) -> None:
        self._last_size = len(payload)
        super()._message(payload)

    def _queue_event(self, type_: str, body) -> None:
        if type_ == "contest:rankings" and self.measuring_from_ms is not None and isinstance(body, dict):
            at = body.get("at_ms", 0)
            if at >= self.measuring_from_ms:
                self.latencies_ms.append(time.time() * 1000 - at)
                self.pushes += 1
                self.push_bytes += getattr(self, "_last_size", 0)
            return
        super()._queue_event(type_, body)


async def run_sockets(url: str, key: str, participants: int, tokens: int, duration: float, server_pid: int | None,
                      metrics_url: str | None = None, seed: int = 7) -> dict:
    from solders.keypair import Keypair

    from .cli import _proc_stat
    from .serverproc import scrape

    parts = urlsplit(url)
    host, port, path = parts.hostname, parts.port, parts.path or "/v1"
    rng = random.Random(seed)
    stats = Stats()
    op = await Client.connect(host, port, path, stats)
    await op.call("hello", {"protocol": 1, "client": "arena-bench"})
    await op.call("auth.key", {"key": key})
    listed = (await op.call("contest.tokens", {}))["tokens"]
    mints = [t["token"] for t in listed]
    lead_ms = max(20_000, participants * 8)  # joining took about 3 ms each on the 2-core host
    starts = int(time.time() * 1000) + lead_ms
    cid = (await op.call("contest.create", {
        "entry_fee": 100, "starts_at_ms": starts, "ends_at_ms": starts + 3_600_000, "min_players": 1,
        "max_players": max(participants, 1), "prizes_bps": [5_000, 3_000, 2_000], "rake_bps": 1_000,
        "tokens": mints, "portfolio_size": PORTFOLIO}))["contest"]

    async def participant():
        c = await RankingsClient.connect(host, port, path, stats)
        kp = Keypair()
        c.keypair, c.wallet = kp, str(kp.pubkey())
        hello = await c.call("hello", {"protocol": 1, "client": "arena-bench"})
        await c.call("auth.login", {"wallet": c.wallet, "signature": bytes(
            kp.sign_message(("arena:login:" + hello["nonce"]).encode()))})
        await c.call("wallet.faucet", {})
        portfolio = [{"token": t, "weight_bps": 10_000 // PORTFOLIO} for t in rng.sample(mints, PORTFOLIO)]
        built = await c.call("contest.join.build", {"contest": cid, "portfolio": portfolio})
        await c.call("contest.join.confirm", {"contest": cid, "tx": built["tx"],
                                              "signature": bytes(kp.sign_message(bytes(built["tx"])))})
        return c

    t_setup = time.monotonic()
    joined, errors = await _connect_all(participants, participant)
    setup_s = time.monotonic() - t_setup
    wait = starts / 1000 - time.time() + 2.0  # the start, and its first rankings push
    if wait > 0:
        await asyncio.sleep(wait)
    view = await op.call("contest.get", {"contest": cid})
    if view["state"] != "active":
        raise RuntimeError(f"the contest is {view['state']} after its start ({len(joined)} joined, errors {errors})")
    gc.collect()
    gc.freeze()
    m0 = scrape(metrics_url) if metrics_url else None
    cpu0, _ = _usage(server_pid)
    s0 = _proc_stat()
    me0 = time.process_time()
    w0 = time.monotonic()
    since = time.time() * 1000
    for c in joined:
        c.measuring_from_ms = since
    await asyncio.sleep(duration)
    for c in joined:
        c.measuring_from_ms = None
    wall = time.monotonic() - w0
    cpu1, rss1 = _usage(server_pid)
    s1 = _proc_stat()
    me1 = time.process_time()
    m1 = scrape(metrics_url) if metrics_url else None
    lat = [x for c in joined for x in c.latencies_ms]
    pushes = sum(c.pushes for c in joined)
    push_bytes = sum(c.push_bytes for c in joined)
    try:
        await op.call("contest.cancel", {"contest": cid})
    except RuntimeError:
        pass
    for c in (*joined, op):
        c.close()
    report = {
        "scenario": "contest-sockets", "contest": cid, "participants": len(joined),
        "participants_wanted": participants, "setup_errors": errors, "setup_s": round(setup_s, 1),
        "tokens": tokens, "portfolio": PORTFOLIO, "price_every_ticks": 2, "duration_s": duration,
        "players_at_start": view["players"],
        "push_latency_ms": {"p50": round(_pct(lat, 0.5) or 0, 2), "p99": round(_pct(lat, 0.99) or 0, 2),
                            "max": round(max(lat, default=0), 2), "n": len(lat)},
        "pushes_per_participant_per_s": round(pushes / max(1, len(joined)) / wall, 3) if wall > 0 else None,
        "push_frame_bytes_mean": round(push_bytes / pushes) if pushes else None,
        "server_cpu_fraction": round((cpu1 - cpu0) / wall, 3) if cpu0 is not None and cpu1 is not None else None,
        "server_rss_mb": round(rss1 / 2**20, 1) if rss1 else None,
        "client_cpu_fraction": round((me1 - me0) / wall, 3) if wall > 0 else None,
        "server": _tick_metrics(m0, m1, wall),
    }
    report["client_saturated"] = (report["client_cpu_fraction"] or 0) > GEN_SATURATED_CPU
    # The host's CPU used by neither the server nor this process (other work on a shared host), % of one core.
    if s0 and s1 and cpu0 is not None and cpu1 is not None and wall > 0:
        busy = (s1[0] - s0[0]) / s1[2]
        report["others_cpu_pct"] = round(max(0.0, busy - (cpu1 - cpu0) - (me1 - me0)) / wall * 100, 1)
    return report


def print_report(r: dict, out) -> None:
    lat, srv = r["push_latency_ms"], r.get("server")
    out.write(
        f"contest over sockets (SIMULATED prices, 10 updates/s): {r['participants']} participants joined "
        f"(wanted {r['participants_wanted']}; {r['players_at_start']} at the start), {r['tokens']} tokens, "
        f"portfolios of {r['portfolio']}, set up in {r['setup_s']} s, measured {r['duration_s']:g} s\n"
        f"  rankings push latency at the client (tick -> frame received): p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
        f"max {lat['max']} ms ({lat['n']} pushes)\n"
        f"  pushes per participant per second {r['pushes_per_participant_per_s']} (throttle: at most 1); "
        f"frame {r['push_frame_bytes_mean']} bytes on average\n"
        f"  server CPU {r['server_cpu_fraction']} of a core, RSS {r['server_rss_mb']} MB; client CPU "
        f"{r['client_cpu_fraction']}{' (SATURATED: the client bounds the numbers)' if r['client_saturated'] else ''}"
        f"; others% {r.get('others_cpu_pct')} (the host's CPU used by other processes, % of one core)\n"
        + (f"  server: {srv['ticks_per_s']} ticks/s of {srv['tick_hz']:g}, tick p50 {srv['tick_ms_p50']} ms "
           f"p99 {srv['tick_ms_p99']} ms, lateness p99 {srv['lateness_ms_p99']} ms, {srv['sessions']} sessions\n"
           if srv else "")
        + f"  setup errors {r['setup_errors'] or 'none'}\n")


def main(args) -> int:
    from .serverproc import ServerProcess, emit_report, pin_away_from

    server = None
    ncpu = os.cpu_count() or 1
    try:
        cpus = [int(x) for x in args.server_cpus.split(",")] if args.server_cpus else ([0] if ncpu > 1 else None)
        keys = {}
        server = ServerProcess(tick_hz=args.tick_hz, cpus=cpus, src=args.server_src,
                               extra_config=contest_config(args.tokens, args.participants),
                               prepare=lambda path: keys.setdefault("op", make_operator_key(path)))
        metrics = server.metrics_url if server.wait_ready() else None
        pin_away_from(cpus)
        report = asyncio.run(run_sockets(server.url, keys["op"], args.participants, args.tokens, args.duration,
                                         server.proc.pid, metrics))
    except (RuntimeError, OSError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.stop()
    emit_report(report, args, print_report)
    return 0
