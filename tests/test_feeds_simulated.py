"""The SIMULATED feeds (arena.feeds.simulated): deterministic, labelled, in range."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.feeds import simulated as S

T0 = 1_760_000_000_000


def test_draw_is_a_deterministic_function_of_the_query():
    a = S.draw((("round", "1"),))
    assert a == S.draw((("round", "1"),)) != S.draw((("round", "2"),))
    assert len(a) == 6 and len(set(a)) == 6 and list(a) == sorted(a) and all(1 <= n <= 49 for n in a)
    assert S.draw((("max", "3"), ("count", "3"))) == (1, 2, 3)
    assert len(S.draw((("count", "oops"),))) == 6  # a bad number falls back to the default


@given(st.text(max_size=8), st.integers(min_value=0, max_value=10**13))
def test_price_is_a_bounded_walk_over_minute_buckets(symbol, at):
    q = (("symbol", symbol),)
    p = S.price(q, at)
    assert isinstance(p, int) and p > 0
    base = 1_000_000 + S._uint(S.PRICE, symbol) % 999_000_000
    limit = base * S.WALK_STEPS * S.STEP_BPS // 10_000 + 1
    assert abs(p - base) <= limit
    bucket_start = at - at % S.PRICE_BUCKET_MS
    assert S.price(q, bucket_start) == p == S.price(q, bucket_start + S.PRICE_BUCKET_MS - 1)  # one per bucket
    assert S.price(q + (("at_ms", str(at)),), 0) == p  # the query's time wins over the fetch time


def test_block_height_grows_with_time():
    assert S.block_height((), S.GENESIS_MS) == 0
    assert S.block_height((), T0 + 400) == S.block_height((), T0) + 1
    assert S.block_height((("at_ms", str(S.GENESIS_MS + 4000)),), T0) == 10


def test_every_answer_says_it_is_simulated():
    for kind in S.KINDS:
        a = S.answer(kind, (("symbol", "SOL"),), T0)
        assert a.source == f"simulated:{kind}" and a.detail == "simulated" and a.ok
        assert a.fetched_at_ms == a.observed_at_ms == T0
    with pytest.raises(ValueError, match="no simulation named 'weather'"):
        S.answer("weather", (), T0)
