"""Roast battles' inputs (journaled) and effects (side-task requests).

The idempotency key of each effect is built here, once: the mode uses it when
it issues the effect, and recovery uses it (through the mode's
`result_keys`) to know which outbox entry a result completes.
"""

from __future__ import annotations

from attrs import field, frozen

from arena.engine.inputs import ClientInput, pairs


# --- client requests -------------------------------------------------------------


@frozen
class RoastSubmit(ClientInput):
    match: str
    round: int
    text: str
    audio_url: str | None = None
    # Wall-clock milliseconds at which the net layer received the request.
    # Stamped outside the engine and journaled, so replay sees the same value.
    at_ms: int = 0


@frozen
class ReactionSend(ClientInput):
    match: str
    emoji: str


# --- results of the judge side task ---------------------------------------------------


@frozen
class PromptGenerated:
    match: str
    round: int
    prompt: str
    source: str = "embedded"


@frozen
class RoastScored:
    match: str
    round: int
    wallet: str
    savagery: int
    creativity: int
    delivery: int
    relevance: int
    commentary: str
    judge: str = "embedded"


@frozen
class RoastSettingsChanged:
    """`[roast]` settings changed (the form journals written before settings
    changes were generic hold; now `arena.engine.inputs.SettingsChanged`).
    Applied exactly like a `SettingsChanged` of mode "roast"."""

    settings: tuple = field(converter=pairs)


# --- effects ----------------------------------------------------------------------


def prompt_key(match: str, round: int) -> str:
    return f"prompt:{match}:{round}"


def score_key(match: str, round: int, wallet: str) -> str:
    return f"score:{match}:{round}:{wallet}"


@frozen
class GeneratePrompt:
    key: str
    match: str
    round: int
    seed: int
    used: tuple[str, ...]


@frozen
class ScoreRoast:
    key: str
    match: str
    round: int
    wallet: str
    prompt: str
    text: str
    audio_url: str | None


INPUTS = (RoastSubmit, ReactionSend, PromptGenerated, RoastScored, RoastSettingsChanged)
# Result input -> the key of the effect it answers.
RESULT_KEYS = {
    PromptGenerated: lambda inp: prompt_key(inp.match, inp.round),
    RoastScored: lambda inp: score_key(inp.match, inp.round, inp.wallet),
}
