"""Meme rounds' client requests (PROTOCOL.md, "Meme rounds").

`content.upload` carries its media in the frame: the gateway checks it
(`Upload.media_types`: decoded with Pillow, or probed with ffmpeg) and
stores it through the media port before the engine sees the request, so the
engine journals a URL. Deposits and purchases are `Payment` requests into
the hall's escrow (`quote_deposit`, `quote_buy` say what the engine would
take now; the engine checks once more when the money arrives and refunds
what it cannot take). The rest become inputs the mode answers in its tick.
"""

from __future__ import annotations

import hashlib
import re

from arena.engine.errors import BAD_REQUEST, NOT_ALLOWED, NOT_FOUND, WRONG_STATE, ArenaError
from arena.engine.mode import SIGNATURE_MAX_BYTES, GameRequest, Payment, RequestField, Upload

from . import economics
from .messages import (
    NAME, MarketList, MarketUnlist, MemePaid, MemeRead, MemeUpload, ViewBeat, ViewStart, ViewStop, ViewWithdraw,
)

ID = 64  # longest content id a request may name
# A wallet the ledger can pay: base58, as long as a BSV (26..35) or Solana
# (32..44) address. The ledger checks the rest when it pays.
WALLET = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{26,44}$")
TITLE = 120
MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "video/mp4", "video/webm"})


def _amount_error(lo: int, hi: int, what: str, amount) -> str | None:
    if not isinstance(amount, int) or isinstance(amount, bool) or not lo <= amount <= hi:
        return f"{what} must be an integer {lo}..{hi} (base units)"
    return None


def deposit_error(cfg, amount) -> str | None:
    """Why `amount` is not a deposit the settings allow (None: it is)."""
    return _amount_error(cfg.min_deposit, cfg.max_deposit, "amount", amount)


def price_error(cfg, price) -> str | None:
    return _amount_error(cfg.min_price, cfg.max_price, "price", price)


def _hall(state) -> str:
    shared = state.modes.get(NAME)
    hall = shared.hall if shared is not None else ""
    if not hall or hall not in state.matches:
        raise ArenaError(WRONG_STATE, "meme rounds have not opened yet: send meme.round first")
    return hall


def quote_deposit(state, wallet: str, body: dict) -> tuple[str, int]:
    hall = _hall(state)
    why = deposit_error(state.config.modes[NAME], body.get("amount"))
    if why:
        raise ArenaError(BAD_REQUEST, why)
    return hall, body["amount"]


def quote_buy(state, wallet: str, body: dict) -> tuple[str, int]:
    hall = _hall(state)
    c = state.modes[NAME].contents.get(body.get("content"))
    if c is None:
        raise ArenaError(NOT_FOUND, f"no content {str(body.get('content'))[:ID]!r}")
    if c.owner == wallet:
        raise ArenaError(NOT_ALLOWED, f"you own {c.id} already")
    if c.price < 0:
        raise ArenaError(WRONG_STATE, f"{c.id} is not for sale")
    return hall, c.price


def deposit_balance(state, wallet: str, amount: int, status: str) -> dict:
    """What `view.deposit.confirm`'s reply adds: the viewing balance once
    this deposit counts (`Payment.extra` reads the state from before the
    engine took the deposit, so it does not hold it yet)."""
    shared = state.modes.get(NAME)
    balance = shared.balances.get(wallet, 0) if shared is not None else 0
    return {"balance": balance + (amount if status == "confirmed" else 0)}


def buy_fee(state, wallet: str, amount: int, status: str) -> dict:
    """What `market.buy.build`'s reply adds: the platform's part of the price."""
    return {"fee": economics.trade_money(amount, state.config.modes[NAME].market_fee_bps)[1]}


def _upload(session, rid, wallet, body, at_ms, url) -> MemeUpload:
    title = body["title"].strip()
    if not title:
        raise ArenaError(BAD_REQUEST, "title must not be empty")
    owner = body.get("owner", "")
    if owner and not WALLET.match(owner):
        raise ArenaError(BAD_REQUEST, "owner must be a wallet address")
    if not owner and not WALLET.match(wallet):
        # The owner is paid: an uploader that is no wallet (an operator's key)
        # must name one, or the item's shares could never be settled.
        raise ArenaError(BAD_REQUEST, "owner is required: the uploader is not a wallet")
    return MemeUpload(session, rid, wallet, title, body["media_type"], url or "", len(body["media"]), owner)


def _media_key(body: dict, wallet: str, data: bytes) -> str:
    """`memes/<digest>.<ext>` (a `store_object` key): named by content, so
    storing it twice is harmless."""
    ext = body["media_type"].split("/", 1)[1]
    return f"memes/{hashlib.sha256(data).hexdigest()[:32]}.{ext}"


def _read(what: str):
    def make(session, rid, wallet, body, at_ms, url) -> MemeRead:
        return MemeRead(session, rid, wallet, what, body.get("content", ""))
    return make


def _content_input(cls):
    return lambda session, rid, wallet, body, at_ms, url: cls(session, rid, wallet, body["content"])


_CONTENT = RequestField("content", str, max_len=ID)
_PAY = (RequestField("tx", bytes), RequestField("signature", bytes, max_len=SIGNATURE_MAX_BYTES))

REQUESTS = (
    GameRequest("content.upload", (RequestField("title", str, max_len=TITLE), RequestField("media", bytes),
                                   RequestField("media_type", str, max_len=32),
                                   RequestField("owner", str, required=False, max_len=64, payee=True)),
                _upload, role="operator",
                upload=Upload(field="media", accepts=lambda state, wallet, body: 1,
                              claim=lambda body, wallet: ("meme", hashlib.sha256(body["media"]).hexdigest()),
                              media_types=MEDIA_TYPES, type_field="media_type", store_key=_media_key)),
    GameRequest("content.get", (_CONTENT,), _read("content")),
    GameRequest("meme.round", (), _read("round")),
    GameRequest("view.start", (_CONTENT,), _content_input(ViewStart), bucket="views"),
    GameRequest("view.beat", (_CONTENT,), _content_input(ViewBeat), bucket="views"),
    GameRequest("view.stop", (), lambda session, rid, wallet, body, at_ms, url: ViewStop(session, rid, wallet)),
    GameRequest("view.withdraw", (),
                lambda session, rid, wallet, body, at_ms, url: ViewWithdraw(session, rid, wallet)),
    GameRequest("market.list", (_CONTENT, RequestField("price", int)),
                lambda session, rid, wallet, body, at_ms, url: MarketList(session, rid, wallet, body["content"],
                                                                          body["price"])),
    GameRequest("market.unlist", (_CONTENT,), _content_input(MarketUnlist)),
    GameRequest("view.deposit.build", (RequestField("amount", int),), None, payment=Payment("build", quote_deposit)),
    GameRequest("view.deposit.confirm", _PAY, None, payment=Payment(
        "confirm", quote_deposit,
        paid=lambda match, wallet, amount, pid, body: MemePaid(match, wallet, amount, pid, "deposit"),
        extra=deposit_balance)),
    GameRequest("market.buy.build", (_CONTENT,), None, payment=Payment("build", quote_buy, extra=buy_fee)),
    GameRequest("market.buy.confirm", (_CONTENT, *_PAY), None, payment=Payment(
        "confirm", quote_buy,
        paid=lambda match, wallet, amount, pid, body: MemePaid(match, wallet, amount, pid, "buy", body["content"]))),
)
