"""The gateway's own RFC 6455 transport (arena.net.ws), over raw sockets.

Each test speaks WebSocket byte by byte to a real server, so framing
details (masking, fragmentation, control frames, limits, close codes) are
checked exactly as a hand-written client would meet them.
"""

from __future__ import annotations

import base64
import os
import struct

import msgpack
import pytest
import trio

from arena.net import ws as W


def test_unmask_round_trip_all_small_lengths_and_big():
    mask = b"\x37\xfa\x21\x3d"
    for n in list(range(0, 40)) + [125, 126, 127, 65535, 65536, 1 << 20]:
        data = os.urandom(n)
        masked = W.unmask(data, mask)
        assert len(masked) == n
        assert W.unmask(masked, mask) == data
        # against the RFC's definition, byte by byte
        if n <= 300:
            assert masked == bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def test_frame_header_lengths():
    assert W.frame_header(W.OP_BINARY, 5) == b"\x82\x05"
    assert W.frame_header(W.OP_BINARY, 126) == b"\x82\x7e\x00\x7e"
    assert W.frame_header(W.OP_BINARY, 70000) == b"\x82\x7f" + (70000).to_bytes(8, "big")
    assert W.frame_header(W.OP_TEXT, 1, fin=False) == b"\x01\x01"
    assert W.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3


class Raw:
    """A hand-rolled client: send any frame, read the server's frames."""

    def __init__(self, stream: trio.SocketStream):
        self.stream = stream
        self.buf = bytearray()

    @classmethod
    async def connect(cls, port: int, path: str = "/v1", version: str = "13", upgrade: bool = True):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        raw = cls(stream)
        key = base64.b64encode(os.urandom(16)).decode()
        head = f"GET {path} HTTP/1.1\r\nHost: x\r\n"
        if upgrade:
            head += f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        head += f"Sec-WebSocket-Version: {version}\r\n\r\n"
        await stream.send_all(head.encode())
        raw.status, raw.headers = await raw._read_http()
        if raw.status == 101:
            assert raw.headers["sec-websocket-accept"] == W.accept_key(key)
        return raw

    async def _read_http(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    async def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True,
                         rsv: int = 0) -> None:
        key = os.urandom(4) if mask else None
        frame = bytearray(W.encode_frame(opcode, payload, fin=fin, mask=key))
        frame[0] |= rsv << 4
        await self.stream.send_all(bytes(frame))

    async def request(self, rid: int, type_: str, body: dict | None = None) -> None:
        await self.send_frame(W.OP_BINARY, msgpack.packb([0, rid, type_, body or {}]))

    async def read_frame(self, timeout: float = 5.0):
        """(opcode, payload) of the next server frame, or (None, b"") at EOF."""
        with trio.fail_after(timeout):
            while True:
                if len(self.buf) >= 2:
                    n = self.buf[1] & 0x7F
                    hl = 2
                    if n == 126 and len(self.buf) >= 4:
                        n, hl = struct.unpack("!H", self.buf[2:4])[0], 4
                    elif n == 127 and len(self.buf) >= 10:
                        n, hl = struct.unpack("!Q", self.buf[2:10])[0], 10
                    assert not self.buf[1] & 0x80, "server frames are never masked"
                    if n < 126 or hl > 2:
                        if len(self.buf) >= hl + n:
                            op = self.buf[0] & 0x0F
                            payload = bytes(self.buf[hl:hl + n])
                            del self.buf[:hl + n]
                            return op, payload
                try:
                    chunk = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    chunk = b""
                if not chunk:
                    return None, b""
                self.buf += chunk

    async def read_envelopes(self):
        op, payload = await self.read_frame()
        assert op == W.OP_BINARY, (op, payload)
        value = msgpack.unpackb(payload)
        return value if value and isinstance(value[0], list) else [value]

    async def expect_close(self, code: int) -> bytes:
        while True:
            op, payload = await self.read_frame()
            if op == W.OP_CLOSE:
                assert struct.unpack("!H", payload[:2])[0] == code, payload
                return payload[2:]
            assert op is not None, f"connection ended without a close frame (wanted {code})"

    async def expect_eof(self) -> None:
        op, _ = await self.read_frame()
        assert op is None


async def _server(arena_server, **net):
    server, url = await arena_server(net=net or None)
    return server, server.port


async def test_handshake_rejects_wrong_path_version_and_plain_http(arena_server):
    _, port = await _server(arena_server)
    assert (await Raw.connect(port, path="/v2")).status == 404
    r = await Raw.connect(port, version="8")
    assert r.status == 426 and r.headers["sec-websocket-version"] == "13"
    assert (await Raw.connect(port, upgrade=False)).status == 400
    assert (await Raw.connect(port, path="/v1?x=1")).status == 101


async def test_fragmented_message_with_ping_in_between(arena_server):
    _, port = await _server(arena_server)
    r = await Raw.connect(port)
    data = msgpack.packb([0, 5, "hello", {"protocol": 1, "client": "raw"}])
    a, b, c = data[:3], data[3:10], data[10:]
    await r.send_frame(W.OP_BINARY, a, fin=False)
    await r.send_frame(W.OP_PING, b"are you there")
    await r.send_frame(W.OP_CONT, b, fin=False)
    await r.send_frame(W.OP_CONT, c, fin=True)
    op, payload = await r.read_frame()
    assert (op, payload) == (W.OP_PONG, b"are you there")  # answered at once, mid-message
    [env] = await r.read_envelopes()
    assert env[:3] == [1, 5, "ok"] and env[3]["protocol"] == 1


async def test_several_frames_in_one_segment_and_pong_ignored(arena_server):
    _, port = await _server(arena_server)
    r = await Raw.connect(port)
    frames = b"".join(
        W.encode_frame(W.OP_BINARY, msgpack.packb([0, rid, "hello", {"protocol": 1, "client": "raw"}]),
                       mask=os.urandom(4)) for rid in (1, 2, 3))
    frames += W.encode_frame(W.OP_PONG, b"unsolicited", mask=os.urandom(4))
    await r.stream.send_all(frames)
    rids = []
    while len(rids) < 3:
        rids += [e[1] for e in await r.read_envelopes()]
    assert rids == [1, 2, 3]


async def test_small_frames_then_a_partial_one_in_one_read(arena_server):
    """The read fast path takes whole small frames and leaves a partial tail to the parser."""
    _, port = await _server(arena_server)
    r = await Raw.connect(port)

    def hello(rid: int, pad: int = 0) -> bytes:
        return W.encode_frame(W.OP_BINARY, msgpack.packb([0, rid, "hello", {"protocol": 1, "client": "c" * pad}]),
                              mask=os.urandom(4))

    big = hello(4, pad=300)  # a 16-bit length: not a fast-path frame
    tail = hello(5)
    data = hello(1) + hello(2) + hello(3) + big + tail[:4]
    await r.stream.send_all(data)
    await trio.sleep(0.05)
    await r.stream.send_all(tail[4:])
    rids = []
    while len(rids) < 5:
        rids += [e[1] for e in await r.read_envelopes()]
    assert rids == [1, 2, 3, 4, 5]


async def test_small_frames_then_a_violation_in_one_read(arena_server):
    """Frames before a bad one are handled; the bad one still fails the connection
    with 1002 (at once: replies still queued for the tick are not sent)."""
    server, port = await _server(arena_server)
    r = await Raw.connect(port)
    before = server.gateway.stats["requests"]
    good = W.encode_frame(W.OP_BINARY, msgpack.packb([0, 1, "hello", {"protocol": 1, "client": "c"}]),
                          mask=os.urandom(4))
    unmasked = W.encode_frame(W.OP_BINARY, msgpack.packb([0, 2, "hello", {"protocol": 1, "client": "c"}]))
    await r.stream.send_all(good + good + unmasked)
    await r.expect_close(W.CLOSE_PROTOCOL_ERROR)
    assert server.gateway.stats["requests"] == before + 2


@pytest.mark.parametrize("case", ["unmasked", "rsv", "bad_opcode", "orphan_continuation",
                                  "interleaved_data", "long_control", "fragmented_control"])
async def test_protocol_violations_close_1002(arena_server, case):
    _, port = await _server(arena_server)
    r = await Raw.connect(port)
    if case == "unmasked":
        await r.send_frame(W.OP_BINARY, b"\x90", mask=False)
    elif case == "rsv":
        await r.send_frame(W.OP_BINARY, b"\x90", rsv=0b100)
    elif case == "bad_opcode":
        await r.send_frame(0x3, b"")
    elif case == "orphan_continuation":
        await r.send_frame(W.OP_CONT, b"\x90")
    elif case == "interleaved_data":
        await r.send_frame(W.OP_BINARY, b"\x94", fin=False)
        await r.send_frame(W.OP_BINARY, b"\x90")
    elif case == "long_control":
        await r.send_frame(W.OP_PING, b"x" * 126)
    elif case == "fragmented_control":
        await r.send_frame(W.OP_PING, b"x", fin=False)
    await r.expect_close(W.CLOSE_PROTOCOL_ERROR)
    await r.expect_eof()


async def test_oversize_frame_closes_1009_before_the_payload_arrives(arena_server):
    _, port = await _server(arena_server, max_frame_bytes=4096, max_plain_frame_bytes=1024,
                            max_audio_bytes=2048)
    r = await Raw.connect(port)
    # Only the header of a 10 MB frame: the server must not wait for the rest.
    await r.stream.send_all(b"\x82\xff" + (10_000_000).to_bytes(8, "big") + os.urandom(4) + b"x" * 100)
    await r.expect_close(W.CLOSE_TOO_BIG)


async def test_oversize_across_fragments_closes_1009(arena_server):
    _, port = await _server(arena_server, max_frame_bytes=4096, max_plain_frame_bytes=1024,
                            max_audio_bytes=2048)
    r = await Raw.connect(port)
    await r.send_frame(W.OP_BINARY, b"\x00" * 3000, fin=False)
    await r.send_frame(W.OP_CONT, b"\x00" * 3000, fin=True)
    await r.expect_close(W.CLOSE_TOO_BIG)


async def test_text_frame_is_a_bad_frame_not_a_close(arena_server):
    _, port = await _server(arena_server)
    r = await Raw.connect(port)
    await r.send_frame(W.OP_TEXT, "[0, 1, \"ping\", {}]".encode())
    [env] = await r.read_envelopes()
    assert env[0] == 1 and env[1] == 0 and env[2] == "error" and env[3]["code"] == "bad_frame"
    await r.request(9, "hello", {"protocol": 1, "client": "raw"})  # still open
    [env] = await r.read_envelopes()
    assert env[:3] == [1, 9, "ok"]


async def test_invalid_utf8_text_closes_1007(arena_server):
    _, port = await _server(arena_server)
    r = await Raw.connect(port)
    await r.send_frame(W.OP_TEXT, b"\xff\xfe")
    await r.expect_close(W.CLOSE_INVALID_DATA)


async def test_client_close_is_echoed(arena_server):
    server, port = await _server(arena_server)
    r = await Raw.connect(port)
    await r.send_frame(W.OP_CLOSE, struct.pack("!H", 4321) + b"bye")
    op, payload = await r.read_frame()
    assert op == W.OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 4321
    await r.expect_eof()
    with trio.fail_after(2):
        while server.gateway.conns:
            await trio.sleep(0.01)


async def test_bad_close_code_is_a_protocol_error(arena_server):
    _, port = await _server(arena_server)
    r = await Raw.connect(port)
    await r.send_frame(W.OP_CLOSE, struct.pack("!H", 1005))
    await r.expect_close(W.CLOSE_PROTOCOL_ERROR)


async def test_repeated_bad_frames_close_1008(arena_server):
    _, port = await _server(arena_server, bad_frames_before_close=3)
    r = await Raw.connect(port)
    for _ in range(3):
        await r.send_frame(W.OP_BINARY, b"\xc1")  # never valid MessagePack
    codes = []
    while True:
        op, payload = await r.read_frame()
        if op == W.OP_CLOSE:
            assert struct.unpack("!H", payload[:2])[0] == W.CLOSE_POLICY
            break
        assert op == W.OP_BINARY
        value = msgpack.unpackb(payload)
        for env in (value if isinstance(value[0], list) else [value]):
            codes.append(env[3]["code"])
    assert codes == ["bad_frame"] * 3
    # The client answers the close; the server then ends the connection.
    await r.send_frame(W.OP_CLOSE, struct.pack("!H", W.CLOSE_POLICY))
    await r.expect_eof()


async def test_large_message_uses_64_bit_length_and_big_replies_arrive(arena_server):
    _, port = await _server(arena_server)
    r = await Raw.connect(port)
    big = msgpack.packb([0, 3, "hello", {"protocol": 1, "client": "x" * 70_000}])
    await r.send_frame(W.OP_BINARY, big)  # > 64 KiB without audio: bad_frame, rid readable
    [env] = await r.read_envelopes()
    assert env[1] == 3 and env[3]["code"] == "bad_frame"


async def test_abrupt_disconnect_detaches_the_session(arena_server):
    from conftest import player

    server, url = await arena_server()
    async with player(url, faucet=False) as c:
        wallet = c.wallet
        with trio.fail_after(2):
            while wallet not in server.gateway.sessions.live:
                await trio.sleep(0.01)
    with trio.fail_after(3):
        while wallet in server.gateway.sessions.live:
            await trio.sleep(0.01)


class _FakeEpoll:
    def __init__(self):
        self.calls = []

    def modify(self, fd, mask):
        self.calls.append(mask)

    def unregister(self, fd):
        pass


async def test_backlog_keeps_order_and_drops_a_client_that_falls_too_far_behind():
    import socket

    closed, slow = [], []
    server = W.WsServer(on_open=None, on_message=None, on_closed=closed.append, max_backlog=3)
    server._ep = _FakeEpoll()
    server.on_slow = slow.append
    mine, peer = socket.socketpair()
    mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    mine.setblocking(False)
    peer.setblocking(False)
    conn = W.WsConn(server, mine, "test")
    server.conns[conn.fd] = conn
    payloads = [bytes([i]) * 50_000 for i in range(3)]  # far more than the socket buffer
    for p in payloads:
        assert conn.send_message(p)
    assert conn.backlog and server._ep.calls == [W._EPOLLIN | W._EPOLLOUT]
    got = bytearray()
    with trio.fail_after(5):
        while conn.backlog:
            try:
                got += peer.recv(1 << 20)
            except BlockingIOError:
                pass
            conn._drain()
            await trio.sleep(0)
        while len(got) < 3 * (50_000 + 4):
            try:
                got += peer.recv(1 << 20)
            except BlockingIOError:
                await trio.sleep(0.001)
    assert server._ep.calls[-1] == W._EPOLLIN
    expected = b"".join(W.frame_header(W.OP_BINARY, len(p)) + p for p in payloads)
    assert bytes(got) == expected  # whole frames, in order, nothing torn
    for _ in range(6):  # the peer stops reading: the backlog grows past 3 frames
        conn.send_message(b"x" * 50_000)
    assert slow == [conn] and closed == [conn] and conn.dead
    assert not conn.send_message(b"late")
    peer.close()


async def test_frames_of_every_length_class_and_split_reads(arena_server):
    """Lengths around 125/126 and 65535/65536, and a frame split over many reads."""
    _, port = await _server(arena_server)
    r = await Raw.connect(port)
    for pad in (0, 60, 64, 65, 66, 100, 65_000):
        body = msgpack.packb([0, 1, "hello", {"protocol": 1, "client": "p" * pad}])
        await r.send_frame(W.OP_BINARY, body)
        [env] = await r.read_envelopes()
        assert env[1] == 1, pad
    frame = W.encode_frame(W.OP_BINARY, msgpack.packb([0, 2, "hello", {"protocol": 1, "client": "s"}]),
                           mask=os.urandom(4))
    for i in range(len(frame)):
        await r.stream.send_all(frame[i:i + 1])
        await trio.sleep(0.001)
    [env] = await r.read_envelopes()
    assert env[:3] == [1, 2, "ok"]
