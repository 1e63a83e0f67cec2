"""The judge side task: the policy around whichever judge is configured.

The engine emits `GeneratePrompt` and `ScoreRoast` effects; the server hands
them to `JudgeService.serve`, which answers each one with a `PromptGenerated`
or `RoastScored` input. Those answers are journaled like any input, so a
replay reads them back and never calls a judge again.

The policy, the same for every judge:

* **Deadline.** Each answer has a time budget: `timeout_ms × (max_retries +
  1)` from `[ai]`, capped at three quarters of the engine's wait for it
  (`[roast] scoring_timeout_ms` for a score, `prompt_timeout_ms` for a
  prompt). The remaining quarter is for the fallback judge and the tick that
  reads its answer, so a round never waits past its scoring deadline. All the
  remote work for one answer (fetching and transcribing audio, moderation,
  scoring, every retry and backoff) runs inside that budget.
* **Fallback.** When the configured judge fails, times out, or its circuit
  is open, the embedded judge answers. A score from the fallback says so: its
  commentary starts with "(fallback judge) " and its `judge` is "embedded".
  If the audio was transcribed before the failure, the fallback scores the
  transcript too.
* **Circuit breaker.** Outcomes go to the judge's `Supervisor`
  (`record_success` / `record_failure`): after `[ai] circuit_failures`
  failed answers in a row the circuit opens and the embedded judge answers
  at once, without calling out, for `circuit_reset_ms`; then one answer at a
  time probes the remote judge (half-open) until one succeeds.
* **Transcription.** A roast with audio (`ScoreRoast.audio_url`) is read
  back through the media port and transcribed by a judge that can
  (`transcribe(bytes)`), then scored with its transcript.
* **Moderation.** With `[ai] moderation = true`, a roast (typed text and
  transcript) that the judge's `moderate()` flags scores 0 in every
  dimension, with a commentary that says why.
* **Health.** Counters and latency percentiles for operators, in the
  server's `health()` under `side_tasks.judge`.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import trio

from arena.ai.embedded import EmbeddedJudge
from arena.ai.port import COMMENTARY_MAX, DIMENSIONS, RoastScore, answer_prompt, one_line, scored_input
from arena.modes.roast.messages import GeneratePrompt, PromptGenerated, RoastScored, ScoreRoast
from arena.supervisor import CIRCUIT_OPEN, RECOVERING, Supervisor

log = logging.getLogger("arena.ai")

FALLBACK_PREFIX = "(fallback judge) "
MODERATION_COMMENTARY = "Flagged by moderation{why}: this roast scores 0 this round."
LAST_RESORT_COMMENTARY = "The judge could not score this roast; scored 0."
# Share of the engine's wait that the remote judge may use; the rest is for
# the fallback judge and the tick that reads the answer.
BUDGET_SHARE = (3, 4)
# Remote answers in flight at once; more wait (inside their budget) or fall back.
MAX_CONCURRENT = 64
LATENCY_WINDOW = 1024
API_KEY_ENV = "OPENAI_API_KEY"


def answer_budget(ai_cfg, engine_wait_ms: int) -> float:
    """Seconds the remote judge may spend on one answer (see the module doc)."""
    wanted = ai_cfg.timeout_ms * (ai_cfg.max_retries + 1)
    cap = engine_wait_ms * BUDGET_SHARE[0] // BUDGET_SHARE[1]
    return max(1, min(wanted, cap)) / 1000


def make_judge(cfg, *, env: dict | None = None):
    """The judge `[ai] kind` asks for. The OpenAI key comes from the
    environment (`OPENAI_API_KEY`), never from the config file."""
    kind = cfg.ai.kind
    if kind == "embedded":
        return EmbeddedJudge()
    if kind == "openai":
        from arena.ai.openai_judge import OpenAIJudge

        api_key = (os.environ if env is None else env).get(API_KEY_ENV, "")
        if not api_key.strip():
            raise ValueError(f'[ai] kind = "openai" needs the {API_KEY_ENV} environment variable')
        return OpenAIJudge.from_config(cfg.ai, api_key=api_key.strip())
    raise ValueError(f"ai kind {kind!r} is not available in this build")


class _Latency:
    def __init__(self, window: int = LATENCY_WINDOW):
        self.values: deque[float] = deque(maxlen=window)

    def add(self, seconds: float) -> None:
        self.values.append(seconds)

    def pct(self, q: float) -> float:
        if not self.values:
            return 0.0
        s = sorted(self.values)
        return round(s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))] * 1000, 1)


class _Failed(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class JudgeService:
    """Answers judge effects with the configured judge, under the policy above."""

    def __init__(
        self,
        judge: Any,
        *,
        supervisor: Supervisor | None = None,
        media: Any = None,
        score_budget: float = 15.0,
        prompt_budget: float = 22.5,
        moderation: bool = False,
        fallback: Any = None,
        max_concurrent: int = MAX_CONCURRENT,
        clock: Callable[[], float] = trio.current_time,
    ):
        self.judge = judge
        self.supervisor = supervisor if supervisor is not None else Supervisor("judge")
        self.media = media
        self.score_budget = score_budget
        self.prompt_budget = prompt_budget
        self.moderation = moderation
        self.fallback = fallback if fallback is not None else EmbeddedJudge()
        self.clock = clock
        self._limiter = trio.CapacityLimiter(max_concurrent)
        self._probing = False
        self._unavailable: str | None = None
        self.latency = _Latency()
        self.counters = dict.fromkeys(
            ("prompts", "scores", "requests", "remote_ok", "remote_failed", "fallbacks",
             "transcribed", "flagged", "in_flight"),
            0,
        )
        self.fallback_reasons: dict[str, int] = {}

    @classmethod
    def from_config(cls, cfg, judge: Any, *, supervisor: Supervisor | None = None, media: Any = None,
                    engine_cfg=None) -> JudgeService:
        roast = (engine_cfg or cfg.engine).modes["roast"]
        return cls(
            judge,
            supervisor=supervisor,
            media=media,
            score_budget=answer_budget(cfg.ai, roast.scoring_timeout_ms),
            prompt_budget=answer_budget(cfg.ai, roast.prompt_timeout_ms),
            moderation=cfg.ai.moderation,
        )

    @property
    def remote(self) -> bool:
        """Is the configured judge something other than the embedded one?"""
        return getattr(self.judge, "name", "embedded") != "embedded"

    # --- running -------------------------------------------------------------------------
    async def serve(self, effects: trio.MemoryReceiveChannel, submit: Callable[[Any], Any]) -> None:
        """Open the judge (if it needs opening), then answer every effect from
        `effects` concurrently, handing each answer to `submit`."""
        async with AsyncExitStack() as stack:
            if hasattr(self.judge, "__aenter__"):
                try:
                    await stack.enter_async_context(self.judge)
                    self._unavailable = None
                except Exception as exc:  # noqa: BLE001 - the game goes on with the fallback judge
                    log.exception("cannot open the judge; the embedded judge answers everything")
                    self._unavailable = f"cannot open the judge: {type(exc).__name__}: {exc}"[:300]
                    self.supervisor.record_failure(self._unavailable)
            async with trio.open_nursery() as nursery:
                async for eff in effects:
                    nursery.start_soon(self._answer_and_submit, eff, submit)

    async def _answer_and_submit(self, eff, submit) -> None:
        submit(await self.handle(eff))

    async def handle(self, eff: GeneratePrompt | ScoreRoast) -> PromptGenerated | RoastScored:
        """The answer to one effect. Never raises (except trio.Cancelled)."""
        if isinstance(eff, GeneratePrompt):
            self.counters["prompts"] += 1
            return await self._prompt(eff)
        self.counters["scores"] += 1
        return await self._score(eff)

    # --- prompts ---------------------------------------------------------------------------
    async def _prompt(self, eff: GeneratePrompt) -> PromptGenerated:
        try:
            return await self._remote(eff, self.prompt_budget, lambda: answer_prompt(self.judge, eff))
        except _Failed as failed:
            self._fell_back(eff, failed)
        return await answer_prompt(self.fallback, eff)

    # --- scores ------------------------------------------------------------------------------
    async def _score(self, eff: ScoreRoast) -> RoastScored:
        heard: dict[str, str | None] = {"transcript": None}

        async def remote() -> RoastScored:
            judge = self.judge
            transcript = None
            if eff.audio_url and self.media is not None and hasattr(judge, "transcribe"):
                audio = await self.media.fetch(eff.audio_url)
                transcript = heard["transcript"] = await judge.transcribe(audio)
                self.counters["transcribed"] += 1
            if self.moderation and hasattr(judge, "moderate"):
                content = " ".join(p for p in (eff.text.strip(), transcript or "") if p)
                if content:
                    verdict = await judge.moderate(content)
                    if verdict.flagged:
                        self.counters["flagged"] += 1
                        why = f" ({', '.join(verdict.categories)})" if verdict.categories else ""
                        return _scored(eff, RoastScore(**dict.fromkeys(DIMENSIONS, 0),
                                                       commentary=one_line(MODERATION_COMMENTARY.format(why=why)),
                                                       judge=judge.name))
            if hasattr(judge, "transcribe"):
                s = await judge.score(eff.match, eff.round, eff.wallet, eff.prompt, eff.text, eff.audio_url,
                                      transcript=transcript)
            else:
                s = await judge.score(eff.match, eff.round, eff.wallet, eff.prompt, eff.text, eff.audio_url)
            if not isinstance(s, RoastScore):
                # A judge that answers something else is a failing judge: the
                # fallback scores the roast (garbage never reaches the engine).
                raise TypeError(f"judge {getattr(judge, 'name', '?')!r} answered a {type(s).__name__}, "
                                "not a RoastScore")
            return _scored(eff, s)

        try:
            return await self._remote(eff, self.score_budget, remote)
        except _Failed as failed:
            self._fell_back(eff, failed)
        text = " ".join(p for p in (eff.text.strip(), heard["transcript"] or "") if p)
        try:
            s = await self.fallback.score(eff.match, eff.round, eff.wallet, eff.prompt, text, eff.audio_url)
            commentary = one_line(FALLBACK_PREFIX + s.commentary, limit=COMMENTARY_MAX)
            return _scored(eff, s, commentary=commentary)
        except Exception:  # noqa: BLE001 - the embedded judge does not fail; if it ever does, the round goes on
            log.exception("fallback judge failed", extra={"key": eff.key})
            return _scored(eff, RoastScore(**dict.fromkeys(DIMENSIONS, 0), commentary=LAST_RESORT_COMMENTARY,
                                           judge="none"))

    # --- the remote call, under deadline and circuit ------------------------------------------
    async def _remote(self, eff, budget: float, call):
        if not self.remote:
            # The embedded judge is local and deterministic: no deadline, no circuit.
            try:
                return await call()
            except Exception as exc:  # noqa: BLE001
                raise _Failed("error", f"{type(exc).__name__}: {exc}") from None
        sup = self.supervisor
        if self._unavailable:
            raise _Failed("unavailable", self._unavailable)
        if sup.circuit_open:
            raise _Failed("circuit_open", "circuit open")
        probe = sup.state == RECOVERING
        if probe:
            if self._probing:
                raise _Failed("circuit_open", "circuit half-open: another answer is probing")
            self._probing = True
        self.counters["requests"] += 1
        self.counters["in_flight"] += 1
        started = self.clock()
        failure: _Failed | None = None
        result = None
        try:
            with trio.move_on_after(budget) as scope:
                try:
                    async with self._limiter:
                        result = await call()
                except Exception as exc:  # noqa: BLE001 - any judge failure falls back
                    failure = _Failed(getattr(exc, "reason", "error"), f"{type(exc).__name__}: {exc}")
            if scope.cancelled_caught:
                failure = _Failed("timeout", f"no answer within the budget of {budget:g} s")
        finally:
            self.counters["in_flight"] -= 1
            if probe:
                self._probing = False
        self._unavailable: str | None = None
        self.latency.add(self.clock() - started)
        if failure is not None:
            self.counters["remote_failed"] += 1
            sup.record_failure(f"{failure.reason}: {failure}")
            raise failure
        self.counters["remote_ok"] += 1
        sup.record_success()
        return result

    def _fell_back(self, eff, failed: _Failed) -> None:
        self.counters["fallbacks"] += 1
        self.fallback_reasons[failed.reason] = self.fallback_reasons.get(failed.reason, 0) + 1
        level = logging.INFO if failed.reason == "circuit_open" else logging.WARNING
        log.log(level, "judge failed; embedded judge answers",
                extra={"key": eff.key, "reason": failed.reason, "error": str(failed)[:200]})

    # --- operators ---------------------------------------------------------------------------
    def health(self) -> dict:
        sup = self.supervisor
        out = sup.health()
        out.update({
            "judge": getattr(self.judge, "name", "?"),
            "circuit": sup.state,
            "circuit_open": sup.state == CIRCUIT_OPEN,
            **self.counters,
            "fallback_reasons": dict(self.fallback_reasons),
            "latency_ms_p50": self.latency.pct(0.5),
            "latency_ms_p99": self.latency.pct(0.99),
            "score_budget_ms": round(self.score_budget * 1000),
            "prompt_budget_ms": round(self.prompt_budget * 1000),
        })
        if self.remote and hasattr(self.judge, "health"):
            out["api"] = self.judge.health()
        return out


def _scored(eff: ScoreRoast, s: RoastScore, commentary: str | None = None) -> RoastScored:
    return scored_input(eff, s, commentary)
