"""Shared fixtures: a real Arena server on a loopback port, and logged-in clients.

`arena_server(**overrides)` starts `ArenaServer` inside the test's nursery
on 127.0.0.1 with an OS-chosen port and short game timers, so end-to-end
tests talk to it over real WebSocket connections exactly as clients do.
"""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import attrs
import pytest
import trio

sys.path.insert(0, str(Path(__file__).parent))

from arena.client import open_client  # noqa: E402
from arena.config import default_config  # noqa: E402
from arena.modes.roast.settings import RoastConfig  # noqa: E402

REQUIRE_SERVICES = os.environ.get("ARENA_REQUIRE_SERVICES") == "1"

FAST_ROAST = dict(
    countdown_ms=100,
    time_limit_ms=3_000,
    entry_deadline_ms=5_000,
    disconnect_grace_ms=1_500,
    scoring_timeout_ms=5_000,
    prompt_timeout_ms=5_000,
)


def make_config(tmp_path, *, roast=None, net=None, ledger=None, server=None, **sections):
    base = default_config()
    roast_cfg = attrs.evolve(RoastConfig(), **{**FAST_ROAST, **(roast or {})})
    engine = attrs.evolve(base.engine, seed=7).with_mode("roast", roast_cfg)
    return attrs.evolve(
        base,
        server=attrs.evolve(base.server, port=0, **(server or {})),
        net=attrs.evolve(base.net, **(net or {})),
        engine=engine,
        ledger=attrs.evolve(base.ledger, **{"faucet_amount": 10_000, **(ledger or {})}),
        media=attrs.evolve(base.media, path=str(tmp_path / "media")),
        store=attrs.evolve(base.store, path=str(tmp_path / "arena.sqlite")),
        **sections,
    )


@pytest.fixture
def arena_server(nursery, tmp_path):
    """Start a server: `server, url = await arena_server(roast={...}, net={...})`."""
    from arena.server import ArenaServer

    async def start(*, server_kwargs=None, **overrides):
        cfg = make_config(tmp_path, **overrides)
        srv = ArenaServer(cfg, **(server_kwargs or {}))
        port = await nursery.start(srv.run)
        return srv, f"ws://127.0.0.1:{port}/v1"

    return start


async def start_server(nursery, cfg, clock):
    """Start a server on `cfg` with its wall clock `clock` (a ManualClock):
    (server, url)."""
    from arena.server import ArenaServer

    srv = ArenaServer(cfg, clock=clock)
    port = await nursery.start(srv.run)
    return srv, f"ws://127.0.0.1:{port}/v1"


async def operator_client(srv, url, stack):
    """A client logged in with a fresh operator API key, closed with `stack`."""
    key = await srv.credentials.create("ops", "operator")
    op = await stack.enter_async_context(open_client(url))
    await op.hello()
    await op.request("auth.key", {"key": key})
    return op


@asynccontextmanager
async def player(url, *, faucet=True, **kwargs):
    """A connected, logged-in client (with faucet money unless told not to)."""
    async with open_client(url, **kwargs) as c:
        await c.hello()
        await c.login()
        if faucet:
            await c.faucet()
        yield c


@contextmanager
def registered_mode(module_name: str):
    """Import a test's mode module and keep its `MODE` registered inside the
    block only (the registry is global: other tests must not see the mode)."""
    import importlib

    from arena.engine.registry import registry

    module = importlib.import_module(module_name)
    registry.register(module.MODE)
    try:
        yield module
    finally:
        registry.unregister(module.MODE.name)


async def wait_until(predicate, timeout=10.0, interval=0.02):
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(interval)


# --- real services (PostgreSQL, Redis): skip where absent, fail under ARENA_REQUIRE_SERVICES=1 ---


@pytest.fixture
def pg_schema():
    """A DSN for the local PostgreSQL whose search_path is a fresh, unique schema (dropped after)."""
    import services

    base = services.require("postgres")
    schema = services.unique_name()
    yield services.dsn_with_schema(base, schema)
    services.drop_schema(base, schema)


@pytest.fixture
def redis_url():
    """(url, key prefix) for the local Redis; keys under the prefix are deleted after."""
    import services

    url = services.require("redis")
    prefix = services.unique_name("arena-t") + ":"
    yield url, prefix
    services.redis_cleanup(url, prefix)
