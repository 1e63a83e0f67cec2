"""A lean RFC 6455 WebSocket server on raw non-blocking sockets, under trio.

Why not trio-websocket: on this stack the cost of a WebSocket server is per
frame, not per byte (measured on a 2-core machine: a trio-websocket echo
server saturates one core near 10,000 echoes/s): wsproto's pure-Python framing, a task
switch per message and a channel hop per send cost ~100 µs a frame. Here:

- One **hub** task owns an `epoll` object holding every open connection's
  socket. trio waits on the epoll descriptor itself (an epoll fd is pollable),
  so a single task wake-up serves every socket that became readable since the
  last one: no task per connection, no task switch per frame.
- Frames are parsed in place from a per-connection `bytearray`; client
  payloads are unmasked with one big-integer XOR (C speed, any length).
- `send_message` writes straight to the socket (non-blocking `send`). Only
  when the kernel buffer is full does the rest wait in a per-connection
  backlog, written when epoll reports the socket writable. The backlog is
  counted in bytes as well as frames, only while it exists (the common case,
  a whole write, counts nothing): over half of `max_out_bytes` the
  connection's input stops being read (backpressure) until a quarter is
  left; over `max_out_bytes` or `max_backlog` frames, or not drained within
  `write_timeout` (checked by a sweep, so it needs no new output), the client
  is dropped as too slow (`on_slow`, code 4001).
- The handshake (one short task per new connection) answers 404 off the
  served path, 400 to a bad upgrade request (not GET over HTTP/1.1, no
  Host), 426 to a wrong version and 431 to a head over 8 KiB across reads.
  A plain HTTP request (no Upgrade header) off the served path goes to the
  owner's optional `http_handler` instead, whose `HttpAnswer` is written
  whole and the socket closed (pages served beside the protocol).
  Sockets are capped in total and per source address (503, 429 at once, no
  task); the descriptor limit is raised to its hard limit at start-up and
  the cap kept below it; accept errors are logged once per interval with a
  count (`LogThrottle`), as are protocol violations and refusals.

Input budgets: each connection has a current message limit (`max_message`,
the owner's to raise, e.g. after login); a message over it (but within the
server's `max_message_bytes`) is dropped as it arrives, only its first
bytes kept, and reported to `on_oversize`. A frame, or a fragmented
message, must complete within `frame_timeout` of its first byte (4004). The
input buffered across all connections is bounded by `max_held_bytes`: past
it the largest holders are closed (4005). Connections not `admit`ted by
the owner within `admit_timeout` (4002), or from which nothing arrives
within `idle_timeout` (a ping at half of it; 4003), are closed.

Protocol behaviour (RFC 6455):
- client frames must be masked, use no RSV bits and known opcodes; control
  frames must be final and at most 125 bytes; fragments must be well ordered
  (continuation only inside a fragmented message, no new data frame inside
  one): otherwise close 1002;
- a message (all its fragments) larger than `max_message_bytes` closes 1009
  as soon as its header says so (nothing that large is ever buffered);
- a text message that is not UTF-8 closes 1007;
- ping is answered with pong (same payload) at once; pong is ignored;
- a client close is echoed with its code and the socket closed; a server
  close (`close(code)`) sends the close frame, ignores later data frames and
  closes the socket when the client answers, or after `close_timeout` s.

The owner (the gateway) gets three callbacks: `on_open(conn)` once the
handshake is done, `on_message(conn, payload: bytes, is_text: bool)` for
every complete data message, `on_closed(conn)` once, when it is gone.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import logging
import os
import select
import socket
import struct

import trio

log = logging.getLogger("arena.net.ws")

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_NO_STATUS = 1005
CLOSE_ABNORMAL = 1006
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
# Server close codes of this project (docs/PROTOCOL.md, "Connection").
CLOSE_SLOW = 4001  # output not drained: over `send_queue_*` or older than `write_timeout`
CLOSE_LOGIN_TIMEOUT = 4002  # not logged in within `login_timeout`
CLOSE_IDLE = 4003  # nothing received within `idle_timeout` (a ping was sent half-way)
CLOSE_FRAME_TIMEOUT = 4004  # a frame (or fragmented message) not completed within `frame_timeout`
CLOSE_INPUT_BUDGET = 4005  # among the largest holders of buffered input when the server's budget ran out

MAX_HANDSHAKE_BYTES = 8192
HEAD_BYTES = 32  # of a refused oversize message, kept to read its rid
RECV_BYTES = 65536
FIRST_RECV_BYTES = 4096
HUB_BATCH = 256  # ready sockets handled before letting other tasks (the tick) run

_EPOLLIN = getattr(select, "EPOLLIN", 1)
_EPOLLOUT = getattr(select, "EPOLLOUT", 4)
_EPOLLERR = getattr(select, "EPOLLERR", 8)
_EPOLLHUP = getattr(select, "EPOLLHUP", 16)


_write_fd = os.write
_BIN_HEADERS = [bytes((0x80 | OP_BINARY, n)) for n in range(126)]


class LogThrottle:
    """At most one log line per `interval` seconds per kind; the line says how
    many of that kind happened since the last one (`count`), so a flood of
    violations costs a few lines, and the operator still sees how big it was."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0, clock=None):
        self.log = logger
        self.interval = interval
        self.clock = clock or (lambda: __import__("time").monotonic())
        self.last: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def __call__(self, level: int, kind: str, msg: str, **extra) -> bool:
        """Log `msg` unless one of `kind` was logged within the interval; True if logged."""
        n = self.count.get(kind, 0) + 1
        now = self.clock()
        last = self.last.get(kind)
        if last is not None and now - last < self.interval:
            self.count[kind] = n
            return False
        self.last[kind] = now
        self.count[kind] = 0
        if len(self.last) > 256:  # kinds are few; never let junk grow it
            self.last = {kind: now}
            self.count = {kind: 0}
        self.log.log(level, msg, extra={**extra, "kind": kind, "count": n})
        return True


def accept_key(key: str | bytes) -> str:
    if isinstance(key, str):
        key = key.encode("ascii")
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode("ascii")


def unmask(payload, mask: bytes) -> bytes:
    """XOR `payload` with the 4-byte `mask` repeated (RFC 6455 5.3)."""
    n = len(payload)
    if n == 0:
        return b""
    key = int.from_bytes((mask * ((n >> 2) + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")


def frame_header(opcode: int, n: int, fin: bool = True, mask: bytes | None = None) -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    m = 0x80 if mask is not None else 0
    if n < 126:
        h = bytes((b0, m | n))
    elif n < 0x10000:
        h = struct.pack("!BBH", b0, m | 126, n)
    else:
        h = struct.pack("!BBQ", b0, m | 127, n)
    return h + mask if mask is not None else h


def encode_frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One whole frame; masked (as a client must) when `mask` is given."""
    if mask is not None:
        return frame_header(opcode, len(payload), fin, mask) + unmask(payload, mask)
    return frame_header(opcode, len(payload), fin) + payload


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


def _valid_close_code(code: int) -> bool:
    if 1000 <= code <= 1014:
        return code not in (1004, 1005, 1006)
    return 3000 <= code <= 4999


class ProtocolViolation(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class WsConn:
    """One accepted, upgraded connection."""

    __slots__ = (
        "server", "sock", "fd", "peer", "addr", "rbuf", "frag", "frag_op", "frag_size",
        "backlog", "want_write", "closing", "close_code", "closing_since", "dead", "owner",
        "discard", "shut_pending",
        "bytes_in", "bytes_out",
        "max_message", "skip_left", "skip_head", "skip_size", "skip_op", "skip_fin", "held",
        "out_bytes", "out_since", "paused", "held_by_owner", "partial_since", "progress", "last_in", "pinged", "admit_by",
    )

    def __init__(self, server: WsServer, sock: socket.socket, peer: str, addr: str = "", now: float = 0.0):
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.addr = addr  # the source address (no port), for the per-address cap
        self.rbuf = bytearray()
        self.frag: list | None = None  # payloads of a fragmented message so far
        self.frag_op = 0
        self.frag_size = 0
        self.backlog: list = []  # frames (or their unsent tails) waiting for the socket
        self.want_write = False
        self.closing = False  # we sent a close frame
        self.close_code: int | None = None
        self.closing_since = 0.0
        self.dead = False
        self.owner = None  # the gateway's object for this connection
        self.discard = False  # after a protocol violation: read and drop until EOF
        self.shut_pending = False  # shut down our side once the backlog is out
        self.bytes_in = 0
        self.bytes_out = 0
        # Input budget: the largest message this connection may send now (the
        # owner raises it, e.g. after login); a bigger one (up to the server's
        # `max_message_bytes`) is read and dropped, never buffered, and
        # reported to `on_oversize` with its first bytes.
        self.max_message = server.max_message_bytes
        self.skip_left = 0  # bytes of the frame being dropped still to come
        self.skip_head = b""  # the first bytes of the message being dropped (unmasked)
        self.skip_size = 0  # its size so far (all fragments)
        self.skip_op = -1  # >= 0 while a message is being dropped: its opcode
        self.skip_fin = False  # the frame being dropped ends its message
        self.held = 0  # input bytes buffered (rbuf + fragments), counted in server.held_bytes
        # Output budget: bytes waiting in `backlog`, and since when it is not empty.
        self.out_bytes = 0
        self.out_since = 0.0
        self.paused = False  # reading stopped until the backlog drains (or the owner releases it)
        self.held_by_owner = False  # the owner asked to stop reading (`hold`)
        self.partial_since = 0.0  # when the unfinished frame (or message) began; 0 = none
        self.progress = False  # the last `_feed` completed a message
        self.last_in = now  # when something last arrived
        self.pinged = False  # an idle ping was sent since then
        self.admit_by = 0.0  # close if the owner has not admitted it (login) by then; 0 = done

    # --- writing ------------------------------------------------------------------
    def send_message(self, payload: bytes) -> bool:
        """Send one binary message. False if the connection is gone or closing."""
        if self.closing or self.dead:
            return False
        n = len(payload)
        if n < 126:
            frame = _BIN_HEADERS[n] + payload
        elif n < 0x10000:
            frame = b"\x82\x7e" + n.to_bytes(2, "big") + payload
        else:
            frame = b"\x82\x7f" + n.to_bytes(8, "big") + payload
        if self.backlog:
            self._write(frame)
            return not self.dead
        # _write's common case, inlined: the whole frame goes at once
        # (os.write on the descriptor: the same system call as socket.send,
        # measured ~0.5 µs cheaper per call from Python).
        try:
            sent = _write_fd(self.fd, frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.server._abort(self)
            return False
        self.bytes_out += sent
        if sent < len(frame):
            self._queue(memoryview(frame)[sent:])
            return not self.dead
        return True

    def _queue(self, tail) -> None:
        """The first frame (or tail) to wait for the socket: start the backlog."""
        self.backlog.append(tail)
        self.out_bytes = len(tail)
        self.out_since = trio.current_time()
        self.server._watch_write(self, True)
        self.server._check_out(self)

    def _write(self, frame) -> None:
        if self.backlog:
            self.backlog.append(frame)
            self.out_bytes += len(frame)
            if len(self.backlog) > self.server.max_backlog or self.out_bytes > self.server.pause_out_bytes:
                self.server._check_out(self)
            return
        try:
            sent = self.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.server._abort(self)
            return
        self.bytes_out += sent
        if sent < len(frame):
            self._queue(memoryview(frame)[sent:])

    def _drain(self) -> None:
        """The socket is writable: send what waits, oldest first."""
        backlog = self.backlog
        while backlog:
            frame = backlog[0]
            try:
                sent = self.sock.send(frame)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.server._abort(self)
                return
            self.bytes_out += sent
            self.out_bytes -= sent
            if sent < len(frame):
                backlog[0] = memoryview(frame)[sent:]
                break
            backlog.pop(0)
        if self.paused and self.out_bytes <= self.server.resume_out_bytes and not self.held_by_owner:
            self.server._pause(self, False)
        if backlog:
            return
        self.out_bytes = 0
        self.server._watch_write(self, False)
        if self.shut_pending:
            self.server._shutdown(self)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake with `code` (no more messages are sent)."""
        if self.closing or self.dead:
            return
        self.closing = True
        self.close_code = code
        self.closing_since = trio.current_time()
        self._write(frame_header(OP_CLOSE, len(p := close_payload(code, reason))) + p)
        self.server._closing.add(self)

    def hold(self, on: bool) -> None:
        """The owner stops (True) or resumes (False) reading this connection's
        input, e.g. while replies it has not yet written pile up; reading
        also stays stopped while the backlog is over its pause mark."""
        if self.dead or self.held_by_owner == on:
            return
        self.held_by_owner = on
        self.server._pause(self, on or self.out_bytes > self.server.pause_out_bytes)

    def admit(self, max_message: int | None = None) -> None:
        """The owner accepts this connection for good (no admission deadline
        any more), and lets it send messages of up to `max_message` bytes."""
        self.admit_by = 0.0
        if max_message is not None:
            self.max_message = min(max_message, self.server.max_message_bytes)

    # --- reading ------------------------------------------------------------------
    def _feed(self) -> None:
        """Parse every complete frame in `rbuf`; raise ProtocolViolation on a bad one."""
        buf = self.rbuf
        size = len(buf)
        pos = 0
        server = self.server
        limit = server.max_message_bytes
        done = False  # a whole message (or a control frame outside one) was read
        try:
            while pos < size:
                if self.skip_left:
                    # Dropping the payload of a refused frame: nothing is kept.
                    take = min(self.skip_left, size - pos)
                    pos += take
                    self.skip_left -= take
                    if self.skip_left:
                        break
                    if self.skip_fin:
                        done = True
                        self._skipped()
                        if self.dead:
                            return
                    continue
                if size - pos < 2:
                    break
                b0 = buf[pos]
                b1 = buf[pos + 1]
                n = b1 & 0x7F
                hl = 2
                if n == 126:
                    if size - pos < 4:
                        break
                    n = (buf[pos + 2] << 8) | buf[pos + 3]
                    hl = 4
                elif n == 127:
                    if size - pos < 10:
                        break
                    n = int.from_bytes(buf[pos + 2:pos + 10], "big")
                    hl = 10
                    if n >> 63:
                        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "frame length has the top bit set")
                op = b0 & 0x0F
                if b0 & 0x70:
                    raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension")
                if not b1 & 0x80:
                    raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
                fin = b0 & 0x80
                skip = False
                if op >= 8:
                    if op not in (OP_CLOSE, OP_PING, OP_PONG):
                        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, f"unknown control opcode {op}")
                    if not fin or n > 125:
                        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "control frames must be final and <= 125 bytes")
                else:
                    if op == OP_CONT:
                        if self.frag is None and self.skip_op < 0:
                            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "continuation frame outside a message")
                        total = (self.skip_size if self.skip_op >= 0 else self.frag_size) + n
                    elif op in (OP_TEXT, OP_BINARY):
                        if self.frag is not None or self.skip_op >= 0:
                            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
                        total = n
                    else:
                        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, f"unknown data opcode {op}")
                    if total > limit:
                        raise ProtocolViolation(CLOSE_TOO_BIG, f"message larger than {limit} bytes")
                    skip = self.skip_op >= 0 or total > self.max_message
                if skip:
                    # Over this connection's current limit (but not the
                    # server's): read and dropped as it arrives, never
                    # buffered; only its first bytes are kept for the rid.
                    start = pos + hl + 4
                    if size - start < (min(n, HEAD_BYTES - len(self.skip_head)) if self.skip_op < 0 else 0):
                        break  # (the header and the few bytes kept for the rid first)
                    mask = bytes(buf[pos + hl:start])
                    if self.skip_op < 0:
                        self.skip_op = self.frag_op if op == OP_CONT else op
                        self.skip_head = bytes(self.frag[0][:HEAD_BYTES]) if self.frag else b""
                        self.skip_size = self.frag_size
                        self.frag = None
                        self.frag_size = 0
                    if len(self.skip_head) < HEAD_BYTES:
                        have = min(n, HEAD_BYTES - len(self.skip_head), size - start)
                        # (the mask repeats every 4 bytes: a prefix unmasks on its own)
                        self.skip_head += unmask(buf[start:start + have], mask)
                    self.skip_size += n
                    self.skip_fin = bool(fin)
                    pos = start
                    self.skip_left = n
                    if n == 0 and fin:
                        done = True
                        self._skipped()
                        if self.dead:
                            return
                    continue
                end = pos + hl + 4 + n
                if end > size:
                    break
                mask = bytes(buf[pos + hl:pos + hl + 4])
                payload = unmask(buf[pos + hl + 4:end], mask)
                pos = end
                if fin and (op < 8 or (self.frag is None and self.skip_op < 0)):
                    done = True  # a whole message, or a control frame outside one
                if op == OP_BINARY and fin:
                    if not self.closing:
                        server.on_message(self, payload, False)
                elif op >= 8:
                    self._control(op, payload)
                    if self.dead:
                        return
                elif not fin:
                    if op != OP_CONT:
                        self.frag = [payload]
                        self.frag_op = op
                    else:
                        self.frag.append(payload)
                    self.frag_size += n
                else:
                    if op == OP_CONT:
                        self.frag.append(payload)
                        payload = b"".join(self.frag)
                        op = self.frag_op
                        self.frag = None
                        self.frag_size = 0
                    if op == OP_TEXT:
                        try:
                            text = payload.decode("utf-8")
                        except UnicodeDecodeError:
                            raise ProtocolViolation(CLOSE_INVALID_DATA, "text message is not UTF-8") from None
                        if not self.closing:
                            server.on_message(self, text, True)
                    elif not self.closing:
                        server.on_message(self, payload, False)
                if self.dead:
                    return
        finally:
            self.progress = done
            if pos:
                del buf[:pos]

    def _skipped(self) -> None:
        """A dropped (oversize) message has ended: tell the owner."""
        head, size, op = self.skip_head, self.skip_size, self.skip_op
        self.skip_head = b""
        self.skip_size = 0
        self.skip_op = -1
        self.server.stats["oversize_dropped"] += 1
        if not self.closing and self.server.on_oversize is not None:
            self.server.on_oversize(self, head, size, op == OP_TEXT)

    def _control(self, op: int, payload: bytes) -> None:
        if op == OP_PING:
            if not self.closing:
                self._write(frame_header(OP_PONG, len(payload)) + payload)
        elif op == OP_CLOSE:
            if len(payload) == 1:
                raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "close payload of 1 byte")
            code = CLOSE_NO_STATUS
            if len(payload) >= 2:
                code = int.from_bytes(payload[:2], "big")
                if not _valid_close_code(code):
                    raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
                try:
                    payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    raise ProtocolViolation(CLOSE_INVALID_DATA, "close reason is not UTF-8") from None
            if not self.closing:
                # Echo the client's close, then the server closes the TCP connection.
                self.closing = True
                self.close_code = code
                echo = close_payload(code) if code != CLOSE_NO_STATUS else b""
                self._write(frame_header(OP_CLOSE, len(echo)) + echo)
            self.server._finish(self)
        # pong: nothing to do


class WsServer:
    """Accepts connections on `host:port`, upgrades those asking for `path`.

    Budgets and timeouts (all seconds or bytes; 0 = off where noted):
    `max_connections` and `max_per_address` cap sockets (handshakes included);
    `handshake_timeout`, `frame_timeout` (a frame or fragmented message must
    complete within it), `idle_timeout` (nothing received: a ping at half of
    it, closed at the end), `admit_timeout` (the owner must `admit` the
    connection, e.g. at login, within it); `max_out_bytes` and `max_backlog`
    bound what waits for a slow reader, `write_timeout` how long a backlog
    may take to drain; `max_held_bytes` bounds the input buffered across all
    connections (the largest holders are closed first past it).
    """

    def __init__(self, *, on_open, on_message, on_closed, path: str = "/v1",
                 max_message_bytes: int = 1 << 20, max_backlog: int = 256,
                 handshake_timeout: float = 10.0, close_timeout: float = 2.0,
                 reject_body: bytes = b"not found\n", first_message_bytes: int | None = None,
                 max_out_bytes: int = 1 << 20, write_timeout: float = 10.0,
                 frame_timeout: float = 10.0, max_held_bytes: int = 64 << 20,
                 idle_timeout: float = 60.0, admit_timeout: float = 0.0,
                 max_connections: int = 10_000, max_per_address: int = 0,
                 raise_fd_limit: bool = True, max_handshake_bytes: int = MAX_HANDSHAKE_BYTES,
                 http_handler=None):
        self.on_open = on_open
        # Optional `http_handler(method, target) -> HttpAnswer` for plain
        # HTTP requests (no WebSocket upgrade) off the served path: the same
        # port then serves pages beside the protocol. None: such requests get
        # 404 with `reject_body`, as before.
        self.http_handler = http_handler
        self.on_message = on_message
        self.on_closed = on_closed
        self.on_oversize = None  # optional callback(conn, head, size, is_text) for a dropped message
        self.path = path
        self.max_message_bytes = max_message_bytes
        # the limit of a new connection (`WsConn.max_message`), until raised
        self.first_message_bytes = first_message_bytes or max_message_bytes
        self.max_backlog = max_backlog
        self.max_out_bytes = max_out_bytes
        self.pause_out_bytes = max(1, max_out_bytes // 2)  # reading pauses above this ...
        self.resume_out_bytes = max_out_bytes // 4  # ... until the backlog is down to this
        self.write_timeout = write_timeout
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self.frame_timeout = frame_timeout
        self.max_held_bytes = max_held_bytes
        self.idle_timeout = idle_timeout
        self.admit_timeout = admit_timeout
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.raise_fd_limit = raise_fd_limit
        self.max_handshake_bytes = max_handshake_bytes
        self.reject_body = reject_body
        self.conns: dict[int, WsConn] = {}
        self._closing: set[WsConn] = set()
        self._writing: set[WsConn] = set()  # connections with a backlog
        self._holding: set[WsConn] = set()  # connections with buffered input (held > 0)
        self._partial: set[WsConn] = set()  # connections inside an unfinished frame or message
        self.held_bytes = 0  # input buffered over all connections
        self.sockets = 0  # accepted sockets not yet closed (handshakes included)
        self.per_address: dict[str, int] = {}
        self._ep = None
        self.port: int | None = None
        self.on_slow = None  # optional callback(conn) before a slow client is dropped
        self.after_batch = None  # optional callback() after each batch of socket events
        self.now = 0.0
        self.hub_wakes = 0  # times the hub task woke up ...
        self.hub_events = 0  # ... and the socket events it handled
        self.throttle = LogThrottle(log)
        # What was refused or dropped, by kind (exported at /metrics).
        self.stats = dict.fromkeys((
            "handshake_refused", "handshake_timeouts", "refused_capacity", "refused_per_address",
            "accept_errors", "protocol_errors", "oversize_dropped", "closed_too_big", "closed_slow",
            "closed_write_timeout", "closed_frame_timeout", "closed_input_budget", "closed_idle",
            "closed_admit_timeout", "idle_pings", "read_pauses",
        ), 0)

    # --- running ------------------------------------------------------------------
    async def serve(self, host: str, port: int, shared_ports: tuple[int, ...] = (), *,
                    task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen on `port`, and on each of `shared_ports` with SO_REUSEPORT
        (several worker processes accept on one public port; the kernel
        spreads new connections over them)."""
        self.fd_limit = raise_nofile_limit() if self.raise_fd_limit else 0
        if self.fd_limit:
            # Descriptors for everything else (store, logs, metrics, ledger) stay free.
            self.max_connections = min(self.max_connections, max(16, self.fd_limit - 64))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        socks = []
        try:
            for p in (port, *shared_ports):
                lsock = socket.socket(family, socket.SOCK_STREAM)
                socks.append(lsock)
                lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if p != port:
                    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                lsock.bind((host, p))
                lsock.listen(4096)
                lsock.setblocking(False)
            self.port = socks[0].getsockname()[1]
            self._ep = select.epoll()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._hub)
                nursery.start_soon(self._sweep)
                for shared in socks[1:]:
                    nursery.start_soon(self._accept_loop, shared, nursery)
                task_status.started(self.port)
                await self._accept_loop(socks[0], nursery)
        finally:
            for lsock in socks:
                lsock.close()
            for conn in list(self.conns.values()):
                self._abort(conn)
            if self._ep is not None:
                self._ep.close()

    async def _accept_loop(self, lsock: socket.socket, nursery) -> None:
        # A descriptor kept in reserve: when the process runs out of them, it
        # is given up to accept (and at once close) the waiting connections,
        # so their clients see a close instead of hanging in the queue.
        reserve = _open_reserve()
        try:
            while True:
                await trio.lowlevel.wait_readable(lsock)
                while True:
                    try:
                        sock, addr = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:
                        self.stats["accept_errors"] += 1
                        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                            self.throttle(logging.ERROR, "accept", f"cannot accept: {exc}",
                                          open_sockets=self.sockets)
                            if reserve is not None:
                                os.close(reserve)
                                reserve = None
                                try:
                                    s, _ = lsock.accept()
                                    s.close()
                                except OSError:
                                    pass
                                reserve = _open_reserve()
                            await trio.sleep(0.05)
                            break
                        continue
                    host = addr[0] if isinstance(addr, tuple) else str(addr)
                    peer = f"{host}:{addr[1]}" if isinstance(addr, tuple) else host
                    n_addr = self.per_address.get(host, 0)
                    if self.sockets >= self.max_connections:
                        self.stats["refused_capacity"] += 1
                        self.throttle(logging.WARNING, "capacity", "refusing a connection: server full",
                                      peer=peer, open_sockets=self.sockets)
                        _refuse(sock, 503, b"server full; try again later\n")
                        continue
                    if self.max_per_address and n_addr >= self.max_per_address:
                        self.stats["refused_per_address"] += 1
                        self.throttle(logging.WARNING, "per_address", "refusing a connection: too many from its address",
                                      peer=peer, open_from_address=n_addr)
                        _refuse(sock, 429, b"too many connections from this address\n")
                        continue
                    self.sockets += 1
                    self.per_address[host] = n_addr + 1
                    sock.setblocking(False)
                    try:
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    except OSError:
                        pass
                    nursery.start_soon(self._handshake, sock, peer, host)
        finally:
            if reserve is not None:
                os.close(reserve)

    def _release(self, host: str) -> None:
        """One accepted socket (of source address `host`) is closed."""
        self.sockets -= 1
        n = self.per_address.get(host, 1) - 1
        if n > 0:
            self.per_address[host] = n
        else:
            self.per_address.pop(host, None)

    async def _handshake(self, sock: socket.socket, peer: str, host: str = "") -> None:
        data = bytearray()
        limit = self.max_handshake_bytes
        ok = False
        try:
            with trio.move_on_after(self.handshake_timeout) as scope:
                while b"\r\n\r\n" not in data:
                    # The limit holds across reads: never more than it (and one
                    # byte to know it is exceeded) is read before refusing.
                    if len(data) > limit:
                        self._refused(peer, 431, "request header too large")
                        _http(sock, 431, b"request header too large\n")
                        return
                    await trio.lowlevel.wait_readable(sock)
                    try:
                        chunk = sock.recv(limit + 1 - len(data))
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        return
                    if not chunk:
                        return
                    data += chunk
                    if len(data) > limit and b"\r\n\r\n" not in data[:limit]:
                        self._refused(peer, 431, "request header too large")
                        _http(sock, 431, b"request header too large\n")
                        return
                head, _, rest = bytes(data).partition(b"\r\n\r\n")
                key = self._check_upgrade(sock, head, peer)
                if key is None:
                    return
                if isinstance(key, HttpAnswer):
                    await _send_answer(sock, key)
                    return
                resp = (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
                ).encode("ascii")
                try:
                    sock.send(resp)
                except OSError:
                    return
                ok = True
            if scope.cancelled_caught:
                self.stats["handshake_timeouts"] += 1
        finally:
            if not ok:
                sock.close()
                self._release(host)
        if not ok:
            return
        now = trio.current_time()
        conn = WsConn(self, sock, peer, host, now)
        conn.max_message = self.first_message_bytes
        if self.admit_timeout:
            conn.admit_by = now + self.admit_timeout
        self.conns[conn.fd] = conn
        self._ep.register(conn.fd, _EPOLLIN)
        self.on_open(conn)
        if rest and not conn.dead:
            self.now = now
            conn.rbuf += rest
            self._process(conn)

    def _refused(self, peer: str, status: int, why: str) -> None:
        self.stats["handshake_refused"] += 1
        self.throttle(logging.INFO, f"http_{status}", f"refusing a handshake: {why}", peer=peer, status=status)

    def _check_upgrade(self, sock, head: bytes, peer: str = "") -> str | HttpAnswer | None:
        def refuse(status: int, body: bytes, extra: str = "") -> None:
            self._refused(peer, status, body.decode().strip())
            _http(sock, status, body, extra=extra)

        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    raise ValueError
                headers[name.strip().lower()] = value.strip()
        except ValueError:
            refuse(400, b"bad request\n")
            return None
        # A plain HTTP request (no upgrade asked) off the protocol's path goes
        # to the owner's handler, when there is one.
        if (self.http_handler is not None and not headers.get("upgrade")
                and target.split("?", 1)[0] != self.path and version in ("HTTP/1.0", "HTTP/1.1")):
            try:
                return self.http_handler(method, target)
            except Exception:  # noqa: BLE001 - the owner's bug costs this request, never the server
                log.exception("http handler failed", extra={"peer": peer})
                return HttpAnswer(500, "Internal Server Error", (("Content-Type", "text/plain"),),
                                  b"internal error\n")
        # RFC 6455 4.1 / 4.2.1: a GET of HTTP/1.1 or later, with a Host header.
        if method != "GET" or version != "HTTP/1.1":
            refuse(400, b"a WebSocket upgrade is a GET over HTTP/1.1\n")
            return None
        if not headers.get("host"):
            refuse(400, b"a WebSocket upgrade needs a Host header\n")
            return None
        upgrade = headers.get("upgrade", "").lower()
        if target.split("?", 1)[0] != self.path:
            refuse(404, self.reject_body)
            return None
        connection = [t.strip().lower() for t in headers.get("connection", "").split(",")]
        key = headers.get("sec-websocket-key", "")
        if upgrade != "websocket" or "upgrade" not in connection or not key:
            refuse(400, b"expected a WebSocket upgrade request\n")
            return None
        if headers.get("sec-websocket-version") != "13":
            refuse(426, b"WebSocket version 13 only\n", extra="Sec-WebSocket-Version: 13\r\n")
            return None
        try:
            if len(base64.b64decode(key, validate=True)) != 16:
                raise ValueError
        except ValueError:
            refuse(400, b"bad Sec-WebSocket-Key\n")
            return None
        return key

    async def _hub(self) -> None:
        ep = self._ep
        conns = self.conns
        while True:
            await trio.lowlevel.wait_readable(ep.fileno())
            while True:
                events = ep.poll(0, HUB_BATCH)
                self.now = trio.current_time()  # one clock read per batch, for the owner's rate limits
                self.hub_wakes += 1
                self.hub_events += len(events)
                for fd, ev in events:
                    conn = conns.get(fd)
                    if conn is None:
                        continue
                    try:
                        if ev & _EPOLLOUT and conn.backlog:
                            conn._drain()
                        if ev & (_EPOLLIN | _EPOLLERR | _EPOLLHUP) and not conn.dead and not conn.paused:
                            self._read(conn)
                    except Exception:  # noqa: BLE001 - a bug here costs one connection, never the server
                        log.exception("connection failed", extra={"peer": conn.peer})
                        self._abort(conn)
                if self.after_batch is not None:
                    self.after_batch()
                if len(events) < HUB_BATCH:
                    break
                await trio.lowlevel.checkpoint()  # let the tick run between big batches

    def _read(self, conn: WsConn) -> None:
        try:
            # A small first read (most reads hold one small frame; asking for
            # 64 KiB costs an allocation that size every time); more if full.
            data = conn.sock.recv(FIRST_RECV_BYTES)
            if len(data) == FIRST_RECV_BYTES:
                try:
                    data += conn.sock.recv(RECV_BYTES)
                except (BlockingIOError, InterruptedError):
                    pass
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._abort(conn)
            return
        n = len(data)
        if not n:
            self._abort(conn)
            return
        conn.bytes_in += n
        conn.last_in = self.now
        if not conn.rbuf and conn.frag is None and conn.skip_op < 0 and not conn.closing and not conn.discard:
            # Fast path: whole final, masked, small (< 126 bytes) binary frames,
            # one per read as a rule, several when the client got ahead of
            # the server; anything else from the first other frame on (a
            # control frame, a fragment, a partial frame) goes to `_feed`.
            pos = 0
            while n - pos >= 6 and data[pos] == 0x82 and 0x80 <= data[pos + 1] < 0x80 + 126:
                end = pos + data[pos + 1] - 0x80 + 6
                if end > n:
                    break
                self.on_message(conn, unmask(data[pos + 6:end], data[pos + 2:pos + 6]), False)
                pos = end
                if conn.dead or conn.closing or conn.discard:
                    break
            if pos == n or conn.dead:
                return
            if pos:
                data = data[pos:]
        conn.rbuf += data
        self._process(conn)

    def _process(self, conn: WsConn) -> None:
        if conn.discard:
            conn.rbuf.clear()
            self._hold(conn)
            return
        try:
            conn._feed()
        except ProtocolViolation as exc:
            self.fail(conn, exc.code, exc.reason)
            return
        self._hold(conn)

    def fail(self, conn: WsConn, code: int, reason: str, kind: str = "") -> None:
        """Fail the connection: close frame, then our side shut; what the
        peer still sends is read and dropped (closing a socket with unread
        data would reset it and lose the close frame)."""
        if conn.dead:
            return
        if kind:
            self.stats[kind] += 1
        elif code == CLOSE_TOO_BIG:
            self.stats["closed_too_big"] += 1
        else:
            self.stats["protocol_errors"] += 1
        self.throttle(logging.INFO, kind or f"ws_{code}", f"closing connection: {reason}",
                      peer=conn.peer, code=code)
        conn.rbuf.clear()
        conn.discard = True
        conn.frag = None
        conn.frag_size = 0
        conn.skip_left = 0
        conn.skip_op = -1
        conn.skip_head = b""
        conn.partial_since = 0.0
        self._partial.discard(conn)
        self._hold(conn)
        if not conn.closing:
            conn.close(code, reason)
        self._shutdown(conn)

    def _hold(self, conn: WsConn) -> None:
        """Account the input `conn` buffers (unparsed bytes and fragments so far)."""
        held = len(conn.rbuf) + conn.frag_size
        if held or conn.skip_op >= 0:
            # The clock of the unfinished frame (or message) restarts when a
            # whole message was read, never on mere bytes of the same one.
            if not conn.partial_since or conn.progress:
                conn.partial_since = self.now or trio.current_time()
                self._partial.add(conn)
        elif conn.partial_since:
            conn.partial_since = 0.0
            self._partial.discard(conn)
        conn.progress = False
        if held == conn.held:
            return
        self.held_bytes += held - conn.held
        conn.held = held
        if held:
            self._holding.add(conn)
            if self.held_bytes > self.max_held_bytes:
                self._over_budget()
        else:
            self._holding.discard(conn)

    def _over_budget(self) -> None:
        """Past the budget of buffered input: close the largest holders first."""
        for conn in sorted(self._holding, key=lambda c: c.held, reverse=True):
            if self.held_bytes <= self.max_held_bytes * 3 // 4:
                break
            self.fail(conn, CLOSE_INPUT_BUDGET, "the server's input budget is spent; send smaller frames",
                      "closed_input_budget")

    async def _sweep(self) -> None:
        """Timeouts: closing handshakes, backlogs, unfinished frames (4 times a
        second), then idle and not-admitted connections (once a second)."""
        step = max(0.02, min(0.25, self.close_timeout / 4, self.write_timeout / 4, self.frame_timeout / 4,
                             (self.idle_timeout or 1) / 8))
        last_full = 0.0
        while True:
            await trio.sleep(step)
            now = trio.current_time()
            if self._closing:
                for conn in [c for c in self._closing if now - c.closing_since >= self.close_timeout]:
                    self._abort(conn)
            if self._writing:
                for conn in [c for c in self._writing if now - c.out_since >= self.write_timeout]:
                    self._slow(conn, "closed_write_timeout")
            if self._partial:
                # (not while paused: its frame cannot complete while it is not read)
                late = [c for c in self._partial if now - c.partial_since >= self.frame_timeout and not c.paused]
                for conn in late:
                    self.fail(conn, CLOSE_FRAME_TIMEOUT, "frame not completed in time", "closed_frame_timeout")
            if now - last_full >= min(1.0, step * 4):
                last_full = now
                self._sweep_lifecycle(now)

    def _sweep_lifecycle(self, now: float) -> None:
        idle = self.idle_timeout
        half = idle / 2
        for conn in list(self.conns.values()):
            if conn.dead or conn.closing:
                continue
            if conn.admit_by and now >= conn.admit_by:
                self.fail(conn, CLOSE_LOGIN_TIMEOUT, "not logged in in time", "closed_admit_timeout")
            elif idle:
                quiet = now - conn.last_in
                if quiet >= idle:
                    self.fail(conn, CLOSE_IDLE, "idle: nothing received in time", "closed_idle")
                elif quiet >= half and not conn.pinged:
                    conn.pinged = True
                    self.stats["idle_pings"] += 1
                    conn._write(frame_header(OP_PING, 4) + b"idle")
                elif quiet < half:
                    conn.pinged = False

    # --- state changes --------------------------------------------------------------
    def _watch_write(self, conn: WsConn, on: bool) -> None:
        if conn.dead or conn.want_write == on:
            return
        conn.want_write = on
        if on:
            self._writing.add(conn)
        else:
            self._writing.discard(conn)
        self._epoll_mask(conn)

    def _epoll_mask(self, conn: WsConn) -> None:
        mask = 0 if conn.paused else _EPOLLIN
        if conn.want_write:
            mask |= _EPOLLOUT
        try:
            self._ep.modify(conn.fd, mask)
        except OSError:
            pass

    def _pause(self, conn: WsConn, on: bool) -> None:
        """Stop (or resume) reading `conn`'s requests while its output waits."""
        if conn.dead or conn.paused == on:
            return
        conn.paused = on
        if on:
            self.stats["read_pauses"] += 1
        self._epoll_mask(conn)
        if not on and not conn.discard and (conn.rbuf or conn.skip_left):
            self._process(conn)

    def _check_out(self, conn: WsConn) -> None:
        """The backlog grew: pause reading over half the byte budget, drop the
        client over the budget or the frame count."""
        if conn.out_bytes > self.max_out_bytes or len(conn.backlog) > self.max_backlog:
            self._slow(conn, "closed_slow")
        elif conn.out_bytes > self.pause_out_bytes and not conn.paused:
            self._pause(conn, True)

    def _shutdown(self, conn: WsConn) -> None:
        """No more writes: the peer reads our close frame, then EOF."""
        if conn.backlog:
            conn.shut_pending = True
            return
        conn.shut_pending = False
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _finish(self, conn: WsConn) -> None:
        """Close after the close handshake (or a fatal error): flush what we can, then go."""
        if conn.backlog:
            try:
                conn._drain()
            except Exception:  # noqa: BLE001
                pass
        self._abort(conn)

    def _slow(self, conn: WsConn, kind: str = "closed_slow") -> None:
        """Drop a client that does not read its output: what waits is freed at
        once; a close frame (4001) goes out if the stream is between frames
        and the socket takes it, then the connection is closed."""
        if conn.dead:
            return
        self.stats[kind] += 1
        self.throttle(logging.WARNING, kind, "dropping a client that does not read its output",
                      peer=conn.peer, waiting_bytes=conn.out_bytes, waiting_frames=len(conn.backlog))
        if self.on_slow is not None:
            self.on_slow(conn)
        between_frames = not conn.backlog or conn.backlog[0].__class__ is not memoryview
        conn.backlog = []
        conn.out_bytes = 0
        if conn.close_code is None:
            conn.close_code = CLOSE_SLOW
        if between_frames and not conn.closing:
            try:
                conn.sock.send(frame_header(OP_CLOSE, 2) + close_payload(CLOSE_SLOW))
            except OSError:
                pass
        self._abort(conn)

    def _abort(self, conn: WsConn) -> None:
        if conn.dead:
            return
        conn.dead = True
        conn.backlog = []
        conn.out_bytes = 0
        conn.rbuf = bytearray()
        conn.frag = None
        conn.frag_size = 0
        self._hold(conn)
        self._closing.discard(conn)
        self._writing.discard(conn)
        self._holding.discard(conn)
        self._partial.discard(conn)
        self.conns.pop(conn.fd, None)
        try:
            self._ep.unregister(conn.fd)
        except (OSError, ValueError):
            pass
        try:
            conn.sock.close()
        except OSError:
            pass
        self._release(conn.addr)
        try:
            self.on_closed(conn)
        except Exception:  # noqa: BLE001 - the owner's bug must not break the hub
            log.exception("on_closed failed")


def raise_nofile_limit() -> int:
    """Raise this process's descriptor limit (soft) to its hard limit where
    allowed; return the soft limit in force."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft != resource.RLIM_INFINITY and soft < hard:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
                soft = hard
            except (ValueError, OSError):
                pass
        return soft
    except (ImportError, ValueError, OSError):
        return 0


def _open_reserve() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None


def _refuse(sock: socket.socket, status: int, body: bytes) -> None:
    """Answer a connection over a cap at once (no handshake task) and close it."""
    try:
        sock.setblocking(False)
        try:
            sock.recv(MAX_HANDSHAKE_BYTES)  # the request, if here: closing on unread data would reset
        except OSError:
            pass
        _http(sock, status, body, extra="Retry-After: 5\r\n" if status == 503 else "")
    finally:
        sock.close()


class HttpAnswer:
    """A plain HTTP response to a request the server does not upgrade: the
    status line's code and reason, the headers and the whole body (sent once,
    then the connection is closed)."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...], body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def encode(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines += [f"Content-Length: {len(self.body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + self.body


async def _send_answer(sock, answer: HttpAnswer) -> None:
    """Write a whole HTTP answer to a non-blocking socket (within the
    handshake's timeout), then shut our side and read what the client still
    sends, as `_http` does."""
    view = memoryview(answer.encode())
    try:
        while view:
            try:
                sent = sock.send(view)
            except (BlockingIOError, InterruptedError):
                await trio.lowlevel.wait_writable(sock)
                continue
            view = view[sent:]
        sock.shutdown(socket.SHUT_WR)
        for _ in range(16):
            try:
                if not sock.recv(65536):
                    break
            except (BlockingIOError, InterruptedError):
                with trio.move_on_after(1):
                    await trio.lowlevel.wait_readable(sock)
                    continue
                break
    except OSError:
        pass


def _http(sock, status: int, body: bytes, extra: str = "") -> None:
    """Answer an HTTP request that is not upgraded; the caller closes the socket."""
    reason = {400: "Bad Request", 404: "Not Found", 426: "Upgrade Required", 429: "Too Many Requests",
              431: "Request Header Fields Too Large", 503: "Service Unavailable"}
    head = (
        f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode("ascii")
    try:
        sock.send(head + body)
        # Read what the client already sent: closing a socket with unread
        # data resets it, and the client could lose the answer.
        sock.shutdown(socket.SHUT_WR)
        for _ in range(16):
            if not sock.recv(65536):
                break
    except OSError:
        pass
