"""The lottery's settings: the `[lottery]` section.

Part of the engine state (`EngineConfig.modes["lottery"]`), so they are in
the state hash and a replay sees the settings each round was created
under. A round copies what it must keep (fee, lock lead, auto settle) when it
is created: an operator changing the fee never changes a round that already
took bets. Durations are milliseconds of engine time (`ctx.now_ms`).
"""

from __future__ import annotations

from attrs import field, frozen

from arena.engine.calendar import RuleError, parse
from arena.engine.canonical import OMIT_IF_DEFAULT
from arena.engine.config import CONFIG_ITEMS, bps, non_negative, positive

from . import book


def _bool(inst, attribute, value):
    if not isinstance(value, bool):
        raise ValueError(f"{attribute.name} must be true or false, got {value!r}")


def _feed_name(inst, attribute, value):
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValueError(f"{attribute.name} must be a feed name (1..64 characters), got {value!r}")


def _draw_rule(text) -> str | None:
    """Why `text` is not a recurring draw rule or "" (None: it is one)."""
    if not isinstance(text, str):
        return "must be a rule text such as \"weekly MON,WED,SAT 22:59 America/New_York\""
    if text == "":
        return None
    try:
        rule = parse("draws", text)
    except RuleError as exc:
        return str(exc)
    return "must recur (daily, weekly, monthly), not once" if rule.kind == "once" else None


def _draws(inst, attribute, value):
    if not isinstance(value, dict):
        raise ValueError(f"{attribute.name} must be a table of game = rule text")
    for game, text in value.items():
        if game not in book.GAMES:
            raise ValueError(f"{attribute.name}.{game}: the game must be one of {', '.join(book.GAMES)}")
        why = _draw_rule(text)
        if why:
            raise ValueError(f"{attribute.name}.{game} {why}")


def parse_propositions(text: str) -> tuple[tuple[str, int], ...]:
    """`round_propositions` as ((kind, threshold), ...): comma-separated
    `kind` or `kind:threshold` (threshold -1 when the kind takes none)."""
    out = []
    for item in text.split(","):
        kind, _, threshold = item.strip().partition(":")
        if threshold and not threshold.isdigit():
            raise ValueError(f"round_propositions: {item.strip()!r} has a threshold that is not an integer")
        out.append((kind, int(threshold) if threshold else -1))
    return tuple(out)


def _propositions(inst, attribute, value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be propositions such as \"bonus_parity,bonus_over:13\"")
    props = parse_propositions(value)
    if len(set(props)) != len(props):
        raise ValueError(f"{attribute.name} lists a proposition twice")
    for kind, threshold in props:
        for game in book.GAMES.values():
            why = book.check_proposition(game, kind, threshold)
            if why:
                raise ValueError(f"{attribute.name}: {why}")


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
    feed: str = field(default="draw", validator=_feed_name)
    # `lottery:pool` to a round's watchers at most this often.
    pool_interval_ms: int = field(default=1_000, validator=positive)
    # A round that ended (settled or void) leaves the engine's state this
    # long after; its row and history stay in the store. 0: at once.
    # (This and the two settings below are left out of the state hash while
    # at their defaults: snapshots stored without them still verify.)
    archive_after_ms: int = field(default=604_800_000, validator=non_negative, metadata={OMIT_IF_DEFAULT: True})
    # Rounds the schedule opens by itself (`[lottery.draws]`): each game ->
    # the rule of its draws, e.g. powerball = "weekly MON,WED,SAT 22:59
    # America/New_York", or "" for none. For each draw, one round per
    # proposition of `round_propositions`, opened when the previous draw is
    # drawn (at once for the first). All "": only operators create rounds.
    draws: dict = field(factory=lambda: {game: "" for game in book.GAMES}, validator=_draws,
                        metadata={OMIT_IF_DEFAULT: True, CONFIG_ITEMS: (str, "a recurring rule text (\"weekly MON,WED,SAT 22:59 "
                                                      "America/New_York\") or \"\"",
                                                 lambda v: _draw_rule(v) is None)})
    # What the scheduled rounds bet on: `kind` or `kind:threshold`, comma
    # separated; each must suit every game (docs/LOTTERY.md).
    round_propositions: str = field(default="bonus_parity", validator=_propositions,
                                    metadata={OMIT_IF_DEFAULT: True})

    def __attrs_post_init__(self) -> None:
        if self.min_bet > self.max_bet:
            raise ValueError(f"min_bet ({self.min_bet}) must not exceed max_bet ({self.max_bet})")


