"""The operator endpoint: /metrics (Prometheus text) and /health (JSON)."""

import json

import trio

from arena.net.metrics import Histogram, parse, serve_metrics


async def _get(port: int, path: str) -> tuple[int, str]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        with trio.fail_after(5):
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode()


def test_histogram_cumulative_buckets():
    h = Histogram((0.001, 0.01))
    for v in (0.0005, 0.002, 0.002, 5.0):
        h.observe(v)
    m = parse("\n".join(h.lines("x", "help")))
    assert m['x_bucket{le="0.001"}'] == 1 and m['x_bucket{le="0.01"}'] == 3 and m['x_bucket{le="+Inf"}'] == 4
    assert m["x_count"] == 4 and abs(m["x_sum"] - 5.0045) < 1e-9


async def test_metrics_and_health(arena_server, nursery):
    from conftest import player

    server, url = await arena_server()
    port = await nursery.start(serve_metrics, server, "127.0.0.1", 0)
    async with player(url) as c:
        await c.ping()
        await trio.sleep(0.2)
        status, text = await _get(port, "/metrics")
        assert status == 200
        m = parse(text)
        for name in ("arena_ticks_total", "arena_tick_duration_seconds_count", "arena_tick_lateness_seconds_count",
                     "arena_inputs_total", "arena_sessions", "arena_connections", "arena_net_frames_in_total",
                     "process_cpu_seconds_total", "process_resident_memory_bytes", "arena_tick_cpu_seconds_total"):
            assert name in m, name
        assert m["arena_connections"] == 1 and m["arena_sessions"] == 1
        assert m["arena_ticks_total"] >= 1 and m["arena_tick_duration_seconds_count"] == m["arena_ticks_total"]
        assert m["arena_net_frames_in_total"] >= 4  # hello, login, faucet, ping
        status, text = await _get(port, "/health")
        health = json.loads(text)
        assert status == 200 and health["connections"] == 1 and "tick_metrics" in health
    assert (await _get(port, "/nope"))[0] == 404
