"""`bench duel --against colyseus`: the same duel workload on a Colyseus 0.16
room (bench/colyseus/server.js), driven by the same load generator.

The Colyseus protocol pieces the generator speaks are checked without a
server (framing of room messages, the seat reservation's HTTP answer);
a smoke run starts the Node server and checks the report is complete and
self-consistent. It needs Node 20+ and npm (the registry, for `npm ci`);
without them it skips with the reason, unless ARENA_REQUIRE_JS=1.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from arena.benchkit.colyseus_client import (
    ROOM_DATA, _unchunk, decode_room_message, encode_type, reserve_seat, room_message,
)
from node_tools import missing, node_and_npm

ROOT = Path(__file__).resolve().parent.parent
COLYSEUS_DIR = ROOT / "bench" / "colyseus"


# --- the protocol, sans-IO -------------------------------------------------------------------

def test_room_message_round_trips_with_the_type_as_a_msgpack_string():
    payload = room_message("reaction", {"emoji": "\U0001f525"})
    assert payload[0] == ROOM_DATA and payload[1] == 0xA0 | len("reaction")
    assert decode_room_message(payload) == ("reaction", {"emoji": "\U0001f525"})


def test_long_types_use_str8_and_types_past_255_bytes_are_refused():
    name = "t" * 40
    assert encode_type(name)[:2] == bytes((0xD9, 40))
    assert decode_room_message(room_message(name, [1, 2])) == (name, [1, 2])
    with pytest.raises(ValueError):
        encode_type("x" * 256)


def test_a_message_without_a_body_and_a_numeric_type():
    assert decode_room_message(bytes((ROOM_DATA,)) + encode_type("start")) == ("start", None)
    assert decode_room_message(bytes((ROOM_DATA, 7)) + msgpack.packb({"a": 1})) == (7, {"a": 1})


def test_a_truncated_or_garbled_message_raises_rather_than_returning_garbage():
    with pytest.raises(Exception):
        decode_room_message(bytes((ROOM_DATA,)))
    with pytest.raises(Exception):
        decode_room_message(bytes((ROOM_DATA, 0xA3)) + b"\xff\xfe\xfd")  # not UTF-8


def test_chunked_http_bodies_are_joined():
    assert _unchunk(b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n") == b'{"a":1}'


async def _one_answer_server(answer: bytes):
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _reserve(answer: bytes):
    server, port = await _one_answer_server(answer)
    try:
        return await reserve_seat("127.0.0.1", port, "duel", timeout=5)
    finally:
        server.close()


def test_a_seat_reservation_is_read_from_the_matchmake_answer():
    body = json.dumps({"room": {"roomId": "r1", "processId": "p1"}, "sessionId": "s1"}).encode()
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    seat = asyncio.run(_reserve(answer))
    assert seat["room"]["roomId"] == "r1" and seat["sessionId"] == "s1"


def test_a_matchmake_error_or_a_refused_request_is_an_error_with_its_reason():
    body = b'{"code":4212,"error":"room is full"}'
    with pytest.raises(RuntimeError, match="4212: room is full"):
        asyncio.run(_reserve(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body))
    with pytest.raises(ConnectionError, match="503"):
        asyncio.run(_reserve(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"))


def test_against_colyseus_is_refused_for_anything_but_a_duel_the_bench_starts():
    for extra in (["battles"], ["lottery"], ["profile"], ["duel", "--url", "ws://127.0.0.1:1/v1"],
                  ["duel", "--workers", "2"]):
        proc = subprocess.run([sys.executable, "-m", "arena", "bench", *extra, "--against", "colyseus",
                               "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (extra, proc.stdout, proc.stderr)
        assert "--against colyseus runs the duel" in proc.stderr


# --- a smoke run against the real Colyseus server -----------------------------------------------

def _colyseus_installed() -> None:
    _node, npm = node_and_npm("the Colyseus comparison tests")
    if not (COLYSEUS_DIR / "node_modules" / "@colyseus" / "core").exists():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=COLYSEUS_DIR,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            missing(f"npm ci in bench/colyseus failed: {done.stderr.strip()[-500:]}")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_duel_against_colyseus_reports_both_ends_consistently(tmp_path):
    _colyseus_installed()
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "arena", "bench", "duel", "--against", "colyseus", "--matches", "5",
         "--duration", "3", "--generators", "1", "--quiet", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=200)
    assert out.exists(), f"no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(out.read_text())
    assert report["params"]["against"] == "colyseus"
    assert report["host"]["server"]["kind"] == "colyseus"
    assert report["host"]["server"]["version"].startswith("0.16.")
    [step] = report["steps"]
    c, s = step["client"], step["server"]
    assert step["clients"] == 10 and step["setup_failures"] == 0
    assert s["matches"] == 5 and s["connections"] == 10 and s["refused"] == 0
    # Every reaction sent came back to its sender once and to the opponent once.
    assert c["frames_out"] > 0 and c["own_reactions"] == c["frames_out"] == c["other_reactions"]
    assert c["protocol_errors"] == 0 and c["closed"] == 0 and c["replies_error"] == 0
    assert step["latency_samples"] == c["own_reactions"]
    # The server counted the reactions the clients sent (within the window's edges).
    assert abs(s["inputs_per_s"] * step["duration_s"] - c["frames_out"]) <= 0.2 * c["frames_out"] + 5
    assert 0 < s["tick_rate_hz"] <= s["tick_hz"] * 1.1
    assert s["rss_bytes"] > 0 and s["cpu_pct"] > 0
