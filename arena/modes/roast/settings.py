"""Roast battles' settings: the `[roast]` section (and `[roast.tiers]`).

Part of the engine state (`EngineConfig.modes["roast"]`), so they are in the
state hash and a replay sees the settings each battle was created under.
Durations are milliseconds, converted to ticks with `EngineConfig.ticks`.
"""

from __future__ import annotations

from attrs import field, frozen

from arena.engine.config import CONFIG_ITEMS, bps, non_negative, positive

TIERS = ("bronze", "silver", "gold", "diamond")


def _tiers(inst, attribute, value):
    if set(value) != set(TIERS):
        raise ValueError(f"tiers must be exactly {', '.join(TIERS)}")
    for name, fee in value.items():
        if not isinstance(fee, int) or isinstance(fee, bool) or fee <= 0:
            raise ValueError(f"tiers.{name} must be a positive integer (base units), got {fee!r}")


@frozen
class RoastConfig:
    rounds: int = field(default=3, validator=positive)
    countdown_ms: int = field(default=3_000, validator=non_negative)
    time_limit_ms: int = field(default=30_000, validator=positive)
    entry_deadline_ms: int = field(default=60_000, validator=positive)
    disconnect_grace_ms: int = field(default=30_000, validator=non_negative)
    # Longest wait for the judge after a recording window closes. The AI side
    # task answers well before this (falling back to the embedded judge); the
    # engine's own deadline only guards against a lost answer.
    scoring_timeout_ms: int = field(default=20_000, validator=positive)
    # Longest wait for a round's prompt before the battle is cancelled and
    # refunded (the judge side task normally answers within milliseconds).
    prompt_timeout_ms: int = field(default=30_000, validator=positive)
    platform_fee_bps: int = field(default=500, validator=bps)
    # Of the platform fee: the partner gets floor(fee × partner_share_bps /
    # 10000), the creator account gets the rest (remainder included).
    partner_share_bps: int = field(default=2_500, validator=bps)
    max_text_chars: int = field(default=2_000, validator=positive)
    max_watch_per_wallet: int = field(default=16, validator=positive)
    tiers: dict = field(
        factory=lambda: {"bronze": 100, "silver": 500, "gold": 2_000, "diamond": 10_000},
        validator=_tiers,
        metadata={CONFIG_ITEMS: (int, "a positive integer (entry fee in base units)", lambda v: v > 0)},
    )
