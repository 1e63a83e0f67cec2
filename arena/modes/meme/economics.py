"""Meme rounds' money rules, pure: the split of charged seconds, the pool's
shares and a trade's fee. No engine state; the mode turns these numbers
into `Settle` transfers and the property tests exercise them directly.

Money is integer base units (satoshis on BSV).

* **A view's charges.** A view is charged `rate` per whole second. The
  owner's direct share is taken on the view's running total, not per
  second: after `n` seconds the owners of the item have received exactly
  `floor(n × rate × direct_bps / 10000)` and the pool the rest. Second `n`
  gives its owner the increase of that floor (at 1 sat/s and 4,000 bps:
  0, 0, 1, 0, 1, ...), so a split of 1 sat does not round the owner's share
  away, and the owner at each charged second gets that second's share. The
  rounding remainder of the view goes to the pool.
* **The pool.** At a round's end its pool goes to the owners of the round's
  items, each item's share in proportion to the view-seconds it was watched
  in the round (`floor(pool × seconds / total seconds)`); the remainder goes
  to the owner with the most view-seconds (ties: the smallest wallet
  string). Nothing watched, nothing in the pool.
* **A trade.** The buyer pays `price`; the platform keeps
  `floor(price × fee_bps / 10000)`, the seller receives the rest (the
  remainder of the division stays with the seller).
"""

from __future__ import annotations

from arena.engine.money import bps_of, fee_split


def second_split(charged_before: int, rate: int, direct_bps: int) -> tuple[int, int]:
    """(owner's direct share, pool's share) of the view's next second, when
    it had been charged `charged_before` so far. The two add up to `rate`."""
    direct = bps_of(charged_before + rate, direct_bps) - bps_of(charged_before, direct_bps)
    return direct, rate - direct


def pool_shares(pool: int, seconds: dict[str, int]) -> tuple[dict[str, int], str]:
    """({owner: share}, the owner who got the remainder) of `pool` split by
    view-seconds per owner. Shares sum to `pool` exactly; owners with no
    seconds get nothing; ({}, "") when nobody was watched (the pool is then
    empty too: a pool only grows from charged seconds)."""
    counted = {o: s for o, s in seconds.items() if s > 0}
    total = sum(counted.values())
    if total == 0:
        if pool:
            raise ValueError("a pool with money must have view-seconds")
        return {}, ""
    out = {o: pool * s // total for o, s in counted.items()}
    top = min(counted, key=lambda o: (-counted[o], o))
    out[top] += pool - sum(out.values())
    return out, top


def trade_money(price: int, fee_bps: int) -> tuple[int, int]:
    """(seller's proceeds, platform fee) of a trade at `price`."""
    return fee_split(price, fee_bps)
