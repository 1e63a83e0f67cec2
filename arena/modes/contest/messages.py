"""Trading contests' inputs, and the keys of the effects they issue.

Client requests become `ContestCreate`, `ContestCancel`, `ContestRead` (the
views and `contest.watch`) and `ReferralRequest`; they name their contest
in a `contest` field, not `match`, so the core hands them to the mode's
`route` even after the contest's match is gone (a settled contest is still
read). `ContestJoinChosen` is what the gateway submits after a join's
payment is confirmed (`arena.engine.mode.Payment.paid`): the portfolio the
player chose. The money itself arrives as the framework's `EntryFeePaid`.
"""

from __future__ import annotations

from attrs import field, frozen

from arena.engine.inputs import ClientInput
from arena.engine.outputs import freeze

NAME = "contest"
READS = ("get", "watch", "tokens", "profile")
REFERRALS = ("code", "register", "stats")


@frozen
class ContestCreate(ClientInput):
    """`contest.create` (operator). `prizes_bps` by rank (sums to 10,000);
    `tokens` the contest's allowed tokens (ids from the whitelist)."""

    entry_fee: int
    starts_at_ms: int
    ends_at_ms: int
    min_players: int
    max_players: int
    prizes_bps: tuple = field(converter=freeze)
    rake_bps: int
    tokens: tuple = field(converter=freeze)
    portfolio_size: int
    min_weight_bps: int = 1
    max_weight_bps: int = 10_000


@frozen
class ContestCancel(ClientInput):
    """`contest.cancel` (operator): every fee goes back."""

    contest: str


@frozen
class ContestRead(ClientInput):
    """A view (`what`, one of READS) of `contest` ("" for tokens), or of
    `wallet_of` (profile)."""

    what: str
    contest: str = ""
    wallet_of: str = ""


@frozen
class ReferralRequest(ClientInput):
    """`referral.code` / `referral.register {code}` / `referral.stats`."""

    what: str
    code: str = ""


@frozen
class ContestJoinChosen:
    """The portfolio of the join paid with `payment_id`: ((token,
    weight_bps), ...). The money is `EntryFeePaid` with the same payment
    id, in either order."""

    match: str
    wallet: str
    amount: int
    payment_id: str
    portfolio: tuple = field(converter=freeze)


def payout_key(contest: str) -> str:
    """The one settlement of an evaluated contest: prizes, rake, referral rewards."""
    return f"payout:{contest}"


def refund_key(contest: str) -> str:
    """Every entry fee of a cancelled contest, in one settlement."""
    return f"refund:{contest}"


def stray_refund_key(contest: str, payment_id: str) -> str:
    """A payment that cannot become an entry (late, twice, full, or its
    portfolio never came)."""
    return f"refund:{contest}:pay:{payment_id}"


def token_sync_key(world: str, seq: int) -> str:
    """The `seq`-th token-list fetch of this world (the whitelist's status)."""
    return f"feed:{NAME}:{world}:tokens:{seq}"


def price_key(world: str, seq: int) -> str:
    """The `seq`-th market price fetch of this world (mode-level: one market
    for every contest)."""
    return f"feed:{NAME}:{world}:prices:{seq}"
