"""Sessions: a logged-in player's identity and event stream, which outlive
any one connection.

A session numbers its events (`seq` from 1, +1 per event, never restarting)
and keeps the most recent ones, already encoded, so `session.resume` on a new
connection can replay what the client missed: at most `event_buffer` events
and at most `event_buffer_bytes` bytes of them (the encoded events are shared
with every other recipient, not copied), so a session costs a few KB however
busy its matches are. When a replay would need an event that is gone,
the gateway sends fresh snapshots instead (PROTOCOL.md, session.resume). A session without a
connection is kept for `session_ttl_ms`, long enough to cover the disconnect
grace period.
"""

from __future__ import annotations

import secrets
from collections import deque

from .codec import FIXINT, event_envelope, pack_uint

DEFAULT_BUFFER_BYTES = 8192


# `[2, seq,` for the first 127 event numbers (a MessagePack fixint is the byte).
_EVENT_HEADS = [b"\x94\x02" + FIXINT[i] for i in range(128)]


class Session:
    __slots__ = ("id", "wallet", "seq", "tails", "tail_bytes", "max_events", "max_bytes", "conn", "detached_at")

    def __init__(self, wallet: str, buffer_size: int, sid: str | None = None,
                 buffer_bytes: int = DEFAULT_BUFFER_BYTES):
        self.id = sid or secrets.token_urlsafe(24)
        self.wallet = wallet
        self.seq = 0
        # The last events, as their encoded type+body (`codec.event_tail`),
        # oldest first; the last one has seq == self.seq. The tails are the
        # very objects every recipient of the event shares, so keeping them
        # copies nothing; an envelope is rebuilt with its seq on replay.
        self.tails: deque[bytes] = deque()
        self.tail_bytes = 0  # their total size (counted in full by each session)
        self.max_events = buffer_size
        self.max_bytes = buffer_bytes
        self.conn = None
        self.detached_at: float | None = None

    def push_event(self, tail: bytes) -> None:
        """Number, keep and send one event (`tail`: its `codec.event_tail`)."""
        self.seq = seq = self.seq + 1
        # The envelope [2, seq, type, body], inlined from codec.event_envelope:
        # this runs once per event per session, the hottest line under load.
        if seq < 128:
            env = _EVENT_HEADS[seq] + tail
        elif seq < 0x10000:  # MessagePack uint16: a session's first ~55 minutes at 20 events/s
            env = b"\x94\x02\xcd" + seq.to_bytes(2, "big") + tail
        else:
            env = b"\x94\x02" + pack_uint(seq) + tail
        tails = self.tails
        tails.append(tail)
        self.tail_bytes = size = self.tail_bytes + len(tail)
        if size > self.max_bytes or len(tails) > self.max_events:
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
        tails = self.tails
        keep_bytes = self.max_bytes - (self.max_bytes >> 2)
        size = self.tail_bytes
        while tails and (size > keep_bytes or len(tails) > self.max_events):
            size -= len(tails.popleft())
        self.tail_bytes = size

    @property
    def buffered(self) -> int:
        """How many events are kept for replay."""
        return len(self.tails)

    def missed_since(self, last_seq: int) -> list[bytes] | None:
        """Envelopes with seq > last_seq, or None if any of them is gone."""
        if last_seq >= self.seq:
            return []
        missing = self.seq - last_seq
        tails = self.tails
        if missing > len(tails):
            return None
        first = last_seq + 1
        kept = list(tails)[len(tails) - missing:]
        return [event_envelope(first + i, t) for i, t in enumerate(kept)]


class SessionRegistry:
    # Persistence hooks (arena.persistence): None until `track()` is called.
    created: list | None = None  # sessions created since the store last took them
    gone: list | None = None  # ids of sessions expired since then
    restored: set | None = None  # ids of sessions read back after a restart, not yet resumed

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
        if self.created is not None:
            self.created.append(s)
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
            if self.gone is not None:
                self.gone.append(s.id)
            mine = self.by_wallet.get(s.wallet)
            if mine is not None:
                mine.pop(s.id, None)
                if not mine:
                    del self.by_wallet[s.wallet]
        return len(gone)

    # --- persistence (arena.persistence): sessions survive a restart -----------------
    def track(self) -> None:
        """Start recording created and expired sessions for the store."""
        self.created, self.gone, self.restored = list(self.by_id.values()), [], set()

    def restore(self, sid: str, wallet: str, seq: int, now: float) -> Session:
        """A session read back from the store after a restart: detached since
        `now`, numbering at `seq`, its event buffer lost."""
        s = Session(wallet, self.buffer_size, sid, buffer_bytes=self.buffer_bytes)
        s.seq = seq
        s.detached_at = now
        self.by_id[sid] = s
        self.by_wallet.setdefault(wallet, {})[sid] = s
        if self.restored is not None:
            self.restored.add(sid)
        return s

    def resume_restored(self, s: Session, last_seq: int) -> bool:
        """True (once) if `s` was restored after a restart: its first resume
        gets fresh snapshots in place of the events lost with the process,
        numbered on from the client's `last_seq`. The store's count may be
        ahead of it (events buffered for a detached session) or behind it
        (events sent after the count was last written): either way the
        client sees no gap, and no number twice."""
        if not self.restored or s.id not in self.restored:
            return False
        self.restored.discard(s.id)
        s.seq = last_seq
        return True
