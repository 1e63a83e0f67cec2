"""Crash tests over real sockets and real processes.

`ServerProcess` runs `python -m arena serve --config <tmp config>` as a child
process on a free port below 32768 and kills it with SIGKILL. `Bot` is a
player that keeps playing roast battles through any number of server deaths:
it reconnects, resumes its session (or logs in again when the session is
gone), and drives its battle from `match.snapshot` (asked for with
`match.watch`), so a lost event never stalls it. Bots fire named moments
("between_entries", "mid_round", "payout") that the killer waits for.

`verify_store(...)` opens the store the way recovery does, rebuilds the
engine state and the ledger, and checks the money.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio
import trio_websocket
from solders.keypair import Keypair

from arena.chain.embedded import LedgerBook
from arena.client import ArenaConnectionClosed, ArenaRequestError, ArenaTimeout, open_client
from arena.engine import inputs as I  # noqa: F401 - registers input types for decoding
from arena.persistence import codec
from arena.persistence.durable import replay

ROOT = Path(__file__).resolve().parent.parent
from arena.benchkit.serverproc import free_port  # noqa: E402,F401 - one picker for both harnesses

FAUCET = 10_000
FEE = 100  # bronze




def _toml_lines(table: dict) -> str:
    return "\n".join(f"{k} = {v!r}" if isinstance(v, int) else f'{k} = "{v}"' for k, v in table.items())


def write_config(tmp: Path, port: int, store: dict, *, snapshot_every: int = 40, extra: str = "",
                 ledger: dict | None = None) -> Path:
    """`ledger`: more `[ledger]` keys (e.g. the Solana devnet's), beside the faucet."""
    store_lines = _toml_lines(store)
    ledger_lines = _toml_lines({"faucet_amount": FAUCET, **(ledger or {})})
    text = f"""
[server]
port = {port}
tick_hz = 20

[engine]
seed = 0

[roast]
countdown_ms = 100
time_limit_ms = 4000
entry_deadline_ms = 15000
disconnect_grace_ms = 15000
scoring_timeout_ms = 5000
prompt_timeout_ms = 8000

[ledger]
{ledger_lines}

[media]
path = "{tmp / 'media'}"

[store]
{store_lines}
snapshot_every_ticks = {snapshot_every}
{extra}
"""
    path = tmp / "config.toml"
    path.write_text(text)
    return path


class ServerProcess:
    def __init__(self, config: Path, port: int, log_dir: Path, cwd: Path | None = None):
        self.cwd = cwd if cwd is not None else ROOT  # relative paths in the config start here
        self.config = config
        self.port = port
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    async def start(self, timeout: float = 60) -> None:
        self.starts += 1
        log = open(self.log_dir / f"server-{self.starts}.log", "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arena", "serve", "--config", str(self.config), "--log-level", "INFO"],
            cwd=str(self.cwd), stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        log.close()
        with trio.fail_after(timeout):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                       f"{(self.log_dir / f'server-{self.starts}.log').read_text()[-3000:]}")
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", self.port)
                    await stream.aclose()
                    return
                except OSError:
                    await trio.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def log_tail(self, n: int = 4000) -> str:
        out = []
        for i in range(1, self.starts + 1):
            p = self.log_dir / f"server-{i}.log"
            if p.exists():
                out.append(f"--- server-{i}.log\n" + p.read_text(errors="replace")[-n:])
        return "\n".join(out)


class Moments:
    """Named moments the bots reach; the killer waits for them."""

    def __init__(self):
        self.events: dict[str, trio.Event] = {}
        self.counts: dict[str, int] = {}

    def fire(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        self.events.setdefault(name, trio.Event()).set()

    async def wait(self, name: str, timeout: float) -> bool:
        self.events[name] = trio.Event()
        with trio.move_on_after(timeout):
            await self.events[name].wait()
            return True
        return False


RECOVERABLE = (ArenaConnectionClosed, ArenaTimeout, trio_websocket.HandshakeError,
               trio_websocket.ConnectionClosed, OSError, trio.BrokenResourceError, trio.ClosedResourceError)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _recoverable(exc: BaseException) -> bool:
    if isinstance(exc, ArenaRequestError):
        return exc.code in ("internal", "rate_limited", "overloaded")
    return isinstance(exc, RECOVERABLE)


class Bot:
    def __init__(self, name: str, server: ServerProcess, moments: Moments, battles: int):
        self.name = name
        self.server = server
        self.moments = moments
        self.battles = battles
        self.keypair = Keypair()
        self.wallet = str(self.keypair.pubkey())
        self.session: str | None = None
        self.last_seq = 0
        self.funded = False
        self.match: str | None = None
        self.done: list[str] = []  # battles seen to their end
        self.reconnects = 0
        self.relogins = 0
        self.log: list[str] = []

    def note(self, text: str) -> None:
        self.log.append(f"{time.monotonic():.2f} {text}")

    async def run(self) -> None:
        while len(self.done) < self.battles:
            try:
                async with open_client(self.server.url, keypair=self.keypair, connect_timeout=3) as c:
                    await self._session(c)
                    try:
                        await self._play(c)
                    finally:
                        self.last_seq = max(self.last_seq, c.last_seq)
            except BaseException as exc:  # noqa: BLE001 - sorted below
                leaves = _leaves(exc)
                if not all(_recoverable(x) for x in leaves):
                    raise
                self.note(f"connection lost: {[type(x).__name__ for x in leaves]}")
            self.reconnects += 1
            await trio.sleep(0.1)

    async def _session(self, c) -> None:
        if self.session is not None:
            try:
                await c.resume(self.session, self.last_seq)
                self.note("resumed")
                return
            except ArenaRequestError as exc:
                if exc.code != "not_found":
                    raise
                self.relogins += 1
                self.note("session gone: logging in again")
        await c.hello()
        await c.login(self.keypair)
        self.session = c.session
        self.last_seq = 0
        if not self.funded:
            await c.faucet()
            self.funded = True

    def roast(self, rnd: int) -> str:
        # Bots differ in skill, so that battles have winners (and payouts), not only draws.
        skill = int(self.name[3:]) % 3
        if skill == 0:
            return "meh"
        if skill == 1:
            return f"round {rnd}: you are boring"
        return (f"Round {rnd}, and your comebacks are so weak even your echo gives up halfway; "
                "your style is a 404 and your confidence is a typo!")

    async def _play(self, c) -> None:
        while len(self.done) < self.battles:
            self.last_seq = max(self.last_seq, c.last_seq)
            if self.match is None:
                await self._find_match(c)
                continue
            await self._advance(c)
            await trio.sleep(0.15)

    async def _find_match(self, c) -> None:
        try:
            await c.queue("bronze")
        except ArenaRequestError as exc:
            if exc.code == "wrong_state":
                m = re.search(r"already in battle (\S+)", exc.message)
                if m:
                    self.match = m.group(1)
                    return
            elif exc.code not in ("duplicate", "overloaded"):
                raise
        with trio.move_on_after(1.5):
            _, found = await c.next_event("match.found", timeout=1.5)
            self.match = found["match"]
            self.note(f"found {self.match}")

    async def _advance(self, c) -> None:
        match = self.match
        try:
            await c.watch(match)
        except ArenaRequestError as exc:
            if exc.code == "not_found":
                self.note(f"battle {match} is over")
                self.done.append(match)
                self.match = None
                return
            raise
        _, snap = await c.next_event("match.snapshot", match=match, timeout=5)
        st = snap["state"]
        if self.wallet not in st["players"]:
            # The match.found came from a tick the crash lost (events go out
            # before their tick is durable): the restarted server paired
            # others under that id (the money checks still hold the bot's
            # payments, if any, to account).
            self.note(f"battle {match} is someone else's after the restart: queueing again")
            self.match = None
            return
        phase = st["phase"]
        if phase == "entry" and self.wallet not in st["paid"]:
            first = not st["paid"]
            try:
                await c.pay_entry(match)
                self.note(f"paid {match}")
                if first:
                    self.moments.fire("between_entries")
            except ArenaRequestError as exc:
                if exc.code not in ("duplicate", "wrong_state", "payment_failed", "not_found"):
                    raise
        elif phase == "recording" and self.wallet not in st["submitted"]:
            rnd = st["round"]
            try:
                await c.submit(match, rnd, self.roast(rnd))
                self.note(f"submitted {match} r{rnd}")
                self.moments.fire("payout" if rnd == st["rounds"] else "mid_round")
            except ArenaRequestError as exc:
                if exc.code not in ("duplicate", "wrong_state", "not_found"):
                    raise
        c.drain_events()


async def killer(server: ServerProcess, moments: Moments, plan: list[str], rnd: random.Random,
                 stop: trio.Event) -> list[str]:
    done = []
    for moment in plan:
        if stop.is_set():
            break
        if moment == "random":
            await trio.sleep(rnd.uniform(0.2, 2.0))
        else:
            await moments.wait(moment, timeout=20)
            await trio.sleep(rnd.uniform(0, 0.08))
        if stop.is_set():
            break
        server.kill()
        done.append(moment)
        await trio.sleep(rnd.uniform(0, 0.3))
        await server.start()
    return done


# --- checking the store ---------------------------------------------------------------------


async def read_store(store):
    await store.open()
    try:
        rec = await store.load_recovery()
        battles = await store.query("battles")
        outbox = await store.query("outbox")
    finally:
        await store.close()
    state = codec.load_snapshot(rec.snapshot)
    replay(state, rec.journal, rec.durable_tick)
    book = LedgerBook.from_entries(rec.ledger_entries, rec.ledger_keys)  # raises on a key applied twice
    return state, book, battles, outbox, rec


def check_money(book: LedgerBook, wallets: list[str], battles: list[dict]) -> dict:
    """Balances conserved, every escrow empty, no battle paid out twice."""
    book.audit()
    balances = book.balances
    minted = -sum(v for k, v in balances.items() if k.startswith("mint:"))
    held = sum(v for k, v in balances.items() if not k.startswith("mint:"))
    assert held == minted, f"money not conserved: {held} held, {minted} minted"
    assert minted == FAUCET * len(wallets), f"minted {minted}, expected one faucet per wallet"
    escrows = {k: v for k, v in balances.items() if k.startswith("escrow:") and v}
    assert not escrows, f"money left in escrow: {escrows}"
    settle_keys = [e.key for e in book.entries if e.key.startswith("settle:")]
    per_match: dict[str, set] = {}
    for key in set(settle_keys):
        kind, _, rest = key[len("settle:"):].partition(":")
        if kind == "payout" or (kind == "refund" and rest.startswith("ro-")):
            per_match.setdefault(rest, set()).add(kind)
    twice = {m: kinds for m, kinds in per_match.items() if len(kinds) > 1}
    assert not twice, f"battles both paid out and refunded: {twice}"
    # each battle's escrow received exactly what left it
    for b in battles:
        esc = f"escrow:{b['id']}"
        into = sum(e.amount for e in book.entries if e.credit == esc)
        out = sum(e.amount for e in book.entries if e.debit == esc)
        assert into == out, f"{esc}: {into} in, {out} out"
        if b["winner"]:
            prize = sum(e.amount for e in book.entries
                        if e.key == f"settle:payout:{b['id']}" and e.credit == b["winner"])
            assert prize == b["prize"], f"{b['id']}: winner got {prize}, record says {b['prize']}"
    fees = sum(v for k, v in balances.items() if k.startswith("fee:"))
    players = sum(balances.get(w, 0) for w in wallets)
    assert players + fees == minted
    return {"minted": minted, "fees": fees, "payouts": sum(1 for k in set(settle_keys) if ":payout:" in k)}
