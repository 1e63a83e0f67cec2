"""`python -m arena bot --count N`: bot players that play roast battles
(`--mode lottery`: bettors on lottery rounds, `arena.bot_lottery`; `--mode
canvas`: painters on the weekly canvas, `arena.canvas_bot`).

Each bot has a fresh wallet key. It says hello, logs in, takes tokens from the
dev faucet, then loops: queue.join → match.found → pay the entry fee → for
each round, wait out the countdown and submit a roast made from the round's
prompt → battle:ended (one summary line) → queue again. `--battles K` stops
each bot after K battles (0 = until Ctrl-C). A dropped connection is taken
over again with session.resume. Nothing waits forever: a bot that sees no
progress for `--stall-timeout` seconds (2 minutes by default) reports it and
the command exits non-zero.

Only the wire protocol is used (through `arena.client`), so the bot works
against any server that follows PROTOCOL.md.
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import sys
import time
from collections.abc import Callable

import trio
import trio_websocket

from arena.client import (
    DEFAULT_URL,
    ArenaClient,
    ArenaConnectionClosed,
    ArenaRequestError,
    ArenaTimeout,
    open_client,
    short_wallet,
)

TIERS = ("bronze", "silver", "gold", "diamond")
EMOJIS = ("🔥", "😂", "💀", "👏", "😮", "🤡")
REQUEST_TIMEOUT = 15.0          # one request's reply
RECONNECT_WINDOW = 25.0         # keep trying to resume this long (server grace is 30 s by default)
QUEUE_PING_EVERY = 15.0         # while waiting for an opponent, check the server is alive
QUEUE_NOTE_EVERY = 60.0         # ... and say we are still waiting
RETRYABLE = ("rate_limited", "cooldown_active", "overloaded")

ROASTS = (
    "You talk about {w} like it owes you money, and honestly it should.",
    "I've seen more personality in a {w} left out in the rain.",
    "Your {w} game is so weak it needs a permission slip.",
    "You're the reason {w} comes with instructions.",
    "Even {w} unfollowed you, and {w} follows everybody.",
    "You bring the energy of a {w} on a Monday morning.",
    "Calling you a {w} expert is like calling a puddle an ocean.",
    "You're so basic, {w} uses you as a tutorial.",
    "Your takes on {w} have the shelf life of warm milk.",
    "If {w} were a sport, you'd still be warming the bench.",
    "You argue about {w} like a GPS with no signal.",
    "Somewhere a {w} is embarrassed to be associated with you.",
    "You've got the charisma of a {w} loading screen.",
    "They asked for {w} and {w2}; you delivered neither.",
    "Your idea of {w} is a group chat where nobody replies.",
    "You're a {w} at a {w2} party: loud, lost and uninvited.",
    "Your {w} is so outdated it comes with a fax number.",
    "Even autocorrect gave up on your {w}.",
    "You peaked when {w} was still a rumour.",
    "Your confidence about {w} is inspiring. Your results are not.",
    "I'd roast your {w}, but it's already well done by reality.",
    "You make {w2} look like a genius, and {w2} can't spell {w}.",
    "You have the timing of a {w} joke at a funeral.",
    "Your {w} plan has more holes than your alibi.",
    "The only thing you've mastered about {w} is disappointing it.",
    "You treat {w} like a buffet and still leave hungry for talent.",
    "Your {w} highlight reel is a single loading spinner.",
    "You're proof that {w} and {w2} can go wrong at the same time.",
    "If cringe were {w}, you'd be a billionaire.",
    "You're not a {w} legend; you're a {w} cautionary tale.",
)
_FALLBACK_WORDS = ("vibe", "wifi", "haircut", "playlist", "sandwich", "podcast", "gym", "selfie")
_STOP = frozenset(
    "about after again against also because been before being between both could does doing down "
    "during each from further have having here into itself just more most other over same should "
    "some such than that their them then there these they this those through under until very what "
    "when where which while whom will with would your yours yourself roast someone something their "
    "thing things like make made opponent opponents were as if they them".split()
)


def make_roast(rng: random.Random, prompt: str) -> str:
    """A roast line from the bank, filled with words from the prompt."""
    words = [re.sub(r"'s$", "", w.lower()) for w in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", prompt or "")]
    words = [w for w in dict.fromkeys(words) if w not in _STOP and len(w) >= 4] or list(_FALLBACK_WORDS)
    w = rng.choice(words)
    others = [x for x in words if x != w] or [x for x in _FALLBACK_WORDS if x != w]
    line = rng.choice(ROASTS).format(w=w, w2=rng.choice(others))
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", line)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ArenaConnectionClosed):
        return f"closed, code {exc.code}" + (f" {exc.reason}" if exc.reason else "")
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or (str(cause) if cause else "") or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


async def request_with_retries(c: ArenaClient, type_: str, body: dict | None, failed: type[Exception], *,
                               retryable: tuple = RETRYABLE, wait_ms: int = 500, min_s: float = 0.05,
                               max_s: float = 10.0):
    """`c.request`, tried again (at most 5 times) after the server's
    `retry_after_ms` (else `wait_ms`, clamped to min_s..max_s) while it
    answers one of `retryable`; no reply within REQUEST_TIMEOUT raises
    `failed` (the bot cannot go on)."""
    for attempt in range(6):
        try:
            return await c.request(type_, body, timeout=REQUEST_TIMEOUT)
        except ArenaRequestError as exc:
            if exc.code in retryable and attempt < 5:
                await trio.sleep(min(max((exc.retry_after_ms or wait_ms) / 1000, min_s), max_s))
                continue
            raise
        except ArenaTimeout:
            raise failed(f"{type_}: no reply within {REQUEST_TIMEOUT:.0f}s (server stuck?)") from None
    raise AssertionError("unreachable")


class BotFailed(Exception):
    """This bot cannot go on (stalled server, no faucet, repeated errors)."""


class _Restart(Exception):
    """The session is gone: log in again from scratch."""


def default_log(line: str) -> None:
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    print(f"{stamp} {line}", flush=True)


class Fleet:
    """What the bots of one run share: how many still run, live matches to spectate."""

    def __init__(self) -> None:
        self.running = 0
        self.live_matches: dict[str, str] = {}  # match -> bot name playing it
        self.battles = 0
        self.failed = 0


class Bot:
    def __init__(self, index: int, fleet: Fleet, url: str, tier: str, battles: int, seed: int,
                 log: Callable[[str], None], react: bool, stall_timeout: float, *,
                 keypair=None, connect=None, bsv_key=None):
        from solders.keypair import Keypair

        self.name = f"bot{index}"
        # connect(bot) -> an async context manager yielding a connected
        # ArenaClient: a WebSocket to `url` unless told otherwise (the simulator
        # gives an in-memory link to its gateway).
        self.connect = connect or (lambda bot: open_client(bot.url, keypair=bot.keypair,
                                                           client_name=f"arena-bot/{bot.name}", connect_timeout=5))
        self.fleet = fleet
        self.url = url
        self.tier = tier
        self.battles = battles
        self.rng = random.Random(f"{seed}:{index}")
        self._log = log
        self.react_enabled = react
        self.stall_timeout = stall_timeout
        self.keypair = keypair or Keypair()
        self.wallet = str(self.keypair.pubkey())
        # A BSV wallet instead (a bsv-sdk PrivateKey): logs in with auth.bsv and
        # signs its payments as a BSV wallet (on the embedded or the BSV ledger).
        self.bsv_key = bsv_key
        if bsv_key is not None:
            self.wallet = bsv_key.address()
        # session
        self.session: str | None = None
        self.last_seq = 0
        # game state
        self.phase = "idle"         # idle | queued | match | done
        self.match: str | None = None
        self.players: list[str] = []
        self.entry_fee = 0
        self.paid = False
        self.pending_submit: tuple[str, int, str, float] | None = None  # match, round, prompt, at
        self.submitted: set[tuple[str, int]] = set()
        self.round_scores: dict[int, dict[str, int]] = {}
        self.done = 0
        self.wins = 0
        self.watching: set[str] = set()
        self.last_progress = 0.0
        self.queued_at = 0.0
        self.last_ping = 0.0
        self.last_note = 0.0
        self.client: ArenaClient | None = None  # the live connection (for tests)
        self.rejoin_at: float | None = None      # when to send queue.join again

    # -- output --------------------------------------------------------------------------

    def log(self, msg: str) -> None:
        self._log(f"{self.name} {short_wallet(self.wallet)} {msg}")

    def error(self, msg: str) -> None:
        self._log(f"{self.name} {short_wallet(self.wallet)} ERROR {msg}")

    def finished(self) -> bool:
        return self.phase == "done" or (self.battles > 0 and self.done >= self.battles)

    # -- requests with bounded retries ------------------------------------------------------

    async def call(self, c: ArenaClient, type_: str, body: dict | None = None):
        return await request_with_retries(c, type_, body, BotFailed)

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self) -> bool:
        """Play until done; True when the bot ended normally."""
        self.fleet.running += 1
        try:
            await self._run()
            return True
        except BotFailed as exc:
            self.error(str(exc))
            return False
        except ArenaTimeout as exc:
            self.error(f"server stopped answering: {exc}")
            return False
        except ArenaRequestError as exc:
            self.error(f"unexpected error reply: {exc.code}: {exc.message}")
            return False
        except Exception as exc:  # noqa: BLE001 - one bot's failure must not stop the others
            self.error(f"crashed: {exc!r}")
            return False
        finally:
            self.fleet.running -= 1
            if self.match:
                self.fleet.live_matches.pop(self.match, None)

    async def _run(self) -> None:
        drop_at: float | None = None
        attempt = 0
        while not self.finished():
            try:
                async with self.connect(self) as c:
                    self.client = c
                    attempt = 0
                    await self._start_session(c)
                    drop_at = None
                    self.last_progress = trio.current_time()
                    await self._play(c)
                    if self.phase == "queued":
                        try:
                            await c.request("queue.leave", {}, timeout=5)
                        except (ArenaRequestError, ArenaTimeout, ArenaConnectionClosed):
                            pass
                    return
            except (ArenaConnectionClosed, trio_websocket.HandshakeError, OSError) as exc:
                if self.client is not None:
                    # Events received but not yet handled count as seen: a
                    # resume asks for what came after them.
                    self.last_seq = max(self.last_seq, self.client.last_seq)
                now = trio.current_time()
                what = _describe(exc)
                if self.client is None:  # never connected: the server is not there
                    raise BotFailed(f"cannot connect to {self.url}: {what}") from None
                if drop_at is None:
                    drop_at = now
                    self.error(f"connection lost ({what}); reconnecting")
                if now - drop_at > RECONNECT_WINDOW:
                    raise BotFailed(f"could not reconnect to {self.url} within {RECONNECT_WINDOW:.0f}s "
                                    f"(last: {what})") from None
                attempt += 1
                await trio.sleep(min(0.25 * 2 ** attempt, 4.0))
            except _Restart as exc:
                self.error(f"{exc}; logging in again")
                self.session = None
                self._forget_match()
                self.phase = "idle"

    async def _start_session(self, c: ArenaClient) -> None:
        if self.bsv_key is not None:  # a resumed connection signs as the BSV wallet too
            c.bsv_key, c.wallet = self.bsv_key, self.wallet
        if self.session is not None:
            await c.hello()
            try:
                r = await c.resume(self.session, self.last_seq)
            except ArenaRequestError as exc:
                raise _Restart(f"session.resume refused ({exc.code}: {exc.message})") from None
            self.log(f"resumed session (replayed {r.get('replayed')} events)")
            if self.phase == "queued":
                # still queued? ask again once the replayed events are handled
                self.rejoin_at = trio.current_time() + 1.0
            return
        hello = await c.hello()
        if self.bsv_key is not None:
            await c.login_bsv(self.bsv_key)
        else:
            await c.login()
        self.session = c.session
        self.last_seq = 0
        if self.done == 0 and self.phase == "idle":
            try:
                bal = await self._faucet(c)
            except BotFailed:
                raise
            self.log(f"logged in to {hello.get('server')} (tick {hello.get('tick_hz')} Hz); balance {bal}")

    async def _faucet(self, c: ArenaClient) -> int:
        try:
            return (await self.call(c, "wallet.faucet", {}))["balance"]
        except ArenaRequestError as exc:
            if exc.code == "not_allowed":
                raise BotFailed(
                    "the server has no faucet (wallet.faucet: not_allowed), so this bot's fresh wallet "
                    "cannot pay entry fees; enable [ledger] faucet_amount on the server or fund the wallet. "
                    "Stopping this bot."
                ) from None
            raise BotFailed(f"wallet.faucet failed: {exc.code}: {exc.message}") from None

    def _forget_match(self) -> None:
        if self.match:
            self.fleet.live_matches.pop(self.match, None)
        self.match = None
        self.players = []
        self.paid = False
        self.pending_submit = None
        self.round_scores = {}

    # -- the game loop ------------------------------------------------------------------

    async def _play(self, c: ArenaClient) -> None:
        while not self.finished():
            now = trio.current_time()
            if self.pending_submit is not None and now >= self.pending_submit[3]:
                await self._submit(c)
                continue
            if self.phase == "idle":
                await self._join_queue(c)
                continue
            if self.phase == "match" and now - self.last_progress > self.stall_timeout:
                raise BotFailed(f"no progress in match {self.match} for {self.stall_timeout:.0f}s "
                                f"(last event seq {c.last_seq}); giving up")
            wait = 1.0 if self.phase == "queued" else max(self.stall_timeout - (now - self.last_progress), 0.05)
            if self.pending_submit is not None:
                wait = min(wait, max(self.pending_submit[3] - now, 0.0))
            try:
                type_, body = await c.next_event(timeout=wait)
            except ArenaTimeout:
                if self.phase == "queued":
                    await self._while_queued(c)
                continue
            finally:
                self.last_seq = c.last_seq
            self.last_progress = trio.current_time()
            await self._on_event(c, type_, body if isinstance(body, dict) else {})

    async def _join_queue(self, c: ArenaClient) -> None:
        bal = (await self.call(c, "wallet.balance", {}))["balance"]
        if self.entry_fee and bal < self.entry_fee:
            bal = await self._faucet(c)
            self.log(f"topped up from the faucet: balance {bal}")
        await self._queue_join(c)
        self.phase = "queued"
        self.queued_at = self.last_ping = self.last_note = trio.current_time()
        self.log(f"queued for a {self.tier} roast battle (balance {bal})")

    async def _queue_join(self, c: ArenaClient) -> None:
        self.rejoin_at = None
        try:
            await self.call(c, "queue.join", {"mode": "roast", "tier": self.tier})
        except ArenaRequestError as exc:
            if exc.code in ("wrong_state", "duplicate"):
                # already queued, or still in a battle we lost track of: ask again later
                self.rejoin_at = trio.current_time() + QUEUE_PING_EVERY
                self.log(f"queue.join: {exc.code}: {exc.message}; trying again in {QUEUE_PING_EVERY:.0f}s")
            else:
                raise BotFailed(f"queue.join failed: {exc.code}: {exc.message}") from None

    async def _while_queued(self, c: ArenaClient) -> None:
        now = trio.current_time()
        if self.battles > 0 and self.fleet.running == 1 and now - self.queued_at > 3.0:
            self.log("no other bot left to play against; leaving the queue")
            try:
                await self.call(c, "queue.leave", {})
            except ArenaRequestError:
                pass
            self.phase = "done"
            return
        if self.rejoin_at is not None and now >= self.rejoin_at:
            await self._queue_join(c)
            self.last_ping = now
        if now - self.last_ping >= QUEUE_PING_EVERY:
            self.last_ping = now
            await self.call(c, "ping", {})  # raises BotFailed when the server does not answer
        if now - self.last_note >= QUEUE_NOTE_EVERY:
            self.last_note = now
            self.log(f"still waiting for an opponent ({now - self.queued_at:.0f}s)")
        if self.react_enabled and self.rng.random() < 0.05:
            await self._spectate(c)

    async def _spectate(self, c: ArenaClient) -> None:
        """While waiting, watch another bot's battle and cheer."""
        choices = sorted(m for m in self.fleet.live_matches if m not in self.watching and m != self.match)
        if not choices or len(self.watching) >= 8:
            return
        m = self.rng.choice(choices)
        try:
            await self.call(c, "match.watch", {"match": m})
            self.watching.add(m)
            emoji = self.rng.choice(EMOJIS)
            await self.call(c, "reaction.send", {"match": m, "emoji": emoji})
            self.log(f"watching {m} ({self.fleet.live_matches.get(m, '?')}) and sent {emoji}")
        except ArenaRequestError as exc:
            self.log(f"could not spectate {m}: {exc.code}")

    async def _react(self, c: ArenaClient) -> None:
        if not (self.react_enabled and self.match) or self.rng.random() >= 0.5:
            return
        emoji = self.rng.choice(EMOJIS)
        try:
            await self.call(c, "reaction.send", {"match": self.match, "emoji": emoji})
        except ArenaRequestError as exc:
            if exc.code == "not_allowed":
                self.log(f"reaction {emoji} refused ({exc.message or exc.code}); no more reactions")
                self.react_enabled = False

    async def _submit(self, c: ArenaClient) -> None:
        match, rnd, prompt, _ = self.pending_submit
        self.pending_submit = None
        if match != self.match or (match, rnd) in self.submitted:
            return
        text = make_roast(self.rng, prompt)
        self.submitted.add((match, rnd))
        try:
            await self.call(c, "roast.submit", {"match": match, "round": rnd, "text": text})
            self.log(f"round {rnd}: roasted \u201c{text}\u201d")
        except ArenaRequestError as exc:
            self.error(f"round {rnd}: roast.submit refused: {exc.code}: {exc.message}")
        await self._react(c)

    async def _pay(self, c: ArenaClient, match: str) -> None:
        for attempt in range(2):
            try:
                built = await self.call(c, "entry.build", {"match": match})
                tx, signature = c.sign_payment(built["tx"])
                r = await self.call(c, "entry.confirm", {"match": match, "tx": tx, "signature": signature})
                self.paid = True
                self.log(f"paid entry {built.get('amount')} for {match}: {r.get('status')}")
                return
            except ArenaRequestError as exc:
                if exc.code == "insufficient_funds" and attempt == 0:
                    bal = await self._faucet(c)
                    self.log(f"insufficient funds; faucet → balance {bal}; paying again")
                    continue
                if exc.code == "duplicate":
                    self.paid = True
                    return
                self.error(f"entry payment for {match} failed: {exc.code}: {exc.message}")
                return

    async def _on_event(self, c: ArenaClient, type_: str, b: dict) -> None:
        m = b.get("match")
        if type_ == "match.found":
            if self.match and self.match != m:
                self.log(f"new match {m} while in {self.match}; switching")
            self._forget_match()
            self.phase = "match"
            self.match = m
            self.players = list(b.get("players") or [])
            self.entry_fee = int(b.get("entry_fee") or 0)
            self.fleet.live_matches[m] = self.name
            self.log(f"match {m} found vs {short_wallet(b.get('opponent'))} "
                     f"({b.get('tier')}, fee {self.entry_fee}, {int(b.get('entry_deadline_ms') or 0) // 1000}s to pay)")
            await self._pay(c, m)
            return
        if m is None or m != self.match:
            return  # a battle we only watch, or an old one
        if type_ == "battle:round_start":
            rnd = int(b.get("roundNumber") or 0)
            countdown = max(int(b.get("countdown") or 0), 0) / 1000
            limit = max(int(b.get("timeLimit") or 0), 0) / 1000
            # think a little after the countdown, well inside the recording window
            think = self.rng.uniform(0.1, max(min(limit * 0.3, 3.0), 0.1))
            self.pending_submit = (m, rnd, b.get("prompt") or "", trio.current_time() + countdown + think)
            self.log(f"round {rnd}: \u201c{b.get('prompt')}\u201d (countdown {countdown:.1f}s, {limit:.0f}s to roast)")
        elif type_ == "battle:score_revealed":
            rnd = int(b.get("roundNumber") or 0)
            if b.get("playerId") != self.wallet:
                return  # each bot reports its own scores
            bd = b.get("breakdown") or {}
            self.log(f"round {rnd}: scored {b.get('score')} "
                     f"[sav {bd.get('savagery')} cre {bd.get('creativity')} del {bd.get('delivery')} "
                     f"rel {bd.get('relevance')}] {b.get('commentary') or ''}".rstrip())
        elif type_ == "battle:ended":
            winner = b.get("winnerId")
            fs = b.get("finalScores") or {}
            self.done += 1
            self.fleet.battles += 1
            if winner == self.wallet:
                self.wins += 1
            result = "won" if winner == self.wallet else ("draw/none" if winner is None else "lost")
            self.log(f"battle {m} ended ({b.get('reason')}): winner {short_wallet(winner)}, "
                     f"scores {fs.get('player1')}-{fs.get('player2')}, prize {b.get('prizeAmount')} "
                     f"-> {result} [{self.done}{'/' + str(self.battles) if self.battles else ''}, {self.wins} won]")
            self._forget_match()
            self.phase = "idle"
            if self.finished():
                self.phase = "done"
        elif type_ == "match.snapshot":
            await self._on_snapshot(c, m, b.get("state") or {})

    async def _on_snapshot(self, c: ArenaClient, m: str, st: dict) -> None:
        """After a resume that could not replay events: catch up from the snapshot."""
        phase = st.get("phase")
        rnd = st.get("round")
        self.log(f"snapshot of {m}: phase {phase}, round {rnd}")
        if phase == "ended":
            self._forget_match()
            self.phase = "idle"
            return
        if phase == "entry" and self.wallet not in (st.get("paid") or []):
            await self._pay(c, m)
        if (phase in ("countdown", "recording") and isinstance(rnd, int)
                and self.wallet not in (st.get("submitted") or []) and (m, rnd) not in self.submitted):
            delay = max(int(st.get("deadline_ms") or 0), 0) / 1000 if phase == "countdown" else 0.0
            self.pending_submit = (m, rnd, st.get("prompt") or "", trio.current_time() + delay + 0.1)


async def run_fleet(bots, results: list) -> None:
    """Run every bot (anything with `async run() -> bool`) at once, started
    20 ms apart so the server does not get every handshake together; each
    outcome is appended to `results` as it ends (read them even when the
    run is cancelled)."""

    async def one(bot) -> None:
        results.append(await bot.run())

    async with trio.open_nursery() as nursery:
        for bot in bots:
            nursery.start_soon(one, bot)
            await trio.sleep(0.02)


async def run_bots(url: str = DEFAULT_URL, count: int = 2, tier: str = "bronze", battles: int = 0,
                   seed: int | None = None, log: Callable[[str], None] | None = None, *,
                   react: bool = False, stall_timeout: float = 120.0, wallet: str = "solana") -> int:
    """Run `count` bots until each has played `battles` battles (0 = forever).

    Returns the exit status: 0 when every bot ended normally, 1 otherwise.
    """
    log = log or default_log
    if seed is None:
        seed = secrets.randbelow(2**31)
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}")
    fleet = Fleet()
    if wallet not in ("solana", "bsv"):
        raise ValueError("wallet must be solana or bsv")

    def bsv_key():
        from bsv.keys import PrivateKey

        return PrivateKey()

    bots = [Bot(i + 1, fleet, url, tier, battles, seed, log, react, stall_timeout,
                bsv_key=bsv_key() if wallet == "bsv" else None) for i in range(count)]
    log(f"arena bot: {count} bot(s) on {url}, tier {tier}, "
        f"{battles or 'unlimited'} battle(s) each, seed {seed}"
        + ("; odd count, so one bot may wait for an opponent" if count % 2 else ""))
    results: list[bool] = []
    try:
        await run_fleet(bots, results)
    finally:
        wins = sum(b.wins for b in bots)
        failed = results.count(False)
        log(f"arena bot: {fleet.battles // 2 if fleet.battles else 0} battle(s) finished "
            f"({sum(b.done for b in bots)} bot-battles, {wins} won), {failed} bot(s) failed")
    return 0 if failed == 0 and len(results) == count else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", default="roast", choices=("roast", "lottery", "canvas", "meme", "contest"),
                        help="roast: play battles (default); lottery: bet on lottery rounds (arena.bot_lottery); "
                             "canvas: draw shapes on the weekly canvas (arena.canvas_bot); "
                             "meme: watch and trade meme rounds (arena.bot_meme); "
                             "contest: enter trading contests (arena.bot_contest)")
    parser.add_argument("--pixels", type=int, default=0,
                        help="canvas: pixels each painter places before it stops; 0 = until Ctrl-C (default)")
    parser.add_argument("--show", type=float, default=0.0, metavar="SECONDS",
                        help="canvas: print the canvas as text every this many seconds (default 0: never)")
    parser.add_argument("--api-key", action="append", default=[], dest="api_keys", metavar="KEY",
                        help="canvas: log the first painters in as agents with these API keys (repeatable); "
                             "the others use fresh wallets")
    parser.add_argument("--contests", type=int, default=0,
                        help="contest: finished contests per bot; 0 = until Ctrl-C (default)")
    parser.add_argument("--count", type=int, default=2, help="number of bot players (even recommended; default 2)")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    parser.add_argument("--tier", default="bronze", choices=TIERS, help="entry tier (default bronze)")
    parser.add_argument("--battles", type=int, default=0, help="battles per bot; 0 = until Ctrl-C (default)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the roast lines (default: random)")
    parser.add_argument("--react", action="store_true", help="send emoji reactions and spectate other bots")
    parser.add_argument("--stall-timeout", type=float, default=None,
                        help="seconds without progress before a bot gives up (default 120; lottery 600)")
    parser.add_argument("--wallet", default="solana", choices=("solana", "bsv"),
                        help="roast: the bots' wallets: Solana keys (auth.login) or BSV keys (auth.bsv); "
                             "a [ledger] kind = \"bsv\" server needs bsv (default solana)")
    parser.add_argument("--rounds", type=int, default=0,
                        help="lottery: rounds per bettor; meme: rounds each bot sees; 0 = until Ctrl-C (default)")
    parser.add_argument("--key", default=None,
                        help="lottery: an operator API key; the bot then creates the rounds itself; "
                             "meme: one more bot then uploads memes")
    parser.add_argument("--draw-in", type=float, default=30.0,
                        help="lottery, with --key: seconds a created round takes bets (default 30)")


def main_from_args(args: argparse.Namespace) -> int:
    if args.count < 1:
        print("arena bot: --count must be at least 1", file=sys.stderr)
        return 2
    if args.battles < 0 or args.rounds < 0 or args.pixels < 0 or args.show < 0:
        print("arena bot: --battles, --rounds, --pixels and --show must be 0 or more", file=sys.stderr)
        return 2
    if args.draw_in <= 0:
        print("arena bot: --draw-in must be positive", file=sys.stderr)
        return 2
    if args.mode == "contest":
        from .bot_contest import run_contest_bots

        try:
            return trio.run(lambda: run_contest_bots(args.url, args.count, args.contests, args.seed))
        except KeyboardInterrupt:
            print("arena bot: stopped", file=sys.stderr)
            return 0
    if args.mode == "canvas":
        from arena.canvas_bot import run_canvas_bots

        try:
            return trio.run(lambda: run_canvas_bots(args.url, args.count, args.pixels, args.seed,
                                                    api_keys=tuple(args.api_keys), show_every=args.show))
        except KeyboardInterrupt:
            print("arena bot: stopped", file=sys.stderr)
            return 0
    try:
        if args.mode == "lottery":
            from arena.bot_lottery import run_lottery_bots

            return trio.run(lambda: run_lottery_bots(args.url, args.count, args.rounds, args.seed, None,
                                                     key=args.key, draw_in_s=args.draw_in,
                                                     stall_timeout=args.stall_timeout or 600.0))
        if args.mode == "meme":
            from arena.bot_meme import run_meme_bots

            return trio.run(lambda: run_meme_bots(args.url, args.count, args.rounds, args.seed, args.key,
                                                  default_log))
        return trio.run(lambda: run_bots(args.url, args.count, args.tier, args.battles, args.seed, None,
                                         react=args.react, stall_timeout=args.stall_timeout or 120.0,
                                         wallet=args.wallet))
    except KeyboardInterrupt:
        print("arena bot: stopped", file=sys.stderr)
        return 0
