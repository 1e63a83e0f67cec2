"""Shard worlds: one PostgreSQL schema per shard, claimed by whichever worker is free.

A sharded cluster (`[cluster] shards = S`) keeps S worlds side by side in one
PostgreSQL database: shard k lives in the schema `<schema>_s<k>` (`<schema>`
is the configured DSN's `search_path`, `arena` when it names none), with all
the tables of a world (journal, snapshots, outbox, inbox, the embedded
ledger's book, sessions) and its own `writer_lease` row. A worker process
serves one shard at a time: it claims the first claimable shard (no lease, or
an expired one) with the lease's own claim statement, so every claim still
increments that shard's fencing epoch and the old holder of a re-homed shard
is fenced out exactly as a whole-world takeover is (docs/SCALING.md).
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import lease as leases
from .lease import LeaseTerms

log = logging.getLogger("arena.shards")

DEFAULT_BASE = "arena"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,50}")


def base_schema(dsn: str) -> str:
    from .postgres import schema_of

    return schema_of(dsn) or DEFAULT_BASE


def shard_schema(dsn: str, k: int) -> str:
    if k < 0:
        raise ValueError(f"shard {k} does not exist")
    base = base_schema(dsn)
    if not _IDENT.fullmatch(base):
        raise ValueError(f"search_path {base!r} cannot name shard schemas: use letters, digits and _")
    return f"{base}_s{k}"


def shard_dsn(dsn: str, k: int) -> str:
    """The configured DSN with its `search_path` replaced by shard k's schema."""
    parts = urlsplit(dsn)
    query = [(key, v) for key, v in parse_qsl(parts.query) if key != "search_path"]
    query.append(("search_path", shard_schema(dsn, k)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def claim_order(shards: int, start: int) -> list[int]:
    """The shards a worker tries, from `start` round: workers starting together
    try different shards first, so they rarely race for one row."""
    return [(start + i) % shards for i in range(shards)]


async def migrate_shards(dsn: str, shards: int) -> dict[int, list[int]]:
    """Create and migrate every shard's schema: {shard: versions applied}."""
    from .postgres import PostgresStore

    out = {}
    for k in range(shards):
        store = PostgresStore(shard_dsn(dsn, k))
        try:
            out[k] = await store.migrate()
        finally:
            await store.close()
    return out


async def claim_first(dsn: str, shards: int, terms: LeaseTerms, *, start: int = 0,
                      on_wait=None) -> tuple[int, int]:
    """Wait until some shard's lease is claimable and claim it: (shard, epoch).

    Each attempt is the lease's one-statement claim on one shard's
    `writer_lease` (it succeeds only where the lease is absent or expired and
    increments the epoch), tried on every shard in `claim_order`. A row
    locked by its holder's write in flight counts as held this round.
    `on_wait(holders)` is called about every 5 s while every shard is held.
    """
    import asyncpg
    import trio

    from .postgres import PostgresStore

    probe = PostgresStore(dsn)  # a pool on the configured DSN; each claim names its shard's schema
    said = None
    try:
        while True:
            holders = {}
            for k in claim_order(shards, start):
                schema = shard_schema(dsn, k)

                async def claim(conn, schema=schema):
                    await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                    await conn.execute(f"SET LOCAL lock_timeout = {int(terms.ttl_ms)}")
                    got = await conn.fetchval(leases.CLAIM, terms.owner, terms.ttl_ms)
                    return got, (None if got is not None else await conn.fetchrow(leases.HOLDER))

                probe.bridge.start()
                try:
                    epoch, holder = await probe._with_conn(claim)
                except asyncpg.exceptions.LockNotAvailableError:
                    epoch, holder = None, None
                if epoch is not None:
                    return k, epoch
                holders[k] = leases.describe(holder)
            now = time.monotonic()
            if on_wait is not None and (said is None or now - said >= 5):
                said = now
                on_wait(holders)
            await trio.sleep(terms.poll_every_s)
    finally:
        await probe.close()


async def holders(dsn: str, shards: int) -> dict[int, dict | None]:
    """Every shard's lease row (owner, epoch, ms left), or None where nobody
    claimed it yet (or its schema is not migrated yet)."""
    from .postgres import PostgresStore

    probe = PostgresStore(dsn)
    probe.bridge.start()
    out = {}
    try:
        for k in range(shards):
            schema = shard_schema(dsn, k)

            async def q(conn, schema=schema):
                await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                if not await conn.fetchval("SELECT to_regclass('writer_lease') IS NOT NULL"):
                    return None  # not migrated yet
                return await conn.fetchrow(leases.HOLDER)

            row = await probe._with_conn(q)
            out[k] = dict(row) if row is not None else None
    finally:
        await probe.close()
    return out
