"""`python -m arena bot --mode lottery`: bettors on lottery rounds.

Each bettor has a fresh wallet key: hello, login, the dev faucet, then it
loops over the open rounds `match.list {"mode": "lottery"}` shows, bets a
random stake once on each (`lottery.bet.build` → sign → `.confirm`), watches
it, and tells what happens: the lock (and the refund of what was not
matched), the result and the outcome, its winnings (claiming them when the
server does not pay by itself). Bettors take sides by turns, so every round
has stakes on both sides and gets matched.

Rounds come from the server's schedule (`[lottery.draws]`), or from this
command when it is given an operator API key (`--key`, from `python -m
arena keys create --role operator`): a "host" then creates a round whose
betting closes `--draw-in` seconds from now (the server's `lock_lead_ms`
is learnt from its first refusal), and the next one when that round locks,
cycling through the games and propositions. `--rounds K` stops each
bettor after K rounds it bet on have ended (0 = until Ctrl-C); a bettor
that sees no progress for `--stall-timeout` seconds reports it and the
command exits non-zero. Only the wire protocol is used (`arena.client`).
"""

from __future__ import annotations

import random
import re
import secrets
import time
from collections.abc import Callable

import trio
from solders.keypair import Keypair

from arena.client import ArenaConnectionClosed, ArenaRequestError, ArenaTimeout, open_client, short_wallet

GAMES = ("powerball", "megamillions")
PROPOSITIONS = ({"kind": "bonus_parity"}, {"kind": "bonus_over", "threshold": 12},
                {"kind": "white_sum_over", "threshold": 175})
POLL_S = 0.5
RETRYABLE = ("rate_limited", "overloaded")
_LEAD = re.compile(r"lock_lead_ms \((\d+)\) after the server's time \((\d+)\)")
_DISCONNECTED = (ArenaConnectionClosed, ArenaTimeout, OSError, trio.BrokenResourceError)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Host:
    """Creates rounds with an operator key, one at a time: the next when the
    last one locks. `created` rounds at most (0: no limit)."""

    def __init__(self, url: str, key: str, draw_in_s: float, rounds: int, log: Callable[[str], None]):
        self.url, self.key, self.draw_in_ms, self.rounds, self.log = url, key, int(draw_in_s * 1000), rounds, log
        self.created = 0
        self.lead_ms: int | None = None

    async def run(self) -> None:
        while not self.rounds or self.created < self.rounds:
            try:
                async with open_client(self.url) as c:
                    await c.hello()
                    await c.request("auth.key", {"key": self.key})
                    while not self.rounds or self.created < self.rounds:
                        rid = await self._create(c)
                        await c.request("lottery.watch", {"round": rid})
                        await c.next_event("lottery:round_locked", where=lambda b, r=rid: b["round"] == r,
                                           timeout=self.draw_in_ms / 1000 + 120)
                        c.drain_events()
            except _DISCONNECTED as exc:
                self.log(f"host: connection lost ({type(exc).__name__}); reconnecting")
                await trio.sleep(1)

    async def _create(self, c) -> str:
        n = self.created
        body = {"game": GAMES[n % len(GAMES)], "proposition": PROPOSITIONS[n % len(PROPOSITIONS)]}
        server_now = _now_ms()
        for _ in range(2):
            lead = self.lead_ms if self.lead_ms is not None else 0
            try:
                rid = (await c.request("lottery.create", {**body, "draw_time_ms": server_now + lead
                                                          + self.draw_in_ms}))["round"]
                break
            except ArenaRequestError as exc:
                found = _LEAD.search(exc.message) if exc.code == "bad_request" else None
                if found is None or self.lead_ms is not None:
                    raise
                self.lead_ms, server_now = int(found.group(1)), int(found.group(2))
        self.created += 1
        self.log(f"host: round {rid} ({body['game']}, {body['proposition']['kind']}); bets close in "
                 f"{self.draw_in_ms / 1000:g} s")
        return rid


class Bettor:
    def __init__(self, index: int, url: str, rounds: int, seed: int, max_stake: int,
                 log: Callable[[str], None], stall_timeout: float):
        self.index, self.url, self.rounds, self.max_stake = index, url, rounds, max_stake
        self.rng = random.Random(seed * 1_000 + index)
        self.keypair = Keypair()
        self.wallet = str(self.keypair.pubkey())
        self.name = f"bettor{index} {short_wallet(self.wallet)}"
        self._log = log
        self.stall_timeout = stall_timeout
        self.bet_on: dict[str, str] = {}  # round -> side
        self.ended: set[str] = set()
        self.won = 0
        self.refunded = 0
        self.last_progress = trio.current_time()

    def log(self, msg: str) -> None:
        self._log(f"{self.name}: {msg}")

    def progress(self) -> None:
        self.last_progress = trio.current_time()

    def finished(self) -> bool:
        return bool(self.rounds) and len(self.ended) >= self.rounds

    async def run(self) -> bool:
        funded = False
        while not self.finished():
            if trio.current_time() - self.last_progress > self.stall_timeout:
                self.log(f"no progress for {self.stall_timeout:g} s: giving up")
                return False
            try:
                async with open_client(self.url, keypair=self.keypair) as c:
                    await c.hello()
                    await c.login()
                    if not funded:
                        await c.faucet()
                        funded = True
                    for rid in self.bet_on:
                        if rid not in self.ended:
                            await self._call(c, "lottery.watch", {"round": rid})
                    await self._loop(c)
            except _DISCONNECTED as exc:
                self.log(f"connection lost ({type(exc).__name__}); reconnecting")
                await trio.sleep(1)
        self.log(f"done: {len(self.ended)} round(s), won {self.won}, refunded {self.refunded}")
        return True

    async def _call(self, c, type_: str, body: dict):
        for attempt in range(5):
            try:
                return await c.request(type_, body)
            except ArenaRequestError as exc:
                if exc.code not in RETRYABLE or attempt == 4:
                    raise
                await trio.sleep(0.2 * (attempt + 1))
        return None

    async def _loop(self, c) -> None:
        while not self.finished():
            if trio.current_time() - self.last_progress > self.stall_timeout:
                return
            for m in await c.list_matches("lottery", phase="open"):
                rid = m["match"]
                if rid not in self.bet_on:
                    await self._bet(c, rid)
            for type_, body in c.drain_events():
                await self._on_event(c, type_, body)
            await trio.sleep(POLL_S)

    async def _bet(self, c, rid: str) -> None:
        # By turns: even bettors open on yes, odd on no, alternating per round.
        side = ("yes", "no")[(self.index + len(self.bet_on)) % 2]
        amount = self.rng.randint(1, self.max_stake)
        self.bet_on[rid] = side
        try:
            built = await self._call(c, "lottery.bet.build", {"round": rid, "side": side, "amount": amount})
            tx, signature = c.sign_payment(built["tx"])
            await self._call(c, "lottery.bet.confirm", {"round": rid, "tx": tx, "signature": signature})
            await self._call(c, "lottery.watch", {"round": rid})
        except ArenaRequestError as exc:
            if exc.code not in ("wrong_state", "not_found", "payment_failed"):
                raise
            self.log(f"bet on {rid} refused ({exc.code}): {exc.message}")
            self.ended.add(rid)  # nothing of ours in it
            return
        self.progress()
        self.log(f"bet {amount} on {side} in {rid}")

    async def _on_event(self, c, type_: str, b) -> None:
        if not isinstance(b, dict) or b.get("round") not in self.bet_on:
            return
        rid = b["round"]
        if type_ == "lottery:round_locked":
            self.log(f"{rid} locked")
        elif type_ == "lottery:refund_issued" and b.get("wallet") == self.wallet:
            self.refunded += b["amount"]
            self.log(f"{rid}: {b['amount']} refunded")
        elif type_ == "lottery:round_finalized" and rid not in self.ended:
            self.ended.add(rid)
            self.progress()
            mine = self.bet_on[rid]
            self.log(f"{rid} drawn: {b['result'].get('whites')} + {b['result'].get('bonus')}, "
                     f"{b['outcome']} ({'won' if mine == b['outcome'] else 'lost'})")
            if mine == b["outcome"]:
                try:  # rounds that do not settle themselves are claimed
                    got = await c.request("lottery.claim", {"round": rid})
                    self.won += got["amount"]
                    self.log(f"{rid}: claimed {got['amount']}")
                except ArenaRequestError as exc:
                    if exc.code not in ("duplicate", "not_allowed", "wrong_state"):
                        raise
        elif type_ == "lottery:round_void" and rid not in self.ended:
            self.ended.add(rid)
            self.progress()
            self.log(f"{rid} void: {b.get('reason')}")
        elif type_ == "lottery:winnings_claimed" and b.get("wallet") == self.wallet:
            self.won += b["amount"]
            self.log(f"{rid}: paid {b['amount']}")


async def run_lottery_bots(url: str, count: int = 2, rounds: int = 0, seed: int | None = None,
                           log: Callable[[str], None] | None = None, *, key: str | None = None,
                           draw_in_s: float = 30.0, max_stake: int = 100, stall_timeout: float = 600.0) -> int:
    """Run `count` bettors (and a host creating rounds, with `key`) until
    each has seen `rounds` of its rounds end (0 = forever). The exit status:
    0 when every bettor ended normally, 1 otherwise."""
    from arena.bot import default_log

    log = log or default_log
    seed = secrets.randbelow(2**31) if seed is None else seed
    bettors = [Bettor(i + 1, url, rounds, seed, max_stake, log, stall_timeout) for i in range(count)]
    log(f"arena bot: {count} lottery bettor(s) on {url}, {rounds or 'unlimited'} round(s) each, seed {seed}; "
        + (f"rounds created with an operator key, bets closing after {draw_in_s:g} s" if key
           else "betting on the rounds the server's schedule opens"))
    results: list[bool] = []

    async def one(b: Bettor) -> None:
        results.append(await b.run())

    async with trio.open_nursery() as nursery:
        if key:
            host = Host(url, key, draw_in_s, rounds, log)
            nursery.start_soon(host.run)
        async with trio.open_nursery() as players:
            for b in bettors:
                players.start_soon(one, b)
                await trio.sleep(0.02)
        nursery.cancel_scope.cancel()
    log(f"arena bot: {sum(len(b.ended) for b in bettors)} bettor-round(s) ended, "
        f"{sum(b.won for b in bettors)} won, {results.count(False)} bettor(s) failed")
    return 0 if results.count(True) == count else 1
