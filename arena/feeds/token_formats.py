"""Token-list formats: a token API's answer to one row of metadata and
listing status per token the query names.

A feed source with `format = "jupiter_tokens"` reads the Jupiter Tokens
API v2 search, `GET https://lite-api.jup.ag/tokens/v2/search?query={tokens}`
(the query's `tokens`: comma-separated mint addresses; Jupiter takes up to
100 a request). It answers a JSON array of token objects; the fields read
are:

- `id`: the mint address (the object of each queried mint is found by it);
- `isVerified`: Jupiter's verification (true: the token is listed);
- `symbol`, `name`: strings (cut to 32 and 64 characters);
- `decimals`: the mint's decimals, an integer 0..18.

Everything else (`icon`, `tags`, `usdPrice`, `audit`, ...) is ignored. The
value is one row per queried mint, in the query's order:
`(listed, decimals, symbol, name)`, `listed` 1 or 0; a mint missing from
the answer is not listed (`(0, 0, "", "")`). A body that is not such an
array, or an object whose fields have the wrong types, is refused
(`DrawFormatError`, so the feed counts a failure and the last good sync
stands), never an exception out of here.
"""

from __future__ import annotations

import json

from .draw_formats import DrawFormatError

MAX_TOKENS = 1024
SYMBOL_CHARS = 32
NAME_CHARS = 64


def _tokens(query: dict) -> list[str]:
    items = [t for t in str(query.get("tokens", "")).split(",") if t]
    if not items or len(items) > MAX_TOKENS:
        raise DrawFormatError(f"the query's tokens must name 1..{MAX_TOKENS} mints")
    return items


def jupiter_tokens_url_values(query: dict) -> dict:
    _tokens(query)
    return {}


def jupiter_tokens_parse(body: bytes, query: dict):
    wanted = _tokens(query)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DrawFormatError(f"malformed JSON: {exc}") from None
    if not isinstance(doc, list):
        raise DrawFormatError("a Jupiter token search answers a JSON array of tokens")
    found = {}
    for item in doc:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise DrawFormatError("each token needs an id (its mint)")
        found.setdefault(item["id"], item)
    rows = []
    for mint in wanted:
        item = found.get(mint)
        if item is None:
            rows.append([0, 0, "", ""])
            continue
        verified, decimals = item.get("isVerified", False), item.get("decimals")
        symbol, name = item.get("symbol", ""), item.get("name", "")
        if not isinstance(verified, bool):
            raise DrawFormatError(f"token {mint[:44]}: isVerified must be true or false")
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 18:
            raise DrawFormatError(f"token {mint[:44]}: decimals must be an integer 0..18")
        if not isinstance(symbol, str) or not isinstance(name, str):
            raise DrawFormatError(f"token {mint[:44]}: symbol and name must be strings")
        rows.append([1 if verified else 0, decimals, symbol[:SYMBOL_CHARS], name[:NAME_CHARS]])
    return rows


FORMATS = {"jupiter_tokens": (jupiter_tokens_url_values, jupiter_tokens_parse)}
