"""Trading contests' inputs, and the keys of the effects they issue.

Client requests become `ContestCreate`, `ContestCancel`, `ContestRead` (the
views and `contest.watch`) and `ReferralRequest`; they name their contest
in a `contest` field, not `match`, so the core hands them to the mode's
`route` even after the contest's match is gone (a settled contest is still
read). `ContestJoinChosen` is what the gateway submits after a join's
payment is confirmed (`arena.engine.mode.Payment.paid`): the portfolio the
player chose. The money itself arrives as the framework's `EntryFeePaid`.

An ended contest is processed by three supervised side tasks
(`services.py`), each answering one effect with one journaled result:
`EvaluateContest` -> `ContestEvaluated` (the ranking), then `ProcessRake`
-> `RakeProcessed` (the rake and the prizes by rank) and
`ProcessReferrals` -> `ReferralsProcessed` (the referral rewards). Every
effect carries all its service needs, so a result is a function of its
effect; nested arrays are tuples (`freeze`), as the journal and the outbox
give them back.
"""

from __future__ import annotations

from attrs import field, frozen

from arena.engine.inputs import ClientInput
from arena.engine.outputs import freeze

NAME = "contest"
READS = ("get", "watch", "tokens", "profile", "rankings")
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
    `wallet_of` (profile); `offset` / `limit`: the page of `rankings`."""

    what: str
    contest: str = ""
    wallet_of: str = ""
    offset: int = 0
    limit: int = 0


@frozen
class ReferralRequest(ClientInput):
    """`referral.code` / `referral.register {code}` / `referral.stats`."""

    what: str
    code: str = ""


@frozen
class ReferralClicked:
    """Someone followed the referral link `/r/<code>` (arena/net/pages.py
    submits it; no session, no wallet: anyone may follow a link)."""

    code: str


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


# --- the contest's services (side tasks, `services.py`) -------------------------------

@frozen
class EvaluateContest:
    """Rank contest `match`'s entries on its start and end prices (each
    ((token, price), ...), fresh when taken). `entries`: ((wallet,
    ((token, weight_bps), ...)), ...) in join order."""

    key: str
    match: str
    start_prices: tuple = field(converter=freeze)
    end_prices: tuple = field(converter=freeze)
    entries: tuple = field(converter=freeze)


@frozen
class ContestEvaluated:
    """The evaluation service's ranking: ((wallet, score_bps), ...) best first."""

    key: str
    match: str
    rankings: tuple = field(converter=freeze)


@frozen
class ProcessRake:
    """Split the pool: the rake, and the prizes of the ranked wallets
    (best first) from the pool less the rake."""

    key: str
    match: str
    pool: int
    rake_bps: int
    prizes_bps: tuple = field(converter=freeze)
    ranked: tuple = field(converter=freeze)


@frozen
class RakeProcessed:
    """The rake, and the prizes ((wallet, amount), ...) by rank."""

    key: str
    match: str
    rake: int
    prizes: tuple = field(converter=freeze)


@frozen
class ProcessReferrals:
    """The referral rewards of the referred entrants, ((referee, referrer,
    fee), ...) in rank order: each the referral share of the referee's part
    of the rake."""

    key: str
    match: str
    rake_bps: int
    referral_bps: int
    referred: tuple = field(converter=freeze)


@frozen
class ReferralsProcessed:
    """The rewards ((referrer, referee, amount), ...), zero ones left out."""

    key: str
    match: str
    rewards: tuple = field(converter=freeze)


SERVICE_RESULTS = (ContestEvaluated, RakeProcessed, ReferralsProcessed)
EVALUATION, RAKE, REFERRALS = "contest-evaluation", "contest-rake", "contest-referrals"


def service_key(service: str, contest: str, attempt: int) -> str:
    """The `attempt`-th request of `service` for contest `contest` (a new
    attempt only when the engine refused a result)."""
    return f"{service}:{contest}:{attempt}"
