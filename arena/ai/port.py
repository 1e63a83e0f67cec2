"""The judge port: what the roast-battle engine needs from an AI judge.

The engine never calls a judge. It emits effects (`GeneratePrompt`,
`ScoreRoast`); the AI side task hands each one to a `Judge` and feeds the
answer back as an input (`PromptGenerated`, `RoastScored`) through
`answer_prompt` / `answer_score`.

Every implementation (the embedded heuristic judge, the OpenAI judge) returns
a `RoastScore`, whose validators enforce the protocol's contract: four
integers in 0..10 and a one-line commentary of at most 200 characters. A
remote judge should pass its free-form text through `one_line` before
building a `RoastScore`.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from attrs import field, frozen

from arena.modes.roast.messages import GeneratePrompt, PromptGenerated, RoastScored, ScoreRoast

MIN_POINTS = 0
MAX_POINTS = 10
COMMENTARY_MAX = 200
PROMPT_MAX = 200
DIMENSIONS = ("savagery", "creativity", "delivery", "relevance")


def _points(instance: object, attribute: object, value: object) -> None:
    # bool is an int subclass; True is not a score.
    if type(value) is not int:
        raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
    if not MIN_POINTS <= value <= MAX_POINTS:
        raise ValueError(f"{attribute.name} must be in {MIN_POINTS}..{MAX_POINTS}, got {value}")


def _commentary(instance: object, attribute: object, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError("commentary must be a str")
    if not value.strip():
        raise ValueError("commentary must not be empty")
    if len(value.splitlines()) != 1:
        raise ValueError("commentary must be a single line")
    if len(value) > COMMENTARY_MAX:
        raise ValueError(f"commentary must be at most {COMMENTARY_MAX} characters")


def _judge_name(instance: object, attribute: object, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError("judge must be a non-empty str")


@frozen
class RoastScore:
    """One judged roast: four 0..10 integers and a one-line commentary."""

    savagery: int = field(validator=_points)
    creativity: int = field(validator=_points)
    delivery: int = field(validator=_points)
    relevance: int = field(validator=_points)
    commentary: str = field(validator=_commentary)
    judge: str = field(validator=_judge_name)

    @property
    def total(self) -> int:
        return self.savagery + self.creativity + self.delivery + self.relevance


_LINE_BREAKS = re.compile(r"\s+")


def one_line(text: str, limit: int = COMMENTARY_MAX, fallback: str = "No comment.") -> str:
    """Squash any text into a valid commentary: one line, trimmed, <= `limit` chars.

    Collapses all whitespace (including every kind of line break) to single
    spaces, drops other control characters, and cuts at a word boundary with
    an ellipsis when too long. Returns `fallback` if nothing printable is left.
    """
    if not isinstance(text, str):
        text = str(text)
    text = "".join(ch for ch in text if ch.isprintable() or ch.isspace())
    text = _LINE_BREAKS.sub(" ", text).strip()
    if not text:
        return fallback
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


@runtime_checkable
class Judge(Protocol):
    """An AI judge: invents roast prompts and scores roasts.

    Implementations may be slow or fail (a remote API); the side task that
    calls them supervises them and falls back to the embedded judge.
    """

    name: str

    async def generate_prompt(
        self, match: str, round: int, seed: int, used: tuple[str, ...]
    ) -> str:
        """A roast prompt for `round` of `match`, preferably not in `used`."""
        ...

    async def score(
        self,
        match: str,
        round: int,
        wallet: str,
        prompt: str,
        text: str,
        audio_url: str | None,
    ) -> RoastScore:
        """Judge the roast `text` that `wallet` wrote for `prompt`."""
        ...

    def health(self) -> dict:
        """Counters for operators (calls, failures, ...); plain JSON-able values."""
        ...


async def answer_prompt(judge: Judge, eff: GeneratePrompt) -> PromptGenerated:
    """Carry out a `GeneratePrompt` effect; the result is the input for the engine.

    The prompt is squashed to one line of at most `PROMPT_MAX` characters; an
    empty answer, or one that is not text, raises `ValueError` so the caller
    can fall back to another judge.
    """
    raw = await judge.generate_prompt(eff.match, eff.round, eff.seed, tuple(eff.used))
    if not isinstance(raw, str):
        raise ValueError(f"judge {judge.name!r} answered a {type(raw).__name__}, not a prompt")
    prompt = one_line(raw, limit=PROMPT_MAX, fallback="")
    if not prompt:
        raise ValueError(f"judge {judge.name!r} returned an empty prompt")
    return PromptGenerated(match=eff.match, round=eff.round, prompt=prompt, source=judge.name)


async def answer_score(judge: Judge, eff: ScoreRoast) -> RoastScored:
    """Carry out a `ScoreRoast` effect; the result is the input for the engine."""
    s = await judge.score(
        eff.match, eff.round, eff.wallet, eff.prompt, eff.text, eff.audio_url
    )
    return scored_input(eff, s)


def scored_input(eff: ScoreRoast, s: RoastScore, commentary: str | None = None) -> RoastScored:
    """The engine input that reports score `s` for the roast `eff` asked about."""
    return RoastScored(
        match=eff.match,
        round=eff.round,
        wallet=eff.wallet,
        savagery=s.savagery,
        creativity=s.creativity,
        delivery=s.delivery,
        relevance=s.relevance,
        commentary=s.commentary if commentary is None else commentary,
        judge=s.judge,
    )
