"""The lottery's pure rules: games, propositions, peer-to-peer matching and
the money of a matched pair. No state of the engine, no effects: the mode
(`mode.py`) keeps the book and turns these numbers into `Settle` transfers,
and the property tests exercise these functions directly.

Money is integer base units. A pair is two opposite stakes of equal size
(even odds): the winner gets both, less the platform fee on the loser's
stake, `floor(stake × fee_bps / 10000)`; the rounding remainder stays with
the winner, so nothing is created or lost: payouts + fees + refunds equal
what the escrow took in.
"""

from __future__ import annotations

from attrs import frozen

from arena.engine.money import bps_of

SIDES = ("yes", "no")
KINDS = ("bonus_parity", "bonus_over", "white_sum_over")


@frozen
class Game:
    """A draw's shape: `whites` distinct numbers in 1..`white_max` and one
    bonus ball in 1..`bonus_max`."""

    name: str
    whites: int
    white_max: int
    bonus_max: int

    def white_sum_range(self) -> tuple[int, int]:
        low = sum(range(1, self.whites + 1))
        high = sum(range(self.white_max - self.whites + 1, self.white_max + 1))
        return low, high


GAMES = {
    "powerball": Game("powerball", 5, 69, 26),
    "megamillions": Game("megamillions", 5, 70, 25),
}


def other(side: str) -> str:
    return "no" if side == "yes" else "yes"


def check_proposition(game: Game, kind: str, threshold: int) -> str | None:
    """Why (kind, threshold) is not a proposition of `game` (None: it is).
    An `_over` threshold must leave both outcomes possible; parity has none."""
    if kind not in KINDS:
        return f"proposition kind must be one of {', '.join(KINDS)}"
    if kind == "bonus_parity":
        return None if threshold < 0 else "bonus_parity takes no threshold"
    if kind == "bonus_over":
        low, high = 1, game.bonus_max
    else:
        low, high = game.white_sum_range()
    if not low <= threshold < high:
        return f"{kind} threshold must be {low}..{high - 1} for {game.name}"
    return None


def check_result(game: Game, whites, bonus) -> str | None:
    """Why a feed's answer is not a draw of `game` (None: it is one)."""
    if not isinstance(whites, tuple) or len(whites) != game.whites:
        return f"expected {game.whites} white balls"
    if any(not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= game.white_max for w in whites):
        return f"white balls must be integers 1..{game.white_max}"
    if len(set(whites)) != len(whites):
        return "white balls must be distinct"
    if not isinstance(bonus, int) or isinstance(bonus, bool) or not 1 <= bonus <= game.bonus_max:
        return f"the bonus ball must be an integer 1..{game.bonus_max}"
    return None


def outcome(kind: str, threshold: int, whites: tuple, bonus: int) -> str:
    """"yes" or "no": parity's yes is an odd bonus ball; an `_over`'s yes is a
    value strictly above the threshold."""
    if kind == "bonus_parity":
        return "yes" if bonus % 2 == 1 else "no"
    value = bonus if kind == "bonus_over" else sum(whites)
    return "yes" if value > threshold else "no"


def match_bet(queue: list, remaining: dict, amount: int) -> tuple[list[tuple[str, int]], int]:
    """Match a new stake of `amount` against the opposite side's `queue`
    (bet ids, oldest first) whose unmatched amounts are `remaining[id]`.

    Returns ([(opposite bet, amount matched)], what of `amount` is left) and
    updates `queue` and `remaining` in place: a fully matched opposite bet
    leaves the queue; a partly matched one keeps its place (it is still the
    oldest). Oldest first, partial, never more than either side has.
    """
    pairs = []
    left = amount
    while left > 0 and queue:
        head = queue[0]
        take = min(left, remaining[head])
        pairs.append((head, take))
        remaining[head] -= take
        left -= take
        if remaining[head] == 0:
            queue.pop(0)
    return pairs, left


def pair_money(amount: int, fee_bps: int) -> tuple[int, int]:
    """(winner's payout, fee) of a pair of two stakes of `amount`: both
    stakes less the fee on the loser's."""
    fee = bps_of(amount, fee_bps)
    return 2 * amount - fee, fee


def payouts(pairs, wallet_of: dict, winner: str, fee_bps: int) -> tuple[dict[str, int], int]:
    """({winning wallet: payout over all its pairs}, total fee) for `pairs`
    of (yes bet, no bet, amount), the side `winner` having won. The fee is
    taken per pair (floor each), so each pair's money adds up on its own."""
    paid: dict[str, int] = {}
    fees = 0
    for yes_bet, no_bet, amount in pairs:
        won, fee = pair_money(amount, fee_bps)
        wallet = wallet_of[yes_bet if winner == "yes" else no_bet]
        paid[wallet] = paid.get(wallet, 0) + won
        fees += fee
    return paid, fees
