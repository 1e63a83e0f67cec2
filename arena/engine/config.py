"""Engine configuration: frozen values, checked when built.

`EngineConfig` holds what every mode shares (the tick rate, the seed) and
each registered mode's own settings (`modes`: mode name -> the mode's
frozen settings object, its `settings` class). The settings are part of the
state (and of its hash); they change only through a journaled
`SettingsChanged` input, so a replay changes them at the same tick.

Durations are given in milliseconds (as in config.toml) and converted to ticks
with `ticks()`, rounding up, so a timer never fires early.
"""

from __future__ import annotations

import attrs
from attrs import field, frozen

from .canonical import FLATTEN


# attrs field metadata for a settings class's dict field (a `[<mode>.<field>]`
# table of config.toml): (item type, what an item must be, test) for the loader.
CONFIG_ITEMS = "config_items"


def positive(inst, attribute, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def non_negative(inst, attribute, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative integer, got {value!r}")


def bps(inst, attribute, value):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000:
        raise ValueError(f"{attribute.name} must be an integer 0..10000 (basis points), got {value!r}")


def feed_name(inst, attribute, value):
    """A data feed's name (a `[feeds.<feed>]` table, or a simulated default)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValueError(f"{attribute.name} must be a feed name (1..64 characters), got {value!r}")


def default_mode_settings(given=None) -> dict:
    """Every registered mode's settings: those `given`, defaults for the rest.

    Not a converter of `EngineConfig.modes`: a state loaded from a snapshot
    keeps exactly the settings it was written with (its hash must verify);
    `arena.engine.core.upgrade` adds a newly registered mode's afterwards."""
    from .registry import registry

    given = dict(given or {})
    out = {}
    for name, mode in registry.modes().items():
        if mode.settings is not None:
            value = given.pop(name, None)
            out[name] = value if value is not None else mode.settings()
    out.update(given)  # a mode this build does not have: kept as it came
    return out


def _check_modes(inst, attribute, value):
    from .registry import registry

    for name, settings in value.items():
        mode = registry.modes().get(name)
        if mode is not None and mode.settings is not None and not isinstance(settings, mode.settings):
            raise ValueError(f"settings of mode {name} must be {mode.settings.__name__}, "
                             f"got {type(settings).__name__}")


@frozen
class EngineConfig:
    tick_hz: int = field(default=20, validator=positive)
    # Seeds every counter-based draw (match ids, prompts); part of the state.
    seed: int = field(default=1, validator=non_negative)
    # Mode name -> its settings. Flattened in the state's encoding (each mode's
    # settings appear under its name, as fields of the config), which keeps the
    # hash and the snapshots of stores written before modes were registered.
    modes: dict = field(factory=default_mode_settings, validator=_check_modes, metadata={FLATTEN: True})

    @classmethod
    def of(cls, *, modes: dict | None = None, **kwargs) -> EngineConfig:
        """A config with the `modes` given and every other registered mode's defaults."""
        return cls(modes=default_mode_settings(modes), **kwargs)

    def ticks(self, ms: int) -> int:
        """Milliseconds to ticks, rounded up (a timer never fires early)."""
        return -(-ms * self.tick_hz // 1000)

    def ms(self, ticks: int) -> int:
        return ticks * 1000 // self.tick_hz

    def with_mode(self, name: str, settings) -> EngineConfig:
        return attrs.evolve(self, modes={**self.modes, name: settings})


def settings_pairs(settings) -> tuple:
    """A settings object as (name, value) pairs; a dict field's items as
    ("<field>.<key>", value), in the dict's order."""
    out = []
    for f in attrs.fields(type(settings)):
        value = getattr(settings, f.name)
        if isinstance(value, dict):
            out += [(f"{f.name}.{k}", v) for k, v in value.items()]
        else:
            out.append((f.name, value))
    return tuple(out)


def with_settings(settings, pairs):
    """`settings` with the (name, value) `pairs` applied (`settings_pairs`' form).

    Raises ValueError for an unknown name or a value the settings refuse."""
    fields = {f.name: f for f in attrs.fields(type(settings))}
    changes: dict = {}
    for name, value in pairs:
        head, dot, key = name.partition(".")
        current = getattr(settings, head, None) if head in fields else None
        if dot and isinstance(current, dict) and key in current:
            changes.setdefault(head, dict(current))[key] = value
        elif not dot and head in fields and not isinstance(current, dict):
            changes[head] = value
        else:
            raise ValueError(f"unknown setting {name!r}")
    return attrs.evolve(settings, **changes)  # the validators check every value
