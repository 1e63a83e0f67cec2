"""A lean WebSocket client for load generation: asyncio protocol, raw frames.

Measured on a 2-core machine: a trio-websocket client saturates a core at ~500 clients, so
the load generator speaks RFC 6455 itself over plain asyncio transports:
frames are parsed with a fast path for "one whole frame per read", requests
are encoded once (`encode_request`), and while load runs a frame is decoded
with one C call (`msgpack.unpackb`) and only counted, with two fields read
(the envelope kind and seq, and the sender of `reaction:sent` for latency).

It depends on the protocol (PROTOCOL.md) only, never on server code.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections import deque

import msgpack

REQUEST, REPLY, EVENT = 0, 1, 2
REACT_RID = 0xFEED  # every pre-encoded reaction.send uses this rid
RING = 256  # send stamps kept per client when a separate process sends (loadgen.duel_forked)

_unpackb = msgpack.unpackb
_packer = msgpack.Packer(use_bin_type=True)


def mask_frame(payload: bytes, mask: bytes | None = None, opcode: int = 2) -> bytes:
    """One final client frame (masked, as RFC 6455 requires of clients)."""
    mask = mask or os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 0x10000:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    if n:
        key = int.from_bytes((mask * ((n >> 2) + 1))[:n], "little")
        payload = (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")
    return head + mask + payload


def encode_request(rid: int, type_: str, body: dict) -> bytes:
    return _packer.pack([REQUEST, rid, type_, body])


def envelopes_of(payload, stats: Stats):
    """The envelopes of one frame (a batch or a single one), decoded with one
    C call; None, counted as a protocol error, when it is not MessagePack."""
    try:
        value = _unpackb(payload)
    except Exception:  # noqa: BLE001
        stats.protocol_errors += 1
        return None
    return value if value and type(value[0]) is list else (value,)


class Stats:
    """Counters one load-generator process keeps (summed across processes)."""

    __slots__ = (
        "frames_out", "bytes_out", "frames_in", "bytes_in", "envelopes_in", "replies_ok",
        "replies_error", "events", "own_reactions", "other_reactions", "seq_gaps",
        "protocol_errors", "closed", "error_codes", "latencies", "sends_skipped",
    )

    def __init__(self):
        self.frames_out = self.bytes_out = 0
        self.frames_in = self.bytes_in = self.envelopes_in = 0
        self.replies_ok = self.replies_error = 0
        self.events = self.own_reactions = self.other_reactions = 0
        self.seq_gaps = self.protocol_errors = self.closed = 0
        self.sends_skipped = 0
        self.error_codes: dict[str, int] = {}
        self.latencies: list[float] = []

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}


class Client(asyncio.Protocol):
    """One connection. `counting` switches between setup mode (requests
    resolve futures, events are queued for waiters) and load mode (count
    everything, measure own `reaction:sent` latency)."""

    def __init__(self, stats: Stats):
        self.stats = stats
        self.transport = None
        self.buf = bytearray()
        self.handshake = bytearray()
        self.upgraded: asyncio.Future | None = None
        self.closed_fut: asyncio.Future | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self.events: deque = deque()
        self.event_waiter: asyncio.Future | None = None
        self.next_rid = 1
        self.seq = 0
        self.wallet = ""
        self.wallet_b = b""
        self.counting = False
        self.sent_at: deque = deque()
        self.ring = None  # shared send stamps (a memoryview of doubles), or None: sent_at is used
        self.ring_base = 0
        self.own_seen = 0  # own reactions answered (event or error), in ring mode
        self.own_sent = 0
        self.rx_time: float | None = None  # kernel receive stamp of the data being parsed, if known
        self.clock = time.monotonic  # otherwise: the arrival time (same clock as the send stamps)
        self.closed = False
        self.close_code: int | None = None
        self.mask = os.urandom(4)

    # --- connection ------------------------------------------------------------------
    @classmethod
    async def connect(cls, host: str, port: int, path: str, stats: Stats, timeout: float = 10.0) -> Client:
        loop = asyncio.get_running_loop()
        client = cls(stats)
        client.upgraded = loop.create_future()
        client.closed_fut = loop.create_future()
        await asyncio.wait_for(loop.create_connection(lambda: client, host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        client.transport.write(
            (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        await asyncio.wait_for(client.upgraded, timeout)
        return client

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if not self.closed:
            self.closed = True
            if self.counting:
                self.stats.closed += 1
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection lost"))
        self.pending.clear()
        if self.upgraded is not None and not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("connection lost during handshake"))
        if self.event_waiter is not None and not self.event_waiter.done():
            self.event_waiter.set_exception(ConnectionError("connection lost"))
        if self.closed_fut is not None and not self.closed_fut.done():
            self.closed_fut.set_result(self.close_code)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            try:
                self.transport.write(mask_frame(b"\x03\xe8", self.mask, opcode=8))
            except Exception:  # noqa: BLE001
                pass
            self.transport.close()

    # --- sending -----------------------------------------------------------------------
    def send_raw(self, frame: bytes) -> None:
        self.transport.write(frame)

    def request(self, type_: str, body: dict | None = None) -> asyncio.Future:
        rid = self.next_rid
        self.next_rid += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        frame = mask_frame(encode_request(rid, type_, body or {}), self.mask)
        self.transport.write(frame)
        if self.counting:
            self.stats.frames_out += 1
            self.stats.bytes_out += len(frame)
        return fut

    async def call(self, type_: str, body: dict | None = None, timeout: float = 30.0):
        """Request and return the ok body; raise RuntimeError(code) on an error reply."""
        status, rbody = await asyncio.wait_for(self.request(type_, body), timeout)
        if status != "ok":
            code = rbody.get("code") if isinstance(rbody, dict) else rbody
            raise RuntimeError(f"{type_}: {code}: {rbody.get('message') if isinstance(rbody, dict) else ''}")
        return rbody

    async def next_event(self, types, timeout: float = 30.0):
        """Wait for the next event whose type is in `types` (others are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            while self.events:
                t, body = self.events.popleft()
                if t in types:
                    return t, body
            if self.closed:
                raise ConnectionError("connection closed")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no event {types} within {timeout}s")
            self.event_waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self.event_waiter, left)
            except asyncio.TimeoutError:
                pass
            finally:
                self.event_waiter = None

    # --- receiving --------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self.handshake += data
            end = self.handshake.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.handshake[:end])
            rest = bytes(self.handshake[end + 4:])
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode("latin-1")))
                self.transport.close()
                return
            self.upgraded.set_result(True)
            if not rest:
                return
            data = rest
        buf = self.buf
        if not buf:
            # Fast path: the read holds exactly one whole small frame.
            n = len(data)
            if n >= 2:
                ln = data[1] & 0x7F
                if ln < 126 and ln + 2 == n and data[0] == 0x82:
                    self._message(data[2:])
                    return
                if ln == 126 and n >= 4 and int.from_bytes(data[2:4], "big") + 4 == n and data[0] == 0x82:
                    self._message(data[4:])
                    return
        buf += data
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            ln = buf[pos + 1] & 0x7F
            hl = 2
            if ln == 126:
                if size - pos < 4:
                    break
                ln = int.from_bytes(buf[pos + 2:pos + 4], "big")
                hl = 4
            elif ln == 127:
                if size - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hl = 10
            end = pos + hl + ln
            if end > size:
                break
            op = buf[pos] & 0x0F
            payload = bytes(buf[pos + hl:end])
            pos = end
            if op == 2:
                self._message(payload)
            elif op == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self.closed:
                    try:
                        self.transport.write(mask_frame(payload[:2], self.mask, opcode=8))
                    except Exception:  # noqa: BLE001
                        pass
                    self.transport.close()
            elif op == 9:
                self.transport.write(mask_frame(payload, self.mask, opcode=10))
            elif op in (0, 1):
                self.stats.protocol_errors += 1
        del buf[:pos]

    def _message(self, payload) -> None:
        stats = self.stats
        envs = envelopes_of(payload, stats)
        if envs is None:
            return
        if self.counting:
            stats.frames_in += 1
            stats.bytes_in += len(payload)
            stats.envelopes_in += len(envs)
            now = self.rx_time if self.rx_time is not None else self.clock()
            for env in envs:
                kind = env[0]
                if kind == EVENT:
                    seq = env[1]
                    if seq != self.seq + 1:
                        stats.seq_gaps += 1
                    self.seq = seq
                    stats.events += 1
                    if env[2] == "reaction:sent":
                        if env[3]["senderId"] == self.wallet:
                            self.own_reaction(now)
                        else:
                            stats.other_reactions += 1
                    else:
                        self._queue_event(env[2], env[3])
                elif kind == REPLY:
                    if env[2] == "ok":
                        stats.replies_ok += 1
                    else:
                        stats.replies_error += 1
                        code = env[3].get("code", "?") if isinstance(env[3], dict) else "?"
                        stats.error_codes[code] = stats.error_codes.get(code, 0) + 1
                        if env[1] == REACT_RID:
                            self.own_refused()
                    fut = self.pending.pop(env[1], None)
                    if fut is not None and not fut.done():
                        fut.set_result((env[2], env[3]))
                else:
                    stats.protocol_errors += 1
            return
        for env in envs:
            kind = env[0]
            if kind == REPLY:
                fut = self.pending.pop(env[1], None)
                if fut is not None and not fut.done():
                    fut.set_result((env[2], env[3]))
            elif kind == EVENT:
                if env[1] != self.seq + 1:
                    stats.seq_gaps += 1
                self.seq = env[1]
                if env[2] != "reaction:sent":
                    self._queue_event(env[2], env[3])

    def own_reaction(self, now: float) -> None:
        """This client's own `reaction:sent` arrived at `now`: its latency is
        from the matching send (the k-th event answers the k-th send)."""
        self.stats.own_reactions += 1
        ring = self.ring
        if ring is not None:
            self.stats.latencies.append(now - ring[self.ring_base + self.own_seen % RING])
            self.own_seen += 1
        elif self.sent_at:
            self.stats.latencies.append(now - self.sent_at.popleft())

    def own_refused(self) -> None:
        """One of this client's reactions was refused: it gets no event, so its
        send stamp is used up here."""
        if self.ring is not None:
            self.own_seen += 1
        elif self.sent_at:
            self.sent_at.popleft()

    def _queue_event(self, type_: str, body) -> None:
        self.events.append((type_, body))
        if len(self.events) > 256:
            self.events.popleft()
        w = self.event_waiter
        if w is not None and not w.done():
            w.set_result(None)
