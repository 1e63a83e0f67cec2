"""API keys (`auth.key`), roles and the audit log: unit tests of the key
format and checks on every store, the `keys` command, and over real sockets
an agent and an operator logging in, an operator-only request refused
without the role, and every operator action in the audit log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from attrs import frozen

from arena.client import open_client
from arena.credentials import Credentials
from arena.engine.errors import NOT_ALLOWED
from arena.engine.inputs import ClientInput
from arena.engine.mode import GameRequest, Mode, RequestField
from arena.engine.registry import registry
from arena.persistence.memory import MemoryStore
from arena.persistence.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgres", "memory"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "keys.sqlite")
    elif request.param == "postgres":
        from arena.persistence.postgres import PostgresStore

        s = PostgresStore(request.getfixturevalue("pg_schema"))
        await s.migrate()
    else:
        s = MemoryStore()
    await s.open()
    yield s
    await s.close()


async def test_keys_are_checked_hashed_and_revocable(store):
    creds = Credentials(store)
    key = await creds.create("bot-1", "agent")
    assert key.startswith("ak_") and await creds.check(key) == ("bot-1", "agent")
    rows = await store.query("api_keys")
    assert [(r["name"], r["role"]) for r in rows] == [("bot-1", "agent")] and "hash" not in rows[0]
    secret = key.split("_", 2)[2]
    assert all(secret not in str(v) for v in (await store.api_key(key[3:15])).values())  # only its hash is kept
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad in (forged, "ak_" + "0" * 12 + key[15:], "nope", "", key + "x"):
        assert await creds.check(bad) is None
    with pytest.raises(ValueError, match="exists already"):
        await creds.create("bot-1", "operator")
    with pytest.raises(ValueError, match="role"):
        await creds.create("x", "admin")
    with pytest.raises(ValueError, match="name"):
        await creds.create("bad name!", "agent")
    assert await store.revoke_api_key("bot-1") and not await store.revoke_api_key("bot-1")
    assert await creds.check(key) is None


@frozen
class Reset(ClientInput):
    note: str


class Admin(Mode):
    """A test's mode with one operator-only request."""

    name = "admintest"
    inputs = (Reset,)
    requests = (GameRequest("admintest.reset", (RequestField("note", str, max_len=32),),
                            make=lambda s, rid, w, body, at, url: Reset(s, rid, w, body["note"]),
                            role="operator"),)
    routed_inputs = (Reset,)

    def route(self, ctx, inp):
        if isinstance(inp, Reset):
            ctx.reply(inp, {"reset": inp.note})


@pytest.fixture
def admin_mode():
    mode = registry.register(Admin())
    yield mode
    registry.unregister("admintest")


async def test_agents_and_operators_log_in_and_operator_requests_need_the_role(arena_server, admin_mode):
    server, url = await arena_server()
    creds = server.credentials
    op_key = await creds.create("ops", "operator")
    agent_key = await creds.create("bot", "agent")
    revoked = await creds.create("old", "operator")
    await server.persistence.store.revoke_api_key("old")

    async with open_client(url) as op, open_client(url) as agent, open_client(url) as player, \
            open_client(url) as stranger:
        for c in (op, agent, player, stranger):
            await c.hello()
        assert (await op.request("auth.key", {"key": op_key}))["user"] == {"id": "key:ops", "name": "ops",
                                                                         "role": "operator"}
        assert (await agent.request("auth.key", {"key": agent_key}))["user"]["role"] == "agent"
        await player.login()
        for bad in (revoked, op_key[:-2] + "zz", "ak_x"):
            status, body = await stranger.request_raw("auth.key", {"key": bad})
            assert (status, body["code"]) == ("error", "auth_failed")
        assert (await stranger.request_raw("auth.key", {"key": 5}))[1]["code"] == "bad_request"
        assert (await stranger.request_raw("auth.key", {"key": "k" * 200}))[1]["code"] == "bad_request"
        assert (await stranger.request_raw("admintest.reset", {"note": "x"}))[1]["code"] == "unauthenticated"
        assert (await op.request_raw("auth.key", {"key": op_key}))[1]["code"] == "wrong_state"

        assert await op.request("admintest.reset", {"note": "week 49"}) == {"reset": "week 49"}
        for c in (agent, player):
            status, body = await c.request_raw("admintest.reset", {"note": "sneaky"})
            assert (status, body["code"]) == ("error", NOT_ALLOWED)
        assert (await op.request_raw("admintest.reset", {"note": 7}))[1]["code"] == "bad_request"

    log = await server.persistence.store.query("audit_log")
    assert [(r["actor"], r["action"], r["result"]) for r in log] == [
        ("key:ops", "admintest.reset", "submitted"),
        ("key:bot", "admintest.reset", "refused: no operator role"),
        (player.wallet, "admintest.reset", "refused: no operator role"),
    ]
    assert '"note": "week 49"' in log[0]["detail"]


def test_the_keys_command_creates_lists_and_revokes(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "arena.sqlite"}"\n')

    def keys(*args):
        return subprocess.run([sys.executable, "-m", "arena", "keys", *args, "--config", str(cfg)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    made = keys("create", "--role", "operator", "--name", "alice")
    assert made.returncode == 0 and made.stdout.startswith("ak_") and "shown only now" in made.stderr
    assert keys("create", "--role", "operator", "--name", "alice").returncode == 2
    assert keys("create", "--name", "bob").returncode == 2  # no role
    assert "alice\toperator\tactive" in keys("list").stdout
    assert keys("revoke", "--name", "alice").returncode == 0
    assert keys("revoke", "--name", "alice").returncode == 1
    assert "alice\toperator\trevoked" in keys("list").stdout
