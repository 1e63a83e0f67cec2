"""Sessions: a logged-in player's identity and event stream, which outlive
any one connection.

A session numbers its events (`seq` from 1, +1 per event, never restarting)
and keeps the most recent ones, already encoded, so `session.resume` on a new
connection can replay what the client missed: at most `event_buffer` events
and at most `event_buffer_bytes` bytes of them, packed end to end in one
`bytearray` (plus an array of their lengths), so a session costs a few KB
however busy its matches are. When a replay would need an event that is gone,
the gateway sends fresh snapshots instead (PROTOCOL.md, session.resume). A session without a
connection is kept for `session_ttl_ms`, long enough to cover the disconnect
grace period.
"""

from __future__ import annotations

import secrets
from array import array

from .codec import _FIXINT, pack_uint

DEFAULT_BUFFER_BYTES = 8192


class Session:
    __slots__ = ("id", "wallet", "seq", "buf", "lens", "max_events", "max_bytes", "conn", "detached_at")

    def __init__(self, wallet: str, buffer_size: int, sid: str | None = None,
                 buffer_bytes: int = DEFAULT_BUFFER_BYTES):
        self.id = sid or secrets.token_urlsafe(24)
        self.wallet = wallet
        self.seq = 0
        self.buf = bytearray()  # the last events' envelopes, oldest first, end to end
        self.lens = array("I")  # their lengths; the last one has seq == self.seq
        self.max_events = buffer_size
        self.max_bytes = buffer_bytes
        self.conn = None
        self.detached_at: float | None = None

    def push_event(self, encoded) -> None:
        """Number, keep and send one event (`encoded`: an EncodedEvent)."""
        self.seq = seq = self.seq + 1
        # The envelope [2, seq, type, body], inlined from EncodedEvent.envelope:
        # this runs once per event per session, the hottest line under load.
        env = (b"\x94\x02" + _FIXINT[seq] if seq < 128 else b"\x94\x02" + pack_uint(seq)) + encoded.tail
        buf = self.buf
        lens = self.lens
        buf += env
        lens.append(len(env))
        if len(buf) > self.max_bytes or len(lens) > self.max_events:
            self._trim()
        conn = self.conn
        if conn is not None:
            out = conn.outbox
            if not out:
                conn.gateway.dirty.append(conn)
            out.append(env)

    def _trim(self) -> None:
        # Down to 3/4 of the byte limit, so trimming happens in bursts rather
        # than at every event once the buffer is full.
        buf, lens = self.buf, self.lens
        size, count = len(buf), len(lens)
        keep_bytes = self.max_bytes - (self.max_bytes >> 2)
        drop = k = 0
        while k < count and (size - drop > keep_bytes or count - k > self.max_events):
            drop += lens[k]
            k += 1
        del lens[:k]
        del buf[:drop]

    @property
    def buffered(self) -> int:
        """How many events are kept for replay."""
        return len(self.lens)

    def missed_since(self, last_seq: int) -> list[bytes] | None:
        """Envelopes with seq > last_seq, or None if any of them is gone."""
        if last_seq >= self.seq:
            return []
        missing = self.seq - last_seq
        lens = self.lens
        if missing > len(lens):
            return None
        sizes = lens[len(lens) - missing:]
        pos = len(self.buf) - sum(sizes)
        out = []
        for n in sizes:
            out.append(bytes(self.buf[pos:pos + n]))
            pos += n
        return out


class SessionRegistry:
    def __init__(self, buffer_size: int, buffer_bytes: int = DEFAULT_BUFFER_BYTES):
        self.buffer_size = buffer_size
        self.buffer_bytes = buffer_bytes
        self.by_id: dict[str, Session] = {}
        self.by_wallet: dict[str, dict[str, Session]] = {}
        # wallet -> number of its sessions attached to a live connection
        self.live: dict[str, int] = {}

    def create(self, wallet: str) -> Session:
        s = Session(wallet, self.buffer_size, buffer_bytes=self.buffer_bytes)
        self.by_id[s.id] = s
        self.by_wallet.setdefault(wallet, {})[s.id] = s
        return s

    def get(self, sid: str) -> Session | None:
        return self.by_id.get(sid)

    def sessions_of(self, wallet: str):
        return self.by_wallet.get(wallet, {}).values()

    def attach(self, s: Session, conn) -> bool:
        """Bind a session to a connection; True if the wallet just came online."""
        s.conn = conn
        s.detached_at = None
        n = self.live.get(s.wallet, 0) + 1
        self.live[s.wallet] = n
        return n == 1

    def detach(self, s: Session, now: float) -> bool:
        """Unbind a session from its connection; True if the wallet went offline."""
        if s.conn is None:
            return False
        s.conn = None
        s.detached_at = now
        n = self.live.get(s.wallet, 1) - 1
        if n <= 0:
            self.live.pop(s.wallet, None)
            return True
        self.live[s.wallet] = n
        return False

    def expire(self, now: float, ttl: float) -> int:
        gone = [s for s in self.by_id.values() if s.conn is None and s.detached_at is not None
                and now - s.detached_at > ttl]
        for s in gone:
            del self.by_id[s.id]
            mine = self.by_wallet.get(s.wallet)
            if mine is not None:
                mine.pop(s.id, None)
                if not mine:
                    del self.by_wallet[s.wallet]
        return len(gone)
