"""Roast battles (the RoastPush design) as an engine mode.

Life of a battle, in phases:

    entry ──both fees──► [waiting_prompt] ──► countdown ──► recording ──► scoring ──┐
      │                        ▲                                                   │
      └─deadline: cancelled    └──────────────── next round ◄──────────────────────┘
                                                         last round ──► ended

- Matchmaking is FIFO per tier: the first two wallets queued in a tier meet.
- `entry`: both players owe the tier's entry fee into the match's escrow by
  `entry_deadline_ms`; otherwise the battle is cancelled and every confirmed
  fee refunded in full. Prompts are asked for early so round 1 need not wait.
- Each round: `battle:round_start` with the prompt, a countdown, then a
  recording window of `time_limit_ms` that closes early once both players
  have submitted. Each submission is scored by the judge (an effect whose
  answer is a `RoastScored` input); a missing roast scores 0 at once.
  Both scores are revealed together.
- Winner: higher total score; if equal, more rounds won; if still equal, the
  higher best single-round score; if still equal the battle is a draw:
  no winner, no fee, each player's entry fee refunded in full.
- Payout: the winner gets the pool (both fees) less the platform fee
  (`platform_fee_bps`, floor). The fee is split between `fee:partner`
  (floor of `partner_share_bps`) and `fee:creator` (the rest, remainder
  included). All of it in one `Settle` effect keyed `payout:<match>`.
- Disconnects: a player whose last connection drops has
  `disconnect_grace_ms` to come back (`session.resume`); after that, once the
  rounds have begun, the other player wins by forfeit, unless the other
  player is disconnected too: then the battle is cancelled and both fees
  refunded.
"""

from __future__ import annotations

import unicodedata

from attrs import define, field

from arena.engine import inputs as I
from arena.engine import rng
from arena.engine.canonical import OMIT_IF_NONE
from arena.engine.errors import (
    BAD_REQUEST,
    DUPLICATE,
    NOT_ALLOWED,
    NOT_FOUND,
    WRONG_STATE,
    ArenaError,
)
from arena.engine.mode import Bucket, Mode, Page, RequestField
from arena.engine.money import bps_of
from arena.engine.outputs import Settle, Transfer
from arena.engine.snapshot import register

from . import messages as R
from .messages import GeneratePrompt, ScoreRoast, prompt_key, score_key
from .settings import TIERS, RoastConfig

ENTRY = "entry"
WAITING_PROMPT = "waiting_prompt"
COUNTDOWN = "countdown"
RECORDING = "recording"
SCORING = "scoring"
ENDED = "ended"

DIMENSIONS = ("savagery", "creativity", "delivery", "relevance")
MAX_DISTINCT_REACTIONS = 64
MAX_EMOJI_CHARS = 16


@register
@define
class RoastQueues:
    # tier -> wallets waiting, oldest first (dict used as an ordered set)
    queues: dict = field(factory=lambda: {t: {} for t in TIERS})
    # wallet -> tier, for the wallets in any queue
    queued: dict = field(factory=dict)
    # wallet -> match id of the battle the wallet plays in (not watches)
    playing: dict = field(factory=dict)
    # The [roast] settings battles were created under, by number (a battle
    # keeps its number: `RoastMatch.terms`). One entry per settings change,
    # so a snapshot holds each set once. None until the first battle
    # (and in states from before battles kept their terms).
    terms: dict | None = field(default=None, metadata={OMIT_IF_NONE: True})

    def terms_number(self, cfg: RoastConfig) -> int:
        """The number of settings `cfg`, registered if new."""
        if self.terms is None:
            self.terms = {}
        for n in sorted(self.terms, reverse=True):  # the newest matches almost always
            if self.terms[n] == cfg:
                return n
        n = len(self.terms) + 1
        self.terms[n] = cfg
        return n


@register
@define
class RoastMatch:
    id: str
    tier: str
    players: list
    entry_fee: int
    created_tick: int
    mode: str = "roast"
    phase: str = ENTRY
    deadline: int = 0  # tick at which the current phase times out
    wake_at: int = -1
    paid: dict = field(factory=dict)  # wallet -> payment id
    round: int = 0
    prompts: dict = field(factory=dict)  # round (int) -> prompt
    prompts_requested: int = 0
    submissions: dict = field(factory=dict)  # wallet -> {"text", "audio_url", "at_ms"}
    scores: dict = field(factory=dict)  # wallet -> score map, current round
    totals: dict = field(factory=dict)  # wallet -> total score
    rounds_won: dict = field(factory=dict)
    best_round: dict = field(factory=dict)
    gone_until: dict = field(factory=dict)  # wallet -> tick its grace runs out
    watchers: dict = field(factory=dict)  # wallet -> None (ordered set)
    reactions: dict = field(factory=dict)  # emoji -> count
    # The number of the [roast] settings the battle was created under
    # (`RoastQueues.terms`): it keeps them when the operator changes them
    # (`RoastSettingsChanged`). None only in a battle restored from a
    # snapshot older than this field: it plays under the current settings.
    terms: int | None = field(default=None, metadata={OMIT_IF_NONE: True})


# Unicode categories an emoji reaction may use: symbols (emoji are mostly
# "So"; skin tones "Sk"), combining marks (variation selectors), format
# characters (zero-width joiner) and punctuation. No letters, digits, spaces
# or controls, so a reaction cannot carry a message.
_EMOJI_CATEGORIES = frozenset({"So", "Sk", "Sm", "Sc", "Mn", "Me", "Cf", "Po"})
_EMOJI_SEEN: dict[str, bool] = {}


def _valid_emoji(emoji: str) -> bool:
    ok = _EMOJI_SEEN.get(emoji)
    if ok is None:
        ok = _check_emoji(emoji)
        if len(_EMOJI_SEEN) < 4096:  # the few emoji in use; a pure function, so caching is safe
            _EMOJI_SEEN[emoji] = ok
    return ok


def _check_emoji(emoji: str) -> bool:
    if not 1 <= len(emoji) <= MAX_EMOJI_CHARS:
        return False
    return all(unicodedata.category(ch) in _EMOJI_CATEGORIES for ch in emoji)


def match_terms(state, m: RoastMatch) -> RoastConfig:
    """The settings battle `m` plays under (its own, kept from its creation)."""
    if m.terms is None:
        return state.config.modes[m.mode]
    return state.modes[m.mode].terms[m.terms]


class RoastMode(Mode):
    simulation = "arena.sim.roast"
    # web/: the lobby of live battles, watching one, reactions and tips
    page = Page("Roast battles", description="The lobby of live battles: watch one round by round, react and tip.")
    name = "roast"
    settings = RoastConfig
    inputs = R.INPUTS
    effects = {GeneratePrompt: "judge", ScoreRoast: "judge"}
    result_keys = R.RESULT_KEYS
    queue_fields = (RequestField("tier", str, max_len=32),)
    buckets = {"reactions": Bucket(per_s=20, burst=20)}
    moved_keys = {("net", "reactions_per_s"): "reactions_per_s", ("net", "reaction_burst"): "reactions_burst"}
    routed_inputs = (I.QueueLeave, R.RoastSettingsChanged)
    quiet_events = frozenset({"reaction:sent", "battle:roast_submitted"})

    @property
    def tables(self):
        from .tables import TABLES

        return TABLES

    @property
    def requests(self):
        from .requests import REQUESTS

        return REQUESTS

    def records(self, state, tick, messages) -> list:
        from .records import from_events

        def round_of(mid):
            m = state.matches.get(mid)
            return m.round if m is not None else 0

        def is_battle(mid):
            m = state.matches.get(mid)
            return m is not None and m.mode == self.name

        return from_events(tick, messages, round_of, is_battle)

    @property
    def boards(self):
        from .records import BOARDS

        return BOARDS

    def history_result(self, result: dict, rows: list[dict]) -> dict:
        from .records import history_result

        return history_result(result, rows)

    def summary(self, state, m: RoastMatch) -> dict:
        """`match.list`'s view of a battle: the common fields, plus its tier and round."""
        from arena.engine.clock import now_ms

        return {"phase": m.phase, "players": list(m.players), "watchers": len(m.watchers),
                "started_at_ms": now_ms(state, m.created_tick), "tier": m.tier, "round": m.round}

    def mirror_queues(self, shared) -> dict:
        return {tier: tuple(waiting) for tier, waiting in shared.queues.items()}

    def winner_of(self, event):
        return event.body.get("winnerId") if event.type == "battle:ended" else None

    def waiting_wallets(self, shared) -> list[str]:
        return list(shared.queued)

    def setup(self, config):
        return RoastQueues()

    def shared_queue(self, state, wallet: str, body: dict) -> str | None:
        """Shared matchmaking: one queue per tier, checked as `_queue_join` does."""
        tier = body.get("tier", "")
        if tier not in state.config.modes[self.name].tiers:
            raise ArenaError(BAD_REQUEST, f"tier must be one of {', '.join(TIERS)}")
        q: RoastQueues = state.modes[self.name]
        if wallet in q.playing:
            raise ArenaError(WRONG_STATE, f"already in battle {q.playing[wallet]}")
        return tier

    # --- matchmaking ----------------------------------------------------------
    def route(self, ctx, inp) -> None:
        q: RoastQueues = ctx.state.modes[self.name]
        if isinstance(inp, I.QueueJoin):
            self._queue_join(ctx, q, inp)
        elif isinstance(inp, I.QueueLeave):
            self._dequeue(q, inp.wallet)
            ctx.reply(inp, {"queued": False})
        elif isinstance(inp, I.PlayerDisconnected):
            # A wallet with no connection cannot play the battle it would be
            # matched into, so it leaves the queue.
            self._dequeue(q, inp.wallet)
        elif isinstance(inp, I.MatchPaired):
            self._paired(ctx, q, inp)
        elif isinstance(inp, R.RoastSettingsChanged):  # journals from before SettingsChanged
            ctx.change_settings(self.name, inp.settings)

    def _paired(self, ctx, q: RoastQueues, inp: I.MatchPaired) -> None:
        """Two wallets the shared queue of tier `inp.queue` paired: their battle,
        here, unless this world cannot hold it (a tier it does not run, a
        player already in a battle here), when both are told `queue.dropped`
        and may queue again."""
        players = list(inp.players)
        busy = [p for p in players if p in q.playing]
        if (inp.queue not in ctx.settings(self.name).tiers or len(players) != 2
                or len(set(players)) != 2 or busy):
            ctx.emit(tuple(dict.fromkeys(players)), "queue.dropped",
                     {"mode": self.name, "tier": inp.queue,
                      "reason": "already in a battle" if busy else "not a pair this server can hold"})
            return
        for p in players:
            self._dequeue(q, p)
        self._create(ctx, q, inp.queue, players)

    def _queue_join(self, ctx, q: RoastQueues, inp: I.QueueJoin) -> None:
        cfg = ctx.settings(self.name)
        if inp.tier not in cfg.tiers:
            ctx.error(inp, BAD_REQUEST, f"tier must be one of {', '.join(TIERS)}")
            return
        if inp.wallet in q.playing:
            ctx.error(inp, WRONG_STATE, f"already in battle {q.playing[inp.wallet]}")
            return
        if inp.wallet in q.queued:
            ctx.error(inp, DUPLICATE, f"already queued in {q.queued[inp.wallet]}")
            return
        waiting = q.queues[inp.tier]
        waiting[inp.wallet] = None
        q.queued[inp.wallet] = inp.tier
        ctx.reply(inp, {"queued": True})
        if len(waiting) >= 2:
            it = iter(waiting)
            p1, p2 = next(it), next(it)
            self._dequeue(q, p1)
            self._dequeue(q, p2)
            self._create(ctx, q, inp.tier, [p1, p2])

    @staticmethod
    def _dequeue(q: RoastQueues, wallet: str) -> None:
        tier = q.queued.pop(wallet, None)
        if tier is not None:
            q.queues[tier].pop(wallet, None)

    def _create(self, ctx, q: RoastQueues, tier: str, players: list) -> None:
        cfg = ctx.settings(self.name)
        m = RoastMatch(
            id=ctx.new_match_id(self.name),
            tier=tier,
            players=players,
            entry_fee=cfg.tiers[tier],
            created_tick=ctx.tick,
            totals={p: 0 for p in players},
            rounds_won={p: 0 for p in players},
            best_round={p: 0 for p in players},
            terms=q.terms_number(cfg),
        )
        ctx.state.matches[m.id] = m
        for p in players:
            q.playing[p] = m.id
            ctx.bind(p, m.id, "player")
        m.deadline = ctx.tick + ctx.ticks(cfg.entry_deadline_ms)
        self._request_prompt(ctx, m, 1)
        for i, p in enumerate(players):
            ctx.emit(
                (p,),
                "match.found",
                {
                    "match": m.id,
                    "mode": self.name,
                    "tier": tier,
                    "players": list(players),
                    "opponent": players[1 - i],
                    "entry_fee": m.entry_fee,
                    "entry_deadline_ms": cfg.entry_deadline_ms,
                },
            )
        self._reschedule(ctx, m)

    # --- inputs naming a battle -----------------------------------------------
    def input(self, ctx, m: RoastMatch, inp) -> None:
        if inp.__class__ is R.ReactionSend:  # by far the most frequent input
            self._react(ctx, m, inp)
            return  # a reaction moves no deadline: nothing to reschedule
        if isinstance(inp, I.EntryFeePaid):
            self._entry_paid(ctx, m, inp)
        elif isinstance(inp, R.RoastSubmit):
            self._submit(ctx, m, inp)
        elif isinstance(inp, R.ReactionSend):
            self._react(ctx, m, inp)
            return  # a reaction moves no deadline: nothing to reschedule
        elif isinstance(inp, I.MatchWatch):
            self._watch(ctx, m, inp)
        elif isinstance(inp, R.PromptGenerated):
            self._prompt(ctx, m, inp)
        elif isinstance(inp, R.RoastScored):
            self._scored(ctx, m, inp)
        else:
            raise TypeError(f"roast mode got {type(inp).__name__}")
        if m.phase != ENDED:
            self._reschedule(ctx, m)

    def entry_quote(self, m: RoastMatch, wallet: str) -> int:
        if wallet not in m.players:
            raise ArenaError(NOT_ALLOWED, "only the battle's players pay its entry fee")
        if wallet in m.paid:
            raise ArenaError(DUPLICATE, "entry fee already confirmed")
        if m.phase != ENTRY:
            raise ArenaError(WRONG_STATE, f"battle is in phase {m.phase}, not taking entry fees")
        return m.entry_fee

    def _entry_paid(self, ctx, m: RoastMatch, inp: I.EntryFeePaid) -> None:
        if inp.amount <= 0 or inp.payment_id in m.paid.values():
            return  # nothing moved, or this payment was already counted
        accepted = (
            m.phase == ENTRY
            and inp.wallet in m.players
            and inp.wallet not in m.paid
            and inp.amount == m.entry_fee
        )
        if not accepted:
            ctx.effect(
                Settle(
                    key=f"refund:{inp.payment_id}",
                    match=m.id,
                    transfers=(Transfer(f"escrow:{m.id}", inp.wallet, inp.amount),),
                    reason="payment_not_accepted",
                )
            )
            return
        m.paid[inp.wallet] = inp.payment_id
        ctx.emit(m.players, "entry.confirmed", {"match": m.id, "player": inp.wallet})
        if len(m.paid) == len(m.players):
            m.round = 1
            m.phase = WAITING_PROMPT  # past entry: a lapsed grace now forfeits
            if self._forfeit_due(ctx, m):
                return
            self._begin_round(ctx, m)

    def _submit(self, ctx, m: RoastMatch, inp: R.RoastSubmit) -> None:
        if inp.wallet not in m.players:
            ctx.error(inp, NOT_ALLOWED, "only the battle's players submit roasts")
            return
        if m.phase != RECORDING or inp.round != m.round:
            ctx.error(inp, WRONG_STATE, f"round {inp.round} is not recording (battle: round {m.round}, {m.phase})")
            return
        if inp.wallet in m.submissions:
            ctx.error(inp, DUPLICATE, "roast already submitted this round")
            return
        max_chars = match_terms(ctx.state, m).max_text_chars
        if len(inp.text) > max_chars:
            ctx.error(inp, BAD_REQUEST, f"text longer than {max_chars} characters")
            return
        m.submissions[inp.wallet] = {"text": inp.text, "audio_url": inp.audio_url, "at_ms": inp.at_ms}
        ctx.reply(inp)
        ctx.emit(
            self._audience(m),
            "battle:roast_submitted",
            {"match": m.id, "playerId": inp.wallet, "audioUrl": inp.audio_url, "timestamp": inp.at_ms},
        )
        if len(m.submissions) == len(m.players):
            self._close_recording(ctx, m)

    def _react(self, ctx, m: RoastMatch, inp: R.ReactionSend) -> None:
        if inp.wallet not in m.players and inp.wallet not in m.watchers:
            ctx.error(inp, NOT_ALLOWED, "watch the battle (match.watch) before reacting")
            return
        ok = _EMOJI_SEEN.get(inp.emoji)  # `_valid_emoji`'s cache, read inline: once per reaction
        if not (ok if ok is not None else _valid_emoji(inp.emoji)):
            ctx.error(inp, BAD_REQUEST, "emoji must be 1-16 symbol characters (no letters, digits or spaces)")
            return
        if inp.emoji not in m.reactions and len(m.reactions) >= MAX_DISTINCT_REACTIONS:
            ctx.error(inp, NOT_ALLOWED, "too many distinct reactions in this battle")
            return
        count = m.reactions.get(inp.emoji, 0) + 1
        m.reactions[inp.emoji] = count
        ctx.reply(inp)
        ctx.emit(
            m.players if not m.watchers else self._audience(m),
            "reaction:sent",
            {"match": m.id, "emoji": inp.emoji, "senderId": inp.wallet, "count": count},
        )

    def _watch(self, ctx, m: RoastMatch, inp: I.MatchWatch) -> None:
        if inp.wallet not in m.players and inp.wallet not in m.watchers:
            watching = sum(1 for r in ctx.state.bindings.get(inp.wallet, {}).values() if r == "watcher")
            if watching >= ctx.settings(self.name).max_watch_per_wallet:
                ctx.error(inp, NOT_ALLOWED, "watching too many battles")
                return
            m.watchers[inp.wallet] = None
            ctx.bind(inp.wallet, m.id, "watcher")
        ctx.reply(inp)
        ctx.emit((inp.wallet,), "match.snapshot", {"match": m.id, "tick": ctx.tick, "state": self.snapshot(ctx, m, inp.wallet)})

    def _prompt(self, ctx, m: RoastMatch, inp: R.PromptGenerated) -> None:
        if inp.round in m.prompts or not 1 <= inp.round <= match_terms(ctx.state, m).rounds:
            return
        m.prompts[inp.round] = inp.prompt
        if m.phase == WAITING_PROMPT and inp.round == m.round:
            self._start_round(ctx, m)

    def _scored(self, ctx, m: RoastMatch, inp: R.RoastScored) -> None:
        if m.phase != SCORING or inp.round != m.round or inp.wallet not in m.players or inp.wallet in m.scores:
            return  # a late or repeated answer; the round has moved on
        # An input never stops the tick: a value that is not an integer (a
        # broken judge, an old journal) scores 0, and every value is 0..10.
        values = {d: min(10, max(0, v)) if type(v := getattr(inp, d)) is int else 0 for d in DIMENSIONS}
        commentary = inp.commentary if isinstance(inp.commentary, str) else ""
        self._record_score(m, inp.wallet, values, commentary, inp.judge if isinstance(inp.judge, str) else "")
        if len(m.scores) == len(m.players):
            self._reveal(ctx, m)

    # --- connection changes ---------------------------------------------------
    def leave(self, ctx, m: RoastMatch, wallet: str) -> None:
        if wallet in m.players:
            # A repeated disconnect report does not restart the grace period.
            m.gone_until.setdefault(wallet, ctx.tick + ctx.ticks(match_terms(ctx.state, m).disconnect_grace_ms))
            self._reschedule(ctx, m)
        # A watcher keeps watching through a disconnect (until the battle
        # ends): its session keeps the events, and a resume replays them or
        # sends a snapshot, as for a player. Dropping it here made a
        # spectator on a flaky network stop seeing the battle at every blip.

    def rejoin(self, ctx, m: RoastMatch, wallet: str) -> None:
        if m.gone_until.pop(wallet, None) is not None:
            self._reschedule(ctx, m)

    # --- timers -----------------------------------------------------------------
    def tick(self, ctx, m: RoastMatch) -> None:
        if self._forfeit_due(ctx, m):
            return
        if ctx.tick >= m.deadline:
            if m.phase == ENTRY:
                self._finish(ctx, m, "cancelled", None)
                return
            if m.phase == WAITING_PROMPT:
                self._finish(ctx, m, "cancelled", None)
                return
            if m.phase == COUNTDOWN:
                m.phase = RECORDING
                m.deadline = ctx.tick + ctx.ticks(match_terms(ctx.state, m).time_limit_ms)
            elif m.phase == RECORDING:
                self._close_recording(ctx, m)
            elif m.phase == SCORING:
                for p in m.players:
                    if p not in m.scores:
                        self._record_score(m, p, dict.fromkeys(DIMENSIONS, 0),
                                           "The judge did not answer in time; scored 0.", "none")
                self._reveal(ctx, m)
        if m.phase != ENDED:
            self._reschedule(ctx, m)

    def _forfeit_due(self, ctx, m: RoastMatch) -> bool:
        if m.phase in (ENTRY, ENDED):
            return False
        gone = [p for p in m.players if m.gone_until.get(p, ctx.tick + 1) <= ctx.tick]
        if not gone:
            return False
        if len(m.gone_until) == len(m.players):
            # Nobody is left to win: the battle is cancelled and refunded.
            self._finish(ctx, m, "cancelled", None)
        else:
            winner = next(p for p in m.players if p not in gone)
            self._finish(ctx, m, "forfeit", winner)
        return True

    def _reschedule(self, ctx, m: RoastMatch) -> None:
        due = m.deadline
        if m.phase != ENTRY and m.gone_until:
            due = min(due, min(m.gone_until.values()))
        ctx.wake(m, due)

    # --- rounds -------------------------------------------------------------------
    def _request_prompt(self, ctx, m: RoastMatch, rnd: int) -> None:
        if rnd > match_terms(ctx.state, m).rounds or rnd <= m.prompts_requested:
            return
        m.prompts_requested = rnd
        ctx.effect(
            GeneratePrompt(
                key=prompt_key(m.id, rnd),
                match=m.id,
                round=rnd,
                seed=rng.draw(ctx.config.seed, "prompt-seed", m.id),
                used=tuple(m.prompts[r] for r in sorted(m.prompts)),
            )
        )

    def _begin_round(self, ctx, m: RoastMatch) -> None:
        if m.round in m.prompts:
            self._start_round(ctx, m)
        else:
            m.phase = WAITING_PROMPT
            m.deadline = ctx.tick + ctx.ticks(match_terms(ctx.state, m).prompt_timeout_ms)
            self._request_prompt(ctx, m, m.round)

    def _start_round(self, ctx, m: RoastMatch) -> None:
        cfg = match_terms(ctx.state, m)
        m.phase = COUNTDOWN
        m.submissions = {}
        m.scores = {}
        m.deadline = ctx.tick + ctx.ticks(cfg.countdown_ms)
        ctx.emit(
            self._audience(m),
            "battle:round_start",
            {
                "match": m.id,
                "roundNumber": m.round,
                "prompt": m.prompts[m.round],
                "timeLimit": cfg.time_limit_ms,
                "countdown": cfg.countdown_ms,
            },
        )
        self._request_prompt(ctx, m, m.round + 1)

    def _close_recording(self, ctx, m: RoastMatch) -> None:
        m.phase = SCORING
        m.deadline = ctx.tick + ctx.ticks(match_terms(ctx.state, m).scoring_timeout_ms)
        for p in m.players:
            sub = m.submissions.get(p)
            if sub is None or not sub["text"].strip() and not sub["audio_url"]:
                self._record_score(m, p, dict.fromkeys(DIMENSIONS, 0), "No roast submitted.", "none")
            else:
                ctx.effect(
                    ScoreRoast(
                        key=score_key(m.id, m.round, p),
                        match=m.id,
                        round=m.round,
                        wallet=p,
                        prompt=m.prompts[m.round],
                        text=sub["text"],
                        audio_url=sub["audio_url"],
                    )
                )
        if len(m.scores) == len(m.players):
            self._reveal(ctx, m)

    @staticmethod
    def _record_score(m: RoastMatch, wallet: str, values: dict, commentary: str, judge: str) -> None:
        m.scores[wallet] = {"breakdown": values, "score": sum(values.values()),
                            "commentary": commentary, "judge": judge}

    def _reveal(self, ctx, m: RoastMatch) -> None:
        audience = self._audience(m)
        for p in m.players:
            s = m.scores[p]
            m.totals[p] += s["score"]
            m.best_round[p] = max(m.best_round[p], s["score"])
            ctx.emit(
                audience,
                "battle:score_revealed",
                {
                    "match": m.id,
                    "roundNumber": m.round,
                    "playerId": p,
                    "score": s["score"],
                    "breakdown": dict(s["breakdown"]),
                    "commentary": s["commentary"],
                },
            )
        a, b = m.players
        if m.scores[a]["score"] != m.scores[b]["score"]:
            m.rounds_won[a if m.scores[a]["score"] > m.scores[b]["score"] else b] += 1
        if m.round >= match_terms(ctx.state, m).rounds:
            self._finish(ctx, m, "completed", self._winner(m))
            return
        m.round += 1
        self._begin_round(ctx, m)

    @staticmethod
    def _winner(m: RoastMatch) -> str | None:
        a, b = m.players
        for key in (m.totals, m.rounds_won, m.best_round):
            if key[a] != key[b]:
                return a if key[a] > key[b] else b
        return None

    # --- the end ----------------------------------------------------------------------
    def _finish(self, ctx, m: RoastMatch, reason: str, winner: str | None) -> None:
        cfg = match_terms(ctx.state, m)
        escrow = f"escrow:{m.id}"
        pool = m.entry_fee * len(m.paid)
        prize = 0
        if winner is not None and len(m.paid) == len(m.players):
            fee = bps_of(pool, cfg.platform_fee_bps)
            prize = pool - fee
            partner = bps_of(fee, cfg.partner_share_bps)
            transfers = (
                Transfer(escrow, winner, prize),
                Transfer(escrow, "fee:creator", fee - partner),
                Transfer(escrow, "fee:partner", partner),
            )
            key, why = f"payout:{m.id}", reason
        else:
            # Cancelled, or a draw: every confirmed fee goes back in full.
            winner = None
            transfers = tuple(Transfer(escrow, p, m.entry_fee) for p in m.players if p in m.paid)
            key, why = f"refund:{m.id}", "draw" if reason == "completed" else reason
        ctx.effect(Settle(key=key, match=m.id, transfers=tuple(t for t in transfers if t.amount > 0), reason=why))
        a, b = m.players
        ctx.emit(
            self._audience(m),
            "battle:ended",
            {
                "match": m.id,
                "winnerId": winner,
                "finalScores": {"player1": m.totals[a], "player2": m.totals[b]},
                "prizeAmount": prize,
                "reason": reason,
            },
        )
        m.phase = ENDED
        q: RoastQueues = ctx.state.modes[self.name]
        for p in m.players:
            if q.playing.get(p) == m.id:
                del q.playing[p]
        ctx.drop_match(m, list(m.players) + list(m.watchers))

    # --- views ------------------------------------------------------------------------
    @staticmethod
    def _audience(m: RoastMatch) -> list:
        if not m.watchers:
            return m.players
        return list(dict.fromkeys([*m.players, *m.watchers]))

    def snapshot(self, ctx, m: RoastMatch, wallet: str) -> dict:
        a, b = m.players
        return {
            "mode": self.name,
            "tier": m.tier,
            "phase": m.phase,
            "round": m.round,
            "rounds": match_terms(ctx.state, m).rounds,
            "players": list(m.players),
            "entry_fee": m.entry_fee,
            "paid": [p for p in m.players if p in m.paid],
            "prompt": m.prompts.get(m.round) if m.phase in (COUNTDOWN, RECORDING, SCORING) else None,
            "submitted": [p for p in m.players if p in m.submissions],
            "scores": {"player1": m.totals[a], "player2": m.totals[b]},
            "deadline_ms": ctx.ms_until(m.deadline),
            "disconnected": [p for p in m.players if p in m.gone_until],
            "reactions": dict(m.reactions),
            "watchers": len(m.watchers),
        }

    def orphan_input(self, ctx, inp) -> None:
        """Late prompts and scores for a battle that has ended are dropped."""
