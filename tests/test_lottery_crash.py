"""kill -9 between a lottery round's result and its payout pays exactly once.

`python -m arena serve` runs in a child process with a real draw feed: 2 of
3 local publishers on 127.0.0.1 (NY Open Data SODA JSON, Texas Lottery CSV,
a JSON mirror; tests/draw_publishers.py). Two players bet opposite sides;
the round locks (the unmatched stake goes back), and the moment the
publishers are asked for the draw the server is killed:

- on SQLite, a little after the answer (the result is journaled, its payout
  is in flight or not: the delay varies per round);
- on PostgreSQL behind a proxy, with the store cut off before the answer
  (the result reaches the engine and the payout waits for a journal that
  cannot be written): the restarted server has neither, asks the
  publishers again from the outbox and pays then.

After a restart each round is settled, its escrow empty, each winner paid
once under `payout:<round>:<wallet>` (the ledger refuses a key twice), the
fee and the refund once, and every balance is exact to the base unit. The
same on the local Solana devnet, with the balances read from the chain.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time

import pytest
import trio

from arena.client import open_client
from arena.modes.lottery.messages import payout_key
from crash_harness import FAUCET, ROOT, ServerProcess, free_port, read_store, write_config
from draw_publishers import Publishers, json_mirror, soda_url, texas_url
from feed_http import FeedSources
from solana_net import solana_devnet  # noqa: F401

pytestmark = pytest.mark.slow

LOCK_LEAD_MS = 2_000
YES, NO = 300, 200  # yes's unmatched 100 goes back at lock


def _lottery_config(tmp_path, port, store: dict, sources, mirror_url, ledger: dict | None = None) -> object:
    def src(name, url, fmt):
        return f'{{name = "{name}", url = "{url}", format = "{fmt}"}}'

    extra = f"""
[lottery]
lock_lead_ms = {LOCK_LEAD_MS}
result_delay_ms = 0
result_retry_ms = 1000

[feeds.draw]
kind = "http"
consensus = "agree"
k = 2
deadline_ms = 4000
timeout_ms = 2000
retry_ms = 200
sources = [
  {src("ny", soda_url(sources, "ny"), "ny_soda")},
  {src("tx", texas_url(sources, "tx"), "texas_csv")},
  {{name = "mirror", url = "{mirror_url}", value_path = "value"}},
]
"""
    return write_config(tmp_path, port, store, extra=extra, ledger=ledger)


async def _operator_key(config) -> str:
    # Run without blocking trio: the store may be behind the test's own proxy.
    with trio.fail_after(120):
        out = await trio.run_process([sys.executable, "-m", "arena", "keys", "create", "--role", "operator",
                                      "--name", "ops", "--config", str(config)], cwd=str(ROOT),
                                     capture_stdout=True, capture_stderr=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.decode().strip()


class GatedPublishers:
    """The publishers, with a gate: the first request for a round's draw is
    held until the test has done what it wants at that moment (`asked`,
    then `release`)."""

    def __init__(self, sources: FeedSources) -> None:
        self.pubs = Publishers()
        self.asked = threading.Event()
        self.go = threading.Event()
        self.go.set()
        self.asks = 0
        handlers = {"ny": self.pubs.soda(), "tx": self.pubs.texas()}
        for name, handler in handlers.items():
            sources.add(name, self._gated(handler))
        self.mirror = sources.add("mirror", json_mirror(self.pubs.draws)) + \
            "?game={game}&part={part}&draw_time_ms={draw_time_ms}"

    def _gated(self, handler):
        def handle(path):
            self.asks += 1
            self.asked.set()
            self.go.wait(timeout=20)
            return handler(path)
        return handle

    def arm(self, hold: bool) -> None:
        self.asked.clear()
        if hold:
            self.go.clear()

    async def wait_asked(self, timeout: float = 30) -> None:
        with trio.fail_after(timeout):
            while not self.asked.is_set():
                await trio.sleep(0.01)


async def _connect(url: str, *, key: str | None = None, keypair=None, faucet: bool = False):
    c = open_client(url, keypair=keypair) if keypair is not None else open_client(url)
    client = await c.__aenter__()
    await client.hello()
    if key is not None:
        await client.request("auth.key", {"key": key})
    else:
        await client.login()
        if faucet:
            await client.faucet()
    return c, client


async def _bet(c, rid, side, amount):
    built = await c.request("lottery.bet.build", {"round": rid, "side": side, "amount": amount})
    await c.request("lottery.bet.confirm", {"round": rid, "tx": built["tx"], "signature": c.sign(built["tx"])})


async def _round(server: ServerProcess, key: str, gate: GatedPublishers, at_the_moment, draw_offset_ms=4_500):
    """One round from create to the kill at the moment of its result; returns
    (round id, yes wallet, no wallet, bonus ball)."""
    ctxs = []
    try:
        ctx, op = await _connect(server.url, key=key)
        ctxs.append(ctx)
        ctx, alice = await _connect(server.url, faucet=True)
        ctxs.append(ctx)
        ctx, bob = await _connect(server.url, faucet=True)
        ctxs.append(ctx)
        draw = int(time.time() * 1000) + draw_offset_ms
        rid = (await op.request("lottery.create", {"game": "powerball", "draw_time_ms": draw,
                                                   "proposition": {"kind": "bonus_parity"}}))["round"]
        bonus = random.Random(rid).randint(1, 26)
        gate.pubs.publish("powerball", draw, (3, 14, 15, 42, 65), bonus)
        await _bet(alice, rid, "yes", YES)
        await _bet(bob, rid, "no", NO)
        gate.arm(hold=at_the_moment.hold)
    finally:
        for ctx in reversed(ctxs):
            await ctx.__aexit__(None, None, None)
    await gate.wait_asked()
    await at_the_moment(server, gate)
    return rid, alice.wallet, bob.wallet, bonus


def _balances_after(yes_wallet, no_wallet, bonus) -> dict:
    winner = yes_wallet if bonus % 2 else no_wallet
    want = {yes_wallet: FAUCET - NO, no_wallet: FAUCET - NO}
    want[winner] += 2 * NO - NO * 2 // 100
    return want


def _check_round(book, rid, yes_wallet, no_wallet, bonus) -> None:
    bal = book.balances
    assert bal.get(f"escrow:{rid}", 0) == 0
    winner = yes_wallet if bonus % 2 else no_wallet
    payouts = [e for e in book.entries if e.key == f"settle:{payout_key(rid, winner)}"]
    assert len(payouts) == 1 and payouts[0].amount == 2 * NO - NO * 2 // 100, payouts
    assert not [e for e in book.entries if e.key.startswith(f"settle:payout:{rid}:") and e.credit != winner]
    got = {yes_wallet: bal.get(yes_wallet, 0), no_wallet: bal.get(no_wallet, 0)}
    assert got == _balances_after(yes_wallet, no_wallet, bonus), rid


async def _run(tmp_path, store: dict, make_store, moments: list, ledger: dict | None = None):
    """The rounds, one per moment, each killed at its moment; then the
    store's state checked (every round settled, nothing unsettled) and, on
    the embedded ledger, its book (returned as None on Solana, whose money
    the caller reads from the chain)."""
    port = free_port()
    with FeedSources() as sources:
        gate = GatedPublishers(sources)
        config = _lottery_config(tmp_path, port, store, sources, gate.mirror, ledger)
        key = await _operator_key(config)
        server = ServerProcess(config, port, tmp_path)
        await server.start()
        rounds = []
        try:
            with trio.fail_after(180):
                for moment in moments:
                    rounds.append(await _round(server, key, gate, moment))
                await trio.sleep(4)  # the last restart finishes what was in flight
        except BaseException:
            server.kill()
            print(server.log_tail())
            raise
        server.kill()
    state, book, _, outbox, _ = await read_store(make_store())
    assert state.unsettled == {}, state.unsettled
    assert not [o for o in outbox if o["kind"] == "Settle" and o["done_tick"] is None]
    assert server.kills == len(moments) + 1
    for rid, *_ in rounds:
        r = state.modes["lottery"].rounds[rid]
        assert r.state == "settled", (rid, r.state)
        assert r.escrow_in == YES + NO and r.paid_out + r.fees + r.refunded == YES + NO
    if ledger is not None:
        return rounds, state, None
    book.audit()
    for rid, yes_wallet, no_wallet, bonus in rounds:
        _check_round(book, rid, yes_wallet, no_wallet, bonus)
    return rounds, state, book


def _kill_after(delay_s: float):
    async def moment(server: ServerProcess, gate: GatedPublishers) -> None:
        await trio.sleep(delay_s)
        server.kill()
        await server.start()
    moment.hold = False
    return moment


async def test_kill_9_between_result_and_payout_embedded(tmp_path):
    from arena.persistence.sqlite import SqliteStore

    path = tmp_path / "arena.sqlite"
    await _run(tmp_path, {"kind": "embedded", "path": str(path)}, lambda: SqliteStore(path),
               [_kill_after(0.0), _kill_after(0.05), _kill_after(0.25)])


@pytest.mark.services
async def test_kill_9_with_the_result_in_memory_and_the_payout_held_postgres(tmp_path, pg_schema, nursery):
    from urllib.parse import urlsplit

    from arena.persistence.postgres import PostgresStore
    from tcp_proxy import TcpProxy

    parts = urlsplit(pg_schema)
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    pport = await nursery.start(proxy.run)
    dsn = pg_schema.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{pport}")
    config = write_config(tmp_path, 1, {"kind": "postgres", "dsn": pg_schema})
    out = subprocess.run([sys.executable, "-m", "arena", "migrate", "--config", str(config)],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    seen = {}

    async def cut_then_kill(server: ServerProcess, gate: GatedPublishers) -> None:
        proxy.cut()  # the store is gone: the result cannot be journaled, so no payout may leave
        gate.go.set()  # the publishers answer now
        await trio.sleep(1.0)
        server.kill()
        seen["gate"], seen["asks_at_kill"] = gate, gate.asks
        proxy.restore()
        await server.start()
    cut_then_kill.hold = True

    rounds, state, _ = await _run(tmp_path, {"kind": "postgres", "dsn": dsn}, lambda: PostgresStore(pg_schema),
                                  [cut_then_kill])
    # The first answers died with the process (never journaled): the restarted
    # server asked the publishers again, from the outbox, under the same keys.
    assert seen["gate"].asks > seen["asks_at_kill"]
    assert state.modes["lottery"].rounds[rounds[0][0]].attempt == 1


async def test_kill_9_between_result_and_payout_on_the_solana_devnet(tmp_path, solana_devnet):
    """The same on real SPL tokens: the payouts are chain transactions,
    recorded by the Solana ledger under their keys; after the kills every
    balance on chain is exact (a payout sent twice would show) and the
    escrow token account holds what it held before."""
    from arena.persistence.sqlite import SqliteStore
    from test_e2e_solana import Chain, solana_ledger, until_balance

    chain = Chain(solana_devnet)
    escrow_before = await chain.escrow()
    path = tmp_path / "arena.sqlite"
    rounds, _, _ = await _run(tmp_path, {"kind": "embedded", "path": str(path)}, lambda: SqliteStore(path),
                              [_kill_after(0.0), _kill_after(0.2)], ledger=solana_ledger(solana_devnet, tmp_path))
    for _, yes_wallet, no_wallet, bonus in rounds:
        for wallet, amount in _balances_after(yes_wallet, no_wallet, bonus).items():
            await until_balance(chain, wallet, amount)
    assert await chain.escrow() == escrow_before
