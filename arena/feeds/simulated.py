"""SIMULATED feeds: made-up values so every feed works with nothing installed.

THESE VALUES ARE NOT REAL. No draw took place, no market was asked, no chain
was read. They exist so that a mode that needs a feed can be played and
tested on a laptop with `[feeds] kind = "simulated"` (the default); a real
deployment configures `kind = "http"` feeds with real sources.

Every simulated answer says so: its source is named `simulated:<kind>`, its
detail is "simulated", and the service logs each one as simulated. The
values are deterministic (a hash of the query, and of a time bucket for
prices), so a test can predict them:

* `draw`: `count` distinct numbers in 1..`max` (query keys, default 6 of
  49), sorted, from a hash of the query;
* `price`: an integer price in micro-units (1e-6) per `symbol`, a
  deterministic random walk over one-minute buckets of the fetch time (or
  of the query's `at_ms`), within a few percent of a base from the symbol;
  with a `symbols` query (comma-separated), a tuple of such prices in that
  order (a market of several tokens in one answer);
* `block_height`: a simulated chain's height, growing one block per
  `block_ms` (a query key, default 400 ms) since a fixed genesis (or at the
  query's `at_ms`);
* `token_status`: 1 (listed) for every item of the query's comma-separated
  `tokens`, as a tuple: a token list that delists nothing.
"""

from __future__ import annotations

import hashlib

from .consensus import OK, Answer

SIMULATED = "simulated"
DRAW = "draw"
PRICE = "price"
BLOCK_HEIGHT = "block_height"
TOKEN_STATUS = "token_status"
KINDS = (DRAW, PRICE, BLOCK_HEIGHT, TOKEN_STATUS)

PRICE_BUCKET_MS = 60_000
WALK_STEPS = 64          # buckets whose steps make up the walk's current offset
STEP_BPS = 50            # each step moves the price at most this much
GENESIS_MS = 1_584_316_800_000
BLOCK_MS = 400


def source_name(kind: str) -> str:
    return f"{SIMULATED}:{kind}"


def _digest(*parts) -> bytes:
    text = "\x1f".join(str(p) for p in (SIMULATED, *parts))
    return hashlib.sha256(text.encode()).digest()


def _uint(*parts) -> int:
    return int.from_bytes(_digest(*parts)[:8], "big")


def _int_arg(query: dict, name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        value = default
    return min(max(value, lo), hi)


def draw(query) -> tuple[int, ...]:
    q = dict(query)
    top = _int_arg(q, "max", 49, 1, 10_000)
    count = _int_arg(q, "count", 6, 1, top)
    seed = sorted(q.items())
    picked: dict[int, None] = {}
    i = 0
    while len(picked) < count:
        picked.setdefault(1 + _uint(DRAW, seed, i) % top, None)
        i += 1
    return tuple(sorted(picked))


def price(query, now_ms: int) -> int:
    q = dict(query)
    at = _int_arg(q, "at_ms", now_ms, 0, 2**62)
    symbol = q.get("symbol", "")
    bucket = at // PRICE_BUCKET_MS
    base = 1_000_000 + _uint(PRICE, symbol) % 999_000_000  # 1 .. 1000 units, in micro-units
    offset_bps = sum(_uint(PRICE, symbol, b) % (2 * STEP_BPS + 1) - STEP_BPS
                     for b in range(bucket - WALK_STEPS + 1, bucket + 1))
    return base * (10_000 + offset_bps) // 10_000


def prices(query, now_ms: int) -> tuple[int, ...]:
    """The prices of every symbol of the query's comma-separated `symbols`,
    in that order (at most 1024, the journal's limit for a list)."""
    q = dict(query)
    symbols = [s for s in str(q.pop("symbols")).split(",") if s][:1024]
    return tuple(price({**q, "symbol": s}.items(), now_ms) for s in symbols)


def block_height(query, now_ms: int) -> int:
    q = dict(query)
    at = _int_arg(q, "at_ms", now_ms, GENESIS_MS, 2**62)
    return (at - GENESIS_MS) // _int_arg(q, "block_ms", BLOCK_MS, 1, 2**40)


def answer(kind: str, query, now_ms: int) -> Answer:
    """The simulated source's answer for a feed simulating `kind`."""
    if kind == DRAW:
        value = draw(query)
    elif kind == PRICE:
        value = prices(query, now_ms) if "symbols" in dict(query) else price(query, now_ms)
    elif kind == BLOCK_HEIGHT:
        value = block_height(query, now_ms)
    elif kind == TOKEN_STATUS:
        value = tuple(1 for t in str(dict(query).get("tokens", "")).split(",") if t)[:1024]
    else:
        raise ValueError(f"no simulation named {kind!r} (known: {', '.join(KINDS)})")
    return Answer(source_name(kind), OK, value, SIMULATED, now_ms, now_ms)
