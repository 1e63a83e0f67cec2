"""`python -m arena bench lottery`: watchers of one round's pool while bets arrive.

The design's target: 10,000 connected users watching one lottery round's
pool (`lottery.watch`, then `lottery:pool` at most once a second) while
bets arrive at 1,000 per second, every reply within 100 ms at the 99th
percentile. The bench starts `python -m arena serve` pinned to core 0 (or
benches `--url`), with a `[lottery.draws]` rule whose next draw is a few
minutes away, so the server's schedule opens the round by itself (no
operator key needed); then, in this process pinned to the other cores, it
connects `--watchers` lean clients (arena.benchkit.wsclient: raw frames)
that log in and watch the round, and `--bettors` that log in, take the
faucet and, during the measured window, place `--rate` bets per second in
all (`lottery.bet.build` → sign → `lottery.bet.confirm`, sides by turns,
stakes 1..10). Reported: bets placed per second, the latency of every
build and confirm reply (p50, p99, max), errors by code, the pool updates
each watcher received per second (the throttle says at most 1), the
server's CPU share and RSS, and this process's own CPU (above 90 % of a
core the numbers bound the client, not the server).

Everything is on loopback; every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import sys
import time
from datetime import datetime, timedelta, timezone

from .wsclient import Client, Stats

SETUP_CONCURRENCY = 200
SLA_P99_MS = 100.0
GEN_SATURATED_CPU = 0.90
STAKE_MAX = 10


def add_arguments(p) -> None:
    """The lottery's options (beside the bench's common ones)."""
    p.add_argument("--bettors", type=int, default=200, help="lottery: connections placing the bets (default 200)")
    p.add_argument("--bet-rate", type=float, default=1_000.0,
                   help="lottery: bets per second in all during the window (default 1000)")


def draws_config(now: datetime | None = None) -> str:
    """`[lottery]` for the bench server: a daily Powerball "draw" ten minutes
    from now (so the round opens at once and locks five minutes later, long
    after the bench), bets of 1..10, and a pool update at most once a second."""
    at = (now or datetime.now(timezone.utc)) + timedelta(minutes=10)
    return (f'\n[lottery]\nmax_bet = {STAKE_MAX}\npool_interval_ms = 1000\n'
            f'[lottery.draws]\npowerball = "daily {at:%H:%M} UTC"\nmegamillions = ""\n')


async def _login(host, port, path, stats, faucet: bool) -> Client:
    from solders.keypair import Keypair

    c = await Client.connect(host, port, path, stats)
    kp = Keypair()
    c.keypair, c.wallet = kp, str(kp.pubkey())
    hello = await c.call("hello", {"protocol": 1, "client": "arena-bench"})
    await c.call("auth.login", {"wallet": c.wallet,
                                "signature": bytes(kp.sign_message(("arena:login:" + hello["nonce"]).encode()))})
    if faucet:
        await c.call("wallet.faucet", {})
    return c


async def _connect_all(n: int, make) -> tuple[list, dict]:
    sem = asyncio.Semaphore(SETUP_CONCURRENCY)
    out, errors = [], {}

    async def one():
        async with sem:
            try:
                out.append(await make())
            except Exception as exc:  # noqa: BLE001 - counted and reported
                key = str(exc)[:80]
                errors[key] = errors.get(key, 0) + 1

    await asyncio.gather(*(one() for _ in range(n)))
    return out, errors


async def _find_round(c: Client, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = (await c.call("match.list", {"mode": "lottery", "phase": "open"}))["matches"]
        if listed:
            return listed[0]["match"]
        await asyncio.sleep(0.2)
    raise RuntimeError("the server opened no lottery round (is [lottery.draws] set?)")


async def _bet(c: Client, rid: str, side: str, amount: int, lat: dict, codes: dict) -> bool:
    for name, type_, body in (("build", "lottery.bet.build", {"round": rid, "side": side, "amount": amount}),
                              ("confirm", "lottery.bet.confirm", None)):
        if body is None:
            tx = lat["_tx"].pop(id(c))
            body = {"round": rid, "tx": tx, "signature": bytes(c.keypair.sign_message(bytes(tx)))}
        sent = time.monotonic()
        try:
            status, reply = await asyncio.wait_for(c.request(type_, body), 30)
        except asyncio.TimeoutError:
            codes["timeout"] = codes.get("timeout", 0) + 1
            return False
        lat[name].append(time.monotonic() - sent)
        if status != "ok":
            code = reply.get("code", "?") if isinstance(reply, dict) else "?"
            codes[code] = codes.get(code, 0) + 1
            return False
        if name == "build":
            lat["_tx"][id(c)] = reply["tx"]
    return True


async def _window(bettors: list, rid: str, rate: float, duration: float) -> dict:
    """`rate` bets a second for `duration` seconds, each from the next free
    bettor (a bettor has one bet in flight at most, and waits in line behind
    every other free one before its next, so each bets at `rate / bettors`
    a second, under the per-wallet limits); bets due while every bettor is
    busy are counted as skipped, not queued."""
    lat: dict = {"build": [], "confirm": [], "_tx": {}}
    codes: dict = {}
    free = collections.deque(bettors)
    placed = skipped = 0
    tasks = set()
    interval = 1.0 / rate
    t0 = time.monotonic()
    n = 0
    max_lag = 0.0

    async def one(c, side, amount):
        nonlocal placed
        if await _bet(c, rid, side, amount, lat, codes):
            placed += 1
        free.append(c)

    while True:
        due = t0 + n * interval
        if due >= t0 + duration:
            break
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
            now = time.monotonic()
        max_lag = max(max_lag, now - due)
        while t0 + n * interval <= now and t0 + n * interval < t0 + duration:
            if free:
                c = free.popleft()
                t = asyncio.ensure_future(one(c, ("yes", "no")[n % 2], 1 + n % STAKE_MAX))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            else:
                skipped += 1
            n += 1
    sent_window = time.monotonic() - t0
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    return {"due": n, "placed": placed, "skipped": skipped, "window_s": sent_window, "latency": lat,
            "errors": codes, "max_send_lag_s": max_lag}


def _pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _ms(x):
    return None if x is None else round(x * 1000, 2)


def _tick_metrics(m0: dict | None, m1: dict | None, wall: float) -> dict | None:
    """The server's own view of the window: ticks per second, tick duration
    and lateness (its metrics endpoint), its CPU inside ticks."""
    from .serverproc import hist_delta, hist_quantile

    if not m0 or not m1 or wall <= 0:
        return None
    ticks = m1["arena_ticks_total"] - m0["arena_ticks_total"]
    dur, _, _ = hist_delta(m0, m1, "arena_tick_duration_seconds")
    late, _, _ = hist_delta(m0, m1, "arena_tick_lateness_seconds")
    return {"ticks_per_s": round(ticks / wall, 1), "tick_hz": m1["arena_tick_hz"],
            "tick_ms_p50": _ms(hist_quantile(dur, 0.5)), "tick_ms_p99": _ms(hist_quantile(dur, 0.99)),
            "lateness_ms_p99": _ms(hist_quantile(late, 0.99)),
            "messages_per_s": round((m1["arena_messages_total"] - m0["arena_messages_total"]) / wall, 1),
            # How the socket work is split: hub wake-ups (each an epoll wait
            # and a trip through trio's scheduler) and frames written.
            "hub_wakes_per_s": _rate(m0, m1, "arena_net_hub_wakes_total", wall),
            "frames_out_per_s": _rate(m0, m1, "arena_net_frames_out_total", wall),
            "sessions": int(m1["arena_sessions"])}


def _rate(m0: dict, m1: dict, name: str, wall: float) -> float | None:
    if name not in m0 or name not in m1:
        return None
    return round((m1[name] - m0[name]) / wall, 1)


async def run_lottery(url: str, watchers: int, bettors: int, rate: float, duration: float,
                      server_pid: int | None, metrics_url: str | None = None) -> dict:
    from .serverproc import scrape

    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port, path = parts.hostname, parts.port, parts.path or "/v1"
    wstats, bstats = Stats(), Stats()
    t_setup = time.monotonic()
    first = await _login(host, port, path, bstats, faucet=False)
    rid = await _find_round(first)
    first.close()

    async def watcher():
        c = await _login(host, port, path, wstats, faucet=False)
        await c.call("lottery.watch", {"round": rid})
        return c

    watching, w_errors = await _connect_all(watchers, watcher)
    betting, b_errors = await _connect_all(bettors, lambda: _login(host, port, path, bstats, faucet=True))
    setup_s = time.monotonic() - t_setup
    gc.collect()
    gc.freeze()
    for c in watching:
        c.counting = True  # count the pool frames from here on
    await asyncio.sleep(1.5)  # a throttle period, so the window starts in steady state
    events_before = wstats.events
    m0 = scrape(metrics_url) if metrics_url else None
    cpu0, rss0 = _usage(server_pid)
    me0 = time.process_time()
    w0 = time.monotonic()
    window = await _window(betting, rid, rate, duration)
    wall = time.monotonic() - w0
    cpu1, rss1 = _usage(server_pid)
    me1 = time.process_time()
    m1 = scrape(metrics_url) if metrics_url else None
    pool_events = wstats.events - events_before
    pool = await betting[0].call("lottery.pool", {"round": rid}) if betting else None
    for c in watching + betting:
        c.close()
    lat = window["latency"]
    both = lat["build"] + lat["confirm"]
    p99 = _pct(both, 0.99)
    report = {
        "scenario": "lottery", "round": rid, "setup_s": round(setup_s, 1),
        "watchers": len(watching), "watchers_wanted": watchers, "bettors": len(betting),
        "setup_errors": {**w_errors, **b_errors},
        "bet_rate_wanted": rate, "duration_s": duration,
        "bets_due": window["due"], "bets_placed": window["placed"], "bets_skipped_all_bettors_busy": window["skipped"],
        "bets_per_s": round(window["placed"] / wall, 1) if wall > 0 else None,
        "latency_ms": {name: {"p50": _ms(_pct(xs, 0.5)), "p99": _ms(_pct(xs, 0.99)), "max": _ms(max(xs) if xs else None),
                              "n": len(xs)} for name, xs in (("build", lat["build"]), ("confirm", lat["confirm"]),
                                                             ("all", both))},
        "errors": window["errors"],
        "pool_updates_per_watcher_per_s": round(pool_events / max(1, len(watching)) / wall, 3) if wall > 0 else None,
        "server_cpu_fraction": round((cpu1 - cpu0) / wall, 3) if cpu0 is not None and cpu1 is not None else None,
        "server_rss_mb": round(rss1 / 2**20, 1) if rss1 else None,
        "client_cpu_fraction": round((me1 - me0) / wall, 3) if wall > 0 else None,
        "max_send_lag_ms": _ms(window["max_send_lag_s"]),
        "pool_at_end": pool,
        "server": _tick_metrics(m0, m1, wall),
    }
    report["client_saturated"] = (report["client_cpu_fraction"] or 0) > GEN_SATURATED_CPU
    report["sla"] = {"p99_ms": SLA_P99_MS, "pass": p99 is not None and p99 * 1000 < SLA_P99_MS
                     and not window["errors"] and window["placed"] >= 0.95 * window["due"]}
    return report


def _usage(pid):
    if pid is None:
        return None, None
    try:
        import psutil

        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
        return sum(sum(x.cpu_times()[:2]) for x in procs), sum(x.memory_info().rss for x in procs)
    except Exception:  # noqa: BLE001
        return None, None


def print_report(r: dict, out) -> None:
    lat = r["latency_ms"]
    srv = r.get("server")
    out.write(
        f"lottery: {r['watchers']} watchers (wanted {r['watchers_wanted']}), {r['bettors']} bettors, "
        f"set up in {r['setup_s']} s\n"
        f"  bets: {r['bets_placed']} placed of {r['bets_due']} due in {r['duration_s']:g} s = "
        f"{r['bets_per_s']}/s (wanted {r['bet_rate_wanted']:g}/s; {r['bets_skipped_all_bettors_busy']} skipped: "
        f"every bettor busy)\n"
        f"  reply latency ms: build p50 {lat['build']['p50']} p99 {lat['build']['p99']} max {lat['build']['max']}; "
        f"confirm p50 {lat['confirm']['p50']} p99 {lat['confirm']['p99']} max {lat['confirm']['max']}\n"
        f"  errors {r['errors'] or 'none'}; setup errors {r['setup_errors'] or 'none'}\n"
        f"  pool updates per watcher per second: {r['pool_updates_per_watcher_per_s']} (throttle: at most 1)\n"
        f"  server CPU {r['server_cpu_fraction']} of a core, RSS {r['server_rss_mb']} MB; "
        f"client CPU {r['client_cpu_fraction']}{' (SATURATED: the client bounds the numbers)' if r['client_saturated'] else ''}\n"
        + (f"  server: {srv['ticks_per_s']} ticks/s of {srv['tick_hz']:g}, tick p50 {srv['tick_ms_p50']} ms "
           f"p99 {srv['tick_ms_p99']} ms, lateness p99 {srv['lateness_ms_p99']} ms, "
           f"{srv['messages_per_s']} messages/s out, {srv['sessions']} sessions; "
           f"{srv.get('hub_wakes_per_s')} socket-hub wake-ups/s, {srv.get('frames_out_per_s')} frames out/s\n"
           if srv else "")
        + f"  service level (p99 < {SLA_P99_MS:g} ms, no errors, >= 95 % of the bets placed): "
        f"{'PASS' if r['sla']['pass'] else 'FAIL'}\n")


def main(args) -> int:
    """The lottery scenario of `python -m arena bench`."""
    from .serverproc import ServerProcess, emit_report, pin_away_from

    server = None
    ncpu = os.cpu_count() or 1
    try:
        if args.url:
            url, pid, metrics = args.url, None, args.metrics_url
        else:
            cpus = [int(x) for x in args.server_cpus.split(",")] if args.server_cpus else ([0] if ncpu > 1 else None)
            server = ServerProcess(tick_hz=args.tick_hz, cpus=cpus, src=args.server_src, extra_config=draws_config())
            metrics = server.metrics_url if server.wait_ready() else None
            url, pid = server.url, server.proc.pid
            pin_away_from(cpus)
        report = asyncio.run(run_lottery(url, args.watchers, args.bettors, args.bet_rate, args.duration, pid,
                                         metrics))
    except (RuntimeError, OSError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.stop()
    emit_report(report, args, print_report)
    return 0 if report["sla"]["pass"] else 1
