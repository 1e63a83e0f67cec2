"""Consensus rules: from the sources' answers to one value, or none.

Sans-IO and deterministic: a rule sees the answers collected so far and the
time, and says whether they decide a value. The feed side task calls it after
every round of fetching; it keeps asking (within the feed's deadline) while
the rule decides nothing.

* `agree` (k-of-n): at least `k` fresh answers carry the same value. For
  draw results: a value two of three independent sources report is the
  value, and a lying or broken source is outvoted (and recorded).
* `median`: integer values (prices in base units, e.g. micro-USD). The fresh
  answers' median is taken, answers more than `max_deviation_bps` away from
  it are dropped as outliers, and the median of what is left is the value,
  if at least `min_sources` are left.
  A source may answer a vector (a tuple of integers: the prices of several
  tokens in one response, in the order the query named them): then every
  position is decided on its own, as above, and an answer is an outlier
  only at the positions where it is one (`median_each`).
* `first`: the first fresh answer, in the sources' configured order (for a
  single trusted source).

Integer arithmetic only: the engine never sees a float, and a median of two
middle values is their mean rounded down.

Every rule returns the answers annotated (`detail` says "outlier", "stale",
"disagrees"), so the journaled result shows why each answer counted or not.
"""

from __future__ import annotations

from collections import Counter

import attrs
from attrs import field, frozen

from arena.engine.config import bps, non_negative, positive
from arena.engine.outputs import freeze

OK = "ok"
ERROR = "error"
TIMEOUT = "timeout"
STALE = "stale"
RATE_LIMITED = "rate_limited"
CIRCUIT_OPEN = "circuit_open"
ANSWER_STATUSES = (OK, ERROR, TIMEOUT, STALE, RATE_LIMITED, CIRCUIT_OPEN)

AGREE = "agree"
MEDIAN = "median"
FIRST = "first"
RULES = (AGREE, MEDIAN, FIRST)

BPS = 10_000


@frozen
class Answer:
    """One source's answer to one fetch.

    `value` is plain data (str, int, bool, tuples of them) or None;
    `detail` is the error text for a failed answer, or a note ("simulated",
    "outlier ..."); `observed_at_ms` is the source's own timestamp of the
    value (0: it gave none, and `fetched_at_ms` counts for staleness).
    """

    source: str
    status: str = field(validator=attrs.validators.in_(ANSWER_STATUSES))
    value: object = field(default=None, converter=freeze)
    detail: str = ""
    fetched_at_ms: int = field(default=0, validator=non_negative)
    observed_at_ms: int = field(default=0, validator=non_negative)

    @property
    def ok(self) -> bool:
        return self.status == OK

    def as_tuple(self) -> tuple:
        """The journaled form: (source, status, value, detail, fetched_at_ms, observed_at_ms)."""
        return (self.source, self.status, self.value, self.detail, self.fetched_at_ms, self.observed_at_ms)

    @classmethod
    def from_tuple(cls, t) -> Answer:
        return cls(*t)

    def age_ms(self, now_ms: int) -> int:
        return now_ms - (self.observed_at_ms or self.fetched_at_ms)


@frozen
class Decision:
    """What a rule made of the answers: `decided` with `value`, or not (yet).
    `answers` are the inputs annotated with why each counted or not."""

    decided: bool
    value: object = None
    answers: tuple[Answer, ...] = ()


@frozen
class Rule:
    """A feed's consensus rule and its parameters (from its config table).

    `max_age_ms` 0: answers never go stale. `k` is for `agree`,
    `max_deviation_bps` and `min_sources` for `median`.
    """

    kind: str = field(default=AGREE, validator=attrs.validators.in_(RULES))
    k: int = field(default=1, validator=positive)
    max_deviation_bps: int = field(default=200, validator=bps)
    max_age_ms: int = field(default=0, validator=non_negative)
    min_sources: int = field(default=1, validator=positive)

    def decide(self, answers, now_ms: int) -> Decision:
        _, marked = mark_stale(answers, now_ms, self.max_age_ms)
        if self.kind == AGREE:
            return agree(marked, self.k)
        if self.kind == MEDIAN:
            return median(marked, self.max_deviation_bps, self.min_sources)
        return first(marked)


def mark_stale(answers, now_ms: int, max_age_ms: int) -> tuple[list[Answer], tuple[Answer, ...]]:
    """(the fresh ok answers, all answers with the too-old ones marked stale)."""
    marked = []
    for a in answers:
        if a.ok and max_age_ms > 0 and a.age_ms(now_ms) > max_age_ms:
            a = attrs.evolve(a, status=STALE, detail=f"{a.age_ms(now_ms)} ms old (limit {max_age_ms})")
        marked.append(a)
    return [a for a in marked if a.ok], tuple(marked)


def agree(answers, k: int) -> Decision:
    """Decided when one value has at least `k` ok answers and no other value
    has as many (two values tied at k or more decide nothing)."""
    answers = tuple(answers)
    counts = Counter(a.value for a in answers if a.ok)
    ranked = counts.most_common(2)
    if not ranked or ranked[0][1] < k or (len(ranked) == 2 and ranked[1][1] == ranked[0][1]):
        return Decision(False, None, answers)
    value = ranked[0][0]
    noted = tuple(attrs.evolve(a, detail="disagrees") if a.ok and a.value != value else a for a in answers)
    return Decision(True, value, noted)


def int_median(values: list[int]) -> int:
    """The median of integers; of an even count, the two middle values' mean rounded down."""
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) // 2


def deviation_bps(value: int, reference: int) -> int:
    """How far `value` is from `reference`, in basis points of the reference
    (rounded up, so a value is never let in by rounding). A zero reference:
    0 for an equal value, else beyond any limit."""
    diff = abs(value - reference)
    if reference == 0:
        return 0 if diff == 0 else BPS * BPS
    return -(-diff * BPS // abs(reference))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int_vector(value) -> bool:
    return isinstance(value, tuple) and bool(value) and all(_is_int(v) for v in value)


def median(answers, max_deviation_bps: int, min_sources: int) -> Decision:
    """The median of the ok integer answers within `max_deviation_bps` of
    their median, if at least `min_sources` of them are left. Vector answers
    (tuples of integers) are decided position by position (`median_each`)."""
    if any(a.ok and isinstance(a.value, tuple) for a in answers):
        return median_each(answers, max_deviation_bps, min_sources)
    answers = tuple(
        attrs.evolve(a, status=ERROR, detail="not an integer") if a.ok and not _is_int(a.value) else a
        for a in answers)
    ok = [a for a in answers if a.ok]
    if len(ok) < min_sources:
        return Decision(False, None, answers)
    centre = int_median([a.value for a in ok])
    kept, noted = [], []
    for a in answers:
        if a.ok:
            dev = deviation_bps(a.value, centre)
            if dev > max_deviation_bps:
                a = attrs.evolve(a, detail=f"outlier: {dev} bps from median {centre}")
            else:
                kept.append(a.value)
        noted.append(a)
    if len(kept) < min_sources:
        return Decision(False, None, tuple(noted))
    return Decision(True, int_median(kept), tuple(noted))


def median_each(answers, max_deviation_bps: int, min_sources: int) -> Decision:
    """Vector answers: each position's value is the median of the ok answers
    at that position within `max_deviation_bps` of their median, and the
    vector is decided only if every position keeps `min_sources` answers.
    The vector length is that of the first ok vector answer; an ok answer of
    another length, or with a non-integer, is an error (so one broken source
    cannot shift the positions of the others)."""
    first_ok = next((a for a in answers if a.ok and _is_int_vector(a.value)), None)
    size = len(first_ok.value) if first_ok is not None else 0
    answers = tuple(
        attrs.evolve(a, status=ERROR, detail=f"not a vector of {size} integers")
        if a.ok and not (_is_int_vector(a.value) and len(a.value) == size) else a
        for a in answers)
    ok = [a for a in answers if a.ok]
    if size == 0 or len(ok) < min_sources:
        return Decision(False, None, answers)
    values, outliers = [], {}
    for i in range(size):
        column = [a.value[i] for a in ok]
        centre = int_median(column)
        kept = []
        for a in ok:
            dev = deviation_bps(a.value[i], centre)
            if dev > max_deviation_bps:
                outliers.setdefault(a.source, []).append(f"{i}: {dev} bps")
            else:
                kept.append(a.value[i])
        if len(kept) < min_sources:
            values = None
            break
        values.append(int_median(kept))
    noted = tuple(attrs.evolve(a, detail="outlier at " + ", ".join(outliers[a.source][:8]))
                  if a.ok and a.source in outliers else a for a in answers)
    if values is None:
        return Decision(False, None, noted)
    return Decision(True, tuple(values), noted)


def first(answers) -> Decision:
    answers = tuple(answers)
    for a in answers:
        if a.ok:
            return Decision(True, a.value, answers)
    return Decision(False, None, answers)
