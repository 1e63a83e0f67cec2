"""Calendar rules for modes: `arena.schedule.Rule` (and `parse`), re-exported
inside `arena.engine`.

A mode package may import only the standard library, attrs and
`arena.engine` (tests/test_mode_registry.py), so that it stays a pure
function of its inputs. `arena.schedule` is pure too (no clock, no I/O: it
only turns rules into instants), but it lives outside the engine because the
scheduler side task owns it. This module is the one allowed path by which a
mode builds the `Rule`s its `Mode.schedules` returns (a round's lock instant:
`Rule.at(name, epoch_ms)`).
"""

from __future__ import annotations

from arena.schedule import Rule, RuleError, parse

__all__ = ["Rule", "RuleError", "parse"]
