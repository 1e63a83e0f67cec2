"""Sessions: a logged-in player's identity and event stream, which outlive
any one connection.

A session numbers its events (`seq` from 1, +1 per event, never restarting)
and keeps the most recent ones, already encoded, so `session.resume` on a new
connection can replay what the client missed. A session without a
connection is kept for `session_ttl_ms`, long enough to cover the disconnect
grace period.
"""

from __future__ import annotations

import secrets
from collections import deque


class Session:
    __slots__ = ("id", "wallet", "seq", "buffer", "conn", "detached_at")

    def __init__(self, wallet: str, buffer_size: int, sid: str | None = None):
        self.id = sid or secrets.token_urlsafe(24)
        self.wallet = wallet
        self.seq = 0
        self.buffer: deque = deque(maxlen=buffer_size)  # (seq, envelope bytes)
        self.conn = None
        self.detached_at: float | None = None

    def push_event(self, encoded) -> None:
        self.seq += 1
        env = encoded.envelope(self.seq)
        self.buffer.append((self.seq, env))
        conn = self.conn
        if conn is not None:
            conn.queue(env)

    def missed_since(self, last_seq: int) -> list[bytes] | None:
        """Envelopes with seq > last_seq, or None if any of them is gone."""
        if last_seq >= self.seq:
            return []
        buf = self.buffer
        if not buf or buf[0][0] > last_seq + 1:
            return None
        return [env for s, env in buf if s > last_seq]


class SessionRegistry:
    # Persistence hooks (arena.persistence): None until `track()` is called.
    created: list | None = None  # sessions created since the store last took them
    gone: list | None = None  # ids of sessions expired since then
    restored: set | None = None  # ids of sessions read back after a restart, not yet resumed

    def __init__(self, buffer_size: int):
        self.buffer_size = buffer_size
        self.by_id: dict[str, Session] = {}
        self.by_wallet: dict[str, dict[str, Session]] = {}
        # wallet -> number of its sessions attached to a live connection
        self.live: dict[str, int] = {}

    def create(self, wallet: str) -> Session:
        s = Session(wallet, self.buffer_size)
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
        s = Session(wallet, self.buffer_size, sid)
        s.seq = seq
        s.detached_at = now
        self.by_id[sid] = s
        self.by_wallet.setdefault(wallet, {})[sid] = s
        if self.restored is not None:
            self.restored.add(sid)
        return s

    def resume_restored(self, s: Session, last_seq: int) -> bool:
        """True (once) if `s` was restored after a restart: its first resume
        gets fresh snapshots, and since the client may have seen events the
        store had not yet counted, numbering goes on from the higher seq."""
        if not self.restored or s.id not in self.restored:
            return False
        self.restored.discard(s.id)
        s.seq = max(s.seq, last_seq)
        return True
