"""Meme rounds' state machine (docs/MEME.md): content through an AI
pipeline into rounds that follow the chain's blocks, viewers paying per
second watched, the pool shared out by engagement, ownership traded.

Everything lives in one long-lived match, the **hall** (`ctx.new_match_id`,
made by the first meme request), and in the mode's shared state:

* its escrow (`escrow:<hall>`) holds every viewing deposit and purchase
  until it is charged, paid out or refunded;
* its timer is the **meter**: each running view is charged once a second,
  on the tick of its own second (views are kept in `tick_hz` slots by the
  tick they started on, and each tick meters one slot, so the cost of N
  viewers is spread over the second instead of landing on one tick): its
  whole seconds since it started, measured in engine ticks; a view stops
  when its beats stop, its balance runs out or its round ends. Once a
  second the hall also asks the block feed for the height, retries
  processing, refunds payments whose purpose never came, and settles
  owners' shares when due.

Content: pending --(ProcessContent sent)--> processing --(ContentProcessed)-->
ready (joins the next round and every round after) | rejected (why). A
failed attempt stays processing and is asked again under a new key.

Rounds: a round starts at a block height and ends when the feed reports
`start + blocks_per_round`, or at its fallback deadline; at its end its
views stop, its pool is paid by engagement (`pool:<round>`) and the next
round starts at once.

Money (base units; `economics` has the rules), with the invariant the tests
check: escrow in == direct paid + pool paid + trade proceeds + fees +
refunds + withdrawals + what the escrow still owes (balances + unsettled shares + the
current pool + payments awaiting their purpose); charged == direct + pooled.
"""

from __future__ import annotations

from attrs import define, field

from arena.engine import inputs as I
from arena.engine.errors import (
    BAD_REQUEST, INSUFFICIENT_FUNDS, NOT_ALLOWED, NOT_FOUND, WRONG_STATE,
)
from arena.engine.mode import Bucket, Mode, Page
from arena.engine.outputs import FetchFeed, Settle, Transfer
from arena.engine.snapshot import register as snapshot_class

from . import economics, records, requests
from .messages import (
    NAME, ContentProcessed, MarketList, MarketUnlist, MemePaid, MemeRead, MemeUpload, ProcessContent,
    ViewBeat, ViewStart, ViewStop, ViewWithdraw, content_id, direct_key, feed_key, pool_key, process_key,
    refund_key, round_id, trade_key, withdraw_key,
)
from .settings import MemeConfig

METER_MS = 1_000
MAX_AUDIENCE = 100_000
STOP_REASONS = ("stopped", "no_beat", "disconnected", "no_balance", "round_ended")


@snapshot_class
@define
class MemeContent:
    id: str
    title: str
    media_url: str
    media_type: str
    size: int
    uploader: str
    owner: str
    created_at_ms: int
    state: str = "pending"
    reason: str = ""
    caption: str = ""
    tags: list = field(factory=list)
    quality: int = 0
    engine: str = ""
    round: str = ""  # the latest round it was in
    attempt: int = 0
    retry_at_ms: int = -1  # a failed attempt is asked again at this time
    price: int = -1  # listed for sale at this price; -1 = not listed
    seconds: int = 0  # view-seconds over all rounds


@snapshot_class
@define
class MemeView:
    wallet: str
    content: str
    round: str
    started_tick: int
    last_beat_tick: int
    # Copied when the view starts: a view keeps its terms.
    rate: int
    direct_bps: int
    seconds: int = 0
    charged: int = 0


@snapshot_class
@define
class MemeRound:
    id: str
    no: int
    start_height: int
    end_height: int
    started_at_ms: int
    fallback_at_ms: int
    content: list = field(factory=list)
    pool: int = 0
    seconds: dict = field(factory=dict)  # content id -> view-seconds in this round


@snapshot_class
@define
class MemeHall:
    """The hall's match: its timer, and what `match.list` shows."""

    id: str
    mode: str = NAME
    wake_at: int = -1
    created_tick: int = 0


@snapshot_class
@define
class MemeShared:
    hall: str = ""
    created_at_ms: int = 0
    # The chain, as the feed tells it.
    height: int = -1
    fetch_no: int = 0
    fetching: str = ""
    next_fetch_ms: int = 0
    round: MemeRound | None = None
    round_no: int = 0
    last_round: dict | None = None  # round:ended of the latest round
    contents: dict = field(factory=dict)  # id -> MemeContent, oldest first
    content_no: int = 0
    rotation: list = field(factory=list)  # ready content ids, oldest first
    retrying: dict = field(factory=dict)  # content id -> None (a failed attempt waits)
    balances: dict = field(factory=dict)  # wallet -> viewing balance
    views: dict = field(factory=dict)  # wallet -> MemeView (one running view per wallet)
    next_meter_tick: int = 0  # the once-a-second housekeeping
    slots: list = field(factory=list)  # tick % tick_hz -> {wallet: None}: views metered on that tick
    owed: dict = field(factory=dict)  # owner -> direct shares not yet settled
    batch: int = 0
    settled_at_tick: int = 0
    flush_due: bool = False
    # Payments: every id counted, money waiting for its purpose
    # (pid -> [wallet, amount, refund at ms]) and purposes waiting for their
    # money (pid -> [wallet, amount, purpose, content]).
    payments: dict = field(factory=dict)
    unassigned: dict = field(factory=dict)
    purposes: dict = field(factory=dict)
    audience: dict = field(factory=dict)  # wallets told of rounds and trades
    operators: dict = field(factory=dict)  # wallets told of content states
    # Money accounting (base units).
    escrow_in: int = 0
    deposited: int = 0
    charged: int = 0
    direct: int = 0  # direct shares accrued (settled + owed)
    direct_paid: int = 0
    pooled: int = 0  # pool shares accrued (paid + the current pool)
    pool_paid: int = 0
    trade_paid: int = 0
    fees: int = 0
    refunded: int = 0
    withdrawn: int = 0
    withdrawals: int = 0


class MemeMode(Mode):
    name = NAME
    settings = MemeConfig
    inputs = (MemeUpload, MemeRead, ViewStart, ViewBeat, ViewStop, ViewWithdraw, MarketList, MarketUnlist,
              MemePaid, ContentProcessed)
    routed_inputs = (MemeUpload, MemeRead, ViewStart, ViewBeat, ViewStop, ViewWithdraw, MarketList, MarketUnlist,
                     ContentProcessed)
    effects = {ProcessContent: "meme-review"}
    # The review worker does I/O (the media port, the AI port): named, never imported.
    side_tasks = {"meme-review": "arena.ai.content:make_reviewer"}
    result_keys = {ContentProcessed: lambda inp: inp.key}
    requests = requests.REQUESTS
    boards = records.BOARDS
    page = Page("Meme rounds", description="Watch memes by the second, share the round's pool, buy and sell ownership.")
    quiet_events = frozenset({"view:charged"})
    buckets = {"views": Bucket(per_s=10, burst=20)}
    simulation = "arena.sim.meme"

    def setup(self, config):
        return MemeShared()

    # --- routing ------------------------------------------------------------------
    def route(self, ctx, inp) -> None:
        sh: MemeShared = ctx.state.modes[NAME]
        if isinstance(inp, I.PlayerDisconnected):
            view = sh.views.get(inp.wallet)
            if view is not None:
                self._end_view(ctx, sh, view, ctx.tick, "disconnected")
            return
        if isinstance(inp, ContentProcessed):
            self._processed(ctx, sh, inp)
            return
        if not isinstance(inp, I.ClientInput):
            return
        self._hall(ctx, sh)
        if len(sh.audience) < MAX_AUDIENCE:
            sh.audience.setdefault(inp.wallet, None)
        if isinstance(inp, ViewBeat):
            self._beat(ctx, sh, inp)
        elif isinstance(inp, ViewStart):
            self._start_view(ctx, sh, inp)
        elif isinstance(inp, ViewStop):
            self._stop_view(ctx, sh, inp)
        elif isinstance(inp, ViewWithdraw):
            self._withdraw(ctx, sh, inp)
        elif isinstance(inp, MemeRead):
            self._read(ctx, sh, inp)
        elif isinstance(inp, MemeUpload):
            self._upload(ctx, sh, inp)
        elif isinstance(inp, MarketList):
            self._list(ctx, sh, inp)
        elif isinstance(inp, MarketUnlist):
            self._unlist(ctx, sh, inp)

    def input(self, ctx, m: MemeHall, inp) -> None:
        sh: MemeShared = ctx.state.modes[NAME]
        if isinstance(inp, I.EntryFeePaid):
            self._money(ctx, sh, inp)
        elif isinstance(inp, MemePaid):
            self._purpose(ctx, sh, inp)
        elif isinstance(inp, I.FeedResult):
            self._height(ctx, sh, inp)
        elif isinstance(inp, I.MatchWatch):
            sh.audience.setdefault(inp.wallet, None)
            ctx.reply(inp, {})
            ctx.emit((inp.wallet,), "match.snapshot", {"match": m.id, "tick": ctx.tick, "state": round_view(sh)})

    def _hall(self, ctx, sh: MemeShared) -> MemeHall:
        """The hall match, made on the first meme request of a world."""
        m = ctx.state.matches.get(sh.hall) if sh.hall else None
        if m is None:
            sh.hall = ctx.new_match_id(NAME)
            sh.created_at_ms = ctx.now_ms
            m = MemeHall(sh.hall, created_tick=ctx.tick)
            ctx.state.matches[sh.hall] = m
            sh.next_meter_tick = ctx.tick
            sh.settled_at_tick = ctx.tick
            sh.slots = [{} for _ in range(ctx.config.tick_hz)]
            ctx.wake(m, ctx.tick)
        return m

    # --- the meter ----------------------------------------------------------------------
    def tick(self, ctx, m: MemeHall) -> None:
        sh: MemeShared = ctx.state.modes[NAME]
        cfg: MemeConfig = ctx.settings(NAME)
        now = ctx.now_ms
        if sh.views:
            self._meter_slot(ctx, sh, cfg, sh.slots[ctx.tick % len(sh.slots)])
        if ctx.tick >= sh.next_meter_tick:
            sh.next_meter_tick = ctx.tick + ctx.ticks(METER_MS)
            self._retry_processing(ctx, sh, now)
            self._refund_strays(ctx, sh, now)
            r = sh.round
            if r is not None and now >= r.fallback_at_ms:
                self._end_round(ctx, sh)
                self._start_round(ctx, sh, sh.height, "fallback")
            if not sh.fetching and now >= sh.next_fetch_ms:
                self._fetch(ctx, sh, cfg)
        if sh.flush_due or ctx.tick - sh.settled_at_tick >= ctx.ticks(cfg.settle_every_s * 1000):
            self._flush(ctx, sh)
        ctx.wake(m, ctx.tick + 1 if sh.views else sh.next_meter_tick)

    def _meter_slot(self, ctx, sh: MemeShared, cfg: MemeConfig, slot: dict) -> None:
        """Meter the views of one slot: each is here once a second."""
        timeout = ctx.ticks(cfg.beat_timeout_ms)
        for wallet in list(slot):
            view = sh.views[wallet]
            deadline = view.last_beat_tick + timeout
            if ctx.tick > deadline:
                self._end_view(ctx, sh, view, deadline, "no_beat")
                continue
            n, out = self._meter(ctx, sh, view, ctx.tick)
            if n:
                ctx.emit((view.wallet,), "view:charged", {"content": view.content, "seconds": view.seconds,
                                                           "amount": view.charged,
                                                           "balance": sh.balances.get(view.wallet, 0)})
            if out:
                self._end_view(ctx, sh, view, ctx.tick, "no_balance")

    def _meter(self, ctx, sh: MemeShared, view: MemeView, until_tick: int) -> tuple[int, bool]:
        """Charge `view` its whole seconds up to `until_tick` not charged yet,
        as far as its balance goes. (seconds charged now, balance exhausted)."""
        due = (until_tick - view.started_tick) // ctx.config.tick_hz - view.seconds
        balance = sh.balances.get(view.wallet, 0)
        n = max(0, min(due, balance // view.rate))
        if n:
            amount = n * view.rate
            direct, pool = economics.second_split(view.charged, amount, view.direct_bps)
            owner = sh.contents[view.content].owner
            if direct:
                sh.owed[owner] = sh.owed.get(owner, 0) + direct
            sh.round.pool += pool
            sh.round.seconds[view.content] = sh.round.seconds.get(view.content, 0) + n
            sh.contents[view.content].seconds += n
            sh.balances[view.wallet] = balance - amount
            view.seconds += n
            view.charged += amount
            sh.charged += amount
            sh.direct += direct
            sh.pooled += pool
        return n, balance - n * view.rate < view.rate

    def _end_view(self, ctx, sh: MemeShared, view: MemeView, until_tick: int, reason: str) -> None:
        self._meter(ctx, sh, view, max(until_tick, view.started_tick))
        del sh.views[view.wallet]
        sh.slots[view.started_tick % len(sh.slots)].pop(view.wallet, None)
        sh.flush_due = True
        ctx.emit((view.wallet,), "view:stopped", {"content": view.content, "reason": reason})
        self._wake_soon(ctx, sh)  # settle within a tick (batched with every view ending in this one)

    def _wake_soon(self, ctx, sh: MemeShared) -> None:
        m = ctx.state.matches.get(sh.hall)
        if m is not None and not 0 <= m.wake_at <= ctx.tick + 1:
            ctx.wake(m, ctx.tick + 1)

    def _flush(self, ctx, sh: MemeShared) -> None:
        """One settlement of every owner's direct shares owed now."""
        owed = {o: a for o, a in sorted(sh.owed.items()) if a > 0}
        sh.owed.clear()
        sh.flush_due = False
        sh.settled_at_tick = ctx.tick
        if not owed:
            return
        sh.batch += 1
        escrow = f"escrow:{sh.hall}"
        sh.direct_paid += sum(owed.values())
        ctx.effect(Settle(direct_key(sh.hall, sh.batch), sh.hall,
                          tuple(Transfer(escrow, o, a) for o, a in owed.items()), "meme_direct"))

    # --- views ------------------------------------------------------------------------
    def _start_view(self, ctx, sh: MemeShared, inp: ViewStart) -> None:
        cfg: MemeConfig = ctx.settings(NAME)
        c = self._content(ctx, sh, inp, inp.content)
        if c is None:
            return
        r = sh.round
        if r is None or c.id not in r.content:
            ctx.error(inp, WRONG_STATE, f"{c.id} is not in the current round (it is {c.state})")
            return
        old = sh.views.get(inp.wallet)
        if old is not None and old.content == c.id:
            ctx.reply(inp, {"rate_per_s": old.rate, "balance": sh.balances.get(inp.wallet, 0)})
            return
        balance = sh.balances.get(inp.wallet, 0)
        if balance < cfg.rate_per_s:
            ctx.error(inp, INSUFFICIENT_FUNDS, f"viewing costs {cfg.rate_per_s} per second and your viewing "
                                               f"balance is {balance}: deposit first (view.deposit.build)")
            return
        if old is not None:
            self._end_view(ctx, sh, old, ctx.tick, "stopped")
            balance = sh.balances.get(inp.wallet, 0)
            if balance < cfg.rate_per_s:
                ctx.error(inp, INSUFFICIENT_FUNDS, f"your viewing balance is {balance}")
                return
        sh.views[inp.wallet] = MemeView(inp.wallet, c.id, r.id, ctx.tick, ctx.tick, cfg.rate_per_s, cfg.direct_bps)
        sh.slots[ctx.tick % len(sh.slots)][inp.wallet] = None
        self._wake_soon(ctx, sh)
        ctx.reply(inp, {"rate_per_s": cfg.rate_per_s, "balance": balance})

    def _beat(self, ctx, sh: MemeShared, inp: ViewBeat) -> None:
        view = sh.views.get(inp.wallet)
        if view is None or view.content != inp.content:
            ctx.error(inp, WRONG_STATE, f"you are not watching {inp.content[:64]!r}")
            return
        view.last_beat_tick = ctx.tick
        ctx.reply(inp, {})

    def _stop_view(self, ctx, sh: MemeShared, inp: ViewStop) -> None:
        view = sh.views.get(inp.wallet)
        if view is None:
            ctx.error(inp, WRONG_STATE, "you are not watching anything")
            return
        self._end_view(ctx, sh, view, ctx.tick, "stopped")
        ctx.reply(inp, {"seconds": view.seconds, "charged": view.charged})

    def _withdraw(self, ctx, sh: MemeShared, inp: ViewWithdraw) -> None:
        if inp.wallet in sh.views:
            ctx.error(inp, WRONG_STATE, "stop watching first (view.stop)")
            return
        amount = sh.balances.pop(inp.wallet, 0)
        if amount:
            sh.withdrawals += 1
            sh.withdrawn += amount
            ctx.effect(Settle(withdraw_key(sh.hall, sh.withdrawals), sh.hall,
                              (Transfer(f"escrow:{sh.hall}", inp.wallet, amount),), "meme_withdraw"))
        ctx.reply(inp, {"amount": amount})

    # --- rounds -------------------------------------------------------------------------
    def _fetch(self, ctx, sh: MemeShared, cfg: MemeConfig) -> None:
        sh.fetch_no += 1
        sh.fetching = feed_key(sh.hall, sh.fetch_no)
        sh.next_fetch_ms = ctx.now_ms + cfg.block_poll_ms
        ctx.effect(FetchFeed(sh.fetching, NAME, sh.hall, cfg.block_feed,
                              (("chain", "bsv"), ("block_ms", cfg.simulated_block_ms))))

    def _height(self, ctx, sh: MemeShared, inp: I.FeedResult) -> None:
        if inp.key != sh.fetching:
            return  # an earlier fetch's late answer
        sh.fetching = ""
        value = inp.value
        if inp.status != I.FEED_OK or not isinstance(value, int) or isinstance(value, bool) \
                or not 0 <= value < 2**62:
            return  # asked again at the next poll
        if value <= sh.height:
            return  # no new block (or a source behind the others)
        sh.height = value
        r = sh.round
        if r is None:
            self._start_round(ctx, sh, value, "block")
        elif value >= r.end_height:
            self._end_round(ctx, sh)
            self._start_round(ctx, sh, value, "block")

    def _start_round(self, ctx, sh: MemeShared, height: int, why: str) -> None:
        cfg: MemeConfig = ctx.settings(NAME)
        sh.round_no += 1
        rid = round_id(sh.hall, sh.round_no)
        content = sh.rotation[-cfg.round_content_max:]
        for cid in content:
            sh.contents[cid].round = rid
        sh.round = MemeRound(rid, sh.round_no, height, height + cfg.blocks_per_round, ctx.now_ms,
                             ctx.now_ms + cfg.round_fallback_ms, list(content))
        ctx.emit(sh.audience, "round:start", {"round": rid, "height": height, "content": list(content),
                                              "end_height": height + cfg.blocks_per_round, "opened_by": why})

    def _end_round(self, ctx, sh: MemeShared) -> None:
        r = sh.round
        for view in list(sh.views.values()):
            if view.round == r.id:
                self._end_view(ctx, sh, view, ctx.tick, "round_ended")
        by_owner: dict[str, int] = {}
        for cid, seconds in r.seconds.items():
            owner = sh.contents[cid].owner
            by_owner[owner] = by_owner.get(owner, 0) + seconds
        shares, _top = economics.pool_shares(r.pool, by_owner)
        rewards = [{"wallet": w, "amount": a} for w, a in sorted(shares.items()) if a > 0]
        if rewards:
            escrow = f"escrow:{sh.hall}"
            ctx.effect(Settle(pool_key(r.id), sh.hall, tuple(Transfer(escrow, x["wallet"], x["amount"])
                                                              for x in rewards), "meme_pool"))
        sh.pool_paid += r.pool
        sh.last_round = {"round": r.id, "pool": r.pool, "rewards": rewards,
                         "seconds": {c: s for c, s in sorted(r.seconds.items())}}
        sh.round = None
        self._flush(ctx, sh)
        ctx.emit(sh.audience, "round:ended", {"round": r.id, "pool": r.pool, "rewards": rewards})

    # --- content ------------------------------------------------------------------------
    def _content(self, ctx, sh: MemeShared, inp, cid: str) -> MemeContent | None:
        c = sh.contents.get(cid)
        if c is None:
            ctx.error(inp, NOT_FOUND, f"no content {cid[:64]!r}")
        return c

    def _upload(self, ctx, sh: MemeShared, inp: MemeUpload) -> None:
        if not inp.media_url:
            ctx.error(inp, BAD_REQUEST, "media was not stored")
            return
        sh.content_no += 1
        cid = content_id(sh.hall, sh.content_no)
        sh.operators.setdefault(inp.wallet, None)
        c = MemeContent(cid, inp.title, inp.media_url, inp.media_type, inp.size, inp.wallet,
                        inp.owner or inp.wallet, ctx.now_ms)
        sh.contents[cid] = c
        ctx.reply(inp, {"content": cid, "state": "pending"})
        self._tell_state(ctx, sh, c)
        self._process(ctx, sh, c)

    def _process(self, ctx, sh: MemeShared, c: MemeContent) -> None:
        c.attempt += 1
        c.retry_at_ms = -1
        sh.retrying.pop(c.id, None)
        if c.state != "processing":
            c.state = "processing"
            self._tell_state(ctx, sh, c)
        ctx.effect(ProcessContent(process_key(c.id, c.attempt), c.id, c.media_url, c.media_type, c.title))

    def _retry_processing(self, ctx, sh: MemeShared, now: int) -> None:
        for cid in list(sh.retrying):
            c = sh.contents[cid]
            if now >= c.retry_at_ms:
                self._process(ctx, sh, c)

    def _processed(self, ctx, sh: MemeShared, inp: ContentProcessed) -> None:
        c = sh.contents.get(inp.content)
        if c is None or c.state != "processing" or inp.key != process_key(c.id, c.attempt) or c.retry_at_ms >= 0:
            return  # a repeat, or an answer to an earlier attempt
        cfg: MemeConfig = ctx.settings(NAME)
        if not inp.ok:
            c.reason = f"processing failed (attempt {c.attempt}): {inp.reason}"[:300]
            c.retry_at_ms = ctx.now_ms + cfg.process_retry_ms
            sh.retrying[c.id] = None
            return
        c.caption = inp.caption[:300]
        c.tags = [t for t in inp.tags if isinstance(t, str)][:16]
        c.quality = inp.quality if isinstance(inp.quality, int) and 0 <= inp.quality <= 100 else 0
        c.engine = inp.engine[:32]
        if inp.flagged:
            c.state, c.reason = "rejected", f"flagged by moderation: {inp.reason}"[:300]
        elif c.quality < cfg.quality_min:
            c.state, c.reason = "rejected", f"quality {c.quality} is below the threshold {cfg.quality_min}"
        else:
            c.state, c.reason = "ready", ""
            sh.rotation.append(c.id)
        self._tell_state(ctx, sh, c)

    def _tell_state(self, ctx, sh: MemeShared, c: MemeContent) -> None:
        ctx.emit(sh.operators, "content:state", {"content": c.id, "state": c.state, "reason": c.reason or None})

    # --- money in ---------------------------------------------------------------------
    def _money(self, ctx, sh: MemeShared, inp: I.EntryFeePaid) -> None:
        if inp.payment_id in sh.payments:
            return  # reported twice
        sh.payments[inp.payment_id] = None
        sh.escrow_in += inp.amount
        purpose = sh.purposes.pop(inp.payment_id, None)
        if purpose is None:
            wait = ctx.settings(NAME).purpose_wait_ms
            sh.unassigned[inp.payment_id] = [inp.wallet, inp.amount, ctx.now_ms + wait]
            return
        self._apply_payment(ctx, sh, inp.wallet, inp.amount, inp.payment_id, purpose[2], purpose[3])

    def _purpose(self, ctx, sh: MemeShared, inp: MemePaid) -> None:
        money = sh.unassigned.pop(inp.payment_id, None)
        if money is not None:
            self._apply_payment(ctx, sh, money[0], money[1], inp.payment_id, inp.purpose, inp.content)
        elif inp.payment_id not in sh.payments:  # the money is on its way
            sh.purposes[inp.payment_id] = [inp.wallet, inp.amount, inp.purpose, inp.content]

    def _apply_payment(self, ctx, sh: MemeShared, wallet: str, amount: int, pid: str, purpose: str,
                       cid: str) -> None:
        cfg: MemeConfig = ctx.settings(NAME)
        if purpose == "deposit" and requests.deposit_error(cfg, amount) is None:
            sh.balances[wallet] = sh.balances.get(wallet, 0) + amount
            sh.deposited += amount
            ctx.emit((wallet,), "view:deposited", {"amount": amount, "balance": sh.balances[wallet]})
            return
        c = sh.contents.get(cid)
        if purpose == "buy" and c is not None and c.price == amount and c.state == "ready" and c.owner != wallet:
            seller = c.owner
            proceeds, fee = economics.trade_money(amount, cfg.market_fee_bps)
            escrow = f"escrow:{sh.hall}"
            paid = ((seller, proceeds), (cfg.fee_account, fee))  # a fee of 0 (a price under 50) moves nothing
            ctx.effect(Settle(trade_key(pid), sh.hall, tuple(Transfer(escrow, to, a) for to, a in paid if a > 0),
                              "meme_trade"))
            sh.trade_paid += proceeds
            sh.fees += fee
            c.owner, c.price = wallet, -1
            ctx.emit(sh.audience, "market:traded", {"content": c.id, "from": seller, "to": wallet,
                                                    "price": amount, "fee": fee})
            ctx.emit(sh.audience, "ownership:changed", {"content": c.id, "owner": wallet})
            return
        self._refund(ctx, sh, wallet, amount, pid, "no longer for sale at that price" if purpose == "buy"
                     else "not a deposit this server takes")

    def _refund(self, ctx, sh: MemeShared, wallet: str, amount: int, pid: str, why: str) -> None:
        sh.refunded += amount
        ctx.effect(Settle(refund_key(sh.hall, pid), sh.hall, (Transfer(f"escrow:{sh.hall}", wallet, amount),),
                          "meme_refund"))
        ctx.emit((wallet,), "meme:refunded", {"payment": pid, "amount": amount, "reason": why})

    def _refund_strays(self, ctx, sh: MemeShared, now: int) -> None:
        for pid, (wallet, amount, at_ms) in list(sh.unassigned.items()):
            if now >= at_ms:
                del sh.unassigned[pid]
                self._refund(ctx, sh, wallet, amount, pid, "the payment's purpose never arrived")

    # --- market -------------------------------------------------------------------------
    def _list(self, ctx, sh: MemeShared, inp: MarketList) -> None:
        cfg: MemeConfig = ctx.settings(NAME)
        c = self._content(ctx, sh, inp, inp.content)
        if c is None:
            return
        if c.owner != inp.wallet:
            ctx.error(inp, NOT_ALLOWED, f"you do not own {c.id}")
        elif c.state != "ready":
            ctx.error(inp, WRONG_STATE, f"{c.id} is {c.state}: only ready content is traded")
        elif requests.price_error(cfg, inp.price):
            ctx.error(inp, BAD_REQUEST, requests.price_error(cfg, inp.price))
        else:
            c.price = inp.price
            ctx.reply(inp, {})
            ctx.emit(sh.audience, "market:listed", {"content": c.id, "owner": c.owner, "price": c.price})

    def _unlist(self, ctx, sh: MemeShared, inp: MarketUnlist) -> None:
        c = self._content(ctx, sh, inp, inp.content)
        if c is None:
            return
        if c.owner != inp.wallet:
            ctx.error(inp, NOT_ALLOWED, f"you do not own {c.id}")
        elif c.price < 0:
            ctx.error(inp, WRONG_STATE, f"{c.id} is not listed")
        else:
            c.price = -1
            ctx.reply(inp, {})

    # --- reads --------------------------------------------------------------------------
    def _read(self, ctx, sh: MemeShared, inp: MemeRead) -> None:
        if inp.what == "content":
            c = self._content(ctx, sh, inp, inp.content)
            if c is not None:
                ctx.reply(inp, content_view(c))
        elif sh.round is None:
            ctx.error(inp, WRONG_STATE, "no round is open yet: the first starts at the chain's next height")
        else:
            ctx.reply(inp, round_view(sh))

    def snapshot(self, ctx, m, wallet: str) -> dict:
        return round_view(ctx.state.modes[NAME])

    def summary(self, state, m) -> dict:
        sh: MemeShared = state.modes[NAME]
        return {"phase": "round" if sh.round is not None else "waiting", "players": [],
                "watchers": len(sh.views), "started_at_ms": sh.created_at_ms}

    def waiting_wallets(self, shared) -> list[str]:
        """Viewers whose view was running when the server stopped: told they
        are gone after a restart, so their views stop (`disconnected`)."""
        return list(shared.views) if shared is not None else []

    def standing(self, shared) -> dict:
        """The hall never ends; its escrow holds what it still owes."""
        if shared is None or not shared.hall:
            return {}
        return {shared.hall: escrow_owed(shared)}

    def records(self, state, tick: int, messages) -> list:
        return records.from_events(messages)


def escrow_owed(sh: MemeShared) -> int:
    """What the hall's escrow must hold now: viewing balances, owners' shares
    not yet settled, the current pool, payments waiting for their purpose."""
    return (sum(sh.balances.values()) + sum(sh.owed.values()) + (sh.round.pool if sh.round else 0)
            + sum(a for _w, a, _t in sh.unassigned.values()))


def content_view(c: MemeContent) -> dict:
    return {"content": c.id, "title": c.title, "state": c.state, "reason": c.reason or None,
            "owner": c.owner or None, "caption": c.caption, "tags": list(c.tags), "quality": c.quality,
            "round": c.round or None, "media_url": c.media_url, "media_type": c.media_type,
            "price": c.price if c.price >= 0 else None, "engine": c.engine or None, "view_seconds": c.seconds}


def round_view(sh: MemeShared) -> dict:
    r = sh.round
    if r is None:
        return {"round": None, "height": sh.height, "last": sh.last_round}
    return {"round": r.id, "start_height": r.start_height, "end_height": r.end_height, "content": list(r.content),
            "pool": r.pool, "height": sh.height}
