"""Calendar rules and their occurrences: sans-IO, no clock, no tasks.

A mode says *when* in wall-clock terms ("Saturdays 09:00 America/New_York",
"2026-12-24 18:00 Europe/London") with a `Rule`; this module says which
instants (Unix epoch ms) those are, and what the scheduler should feed the
engine for a rule given its mark (the newest occurrence already applied) and
the time now (`decide`). The scheduler side task (`arena.scheduler`) only
reads clocks and submits what `decide` says.

Local times are turned into instants with `zoneinfo` (and the `tzdata`
package where the OS has no zone files), so daylight-saving changes are
right by construction:

- a local time that does not exist on a spring-forward day (02:30 in New
  York on the second Sunday of March) fires at the instant the wall clock
  would have shown it without the change (03:30 daylight time): the offset
  before the transition (PEP 495, fold=0);
- a local time that happens twice on a fall-back day (01:30) fires once, at
  its first occurrence (fold=0).

Rule text, for config files and settings (case-insensitive words):

    once  2026-12-24T18:00 Europe/London
    daily 09:00 UTC
    weekly SAT 09:00 America/New_York        (several days: MON,WED,FRI)
    monthly 1 00:00 Asia/Tokyo               (day 1-28, so every month has it)

`missed` says what happens to occurrences that passed while the server was
down (or stalled past `late_after_ms`): "late" fires the newest of them
once, on start-up; "skip" fires none and counts them.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from attrs import field, frozen

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
KINDS = ("once", "daily", "weekly", "monthly")
MISSED = ("late", "skip")
_UTC = dt.timezone.utc


class RuleError(ValueError):
    """A rule that cannot be: bad text, an unknown zone, an impossible time."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise RuleError(f"unknown time zone {name!r} (an IANA name such as America/New_York)") from exc


def _check_zone(_inst, _attr, value: str) -> None:
    _zone(value)


def _check_days(_inst, _attr, value: tuple) -> None:
    if not all(isinstance(d, int) and 0 <= d <= 6 for d in value) or len(set(value)) != len(value):
        raise RuleError(f"weekdays must be distinct 0 (Monday) .. 6 (Sunday), got {value!r}")


@frozen
class Rule:
    """When a mode wants to be called: a one-off instant or a recurring local time.

    `name` is the rule's identity within its mode: the engine keeps the
    rule's mark under it, so renaming a rule starts it afresh.
    """

    name: str = field(validator=attrs.validators.matches_re(r"[A-Za-z0-9_.:-]{1,64}"))
    kind: str = field(validator=attrs.validators.in_(KINDS))
    zone: str = field(validator=_check_zone)
    hour: int = field(default=0, validator=attrs.validators.and_(attrs.validators.ge(0), attrs.validators.le(23)))
    minute: int = field(default=0, validator=attrs.validators.and_(attrs.validators.ge(0), attrs.validators.le(59)))
    weekdays: tuple = field(default=(), converter=tuple, validator=_check_days)
    day: int = field(default=1, validator=attrs.validators.and_(attrs.validators.ge(1), attrs.validators.le(28)))
    date: str = ""  # "YYYY-MM-DD", for kind "once"
    # For kind "once": the instant itself (epoch ms), instead of date and time.
    instant_ms: int = field(default=-1, validator=attrs.validators.ge(-1))
    missed: str = field(default="late", validator=attrs.validators.in_(MISSED))

    def __attrs_post_init__(self) -> None:
        if self.kind == "weekly" and not self.weekdays:
            raise RuleError(f"rule {self.name}: a weekly rule needs at least one day")
        if self.kind == "once" and self.instant_ms < 0:
            try:
                dt.date.fromisoformat(self.date)
            except (TypeError, ValueError) as exc:
                raise RuleError(f"rule {self.name}: a one-off rule needs a date YYYY-MM-DD, got {self.date!r}") from exc

    @classmethod
    def at(cls, name: str, ms: int, missed: str = "late") -> Rule:
        """A one-off rule for an instant already known in epoch ms (a round's
        lock time)."""
        return cls(name=name, kind="once", zone="UTC", instant_ms=ms, missed=missed)

    def text(self) -> str:
        """The rule as `parse` reads it."""
        hm = f"{self.hour:02d}:{self.minute:02d}"
        if self.kind == "once":
            if self.instant_ms >= 0:
                when = dt.datetime.fromtimestamp(self.instant_ms / 1000, _UTC)
                return f"once {when.isoformat(timespec='milliseconds')[:-6]} UTC"
            return f"once {self.date}T{hm} {self.zone}"
        if self.kind == "daily":
            return f"daily {hm} {self.zone}"
        if self.kind == "weekly":
            return f"weekly {','.join(DAYS[d] for d in self.weekdays)} {hm} {self.zone}"
        return f"monthly {self.day} {hm} {self.zone}"


def _hm(text: str) -> tuple[int, int]:
    try:
        h, m = text.split(":")
        hour, minute = int(h), int(m)
    except ValueError:
        raise RuleError(f"a time is HH:MM, got {text!r}") from None
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and len(m) == 2):
        raise RuleError(f"a time is HH:MM (00:00 .. 23:59), got {text!r}")
    return hour, minute


def parse(name: str, text: str, missed: str = "late") -> Rule:
    """Read rule text (module docstring); RuleError says what is wrong."""
    if not isinstance(text, str):
        raise RuleError(f"rule {name}: expected text such as 'weekly SAT 09:00 America/New_York'")
    words = text.split()
    kind = words[0].lower() if words else ""
    try:
        if kind == "once" and len(words) == 3:
            try:
                local = dt.datetime.fromisoformat(words[1])
            except ValueError:
                raise RuleError(f"a one-off time is YYYY-MM-DDTHH:MM, got {words[1]!r}") from None
            if local.tzinfo is not None:
                raise RuleError("give the zone as its own word, not as an offset")
            zone = _zone(words[2])
            if local.second or local.microsecond:
                instant = round(local.replace(tzinfo=zone).astimezone(_UTC).timestamp() * 1000)
                return Rule(name=name, kind="once", zone=words[2], instant_ms=instant, missed=missed)
            return Rule(name=name, kind="once", zone=words[2], hour=local.hour, minute=local.minute,
                        date=local.date().isoformat(), missed=missed)
        if kind == "daily" and len(words) == 3:
            hour, minute = _hm(words[1])
            return Rule(name=name, kind="daily", zone=words[2], hour=hour, minute=minute, missed=missed)
        if kind == "weekly" and len(words) == 4:
            days = []
            for d in words[1].upper().split(","):
                if d not in DAYS:
                    raise RuleError(f"unknown day {d!r} (one of {', '.join(DAYS)})")
                days.append(DAYS.index(d))
            hour, minute = _hm(words[2])
            return Rule(name=name, kind="weekly", zone=words[3], hour=hour, minute=minute,
                        weekdays=tuple(days), missed=missed)
        if kind == "monthly" and len(words) == 4:
            if not words[1].isdigit() or not 1 <= int(words[1]) <= 28:
                raise RuleError(f"a monthly rule's day is 1 .. 28, got {words[1]!r}")
            hour, minute = _hm(words[2])
            return Rule(name=name, kind="monthly", zone=words[3], hour=hour, minute=minute,
                        day=int(words[1]), missed=missed)
    except RuleError as exc:
        raise RuleError(f"rule {name}: {exc}") from None
    except (ValueError, TypeError) as exc:  # attrs validators
        raise RuleError(f"rule {name}: {exc}") from None
    raise RuleError(f"rule {name}: cannot read {text!r}; expected e.g. 'once 2026-12-24T18:00 Europe/London', "
                    "'daily 09:00 UTC', 'weekly SAT 09:00 America/New_York' or 'monthly 1 00:00 UTC'")


# --- occurrences ------------------------------------------------------------------------


def _instant(rule: Rule, day: dt.date, zone: ZoneInfo) -> int:
    local = dt.datetime(day.year, day.month, day.day, rule.hour, rule.minute, tzinfo=zone, fold=0)
    # Through UTC: arithmetic on aware datetimes in one zone is wall-clock
    # arithmetic and would ignore the offset change (PEP 495).
    return int(local.astimezone(_UTC).timestamp()) * 1000


def _matches(rule: Rule, day: dt.date) -> bool:
    if rule.kind == "daily":
        return True
    if rule.kind == "weekly":
        return day.weekday() in rule.weekdays
    if rule.kind == "monthly":
        return day.day == rule.day
    return day.isoformat() == rule.date


def occurrences(rule: Rule, after_ms: int, upto_ms: int) -> list[int]:
    """Every occurrence in (after_ms, upto_ms], oldest first."""
    if upto_ms <= after_ms:
        return []
    zone = _zone(rule.zone)
    if rule.kind == "once":
        at = rule.instant_ms if rule.instant_ms >= 0 else _instant(rule, dt.date.fromisoformat(rule.date), zone)
        return [at] if after_ms < at <= upto_ms else []
    # Local dates from a day before to a day after cover every offset (< 26 h).
    first = dt.datetime.fromtimestamp(after_ms / 1000, _UTC).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(upto_ms / 1000, _UTC).date() + dt.timedelta(days=1)
    out = []
    day = first
    while day <= last:
        if _matches(rule, day):
            at = _instant(rule, day, zone)
            if after_ms < at <= upto_ms:
                out.append(at)
        day += dt.timedelta(days=1)
    return out


def next_after(rule: Rule, after_ms: int, horizon_days: int = 400) -> int | None:
    """The first occurrence after `after_ms`, or None (a one-off rule past, or
    none within `horizon_days`)."""
    found = occurrences(rule, after_ms, after_ms + horizon_days * 86_400_000)
    return found[0] if found else None


def following(rule: Rule, at_ms: int) -> int:
    """`ScheduleFired.next_ms`: the occurrence after `at_ms`, -1 if none."""
    found = next_after(rule, at_ms)
    return -1 if found is None else found


@frozen
class Decision:
    """What the scheduler feeds the engine for one rule now (`ScheduleFired`'s fields)."""

    at_ms: int
    kind: str  # on_time | late | skipped | armed
    missed: int = 0


def decide(rule: Rule, mark: int | None, now_ms: int, late_after_ms: int) -> Decision | None:
    """What to feed for `rule`, whose newest applied occurrence is `mark`
    (None: never seen), at `now_ms`. None: nothing is due.

    A recurring rule seen for the first time is armed at `now_ms` (nothing
    fires; occurrences after now count, so one missed during a later outage
    is still found on start-up). A one-off rule needs no arming: its instant
    is its own. An occurrence is on time if it is at most `late_after_ms`
    old, otherwise it was missed and the rule's `missed` policy applies to
    all the missed ones together: the newest fires late, or all are skipped.
    """
    if mark is None and rule.kind != "once":
        return Decision(now_ms, "armed")
    due = occurrences(rule, -1 if mark is None else mark, now_ms)
    if not due:
        return None
    newest = due[-1]
    if now_ms - newest <= late_after_ms:
        return Decision(newest, "on_time", len(due) - 1)
    if rule.missed == "skip":
        return Decision(newest, "skipped", len(due))
    return Decision(newest, "late", len(due) - 1)


__all__ = ["Rule", "RuleError", "parse", "occurrences", "next_after", "following", "Decision", "decide", "DAYS"]
