"""Engine configuration: frozen values, checked when built.

Durations are given in milliseconds (as in config.toml) and converted to ticks
with `ticks()`, rounding up, so a timer never fires early.
"""

from __future__ import annotations

import attrs
from attrs import field, frozen, validators as v

TIERS = ("bronze", "silver", "gold", "diamond")


def _positive(inst, attribute, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def _non_negative(inst, attribute, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative integer, got {value!r}")


def _bps(inst, attribute, value):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000:
        raise ValueError(f"{attribute.name} must be an integer 0..10000 (basis points), got {value!r}")


def _tiers(inst, attribute, value):
    if set(value) != set(TIERS):
        raise ValueError(f"tiers must be exactly {', '.join(TIERS)}")
    for name, fee in value.items():
        if not isinstance(fee, int) or isinstance(fee, bool) or fee <= 0:
            raise ValueError(f"tiers.{name} must be a positive integer (base units), got {fee!r}")


@frozen
class RoastConfig:
    rounds: int = field(default=3, validator=_positive)
    countdown_ms: int = field(default=3_000, validator=_non_negative)
    time_limit_ms: int = field(default=30_000, validator=_positive)
    entry_deadline_ms: int = field(default=60_000, validator=_positive)
    disconnect_grace_ms: int = field(default=30_000, validator=_non_negative)
    # Longest wait for the judge after a recording window closes. The AI side
    # task answers well before this (falling back to the embedded judge); the
    # engine's own deadline only guards against a lost answer.
    scoring_timeout_ms: int = field(default=20_000, validator=_positive)
    # Longest wait for a round's prompt before the battle is cancelled and
    # refunded (the judge side task normally answers within milliseconds).
    prompt_timeout_ms: int = field(default=30_000, validator=_positive)
    platform_fee_bps: int = field(default=500, validator=_bps)
    # Of the platform fee: the partner gets floor(fee × partner_share_bps /
    # 10000), the creator account gets the rest (remainder included).
    partner_share_bps: int = field(default=2_500, validator=_bps)
    max_text_chars: int = field(default=2_000, validator=_positive)
    max_watch_per_wallet: int = field(default=16, validator=_positive)
    tiers: dict = field(
        factory=lambda: {"bronze": 100, "silver": 500, "gold": 2_000, "diamond": 10_000},
        validator=_tiers,
    )


@frozen
class EngineConfig:
    tick_hz: int = field(default=20, validator=_positive)
    # Seeds every counter-based draw (match ids, prompts); part of the state.
    seed: int = field(default=1, validator=_non_negative)
    roast: RoastConfig = field(factory=RoastConfig, validator=v.instance_of(RoastConfig))

    def ticks(self, ms: int) -> int:
        """Milliseconds to ticks, rounded up (a timer never fires early)."""
        return -(-ms * self.tick_hz // 1000)

    def ms(self, ticks: int) -> int:
        return ticks * 1000 // self.tick_hz


def roast_settings(cfg: RoastConfig) -> tuple:
    """Every `[roast]` setting as (name, value) pairs; tier fees as ("tiers.<tier>", fee)."""
    out = []
    for f in attrs.fields(RoastConfig):
        value = getattr(cfg, f.name)
        if f.name == "tiers":
            out += [(f"tiers.{tier}", value[tier]) for tier in TIERS]
        else:
            out.append((f.name, value))
    return tuple(out)


def with_roast_settings(cfg: RoastConfig, settings) -> RoastConfig:
    """`cfg` with the (name, value) `settings` applied (`roast_settings`' form).

    Raises ValueError for an unknown name or a value the config refuses."""
    names = {f.name for f in attrs.fields(RoastConfig)} - {"tiers"}
    changes, tiers = {}, dict(cfg.tiers)
    for name, value in settings:
        if name.startswith("tiers.") and name[6:] in tiers:
            tiers[name[6:]] = value
        elif name in names:
            changes[name] = value
        else:
            raise ValueError(f"unknown roast setting {name!r}")
    return attrs.evolve(cfg, tiers=tiers, **changes)  # the validators check every value
