"""The load generator's client for a Colyseus 0.16 server (`bench duel --against colyseus`).

The same lean client as Arena's (`wsclient.Client`: asyncio transport, raw
RFC 6455 frames, pre-encoded sends, one C call to decode), speaking
Colyseus's protocol instead, so both servers are measured by the same kind
of generator:

- matchmaking is an HTTP `POST /matchmake/joinOrCreate/duel` answering a
  seat reservation `{"room": {"roomId", "processId", ...}, "sessionId"}`;
- the WebSocket is opened at `/<processId>/<roomId>?sessionId=<sessionId>`;
  the server's first frame is JOIN_ROOM (10), which the client confirms
  with a one-byte JOIN_ROOM frame; then the full state (ROOM_STATE, 14);
- room messages are `[13, type, msgpack body]` both ways (ROOM_DATA; the
  type is a MessagePack-style string); state patches are frames of code 15.

The room (bench/colyseus/server.js) broadcasts `reaction:sent` with the
sender's session id to both players, like Arena's event of that name, so
latency is measured the same way: send -> own `reaction:sent`.
"""

from __future__ import annotations

import asyncio
import json

import msgpack

from .wsclient import Client, Stats, mask_frame

JOIN_ROOM, ERROR, LEAVE_ROOM, ROOM_DATA, ROOM_STATE, ROOM_STATE_PATCH = 10, 11, 12, 13, 14, 15

_unpackb = msgpack.unpackb


def encode_type(name: str) -> bytes:
    """A message type as Colyseus's schema encoder writes a string (fixstr or str 8)."""
    raw = name.encode()
    if len(raw) < 0x20:
        return bytes((0xA0 | len(raw),)) + raw
    if len(raw) < 0x100:
        return bytes((0xD9, len(raw))) + raw
    raise ValueError("message type too long")


def room_message(type_: str, body) -> bytes:
    """The payload of a ROOM_DATA frame."""
    return bytes((ROOM_DATA,)) + encode_type(type_) + msgpack.packb(body, use_bin_type=True)


def decode_room_message(payload) -> tuple[str | int, object]:
    """(type, body) of a ROOM_DATA payload; body None when there is none."""
    prefix = payload[1]
    if 0xA0 <= prefix < 0xC0:
        n, off = prefix & 0x1F, 2
    elif prefix == 0xD9:
        n, off = payload[2], 3
    elif prefix == 0xDA:
        n, off = int.from_bytes(payload[2:4], "big"), 4
    else:  # a numeric type: one positive fixint byte is all the room uses
        return prefix, (_unpackb(payload[2:]) if len(payload) > 2 else None)
    type_ = bytes(payload[off:off + n]).decode()
    off += n
    return type_, (_unpackb(payload[off:]) if len(payload) > off else None)


async def reserve_seat(host: str, port: int, room: str, timeout: float = 30.0) -> dict:
    """POST /matchmake/joinOrCreate/<room> on a plain HTTP/1.1 connection."""
    body = b"{}"
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write((f"POST /matchmake/joinOrCreate/{room} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                      f"Connection: close\r\n\r\n").encode() + body)
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        raise ConnectionError(f"matchmake: {status}")
    if b"transfer-encoding: chunked" in head.lower():
        rest = _unchunk(rest)
    answer = json.loads(rest)
    if "error" in answer:
        raise RuntimeError(f"matchmake: {answer.get('code')}: {answer['error']}")
    return answer


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)


class ColyseusClient(Client):
    """One Colyseus room member. `wallet` holds its session id (the
    `senderId` of its own reactions); `match` the room id."""

    def __init__(self, stats: Stats):
        super().__init__(stats)
        self.joined: asyncio.Future | None = None
        self.started: asyncio.Future | None = None

    @classmethod
    async def join(cls, host: str, port: int, stats: Stats, room: str = "duel",
                   timeout: float = 30.0) -> ColyseusClient:
        seat = await reserve_seat(host, port, room, timeout)
        r = seat["room"]
        path = f"/{r['processId']}/{r['roomId']}?sessionId={seat['sessionId']}"
        c = await cls.connect(host, port, path, stats, timeout)
        c.wallet = seat["sessionId"]
        c.match = r["roomId"]
        await asyncio.wait_for(c.joined, timeout)
        return c

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        loop = asyncio.get_running_loop()
        self.joined = loop.create_future()
        self.started = loop.create_future()

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        for fut in (self.joined, self.started):
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionError("connection lost"))

    def _message(self, payload) -> None:
        stats = self.stats
        if not payload:
            stats.protocol_errors += 1
            return
        code = payload[0]
        if self.counting:
            stats.frames_in += 1
            stats.bytes_in += len(payload)
            stats.envelopes_in += 1
        if code == ROOM_STATE_PATCH:
            if self.counting:
                stats.events += 1
            return
        if code == ROOM_DATA:
            try:
                type_, body = decode_room_message(payload)
            except Exception:  # noqa: BLE001 - counted
                stats.protocol_errors += 1
                return
            if type_ == "reaction:sent":
                if not self.counting:
                    return
                stats.events += 1
                if body["senderId"] == self.wallet:
                    self.own_reaction(self.rx_time if self.rx_time is not None else self.clock())
                else:
                    stats.other_reactions += 1
            elif type_ == "start":
                if not self.started.done():
                    self.started.set_result(body)
            elif type_ == "error":
                stats.replies_error += 1
                code_ = body.get("code", "?") if isinstance(body, dict) else "?"
                stats.error_codes[code_] = stats.error_codes.get(code_, 0) + 1
                self.own_refused()
            return
        if code == JOIN_ROOM:
            self.transport.write(mask_frame(bytes((JOIN_ROOM,)), self.mask))
            if not self.joined.done():
                self.joined.set_result(True)
            return
        if code == ROOM_STATE:
            return
        stats.protocol_errors += 1  # ERROR (11) or a code this workload never sees
