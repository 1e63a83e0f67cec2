"""The lottery's state machine: peer-to-peer even-odds bets on one
proposition about a real draw (docs/LOTTERY.md).

A round is a match (`ctx.new_match_id`) while it has money or time to keep:

    open --(lock_time)--> locked --(draw + result_delay)--> awaiting_result
      --(both parts of the draw agreed)--> finalized --(all paid)--> settled
    locked / awaiting_result --(void_at: no agreed result)--> void

The round itself (bets, pairs, result, what is owed) lives in the mode's
shared state, so a finished round is still read and claimed after its match
is dropped. Time is engine time (`ctx.now_ms`): the lock instant is a
one-off calendar rule (`schedules`), and the match's timer (at most a
second apart) checks every deadline with `>=` as well, so a rule that fires
late or a clock that jumps still moves the round, exactly once (every step
is guarded by the round's state).

Money: every stake enters `escrow:<round>` as `EntryFeePaid`; it leaves as
refunds (unmatched at lock, everything when void, payments that cannot be
bets), payouts to winners and the fee, each a `Settle` with its own key.
Invariant, checked by the tests: payouts + fees + refunds == escrow in.
"""

from __future__ import annotations

from attrs import define, field

from arena.engine import inputs as I
from arena.engine.calendar import Rule, parse
from arena.engine.canonical import OMIT_IF_DEFAULT
from arena.engine.errors import (
    BAD_REQUEST, DUPLICATE, NOT_ALLOWED, NOT_FOUND, WRONG_STATE,
)
from arena.engine.mode import Mode, Page
from arena.engine.outputs import Event, FetchFeed, Settle, Transfer
from arena.engine.snapshot import register as snapshot_class

from . import book, records, requests
from .requests import amount_error
from .messages import (
    NAME, LotteryBetChosen, LotteryClaim, LotteryCreate, LotteryRead, bet_id, fee_key, feed_key,
    payout_key, refund_key, stray_refund_key, void_refund_key,
)
from .settings import LotteryConfig, parse_propositions

# The platform's fee account, the same on every ledger (the Solana ledger pays
# fee:<name> only to its configured fee wallets: creator, partner, protocol).
FEE_ACCOUNT = "fee:protocol"
_NEW = {OMIT_IF_DEFAULT: True}
# Rule names: a round's lock instant, and a game's draws ([lottery.draws]).
LOCK_RULE = "lock-"
DRAWS_RULE = "draws-"
SCHEDULE_CREATOR = "schedule"  # the creator of the rounds the schedule opens
PARTS = ("white", "bonus")
# The match's timer: deadlines are checked at least this often.
CHECK_MS = 1_000
MAX_WATCHERS = 10_000
# A round's watchers are told of its pool in this many groups, one group a
# tick: 10,000 frames written in one tick would hold that tick (and every
# reply behind it) for a large part of a second; 500 a tick do not. A sweep
# takes POOL_GROUPS ticks (a second at 20 Hz) and a new one starts only
# after it, so each watcher gets at most one update per `pool_interval_ms`
# (or per sweep, if that is longer).
POOL_GROUPS = 20
# Far beyond any draw (year 2286), and small enough that every sum of it stays an int64.
MAX_DRAW_TIME_MS = 10**13


@snapshot_class
@define
class LotteryBet:
    id: str
    wallet: str
    side: str
    amount: int
    payment_id: str
    matched: int = 0
    # open -> matched | refunded (at lock) -> won | lost; void
    state: str = "open"


@snapshot_class
@define
class LotteryRound:
    id: str
    game: str
    draw_time_ms: int
    lock_time_ms: int
    kind: str
    threshold: int
    # Copied from the settings at creation: a round keeps its terms.
    fee_bps: int
    auto_settle: bool
    result_at_ms: int
    void_at_ms: int
    creator: str
    created_at_ms: int
    state: str = "open"
    bets: dict = field(factory=dict)  # bet id -> LotteryBet, oldest first
    queues: dict = field(factory=lambda: {"yes": [], "no": []})  # bet ids with unmatched stake
    unmatched: dict = field(factory=dict)  # bet id -> its unmatched stake (while open)
    pairs: list = field(factory=list)  # [yes bet, no bet, amount]
    totals: dict = field(factory=lambda: {"yes": 0, "no": 0})
    matched: int = 0  # per side (both sides match the same amount)
    watchers: dict = field(factory=dict)  # wallet -> None
    # Payments whose side has not come yet (pid -> [wallet, amount]) and
    # sides whose money has not (pid -> [wallet, amount, side]).
    unassigned: dict = field(factory=dict)
    chosen: dict = field(factory=dict)
    payments: dict = field(factory=dict)  # every payment id counted (repeats are ignored)
    parts: dict = field(factory=lambda: {"white": None, "bonus": None})
    sources: list = field(factory=list)
    attempt: int = 0
    fetching: list = field(factory=list)  # feed keys in flight
    next_fetch_ms: int = 0
    result: dict | None = None
    outcome: str = ""
    locked_at_ms: int = 0
    owed: dict = field(factory=dict)  # winning wallet -> payout
    paid: dict = field(factory=dict)  # wallet -> amount paid out
    # Money accounting (base units): escrow_in == paid_out + fees + refunded once settled / void.
    escrow_in: int = 0
    paid_out: int = 0
    fees: int = 0
    refunded: int = 0
    pool_due: bool = False
    pool_next_ms: int = 0
    # The fields below are left out of the state hash while at their
    # defaults (OMIT_IF_DEFAULT): snapshots stored without them still verify.
    # Watchers by pool group (POOL_GROUPS lists, filled in turn), and the
    # group the current sweep tells next (-1: no sweep).
    watch_groups: list = field(factory=lambda: [[] for _ in range(POOL_GROUPS)], metadata=_NEW)
    pool_sweep: int = field(default=-1, metadata=_NEW)
    ended_at_ms: int = field(default=0, metadata=_NEW)  # when it became settled or void


@snapshot_class
@define
class LotteryMatch:
    """A live round's match: its timer, and what `match.list` shows."""

    id: str
    mode: str = NAME
    wake_at: int = -1
    created_tick: int = 0


@snapshot_class
@define
class LotteryShared:
    rounds: dict = field(factory=dict)  # round id -> LotteryRound, oldest first
    by_wallet: dict = field(factory=dict)  # wallet -> [[round, bet id], ...]
    volume: int = 0
    paid: int = 0
    # Left out of the state hash while at their defaults (as in LotteryRound).
    next_draw: dict = field(factory=dict, metadata=_NEW)  # game -> the newest draw the schedule opened
    archived: int = field(default=0, metadata=_NEW)  # rounds dropped from the state (records kept)


class LotteryMode(Mode):
    name = NAME
    settings = LotteryConfig
    inputs = (LotteryCreate, LotteryRead, LotteryClaim, LotteryBetChosen)
    routed_inputs = (LotteryCreate, LotteryRead, LotteryClaim)
    requests = requests.REQUESTS
    boards = records.BOARDS
    quiet_events = frozenset({"lottery:pool", records.ROUND_ENDED})
    simulation = "arena.sim.lottery"
    schedule_armed = True  # a draw rule first seen opens the next draw's rounds at once
    # web/: rounds, live pools, betting with the development wallet
    page = Page("Lottery rounds", description="Even-odds bets on a real draw, matched peer to peer: rounds, live pools, your bets.")

    def setup(self, config):
        return LotteryShared()

    # --- routing ----------------------------------------------------------------
    def route(self, ctx, inp) -> None:
        shared: LotteryShared = ctx.state.modes[NAME]
        if isinstance(inp, LotteryCreate):
            self._create(ctx, shared, inp)
        elif isinstance(inp, LotteryRead):
            self._read(ctx, shared, inp)
        elif isinstance(inp, LotteryClaim):
            self._claim(ctx, shared, inp)

    def input(self, ctx, m: LotteryMatch, inp) -> None:
        r = ctx.state.modes[NAME].rounds[m.id]
        if isinstance(inp, I.EntryFeePaid):
            self._money(ctx, m, r, inp)
        elif isinstance(inp, LotteryBetChosen):
            self._side(ctx, m, r, inp)
        elif isinstance(inp, I.FeedResult):
            self._feed(ctx, m, r, inp)
        elif isinstance(inp, I.MatchWatch):
            self._watch(ctx, r, inp)

    def tick(self, ctx, m: LotteryMatch) -> None:
        r = ctx.state.modes[NAME].rounds[m.id]
        self._advance(ctx, m, r)
        if ctx.state.matches.get(m.id) is m:
            if r.pool_due and ctx.now_ms >= r.pool_next_ms and r.pool_sweep < 0:
                r.pool_due = False
                r.pool_next_ms = ctx.now_ms + ctx.settings(NAME).pool_interval_ms
                r.pool_sweep = 0
            if r.pool_sweep == 0 and sum(map(len, r.watch_groups)) != len(r.watchers):
                _regroup(r)  # watchers of a round stored before the groups existed
            if r.pool_sweep >= 0:
                ctx.emit(r.watch_groups[r.pool_sweep], "lottery:pool", pool_view(r))
                r.pool_sweep = r.pool_sweep + 1 if r.pool_sweep + 1 < POOL_GROUPS else -1
            if r.pool_sweep >= 0:
                wait = 1
            elif r.pool_due:  # the next sweep as soon as the interval allows
                wait = max(1, min(ctx.ticks(CHECK_MS), ctx.ticks(max(0, r.pool_next_ms - ctx.now_ms))))
            else:
                wait = ctx.ticks(CHECK_MS)
            ctx.wake(m, ctx.tick + wait)

    def schedules(self, settings, shared) -> tuple:
        draws = tuple(parse(f"{DRAWS_RULE}{game}", text) for game, text in settings.draws.items() if text)
        if shared is None:
            return draws
        return draws + tuple(Rule.at(f"{LOCK_RULE}{r.id}", r.lock_time_ms)
                             for r in shared.rounds.values() if r.state == "open")

    def on_schedule(self, ctx, shared, fired) -> None:
        if fired.rule.startswith(DRAWS_RULE):
            # A draw (or the rule first seen): open the rounds of the next draw.
            self._open_scheduled(ctx, shared, fired.rule.removeprefix(DRAWS_RULE), fired.next_ms)
            return
        r = shared.rounds.get(fired.rule.removeprefix(LOCK_RULE))
        m = ctx.state.matches.get(r.id) if r is not None else None
        if m is not None:
            self._advance(ctx, m, r)

    # --- create -----------------------------------------------------------------
    def _create(self, ctx, shared: LotteryShared, inp: LotteryCreate) -> None:
        cfg: LotteryConfig = ctx.settings(NAME)
        game = book.GAMES.get(inp.game)
        if game is None:
            ctx.error(inp, BAD_REQUEST, f"game must be one of {', '.join(book.GAMES)}")
            return
        why = book.check_proposition(game, inp.kind, inp.threshold)
        if why:
            ctx.error(inp, BAD_REQUEST, why)
            return
        now = ctx.now_ms
        lock = inp.draw_time_ms - cfg.lock_lead_ms
        if inp.draw_time_ms > MAX_DRAW_TIME_MS:
            ctx.error(inp, BAD_REQUEST, "draw_time_ms is not a plausible Unix time in milliseconds")
            return
        if lock <= now:
            ctx.error(inp, BAD_REQUEST, f"draw_time_ms must be more than lock_lead_ms ({cfg.lock_lead_ms}) "
                                        f"after the server's time ({now})")
            return
        ctx.reply(inp, {"round": self._open(ctx, shared, game.name, inp.draw_time_ms, inp.kind, inp.threshold,
                                            inp.wallet)})

    def _open(self, ctx, shared: LotteryShared, game: str, draw_time_ms: int, kind: str, threshold: int,
              creator: str) -> str:
        """A new open round (its terms checked by the caller); its id."""
        cfg: LotteryConfig = ctx.settings(NAME)
        rid = ctx.new_match_id(NAME)
        shared.rounds[rid] = LotteryRound(
            id=rid, game=game, draw_time_ms=draw_time_ms, lock_time_ms=draw_time_ms - cfg.lock_lead_ms, kind=kind,
            threshold=threshold, fee_bps=cfg.fee_bps, auto_settle=cfg.auto_settle,
            result_at_ms=draw_time_ms + cfg.result_delay_ms, void_at_ms=draw_time_ms + cfg.void_after_ms,
            creator=creator, created_at_ms=ctx.now_ms)
        m = LotteryMatch(rid, created_tick=ctx.tick)
        ctx.state.matches[rid] = m
        ctx.wake(m, ctx.tick + ctx.ticks(CHECK_MS))
        self._archive(ctx, shared)
        return rid

    @staticmethod
    def _archive(ctx, shared: LotteryShared) -> None:
        """Drop the rounds that ended (settled: everything paid; void:
        everything refunded) more than `archive_after_ms` ago, so the state
        is bounded by the rounds of the last while, not by every round ever
        played. What they were stays in the store (`records`: the round's
        row and its `history.get` entry). A round that still owes a winner
        (claims, `auto_settle = false`) is never dropped."""
        keep_ms = ctx.settings(NAME).archive_after_ms
        gone = [rid for rid, r in shared.rounds.items()
                if r.state in ("settled", "void") and ctx.now_ms >= (r.ended_at_ms or r.draw_time_ms) + keep_ms]
        for rid in gone:
            r = shared.rounds.pop(rid)
            for wallet in dict.fromkeys(b.wallet for b in r.bets.values()):
                # The wallet's key stays (an empty list): `lottery.stats` counts bettors ever.
                shared.by_wallet[wallet] = [e for e in shared.by_wallet.get(wallet, ()) if e[0] != rid]
        shared.archived += len(gone)

    def _open_scheduled(self, ctx, shared: LotteryShared, game: str, draw_time_ms: int) -> None:
        """The rounds of `game`'s draw at `draw_time_ms` (the draw rule's next
        occurrence, computed by the scheduler): one per configured
        proposition, once per draw, and only while bets can still be taken
        (else the draw after it gets them, at this rule's next occurrence)."""
        cfg: LotteryConfig = ctx.settings(NAME)
        if not cfg.draws.get(game) or draw_time_ms <= shared.next_draw.get(game, 0):
            return
        if draw_time_ms - cfg.lock_lead_ms <= ctx.now_ms or draw_time_ms > MAX_DRAW_TIME_MS:
            return
        shared.next_draw[game] = draw_time_ms
        for kind, threshold in parse_propositions(cfg.round_propositions):
            if book.check_proposition(book.GAMES[game], kind, threshold) is None:
                self._open(ctx, shared, game, draw_time_ms, kind, threshold, SCHEDULE_CREATOR)

    # --- money in -----------------------------------------------------------------
    def _money(self, ctx, m, r: LotteryRound, inp: I.EntryFeePaid) -> None:
        if inp.payment_id in r.payments:
            return  # reported twice
        r.payments[inp.payment_id] = None
        r.escrow_in += inp.amount
        chosen = r.chosen.pop(inp.payment_id, None)
        if chosen is None:
            r.unassigned[inp.payment_id] = [inp.wallet, inp.amount]
            if r.state != "open":
                self._stray(ctx, r, inp.payment_id)
            return
        self._bet(ctx, r, inp.wallet, chosen[2], inp.amount, inp.payment_id)

    def _side(self, ctx, m, r: LotteryRound, inp: LotteryBetChosen) -> None:
        if bet_id(inp.payment_id) in r.bets or inp.payment_id in r.chosen:
            return
        money = r.unassigned.get(inp.payment_id)
        if money is None:
            if r.state == "open":  # the money is on its way (EntryFeePaid comes next, or from the chain)
                r.chosen[inp.payment_id] = [inp.wallet, inp.amount, inp.side]
            return
        self._bet(ctx, r, money[0], inp.side, money[1], inp.payment_id)

    def _stray(self, ctx, r: LotteryRound, pid: str) -> None:
        """A payment that will not be a bet goes back whole."""
        wallet, amount = r.unassigned.pop(pid)
        r.refunded += amount
        ctx.effect(Settle(stray_refund_key(r.id, pid), r.id, (Transfer(f"escrow:{r.id}", wallet, amount),),
                          "lottery_refund"))
        ctx.emit((wallet,), "lottery:refund_issued", {"round": r.id, "wallet": wallet, "amount": amount})

    def _bet(self, ctx, r: LotteryRound, wallet: str, side: str, amount: int, pid: str) -> None:
        """Money and side are both here: a bet if the round takes it, else a refund."""
        r.unassigned[pid] = [wallet, amount]
        cfg = ctx.settings(NAME)
        if r.state != "open" or ctx.now_ms >= r.lock_time_ms or side not in book.SIDES or amount_error(cfg, amount):
            self._stray(ctx, r, pid)
            return
        del r.unassigned[pid]
        shared: LotteryShared = ctx.state.modes[NAME]
        bet = LotteryBet(bet_id(pid), wallet, side, amount, pid)
        r.bets[bet.id] = bet
        r.totals[side] += amount
        shared.volume += amount
        shared.by_wallet.setdefault(wallet, []).append([r.id, bet.id])
        # A bet's events go to its own wallet; watchers (and every bettor)
        # see the pool instead, throttled (`lottery:pool`): at 1,000 bets/s
        # a per-bet event to 10,000 watchers would be 10M frames a second.
        audience = (wallet,)
        ctx.emit(audience, "lottery:bet_placed",
                 {"round": r.id, "bet": bet.id, "wallet": wallet, "side": side, "amount": amount})
        matches, left = book.match_bet(r.queues[book.other(side)], r.unmatched, amount)
        for other_id, take in matches:
            other = r.bets[other_id]
            other.matched += take
            bet.matched += take
            r.matched += take
            r.pairs.append([bet.id, other_id, take] if side == "yes" else [other_id, bet.id, take])
            ctx.emit((other.wallet,), "lottery:bet_matched",
                     {"round": r.id, "bet": other_id, "matched": other.matched})
        if matches:
            ctx.emit(audience, "lottery:bet_matched", {"round": r.id, "bet": bet.id, "matched": bet.matched})
        if left:
            r.unmatched[bet.id] = left
            r.queues[side].append(bet.id)
        r.pool_due = True

    # --- time -----------------------------------------------------------------------
    def _advance(self, ctx, m, r: LotteryRound) -> None:
        """Every step whose time has come, in order, each exactly once."""
        now = ctx.now_ms
        if r.state == "open" and now >= r.lock_time_ms:
            self._lock(ctx, r)
        if r.state in ("locked", "awaiting_result") and now >= r.void_at_ms:
            self._void(ctx, m, r, "no agreed result by the void deadline")
            return
        if r.state == "locked" and now >= r.result_at_ms:
            r.state = "awaiting_result"
        if r.state == "awaiting_result" and not r.fetching and now >= r.next_fetch_ms:
            self._fetch(ctx, r)

    def _lock(self, ctx, r: LotteryRound) -> None:
        r.state = "locked"
        r.locked_at_ms = ctx.now_ms
        back: dict[str, int] = {}
        for bet_id_, left in r.unmatched.items():
            bet = r.bets[bet_id_]
            back[bet.wallet] = back.get(bet.wallet, 0) + left
        for bet in r.bets.values():
            bet.state = "matched" if bet.matched else "refunded"
        r.unmatched.clear()
        r.queues = {"yes": [], "no": []}
        for pid in list(r.unassigned):  # money whose side never came
            self._stray(ctx, r, pid)
        r.chosen.clear()  # sides whose money never came
        self._refund(ctx, r, back, refund_key)
        ctx.emit(_audience(r), "lottery:round_locked", {"round": r.id, "locked_at_ms": r.locked_at_ms})
        r.pool_due = True

    def _refund(self, ctx, r: LotteryRound, back: dict, key) -> None:
        for wallet, amount in back.items():
            if amount <= 0:
                continue
            r.refunded += amount
            ctx.effect(Settle(key(r.id, wallet), r.id, (Transfer(f"escrow:{r.id}", wallet, amount),),
                              "lottery_refund"))
            ctx.emit((wallet,), "lottery:refund_issued", {"round": r.id, "wallet": wallet, "amount": amount})

    def _fetch(self, ctx, r: LotteryRound) -> None:
        cfg = ctx.settings(NAME)
        game = book.GAMES[r.game]
        r.attempt += 1
        r.next_fetch_ms = ctx.now_ms + cfg.result_retry_ms
        shape = {"white": (game.whites, game.white_max), "bonus": (1, game.bonus_max)}
        for part in PARTS:
            if r.parts[part] is not None:
                continue
            count, top = shape[part]
            key = feed_key(r.id, part, r.attempt)
            r.fetching.append(key)
            ctx.effect(FetchFeed(key, NAME, r.id, cfg.feed, (
                ("game", r.game), ("part", part), ("draw_time_ms", r.draw_time_ms),
                ("count", count), ("max", top))))

    def _feed(self, ctx, m, r: LotteryRound, inp: I.FeedResult) -> None:
        if inp.key not in r.fetching or r.state != "awaiting_result":
            return  # an answer to an earlier attempt, or too late: ignored
        r.fetching.remove(inp.key)
        part = inp.key.split(":")[2]
        game = book.GAMES[r.game]
        if inp.status == I.FEED_OK:
            value = inp.value
            if part == "white":
                ok = isinstance(value, tuple) and book.check_result(game, value, 1) is None
            else:
                value = value[0] if isinstance(value, tuple) and len(value) == 1 else value
                ok = book.check_result(game, tuple(range(1, game.whites + 1)), value) is None
            if ok:
                r.parts[part] = value
                r.sources += [_source(part, a) for a in inp.answers]
        if all(r.parts[p] is not None for p in PARTS):
            self._finalize(ctx, m, r)

    def _finalize(self, ctx, m, r: LotteryRound) -> None:
        whites, bonus = tuple(sorted(r.parts["white"])), r.parts["bonus"]
        r.result = {"game": r.game, "whites": list(whites), "bonus": bonus}
        r.outcome = book.outcome(r.kind, r.threshold, whites, bonus)
        r.state = "finalized"
        wallet_of = {b.id: b.wallet for b in r.bets.values()}
        r.owed, fees = book.payouts(r.pairs, wallet_of, r.outcome, r.fee_bps)
        for bet in r.bets.values():
            if bet.matched:
                bet.state = "won" if bet.side == r.outcome else "lost"
        if fees:
            r.fees = fees
            ctx.effect(Settle(fee_key(r.id), r.id, (Transfer(f"escrow:{r.id}", FEE_ACCOUNT, fees),), "lottery_fee"))
        ctx.emit(_audience(r), "lottery:round_finalized",
                 {"round": r.id, "result": dict(r.result), "outcome": r.outcome, "sources": list(r.sources)})
        if r.auto_settle:
            for wallet in list(r.owed):
                self._pay(ctx, r, wallet)
        self._maybe_settled(ctx, r)
        _record(ctx, r, {"outcome": r.outcome, "result": dict(r.result), "payouts": dict(r.owed),
                         "fees": r.fees})
        ctx.drop_match(m, ())
        self._archive(ctx, ctx.state.modes[NAME])

    def _pay(self, ctx, r: LotteryRound, wallet: str) -> int:
        amount = r.owed[wallet]
        r.paid[wallet] = amount
        r.paid_out += amount
        ctx.state.modes[NAME].paid += amount
        ctx.effect(Settle(payout_key(r.id, wallet), r.id, (Transfer(f"escrow:{r.id}", wallet, amount),),
                          "lottery_payout"))
        ctx.emit((wallet,), "lottery:winnings_claimed", {"round": r.id, "wallet": wallet, "amount": amount})
        return amount

    @staticmethod
    def _maybe_settled(ctx, r: LotteryRound) -> None:
        if r.state == "finalized" and len(r.paid) == len(r.owed):
            r.state = "settled"
            r.ended_at_ms = ctx.now_ms

    def _void(self, ctx, m, r: LotteryRound, reason: str) -> None:
        back: dict[str, int] = {}
        for bet in r.bets.values():
            if bet.matched:
                back[bet.wallet] = back.get(bet.wallet, 0) + bet.matched
            bet.state = "void"
        r.state = "void"
        r.ended_at_ms = ctx.now_ms
        self._refund(ctx, r, back, void_refund_key)
        ctx.emit(_audience(r), "lottery:round_void", {"round": r.id, "reason": reason})
        _record(ctx, r, {"reason": reason, "refunds": back})
        ctx.drop_match(m, ())
        self._archive(ctx, ctx.state.modes[NAME])

    # --- requests -------------------------------------------------------------------
    def _round_of(self, ctx, shared, inp) -> LotteryRound | None:
        r = shared.rounds.get(inp.round)
        if r is None:
            ctx.error(inp, NOT_FOUND, f"no lottery round {inp.round[:64]!r}")
        return r

    def _read(self, ctx, shared: LotteryShared, inp: LotteryRead) -> None:
        if inp.what == "stats":
            wallets = shared.by_wallet
            ctx.reply(inp, {"rounds": len(shared.rounds) + shared.archived, "volume": shared.volume,
                            "bettors": len(wallets),
                            "paid": shared.paid})
            return
        if inp.what == "my_bets":
            if inp.round and self._round_of(ctx, shared, inp) is None:
                return
            bets = [bet_view(rid, shared.rounds[rid].bets[b]) for rid, b in shared.by_wallet.get(inp.wallet, ())
                    if not inp.round or rid == inp.round]
            ctx.reply(inp, {"bets": bets})
            return
        r = self._round_of(ctx, shared, inp)
        if r is None:
            return
        if inp.what == "round":
            ctx.reply(inp, round_view(r))
        elif inp.what == "pool":
            ctx.reply(inp, pool_view(r))
        elif inp.what == "watch":
            self._watch(ctx, r, inp)
        else:
            ctx.error(inp, BAD_REQUEST, f"unknown view {inp.what!r}")

    def _watch(self, ctx, r: LotteryRound, inp) -> None:
        if inp.wallet not in r.watchers and len(r.watchers) >= MAX_WATCHERS:
            ctx.error(inp, NOT_ALLOWED, "this round has as many watchers as it takes")
            return
        if inp.wallet not in r.watchers:
            r.watch_groups[len(r.watchers) % POOL_GROUPS].append(inp.wallet)
            r.watchers[inp.wallet] = None
        ctx.reply(inp, {})
        ctx.emit((inp.wallet,), "lottery:pool", pool_view(r))

    def _claim(self, ctx, shared: LotteryShared, inp: LotteryClaim) -> None:
        r = self._round_of(ctx, shared, inp)
        if r is None:
            return
        if not any(b.wallet == inp.wallet for b in r.bets.values()):
            ctx.error(inp, NOT_ALLOWED, "you have no bet in this round")
        elif r.state == "void":
            ctx.error(inp, WRONG_STATE, "the round is void: every stake was refunded")
        elif r.state not in ("finalized", "settled"):
            ctx.error(inp, WRONG_STATE, f"the round is {r.state}: nothing to claim yet")
        elif inp.wallet in r.paid:
            ctx.error(inp, DUPLICATE, "your winnings were paid already")
        elif inp.wallet not in r.owed:
            ctx.error(inp, NOT_ALLOWED, "you have no winnings in this round")
        else:
            amount = self._pay(ctx, r, inp.wallet)
            self._maybe_settled(ctx, r)
            ctx.reply(inp, {"amount": amount})

    # --- views ------------------------------------------------------------------------
    def snapshot(self, ctx, m, wallet: str) -> dict:
        return round_view(ctx.state.modes[NAME].rounds[m.id])

    def summary(self, state, m) -> dict:
        r = state.modes[NAME].rounds[m.id]
        return {"phase": r.state, "players": list(dict.fromkeys(b.wallet for b in r.bets.values())),
                "watchers": len(r.watchers), "started_at_ms": r.created_at_ms}

    def records(self, state, tick: int, messages) -> list:
        return records.from_events(messages)


def _regroup(r: LotteryRound) -> None:
    r.watch_groups = [[] for _ in range(POOL_GROUPS)]
    for i, wallet in enumerate(r.watchers):
        r.watch_groups[i % POOL_GROUPS].append(wallet)


def _record(ctx, r: LotteryRound, outcome: dict) -> None:
    """The round as it ended, in an event for no one (`records.ROUND_ENDED`):
    the store keeps it as the round's row and as its bettors' `history.get`
    entry, after the round itself has left the state."""
    proposition = {"kind": r.kind, **({"threshold": r.threshold} if r.threshold >= 0 else {})}
    stakes: dict[str, int] = {}
    for b in r.bets.values():
        stakes[b.wallet] = stakes.get(b.wallet, 0) + b.amount
    ctx.messages.append(Event((), records.ROUND_ENDED, {
        "round": r.id, "state": "void" if r.state == "void" else "finalized", "game": r.game,
        "draw_time_ms": r.draw_time_ms, "proposition": proposition,
        "pool": {"yes": r.totals["yes"], "no": r.totals["no"], "matched": r.matched},
        "stakes": stakes, **outcome}))


def _audience(r: LotteryRound, *wallets: str) -> list:
    return list(dict.fromkeys([*wallets, *r.watchers, *(b.wallet for b in r.bets.values())]))


def _source(part: str, answer) -> dict:
    source, status, value, detail, fetched_at_ms, observed_at_ms = answer
    value = list(value) if isinstance(value, tuple) else value
    return {"part": part, "source": source, "status": status, "value": value, "detail": detail,
            "fetched_at_ms": fetched_at_ms, "observed_at_ms": observed_at_ms}


def round_view(r: LotteryRound) -> dict:
    proposition = {"kind": r.kind}
    if r.threshold >= 0:
        proposition["threshold"] = r.threshold
    return {"round": r.id, "game": r.game, "draw_time_ms": r.draw_time_ms, "lock_time_ms": r.lock_time_ms,
            "proposition": proposition, "state": r.state,
            "result": dict(r.result) if r.result is not None else None}


def pool_view(r: LotteryRound) -> dict:
    return {"round": r.id, "yes": {"total": r.totals["yes"], "matched": r.matched},
            "no": {"total": r.totals["no"], "matched": r.matched}}


def bet_view(round_: str, b: LotteryBet) -> dict:
    return {"bet": b.id, "round": round_, "side": b.side, "amount": b.amount, "matched": b.matched,
            "state": b.state}
