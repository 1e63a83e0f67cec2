"""The lottery's client requests (PROTOCOL.md, "Lottery").

Bets are payments whose amount the bettor chooses: `lottery.bet.build` and
`lottery.bet.confirm` are `Payment` requests, carried out by the gateway
through the ledger port's entry payment into `escrow:<round>`, after
`quote_bet` says the engine would take the bet now. The others become
inputs the mode answers in its tick.
"""

from __future__ import annotations

from arena.engine.clock import now_ms
from arena.engine.errors import BAD_REQUEST, NOT_FOUND, WRONG_STATE, ArenaError
from arena.engine.mode import SIGNATURE_MAX_BYTES, GameRequest, Payment, RequestField

from . import book
from .messages import NAME, LotteryBetChosen, LotteryClaim, LotteryCreate, LotteryRead, bet_id

ID = 64  # longest round id a request may name


def amount_error(cfg, amount) -> str | None:
    """Why `amount` is not a stake the settings allow (None: it is)."""
    if not isinstance(amount, int) or isinstance(amount, bool) or not cfg.min_bet <= amount <= cfg.max_bet:
        return f"amount must be an integer {cfg.min_bet}..{cfg.max_bet} (base units)"
    return None


def quote_bet(state, wallet: str, body: dict) -> tuple[str, int]:
    """The escrow (round) and amount of a bet the engine would take now, or
    ArenaError. Read between ticks (build and again at confirm); the engine
    checks once more when the money arrives and refunds a bet it cannot take."""
    shared = state.modes.get(NAME)
    r = shared.rounds.get(body.get("round")) if shared is not None else None
    if r is None:
        raise ArenaError(NOT_FOUND, f"no lottery round {str(body.get('round'))[:ID]!r}")
    if r.state != "open" or now_ms(state, state.tick) >= r.lock_time_ms:
        raise ArenaError(WRONG_STATE, f"round {r.id} takes no bets (it is {r.state})")
    if body.get("side") not in book.SIDES:
        raise ArenaError(BAD_REQUEST, "side must be yes or no")
    why = amount_error(state.config.modes[NAME], body.get("amount"))
    if why:
        raise ArenaError(BAD_REQUEST, why)
    return r.id, body["amount"]


def _create(session, rid, wallet, body, at_ms, url) -> LotteryCreate:
    # The proposition is a map: its values are checked by the engine (and
    # journaled as they came), here only made plain.
    prop = body["proposition"]
    kind = prop.get("kind")
    threshold = prop.get("threshold", -1)
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not -1 <= threshold < 2**31:
        raise ArenaError(BAD_REQUEST, "proposition threshold must be a non-negative integer")
    return LotteryCreate(session, rid, wallet, body["game"], body["draw_time_ms"],
                         kind if isinstance(kind, str) else "", threshold)


def _read(what: str):
    def make(session, rid, wallet, body, at_ms, url) -> LotteryRead:
        return LotteryRead(session, rid, wallet, what, body.get("round", ""))
    return make


_ROUND = RequestField("round", str, max_len=ID)

REQUESTS = (
    GameRequest("lottery.create", (RequestField("game", str, max_len=32), RequestField("draw_time_ms", int),
                                   RequestField("proposition", dict)), _create, role="operator"),
    GameRequest("lottery.round", (_ROUND,), _read("round")),
    GameRequest("lottery.watch", (_ROUND,), _read("watch")),
    GameRequest("lottery.pool", (_ROUND,), _read("pool")),
    GameRequest("lottery.my_bets", (RequestField("round", str, required=False, max_len=ID),), _read("my_bets")),
    GameRequest("lottery.stats", (), _read("stats")),
    GameRequest("lottery.claim", (_ROUND,),
                lambda session, rid, wallet, body, at_ms, url: LotteryClaim(session, rid, wallet, body["round"])),
    GameRequest("lottery.bet.build", (_ROUND, RequestField("side", str, max_len=8), RequestField("amount", int)),
                None, payment=Payment("build", quote_bet)),
    GameRequest("lottery.bet.confirm", (_ROUND, RequestField("tx", bytes), RequestField("signature", bytes, max_len=SIGNATURE_MAX_BYTES)),
                None, payment=Payment(
                    "confirm", quote_bet,
                    paid=lambda match, wallet, amount, pid, body: LotteryBetChosen(match, wallet, amount, pid,
                                                                                 body["side"]),
                    receipt=lambda status, pid: {"status": status, "bet": bet_id(pid)})),
)
