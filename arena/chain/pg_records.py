"""A chain ledger's record store in the world's own PostgreSQL schema.

`SolanaStore` (arena.chain.solana_store) keeps the Solana and BSV ledgers'
records (payments sent, settlements, the per-match escrow) in a SQLite file
beside the node. When the world lives in PostgreSQL and may be taken over by
another node (a named node, a shard worker: docs/SCALING.md), the records
must move with it: `[ledger] records = "store"` keeps them in the world's
schema instead, in the tables `chain_payments`, `chain_escrow`,
`chain_settlements` and `chain_meta` (schema version 7).

`PgRecordStore` is `SolanaStore` with other plumbing: the same methods, the
same SQL (its table names prefixed, SQLite's `INSERT OR REPLACE` written as
an upsert, `?` as `$n`), each method one PostgreSQL transaction on the world
store's pool. Every transaction first checks the world's writer lease like
every other write of the world (`PostgresStore._fence`): once another node
holds the world, this one can add or change no record.

The methods stay synchronous, as the ledgers call them through
`trio.to_thread.run_sync`: each statement is one blocking call onto the
world store's asyncio thread (`AsyncioThread.call_blocking`).
"""

from __future__ import annotations

import re
import threading

from .solana_store import SolanaStore

TABLES = ("payments", "escrow", "settlements", "meta")
_TABLE = re.compile(r"\b(FROM|INTO|UPDATE|JOIN)\s+(" + "|".join(TABLES) + r")\b")
_REPLACE = re.compile(r"^INSERT OR REPLACE INTO chain_meta \(k, v\) VALUES \((.*)\)$")
TIMEOUT_S = 30.0


def translate(sql: str) -> str:
    """One statement of `SolanaStore` in PostgreSQL's words."""
    sql = _TABLE.sub(lambda m: f"{m.group(1)} chain_{m.group(2)}", sql)
    m = _REPLACE.match(sql)
    if m:
        sql = f"INSERT INTO chain_meta (k, v) VALUES ({m.group(1)}) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
    # PostgreSQL names the row being updated by its table, where SQLite lets it go unqualified.
    sql = sql.replace("SET balance = balance + excluded.balance", "SET balance = chain_escrow.balance + excluded.balance")
    n = 0

    def number(_):
        nonlocal n
        n += 1
        return f"${n}"

    return re.sub(r"\?", number, sql)


class _Result:
    def __init__(self, rows: list, rowcount: int):
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list:
        return self.rows

    def __iter__(self):
        return iter(self.rows)


class _Tx:
    """What `SolanaStore`'s methods call `db`: `execute(sql, args)` on one connection."""

    def __init__(self, store: PgRecordStore, conn):
        self.store = store
        self.conn = conn

    def execute(self, sql: str, args=()):
        pg = translate(sql)
        params = [int(a) if isinstance(a, bool) else a for a in args]
        conn = self.conn

        async def run():
            if pg.lstrip().upper().startswith("SELECT"):
                rows = await conn.fetch(pg, *params)
                return _Result(rows, len(rows))
            status = await conn.execute(pg, *params)
            tail = status.rsplit(" ", 1)[-1]
            return _Result([], int(tail) if tail.isdigit() else 0)

        return self.store._blocking(run)


class PgRecordStore(SolanaStore):
    def __init__(self, world):
        """`world`: the open `PostgresStore` of the world these records belong to."""
        self.world = world
        self.path = f"PostgreSQL schema {world.schema or 'public'} (tables chain_*)"
        self._lock = threading.Lock()

    def close(self) -> None:
        """The world store owns the connections."""

    def _blocking(self, fn):
        return self.world.bridge.call_blocking(fn, timeout=TIMEOUT_S)

    def _tx(self, fn):
        world = self.world
        with self._lock:
            async def begin():
                conn = await world._pool.acquire(timeout=world.connect_timeout)
                tx = conn.transaction()
                try:
                    await tx.start()
                    await world._fence(conn)  # refused once another node holds the world
                except BaseException:
                    try:
                        await tx.rollback()
                    except Exception:  # noqa: BLE001 - not started; the connection goes back anyway
                        pass
                    await world._pool.release(conn)
                    raise
                return conn, tx

            conn, tx = self._blocking(begin)
            try:
                out = fn(_Tx(self, conn))
            except BaseException:
                async def rollback():
                    try:
                        await tx.rollback()
                    finally:
                        await world._pool.release(conn)

                self._blocking(rollback)
                raise

            async def commit():
                try:
                    await tx.commit()
                except BaseException:
                    await world._pool.release(conn)
                    raise
                await world._pool.release(conn)

            self._blocking(commit)
            return out

    def _read(self, sql: str, args=()) -> list:
        world = self.world
        pg = translate(sql)

        async def q():
            async with world._pool.acquire(timeout=world.connect_timeout) as conn:
                return await conn.fetch(pg, *args)

        with self._lock:
            return self._blocking(q)

    def contents(self) -> dict[str, int]:
        return self._tx(self._contents)
