"""The embedded judge: a local, heuristic judge that needs nothing installed.

`EmbeddedJudge` is the default judge and the fallback when a remote judge
(OpenAI) fails or its circuit is open. It is not an AI model: prompts come
from the fixed bank in `arena.ai.prompts` and scores from the documented
heuristics in `arena.ai.heuristics`. Both are pure and deterministic, so the
same effect always gets the same answer, it never does I/O and never fails
for lack of a network, a key or a model.
"""

from __future__ import annotations

import attrs

from arena.ai.heuristics import EMPTY_COMMENTARY, score_text
from arena.ai.port import RoastScore
from arena.ai.prompts import PROMPTS, pick_prompt


AUDIO_ONLY_COMMENTARY = "Audio received, but this judge only scores text: no words, no points."


class EmbeddedJudge:
    """The `Judge` port implemented by the bank of prompts and the heuristics."""

    name = "embedded"

    def __init__(self) -> None:
        self.prompts = 0
        self.scores = 0

    async def generate_prompt(
        self, match: str, round: int, seed: int, used: tuple[str, ...]
    ) -> str:
        # `match` is not needed: `seed` is already per match.
        prompt = pick_prompt(seed, round, tuple(used))
        self.prompts += 1
        return prompt

    async def score(
        self,
        match: str,
        round: int,
        wallet: str,
        prompt: str,
        text: str,
        audio_url: str | None,
    ) -> RoastScore:
        # Audio is not analysed: only the text is judged. An audio-only roast
        # therefore scores zeros, but says why instead of "No roast submitted.".
        result = score_text(prompt, text)
        if audio_url and result.commentary == EMPTY_COMMENTARY:
            result = attrs.evolve(result, commentary=AUDIO_ONLY_COMMENTARY)
        self.scores += 1
        return result

    def health(self) -> dict:
        return {
            "judge": self.name,
            "state": "active",
            "prompts": self.prompts,
            "scores": self.scores,
            "failures": 0,
            "bank_size": len(PROMPTS),
        }
