"""Meme rounds' inputs, their effect, and the keys of everything the mode
issues (one place builds each key, recovery reuses it).

Client requests become the `ClientInput`s below; none names a `match`, so
the core hands them to the mode's `route`. The money of a deposit or a
purchase arrives as the framework's `EntryFeePaid` into the hall's escrow;
`MemePaid` is what the gateway submits beside it (`Payment.paid`): what the
money is for. `ContentProcessed` is the AI side task's answer to
`ProcessContent`.
"""

from __future__ import annotations

from attrs import field, frozen

from arena.engine.inputs import ClientInput
from arena.engine.outputs import freeze

NAME = "meme"
READS = ("content", "round")
PURPOSES = ("deposit", "buy")


@frozen
class MemeUpload(ClientInput):
    """`content.upload` (operator) after the gateway checked and stored the
    media: its URL, never the bytes. `owner` is the wallet that owns the
    item ("" = the uploader)."""

    title: str
    media_type: str
    media_url: str
    size: int
    owner: str = ""


@frozen
class MemeRead(ClientInput):
    what: str
    content: str = ""


@frozen
class ViewStart(ClientInput):
    content: str


@frozen
class ViewBeat(ClientInput):
    content: str


@frozen
class ViewStop(ClientInput):
    pass


@frozen
class ViewWithdraw(ClientInput):
    """`view.withdraw` (extension): the whole viewing balance back."""


@frozen
class MarketList(ClientInput):
    content: str
    price: int


@frozen
class MarketUnlist(ClientInput):
    content: str


@frozen
class MemePaid:
    """What the payment `payment_id` into the hall's escrow is for: a
    viewing deposit, or the purchase of `content` at `price`. Its money is
    `EntryFeePaid` with the same payment id, in either order."""

    match: str
    wallet: str
    amount: int
    payment_id: str
    purpose: str
    content: str = ""


@frozen
class ProcessContent:
    """Ask the AI port to caption, tag, score (0..100) and moderate one
    uploaded item. Carried out by the mode's "meme-review" side task
    (`arena.ai.content`); answered by one `ContentProcessed` with the same
    key."""

    key: str
    content: str
    media_url: str
    media_type: str
    title: str


@frozen
class ContentProcessed:
    """The AI port's answer. `ok` False: the attempt failed (`reason`), the
    mode tries again under a new key. `engine` names what answered
    ("embedded" heuristics or "openai")."""

    key: str
    content: str
    ok: bool
    caption: str = ""
    tags: tuple = field(default=(), converter=freeze)
    quality: int = 0
    flagged: bool = False
    reason: str = ""
    engine: str = ""


def content_id(hall: str, n: int) -> str:
    return f"{hall}-c{n}"


def round_id(hall: str, n: int) -> str:
    return f"{hall}-r{n}"


def process_key(content: str, attempt: int) -> str:
    return f"process:{content}:{attempt}"


def feed_key(hall: str, n: int) -> str:
    return f"feed:{hall}:height:{n}"


def direct_key(hall: str, batch: int) -> str:
    """A batch of owners' direct shares (every owner owed something then)."""
    return f"direct:{hall}:{batch}"


def pool_key(round_: str) -> str:
    return f"pool:{round_}"


def trade_key(payment_id: str) -> str:
    return f"trade:{payment_id}"


def withdraw_key(hall: str, n: int) -> str:
    """The hall's `n`th withdrawal of a viewing balance."""
    return f"withdraw:{hall}:{n}"


def refund_key(hall: str, payment_id: str) -> str:
    """A payment that cannot be what it was for (listing gone, no purpose)."""
    return f"refund:{hall}:pay:{payment_id}"
