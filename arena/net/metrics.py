"""The operator endpoint: Prometheus text at GET /metrics, JSON at GET /health.

Served on `[server] metrics_port` (0 = off) by a tiny HTTP/1.0-style trio
handler: one request per connection, no keep-alive, nothing else. The bench
(`python -m arena bench`) scrapes /metrics before and after each measured
window and takes differences, so tick durations and lateness are exported as
cumulative histograms (per-window percentiles come from bucket deltas) next to
the usual counters and gauges, plus the standard `process_*` metrics (CPU
seconds, resident memory) so a remote server can be measured too.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import resource

import trio

log = logging.getLogger("arena.metrics")

# Bucket upper bounds in seconds: roughly x1.5 steps from 50 µs to 2 s.
BUCKETS = (
    0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003,
    0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0,
)


class Histogram:
    """Cumulative-on-export histogram with fixed buckets (Prometheus style)."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds=BUCKETS):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # last: +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, help_text: str) -> list[str]:
        out = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        acc = 0
        for bound, n in zip(self.bounds, self.counts):
            acc += n
            out.append(f'{name}_bucket{{le="{bound:g}"}} {acc}')
        acc += self.counts[-1]
        out.append(f'{name}_bucket{{le="+Inf"}} {acc}')
        out.append(f"{name}_sum {self.sum:.9f}")
        out.append(f"{name}_count {self.count}")
        return out


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def process_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def render(server) -> str:
    """Prometheus text exposition of `server` (an ArenaServer)."""
    m = server.metrics
    gw = server.gateway
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, value) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name} {value}")

    metric("arena_tick_hz", "gauge", "Configured ticks per second.", server.tick_hz)
    metric("arena_ticks_total", "counter", "Ticks run.", m.ticks)
    metric("arena_tick", "gauge", "Current engine tick.", server.state.tick)
    metric("arena_inputs_total", "counter", "Inputs stepped.", m.inputs)
    metric("arena_messages_total", "counter", "Replies and events the engine produced.", m.messages)
    metric("arena_effects_total", "counter", "Effects handed to side tasks.", m.effects)
    metric("arena_tick_cpu_seconds_total", "counter", "CPU time spent in ticks.", f"{m.cpu_seconds:.6f}")
    metric("arena_tick_duration_max_seconds", "gauge", "Longest tick since start.", f"{m.max_duration:.9f}")
    metric("arena_tick_lateness_max_seconds", "gauge", "Latest tick start since start.", f"{m.max_lateness:.9f}")
    lines += m.duration_hist.lines("arena_tick_duration_seconds", "Time to step, deliver and flush one tick.")
    lines += m.lateness_hist.lines("arena_tick_lateness_seconds", "How late each tick started.")
    metric("arena_matches", "gauge", "Live matches.", len(server.state.matches))
    metric("arena_sessions", "gauge", "Sessions (attached or resumable).", len(gw.sessions.by_id))
    metric("arena_connections", "gauge", "Open client connections.", len(gw.conns))
    metric("arena_pending_inputs", "gauge", "Inputs queued for the next tick.", len(server.pending))
    for key, value in gw.stats.items():
        metric(f"arena_net_{key}_total", "counter", f"Gateway counter {key}.", value)
    site = getattr(server, "site", None)
    if site is not None:
        metric("arena_http_pages_served_total", "counter", "Web page requests answered with a file.", site.served)
        metric("arena_http_pages_refused_total", "counter", "Web page requests answered 404 or 405.", site.refused)
    ws = getattr(gw, "server", None)
    if ws is not None:
        metric("arena_net_hub_wakes_total", "counter", "Times the socket hub task woke.", ws.hub_wakes)
        metric("arena_net_hub_events_total", "counter", "Socket events the hub handled.", ws.hub_events)
        for key, value in ws.stats.items():
            metric(f"arena_net_ws_{key}_total", "counter", f"Transport counter {key}.", value)
        metric("arena_net_max_connections", "gauge", "Connection cap in force (config, below the descriptor limit).",
               ws.max_connections)
        metric("arena_net_fd_limit", "gauge", "Descriptor limit (soft) after start-up raised it.",
               getattr(ws, "fd_limit", 0))
        metric("arena_net_open_sockets", "gauge", "Accepted sockets not yet closed (handshakes included).", ws.sockets)
        metric("arena_net_buffered_input_bytes", "gauge", "Unfinished input buffered over all connections.",
               ws.held_bytes)
        metric("arena_net_backlogged_connections", "gauge", "Connections with output waiting for the socket.",
               len(ws._writing))
        metric("arena_net_waiting_output_bytes", "gauge", "Output waiting for slow sockets, all connections.",
               sum(c.out_bytes for c in ws._writing))
    gc_watch = getattr(server, "gc_watch", None)
    if gc_watch is not None:
        lines += gc_watch.metric_lines()
    metric("process_cpu_seconds_total", "counter", "User and system CPU time.", f"{process_cpu_seconds():.3f}")
    metric("process_resident_memory_bytes", "gauge", "Resident memory.", process_rss_bytes())
    return "\n".join(lines) + "\n"


def parse(text: str) -> dict[str, float]:
    """Prometheus text back into {name or name{labels}: value} (for the bench and tests)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


async def serve_metrics(server, host: str, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    async def handle(stream) -> None:
        async with stream:
            data = b""
            with trio.move_on_after(5):
                while b"\r\n\r\n" not in data and b"\n\n" not in data and len(data) < 8192:
                    chunk = await stream.receive_some(4096)
                    if not chunk:
                        break
                    data += chunk
            try:
                method, target = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
            except ValueError:
                method, target = "", ""
            path, _, query = target.partition("?")
            status, ctype = "200 OK", "text/plain; version=0.0.4; charset=utf-8"
            if method != "GET":
                status, body = "405 Method Not Allowed", "GET only\n"
            elif path == "/metrics":
                body = render(server)
            elif path == "/health":
                # `?since_tick=N`: the slowest ticks after tick N only (the bench's window).
                since = dict(p.partition("=")[::2] for p in query.split("&")).get("since_tick", "0")
                since_tick = int(since) if since.isdigit() and len(since) < 19 else 0
                body, ctype = json.dumps(server.health(since_tick)) + "\n", "application/json"
            else:
                status, body = "404 Not Found", "try /metrics or /health\n"
            raw = body.encode("utf-8")
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(raw)}\r\n"
                    "Connection: close\r\n\r\n").encode("ascii")
            try:
                await stream.send_all(head + raw)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    async def guarded(stream) -> None:
        try:
            await handle(stream)
        except Exception:  # noqa: BLE001 - a bad scrape never takes the server down
            log.exception("metrics request failed")

    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    log.info("metrics endpoint", extra={"host": host, "port": bound})
    task_status.started(bound)
    await trio.serve_listeners(guarded, listeners)
