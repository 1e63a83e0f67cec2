"""Integer money arithmetic.

Amounts are integers in base units; there are no floats anywhere near money.
Every split returns parts that add up to the input exactly, and names the part
that absorbs the rounding remainder, so no base unit is created or lost.
"""

from __future__ import annotations

BPS = 10_000


def bps_of(amount: int, bps: int) -> int:
    """floor(amount × bps / 10000), for non-negative integers."""
    if amount < 0 or not 0 <= bps <= BPS:
        raise ValueError(f"bad amount/bps: {amount}, {bps}")
    return amount * bps // BPS


def fee_split(amount: int, fee_bps: int) -> tuple[int, int]:
    """Split `amount` into (net, fee) with fee = floor(amount × fee_bps / 10000).

    The remainder of the division stays with `net`: the player is never
    rounded against.
    """
    fee = bps_of(amount, fee_bps)
    return amount - fee, fee


def split_shares(amount: int, shares: list[tuple[str, int]], remainder_to: str) -> dict[str, int]:
    """Split `amount` among named shares given in basis points.

    Each share gets floor(amount × bps / 10000); whatever is left over (the
    rounding remainder, plus any bps not assigned) goes to `remainder_to`,
    which must be one of the names. The result always sums to `amount`.
    """
    names = [n for n, _ in shares]
    if remainder_to not in names:
        raise ValueError("remainder_to must name one of the shares")
    if sum(b for _, b in shares) > BPS:
        raise ValueError("shares exceed 100%")
    out = {n: bps_of(amount, b) for n, b in shares}
    out[remainder_to] += amount - sum(out.values())
    return out
