"""Trading contests' settings: the `[contest]` section.

Part of the engine state (`EngineConfig.modes["contest"]`), so they are in
the state hash and a replay sees the settings each contest was created
under. A contest copies what it must keep (its terms, the referral share)
when it is created: changing a setting never changes a contest that already
took entry fees. Durations are milliseconds of engine time (`ctx.now_ms`).

The token whitelist (`tokens`) and the achievement definitions
(`achievements`) are strings, one entry per comma, parsed and checked by
`whitelist` / `achievement_rules`, so a wrong entry stops start-up naming
the key.
"""

from __future__ import annotations

import re
from functools import lru_cache

from attrs import field, frozen

from arena.engine.canonical import OMIT_IF_DEFAULT
from arena.engine.config import bps, non_negative, positive

# A token id (a Solana mint, base58) and a ticker symbol.
_MINT = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
_SYMBOL = re.compile(r"[A-Za-z0-9]{1,12}")
_ACHIEVEMENT = re.compile(r"[a-z][a-z0-9_]{0,31}")
STATS = ("contests", "wins", "podiums", "in_the_money", "win_streak")

# Real Solana mints of well-known tokens. Their prices come from the
# `price_feed`, which is SIMULATED by default (docs/CONTESTS.md).
DEFAULT_TOKENS = (
    "SOL:So11111111111111111111111111111111111111112,"
    "USDC:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v,"
    "BONK:DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263,"
    "JUP:JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN,"
    "WIF:EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm,"
    "RAY:4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R"
)
# Fields added after contests were first stored: left out of the state's
# canonical form at their defaults, so stored snapshots keep verifying.
_NEW = {OMIT_IF_DEFAULT: True}
DEFAULT_ACHIEVEMENTS = "first_contest=contests:1,first_win=wins:1,podium=podiums:1,streak_3=win_streak:3"


@lru_cache(maxsize=64)
def whitelist(text: str) -> tuple[tuple[str, str], ...]:
    """((token, symbol), ...) of a `tokens` setting ("SYMBOL:mint,...")."""
    out = []
    for entry in (e.strip() for e in text.split(",")):
        symbol, _, token = entry.partition(":")
        if not _SYMBOL.fullmatch(symbol) or not _MINT.fullmatch(token):
            raise ValueError(f"tokens entry {entry!r} must be SYMBOL:mint (a base58 token address)")
        out.append((token, symbol))
    if len({t for t, _ in out}) != len(out) or len({s for _, s in out}) != len(out):
        raise ValueError("tokens must not repeat a token or a symbol")
    if not 1 <= len(out) <= 1024:
        raise ValueError("tokens must list 1..1024 tokens")
    return tuple(out)


@lru_cache(maxsize=64)
def achievement_rules(text: str) -> tuple[tuple[str, str, int], ...]:
    """((name, stat, threshold), ...) of an `achievements` setting
    ("name=stat:threshold,..."): unlocked when the stat reaches the threshold."""
    if not text.strip():
        return ()
    out = []
    for entry in (e.strip() for e in text.split(",")):
        name, _, rule = entry.partition("=")
        stat, _, threshold = rule.partition(":")
        if not _ACHIEVEMENT.fullmatch(name) or stat not in STATS or not threshold.isdigit() or int(threshold) < 1:
            raise ValueError(f"achievements entry {entry!r} must be name=stat:threshold, stat one of "
                             f"{', '.join(STATS)}, threshold a positive integer")
        out.append((name, stat, int(threshold)))
    if len({n for n, _, _ in out}) != len(out):
        raise ValueError("achievements must not repeat a name")
    return tuple(out)


def _parsed(parse):
    def check(inst, attribute, value):
        if not isinstance(value, str):
            raise ValueError(f"{attribute.name} must be a string, got {value!r}")
        parse(value)
    return check


def _fee_account(inst, attribute, value):
    if not isinstance(value, str) or not value.startswith("fee:") or not 4 < len(value) <= 64:
        raise ValueError(f"{attribute.name} must be a platform account fee:<name>, got {value!r}")


def _recurring(inst, attribute, value):
    from arena.engine.calendar import RuleError, parse

    if value == "":
        return
    try:
        rule = parse("recurring", value)
    except (RuleError, TypeError) as exc:
        raise ValueError(f"{attribute.name}: {exc}") from None
    if rule.kind == "once":
        raise ValueError(f"{attribute.name} must recur (daily, weekly, monthly), got {value!r}")


def prize_table(text: str) -> tuple[int, ...]:
    """The bps shares of a `recurring_prizes_bps` setting ("5000,3000,2000")."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts) or sum(int(p) for p in parts) != 10_000 or "0" in parts:
        raise ValueError(f"recurring_prizes_bps must be positive shares by rank summing to 10000, got {text!r}")
    return tuple(int(p) for p in parts)


def _feed_name(inst, attribute, value):
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValueError(f"{attribute.name} must be a feed name (1..64 characters), got {value!r}")


@frozen
class ContestConfig:
    # The whitelist: "SYMBOL:mint" entries. A contest's tokens come from it.
    tokens: str = field(default=DEFAULT_TOKENS, validator=_parsed(whitelist))
    # The data feed of market prices: one fetch asks every token's price
    # (query `symbols` and `tokens`, comma-separated) and answers a vector
    # of integers in 10**-price_decimals units. "price" is SIMULATED by default.
    price_feed: str = field(default="price", validator=_feed_name)
    price_decimals: int = field(default=6, validator=non_negative)
    # Token sync: every this often the `token_feed` is asked whether each
    # whitelisted token is still listed (a vector of 1 listed / 0 not, in
    # the query's `tokens` order). A delisted token cannot go into a new
    # contest or portfolio; contests that hold it keep its price. A failed
    # sync changes nothing. "token_status" is SIMULATED by default (lists all).
    token_feed: str = field(default="token_status", validator=_feed_name)
    token_sync_ms: int = field(default=30_000, validator=positive)
    # The engine takes at most one price input per this many ticks (20 at
    # 20 Hz: one a second; 2: every 100 ms).
    price_every_ticks: int = field(default=20, validator=positive)
    # A price fetch unanswered this long is given up (its late answer is
    # ignored) and asked again under a new key.
    price_timeout_ms: int = field(default=10_000, validator=positive)
    # Prices accepted longer ago than this (or a last fetch that failed) are
    # stale: rankings say so, and no contest starts or is evaluated on them.
    stale_after_ms: int = field(default=5_000, validator=positive)
    # `contest:rankings` at most this often per contest.
    rankings_interval_ms: int = field(default=1_000, validator=positive)
    # A push carries the best this many, plus the recipient's own row when
    # it is further down (the whole ranking: `contest.rankings` pages).
    rankings_top: int = field(default=10, validator=positive, metadata=_NEW)
    # Of each referred participant's part of the rake, the referrer's share.
    referral_bps: int = field(default=2_000, validator=bps)
    # Clicks on one referrer's link (`/r/<code>`) counted per minute of
    # engine time at most (more are followed but not counted).
    referral_clicks_per_min: int = field(default=60, validator=positive, metadata=_NEW)
    max_rake_bps: int = field(default=5_000, validator=bps)
    # Where the platform's part of the rake goes (on Solana one of the
    # configured fee wallets: fee:creator, fee:partner or fee:protocol).
    platform_account: str = field(default="fee:contest", validator=_fee_account)
    min_entry_fee: int = field(default=1, validator=positive)
    max_entry_fee: int = field(default=1_000_000_000_000, validator=positive)
    max_players: int = field(default=10_000, validator=positive)
    max_prize_places: int = field(default=100, validator=positive)
    max_portfolio_size: int = field(default=20, validator=positive)
    # Shortest and longest contest (ends - starts).
    min_duration_ms: int = field(default=60_000, validator=positive)
    max_duration_ms: int = field(default=30 * 86_400_000, validator=positive)
    # Recurring contests: a calendar rule ("daily 12:00 UTC", "weekly
    # MON,THU 18:00 America/New_York"; "" = none). Each occurrence opens a
    # contest over the whole whitelist that starts `recurring_lead_ms` later
    # and runs `recurring_duration_ms`, on these terms.
    recurring: str = field(default="", validator=_recurring)
    recurring_lead_ms: int = field(default=3_600_000, validator=positive)
    recurring_duration_ms: int = field(default=86_400_000, validator=positive)
    recurring_entry_fee: int = field(default=100, validator=positive)
    recurring_min_players: int = field(default=2, validator=positive)
    recurring_max_players: int = field(default=1_000, validator=positive)
    recurring_prizes_bps: str = field(default="5000,3000,2000", validator=_parsed(prize_table))
    recurring_rake_bps: int = field(default=1_000, validator=bps)
    recurring_portfolio_size: int = field(default=5, validator=positive)
    # "name=stat:threshold" entries (stats: contests, wins, podiums,
    # in_the_money, win_streak), checked after every evaluation.
    achievements: str = field(default=DEFAULT_ACHIEVEMENTS, validator=_parsed(achievement_rules))
    # The processing services' circuit breakers (services.py): consecutive
    # failures that open one, and how long it stays open (s). Evaluation:
    # the design's 10 / 120 s; rake and referrals: the global defaults
    # (5 / 60 s, as `[feeds]`). A failed try is retried after `service_retry_ms`.
    evaluation_failure_threshold: int = field(default=10, validator=positive, metadata=_NEW)
    evaluation_reset_s: int = field(default=120, validator=positive, metadata=_NEW)
    rake_failure_threshold: int = field(default=5, validator=positive, metadata=_NEW)
    rake_reset_s: int = field(default=60, validator=positive, metadata=_NEW)
    referral_failure_threshold: int = field(default=5, validator=positive, metadata=_NEW)
    referral_reset_s: int = field(default=60, validator=positive, metadata=_NEW)
    service_retry_ms: int = field(default=1_000, validator=positive, metadata=_NEW)

    def __attrs_post_init__(self) -> None:
        if self.min_entry_fee > self.max_entry_fee:
            raise ValueError(f"min_entry_fee ({self.min_entry_fee}) must not exceed max_entry_fee "
                             f"({self.max_entry_fee})")
        if self.min_duration_ms > self.max_duration_ms:
            raise ValueError(f"min_duration_ms ({self.min_duration_ms}) must not exceed max_duration_ms "
                             f"({self.max_duration_ms})")
