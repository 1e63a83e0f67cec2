"""Trading contests' client requests (PROTOCOL.md, "Trading contests").

Joining is a payment of the contest's entry fee: `contest.join.build` and
`contest.join.confirm` are `Payment` requests, carried out by the gateway
through the ledger port's entry payment into `escrow:<contest>`, after
`quote_join` says the engine would take this portfolio now. The others
become inputs the mode answers in its tick.

Checks, in the protocol's order: a field of the wrong shape (a portfolio
that is not an array of {token: str, weight_bps: int}) is `bad_request`;
then an unknown contest `not_found`, a contest past registration
`wrong_state`, a second join `duplicate`, a full contest `not_allowed`;
then the contest's own rules (whitelist, size, weights) `bad_request`.
"""

from __future__ import annotations

from arena.engine.clock import now_ms
from arena.engine.errors import BAD_REQUEST, DUPLICATE, NOT_ALLOWED, NOT_FOUND, WRONG_STATE, ArenaError
from arena.engine.mode import SIGNATURE_MAX_BYTES, GameRequest, Payment, RequestField

from . import rules
from .messages import NAME, ContestCancel, ContestCreate, ContestJoinChosen, ContestRead, ReferralRequest

ID = 64  # longest contest id a request may name
TOKEN = 64  # longest token id
MAX_ITEMS = 256  # longest array a request may carry (tokens, prizes, a portfolio)
CODE = 32
PAGE_DEFAULT = 100  # rows of a contest.rankings page, unless `limit` says
PAGE_MAX = 1_000


def portfolio_of(raw) -> tuple:
    """A request's portfolio as ((token, weight_bps), ...), or ArenaError
    (bad_request) for one of the wrong shape."""
    if not isinstance(raw, list) or not raw:
        raise ArenaError(BAD_REQUEST, "portfolio must be a non-empty array of {token, weight_bps}")
    out = []
    for item in raw:
        token = item.get("token") if isinstance(item, dict) else None
        weight = item.get("weight_bps") if isinstance(item, dict) else None
        if not isinstance(token, str) or not 0 < len(token) <= TOKEN:
            raise ArenaError(BAD_REQUEST, f"each portfolio entry needs a token (a string of 1..{TOKEN})")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight < 2**31:
            raise ArenaError(BAD_REQUEST, "each portfolio entry needs weight_bps, a non-negative integer")
        out.append((token, weight))
    return tuple(out)


def quote_join(state, wallet: str, body: dict) -> tuple[str, int]:
    """The escrow (contest) and entry fee of a join the engine would take
    now, or ArenaError. Read between ticks (build and again at confirm); the
    engine checks once more when the money arrives and refunds a join it
    cannot take."""
    portfolio = portfolio_of(body.get("portfolio"))
    shared = state.modes.get(NAME)
    c = shared.contests.get(body.get("contest")) if shared is not None else None
    if c is None:
        raise ArenaError(NOT_FOUND, f"no contest {str(body.get('contest'))[:ID]!r}")
    if c.state != "registration" or now_ms(state, state.tick) >= c.starts_at_ms:
        raise ArenaError(WRONG_STATE, f"contest {c.id} takes no entries (it is {c.state})")
    if wallet in c.entries:
        raise ArenaError(DUPLICATE, "you are in this contest already")
    if len(c.entries) >= c.max_players:
        raise ArenaError(NOT_ALLOWED, f"contest {c.id} is full ({c.max_players} players)")
    why = rules.check_portfolio(portfolio, c.tokens, c.portfolio_size, c.min_weight_bps, c.max_weight_bps)
    if why is None:
        gone = [t for t, _ in portfolio if t in shared.market.delisted]
        why = f"token {gone[0][:64]} is not listed now (token sync)" if gone else None
    if why:
        raise ArenaError(BAD_REQUEST, why)
    return c.id, c.entry_fee


def _ints(body: dict, name: str) -> tuple:
    value = body[name]
    if not all(isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63 for v in value):
        raise ArenaError(BAD_REQUEST, f"field {name!r} must be an array of integers")
    return tuple(value)


def _create(session, rid, wallet, body, at_ms, url) -> ContestCreate:
    tokens = body["tokens"]
    if not all(isinstance(t, str) and len(t) <= TOKEN for t in tokens):
        raise ArenaError(BAD_REQUEST, f"field 'tokens' must be an array of token ids (strings of at most {TOKEN})")
    return ContestCreate(session, rid, wallet, body["entry_fee"], body["starts_at_ms"], body["ends_at_ms"],
                         body["min_players"], body["max_players"], _ints(body, "prizes_bps"), body["rake_bps"],
                         tuple(tokens), body["portfolio_size"], body.get("min_weight_bps", 1),
                         body.get("max_weight_bps", 10_000))


def _read(what: str):
    def make(session, rid, wallet, body, at_ms, url) -> ContestRead:
        return ContestRead(session, rid, wallet, what, body.get("contest", ""), body.get("wallet", ""))
    return make


def _rankings_page(session, rid, wallet, body, at_ms, url) -> ContestRead:
    offset, limit = body.get("offset", 0), body.get("limit", PAGE_DEFAULT)
    if not 0 <= offset < 2**31:
        raise ArenaError(BAD_REQUEST, "offset must be a non-negative integer")
    if not 1 <= limit <= PAGE_MAX:
        raise ArenaError(BAD_REQUEST, f"limit must be 1..{PAGE_MAX}")
    return ContestRead(session, rid, wallet, "rankings", body["contest"], "", offset, limit)


def _referral(what: str):
    def make(session, rid, wallet, body, at_ms, url) -> ReferralRequest:
        return ReferralRequest(session, rid, wallet, what, body.get("code", ""))
    return make


_CONTEST = RequestField("contest", str, max_len=ID)
_PORTFOLIO = RequestField("portfolio", list, max_len=MAX_ITEMS)
_CODE = RequestField("code", str, max_len=CODE)

REQUESTS = (
    GameRequest("contest.create", (
        RequestField("entry_fee", int), RequestField("starts_at_ms", int), RequestField("ends_at_ms", int),
        RequestField("min_players", int), RequestField("max_players", int),
        RequestField("prizes_bps", list, max_len=MAX_ITEMS), RequestField("rake_bps", int),
        RequestField("tokens", list, max_len=MAX_ITEMS), RequestField("portfolio_size", int),
        RequestField("min_weight_bps", int, required=False), RequestField("max_weight_bps", int, required=False),
    ), _create, role="operator"),
    GameRequest("contest.cancel", (_CONTEST,),
                lambda session, rid, wallet, body, at_ms, url: ContestCancel(session, rid, wallet, body["contest"]),
                role="operator"),
    GameRequest("contest.get", (_CONTEST,), _read("get")),
    GameRequest("contest.watch", (_CONTEST,), _read("watch")),
    GameRequest("contest.rankings", (_CONTEST, RequestField("offset", int, required=False),
                                     RequestField("limit", int, required=False)), _rankings_page),
    GameRequest("contest.tokens", (), _read("tokens")),
    GameRequest("contest.profile", (RequestField("wallet", str, required=False, max_len=ID),), _read("profile")),
    GameRequest("referral.code", (), _referral("code")),
    GameRequest("referral.register", (_CODE,), _referral("register")),
    GameRequest("referral.click", (_CODE,), _referral("click")),
    GameRequest("referral.stats", (), _referral("stats")),
    GameRequest("contest.join.build", (_CONTEST, _PORTFOLIO), None, payment=Payment("build", quote_join)),
    GameRequest("contest.join.confirm", (_CONTEST, RequestField("tx", bytes),
                                         RequestField("signature", bytes, max_len=SIGNATURE_MAX_BYTES)),
                None, payment=Payment(
                    "confirm", quote_join,
                    paid=lambda match, wallet, amount, pid, body: ContestJoinChosen(
                        match, wallet, amount, pid, portfolio_of(body["portfolio"])),
                    receipt=lambda status, pid: {"status": status})),
)
