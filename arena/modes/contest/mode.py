"""Trading contests' state machine (docs/CONTESTS.md): players pay an entry
fee, pick a portfolio of whitelisted tokens, and are ranked on how it
performs while the contest runs.

A contest is a match (`ctx.new_match_id`) while it is live:

    registration --(starts_at: enough players)--> active --(ends_at)--> evaluating
      --(fresh prices)--> settled
    registration --(starts_at: under min_players)--> cancelled (every fee back)
    any live state --(contest.cancel)--> cancelled

The contest itself lives in the mode's shared state, so a finished contest
is still read after its match is dropped. Time is engine time
(`ctx.now_ms`): start and end are one-off calendar rules (`schedules`), and
the match's timer checks every deadline with `>=` as well, so a rule that
fires late still moves the contest, exactly once (each step is guarded by
the contest's state).

Prices: one market for every contest (`ContestShared.market`). While a
contest is live, its timer asks the price feed (a mode-level `FetchFeed`,
one at a time, at most once per `price_every_ticks`) for every token in one
vector; the journaled `FeedResult` is the only price input. Prices are
fresh while the last fetch succeeded and was accepted within
`stale_after_ms`; otherwise rankings say `stale`, and no contest takes its
start prices or is evaluated: it waits for fresh ones.

Money: every fee enters `escrow:<contest>` as `EntryFeePaid`; it leaves as
one settlement `payout:<contest>` (prizes, referral rewards, the platform's
rake), or `refund:<contest>` (a cancelled contest), or a refund per payment
that cannot be an entry. Invariant, checked by the tests: what the escrow
took == prizes + rewards + platform rake + refunds, once finished.
"""

from __future__ import annotations

import re

import attrs
from attrs import define, field

from arena.engine import inputs as I
from arena.engine import rng
from arena.engine.calendar import Rule, parse
from arena.engine.canonical import OMIT_IF_DEFAULT
from arena.engine.errors import BAD_REQUEST, DUPLICATE, NOT_ALLOWED, NOT_FOUND, WRONG_STATE
from arena.engine.mode import Mode, Page
from arena.engine.money import bps_of
from arena.engine.outputs import FetchFeed, Settle, Transfer
from arena.engine.snapshot import register as snapshot_class

from . import records, requests, rules
from .messages import (
    EVALUATION, NAME, RAKE, REFERRALS, SERVICE_RESULTS, ContestCancel, ContestCreate, ContestEvaluated,
    ContestJoinChosen, ContestRead, EvaluateContest, ProcessRake, ProcessReferrals, RakeProcessed, ReferralClicked,
    ReferralRequest, ReferralsProcessed, payout_key, price_key, refund_key, service_key, stray_refund_key, token_sync_key,
)
from .settings import ContestConfig, achievement_rules, prize_table, whitelist

LIVE = ("registration", "active", "evaluating")
REFERRAL_CODE = re.compile(r"[0-9A-Z]{4,32}")
RECURRING_RULE = "recurring"
SCHEDULE_CREATOR = "schedule"
# The match's timer: deadlines are checked at least this often.
CHECK_MS = 1_000
MAX_WATCHERS = 10_000
MAX_TIME_MS = 10**13  # year 2286: beyond any contest, and every sum of it stays an int64
# Fields added after contests were first stored (left out of the canonical
# form at their defaults, so stored snapshots keep verifying).
_NEW = {OMIT_IF_DEFAULT: True}


@snapshot_class
@define
class ContestEntry:
    wallet: str
    portfolio: list  # [[token, weight_bps], ...]
    payment_id: str
    fee: int
    referrer: str = ""


@snapshot_class
@define
class Contest:
    id: str
    entry_fee: int
    starts_at_ms: int
    ends_at_ms: int
    min_players: int
    max_players: int
    prizes_bps: list
    rake_bps: int
    tokens: list
    portfolio_size: int
    min_weight_bps: int
    max_weight_bps: int
    # Copied from the settings at creation: a contest keeps its terms.
    referral_bps: int
    platform_account: str
    creator: str
    created_at_ms: int
    state: str = "registration"
    entries: dict = field(factory=dict)  # wallet -> ContestEntry, in join order
    # Payments whose portfolio has not come yet (pid -> [wallet, amount]) and
    # portfolios whose money has not (pid -> [wallet, amount, portfolio]).
    unassigned: dict = field(factory=dict)
    chosen: dict = field(factory=dict)
    payments: dict = field(factory=dict)  # every payment id counted (repeats are ignored)
    watchers: dict = field(factory=dict)  # wallet -> None
    start_prices: dict | None = None  # token -> price, taken at the start (fresh prices)
    end_prices: dict | None = None
    started_at_ms: int = 0
    evaluated_at_ms: int = 0
    rankings: list = field(factory=list)  # [[wallet, score_bps]], best first, as last pushed
    rankings_due: bool = False
    rankings_next_ms: int = 0
    reason: str = ""
    prizes: list = field(factory=list)  # [[wallet, amount]] by rank
    rewards: list = field(factory=list)  # [[referrer, referee, amount]]
    # Money accounting (base units): escrow_in == prizes_paid + rewards_paid
    # + platform_rake + refunded once the contest is finished.
    escrow_in: int = 0
    prizes_paid: int = 0
    rewards_paid: int = 0
    platform_rake: int = 0
    refunded: int = 0
    # The processing services (services.py): requests asked and not yet
    # answered (key -> service), how many were asked, the answers accepted
    # so far (`ranked`: the evaluation; `rake` not None: the rake service's
    # prizes are in `prizes`; `rewarded`: the referral rewards are in
    # `rewards`), and answers refused for disagreeing with the rules.
    asked: dict = field(factory=dict, metadata=_NEW)
    attempts: int = field(default=0, metadata=_NEW)
    ranked: bool = field(default=False, metadata=_NEW)
    rake: int | None = field(default=None, metadata=_NEW)
    rewarded: bool = field(default=False, metadata=_NEW)
    refused: int = field(default=0, metadata=_NEW)
    rankings_at_ms: int = field(default=0, metadata=_NEW)  # when `rankings` was computed
    # The latest join the rest of the audience has not heard of ("" none), and
    # when `contest:joined` may go to them next.
    joined_due: str = field(default="", metadata=_NEW)
    joined_next_ms: int = field(default=0, metadata=_NEW)


@snapshot_class
@define
class ContestMatch:
    """A live contest's match: its timer, and what `match.list` shows."""

    id: str
    mode: str = NAME
    wake_at: int = -1
    created_tick: int = 0


@snapshot_class
@define
class Market:
    """The last accepted prices of every token, and the fetch in flight."""

    prices: dict = field(factory=dict)  # token -> price (10**-price_decimals units)
    accepted_at_ms: int = 0
    ok: bool = False  # the last fetch's answer was accepted
    seq: int = 0
    waiting: str = ""  # key of the fetch in flight ("" none)
    asked: list = field(factory=list)  # the tokens it asked, in the answer's order
    asked_at_ms: int = 0
    next_tick: int = 0
    accepted: int = 0  # price sets accepted
    failed: int = 0  # fetches that gave no usable prices (or none in time)
    # Token sync: the whitelist's status from the token feed.
    delisted: dict = field(factory=dict)  # token -> None: not listed at the last good sync
    sync_seq: int = 0
    sync_waiting: str = ""
    sync_asked: list = field(factory=list)
    next_sync_ms: int = 0
    synced_at_ms: int = 0
    # The token source's metadata of each token it answered rows for:
    # token -> [symbol, decimals, name] (a source that answers only listed
    # flags gives none).
    meta: dict = field(factory=dict, metadata=_NEW)


@snapshot_class
@define
class ContestShared:
    contests: dict = field(factory=dict)  # contest id -> Contest, oldest first
    market: Market = field(factory=Market)
    codes: dict = field(factory=dict)  # referral code -> its wallet
    code_of: dict = field(factory=dict)  # wallet -> its code
    referrer_of: dict = field(factory=dict)  # referee wallet -> referrer wallet
    referrals: dict = field(factory=dict)  # referrer -> {"clicks", "registered", "converted", "rewards"}
    joined: dict = field(factory=dict)  # wallet -> None: has entered a contest
    profiles: dict = field(factory=dict)  # wallet -> {stat: int}
    achievements: dict = field(factory=dict)  # wallet -> [achievement, ...] in unlock order
    # Link clicks counted per referrer in the current minute: referrer -> [minute, count].
    click_window: dict = field(factory=dict, metadata=_NEW)


class ContestMode(Mode):
    name = NAME
    settings = ContestConfig
    inputs = (ContestCreate, ContestCancel, ContestRead, ReferralRequest, ContestJoinChosen, ReferralClicked,
              *SERVICE_RESULTS)
    # Evaluation, rake and referral processing: supervised side tasks of
    # their own, each with its circuit breaker (services.py).
    effects = {EvaluateContest: EVALUATION, ProcessRake: RAKE, ProcessReferrals: REFERRALS}
    result_keys = {cls: (lambda r: r.key) for cls in SERVICE_RESULTS}
    side_tasks = {EVALUATION: "arena.modes.contest.services:make_evaluator",
                  RAKE: "arena.modes.contest.services:make_rake",
                  REFERRALS: "arena.modes.contest.services:make_referrals"}
    routed_inputs = (ContestCreate, ContestCancel, ContestRead, ReferralRequest, ReferralClicked)
    requests = requests.REQUESTS
    boards = records.BOARDS
    quiet_events = frozenset({"contest:rankings"})
    simulation = "arena.sim.contest"
    page = Page("Trading contests", description="Pick a weighted token portfolio, pay the entry and follow the live rankings.",
                link="r")

    def setup(self, config):
        return ContestShared()

    # --- routing ----------------------------------------------------------------
    def route(self, ctx, inp) -> None:
        shared: ContestShared = ctx.state.modes[NAME]
        if isinstance(inp, I.FeedResult):
            self._prices(ctx, shared, inp)
        elif isinstance(inp, ContestCreate):
            self._create(ctx, shared, inp)
        elif isinstance(inp, ContestRead):
            self._read(ctx, shared, inp)
        elif isinstance(inp, ContestCancel):
            c = self._contest_of(ctx, shared, inp)
            if c is None:
                return
            if c.state not in LIVE:
                ctx.error(inp, WRONG_STATE, f"contest {c.id} is {c.state}")
                return
            self._cancel(ctx, c, "cancelled by the operator")
            ctx.reply(inp, {"contest": c.id, "state": c.state})
        elif isinstance(inp, ReferralRequest):
            self._referral(ctx, shared, inp)
        elif isinstance(inp, ReferralClicked):
            self._clicked(ctx, shared, inp)

    # --- referral links ---------------------------------------------------------
    def page_link(self, state, rest: str):
        """`/r/<code>`: a click on the code's link (journaled, if the code is
        a wallet's), and on to the contests page with the code."""
        code = rest.strip("/").upper()
        if not REFERRAL_CODE.fullmatch(code):
            return None
        shared = state.modes.get(NAME)
        known = shared is not None and code in shared.codes
        return (ReferralClicked(code) if known else None), (f"/{NAME}/?ref={code}" if known else f"/{NAME}/")

    def _clicked(self, ctx, shared: ContestShared, inp: ReferralClicked) -> None:
        referrer = shared.codes.get(inp.code)
        if referrer is None:
            return
        minute = ctx.now_ms // 60_000
        window = shared.click_window.get(referrer)
        if window is None or window[0] != minute:
            window = shared.click_window[referrer] = [minute, 0]
        if window[1] >= ctx.settings(NAME).referral_clicks_per_min:
            return  # counted enough this minute: followed, not counted
        window[1] += 1
        _referral_stats(shared, referrer)["clicks"] += 1

    def input(self, ctx, m: ContestMatch, inp) -> None:
        c = ctx.state.modes[NAME].contests[m.id]
        if isinstance(inp, I.EntryFeePaid):
            self._money(ctx, c, inp)
        elif isinstance(inp, ContestJoinChosen):
            self._chosen(ctx, c, inp)
        elif isinstance(inp, I.MatchWatch):
            self._watch(ctx, c, inp)
        elif isinstance(inp, SERVICE_RESULTS):
            self._answered(ctx, c, inp)

    def tick(self, ctx, m: ContestMatch) -> None:
        shared: ContestShared = ctx.state.modes[NAME]
        c = shared.contests[m.id]
        cfg: ContestConfig = ctx.settings(NAME)
        self._market(ctx, shared, cfg)
        self._advance(ctx, c)
        if c.state in LIVE:
            self._push_joined(ctx, c, cfg)
            self._push_rankings(ctx, shared, c, cfg)
            ctx.wake(m, ctx.tick + min(cfg.price_every_ticks, ctx.ticks(CHECK_MS)))

    def schedules(self, settings, shared) -> tuple:
        if shared is None:
            return ()
        out = [self._recurring_rule(settings.recurring)] if settings.recurring else []
        for c in shared.contests.values():
            if c.state == "registration":
                out.append(Rule.at(f"start-{c.id}", c.starts_at_ms))
            elif c.state == "active":
                out.append(Rule.at(f"end-{c.id}", c.ends_at_ms))
        return tuple(out)

    _rules: dict = {}

    def _recurring_rule(self, text: str):
        rule = self._rules.get(text)
        if rule is None:
            rule = self._rules[text] = parse(RECURRING_RULE, text)
        return rule

    def on_schedule(self, ctx, shared, fired) -> None:
        if fired.rule == RECURRING_RULE:
            self._recur(ctx, shared, fired.at_ms)
            return
        c = shared.contests.get(fired.rule.partition("-")[2])
        if c is not None and c.state in LIVE:
            self._advance(ctx, c)

    # --- create -----------------------------------------------------------------
    def _create(self, ctx, shared: ContestShared, inp: ContestCreate) -> None:
        why = create_error(ctx.settings(NAME), inp, ctx.now_ms) or delisted_error(shared.market, inp.tokens)
        if why:
            ctx.error(inp, BAD_REQUEST, why)
            return
        ctx.reply(inp, {"contest": self._open(ctx, shared, inp)})

    def _recur(self, ctx, shared: ContestShared, at_ms: int) -> None:
        """An occurrence of `[contest] recurring`: a contest on its terms over
        the whole whitelist (none if the terms do not make one now: e.g. a
        late occurrence whose start has passed)."""
        cfg: ContestConfig = ctx.settings(NAME)
        starts = at_ms + cfg.recurring_lead_ms
        inp = ContestCreate("", 0, SCHEDULE_CREATOR, cfg.recurring_entry_fee, starts,
                            starts + cfg.recurring_duration_ms, cfg.recurring_min_players,
                            cfg.recurring_max_players, prize_table(cfg.recurring_prizes_bps), cfg.recurring_rake_bps,
                            tuple(t for t, _ in whitelist(cfg.tokens)), cfg.recurring_portfolio_size)
        listed = tuple(t for t in inp.tokens if t not in shared.market.delisted)
        inp = attrs.evolve(inp, tokens=listed, portfolio_size=min(inp.portfolio_size, len(listed)))
        if create_error(cfg, inp, ctx.now_ms) is None:
            self._open(ctx, shared, inp)

    def _open(self, ctx, shared: ContestShared, inp: ContestCreate) -> str:
        cfg: ContestConfig = ctx.settings(NAME)
        cid = ctx.new_match_id(NAME)
        shared.contests[cid] = Contest(
            id=cid, entry_fee=inp.entry_fee, starts_at_ms=inp.starts_at_ms, ends_at_ms=inp.ends_at_ms,
            min_players=inp.min_players, max_players=inp.max_players, prizes_bps=list(inp.prizes_bps),
            rake_bps=inp.rake_bps, tokens=list(inp.tokens), portfolio_size=inp.portfolio_size,
            min_weight_bps=inp.min_weight_bps, max_weight_bps=inp.max_weight_bps, referral_bps=cfg.referral_bps,
            platform_account=cfg.platform_account, creator=inp.wallet, created_at_ms=ctx.now_ms)
        m = ContestMatch(cid, created_tick=ctx.tick)
        ctx.state.matches[cid] = m
        ctx.wake(m, ctx.tick + 1)
        return cid

    # --- money in -----------------------------------------------------------------
    def _money(self, ctx, c: Contest, inp: I.EntryFeePaid) -> None:
        if inp.payment_id in c.payments:
            return  # reported twice
        c.payments[inp.payment_id] = None
        c.escrow_in += inp.amount
        chosen = c.chosen.pop(inp.payment_id, None)
        if chosen is None:
            c.unassigned[inp.payment_id] = [inp.wallet, inp.amount]
            if c.state != "registration":
                self._stray(ctx, c, inp.payment_id, f"the contest is {c.state}")
            return
        self._join(ctx, c, inp.wallet, chosen[2], inp.amount, inp.payment_id)

    def _chosen(self, ctx, c: Contest, inp: ContestJoinChosen) -> None:
        if inp.payment_id in c.chosen:
            return  # reported twice
        money = c.unassigned.get(inp.payment_id)
        if money is None:
            # Money counted and gone (an entry, or refunded): done. Else it is
            # on its way (EntryFeePaid comes next, or from the chain).
            if c.state == "registration" and inp.payment_id not in c.payments:
                c.chosen[inp.payment_id] = [inp.wallet, inp.amount, inp.portfolio]
            return
        self._join(ctx, c, money[0], inp.portfolio, money[1], inp.payment_id)

    def _join(self, ctx, c: Contest, wallet: str, portfolio, amount: int, pid: str) -> None:
        """Money and portfolio are both here: an entry if the contest takes
        it, else the payment goes back whole."""
        c.unassigned[pid] = [wallet, amount]
        why = join_error(c, wallet, portfolio, ctx.now_ms) or delisted_error(
            ctx.state.modes[NAME].market, [t for t, _ in portfolio] if isinstance(portfolio, tuple) else ())
        if why is None and amount != c.entry_fee:
            why = f"paid {amount}, the entry fee is {c.entry_fee}"
        if why:
            self._stray(ctx, c, pid, why)
            return
        del c.unassigned[pid]
        shared: ContestShared = ctx.state.modes[NAME]
        referrer = shared.referrer_of.get(wallet, "")
        if wallet not in shared.joined:
            shared.joined[wallet] = None
            if referrer:
                _referral_stats(shared, referrer)["converted"] += 1
        c.entries[wallet] = ContestEntry(wallet, [list(p) for p in portfolio], pid, amount, referrer)
        # The joiner hears at once; everyone else at most once per rankings
        # interval, with the latest join (`_push_joined`): a contest filling
        # up costs one event per entrant per interval, not one per join.
        ctx.emit((wallet,), "contest:joined", {"contest": c.id, "wallet": wallet, "players": len(c.entries)})
        c.joined_due = wallet

    def _stray(self, ctx, c: Contest, pid: str, reason: str) -> None:
        """A payment that will not be an entry goes back whole."""
        wallet, amount = c.unassigned.pop(pid)
        c.refunded += amount
        ctx.effect(Settle(stray_refund_key(c.id, pid), c.id, (Transfer(f"escrow:{c.id}", wallet, amount),),
                          "contest_refund"))
        ctx.emit((wallet,), "contest:refunded", {"contest": c.id, "wallet": wallet, "amount": amount,
                                                 "reason": reason})

    # --- prices -------------------------------------------------------------------
    def _market(self, ctx, shared: ContestShared, cfg: ContestConfig) -> None:
        """Ask for prices if it is time: one fetch at a time, at most once per
        `price_every_ticks`; a fetch unanswered for `price_timeout_ms` is given up."""
        mk = shared.market
        self._token_sync(ctx, mk, cfg)
        if mk.waiting and ctx.now_ms - mk.asked_at_ms >= cfg.price_timeout_ms:
            mk.waiting = ""
            self._price_failed(shared, mk)
        if mk.waiting or ctx.tick < mk.next_tick:
            return
        tokens = market_tokens(cfg, shared)
        symbols = dict(whitelist(cfg.tokens))
        mk.seq += 1
        mk.waiting = price_key(ctx.state.world or "", mk.seq)
        mk.asked = tokens
        mk.asked_at_ms = ctx.now_ms
        mk.next_tick = ctx.tick + cfg.price_every_ticks
        ctx.effect(FetchFeed(mk.waiting, NAME, "", cfg.price_feed, (
            ("symbols", ",".join(symbols.get(t, t) for t in tokens)), ("tokens", ",".join(tokens)))))

    def _token_sync(self, ctx, mk: Market, cfg: ContestConfig) -> None:
        """Ask the token feed for the whitelist's status every `token_sync_ms`
        (one at a time; one unanswered for that long is given up)."""
        now = ctx.now_ms
        if now < mk.next_sync_ms:
            return
        listed = whitelist(cfg.tokens)
        mk.sync_seq += 1
        mk.sync_waiting = token_sync_key(ctx.state.world or "", mk.sync_seq)
        mk.sync_asked = [t for t, _ in listed]
        mk.next_sync_ms = now + cfg.token_sync_ms
        ctx.effect(FetchFeed(mk.sync_waiting, NAME, "", cfg.token_feed, (
            ("symbols", ",".join(s for _, s in listed)), ("tokens", ",".join(mk.sync_asked)))))

    def _synced(self, ctx, mk: Market, inp: I.FeedResult) -> None:
        """A token sync's answer: per asked token a listed flag (1 / 0), or a
        row (listed, decimals, symbol, name) from a token list. Anything else
        (or a failed fetch) changes nothing: the last good sync stands."""
        mk.sync_waiting = ""
        value = inp.value
        if inp.status != I.FEED_OK or not isinstance(value, tuple) or len(value) != len(mk.sync_asked):
            return
        rows = [rules.token_row(v) for v in value]
        if any(r is None for r in rows):
            return
        mk.delisted = {t: None for t, (listed, _) in zip(mk.sync_asked, rows) if not listed}
        mk.meta = {t: meta for t, (_, meta) in zip(mk.sync_asked, rows) if meta is not None}
        mk.synced_at_ms = ctx.now_ms

    def _prices(self, ctx, shared: ContestShared, inp: I.FeedResult) -> None:
        mk = shared.market
        if mk.sync_waiting and inp.key == mk.sync_waiting:
            self._synced(ctx, mk, inp)
            return
        if not mk.waiting or inp.key != mk.waiting:
            return  # an answer given up on, or a repeat: ignored
        mk.waiting = ""
        if inp.status == I.FEED_OK and rules.check_prices(inp.value, len(mk.asked)) is None:
            mk.prices = dict(zip(mk.asked, inp.value))
            mk.accepted_at_ms = ctx.now_ms
            mk.ok = True
            mk.accepted += 1
        else:
            self._price_failed(shared, mk)
        for c in list(shared.contests.values()):
            if c.state in LIVE:
                c.rankings_due = True
                self._advance(ctx, c)

    @staticmethod
    def _price_failed(shared: ContestShared, mk: Market) -> None:
        if mk.ok:  # fresh to stale: the next rankings say so
            for c in shared.contests.values():
                c.rankings_due = c.state in LIVE
        mk.ok = False
        mk.failed += 1

    def _fresh(self, ctx, c: Contest) -> dict | None:
        """The contest's tokens' prices if they are fresh, else None."""
        mk: Market = ctx.state.modes[NAME].market
        if not mk.ok or ctx.now_ms - mk.accepted_at_ms > ctx.settings(NAME).stale_after_ms:
            return None
        if any(t not in mk.prices for t in c.tokens):
            return None
        return {t: mk.prices[t] for t in c.tokens}

    # --- time -----------------------------------------------------------------------
    def _advance(self, ctx, c: Contest) -> None:
        """Every step whose time has come, in order, each exactly once."""
        now = ctx.now_ms
        if c.state == "registration" and now >= c.starts_at_ms:
            self._start(ctx, c)
        if c.state == "active" and c.start_prices is None:
            prices = self._fresh(ctx, c)
            if prices is not None:
                c.start_prices = prices
                c.started_at_ms = now
                c.rankings_due = True
                ctx.emit(_audience(c), "contest:started", {"contest": c.id, "start_prices": dict(prices)})
        if c.state == "active" and now >= c.ends_at_ms:
            if c.start_prices is None:
                self._cancel(ctx, c, "no fresh prices from the start to the end")
                return
            c.state = "evaluating"
            c.rankings_due = True
        if c.state == "evaluating" and c.end_prices is None:
            prices = self._fresh(ctx, c)
            if prices is not None:
                c.end_prices = prices
                c.evaluated_at_ms = now
                self._ask_evaluation(ctx, c)

    def _start(self, ctx, c: Contest) -> None:
        for pid in list(c.unassigned):  # money whose portfolio never came
            self._stray(ctx, c, pid, "the portfolio never came")
        c.chosen.clear()  # portfolios whose money never came
        if len(c.entries) < c.min_players:
            self._cancel(ctx, c, f"{len(c.entries)} players at the start, under the minimum of {c.min_players}")
            return
        c.state = "active"

    def _cancel(self, ctx, c: Contest, reason: str) -> None:
        for pid in list(c.unassigned):
            self._stray(ctx, c, pid, "the contest was cancelled")
        c.chosen.clear()
        transfers = tuple(Transfer(f"escrow:{c.id}", e.wallet, e.fee) for e in c.entries.values())
        c.refunded += sum(t.amount for t in transfers)
        c.state = "cancelled"
        c.reason = reason
        ctx.effect(Settle(refund_key(c.id), c.id, transfers, "contest_refund"))
        ctx.emit(_audience(c), "contest:cancelled", {"contest": c.id, "reason": reason})
        self._drop(ctx, c)

    # --- the processing services (services.py) -------------------------------------
    def _ask(self, ctx, c: Contest, service: str, make) -> None:
        c.attempts += 1
        key = service_key(service, c.id, c.attempts)
        c.asked[key] = service
        ctx.effect(make(key))

    def _ask_evaluation(self, ctx, c: Contest) -> None:
        """Rank the entries on the end prices (fresh: taken when the contest
        was evaluable), by the evaluation service."""
        self._ask(ctx, c, EVALUATION, lambda key: EvaluateContest(
            key, c.id, tuple(sorted(c.start_prices.items())), tuple(sorted(c.end_prices.items())),
            tuple((w, tuple(tuple(p) for p in e.portfolio)) for w, e in c.entries.items())))

    def _ask_rake(self, ctx, c: Contest) -> None:
        self._ask(ctx, c, RAKE, lambda key: ProcessRake(
            key, c.id, _pool(c), c.rake_bps, tuple(c.prizes_bps), tuple(w for w, _ in c.rankings)))

    def _ask_referrals(self, ctx, c: Contest) -> None:
        referred = tuple((w, c.entries[w].referrer, c.entries[w].fee) for w, _ in c.rankings
                         if c.entries[w].referrer)
        self._ask(ctx, c, REFERRALS, lambda key: ProcessReferrals(key, c.id, c.rake_bps, c.referral_bps, referred))

    def _answered(self, ctx, c: Contest, inp) -> None:
        """A service's answer: taken if it is the one the rules give, else
        asked again under a new key (a faulty service delays, never pays)."""
        service = c.asked.pop(inp.key, None)
        if service is None or c.state != "evaluating":
            return  # not asked, answered twice, or the contest was cancelled meanwhile
        if isinstance(inp, ContestEvaluated):
            expected = [list(r) for r in rules.standings(c.start_prices, c.end_prices, _entries(c))]
            if [list(r) for r in inp.rankings] != expected:
                c.refused += 1
                self._ask_evaluation(ctx, c)
                return
            c.rankings = expected
            c.rankings_at_ms = c.evaluated_at_ms
            c.ranked = True
            self._ask_rake(ctx, c)
            self._ask_referrals(ctx, c)
            return
        ranked = [w for w, _ in c.rankings]
        if isinstance(inp, RakeProcessed):
            rake, prizes = rules.split_pool(_pool(c), c.rake_bps, c.prizes_bps, ranked)
            if inp.rake != rake or [list(p) for p in inp.prizes] != [list(p) for p in prizes]:
                c.refused += 1
                self._ask_rake(ctx, c)
                return
            c.rake = rake
            c.prizes = [list(p) for p in prizes]
        elif isinstance(inp, ReferralsProcessed):
            referred = [(w, c.entries[w].referrer, c.entries[w].fee) for w in ranked if c.entries[w].referrer]
            rewards = rules.referral_rewards(referred, c.rake_bps, c.referral_bps)
            if [list(r) for r in inp.rewards] != [list(r) for r in rewards]:
                c.refused += 1
                self._ask_referrals(ctx, c)
                return
            c.rewarded = True
            c.rewards = [list(r) for r in rewards]
        if c.rake is not None and c.rewarded:
            self._settle(ctx, c)

    def _settle(self, ctx, c: Contest) -> None:
        """Every service has answered: the one settlement `payout:<contest>`."""
        shared: ContestShared = ctx.state.modes[NAME]
        prizes = [tuple(p) for p in c.prizes]
        rewards = [tuple(r) for r in c.rewards]
        platform = rules.combine(_pool(c), c.rake, prizes, rewards)
        escrow = f"escrow:{c.id}"
        transfers = [Transfer(escrow, w, a) for w, a in prizes if a > 0]
        transfers += [Transfer(escrow, r, a) for r, _, a in rewards]
        if platform > 0:
            transfers.append(Transfer(escrow, c.platform_account, platform))
        c.prizes_paid = sum(a for _, a in prizes)
        c.rewards_paid = sum(a for _, _, a in rewards)
        c.platform_rake = platform
        c.state = "settled"
        ctx.effect(Settle(payout_key(c.id), c.id, tuple(transfers), "contest_payout"))
        ctx.emit(_audience(c), "contest:ended", ended_view(c))
        for referrer, referee, amount in rewards:
            _referral_stats(shared, referrer)["rewards"] += amount
            ctx.emit((referrer,), "referral:reward", {"referee": referee, "contest": c.id, "amount": amount})
        self._achievements(ctx, shared, c, dict(prizes))
        self._drop(ctx, c)

    def _achievements(self, ctx, shared: ContestShared, c: Contest, prize_of: dict) -> None:
        defs = achievement_rules(ctx.settings(NAME).achievements)
        for place, (wallet, _) in enumerate(c.rankings, 1):
            stats = shared.profiles.setdefault(wallet, {s: 0 for s in ("contests", "wins", "podiums",
                                                                         "in_the_money", "win_streak")})
            stats["contests"] += 1
            stats["wins"] += place == 1
            stats["podiums"] += place <= 3
            stats["in_the_money"] += prize_of.get(wallet, 0) > 0
            stats["win_streak"] = stats["win_streak"] + 1 if place == 1 else 0
            have = shared.achievements.setdefault(wallet, [])
            for name, stat, threshold in defs:
                if name not in have and stats[stat] >= threshold:
                    have.append(name)
                    ctx.emit((wallet,), "achievement:unlocked",
                             {"achievement": name, "wallet": wallet, "contest": c.id})

    def _drop(self, ctx, c: Contest) -> None:
        m = ctx.state.matches.get(c.id)
        if m is not None:
            ctx.drop_match(m, ())

    # --- rankings -------------------------------------------------------------------
    def _push_joined(self, ctx, c: Contest, cfg: ContestConfig) -> None:
        """`contest:joined` (the latest join and the count) to the entrants
        and watchers, at most once per `rankings_interval_ms`."""
        if not c.joined_due or ctx.now_ms < c.joined_next_ms:
            return
        wallet, c.joined_due = c.joined_due, ""
        c.joined_next_ms = ctx.now_ms + cfg.rankings_interval_ms
        ctx.emit([w for w in _audience(c) if w != wallet], "contest:joined",
                 {"contest": c.id, "wallet": wallet, "players": len(c.entries)})

    def _push_rankings(self, ctx, shared: ContestShared, c: Contest, cfg: ContestConfig) -> None:
        """`contest:rankings` if something changed, at most once per interval."""
        if (not c.rankings_due or c.start_prices is None or c.end_prices is not None
                or ctx.now_ms < c.rankings_next_ms):
            return  # (once the end prices are taken, the final ranking comes in contest:ended)
        mk = shared.market
        if any(t not in mk.prices for t in c.tokens):
            return
        c.rankings_due = False
        c.rankings_next_ms = ctx.now_ms + cfg.rankings_interval_ms
        c.rankings = standings(c, mk.prices)
        c.rankings_at_ms = ctx.now_ms
        self._emit_rankings(ctx, c, _audience(c), cfg.rankings_top)

    def _emit_rankings(self, ctx, c: Contest, to, top_n: int) -> None:
        """`contest:rankings` to `to`: the best `top_n` rows, and, to an
        entrant further down, its own row after them (one body for everyone
        else, encoded once)."""
        head = {"contest": c.id, "at_ms": c.rankings_at_ms or ctx.now_ms,
                "stale": c.state in LIVE and self._fresh(ctx, c) is None, "total": len(c.rankings)}
        top = ranking_rows(c.rankings[:top_n])
        wanted = dict.fromkeys(to)
        below = [(i, w, s) for i, (w, s) in enumerate(c.rankings[top_n:], top_n + 1) if w in wanted]
        for _, w, _ in below:
            del wanted[w]
        if wanted:
            ctx.emit(list(wanted), "contest:rankings", {**head, "rankings": top})
        for rank, w, score in below:
            ctx.emit((w,), "contest:rankings", {**head, "rankings": [*top, {"rank": rank, "wallet": w,
                                                                             "score_bps": score}]})

    # --- requests -------------------------------------------------------------------
    def _contest_of(self, ctx, shared, inp) -> Contest | None:
        c = shared.contests.get(inp.contest)
        if c is None:
            ctx.error(inp, NOT_FOUND, f"no contest {inp.contest[:64]!r}")
        return c

    def _read(self, ctx, shared: ContestShared, inp: ContestRead) -> None:
        if inp.what == "tokens":
            cfg: ContestConfig = ctx.settings(NAME)
            mk = shared.market
            ctx.reply(inp, {"tokens": [{"token": t, "symbol": s, "price": mk.prices.get(t, 0),
                                        "decimals": cfg.price_decimals, "listed": t not in mk.delisted,
                                        "meta": _meta_view(mk.meta.get(t))}
                                       for t, s in whitelist(cfg.tokens)],
                            "synced_at_ms": mk.synced_at_ms,
                            "prices_at_ms": mk.accepted_at_ms,
                            "stale": not mk.ok or ctx.now_ms - mk.accepted_at_ms > cfg.stale_after_ms})
            return
        if inp.what == "profile":
            wallet = inp.wallet_of or inp.wallet
            ctx.reply(inp, {"wallet": wallet, "stats": dict(shared.profiles.get(wallet, {})),
                            "achievements": list(shared.achievements.get(wallet, ()))})
            return
        c = self._contest_of(ctx, shared, inp)
        if c is None:
            return
        if inp.what == "get":
            ctx.reply(inp, contest_view(c))
        elif inp.what == "watch":
            self._watch(ctx, c, inp)
        elif inp.what == "rankings":
            self._rankings_page(ctx, c, inp)
        else:
            ctx.error(inp, BAD_REQUEST, f"unknown view {inp.what!r}")

    def _watch(self, ctx, c: Contest, inp) -> None:
        if inp.wallet not in c.watchers and len(c.watchers) >= MAX_WATCHERS:
            ctx.error(inp, NOT_ALLOWED, "this contest has as many watchers as it takes")
            return
        c.watchers[inp.wallet] = None
        ctx.reply(inp, {})
        self._emit_rankings(ctx, c, (inp.wallet,), ctx.settings(NAME).rankings_top)

    def _rankings_page(self, ctx, c: Contest, inp: ContestRead) -> None:
        """`contest.rankings`: rows `offset`.. of the last computed ranking
        (the final one once settled), at most `limit`."""
        end = min(len(c.rankings), inp.offset + inp.limit)
        rows = [{"rank": i + 1, "wallet": c.rankings[i][0], "score_bps": c.rankings[i][1]}
                for i in range(min(inp.offset, end), end)]
        ctx.reply(inp, {"contest": c.id, "state": c.state, "at_ms": c.rankings_at_ms, "total": len(c.rankings),
                        "offset": inp.offset, "rankings": rows,
                        "stale": c.state in LIVE and c.end_prices is None and self._fresh(ctx, c) is None})

    def _referral(self, ctx, shared: ContestShared, inp: ReferralRequest) -> None:
        if inp.what == "code":
            ctx.reply(inp, {"code": self._code_of(ctx, shared, inp.wallet)})
            return
        if inp.what == "stats":
            code = self._code_of(ctx, shared, inp.wallet)
            ctx.reply(inp, {"code": code, **_referral_stats(shared, inp.wallet),
                            "referrer": shared.referrer_of.get(inp.wallet)})
            return
        referrer = shared.codes.get(inp.code)
        if inp.what == "click":
            if referrer is None:
                ctx.error(inp, NOT_FOUND, "no such referral code")
                return
            _referral_stats(shared, referrer)["clicks"] += 1
            ctx.reply(inp, {})
            return
        if inp.wallet in shared.referrer_of:
            ctx.error(inp, DUPLICATE, "this wallet has registered a referral code already")
        elif referrer is None:
            ctx.error(inp, NOT_FOUND, "no such referral code")
        elif referrer == inp.wallet:
            ctx.error(inp, NOT_ALLOWED, "a wallet cannot refer itself")
        elif inp.wallet in shared.joined:
            ctx.error(inp, WRONG_STATE, "a referral code is registered before the first contest")
        else:
            shared.referrer_of[inp.wallet] = referrer
            _referral_stats(shared, referrer)["registered"] += 1
            ctx.reply(inp, {})

    def _code_of(self, ctx, shared: ContestShared, wallet: str) -> str:
        code = shared.code_of.get(wallet)
        n = 0
        while code is None:
            candidate = rng.token(ctx.config.seed, "referral", ctx.state.world or "", wallet, n, nbytes=5).upper()
            if candidate not in shared.codes:
                code = shared.code_of[wallet] = candidate
                shared.codes[candidate] = wallet
            n += 1
        return code

    # --- views ------------------------------------------------------------------------
    def snapshot(self, ctx, m, wallet: str) -> dict:
        return contest_view(ctx.state.modes[NAME].contests[m.id])

    def summary(self, state, m) -> dict:
        c = state.modes[NAME].contests[m.id]
        return {"phase": c.state, "players": list(c.entries), "watchers": len(c.watchers),
                "started_at_ms": c.starts_at_ms}

    def records(self, state, tick: int, messages) -> list:
        return records.from_events(messages)


def create_error(cfg: ContestConfig, inp: ContestCreate, now: int) -> str | None:
    """Why a `contest.create` cannot be a contest now (None: it can)."""
    listed = dict(whitelist(cfg.tokens))
    checks = (
        (cfg.min_entry_fee <= inp.entry_fee <= cfg.max_entry_fee,
         f"entry_fee must be {cfg.min_entry_fee}..{cfg.max_entry_fee} (base units)"),
        (now < inp.starts_at_ms <= MAX_TIME_MS, f"starts_at_ms must be after the server's time ({now})"),
        (cfg.min_duration_ms <= inp.ends_at_ms - inp.starts_at_ms <= cfg.max_duration_ms,
         f"ends_at_ms - starts_at_ms must be {cfg.min_duration_ms}..{cfg.max_duration_ms} ms"),
        (1 <= inp.min_players <= inp.max_players <= cfg.max_players,
         f"players must be 1 <= min_players <= max_players <= {cfg.max_players}"),
        (1 <= len(inp.prizes_bps) <= cfg.max_prize_places
         and all(isinstance(b, int) and not isinstance(b, bool) and 0 < b <= 10_000 for b in inp.prizes_bps)
         and sum(inp.prizes_bps) == 10_000,
         f"prizes_bps must be 1..{cfg.max_prize_places} positive shares by rank summing to 10000"),
        (0 <= inp.rake_bps <= cfg.max_rake_bps, f"rake_bps must be 0..{cfg.max_rake_bps}"),
        (bool(inp.tokens) and all(isinstance(t, str) and t in listed for t in inp.tokens)
         and len(set(inp.tokens)) == len(inp.tokens),
         "tokens must be distinct tokens of the whitelist (contest.tokens)"),
        (1 <= inp.portfolio_size <= min(len(inp.tokens), cfg.max_portfolio_size),
         f"portfolio_size must be 1..min(len(tokens), {cfg.max_portfolio_size})"),
        (1 <= inp.min_weight_bps <= inp.max_weight_bps <= 10_000
         and inp.max_weight_bps * inp.portfolio_size >= 10_000,
         "weights must be 1 <= min_weight_bps <= max_weight_bps <= 10000, and a full portfolio must reach 10000"),
    )
    return next((why for ok, why in checks if not ok), None)


def delisted_error(mk: Market, tokens) -> str | None:
    """Why `tokens` cannot go into a new contest or portfolio now (the last
    token sync says one is not listed), or None."""
    gone = [t for t in tokens if isinstance(t, str) and t in mk.delisted]
    return f"token {gone[0][:64]} is not listed now (token sync)" if gone else None


def join_error(c: Contest, wallet: str, portfolio, now: int) -> str | None:
    """Why `wallet` cannot enter `c` with `portfolio` now (None: it can)."""
    if c.state != "registration" or now >= c.starts_at_ms:
        return f"contest {c.id} has started: joining is closed"
    if wallet in c.entries:
        return "you are in this contest already"
    if len(c.entries) >= c.max_players:
        return f"contest {c.id} is full ({c.max_players} players)"
    return rules.check_portfolio(portfolio, c.tokens, c.portfolio_size, c.min_weight_bps, c.max_weight_bps)


def market_tokens(cfg: ContestConfig, shared: ContestShared) -> list:
    """The tokens a price fetch asks: the whitelist, then any live contest's
    token no longer on it (its contest still needs its price)."""
    tokens = [t for t, _ in whitelist(cfg.tokens)]
    known = set(tokens)
    for c in shared.contests.values():
        if c.state in LIVE:
            for t in c.tokens:
                if t not in known:
                    known.add(t)
                    tokens.append(t)
    return tokens


def standings(c: Contest, prices: dict) -> list:
    """[[wallet, score_bps]] best first, ties to the earlier join."""
    return [list(e) for e in rules.standings(c.start_prices, prices, _entries(c))]


def _entries(c: Contest):
    return ((w, e.portfolio) for w, e in c.entries.items())


def _pool(c: Contest) -> int:
    return sum(e.fee for e in c.entries.values())


def ranking_rows(rankings) -> list:
    return [{"rank": i, "wallet": w, "score_bps": s} for i, (w, s) in enumerate(rankings, 1)]


def _meta_view(meta) -> dict | None:
    return None if meta is None else {"symbol": meta[0], "decimals": meta[1], "name": meta[2]}


def _audience(c: Contest, *wallets: str) -> list:
    return list(dict.fromkeys([*wallets, *c.watchers, *c.entries]))


def _referral_stats(shared: ContestShared, wallet: str) -> dict:
    return shared.referrals.setdefault(wallet, {"clicks": 0, "registered": 0, "converted": 0, "rewards": 0})


def terms_view(c: Contest) -> dict:
    return {"entry_fee": c.entry_fee, "starts_at_ms": c.starts_at_ms, "ends_at_ms": c.ends_at_ms,
            "min_players": c.min_players, "max_players": c.max_players, "prizes_bps": list(c.prizes_bps),
            "rake_bps": c.rake_bps, "tokens": list(c.tokens), "portfolio_size": c.portfolio_size,
            "min_weight_bps": c.min_weight_bps, "max_weight_bps": c.max_weight_bps,
            "referral_bps": c.referral_bps, "platform_account": c.platform_account}


def ended_view(c: Contest) -> dict:
    pool = _pool(c)
    return {"contest": c.id, "rankings": ranking_rows(c.rankings),
            "prizes": [{"wallet": w, "amount": a} for w, a in c.prizes],
            "rake": bps_of(pool, c.rake_bps), "pool": pool, "platform": c.platform_rake,
            "referrals": [{"referrer": r, "referee": e, "amount": a} for r, e, a in c.rewards],
            "start_prices": dict(c.start_prices or {}), "end_prices": dict(c.end_prices or {}),
            "evaluated_at_ms": c.evaluated_at_ms}


def contest_view(c: Contest) -> dict:
    view = {"contest": c.id, "state": c.state, "terms": terms_view(c), "players": len(c.entries),
            "rankings": ranking_rows(c.rankings) if c.start_prices is not None else None,
            "start_prices": dict(c.start_prices) if c.start_prices is not None else None}
    if c.state == "settled":
        view["result"] = ended_view(c)
    if c.state == "cancelled":
        view["reason"] = c.reason
    return view
