"""What `step` hands back: messages for clients and effects for side tasks.

Messages (`Reply`, `Event`) go to the net layer, which encodes and batches
them. Effects are requests to the slow outside world; each carries an
idempotency key derived from the state (`payout:<match>` ...), so carrying one
out twice does no harm, and its result comes back later as an input.
"""

from __future__ import annotations

from typing import NamedTuple

from attrs import field, frozen

# Reply and Event are made by the thousand every tick under load (one per
# reaction), so they are named tuples: immutable like the frozen attrs
# classes below, and about 4x cheaper to build. They are never journaled.


class Reply(NamedTuple):
    """The one reply to request `rid` of `session`."""

    session: str
    rid: int
    ok: bool
    body: dict


class Event(NamedTuple):
    """An event for every live session of each wallet in `to`."""

    to: tuple[str, ...]
    type: str
    body: dict


@frozen
class Transfer:
    """Move `amount` between ledger accounts.

    Accounts are wallet addresses, `escrow:<match>`, or `fee:<name>` (the
    platform's accounts); the ledger adapter maps them to real accounts.
    """

    source: str
    dest: str
    amount: int


@frozen
class Settle:
    """Carry out these transfers atomically, at most once per `key`.

    Money effects are released only after the journal entry of the tick that
    made them is durable (write-ahead).
    """

    key: str
    match: str
    transfers: tuple[Transfer, ...]
    reason: str


def freeze(value):
    """Lists (as MessagePack decodes arrays) back to tuples, all the way down:
    a value decoded from the journal or the outbox equals the one issued."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def _query(value) -> tuple:
    return tuple((str(k), str(v)) for k, v in value)


@frozen
class FetchFeed:
    """Ask the feed side task for one value of data feed `feed` (an oracle:
    a draw result, a price, a block height), at most once per `key`.

    `query` is (name, value) pairs the feed's sources need (they fill the
    `{name}` placeholders of a source URL). `match` is the match that wants
    the value, or "" for the mode itself; the answer comes back as one
    journaled `FeedResult` with the same key, so a replay never fetches.
    """

    key: str
    mode: str
    match: str
    feed: str
    query: tuple = field(default=(), converter=_query)


MONEY_EFFECTS = (Settle,)
