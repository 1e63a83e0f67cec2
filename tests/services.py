"""The real PostgreSQL and Redis servers on this machine, for the tests that need them.

`require(name)` returns the address of a service that answers, and otherwise
skips the test with the reason, or fails it when `ARENA_REQUIRE_SERVICES=1`
(as `.ci/run` sets): in CI a missing service is a broken machine, not a reason
to pass. Addresses come from `ARENA_TEST_PG_DSN` / `ARENA_TEST_REDIS_URL`,
defaulting to the local servers.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest

REQUIRE = os.environ.get("ARENA_REQUIRE_SERVICES") == "1"
PG_DSN = os.environ.get("ARENA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ARENA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_seen: dict[str, str | None] = {}


def _in_thread(fn):
    """Run a blocking probe off the trio thread (asyncio.run may not nest in a trio test)."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(15)
    if "error" in out:
        raise out["error"]
    if "value" not in out:
        raise TimeoutError("probe did not answer within 15 s")
    return out["value"]


def _probe_pg() -> None:
    import asyncpg

    async def go():
        conn = await asyncpg.connect(PG_DSN, timeout=5)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    asyncio.run(go())


def _probe_redis() -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        r.ping()
    finally:
        r.close()


def require(name: str) -> str:
    """The DSN/URL of service `name` ("postgres" or "redis"), or skip/fail."""
    if name not in _seen:
        try:
            _in_thread(_probe_pg if name == "postgres" else _probe_redis)
            _seen[name] = None
        except Exception as exc:  # noqa: BLE001
            _seen[name] = f"{type(exc).__name__}: {exc}"
    problem = _seen[name]
    if problem is not None:
        from arena.config import _mask_url  # never print a password

        where = _mask_url(PG_DSN if name == "postgres" else REDIS_URL)
        msg = f"{name} not reachable at {where} ({problem})"
        if REQUIRE:
            pytest.fail(f"ARENA_REQUIRE_SERVICES=1 but {msg}", pytrace=False)
        pytest.skip(msg)
    return PG_DSN if name == "postgres" else REDIS_URL


def unique_name(prefix: str = "arena_t") -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


def dsn_with_schema(dsn: str, schema: str) -> str:
    """The DSN with `search_path` set to `schema` (asyncpg passes it as a server setting)."""
    parts = urlsplit(dsn)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, f"{query}search_path={schema}", ""))


def drop_schema(dsn: str, schema: str) -> None:
    import asyncpg

    async def go():
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    try:
        _in_thread(lambda: asyncio.run(go()))
    except Exception:  # noqa: BLE001 - cleanup is best effort
        pass


def redis_cleanup(url: str, prefix: str) -> None:
    import redis

    def go():
        r = redis.Redis.from_url(url, socket_timeout=5)
        try:
            keys = list(r.scan_iter(f"{prefix}*", count=1000))
            if keys:
                r.delete(*keys)
        finally:
            r.close()

    try:
        _in_thread(go)
    except Exception:  # noqa: BLE001
        pass
