"""Sans-IO checks of the transport's budgets (arena.net.ws), issue 19.

A `WsConn` is driven directly: bytes are put in its read buffer and parsed
(`WsServer._process`) or frames are written to one end of a socket pair,
so what is buffered, dropped, paused and closed is checked exactly,
without a running server or any timing.
"""

from __future__ import annotations

import logging
import os
import select
import socket

import trio

from arena.net import ws as W


class Harness:
    def __init__(self, **kw):
        self.messages = []
        self.oversize = []
        self.closed = []
        self.srv = W.WsServer(on_open=lambda c: None,
                              on_message=lambda c, p, t: self.messages.append((c, p)),
                              on_closed=lambda c: self.closed.append(c), **kw)
        self.srv.on_oversize = lambda c, head, size, text: self.oversize.append((c, head, size))
        self.srv._ep = select.epoll()
        self.srv.now = 100.0
        self.peers = []

    def conn(self, sndbuf: int | None = None) -> W.WsConn:
        a, b = socket.socketpair()
        if sndbuf:
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
            b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, sndbuf)
        a.setblocking(False)
        b.setblocking(False)
        self.peers.append(b)
        c = W.WsConn(self.srv, a, "peer", "127.0.0.1", now=self.srv.now)
        c.max_message = self.srv.first_message_bytes
        self.srv.conns[c.fd] = c
        self.srv._ep.register(c.fd, W._EPOLLIN)
        self.srv.sockets += 1
        self.srv.per_address["127.0.0.1"] = self.srv.per_address.get("127.0.0.1", 0) + 1
        return c

    def feed(self, c: W.WsConn, data: bytes) -> None:
        c.rbuf += data
        self.srv._process(c)


def frame(payload: bytes, op: int = W.OP_BINARY, fin: bool = True) -> bytes:
    return W.encode_frame(op, payload, fin=fin, mask=os.urandom(4))




async def test_a_frame_over_the_connections_limit_is_dropped_unbuffered():
    h = Harness(max_message_bytes=1 << 20, first_message_bytes=1024)
    c = h.conn()
    payload = b"\x94\x00\x2a\xa4ping" + b"x" * 99_990  # rid 42
    data = frame(payload)
    h.feed(c, data[:200])
    assert c.held == 0 and h.srv.held_bytes == 0 and not c.rbuf  # nothing kept but the head
    assert c in h.srv._partial
    for i in range(200, len(data), 4096):
        h.feed(c, data[i:i + 4096])
        assert c.held == 0 and len(c.rbuf) < 16
    [(who, head, size)] = h.oversize
    assert who is c and size == len(payload) and head == payload[:W.HEAD_BYTES]
    assert c not in h.srv._partial and h.messages == []
    h.feed(c, frame(b"\x90"))  # the next frame is read normally
    assert [p for _, p in h.messages] == [b"\x90"]
    assert h.srv.stats["oversize_dropped"] == 1


async def test_a_fragmented_message_crossing_the_limit_is_dropped_from_then_on():
    h = Harness(max_message_bytes=8192, first_message_bytes=1024)
    c = h.conn()
    h.feed(c, frame(b"\x94\x00\x07" + b"a" * 797, fin=False))
    assert c.held == 800 and h.srv.held_bytes == 800  # fragments are buffered while under the limit
    h.feed(c, frame(b"b" * 800, op=W.OP_CONT, fin=False))  # 1600 > 1024: the fragments go
    assert c.held == 0 and h.srv.held_bytes == 0 and c.frag is None
    h.feed(c, frame(b"c" * 800, op=W.OP_CONT, fin=True))
    [(_, head, size)] = h.oversize
    assert size == 2400 and head.startswith(b"\x94\x00\x07a")


async def test_the_server_limit_still_closes_1009_across_dropped_fragments():
    h = Harness(max_message_bytes=4096, first_message_bytes=1024)
    c = h.conn()
    h.feed(c, frame(b"a" * 3000, fin=False))
    h.feed(c, frame(b"b" * 3000, op=W.OP_CONT, fin=True))
    assert c.closing and c.close_code == W.CLOSE_TOO_BIG and c.discard
    assert h.oversize == [] and h.srv.stats["closed_too_big"] == 1


async def test_the_frame_clock_restarts_only_when_a_message_completes():
    h = Harness()
    c = h.conn()
    one = frame(b"\x90" * 300)
    h.feed(c, one[:100])
    assert c.partial_since == 100.0 and c in h.srv._partial
    h.srv.now = 101.0
    h.feed(c, one[100:200])  # more bytes of the same frame: the clock goes on
    assert c.partial_since == 100.0
    h.srv.now = 102.0
    h.feed(c, one[200:] + one[:50])  # it completes, and the next begins
    assert c.partial_since == 102.0
    h.feed(c, one[50:])
    assert c.partial_since == 0.0 and c not in h.srv._partial
    # Inside a fragmented message, neither whole fragments nor pings restart it.
    h.srv.now = 110.0
    h.feed(c, frame(b"x", fin=False))
    h.srv.now = 111.0
    h.feed(c, frame(b"y", op=W.OP_CONT, fin=False) + frame(b"p", op=W.OP_PING))
    assert c.partial_since == 110.0
    h.feed(c, frame(b"z", op=W.OP_CONT, fin=True))
    assert c.partial_since == 0.0
    assert [p for _, p in h.messages][-1] == b"xyz"


async def test_past_the_input_budget_the_largest_holders_are_closed_first():
    h = Harness(max_held_bytes=10_000)
    conns = [h.conn() for _ in range(4)]
    for c, n in zip(conns, (4000, 1000, 3000, 2500)):
        h.feed(c, frame(b"q" * 9000)[:n])
    # 4000 + 1000 + 3000 + 2500 = 10,500 > 10,000: the largest (4000) goes;
    # 6,500 is under 3/4 of the budget, so nobody else.
    assert [c.discard for c in conns] == [True, False, False, False]
    assert conns[0].close_code == W.CLOSE_INPUT_BUDGET
    assert h.srv.held_bytes == 6500 and conns[0].held == 0
    assert h.srv.stats["closed_input_budget"] == 1


async def test_output_is_bounded_in_bytes_pauses_reading_then_drops():
    h = Harness(max_out_bytes=200_000, max_backlog=10_000)
    c = h.conn(sndbuf=4096)
    peer = h.peers[-1]
    chunk = b"m" * 10_000
    sent = 0
    while not c.backlog:
        assert c.send_message(chunk)
        sent += 1
    assert c.out_bytes == sum(len(f) for f in c.backlog) and c in h.srv._writing
    while c.out_bytes <= h.srv.pause_out_bytes:
        c.send_message(chunk)
    assert c.paused and h.srv.stats["read_pauses"] == 1
    # The peer reads: the backlog drains, reading resumes below a quarter.
    got = 0
    while c.paused:
        try:
            got += len(peer.recv(1 << 16))
        except BlockingIOError:
            pass
        c._drain()
        assert c.out_bytes == sum(len(f) for f in c.backlog)
    assert c.out_bytes <= h.srv.resume_out_bytes
    # It stops reading again: over the byte budget the client is dropped at once.
    while not c.dead:
        c.send_message(chunk)
    assert c.close_code == W.CLOSE_SLOW and c.backlog == [] and c.out_bytes == 0
    assert h.closed == [c] and h.srv.stats["closed_slow"] == 1
    assert h.srv.sockets == 0 and h.srv.per_address == {}


async def test_a_backlog_older_than_the_write_timeout_is_dropped_without_new_output():
    h = Harness(write_timeout=0.2)
    h.srv.now = trio.current_time()  # (trio's clock: the sweep compares with it)
    c = h.conn(sndbuf=4096)
    while not c.backlog:
        c.send_message(b"w" * 10_000)
    async with trio.open_nursery() as n:
        n.start_soon(h.srv._sweep)
        with trio.fail_after(5):
            while not c.dead:
                await trio.sleep(0.05)
        n.cancel_scope.cancel()
    assert c.close_code == W.CLOSE_SLOW and h.srv.stats["closed_write_timeout"] == 1


def test_log_throttle_counts_what_it_does_not_log(caplog):
    t = [0.0]
    throttle = W.LogThrottle(logging.getLogger("test.throttle"), interval=10.0, clock=lambda: t[0])
    with caplog.at_level(logging.INFO, logger="test.throttle"):
        assert throttle(logging.INFO, "x", "violation")
        for _ in range(99):
            assert not throttle(logging.INFO, "x", "violation")
        assert throttle(logging.INFO, "y", "other kind")
        t[0] = 10.5
        assert throttle(logging.INFO, "x", "violation")
    lines = [(r.kind, r.count) for r in caplog.records]
    assert lines == [("x", 1), ("y", 1), ("x", 100)]


async def test_a_small_frame_inside_a_dropped_message_is_still_a_protocol_error():
    """The read fast path (small whole frames) must not take a new message
    while a fragmented one is being dropped."""
    h = Harness(max_message_bytes=1 << 20, first_message_bytes=1024)
    c = h.conn()
    peer = h.peers[-1]
    peer.send(frame(b"a" * 2000, fin=False))  # over the limit: dropped from now on
    h.srv._read(c)
    assert c.skip_op == W.OP_BINARY and c.skip_left == 0
    peer.send(frame(b"\x90"))  # a small whole binary frame: inside the message, not allowed
    h.srv._read(c)
    assert c.discard and c.close_code == W.CLOSE_PROTOCOL_ERROR
    assert h.messages == [] and h.oversize == []


async def test_the_owner_can_hold_reading_and_the_backlog_keeps_it_held():
    h = Harness(max_out_bytes=200_000, max_backlog=10_000)
    c = h.conn(sndbuf=4096)
    c.hold(True)
    assert c.paused and c.held_by_owner
    c.hold(False)
    assert not c.paused
    while c.out_bytes <= h.srv.pause_out_bytes:  # the backlog pauses it ...
        c.send_message(b"h" * 10_000)
    c.hold(True)
    c.hold(False)
    assert c.paused  # ... and releasing the owner's hold does not resume it
    c.hold(True)
    peer = h.peers[-1]
    while c.out_bytes:
        try:
            peer.recv(1 << 16)
        except BlockingIOError:
            pass
        c._drain()
    assert c.paused  # drained, but the owner still holds it
    c.hold(False)
    assert not c.paused
