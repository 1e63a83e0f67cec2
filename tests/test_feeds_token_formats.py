"""The token-list format `jupiter_tokens` (arena/feeds/token_formats.py):
the Jupiter Tokens API v2 search's JSON, one row per queried mint, and
every malformed body refused as an error answer, never an exception."""

from __future__ import annotations

import json

import pytest

from arena.config import FeedSourceConfig
from arena.feeds.consensus import ERROR, OK
from arena.feeds.sources import fill_url, parse_response
from arena.feeds.token_formats import jupiter_tokens_parse

A, B, C = "So11111111111111111111111111111111111111112", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", "X" * 43
QUERY = (("tokens", f"{A},{B},{C}"),)
SOURCE = FeedSourceConfig(name="jupiter", format="jupiter_tokens",
                          url="https://lite-api.jup.ag/tokens/v2/search?query={tokens}")


def _token(mint, **kw):
    return {"id": mint, "name": "Wrapped SOL", "symbol": "SOL", "icon": "https://x/i.png", "decimals": 9,
            "tags": ["verified", "community"], "isVerified": True, "usdPrice": 142.5, "organicScore": 98.5,
            "audit": {"mintAuthorityDisabled": True}, **kw}


def test_rows_in_the_querys_order_missing_ones_not_listed():
    body = json.dumps([_token(B, symbol="JUP", name="Jupiter", decimals=6, isVerified=False), _token(A)]).encode()
    answer, _ = parse_response(SOURCE, 200, {}, body, 5, query=QUERY)
    assert answer.status == OK
    assert answer.value == ((1, 9, "SOL", "Wrapped SOL"), (0, 6, "JUP", "Jupiter"), (0, 0, "", ""))
    assert fill_url(SOURCE.url, QUERY, SOURCE.format) == \
        f"https://lite-api.jup.ag/tokens/v2/search?query={A}%2C{B}%2C{C}"


def test_long_strings_are_cut_and_a_token_answered_twice_counts_once():
    body = json.dumps([_token(A, symbol="S" * 100, name="N" * 500), _token(A, isVerified=False)]).encode()
    [row] = jupiter_tokens_parse(body, {"tokens": A})
    assert row == [1, 9, "S" * 32, "N" * 64]


@pytest.mark.parametrize("body", [
    b"not json", b'{"data": []}', b"[1, 2]", json.dumps([{"name": "no id"}]).encode(),
    json.dumps([_token(A, decimals="9")]).encode(), json.dumps([_token(A, decimals=40)]).encode(),
    json.dumps([_token(A, isVerified="yes")]).encode(), json.dumps([_token(A, symbol=5)]).encode(),
    json.dumps([_token(A, decimals=True)]).encode(), b"\xff\xfe",
])
def test_malformed_bodies_are_error_answers(body):
    answer, _ = parse_response(SOURCE, 200, {}, body, 5, query=QUERY)
    assert answer.status == ERROR and answer.value is None


def test_a_query_without_tokens_is_refused():
    answer, _ = parse_response(SOURCE, 200, {}, b"[]", 5, query=(("tokens", ""),))
    assert answer.status == ERROR
