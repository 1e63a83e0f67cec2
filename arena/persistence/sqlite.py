"""The embedded store: one SQLite file, standard library only.

Every call runs in a worker thread (`trio.to_thread`, one at a time through a
capacity limiter of 1), so the tick loop never waits on the disk; each
`write` is one transaction. The platform's read requests (leaderboards,
history, profiles) run on a second, read-only connection behind a limiter
of their own: in WAL mode a reader never blocks the writer, so a flood of
reads cannot queue in front of the journal. The database is in WAL mode with
`synchronous=FULL`: a committed transaction survives a killed process and a
power cut.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import trio

from . import mode_tables, reads, schema
from .store import LedgerBatch, Recovery, StoreError, TickBatch
from .world import FileWriterLock, new_world_id

_QUERIES = {
    "outbox": "SELECT key, kind, tick, done_tick FROM outbox ORDER BY tick, key",
    "inbox": "SELECT key, done_tick FROM inbox ORDER BY key",
    "sessions": "SELECT id, wallet, seq FROM sessions ORDER BY id",
    "mode_records": "SELECT mode, kind, key, tick, data FROM mode_records ORDER BY mode, kind, key",
    "api_keys": "SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY name",
    "audit_log": "SELECT id, at, actor, role, action, detail, result FROM audit_log ORDER BY id",
}


_BOARD_PAGE = reads.lite(reads.BOARD_PAGE)
_BOARD_POSITION = reads.lite(reads.BOARD_POSITION)


class SqliteStore:
    kind = "embedded"

    def __init__(self, path: str | os.PathLike, *, synchronous: str = "FULL"):
        self.path = Path(path)
        self.synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)
        self._read_db: sqlite3.Connection | None = None
        self._writer_lock = FileWriterLock(self.path) if str(path) != ":memory:" else None
        self.stats = {"writes": 0, "rows": 0, "write_ms_max": 0.0, "write_ms_last": 0.0}

    # --- plumbing ---------------------------------------------------------------------
    async def _run(self, fn, *args):
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def _read(self, fn):
        """`fn(connection)` in one read transaction on the read connection
        (on the one connection for an in-memory database, which no second
        connection can see)."""
        if str(self.path) == ":memory:":
            return await self._run(lambda: fn(self.db))
        return await trio.to_thread.run_sync(self._on_reader, fn, limiter=self._read_limiter)

    def _on_reader(self, fn):
        self.db  # noqa: B018 - raises StoreError when the store is not open
        if self._read_db is None:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
            db.execute("PRAGMA query_only=ON")
            self._read_db = db
        db = self._read_db
        db.execute("BEGIN")  # one snapshot for every statement of `fn`
        try:
            return fn(db)
        finally:
            db.execute("COMMIT")

    def _connect(self) -> None:
        if self._db is not None:
            return
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute("PRAGMA foreign_keys=ON")
        self._db = db

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    def _tx(self, fn):
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            out = fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return out

    # --- lifecycle -----------------------------------------------------------------------
    async def open(self) -> None:
        await self._run(self._connect)
        await self.migrate()

    async def close(self) -> None:
        reader, self._read_db = self._read_db, None
        if reader is not None:
            await trio.to_thread.run_sync(reader.close, limiter=self._read_limiter)
        db, self._db = self._db, None
        if db is not None:
            await self._run(db.close)
        self.release_writer()

    def release_writer(self) -> None:
        """Give up the writer's lock now (the server's run ended, however it ended)."""
        if self._writer_lock is not None:
            self._writer_lock.release()

    async def acquire_writer(self) -> None:
        """Become the world's one writer, or raise `WriterLockHeld` naming the holder."""
        if self._writer_lock is not None:
            self._writer_lock.acquire(f"the store {self.path}")

    async def world_id(self) -> int:
        """The world's id, given to the store now if it has none yet."""
        def run():
            def fn(db):
                row = db.execute("SELECT v FROM meta WHERE k = 'world'").fetchone()
                if row is not None:
                    return row[0]
                n = new_world_id()
                db.execute("INSERT INTO meta (k, v) VALUES ('world', ?)", (n,))
                return n

            return self._tx(fn)

        return await self._run(run)

    def _version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    async def schema_version(self) -> int:
        return await self._run(self._version)

    async def migrate(self) -> list[int]:
        def run():
            self._connect()
            done = []
            current = self._version()
            for version, statements in schema.SQLITE:
                if version <= current:
                    continue

                def apply(db, statements=statements, version=version):
                    for sql in statements:
                        db.execute(sql)
                    db.execute(f"PRAGMA user_version={int(version)}")

                self._tx(apply)
                done.append(version)
            have = {(m, v) for m, v in self.db.execute("SELECT mode, version FROM mode_migrations")}
            for mode, version, statements in mode_tables.pending_migrations("sqlite", have):

                def apply_mode(db, statements=statements, mode=mode, version=version):
                    for sql in statements:
                        db.execute(sql)
                    db.execute("INSERT INTO mode_migrations (mode, version) VALUES (?, ?)", (mode, version))

                self._tx(apply_mode)
                done.append(f"{mode}:{version}")
            return done

        return await self._run(run)

    # --- recovery ------------------------------------------------------------------------
    async def load_recovery(self) -> Recovery:
        def run():
            db = self.db
            rec = Recovery()
            row = db.execute("SELECT tick, hash, data FROM snapshots ORDER BY tick DESC LIMIT 1").fetchone()
            if row is not None:
                rec.snapshot_tick, rec.snapshot_hash, rec.snapshot = row[0], row[1], bytes(row[2])
                rec.journal = [(t, bytes(b)) for t, b in
                               db.execute("SELECT tick, inputs FROM journal WHERE tick > ? ORDER BY tick", (row[0],))]
            rec.durable_tick = self._durable_tick()
            rec.outbox = [(k, kind, t, bytes(e)) for k, kind, t, e in db.execute(
                "SELECT key, kind, tick, effect FROM outbox WHERE done_tick IS NULL ORDER BY tick, key")]
            rec.inbox = [(k, bytes(i)) for k, i in db.execute(
                "SELECT key, input FROM inbox WHERE done_tick IS NULL ORDER BY rowid")]
            rec.sessions = [tuple(r) for r in db.execute("SELECT id, wallet, seq FROM sessions")]
            rec.ledger_entries, rec.ledger_keys = self._ledger()
            return rec

        return await self._run(run)

    def _durable_tick(self) -> int:
        row = self.db.execute("SELECT v FROM meta WHERE k = 'durable_tick'").fetchone()
        return row[0] if row else 0

    async def durable_tick(self) -> int:
        return await self._run(self._durable_tick)

    def _ledger(self):
        db = self.db
        entries = [tuple(r) for r in db.execute(
            "SELECT entry_id, key, debit, credit, amount FROM ledger_entries ORDER BY entry_id")]
        keys = [r[0] for r in db.execute("SELECT key FROM ledger_keys")]
        return entries, keys

    async def ledger_entries(self) -> tuple[list, list]:
        return await self._run(self._ledger)

    async def snapshot_list(self) -> list[tuple[int, str]]:
        return await self._run(lambda: [tuple(r) for r in self.db.execute(
            "SELECT tick, hash FROM snapshots ORDER BY tick")])

    async def load_snapshot(self, tick: int) -> bytes:
        def run():
            row = self.db.execute("SELECT data FROM snapshots WHERE tick = ?", (tick,)).fetchone()
            if row is None:
                raise StoreError(f"no snapshot at tick {tick}")
            return bytes(row[0])

        return await self._run(run)

    async def load_journal(self, after: int, upto: int | None = None) -> list[tuple[int, bytes]]:
        hi = upto if upto is not None else 2**62
        return await self._run(lambda: [(t, bytes(b)) for t, b in self.db.execute(
            "SELECT tick, inputs FROM journal WHERE tick > ? AND tick <= ? ORDER BY tick", (after, hi))])

    # --- writes --------------------------------------------------------------------------
    async def write(self, batch: TickBatch) -> None:
        def apply(db: sqlite3.Connection):
            db.executemany("INSERT OR REPLACE INTO journal (tick, inputs) VALUES (?, ?)", batch.ticks)
            db.executemany("INSERT OR REPLACE INTO snapshots (tick, hash, data) VALUES (?, ?, ?)", batch.snapshots)
            if batch.snapshots and batch.keep_snapshots > 0:
                row = db.execute("SELECT tick FROM snapshots ORDER BY tick DESC LIMIT 1 OFFSET ?",
                                 (batch.keep_snapshots - 1,)).fetchone()
                if row is not None:  # the oldest snapshot kept; older ones and the journal up to it go
                    db.execute("DELETE FROM snapshots WHERE tick < ?", (row[0],))
                    db.execute("DELETE FROM journal WHERE tick <= ?", (row[0],))
            db.executemany("INSERT OR IGNORE INTO outbox (key, kind, tick, effect) VALUES (?, ?, ?, ?)",
                           batch.outbox_add)
            db.executemany("UPDATE outbox SET done_tick = ? WHERE key = ? AND done_tick IS NULL",
                           [(t, k) for k, t in batch.outbox_done])
            db.executemany("UPDATE inbox SET done_tick = ? WHERE key = ? AND done_tick IS NULL",
                           [(t, k) for k, t in batch.inbox_done])
            db.executemany(
                "INSERT INTO sessions (id, wallet, seq) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE"
                " SET seq = max(seq, excluded.seq), updated_at = datetime('now')", batch.sessions)
            db.executemany("DELETE FROM sessions WHERE id = ?", [(s,) for s in batch.sessions_gone])
            _write_records(db, batch.records)
            db.execute("INSERT INTO meta (k, v) VALUES ('durable_tick', ?) ON CONFLICT (k) DO UPDATE"
                       " SET v = max(v, excluded.v)", (batch.durable_tick,))

        def run():
            t0 = time.perf_counter()
            self._tx(apply)
            ms = (time.perf_counter() - t0) * 1000
            self.stats["writes"] += 1
            self.stats["rows"] += batch.size()
            self.stats["write_ms_last"] = round(ms, 3)
            self.stats["write_ms_max"] = max(self.stats["write_ms_max"], round(ms, 3))

        await self._run(run)

    async def add_inbox(self, key: str, encoded: bytes) -> bool:
        def apply(db: sqlite3.Connection) -> bool:
            return db.execute("INSERT OR IGNORE INTO inbox (key, input) VALUES (?, ?)", (key, encoded)).rowcount == 1

        return await self._run(lambda: self._tx(apply))

    async def write_ledger(self, batch: LedgerBatch) -> None:
        def apply(db: sqlite3.Connection):
            db.executemany("INSERT OR IGNORE INTO ledger_entries (entry_id, key, debit, credit, amount) VALUES (?, ?, ?, ?, ?)",
                           batch.entries)
            db.executemany("INSERT OR IGNORE INTO ledger_keys (key) VALUES (?)", [(k,) for k in batch.keys])
            db.executemany("INSERT OR IGNORE INTO inbox (key, input) VALUES (?, ?)", batch.inbox)

        await self._run(lambda: self._tx(apply))

    # --- credentials and the audit log ----------------------------------------------------
    async def add_api_key(self, key_id: str, name: str, role: str, hashed: str) -> bool:
        """False if a key of that name exists already."""
        def apply(db):
            return db.execute("INSERT OR IGNORE INTO api_keys (id, name, role, hash) VALUES (?, ?, ?, ?)",
                              (key_id, name, role, hashed)).rowcount == 1

        return await self._run(lambda: self._tx(apply))

    async def api_key(self, key_id: str) -> dict | None:
        def run():
            row = self.db.execute("SELECT id, name, role, hash, revoked_at FROM api_keys WHERE id = ?",
                                  (key_id,)).fetchone()
            return dict(zip(("id", "name", "role", "hash", "revoked_at"), row)) if row else None

        return await self._run(run)

    async def revoke_api_key(self, name: str) -> bool:
        def apply(db):
            return db.execute("UPDATE api_keys SET revoked_at = datetime('now') WHERE name = ? AND revoked_at IS NULL",
                              (name,)).rowcount == 1

        return await self._run(lambda: self._tx(apply))

    async def audit(self, actor: str, role: str, action: str, detail: str, result: str) -> None:
        def apply(db):
            db.execute("INSERT INTO audit_log (actor, role, action, detail, result) VALUES (?, ?, ?, ?, ?)",
                       (actor, role, action, detail, result))

        await self._run(lambda: self._tx(apply))

    # --- reads for operators ---------------------------------------------------------
    async def query(self, name: str, params: tuple = (), **args) -> list[dict]:
        sql = _QUERIES.get(name) or mode_tables.query_sql("sqlite", name)
        if sql is None:
            raise KeyError(name)

        def run():
            cur = self.db.execute(sql, tuple(params))
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur]

        return await self._run(run)

    async def refresh_leaderboard(self) -> None:
        return None  # a plain view: always current

    # --- the platform's reads (leaderboards, history, profiles; see `reads`) -----------
    async def _rows(self, sql: str, params: tuple) -> list:
        return await self._read(lambda db: [tuple(r) for r in db.execute(sql, params)])

    async def leaderboard(self, board: str, period_key: str, limit: int, around: str | None = None) -> list[dict]:
        """A page of `limit` rows of a board: the top, or the page around
        wallet `around` (empty if it has no score there)."""
        def run(db):
            start = 0
            if around is not None:
                row = db.execute(_BOARD_POSITION, (board, period_key) * 3 + (around,)).fetchone()
                if row is None:
                    return []
                start = reads.page_start(row[0], row[1], limit)
            rows = db.execute(_BOARD_PAGE, (board, period_key, limit, start)).fetchall()
            if not rows:
                return []
            above = db.execute(reads.BOARD_ABOVE, (board, period_key, rows[0][1])).fetchone()[0]
            return reads.ranked_page(rows, start, above)

        return await self._read(run)

    async def scores_of(self, wallet: str, period_key: str = "all") -> dict:
        return dict(await self._rows(reads.SCORES_OF, (wallet, period_key)))

    async def history(self, wallet: str, mode: str | None, limit: int, before: tuple | None = None) -> list[dict]:
        """`wallet`'s finished matches, newest first, those before `before`
        ((ended tick, match id), exclusive) only if given."""
        sql = reads.history_sql("sqlite", mode=mode is not None, before=before is not None)
        return reads.decode_history(await self._rows(sql, reads.history_params(wallet, mode, before, limit)))

    async def history_details(self, mode: str, matches: list[str]) -> list[dict]:
        """The mode's detail rows (`Tables.history_details`) of `matches`."""
        sql = mode_tables.history_sql("sqlite", mode)
        if sql is None or not matches:
            return []

        def run(db):
            cur = db.execute(sql, (json.dumps(list(matches)),))
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur]

        return await self._read(run)

    async def profile(self, wallet: str) -> dict | None:
        rows = await self._rows(reads.PROFILE, (wallet,))
        return dict(zip(("wallet", "username", "avatar_url"), rows[0])) if rows else None

    async def set_profile(self, wallet: str, *, username=reads.KEEP, avatar_url=reads.KEEP) -> dict:
        """Change the given fields of `wallet`'s profile (made if it has none);
        `reads.Duplicate` if the username is another wallet's (nothing changes)."""
        def apply(db):
            row = db.execute(reads.PROFILE, (wallet,)).fetchone()
            old = dict(zip(("wallet", "username", "avatar_url"), row)) if row else None
            new = reads.merged_profile(wallet, old, username, avatar_url)
            try:
                db.execute(reads.PROFILE_UPSERT, reads.upsert_params(new))
            except sqlite3.IntegrityError:
                raise reads.Duplicate(new["username"]) from None
            return new

        return await self._run(lambda: self._tx(apply))

    def health(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), **self.stats}


def _write_records(db: sqlite3.Connection, ops: list[tuple]) -> None:
    for op in ops:
        kind = op[0]
        if kind == "mode_record":
            _, mode, rkind, key, data, tick = op
            db.execute("INSERT OR REPLACE INTO mode_records (mode, kind, key, tick, data) VALUES (?, ?, ?, ?, ?)",
                       (mode, rkind, key, tick, data))
        elif kind == "mode_op":  # on a mode's own tables: its statements
            for sql, params in mode_tables.statements("sqlite", op):
                db.execute(sql, params)
        elif kind == "board_add":
            _, board, period, wallet, points, source = op
            if db.execute(reads.BOARD_SOURCE_SQLITE, (board, period, wallet, source)).rowcount == 1:
                db.execute(reads.BOARD_ADD_SQLITE, (board, period, wallet, points))
        elif kind == "match_result":
            _, mode, match, players, ended_at_ms, tick, result = op
            db.execute(reads.RESULT_SQLITE, (match, mode, ended_at_ms, tick, result))
            db.executemany(reads.PLAYER_SQLITE, [(w, match, mode, tick) for w in players])
        else:
            raise ValueError(f"unknown record op {kind!r}")


def decode_breakdown(text: str) -> dict:
    return json.loads(text)
