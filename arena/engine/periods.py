"""Leaderboard periods: which bucket of a board a score lands in.

A board keeps one row per (period key, wallet). "all" has one key for ever;
"week" has one key per calendar week, starting Monday 00:00 in a
configurable IANA zone (`[leaderboards] week_zone`), so a week's board
"resets" simply because records written after Monday midnight carry the
next week's key. Keys are computed from engine time (`arena.engine.clock`),
never from the host clock, so a replay of the journal would file every
score under the same key.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

PERIODS = ("all", "week")
ALL_KEY = "all"


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    """The zone named `name` (ZoneInfoNotFoundError / ValueError if none)."""
    return ZoneInfo(name)


def week_key(ms: int, zone_name: str = "UTC") -> str:
    """"week:YYYY-MM-DD", the local date of the Monday that starts the week
    holding instant `ms` (Unix epoch milliseconds) in `zone_name`."""
    local = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(zone(zone_name))
    monday = local.date() - timedelta(days=local.weekday())
    return f"week:{monday.isoformat()}"


def period_key(period: str, ms: int, zone_name: str = "UTC") -> str:
    if period == "all":
        return ALL_KEY
    if period == "week":
        return week_key(ms, zone_name)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


def period_keys(ms: int, zone_name: str = "UTC") -> tuple[str, ...]:
    """Every key a score made at `ms` counts toward (one per period)."""
    return tuple(period_key(p, ms, zone_name) for p in PERIODS)
