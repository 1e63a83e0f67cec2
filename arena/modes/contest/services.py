"""The contest's processing services: evaluation, rake and referrals.

Each is a side task of its own (`ContestMode.side_tasks`), run by the
server under its own `Supervisor`, which is its circuit breaker and its
health (`health:update` lists "contest-evaluation", "contest-rake" and
"contest-referrals" with their states, initializing → active → degraded →
circuit_open → recovering). The engine asks with an effect that carries
everything the service needs; the service answers one result input, which
the server journals, so a replay reads the same answers and never calls a
service:

    ended contest, fresh end prices
      --EvaluateContest-->  evaluation  --ContestEvaluated-->  engine checks it
      --ProcessRake-->      rake        --RakeProcessed------> engine checks it
      --ProcessReferrals--> referrals   --ReferralsProcessed-> engine checks it
      both in: one settlement `payout:<contest>` (money waits for the journal)

A service that raises is tried again every `service_retry_ms`; its breaker
opens after `<service>_failure_threshold` consecutive failures (the
evaluation: 10, the design's) and, after `<service>_reset_s` (the
evaluation: 120 s), lets one try through (recovering): a success closes it.
The effect stays in the outbox until its result is journaled, so a restart
asks again; the computations are pure, so asking twice gives the same
answer.

The services compute with the contest's pure rules (`rules.py`), in the
server's process; the engine checks every result against the same rules
and asks again (a new key) if one disagrees, so a faulty service can delay
a payout but never change one.
"""

from __future__ import annotations

from . import rules
from .messages import (
    EVALUATION, NAME, RAKE, REFERRALS, ContestEvaluated, EvaluateContest, ProcessRake, ProcessReferrals,
    RakeProcessed, ReferralsProcessed,
)


def evaluate(effect: EvaluateContest) -> ContestEvaluated:
    ranking = rules.standings(dict(effect.start_prices), dict(effect.end_prices), effect.entries)
    return ContestEvaluated(effect.key, effect.match, tuple(ranking))


def process_rake(effect: ProcessRake) -> RakeProcessed:
    rake, prizes = rules.split_pool(effect.pool, effect.rake_bps, effect.prizes_bps, effect.ranked)
    return RakeProcessed(effect.key, effect.match, rake, tuple(prizes))


def process_referrals(effect: ProcessReferrals) -> ReferralsProcessed:
    rewards = rules.referral_rewards(effect.referred, effect.rake_bps, effect.referral_bps)
    return ReferralsProcessed(effect.key, effect.match, tuple(rewards))


COMPUTE = {EvaluateContest: evaluate, ProcessRake: process_rake, ProcessReferrals: process_referrals}


class ContestService:
    """A side task's handler (`arena.mode_tasks`): `breaker` is read by the
    server for the task's circuit breaker."""

    def __init__(self, name: str, failure_threshold: int, reset_s: int, retry_ms: int):
        self.name = name
        self.breaker = {"failure_threshold": failure_threshold, "reset_after": float(reset_s)}
        self.retry_s = retry_ms / 1000
        self.answered = 0

    def retry_after_s(self, effect, attempts: int) -> float:
        return self.retry_s

    async def run(self, effect):
        result = COMPUTE[type(effect)](effect)
        self.answered += 1
        return result


def _service(context, name: str, prefix: str) -> ContestService:
    cfg = context.config.engine.modes[NAME]
    return ContestService(name, getattr(cfg, f"{prefix}_failure_threshold"), getattr(cfg, f"{prefix}_reset_s"),
                          cfg.service_retry_ms)


def make_evaluator(context) -> ContestService:
    return _service(context, EVALUATION, "evaluation")


def make_rake(context) -> ContestService:
    return _service(context, RAKE, "rake")


def make_referrals(context) -> ContestService:
    return _service(context, REFERRALS, "referral")
