"""Modes plug in through one registry, and the framework never names a game.

The end-to-end test plays a mode this file brings along (tests/coinflip_mode.py,
a two-player coin flip for an entry fee) on a real server, over real sockets:
its requests validated from its own spec, journaled, recovered after a real
`kill -9` (the replayed hashes verify), records written on SQLite and on
PostgreSQL, the payout settled exactly once, and a change of its settings in
config.toml applied after a restart. Nothing outside these two files knows
the mode.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from arena.client import open_client
from arena.config import load_config
from arena.engine import inputs as I
from arena.engine.outputs import Event
from arena.engine.registry import registry
from arena.persistence import codec
from arena.persistence.durable import mode_records
from arena.persistence.runtime import make_store
from crash_harness import FAUCET, ServerProcess
from arena.benchkit.serverproc import free_port

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

# The framework: everything that must serve any mode without naming one.
FRAMEWORK = [
    *[p for p in (ROOT / "arena" / "engine").glob("*.py") if p.name != "mode.py"],  # mode.py documents the interface
    *(ROOT / "arena" / "net").glob("*.py"),
    *(ROOT / "arena" / "persistence").glob("*.py"),
    ROOT / "arena" / "server.py",
    ROOT / "arena" / "config.py",
]
# The games Arena hosts or will host, whether registered yet or not.
GAMES = ("roast", "canvas", "lottery", "contest", "meme", "coinflip")


@pytest.fixture
def coinflip():
    """The test's mode, registered for the test and forgotten after it (the
    registry is global: other tests must not see a [coinflip] section)."""
    import importlib

    module = importlib.import_module("coinflip_mode")
    registry.register(module.MODE)
    try:
        yield module
    finally:
        registry.unregister("coinflip")


def test_no_framework_module_names_a_mode(coinflip):
    words = set(GAMES) | set(registry.modes())
    for mode in registry.modes().values():
        words |= {req.name for req in mode.requests}
        words |= {cls.__name__ for cls in (*mode.inputs, *mode.effects)}
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    hits = []
    for path in FRAMEWORK:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "framework modules name a mode:\n" + "\n".join(hits)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


# Framework modules outside `arena.engine` that a mode may import because they
# are pure (standard library and attrs only, no clock, no I/O) and name the
# vocabulary a mode must speak: `arena.schedule` holds `Rule`, the type
# `Mode.schedules` returns, and `parse`, which a mode's settings use to check
# rule text. Checked below to stay pure.
PURE_HELPERS = frozenset({"arena.schedule"})


def test_the_pure_helpers_modes_may_import_stay_pure():
    for name in PURE_HELPERS:
        path = ROOT / (name.replace(".", "/") + ".py")
        for imported in _imports(path):
            top = imported.split(".")[0]
            assert top in sys.stdlib_module_names or top == "attrs" or imported == "__future__", (
                f"{name} imports {imported}: modes may no longer import it")


def test_mode_packages_import_only_the_standard_library_attrs_and_the_engine(coinflip):
    for name, mode in registry.modes().items():
        module = sys.modules[type(mode).__module__]
        package = module.__name__.rpartition(".")[0] if module.__package__ else module.__name__
        files = list(Path(module.__file__).parent.glob("*.py")) if module.__package__ else [Path(module.__file__)]
        for f in files:
            for imported in _imports(f):
                top = imported.split(".")[0]
                ok = (top in sys.stdlib_module_names or top == "attrs" or imported.startswith("arena.engine")
                      or imported.startswith(package) or imported == "__future__"
                      or imported in PURE_HELPERS)
                assert ok, f"mode {name}: {f.name} imports {imported}"


@pytest.mark.parametrize("first", ["arena.engine.core", "arena.engine.snapshot", "arena.modes.roast.mode",
                                   "arena.engine.inputs", "arena.persistence.codec", "arena.net.gateway"])
def test_no_import_cycle_whatever_is_imported_first(first):
    code = f"import {first}; from arena.engine import core; assert 'roast' in core.MODES"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_mode_whose_records_fail_cannot_stop_the_tick(coinflip):
    """A derived record must never stop the tick loop: the failure is logged
    and counted, the other modes' records are kept."""
    from arena.engine import core
    from arena.engine.config import EngineConfig

    state = core.new_state(EngineConfig(seed=1))
    bad = Event(("w1", "w2", "w3"), "match.found", {"match": "ro-x", "players": ["w1", "w2", "w3"],
                                                    "mode": "roast", "tier": "bronze", "entry_fee": 1})
    flip = Event(("a", "b"), "coinflip:result", {"match": "co-1", "winner": "a", "pot": 4, "landed": "heads"})
    failures: dict[str, int] = {}
    ops = mode_records(state, 5, [bad, flip], failures)  # a three-player battle: roast records nothing for it
    assert ops == [("mode_record", "coinflip", "flip", "co-1", '{"landed":"heads","pot":4,"winner":"a"}', 5)]

    class Broken(coinflip.CoinFlip):
        def records(self, state, tick, messages):
            raise KeyError("players")

    mode = registry.modes()["coinflip"]
    registry.modes()["coinflip"] = Broken()
    try:
        assert mode_records(state, 6, [flip], failures) == []
        assert failures == {"coinflip": 1}
    finally:
        registry.modes()["coinflip"] = mode


def test_registering_a_clashing_mode_is_refused(coinflip):
    with pytest.raises(ValueError, match="registered already"):
        registry.register(coinflip.CoinFlip())

    class Thief(coinflip.CoinFlip):
        name = "thief"

    with pytest.raises(ValueError, match="coinflip.call is another's"):
        registry.register(Thief())
    assert "thief" not in registry.modes()


# --- the test's own mode, end to end --------------------------------------------------


def flip_config(tmp: Path, port: int, store: dict, entry_fee: int) -> Path:
    lines = "\n".join(f'{k} = "{v}"' for k, v in store.items())
    path = tmp / f"config-{entry_fee}.toml"
    path.write_text(f"""
[server]
port = {port}
tick_hz = 20
mode_modules = "coinflip_mode"

[coinflip]
entry_fee = {entry_fee}
entry_deadline_ms = 60000

[ledger]
faucet_amount = {FAUCET}

[media]
path = "{tmp / 'media'}"

[store]
{lines}
snapshot_every_ticks = 20
""")
    return path


async def login(stack: contextlib.AsyncExitStack, url: str, keypair=None, *, hello_only=False):
    c = await stack.enter_async_context(open_client(url))
    await c.hello()
    if not hello_only:
        await c.login(keypair)
    return c


@pytest.fixture(params=["sqlite", "postgres"])
def flip_store(request, tmp_path):
    if request.param == "sqlite":
        return {"kind": "embedded", "path": str(tmp_path / "flip.sqlite")}
    return {"kind": "postgres", "dsn": request.getfixturevalue("pg_schema")}


async def test_a_mode_defined_by_a_test_plays_end_to_end(coinflip, flip_store, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # where the server finds coinflip_mode
    if flip_store["kind"] == "postgres":
        subprocess.run([sys.executable, "-m", "arena", "migrate", "--config",
                        str(flip_config(tmp_path, 1, flip_store, 50))], cwd=ROOT, check=True, timeout=60)
    port = free_port()
    config = flip_config(tmp_path, port, flip_store, 50)
    server = ServerProcess(config, port, tmp_path)
    await server.start()
    stack = contextlib.AsyncExitStack()
    try:
        a, b = await login(stack, server.url), await login(stack, server.url)
        anon = await login(stack, server.url, hello_only=True)
        for c in (a, b):
            await c.faucet()
        # Requests validated from the mode's own spec, in the protocol's order.
        assert (await anon.request_raw("coinflip.call", {"match": "x", "side": "heads"}))[1]["code"] == "unauthenticated"
        assert (await a.request_raw("coinflip.nope", {}))[1]["code"] == "unknown_type"
        assert (await a.request_raw("coinflip.call", {"match": "x"}))[1]["code"] == "bad_request"
        assert (await a.request_raw("coinflip.call", {"match": 7, "side": "heads"}))[1]["code"] == "bad_request"
        assert (await a.request_raw("coinflip.call", {"match": "x" * 65, "side": "heads"}))[1]["code"] == "bad_request"
        assert (await a.request_raw("coinflip.call", {"match": "co-none", "side": "heads"}))[1]["code"] == "not_found"
        await a.request("queue.join", {"mode": "coinflip"})
        await b.request("queue.join", {"mode": "coinflip"})
        _, found = await a.next_event("coinflip:found")
        match, fee = found["match"], found["entry_fee"]
        assert fee == 50 and found["players"] == [a.wallet, b.wallet]
        assert (await b.request_raw("coinflip.call", {"match": match, "side": "heads"}))[1]["code"] == "not_allowed"
        for c in (a, b):
            assert await c.pay_entry(match) in ("confirmed", "pending")
        await a.next_event("coinflip:call", match=match)
        assert (await a.request_raw("coinflip.call", {"match": match, "side": "edge"}))[1]["code"] == "bad_request"
        server.kill()  # kill -9 with both fees in escrow, the call not made

        # The journal replays to the stored hashes.
        replay = subprocess.run([sys.executable, "-m", "arena", "replay", "--config", str(config)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(TESTS)})
        assert replay.returncode == 0 and "MISMATCH" not in replay.stdout, replay.stdout + replay.stderr

        # Restarted with another entry fee in config.toml: it applies to new flips.
        config = flip_config(tmp_path, port, flip_store, 70)
        server = ServerProcess(config, port, tmp_path)
        await server.start()
        await stack.aclose()
        a = await login(stack, server.url, a.keypair)
        b = await login(stack, server.url, b.keypair)
        reply = await a.request("coinflip.call", {"match": match, "side": "heads"})
        _, result = await a.next_event("coinflip:result", match=match)
        assert result["landed"] == reply["landed"] and result["pot"] == 2 * fee
        winner, loser = (a, b) if result["winner"] == a.wallet else (b, a)
        with trio.fail_after(20):
            while await winner.balance() != FAUCET - fee + 2 * fee:
                await trio.sleep(0.05)
        assert await loser.balance() == FAUCET - fee

        await a.request("queue.join", {"mode": "coinflip"})
        await b.request("queue.join", {"mode": "coinflip"})
        _, again = await a.next_event("coinflip:found")
        assert again["entry_fee"] == 70
        await trio.sleep(1.5)  # past a snapshot, so the restart below recovers from it
        server.kill()

        await server.start()  # and once more: the payout is not made twice
        await stack.aclose()
        w = await login(stack, server.url, winner.keypair)
        lose = await login(stack, server.url, loser.keypair)
        await trio.sleep(0.5)
        assert await w.balance() == FAUCET + fee and await lose.balance() == FAUCET - fee
    finally:
        with contextlib.suppress(Exception):
            await stack.aclose()
        server.kill()

    cfg = load_config(config, env={"ARENA_MODE_MODULES": "coinflip_mode"})
    store = make_store(cfg)
    await store.open()
    try:
        rows = await store.query("mode_records")
        assert [(r["mode"], r["kind"], r["key"]) for r in rows] == [("coinflip", "flip", match)]
        assert f'"winner":"{winner.wallet}"' in rows[0]["data"].replace(" ", "")
        rec = await store.load_recovery()
        changes = [x for _, blob in rec.journal for x in codec.decode_inputs(blob)
                   if isinstance(x, I.SettingsChanged)]
        if not changes:  # journaled before the newest snapshot: look from the oldest
            snaps = await store.snapshot_list()
            journal = await store.load_journal(snaps[0][0])
            changes = [x for _, blob in journal for x in codec.decode_inputs(blob) if isinstance(x, I.SettingsChanged)]
        assert changes and changes[0].mode == "coinflip" and ("entry_fee", 70) in changes[0].settings
        outbox = await store.query("outbox")
        assert [r["key"] for r in outbox if r["key"].startswith("coinflip:payout:")] == [f"coinflip:payout:{match}"]
    finally:
        await store.close()
