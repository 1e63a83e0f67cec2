"""The production store: PostgreSQL through asyncpg, bridged into trio.

asyncpg runs on a dedicated asyncio loop in one background thread
(`aiobridge.AsyncioThread`); each store operation is one coroutine (one
transaction) submitted from trio. Writes are batched: one `write` is one
transaction holding every tick that was pending, with `executemany` per
table, never a round trip per input. Inserts are idempotent (ON CONFLICT),
so a batch retried after an unclear failure (the connection dropped during
COMMIT) cannot fail forever or write twice.

The DSN may carry `search_path=<schema>` as a query parameter (asyncpg sends
unknown parameters as server settings); `migrate` creates that schema.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl, urlsplit

from . import lease as leases
from . import mode_tables, reads, schema
from .aiobridge import AsyncioThread
from .lease import FencedOut, LeaseTerms
from .store import LedgerBatch, Recovery, StoreError, TickBatch
from .world import WriterLockHeld, holder_info, new_world_id

# The advisory lock of a world's writer: (this number, hashtext(schema)).
WRITER_LOCK_CLASS = 0x4152454E  # 'AREN'

log = logging.getLogger("arena.store")

_QUERIES = {
    "outbox": "SELECT key, kind, tick, done_tick FROM outbox ORDER BY tick, key",
    "inbox": "SELECT key, done_tick FROM inbox ORDER BY key",
    "sessions": "SELECT id, wallet, seq FROM sessions ORDER BY id",
    "mode_records": "SELECT mode, kind, key, tick, data::text AS data FROM mode_records ORDER BY mode, kind, key",
    "api_keys": "SELECT id, name, role, created_at::text AS created_at, revoked_at::text AS revoked_at FROM api_keys"
                " ORDER BY name",
    "audit_log": "SELECT id, at::text AS at, actor, role, action, detail::text AS detail, result FROM audit_log"
                 " ORDER BY id",
}


def schema_of(dsn: str) -> str | None:
    for k, v in parse_qsl(urlsplit(dsn).query):
        if k == "search_path":
            return v.split(",")[0].strip() or None
    return None


class PostgresStore:
    kind = "postgres"

    def __init__(self, dsn: str, *, connect_timeout: float = 5.0, command_timeout: float = 15.0,
                 pool_size: int = 4, bridge: AsyncioThread | None = None, lease: LeaseTerms | None = None):
        self.dsn = dsn
        # With lease terms, the world is held under a lease with a fencing
        # epoch instead of an advisory lock (arena.persistence.lease).
        self.lease = lease
        self.epoch: int | None = None  # the lease's epoch while this store holds it
        self.schema = schema_of(dsn)
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.pool_size = pool_size
        self.bridge = bridge or AsyncioThread("arena-postgres")
        self._own_bridge = bridge is None
        self._pool = None
        self._pool_lock = None
        self._writer_conn = None  # holds the writer's advisory lock for the process's life
        self.stats = {"writes": 0, "rows": 0, "write_ms_max": 0.0, "write_ms_last": 0.0, "errors": 0}
        self.last_error: str | None = None

    # --- plumbing ----------------------------------------------------------------------
    async def _pool_coro(self):
        import asyncpg

        settings = {}
        if self.lease is not None:
            # A holder stopped mid-transaction must not keep the lease row
            # locked, and its successor waiting, past the lease's length.
            settings["idle_in_transaction_session_timeout"] = str(self.lease.ttl_ms)
        return await asyncpg.create_pool(
            self.dsn, min_size=1, max_size=self.pool_size, timeout=self.connect_timeout,
            command_timeout=self.command_timeout, server_settings=settings or None,
        )

    async def _call(self, fn, *args):
        try:
            return await self.bridge.call(fn, *args)
        except Exception as exc:
            self.stats["errors"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            raise

    async def _with_conn(self, fn, *args, transaction: bool = True):
        """Run `fn(conn, *args)` on a pooled connection (in a transaction) on the asyncio loop."""
        async def go():
            if self._pool is None:
                import asyncio

                if self._pool_lock is None:
                    self._pool_lock = asyncio.Lock()
                async with self._pool_lock:
                    if self._pool is None:
                        self._pool = await self._pool_coro()
            async with self._pool.acquire(timeout=self.connect_timeout) as conn:
                if transaction:
                    async with conn.transaction():
                        return await fn(conn, *args)
                return await fn(conn, *args)

        return await self._call(go)

    # --- lifecycle -----------------------------------------------------------------------
    async def open(self) -> None:
        self.bridge.start()
        version = await self.schema_version()
        if version < schema.LATEST_POSTGRES:
            raise StoreError(
                f"PostgreSQL schema is at version {version}, this build needs {schema.LATEST_POSTGRES}: "
                "run `python -m arena migrate --config <your config>`")
        have = await self._with_conn(
            lambda conn: conn.fetch("SELECT mode, version FROM mode_migrations"), transaction=False)
        missing = mode_tables.pending_migrations("postgres", {(r[0], r[1]) for r in have})
        if missing:
            raise StoreError(
                "PostgreSQL schema lacks the tables of mode(s) "
                + ", ".join(sorted({f"{m} (migration {v})" for m, v, _ in missing}))
                + ": run `python -m arena migrate --config <your config>`")

    async def acquire_writer(self) -> None:
        """Become the world's one writer, or raise `WriterLockHeld` naming the holder.

        A session-level advisory lock on a connection of its own, kept open
        for the process's life: PostgreSQL drops it with the connection when
        the process dies, however it dies. The holder is named through the
        connection's `application_name`."""
        if self.lease is not None:
            await self._claim_lease()
            return
        if self._writer_conn is not None:
            return
        info = holder_info()
        app = f"arena-writer pid={info['pid']} host={info['host'][:20]} since={info['since']}"[:63]

        async def go():
            import asyncpg

            conn = await asyncpg.connect(self.dsn, timeout=self.connect_timeout,
                                         server_settings={"application_name": app})
            try:
                got = await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                                          WRITER_LOCK_CLASS)
                if got:
                    return conn, None
                holder = await conn.fetchval(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = $1::bigint::oid"
                    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND l.pid <> pg_backend_pid() LIMIT 1", WRITER_LOCK_CLASS)
                await conn.close()
                return None, holder or "another process"
            except BaseException:
                await conn.close()
                raise

        conn, holder = await self._call(go)
        if conn is None:
            where = f"schema {self.schema}" if self.schema else "its default schema"
            raise WriterLockHeld(
                f"the PostgreSQL store ({where}) is already in use by {holder}; one server per store: "
                "stop that one, or point this one at another database or search_path")
        self._writer_conn = conn

    async def _claim_lease(self) -> None:
        """Wait for the world's lease and take it (a standby waits here, reading nothing)."""
        import asyncpg
        import trio

        if self.epoch is not None:
            return
        terms = self.lease
        said = None
        while True:
            async def claim(conn):
                await conn.execute(f"SET LOCAL lock_timeout = {int(terms.ttl_ms)}")
                got = await conn.fetchval(leases.CLAIM, terms.owner, terms.ttl_ms)
                return got, (None if got is not None else await conn.fetchrow(leases.HOLDER))

            try:
                epoch, holder = await self._with_conn(claim)
            except asyncpg.exceptions.LockNotAvailableError:
                # The holder is writing (it holds the lease row): ask again.
                epoch, holder = None, None
            if epoch is not None:
                self.epoch = epoch
                log.info("writer lease claimed", extra={"owner": terms.owner, "epoch": epoch})
                return
            now = time.monotonic()
            if holder is not None and (said is None or now - said >= 5):
                said = now
                log.info("standby: the world's writer lease is held", extra={
                    "holder": leases.describe(holder), "owner": terms.owner})
            await trio.sleep(terms.poll_every_s)

    async def renew_lease(self) -> None:
        """Extend the lease, or raise `FencedOut` when another node has claimed it."""
        epoch, terms = self.epoch, self.lease

        async def renew(conn):
            return await conn.fetchval(leases.RENEW, epoch, terms.ttl_ms)

        if await self._with_conn(renew) is None:
            raise FencedOut(f"the writer lease (epoch {epoch}) was taken over by another node: "
                            "this node stops and writes nothing more to the world")

    def _give_up_lease(self) -> None:
        """A clean stop ends the lease at once, so a standby need not wait for it to expire."""
        epoch, self.epoch = self.epoch, None
        if epoch is None or self._pool is None or self.bridge.loop is None:
            return

        async def expire():
            await self._pool.execute("UPDATE writer_lease SET expires_at = now() - interval '1 millisecond'"
                                     " WHERE id = 1 AND epoch = $1", epoch)

        try:
            self.bridge.call_blocking(expire, timeout=5)
        except Exception:  # noqa: BLE001 - then it expires by itself
            log.warning("could not end the writer lease; it expires by itself", exc_info=True)

    async def _fence(self, conn) -> None:
        """Inside a writing transaction: go on only while the lease is still this store's."""
        if self.epoch is None:
            return
        now = await conn.fetchval(leases.CHECK)
        if now != self.epoch:
            raise FencedOut(f"write refused: the world was taken over by another node (writer lease epoch {now}, "
                            f"this node held {self.epoch}); this node stops and writes nothing more to it")

    def release_writer(self) -> None:
        """Give up the writer's lock now (the server's run ended, however it ended)."""
        self._give_up_lease()
        conn, self._writer_conn = self._writer_conn, None
        if conn is None or self.bridge.loop is None:
            return

        async def drop():
            await conn.close()

        try:
            self.bridge.call_blocking(drop, timeout=5)
        except Exception:  # noqa: BLE001 - the lock goes with the connection anyway
            conn.terminate()

    async def world_id(self) -> int:
        """The world's id, given to the store now if it has none yet."""
        async def run(conn):
            await conn.execute("INSERT INTO meta (k, v) VALUES ('world', $1) ON CONFLICT (k) DO NOTHING",
                               new_world_id())
            return await conn.fetchval("SELECT v FROM meta WHERE k = 'world'")

        return await self._with_conn(run)

    async def close(self) -> None:
        self.release_writer()
        pool, self._pool = self._pool, None
        if pool is not None and self.bridge.loop is not None:
            async def shut():
                await pool.close()

            try:
                await self._call(shut)
            except Exception:  # noqa: BLE001 - closing a dead pool
                pass
        if self._own_bridge:
            self.bridge.stop()

    async def schema_version(self) -> int:
        self.bridge.start()

        async def q(conn):
            exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
            if not exists:
                return 0
            return await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")

        return await self._with_conn(q, transaction=False)

    async def migrate(self) -> list[int]:
        self.bridge.start()
        target = self.schema

        async def run(conn):
            if target:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{target}"')
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                               " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            # one migrator at a time
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':arena-migrate'))")
            have = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            applied = []
            for version, statements in schema.POSTGRES:
                if version in have:
                    continue
                for sql in statements:
                    await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
            have = {(r[0], r[1]) for r in await conn.fetch("SELECT mode, version FROM mode_migrations")}
            for mode, version, statements in mode_tables.pending_migrations("postgres", have):
                for sql in statements:
                    await conn.execute(sql)
                await conn.execute("INSERT INTO mode_migrations (mode, version) VALUES ($1, $2)", mode, version)
                applied.append(f"{mode}:{version}")
            return applied

        return await self._with_conn(run)

    # --- recovery ------------------------------------------------------------------------
    async def load_recovery(self) -> Recovery:
        async def run(conn):
            rec = Recovery()
            row = await conn.fetchrow("SELECT tick, hash, data FROM snapshots ORDER BY tick DESC LIMIT 1")
            if row is not None:
                rec.snapshot_tick, rec.snapshot_hash, rec.snapshot = row["tick"], row["hash"], bytes(row["data"])
                rec.journal = [(r[0], bytes(r[1])) for r in await conn.fetch(
                    "SELECT tick, inputs FROM journal WHERE tick > $1 ORDER BY tick", row["tick"])]
            rec.durable_tick = await conn.fetchval("SELECT coalesce(max(v), 0) FROM meta WHERE k = 'durable_tick'")
            rec.outbox = [(r[0], r[1], r[2], bytes(r[3])) for r in await conn.fetch(
                "SELECT key, kind, tick, effect FROM outbox WHERE done_tick IS NULL ORDER BY tick, key")]
            rec.inbox = [(r[0], bytes(r[1])) for r in await conn.fetch(
                "SELECT key, input FROM inbox WHERE done_tick IS NULL ORDER BY key")]
            rec.sessions = [tuple(r) for r in await conn.fetch("SELECT id, wallet, seq FROM sessions")]
            rec.ledger_entries, rec.ledger_keys = await _ledger(conn)
            return rec

        async def tx(conn):
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                return await run(conn)

        return await self._with_conn(tx, transaction=False)

    async def durable_tick(self) -> int:
        return await self._with_conn(
            lambda conn: conn.fetchval("SELECT coalesce(max(v), 0) FROM meta WHERE k = 'durable_tick'"),
            transaction=False)

    async def ledger_entries(self):
        return await self._with_conn(_ledger)

    async def snapshot_list(self):
        async def q(conn):
            return [(r[0], r[1]) for r in await conn.fetch("SELECT tick, hash FROM snapshots ORDER BY tick")]

        return await self._with_conn(q, transaction=False)

    async def load_snapshot(self, tick: int) -> bytes:
        async def q(conn):
            data = await conn.fetchval("SELECT data FROM snapshots WHERE tick = $1", tick)
            if data is None:
                raise StoreError(f"no snapshot at tick {tick}")
            return bytes(data)

        return await self._with_conn(q, transaction=False)

    async def load_journal(self, after: int, upto: int | None = None):
        hi = upto if upto is not None else 2**62

        async def q(conn):
            return [(r[0], bytes(r[1])) for r in await conn.fetch(
                "SELECT tick, inputs FROM journal WHERE tick > $1 AND tick <= $2 ORDER BY tick", after, hi)]

        return await self._with_conn(q, transaction=False)

    # --- writes --------------------------------------------------------------------------
    async def write(self, batch: TickBatch) -> None:
        async def run(conn):
            await self._fence(conn)
            if batch.ticks:
                await conn.executemany("INSERT INTO journal (tick, inputs) VALUES ($1, $2)"
                                       " ON CONFLICT (tick) DO UPDATE SET inputs = excluded.inputs", batch.ticks)
            if batch.snapshots:
                await conn.executemany("INSERT INTO snapshots (tick, hash, data) VALUES ($1, $2, $3)"
                                       " ON CONFLICT (tick) DO NOTHING", batch.snapshots)
                if batch.keep_snapshots > 0:
                    oldest = await conn.fetchval("SELECT tick FROM snapshots ORDER BY tick DESC LIMIT 1 OFFSET $1",
                                                 batch.keep_snapshots - 1)
                    if oldest is not None:  # the oldest snapshot kept; older ones and the journal up to it go
                        await conn.execute("DELETE FROM snapshots WHERE tick < $1", oldest)
                        await conn.execute("DELETE FROM journal WHERE tick <= $1", oldest)
            if batch.outbox_add:
                await conn.executemany("INSERT INTO outbox (key, kind, tick, effect) VALUES ($1, $2, $3, $4)"
                                       " ON CONFLICT (key) DO NOTHING", batch.outbox_add)
            if batch.outbox_done:
                await conn.executemany("UPDATE outbox SET done_tick = $2 WHERE key = $1 AND done_tick IS NULL",
                                       batch.outbox_done)
            if batch.inbox_done:
                await conn.executemany("UPDATE inbox SET done_tick = $2 WHERE key = $1 AND done_tick IS NULL",
                                       batch.inbox_done)
            if batch.sessions:
                await conn.executemany(
                    "INSERT INTO sessions (id, wallet, seq) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE"
                    " SET seq = greatest(sessions.seq, excluded.seq), updated_at = now()", batch.sessions)
            if batch.sessions_gone:
                await conn.executemany("DELETE FROM sessions WHERE id = $1", [(s,) for s in batch.sessions_gone])
            if batch.records:
                await _write_records(conn, batch.records)
            await conn.execute("INSERT INTO meta (k, v) VALUES ('durable_tick', $1) ON CONFLICT (k) DO UPDATE"
                               " SET v = greatest(meta.v, excluded.v)", batch.durable_tick)

        t0 = time.perf_counter()
        await self._with_conn(run)
        ms = (time.perf_counter() - t0) * 1000
        self.stats["writes"] += 1
        self.stats["rows"] += batch.size()
        self.stats["write_ms_last"] = round(ms, 3)
        self.stats["write_ms_max"] = max(self.stats["write_ms_max"], round(ms, 3))

    async def add_inbox(self, key: str, encoded: bytes) -> bool:
        async def run(conn):
            await self._fence(conn)
            status = await conn.execute("INSERT INTO inbox (key, input) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                        key, encoded)
            return status == "INSERT 0 1"

        return await self._with_conn(run)

    async def write_ledger(self, batch: LedgerBatch) -> None:
        async def run(conn):
            await self._fence(conn)
            if batch.entries:
                await conn.executemany(
                    "INSERT INTO ledger_entries (entry_id, key, debit, credit, amount) VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT (entry_id) DO NOTHING", batch.entries)
            if batch.keys:
                await conn.executemany("INSERT INTO ledger_keys (key) VALUES ($1) ON CONFLICT DO NOTHING",
                                       [(k,) for k in batch.keys])
            if batch.inbox:
                await conn.executemany("INSERT INTO inbox (key, input) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                       batch.inbox)

        await self._with_conn(run)

    # --- credentials and the audit log ----------------------------------------------------
    async def add_api_key(self, key_id: str, name: str, role: str, hashed: str) -> bool:
        """False if a key of that name exists already."""
        async def go(conn):
            done = await conn.execute("INSERT INTO api_keys (id, name, role, hash) VALUES ($1, $2, $3, $4)"
                                      " ON CONFLICT DO NOTHING", key_id, name, role, hashed)
            return done.endswith(" 1")

        return await self._with_conn(go)

    async def api_key(self, key_id: str) -> dict | None:
        async def go(conn):
            row = await conn.fetchrow("SELECT id, name, role, hash, revoked_at::text AS revoked_at FROM api_keys"
                                      " WHERE id = $1", key_id)
            return dict(row) if row else None

        return await self._with_conn(go, transaction=False)

    async def revoke_api_key(self, name: str) -> bool:
        async def go(conn):
            done = await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
                                      name)
            return done.endswith(" 1")

        return await self._with_conn(go)

    async def audit(self, actor: str, role: str, action: str, detail: str, result: str) -> None:
        await self._with_conn(lambda conn: conn.execute(
            "INSERT INTO audit_log (actor, role, action, detail, result) VALUES ($1, $2, $3, $4::jsonb, $5)",
            actor, role, action, detail, result))

    # --- reads for operators ---------------------------------------------------------
    async def query(self, name: str, params: tuple = (), **args) -> list[dict]:
        sql = _QUERIES.get(name) or mode_tables.query_sql("postgres", name)
        if sql is None:
            raise KeyError(name)

        async def q(conn):
            return [dict(r) for r in await conn.fetch(sql, *params)]

        return await self._with_conn(q, transaction=False)

    async def refresh_leaderboard(self) -> None:
        """Run what the modes refresh on a schedule (their materialized views)."""
        todo = mode_tables.refresh_statements("postgres")
        if not todo:
            return

        async def go(conn):
            for sql in todo:
                await conn.execute(sql)

        await self._with_conn(go, transaction=False)

    # --- the platform's reads (leaderboards, history, profiles; see `reads`) -----------
    async def _rows(self, sql: str, *params) -> list:
        async def q(conn):
            return [tuple(r) for r in await conn.fetch(sql, *params)]

        return await self._with_conn(q, transaction=False)

    async def leaderboard(self, board: str, period_key: str, limit: int, around: str | None = None) -> list[dict]:
        """A page of `limit` rows of a board: the top, or the page around
        wallet `around` (empty if it has no score there)."""
        async def q(conn):
            start = 0
            if around is not None:
                row = await conn.fetchrow(_BOARD_POSITION, *((board, period_key) * 3), around)
                if row is None:
                    return []
                start = reads.page_start(row[0], row[1], limit)
            rows = [tuple(r) for r in await conn.fetch(_BOARD_PAGE, board, period_key, limit, start)]
            if not rows:
                return []
            above = await conn.fetchval(_BOARD_ABOVE, board, period_key, rows[0][1])
            return reads.ranked_page(rows, start, above)

        # One snapshot for the statements, so the page matches the position.
        async def tx(conn):
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                return await q(conn)

        return await self._with_conn(tx, transaction=False)

    async def scores_of(self, wallet: str, period_key: str = "all") -> dict:
        return dict(await self._rows(_SCORES_OF, wallet, period_key))

    async def history(self, wallet: str, mode: str | None, limit: int, before: tuple | None = None) -> list[dict]:
        sql = reads.history_sql("postgres", mode=mode is not None, before=before is not None)
        return reads.decode_history(await self._rows(sql, *reads.history_params(wallet, mode, before, limit)))

    async def history_details(self, mode: str, matches: list[str]) -> list[dict]:
        sql = mode_tables.history_sql("postgres", mode)
        if sql is None or not matches:
            return []

        async def q(conn):
            return [dict(r) for r in await conn.fetch(sql, list(matches))]

        return await self._with_conn(q, transaction=False)

    async def profile(self, wallet: str) -> dict | None:
        rows = await self._rows(_PROFILE, wallet)
        return dict(zip(("wallet", "username", "avatar_url"), rows[0])) if rows else None

    async def set_profile(self, wallet: str, *, username=reads.KEEP, avatar_url=reads.KEEP) -> dict:
        """Change the given fields of `wallet`'s profile (made if it has none);
        `reads.Duplicate` if the username is another wallet's (nothing changes)."""
        import asyncpg

        async def go(conn):
            row = await conn.fetchrow(_PROFILE + " FOR UPDATE", wallet)
            new = reads.merged_profile(wallet, dict(row) if row else None, username, avatar_url)
            try:
                await conn.execute(_PROFILE_UPSERT, *reads.upsert_params(new))
            except asyncpg.UniqueViolationError:
                raise reads.Duplicate(new["username"]) from None
            return new

        return await self._with_conn(go)

    def health(self) -> dict:
        return {"kind": self.kind, "schema": self.schema, "last_error": self.last_error, **self.stats}


async def _ledger(conn):
    entries = [tuple(r) for r in await conn.fetch(
        "SELECT entry_id, key, debit, credit, amount FROM ledger_entries ORDER BY entry_id")]
    keys = [r[0] for r in await conn.fetch("SELECT key FROM ledger_keys")]
    return entries, keys


_BOARD_PAGE = reads.pg(reads.BOARD_PAGE)
_BOARD_POSITION = reads.pg(reads.BOARD_POSITION)
_BOARD_ABOVE = reads.pg(reads.BOARD_ABOVE)
_SCORES_OF = reads.pg(reads.SCORES_OF)
_PROFILE = reads.pg(reads.PROFILE)
_PROFILE_UPSERT = reads.pg(reads.PROFILE_UPSERT)

_MODE_RECORD_SQL = ("INSERT INTO mode_records (mode, kind, key, data, tick) VALUES ($1, $2, $3, $4::jsonb, $5)"
                    " ON CONFLICT (mode, kind, key) DO UPDATE SET data = excluded.data, tick = excluded.tick")


async def _write_records(conn, ops: list[tuple]) -> None:
    """Every record operation as statements, in order; runs of one statement
    go to the server as one `executemany`."""
    runs: list[tuple[str, list]] = []
    for op in ops:
        kind = op[0]
        if kind == "mode_record":
            _, mode, rkind, key, data, tick = op
            todo = [(_MODE_RECORD_SQL, (mode, rkind, key, data, tick))]
        elif kind == "mode_op":  # on a mode's own tables: its statements
            todo = mode_tables.statements("postgres", op)
        elif kind == "board_add":
            _, board, period, wallet, points, source = op
            todo = [(reads.BOARD_ADD_PG, (board, period, wallet, points, source))]
        elif kind == "match_result":
            _, mode, match, players, ended_at_ms, tick, result = op
            todo = [(reads.RESULT_PG, (match, mode, ended_at_ms, tick, result))]
            todo += [(reads.PLAYER_PG, (w, match, mode, tick)) for w in players]
        else:
            raise ValueError(f"unknown record op {kind!r}")
        for sql, params in todo:
            if runs and runs[-1][0] == sql:
                runs[-1][1].append(params)
            else:
                runs.append((sql, [params]))
    for sql, params in runs:
        await conn.executemany(sql, params)
