"""The lottery's settings: the `[lottery]` section.

Part of the engine state (`EngineConfig.modes["lottery"]`), so they are in
the state hash and a replay sees the settings each round was created
under. A round copies what it must keep (fee, lock lead, auto settle) when it
is created: an operator changing the fee never changes a round that already
took bets. Durations are milliseconds of engine time (`ctx.now_ms`).
"""

from __future__ import annotations

from attrs import field, frozen

from arena.engine.config import bps, feed_name, non_negative, positive


def _bool(inst, attribute, value):
    if not isinstance(value, bool):
        raise ValueError(f"{attribute.name} must be true or false, got {value!r}")


@frozen
class LotteryConfig:
    # Betting closes this long before the draw (lock = draw_time - lead).
    lock_lead_ms: int = field(default=300_000, validator=non_negative)
    # Platform fee on the loser's stake of each matched pair, floor.
    fee_bps: int = field(default=200, validator=bps)
    # The result is asked for this long after the draw time (results are
    # published some minutes after a draw).
    result_delay_ms: int = field(default=600_000, validator=non_negative)
    # A fetch that decided nothing is asked again (new key) after this.
    result_retry_ms: int = field(default=60_000, validator=positive)
    # No agreed result this long after the draw time: the round is void and
    # every stake goes back.
    void_after_ms: int = field(default=86_400_000, validator=positive)
    min_bet: int = field(default=1, validator=positive)
    max_bet: int = field(default=1_000_000_000_000, validator=positive)
    # True: winners are paid at finalization; false: each winner claims
    # (`lottery.claim`).
    auto_settle: bool = field(default=True, validator=_bool)
    # The data feed that answers draws ([feeds.<feed>] decides its sources
    # and their consensus, e.g. agree k=2 of 3; "draw" is simulated by default).
    feed: str = field(default="draw", validator=feed_name)
    # `lottery:pool` to a round's watchers at most this often.
    pool_interval_ms: int = field(default=1_000, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.min_bet > self.max_bet:
            raise ValueError(f"min_bet ({self.min_bet}) must not exceed max_bet ({self.max_bet})")


