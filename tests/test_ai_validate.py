"""Validation of model replies: never trusted when invalid, never raises out."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.ai.port import COMMENTARY_MAX, PROMPT_MAX, RoastScore
from arena.ai.validate import (
    SCORE_FIELDS,
    SCORE_SCHEMA,
    InvalidReply,
    message_content,
    parse_prompt,
    parse_score,
    same_prompt,
)

DIMS = ("savagery", "creativity", "delivery", "relevance")


def good(**over):
    obj = {"savagery": 7, "creativity": 6, "delivery": 5, "relevance": 4, "total": 22,
           "commentary": "Crisp and cruel."}
    obj.update(over)
    return obj


def is_valid_score_object(obj) -> bool:
    """The contract, restated independently of the implementation."""
    if not isinstance(obj, dict) or set(obj) != set(SCORE_FIELDS):
        return False
    pts = [obj[d] for d in DIMS]
    if not all(type(v) is int and 0 <= v <= 10 for v in pts):
        return False
    if type(obj["total"]) is not int or obj["total"] != sum(pts):
        return False
    c = obj["commentary"]
    return isinstance(c, str) and any(ch.isprintable() and not ch.isspace() for ch in c)


# --- scores: examples ---------------------------------------------------------------


def test_a_good_reply_is_trusted():
    s = parse_score(json.dumps(good()))
    assert isinstance(s, RoastScore)
    assert (s.savagery, s.creativity, s.delivery, s.relevance) == (7, 6, 5, 4)
    assert s.total == 22 and s.commentary == "Crisp and cruel." and s.judge == "openai"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "",
        "{",
        "[]",
        "null",
        "42",
        '"a string"',
        json.dumps({k: v for k, v in good().items() if k != "relevance"}),  # missing field
        json.dumps({k: v for k, v in good().items() if k != "total"}),
        json.dumps({k: v for k, v in good().items() if k != "commentary"}),
        json.dumps(good(savagery=11, total=26)),  # out of range
        json.dumps(good(savagery=-1, total=14)),
        json.dumps(good(total=23)),  # does not add up
        json.dumps(good(total="22")),
        json.dumps(good(savagery=7.0)),  # a float is not an integer
        json.dumps(good(savagery=True, total=16)),  # nor is a boolean
        json.dumps(good(savagery="7")),
        json.dumps(good(savagery=None)),
        json.dumps(good(commentary=5)),
        json.dumps(good(commentary="   \n\t ")),
        json.dumps(good(commentary=None)),
        json.dumps(good(bonus=3)),  # not in the strict schema
        '{"savagery": NaN, "creativity": 1, "delivery": 1, "relevance": 1, "total": 3, "commentary": "x"}',
        "[" * 100_000,  # deep nesting
        "x" * 100_000,  # far too long
    ],
)
def test_invalid_replies_are_never_trusted(content):
    with pytest.raises(InvalidReply):
        parse_score(content)


@pytest.mark.parametrize("content", [None, 42, b'{"a": 1}', ["x"], {"savagery": 1}])
def test_non_text_replies_are_invalid(content):
    with pytest.raises(InvalidReply):
        parse_score(content)


def test_commentary_is_squashed_to_one_short_line():
    s = parse_score(json.dumps(good(commentary="line one\nline two\r\n" + "x " * 300)))
    assert len(s.commentary.splitlines()) == 1
    assert len(s.commentary) <= COMMENTARY_MAX
    assert s.commentary.startswith("line one line two")


def test_schema_is_strict_and_matches_the_fields():
    assert SCORE_SCHEMA["additionalProperties"] is False
    assert set(SCORE_SCHEMA["required"]) == set(SCORE_SCHEMA["properties"]) == set(SCORE_FIELDS)
    for d in DIMS:
        assert SCORE_SCHEMA["properties"][d]["type"] == "integer"


# --- scores: properties ------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-50, 50) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)
field_values = st.one_of(
    st.integers(-3, 13), st.floats(-1, 12), st.booleans(), st.none(), st.text(max_size=20),
    st.just("7"), st.lists(st.integers(0, 10), max_size=2),
)


@st.composite
def score_like(draw):
    """Objects close to a score reply: right keys mostly, values anything."""
    obj = {}
    for f in SCORE_FIELDS:
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing field
        if f == "commentary":
            obj[f] = draw(st.one_of(st.text(max_size=250), field_values))
        elif f == "total" and draw(st.booleans()):
            pts = [obj.get(d) for d in DIMS]
            obj[f] = sum(p for p in pts if type(p) is int) + draw(st.sampled_from([0, 0, 0, 1, -1]))
        else:
            obj[f] = draw(st.one_of(st.integers(0, 10), field_values))
    if draw(st.integers(0, 9)) == 0:
        obj[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    return obj


@settings(max_examples=400, deadline=None)
@given(score_like())
def test_score_objects_are_trusted_exactly_when_valid(obj):
    content = json.dumps(obj)
    try:
        s = parse_score(content)
    except InvalidReply:
        assert not is_valid_score_object(obj)
        return
    assert is_valid_score_object(obj)
    assert (s.savagery, s.creativity, s.delivery, s.relevance) == tuple(obj[d] for d in DIMS)
    assert s.total == obj["total"]
    assert len(s.commentary.splitlines()) == 1 and 0 < len(s.commentary) <= COMMENTARY_MAX


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values.map(json.dumps), st.text(max_size=300), json_values))
def test_arbitrary_replies_never_raise_anything_but_invalid_reply(content):
    try:
        s = parse_score(content)
    except InvalidReply:
        return
    assert isinstance(s, RoastScore)
    assert all(type(getattr(s, d)) is int and 0 <= getattr(s, d) <= 10 for d in DIMS)


# --- completions: shape -------------------------------------------------------------


def completion(content="hi", refusal=None, finish_reason="stop"):
    msg = SimpleNamespace(content=content, refusal=refusal)
    return SimpleNamespace(choices=[SimpleNamespace(message=msg, finish_reason=finish_reason)])


def test_message_content_reads_the_first_choice():
    assert message_content(completion("hello")) == "hello"


class Exploding:
    @property
    def choices(self):
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    "obj",
    [
        None, "a string", [1, 2], {"choices": []}, SimpleNamespace(choices=None),
        SimpleNamespace(choices=[]), SimpleNamespace(choices=[SimpleNamespace()]),
        completion(None), completion(42), completion("x", refusal="I can't help with that"),
        completion('{"savagery": ', finish_reason="length"), Exploding(),
    ],
)
def test_odd_completions_are_invalid(obj):
    with pytest.raises(InvalidReply):
        message_content(obj)


# --- prompts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("Roast your opponent as a haunted vending machine.", "Roast your opponent as a haunted vending machine."),
        ('  "Roast your opponent as a haunted vending machine."  \n',
         "Roast your opponent as a haunted vending machine."),
        ("Prompt: Roast your opponent's spice tolerance.", "Roast your opponent's spice tolerance."),
        ("1. Roast your opponent's spice tolerance.", "Roast your opponent's spice tolerance."),
        ("“Roast your opponent's playlist.”", "Roast your opponent's playlist."),
    ],
)
def test_good_prompts_are_cleaned_lightly(raw, expected):
    assert parse_prompt(raw) == expected


USED = ("Roast your opponent's taste in music.", "Roast your opponent at the gym.")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "Roast.",
        "Roast your opponent's taste in music.\nOr their shoes.",
        "Roast your opponent's\r\ncooking.",
        "x" * (PROMPT_MAX + 1),
        "Roast your opponent " + "very " * 50 + "much.",
        "Roast your opponent's \x00 cooking skills.",
        "1234567890 !!!! ????",
        "roast your opponent's TASTE in music",  # a repeat, differently written
        "Roast your opponent at the gym!",
        None,
        42,
    ],
)
def test_bad_prompts_are_rejected(raw):
    with pytest.raises(InvalidReply):
        parse_prompt(raw, USED)


def test_same_prompt_ignores_case_and_punctuation():
    assert same_prompt("Roast your opponent's gym.", "roast your opponents GYM")
    assert not same_prompt("Roast your opponent's gym.", "Roast your opponent's gym bag.")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), json_values), st.lists(st.text(max_size=60), max_size=4))
def test_prompt_parsing_never_raises_out(raw, used):
    try:
        p = parse_prompt(raw, tuple(used))
    except InvalidReply:
        return
    assert isinstance(p, str)
    assert 10 <= len(p) <= PROMPT_MAX
    assert len(p.splitlines()) == 1 and p == p.strip()
    assert all(ch.isprintable() for ch in p)
    assert not any(same_prompt(p, u) for u in used)
