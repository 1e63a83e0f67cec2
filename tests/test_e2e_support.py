"""Shared helpers for the end-to-end tests (tests/test_e2e_*.py).

Everything here talks to a real `ArenaServer` over real sockets through the
test client (`arena.client`); the server object is only read, to check
money (the embedded ledger's book) and to wait for a phase without sleeping
a guessed amount of wall-clock time.

This module holds no tests of its own.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import msgpack
import trio

from arena.client import ArenaRequestError, open_client
from conftest import player, wait_until

FAUCET = 10_000
TIMEOUT = 30  # generous: two shared cores, several servers in one run

# A roast the embedded judge scores well above zero, and one it scores 0
# (whitespace only: "no roast submitted", scored at once by the engine).
GOOD = "Your {p} energy is so weak even your echo gives up halfway, and your mirror files for divorce!"
BLANK = "   "


def pack(value) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def req(rid: int, type_: str, body: dict | None = None) -> bytes:
    return pack([0, rid, type_, {} if body is None else body])


async def error_code(coro) -> str:
    """Await a client request that must fail; return its error code."""
    try:
        body = await coro
    except ArenaRequestError as exc:
        return exc.code
    raise AssertionError(f"expected an error reply, got ok {body!r}")


async def raw_error(client, data: bytes, rid: int, timeout: float = TIMEOUT) -> dict:
    """Send raw frame bytes expecting an error reply under `rid`; return its body."""
    if rid == 0:
        await client.send_raw(data)
        status, body = await client.expect_reply(0, timeout=timeout)
    else:
        status, body = await client.send_raw(data, rid=rid, timeout=timeout)
    assert status == "error", (status, body)
    assert isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("message"), str), body
    return body


async def wait_phase(server, match: str, phase: str, rnd: int | None = None, timeout: float = TIMEOUT) -> None:
    def ready():
        m = server.state.matches.get(match)
        if m is None:
            raise AssertionError(f"match {match} is gone while waiting for {phase}")
        return m.phase == phase and (rnd is None or m.round == rnd)

    await wait_until(ready, timeout=timeout)


async def settled(server, timeout: float = TIMEOUT) -> None:
    """Wait until every settlement the engine asked for has been carried out."""
    await wait_until(lambda: not server.state.unsettled, timeout=timeout)


def money(server) -> dict:
    """A conservation check of the embedded ledger; returns the balances."""
    book = server.ledger.book
    book.audit()  # sum 0, nothing negative outside mint:*, entries rebuild the balances
    balances = dict(book.balances)
    minted = -sum(v for k, v in balances.items() if k.startswith("mint:"))
    held = sum(v for k, v in balances.items() if not k.startswith("mint:"))
    assert held == minted, (held, minted)
    return balances


def held_total(server) -> int:
    """All tokens outside the mint: wallets + escrows + fee accounts."""
    return sum(v for k, v in server.ledger.book.balances.items() if not k.startswith("mint:"))


async def queue_pair(a, b, tier: str = "bronze") -> tuple[str, int]:
    """Queue a and b (in this order) into one battle; return (match, entry fee)."""
    await a.queue(tier)
    await b.queue(tier)
    _, fa = await a.next_event("match.found", timeout=TIMEOUT)
    _, fb = await b.next_event("match.found", timeout=TIMEOUT)
    assert fa["match"] == fb["match"]
    assert fa["players"] == [a.wallet, b.wallet]
    return fa["match"], fa["entry_fee"]


async def start_battle(a, b, tier: str = "bronze") -> tuple[str, int]:
    match, fee = await queue_pair(a, b, tier)
    assert await a.pay_entry(match) == "confirmed"
    assert await b.pay_entry(match) == "confirmed"
    return match, fee


async def play_round(server, a, b, match: str, rnd: int, text_a: str = GOOD, text_b: str = BLANK,
                     watchers=(), before_submit=None) -> list:
    """Play round `rnd` (both submit once recording opens); return the revealed scores."""
    this_round = lambda e: e["roundNumber"] == rnd  # noqa: E731 - older rounds' events may be buffered
    for c in (a, b, *watchers):
        _, start = await c.next_event("battle:round_start", match=match, where=this_round, timeout=TIMEOUT)
    await wait_phase(server, match, "recording", rnd)
    if before_submit is not None:
        await before_submit()
    assert await a.submit(match, rnd, text_a.format(p=start["prompt"])) == {}
    assert await b.submit(match, rnd, text_b.format(p=start["prompt"])) == {}
    scores = []
    for c in (a, b, *watchers):
        got = []
        for _ in range(2):
            _, sc = await c.next_event("battle:score_revealed", match=match, where=this_round, timeout=TIMEOUT)
            assert sc["score"] == sum(sc["breakdown"].values())
            got.append(sc)
        assert [s["playerId"] for s in got] == [a.wallet, b.wallet]  # player1 first
        scores.append(got)
    return scores[0]


async def play_battle(server, a, b, tier: str = "bronze", rounds: int = 3) -> tuple[str, int, dict]:
    """A full battle that `a` wins; returns (match, fee, battle:ended body)."""
    match, fee = await start_battle(a, b, tier)
    for rnd in range(1, rounds + 1):
        await play_round(server, a, b, match, rnd)
    _, end = await a.next_event("battle:ended", match=match, timeout=TIMEOUT)
    _, end_b = await b.next_event("battle:ended", match=match, timeout=TIMEOUT)
    assert end == end_b
    return match, fee, end


class BackgroundBattle:
    """Two fresh players playing a full battle in the background.

    Used to show that hostile input on other connections never disturbs a
    running match: `await bg.done.wait()` then check `bg.end` / `bg.error`.
    """

    def __init__(self, server, url: str, tier: str = "silver", hold_round: int | None = 2):
        self.server, self.url, self.tier = server, url, tier
        # The battle stops in the recording window of `hold_round` (so the
        # server needs a long roast time_limit_ms) until `release` is set.
        self.hold_round = hold_round
        self.holding = trio.Event()
        self.release = trio.Event()
        self.done = trio.Event()
        self.end: dict | None = None
        self.error: BaseException | None = None
        self.wallets: tuple[str, str] | None = None
        self.match: str | None = None
        self.fee = 0
        self.started = trio.Event()
        self.balances: tuple[int, int] | None = None
        self.seq_gaps: list = []

    async def run(self) -> None:
        try:
            async with player(self.url) as a, player(self.url) as b:
                self.wallets = (a.wallet, b.wallet)
                self.match, self.fee = await start_battle(a, b, self.tier)
                self.started.set()
                for rnd in (1, 2, 3):
                    hold = None
                    if rnd == self.hold_round:
                        hold = self._hold
                    await play_round(self.server, a, b, self.match, rnd, before_submit=hold)
                _, self.end = await a.next_event("battle:ended", match=self.match, timeout=TIMEOUT)
                await settled(self.server)
                self.balances = (await a.balance(), await b.balance())
                self.seq_gaps = a.seq_gaps + b.seq_gaps
        except BaseException as exc:  # noqa: BLE001 - reported through .error
            self.error = exc
            self.started.set()
            self.holding.set()
            if isinstance(exc, trio.Cancelled):
                raise
        finally:
            self.done.set()

    async def _hold(self) -> None:
        self.holding.set()
        await self.release.wait()

    async def check(self, timeout: float = 90) -> None:
        self.release.set()
        with trio.fail_after(timeout):
            await self.done.wait()
        if self.error is not None:
            raise AssertionError(f"the background battle failed: {self.error!r}") from self.error
        assert self.end["reason"] == "completed"
        assert self.end["winnerId"] == self.wallets[0]
        pool = 2 * self.fee
        assert self.end["prizeAmount"] == pool - pool * 500 // 10_000
        assert self.balances == (FAUCET - self.fee + self.end["prizeAmount"], FAUCET - self.fee)
        assert self.seq_gaps == []


@asynccontextmanager
async def background_battle(nursery, server, url, tier: str = "silver", hold_round: int | None = 2):
    """Start a BackgroundBattle and yield it once it is in the recording window of
    `hold_round` (or, without one, once both fees are paid); at exit let it
    finish and check that it completed and paid out exactly."""
    bg = BackgroundBattle(server, url, tier, hold_round)
    nursery.start_soon(bg.run)
    with trio.fail_after(TIMEOUT):
        await (bg.holding if hold_round else bg.started).wait()
    yield bg
    await bg.check()


@asynccontextmanager
async def raw_client(url, **kwargs):
    """A connected client that has said nothing yet."""
    async with open_client(url, **kwargs) as c:
        yield c


async def still_serving(url) -> None:
    """The server accepts a new connection and answers it."""
    async with player(url, faucet=False) as c:
        assert isinstance(await c.ping(), int)
