"""Trading contests' pure rules: contest terms, portfolios, scores, ranks and
the money of a settlement. No engine state, no effects: the mode
(`mode.py`) turns these into `Settle` transfers, and the property tests
exercise them directly.

Scores are integer basis points: a token's change since the start is kept
in units of 1e-8 (`change_e8`, floored), and a portfolio's score is
floor(sum(weight_bps × change_e8) / 1e8), its weighted change in basis
points. No float anywhere. Ties go to the earlier join.

Money is integer base units, and every split names its remainder:

- rake = floor(pool × rake_bps / 10000); the rounding remainder stays in
  the prize pool (pool − rake);
- prize of rank i = floor(prize pool × prizes_bps[i] / 10000); what is left
  (rounding, and the shares of places nobody took) goes to rank 1;
- with nobody ranked (never evaluated so), the prize pool goes to the platform;
- a referred participant's referrer gets floor(fee × rake_bps ×
  referral_bps / 10^8), the referral share of that participant's part of
  the rake; the sum never exceeds the rake (each term is at most its share
  of it), and the platform keeps the rest of the rake.

So prizes + referral rewards + platform rake == pool, exactly.
"""

from __future__ import annotations

from arena.engine.money import BPS, bps_of

E8 = 100_000_000
MAX_PRICE = 2**62


def check_portfolio(portfolio, tokens, size: int, min_w: int, max_w: int) -> str | None:
    """Why `portfolio` ((token, weight_bps), ...) is not one a contest with
    these terms takes (None: it is)."""
    if not isinstance(portfolio, tuple) or not portfolio:
        return "portfolio must be a non-empty array of {token, weight_bps}"
    if len(portfolio) > size:
        return f"portfolio has {len(portfolio)} tokens; this contest allows at most {size}"
    seen = set()
    total = 0
    allowed = set(tokens)
    for item in portfolio:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], int) and not isinstance(item[1], bool)):
            return "each portfolio entry must be {token: str, weight_bps: int}"
        token, weight = item
        if token not in allowed:
            return f"token {token[:64]!r} is not allowed in this contest (see contest.get terms.tokens)"
        if token in seen:
            return f"token {token[:64]!r} appears twice"
        seen.add(token)
        if not min_w <= weight <= max_w:
            return f"weight_bps of {token[:64]} must be {min_w}..{max_w}"
        total += weight
    if total != BPS:
        return f"weights must sum to {BPS} basis points, not {total}"
    return None


def check_prices(value, count: int) -> str | None:
    """Why a market feed's value is not `count` positive integer prices."""
    if not isinstance(value, tuple) or len(value) != count:
        return f"expected {count} prices"
    for p in value:
        if not isinstance(p, int) or isinstance(p, bool) or not 0 < p < MAX_PRICE:
            return "prices must be positive integers"
    return None


def token_row(v):
    """A token sync's answer for one token as (listed, [symbol, decimals,
    name] or None), or None if it is neither a listed flag (1 / 0) nor a
    token list's row (listed, decimals 0..18, symbol, name: strings of at
    most 32 and 64 characters)."""
    if isinstance(v, int) and not isinstance(v, bool) and v in (0, 1):
        return v == 1, None
    if (isinstance(v, tuple) and len(v) == 4 and isinstance(v[0], int) and not isinstance(v[0], bool)
            and v[0] in (0, 1) and isinstance(v[1], int) and not isinstance(v[1], bool) and 0 <= v[1] <= 18
            and isinstance(v[2], str) and len(v[2]) <= 32 and isinstance(v[3], str) and len(v[3]) <= 64):
        return v[0] == 1, [v[2], v[1], v[3]]
    return None


def change_e8(start: int, now: int) -> int:
    """A token's change since the start, in 1e-8 units (floored)."""
    return (now - start) * E8 // start


def changes(start: dict, now: dict) -> dict:
    return {t: change_e8(p, now[t]) for t, p in start.items()}


def score_bps(portfolio, change: dict) -> int:
    """The portfolio's weighted change since the start, in basis points (floored)."""
    return sum(w * change[t] for t, w in portfolio) // E8


def rank(entries) -> list[tuple[str, int]]:
    """[(wallet, score)] best first; `entries` are (wallet, score) in join
    order, so the sort (stable) leaves ties to the earlier join."""
    return sorted(entries, key=lambda e: -e[1])


def standings(start: dict, end: dict, entries) -> list[tuple[str, int]]:
    """[(wallet, score_bps)] best first of `entries` ((wallet, portfolio),
    ...) in join order, ties to the earlier join: the evaluation."""
    change = changes(start, end)
    return rank((w, score_bps(p, change)) for w, p in entries)


def split_pool(pool: int, rake_bps: int, prizes_bps, ranked_wallets) -> tuple[int, list]:
    """(rake, [(wallet, prize)] by rank): the rake, and the pool less the
    rake by the prize table, its remainder to rank 1 (the rake service)."""
    rake = bps_of(pool, rake_bps)
    prize_pool = pool - rake
    places = min(len(prizes_bps), len(ranked_wallets))
    prizes = [bps_of(prize_pool, prizes_bps[i]) for i in range(places)]
    if prizes:
        prizes[0] += prize_pool - sum(prizes)  # rounding, and places nobody took: to rank 1
    return rake, list(zip(ranked_wallets, prizes))


def referral_rewards(referred, rake_bps: int, referral_bps: int) -> list:
    """[(referrer, referee, reward)] of `referred` ((referee, referrer, fee),
    ...): the referral share of each referee's part of the rake, zero ones
    left out (the referral service). Their sum never exceeds the rake."""
    rewards = []
    for referee, referrer, fee in referred:
        reward = fee * rake_bps * referral_bps // (BPS * BPS)
        if reward:
            rewards.append((referrer, referee, reward))
    return rewards


def combine(pool: int, rake: int, prizes: list, rewards: list) -> int:
    """The platform's part: the rake less the rewards (and the whole prize
    pool if nobody was ranked). Checks that everything adds up to `pool`."""
    platform = rake - sum(r for _, _, r in rewards)
    if not prizes:
        platform += pool - rake  # nobody to pay (a contest is never evaluated empty): named anyway
    assert platform >= 0 and sum(a for _, a in prizes) + platform + sum(r for _, _, r in rewards) == pool
    return platform


def settlement(pool: int, rake_bps: int, prizes_bps, ranked_wallets, fee_of: dict, referrer_of: dict,
               referral_bps: int) -> tuple[list, int, list]:
    """([(wallet, prize)] by rank, platform's rake, [(referrer, referee, reward)])
    of a contest whose escrow holds `pool`; everything adds up to `pool`."""
    rake, paid = split_pool(pool, rake_bps, prizes_bps, ranked_wallets)
    rewards = referral_rewards([(w, referrer_of[w], fee_of[w]) for w in ranked_wallets if referrer_of.get(w)],
                               rake_bps, referral_bps)
    return paid, combine(pool, rake, paid, rewards), rewards
