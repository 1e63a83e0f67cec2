"""The embedded judge: prompt bank, heuristic scoring, and the port helpers."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.ai.embedded import AUDIO_ONLY_COMMENTARY, EmbeddedJudge
from arena.ai.heuristics import (
    BLOCKED_SAVAGERY_CAP,
    EMPTY_COMMENTARY,
    score_text,
)
from arena.ai.port import (
    COMMENTARY_MAX,
    Judge,
    RoastScore,
    answer_prompt,
    answer_score,
    one_line,
)
from arena.ai.prompts import PROMPTS, pick_prompt
from arena.engine.inputs import from_record, to_record
from arena.modes.roast.messages import PromptGenerated, RoastScored
from arena.modes.roast.messages import GeneratePrompt, ScoreRoast

MUSIC = "Roast your opponent's taste in music."
ON_TOPIC = (
    "Your taste in music is so bad that even the algorithm gave up on you. "
    "Your playlist sounds like a dial-up modem having a breakdown. Tragic!"
)
OFF_TOPIC = "The weather today is nice and I had pasta for lunch with a friend."

DIMS = ("savagery", "creativity", "delivery", "relevance")


def assert_valid(s: RoastScore) -> None:
    for d in DIMS:
        v = getattr(s, d)
        assert type(v) is int, (d, v)
        assert 0 <= v <= 10, (d, v)
    assert s.total == sum(getattr(s, d) for d in DIMS)
    assert type(s.total) is int
    assert s.commentary.strip()
    assert len(s.commentary.splitlines()) == 1
    assert len(s.commentary) <= COMMENTARY_MAX
    assert s.judge == "embedded"


# --- prompt bank ----------------------------------------------------------------


def test_bank_is_large_and_has_no_duplicates():
    assert len(PROMPTS) >= 60
    assert len(set(PROMPTS)) == len(PROMPTS)
    assert len({p.casefold() for p in PROMPTS}) == len(PROMPTS)
    for p in PROMPTS:
        assert p.strip() == p and p
        assert len(p.splitlines()) == 1
        assert len(p) <= 200


def test_pick_prompt_is_deterministic():
    for seed in (0, 1, 42, 2**64 + 7, 2**127):
        for rnd in (1, 2, 3):
            assert pick_prompt(seed, rnd, ()) == pick_prompt(seed, rnd, ())
            assert pick_prompt(seed, rnd, ()) in PROMPTS


def test_pick_prompt_varies_with_seed_and_round():
    picks = {pick_prompt(seed, rnd, ()) for seed in range(20) for rnd in (1, 2, 3)}
    assert len(picks) > 20


def test_pick_prompt_avoids_used():
    for seed in range(30):
        used: tuple[str, ...] = ()
        for rnd in range(1, 4):
            p = pick_prompt(seed, rnd, used)
            assert p not in used
            used += (p,)
        assert len(set(used)) == 3


def test_pick_prompt_walks_the_whole_bank_before_repeating():
    used: tuple[str, ...] = ()
    for rnd in range(len(PROMPTS)):
        p = pick_prompt(7, rnd, used)
        assert p not in used
        used += (p,)
    assert set(used) == set(PROMPTS)
    # Exhausted: still answers, from the bank, deterministically.
    again = pick_prompt(7, 999, used)
    assert again in PROMPTS
    assert again == pick_prompt(7, 999, used)


def test_pick_prompt_only_one_left():
    last = PROMPTS[17]
    used = tuple(p for p in PROMPTS if p != last)
    assert pick_prompt(3, 1, used) == last


@given(st.integers(), st.integers(), st.lists(st.sampled_from(PROMPTS), max_size=10))
def test_pick_prompt_any_seed(seed, rnd, used):
    p = pick_prompt(seed, rnd, tuple(used))
    assert p in PROMPTS and p not in used


# --- scoring ----------------------------------------------------------------------


def test_scores_in_range_and_deterministic():
    for text in (ON_TOPIC, OFF_TOPIC, "lol", "you", "x" * 50_000, "word " * 3000):
        a = score_text(MUSIC, text)
        b = score_text(MUSIC, text)
        assert a == b
        assert_valid(a)


def test_well_aimed_roast_is_more_relevant_than_off_topic():
    on = score_text(MUSIC, ON_TOPIC)
    off = score_text(MUSIC, OFF_TOPIC)
    assert on.relevance > off.relevance
    assert on.relevance >= 8
    assert off.relevance <= 2
    assert on.total > off.total


def test_relevance_follows_the_prompt():
    text = "Your cooking is so tragic even the smoke alarm cheers you on every night."
    assert score_text("Roast your opponent's cooking skills.", text).relevance > score_text(
        "Roast your opponent as a medieval knight.", text
    ).relevance


def test_a_real_roast_beats_a_one_word_answer():
    real = score_text(MUSIC, ON_TOPIC)
    lazy = score_text(MUSIC, "music")
    assert real.delivery > lazy.delivery
    assert real.creativity > lazy.creativity
    assert real.savagery > lazy.savagery
    assert lazy.delivery <= 1


def test_wall_of_text_is_penalised():
    wall = " ".join(["your music taste is bad"] * 80)
    assert score_text(MUSIC, wall).delivery <= 2


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \r\n", "\u200b\x00 "])
def test_empty_text_scores_zero(text):
    s = score_text(MUSIC, text)
    assert (s.savagery, s.creativity, s.delivery, s.relevance) == (0, 0, 0, 0)
    assert s.total == 0
    assert s.commentary == EMPTY_COMMENTARY


def test_profanity_is_not_rewarded():
    clean = "You never even try, your music is the worst, truly embarrassing and tragic."
    dirty = "You never even try, your fucking music is the worst shit, truly embarrassing and tragic."
    c = score_text(MUSIC, clean)
    d = score_text(MUSIC, dirty)
    assert c.savagery > BLOCKED_SAVAGERY_CAP
    assert d.savagery <= BLOCKED_SAVAGERY_CAP
    assert "rofanity" in d.commentary
    assert "rofanity" not in c.commentary


def test_commentary_varies_between_roasts():
    texts = [f"Your music taste is worse than roast number {i}, truly tragic!" for i in range(40)]
    assert len({score_text(MUSIC, t).commentary for t in texts}) > 3


def test_score_type_validates():
    with pytest.raises((TypeError, ValueError)):
        RoastScore(11, 0, 0, 0, "x", "embedded")
    with pytest.raises((TypeError, ValueError)):
        RoastScore(-1, 0, 0, 0, "x", "embedded")
    with pytest.raises((TypeError, ValueError)):
        RoastScore(1.0, 0, 0, 0, "x", "embedded")  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        RoastScore(True, 0, 0, 0, "x", "embedded")  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        RoastScore(1, 0, 0, 0, "two\nlines", "embedded")
    with pytest.raises((TypeError, ValueError)):
        RoastScore(1, 0, 0, 0, "   ", "embedded")
    with pytest.raises((TypeError, ValueError)):
        RoastScore(1, 0, 0, 0, "x" * 201, "embedded")
    s = RoastScore(1, 2, 3, 4, "ok", "embedded")
    assert s.total == 10
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s.savagery = 5  # type: ignore[misc]


def test_one_line_squashes_anything():
    assert one_line("a\nb\r\nc\u2028d") == "a b c d"
    assert one_line("   ") == "No comment."
    long = one_line("word " * 100)
    assert len(long) <= COMMENTARY_MAX and len(long.splitlines()) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_score_text_never_raises(prompt, text):
    s = score_text(prompt, text)
    assert_valid(s)
    assert s == score_text(prompt, text)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(), min_size=1000, max_size=5000))
def test_score_text_big_unicode(text):
    assert_valid(score_text(MUSIC, text))


def test_score_text_control_and_huge_input():
    weird = "".join(chr(c) for c in range(0, 0x300)) + "\ud800\udfff" + "😈" * 1000
    assert_valid(score_text(weird, weird))
    assert_valid(score_text(MUSIC, "you " * 1_000_000))


# --- the judge and the port helpers ---------------------------------------------


def test_embedded_judge_satisfies_the_port():
    judge = EmbeddedJudge()
    assert isinstance(judge, Judge)
    assert judge.name == "embedded"


async def test_answer_prompt():
    judge = EmbeddedJudge()
    eff = GeneratePrompt(key="prompt:m1:2", match="m1", round=2, seed=99, used=(PROMPTS[0],))
    inp = await answer_prompt(judge, eff)
    assert isinstance(inp, PromptGenerated)
    assert inp.match == "m1" and inp.round == 2
    assert inp.prompt == pick_prompt(99, 2, (PROMPTS[0],))
    assert inp.prompt != PROMPTS[0]
    assert inp.source == "embedded"
    assert from_record(to_record(inp)) == inp
    assert judge.health()["prompts"] == 1


async def test_answer_score():
    judge = EmbeddedJudge()
    eff = ScoreRoast(
        key="score:m1:1:w1", match="m1", round=1, wallet="w1",
        prompt=MUSIC, text=ON_TOPIC, audio_url=None,
    )
    inp = await answer_score(judge, eff)
    assert isinstance(inp, RoastScored)
    assert (inp.match, inp.round, inp.wallet) == ("m1", 1, "w1")
    expected = score_text(MUSIC, ON_TOPIC)
    assert (inp.savagery, inp.creativity, inp.delivery, inp.relevance) == (
        expected.savagery, expected.creativity, expected.delivery, expected.relevance,
    )
    assert inp.commentary == expected.commentary
    assert inp.judge == "embedded"
    assert from_record(to_record(inp)) == inp
    h = judge.health()
    assert h["scores"] == 1 and h["prompts"] == 0


async def test_answer_score_empty_roast_with_audio():
    judge = EmbeddedJudge()
    eff = ScoreRoast(
        key="score:m2:3:w2", match="m2", round=3, wallet="w2",
        prompt=MUSIC, text="", audio_url="https://media.example/a.webm",
    )
    inp = await answer_score(judge, eff)
    assert (inp.savagery, inp.creativity, inp.delivery, inp.relevance) == (0, 0, 0, 0)
    assert inp.commentary == AUDIO_ONLY_COMMENTARY
    no_audio = await answer_score(judge, attrs.evolve(eff, audio_url=None))
    assert no_audio.commentary == EMPTY_COMMENTARY


async def test_answer_prompt_rejects_empty_prompt_from_a_judge():
    class Blank(EmbeddedJudge):
        name = "blank"

        async def generate_prompt(self, match, round, seed, used):
            return " \n "

    with pytest.raises(ValueError):
        await answer_prompt(Blank(), GeneratePrompt("k", "m", 1, 1, ()))
