"""A world's identity and its single writer.

A *world* is one store: one journal, one series of snapshots, one book, and
every match ever played in it. When a store is created it is given a random
id (63 bits, shown as 16 hex digits), kept in its `meta` table (`k = 'world'`)
and in the engine state (`EngineState.world`, part of the state hash). Match
ids are drawn from it, so no two worlds ever share a match id or an
idempotency key built from one, whatever their seeds; the ledger's records
are bound to it (they refuse to serve another world).

A world has one writer. The process that runs a store holds an exclusive
lock for its whole life: a `flock` on `<store path>.lock` for SQLite, a
session-level advisory lock for PostgreSQL. Both are released by the
operating system or the database when the process dies (even by `kill -9`),
so a stale lock never needs a hand to clear. A second server on the same
store refuses to start and names the holder (host, pid, since when).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from pathlib import Path

from .store import StoreError


def new_world_id() -> int:
    """A fresh world's id as stored in `meta` (a positive 63-bit integer)."""
    return secrets.randbits(63) | 1


def world_name(n: int) -> str:
    """The id as the state and the logs show it: 16 hex digits."""
    return f"{n:016x}"


def holder_info() -> dict:
    """Who this process is, for the message a second writer gets."""
    return {"host": socket.gethostname()[:40], "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def describe_holder(info: dict | None) -> str:
    if not info:
        return "another process (it did not say who it is)"
    return f"pid {info.get('pid')} on host {info.get('host')} since {info.get('since')}"


class WriterLockHeld(StoreError):
    """Another process is this world's writer: this one must not start."""


class FileWriterLock:
    """An exclusive `flock` on a file beside the SQLite store, for the process's life."""

    def __init__(self, store_path: str | os.PathLike):
        self.path = Path(f"{store_path}.lock")
        self._fd: int | None = None

    def acquire(self, what: str) -> None:
        import fcntl

        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                info = None
            os.close(fd)
            raise WriterLockHeld(
                f"{what} is already in use by {describe_holder(info)} (lock {self.path}); "
                "one server per store: stop that one, or give this one another [store] path") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder_info()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock
