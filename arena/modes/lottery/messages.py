"""The lottery's inputs, and the keys of the effects it issues.

Client requests become `LotteryCreate`, `LotteryRead` (the views and
`lottery.watch`) and `LotteryClaim`; they name their round in a `round`
field, not `match`, so the core hands them to the mode's `route` even after
the round's match is gone (a finished round is still read and claimed).
`LotteryBetChosen` is what the gateway submits after a bet's payment is
confirmed (`arena.engine.mode.Payment.paid`): the side the bettor chose. The
money itself arrives as the framework's `EntryFeePaid`.
"""

from __future__ import annotations

from attrs import frozen

from arena.engine.inputs import ClientInput

NAME = "lottery"
# What a `LotteryRead` asks for.
READS = ("round", "pool", "my_bets", "stats", "watch")


@frozen
class LotteryCreate(ClientInput):
    """`lottery.create` (operator): a round on one draw. `threshold` is -1
    when the proposition has none."""

    game: str
    draw_time_ms: int
    kind: str
    threshold: int = -1


@frozen
class LotteryRead(ClientInput):
    """A view (`what`, one of READS) of `round` ("" for my_bets of every
    round, and for stats)."""

    what: str
    round: str = ""


@frozen
class LotteryClaim(ClientInput):
    round: str


@frozen
class LotteryBetChosen:
    """The side of the bet paid with `payment_id` (`lottery.bet.confirm`).
    The money is `EntryFeePaid` with the same payment id, in either order."""

    match: str
    wallet: str
    amount: int
    payment_id: str
    side: str


def bet_id(payment_id: str) -> str:
    """A bet is named by its payment (one payment, one bet)."""
    return f"bet-{payment_id}"


def feed_key(round_: str, part: str, attempt: int) -> str:
    return f"feed:{round_}:{part}:{attempt}"


def payout_key(round_: str, wallet: str) -> str:
    return f"payout:{round_}:{wallet}"


def refund_key(round_: str, wallet: str) -> str:
    """Unmatched stakes at lock (one per wallet)."""
    return f"refund:{round_}:{wallet}"


def void_refund_key(round_: str, wallet: str) -> str:
    """Matched stakes of a void round (the unmatched went back at lock under
    `refund_key`)."""
    return f"refund:{round_}:{wallet}:void"


def stray_refund_key(round_: str, payment_id: str) -> str:
    """A payment that cannot become a bet (late, or its side never came)."""
    return f"refund:{round_}:pay:{payment_id}"


def fee_key(round_: str) -> str:
    return f"fee:{round_}"
