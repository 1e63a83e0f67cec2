"""Consensus rules (arena.feeds.consensus): sans-IO, integer-only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.feeds.consensus import (
    ERROR, OK, STALE, TIMEOUT, Answer, Rule, agree, deviation_bps, first, int_median, mark_stale, median,
)

NOW = 1_700_000_000_000


def ok(source: str, value, at: int = NOW, observed: int = 0) -> Answer:
    return Answer(source, OK, value, "", at, observed)


def test_agree_two_of_three_outvotes_a_liar_and_records_it():
    answers = [ok("a", (3, 14, 15)), ok("b", (9, 9, 9)), ok("c", [3, 14, 15])]  # lists freeze to tuples
    d = agree(answers, 2)
    assert d.decided and d.value == (3, 14, 15)
    assert [a.detail for a in d.answers] == ["", "disagrees", ""]
    assert d.answers[1].value == (9, 9, 9)  # the liar's answer is kept, with its value


def test_agree_needs_k_equal_answers():
    assert not agree([ok("a", 1), ok("b", 2), ok("c", 3)], 2).decided
    assert not agree([ok("a", 1), Answer("b", ERROR, None, "HTTP 500"), Answer("c", TIMEOUT)], 2).decided
    assert agree([ok("a", 1), Answer("b", ERROR, None, "HTTP 500"), ok("c", 1)], 2).value == 1


def test_agree_two_values_tied_at_k_decide_nothing():
    assert not agree([ok("a", 1), ok("b", 1), ok("c", 2), ok("d", 2)], 2).decided
    assert agree([ok("a", 1), ok("b", 1), ok("c", 2), ok("d", 1)], 2).value == 1


def test_median_drops_outliers_and_needs_min_sources():
    answers = [ok("a", 100_000_000), ok("b", 100_500_000), ok("c", 150_000_000)]
    d = median(answers, max_deviation_bps=200, min_sources=2)
    assert d.decided and d.value == (100_000_000 + 100_500_000) // 2
    assert d.answers[2].detail.startswith("outlier: ")
    # With three needed, the outlier leaves too few.
    assert not median(answers, max_deviation_bps=200, min_sources=3).decided


def test_median_refuses_non_integers():
    d = median([ok("a", "1.5"), ok("b", 7)], max_deviation_bps=100, min_sources=1)
    assert d.decided and d.value == 7
    assert d.answers[0].status == ERROR and d.answers[0].detail == "not an integer"
    assert not median([ok("a", True)], 100, 1).decided  # a bool is not a price


def test_staleness_uses_the_source_timestamp_when_given():
    fresh = ok("a", 10, at=NOW, observed=NOW - 1_000)
    old_by_source = ok("b", 10, at=NOW, observed=NOW - 120_000)
    old_fetch = ok("c", 10, at=NOW - 120_000)
    kept, marked = mark_stale([fresh, old_by_source, old_fetch], NOW, 60_000)
    assert kept == [fresh]
    assert [a.status for a in marked] == [OK, STALE, STALE]
    assert "120000 ms old" in marked[1].detail
    assert mark_stale([old_fetch], NOW, 0)[0] == [old_fetch]  # 0: never stale


def test_rule_applies_staleness_before_deciding():
    rule = Rule(kind="median", max_age_ms=60_000, min_sources=2, max_deviation_bps=500)
    answers = [ok("a", 100), ok("b", 101), ok("c", 100, observed=NOW - 61_000)]
    d = rule.decide(answers, NOW)
    assert d.decided and d.value == 100
    assert d.answers[2].status == STALE
    assert not rule.decide(answers[1:], NOW).decided


def test_first_takes_the_first_ok_in_source_order():
    d = first([Answer("a", TIMEOUT), ok("b", 5), ok("c", 6)])
    assert d.decided and d.value == 5
    assert not first([Answer("a", ERROR, None, "x")]).decided
    assert Rule(kind="first").decide([ok("z", "x")], NOW).value == "x"


def test_integer_helpers():
    assert int_median([3, 1, 2]) == 2
    assert int_median([1, 2]) == 1 and int_median([-3, -2]) == -3  # floor of the mean
    assert deviation_bps(102, 100) == 200
    assert deviation_bps(301, 300) == 34  # rounded up: 33.3.. -> 34
    assert deviation_bps(0, 0) == 0 and deviation_bps(1, 0) > 10_000


def test_values_are_checked():
    with pytest.raises(ValueError, match="status"):
        Answer("a", "fine")
    with pytest.raises(ValueError, match="kind"):
        Rule(kind="mean")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        Rule(k=0)
    assert Answer.from_tuple(ok("a", [1, 2]).as_tuple()) == ok("a", (1, 2))


prices = st.lists(st.integers(min_value=1, max_value=10**15), min_size=1, max_size=12)


@given(prices, st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=5))
def test_median_of_kept_answers_lies_within_them(values, bps, min_sources):
    answers = [ok(f"s{i}", v) for i, v in enumerate(values)]
    d = median(answers, bps, min_sources)
    centre = int_median(values)
    kept = [v for v in values if deviation_bps(v, centre) <= bps]
    if len(kept) >= min_sources:
        assert d.decided and min(kept) <= d.value <= max(kept)
    else:
        assert not d.decided
    outliers = [a for a in d.answers if a.detail.startswith("outlier")]
    # Too few answers to start with: nothing is judged an outlier.
    assert len(outliers) == (len(values) - len(kept) if len(values) >= min_sources else 0)
    assert all(deviation_bps(a.value, centre) > bps for a in outliers)


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=9), st.integers(min_value=1, max_value=9))
def test_agree_decides_only_a_value_k_sources_gave(values, k):
    d = agree([ok(f"s{i}", v) for i, v in enumerate(values)], k)
    if d.decided:
        assert values.count(d.value) >= k
        assert all(values.count(v) < values.count(d.value) for v in set(values) - {d.value})
    else:
        counts = sorted((values.count(v) for v in set(values)), reverse=True)
        assert counts[0] < k or (len(counts) > 1 and counts[0] == counts[1])
