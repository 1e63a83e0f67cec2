"""`python -m arena bot --mode contest`: bots that enter trading contests.

Each bot logs in with a fresh wallet, takes the dev faucet, and loops:
every contest in registration (`match.list {"mode": "contest"}`) it is not
in, it joins with a random portfolio (1..`portfolio_size` of the contest's
tokens, random positive weights summing to 10,000) through
`contest.join.build` → sign → `contest.join.confirm`, and watches; it logs
each contest's start, its rank in the pushed rankings, and the result (its
rank and prize) from `contest:ended`. It stops after `--contests` finished
contests (0: until Ctrl-C). Contests are created by an operator
(`contest.create`); a bot never creates one.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable

import trio

from .client import ArenaConnectionClosed, ArenaRequestError, ArenaTimeout, open_client

PAUSE_S = 0.5
EVENTS = ("contest:started", "contest:rankings", "contest:ended", "contest:cancelled", "achievement:unlocked")
# Codes a join may meet in the normal course of play (someone else filled
# the contest, it started meanwhile): the bot moves on.
EXPECTED = ("wrong_state", "not_found", "duplicate", "not_allowed", "rate_limited")


def random_portfolio(rng: random.Random, tokens, size: int) -> list[dict]:
    """1..`size` distinct tokens with positive weights summing to 10,000."""
    picked = rng.sample(list(tokens), rng.randint(1, min(size, len(tokens))))
    cuts = sorted(rng.sample(range(1, 10_000), len(picked) - 1))
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000])]
    return [{"token": t, "weight_bps": w} for t, w in zip(picked, weights)]


class ContestBot:
    def __init__(self, index: int, url: str, contests: int, rng: random.Random, log: Callable[[str], None]):
        self.name = f"trader-{index}"
        self.url, self.contests, self.rng, self.log = url, contests, rng, log
        self.joined: set[str] = set()
        self.done = 0
        self.prizes = 0

    async def run(self) -> bool:
        try:
            async with open_client(self.url) as c:
                await c.hello()
                await c.login()
                await c.request("wallet.faucet", {})
                while not self.contests or self.done < self.contests:
                    await self._join_open(c)
                    await self._events(c)
            return True
        except (OSError, ArenaConnectionClosed, ArenaRequestError) as exc:
            self.log(f"{self.name}: stopped: {exc}")
            return False

    async def _join_open(self, c) -> None:
        listed = await c.request("match.list", {"mode": "contest", "phase": "registration"})
        for m in sorted(listed["matches"], key=lambda m: m["match"]):
            cid = m["match"]
            if cid in self.joined or c.wallet in m["players"]:
                continue
            terms = (await c.request("contest.get", {"contest": cid}))["terms"]
            portfolio = random_portfolio(self.rng, terms["tokens"], terms["portfolio_size"])
            try:
                built = await c.request("contest.join.build", {"contest": cid, "portfolio": portfolio})
                tx, signature = c.sign_payment(built["tx"])  # a BSV wallet's transaction comes back signed
                await c.request("contest.join.confirm", {"contest": cid, "tx": tx, "signature": signature})
                await c.request("contest.watch", {"contest": cid})
            except ArenaRequestError as err:
                if err.code not in EXPECTED:
                    raise
                continue
            self.joined.add(cid)
            shown = ", ".join(f"{p['token'][:6]} {p['weight_bps'] / 100:g}%" for p in portfolio)
            self.log(f"{self.name}: joined {cid} for {built['amount']}: {shown}")

    async def _events(self, c) -> None:
        """Take the events that came, for at most PAUSE_S."""
        end = trio.current_time() + PAUSE_S
        while trio.current_time() < end:
            try:
                type_, body = await c.next_event(EVENTS, timeout=max(0.01, end - trio.current_time()))
            except ArenaTimeout:
                return
            self._on_event(c, type_, body)

    def _on_event(self, c, type_: str, body: dict) -> None:
        cid = body.get("contest")
        if type_ == "contest:started":
            self.log(f"{self.name}: {cid} started")
        elif type_ == "contest:rankings" and body["rankings"]:
            mine = next((r for r in body["rankings"] if r["wallet"] == c.wallet), None)
            if mine is not None and self.rng.random() < 0.2:
                self.log(f"{self.name}: {cid} rank {mine['rank']}/{len(body['rankings'])}, "
                         f"{mine['score_bps']} bps{' (stale prices)' if body['stale'] else ''}")
        elif type_ in ("contest:ended", "contest:cancelled") and cid in self.joined:
            self.done += 1
            if type_ == "contest:cancelled":
                self.log(f"{self.name}: {cid} cancelled: {body['reason']}")
                return
            mine = next((r for r in body["rankings"] if r["wallet"] == c.wallet), None)
            prize = sum(p["amount"] for p in body["prizes"] if p["wallet"] == c.wallet)
            self.prizes += prize
            self.log(f"{self.name}: {cid} ended: rank {mine['rank'] if mine else '?'}/{len(body['rankings'])}, "
                     f"prize {prize}")
        elif type_ == "achievement:unlocked":
            self.log(f"{self.name}: achievement {body['achievement']}")


async def run_contest_bots(url: str, count: int = 2, contests: int = 0, seed: int | None = None,
                           log: Callable[[str], None] | None = None) -> int:
    """Run `count` contest bots until each has finished `contests` contests
    (0 = forever). Returns 0 when every bot ended normally, 1 otherwise."""
    from .bot import default_log

    log = log or default_log
    seed = secrets.randbelow(2**31) if seed is None else seed
    master = random.Random(seed)
    bots = [ContestBot(i + 1, url, contests, random.Random(master.random()), log) for i in range(count)]
    log(f"arena bot: {count} contest bot(s) on {url}, {contests or 'unlimited'} contest(s) each, seed {seed}")
    results: list[bool] = []

    async def one(bot: ContestBot) -> None:
        results.append(await bot.run())

    try:
        async with trio.open_nursery() as nursery:
            for bot in bots:
                nursery.start_soon(one, bot)
                await trio.sleep(0.02)
    finally:
        log(f"arena bot: {sum(b.done for b in bots)} contest entries finished, "
            f"{sum(b.prizes for b in bots)} won in prizes, {results.count(False)} bot(s) failed")
    return 0 if results.count(False) == 0 and len(results) == count else 1
