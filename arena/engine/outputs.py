"""What `step` hands back: messages for clients and effects for side tasks.

Messages (`Reply`, `Event`) go to the net layer, which encodes and batches
them. Effects are requests to the slow outside world; each carries an
idempotency key derived from the state (`payout:<match>` ...), so carrying one
out twice does no harm, and its result comes back later as an input.
"""

from __future__ import annotations

from typing import NamedTuple

from attrs import frozen

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


MONEY_EFFECTS = (Settle,)
