"""The snapshot codec: the whole engine state as plain data, and back.

`dump(state)` turns an `EngineState` into nested lists of scalars (None,
bool, int, str, bytes) that any serializer can carry (the persistence layer
uses MessagePack); `load(data)` rebuilds the same state, so that
`state_hash(load(dump(s))) == state_hash(s)` and the rebuilt state behaves
exactly like the original (dict order, which is FIFO matchmaking order, and
the difference between lists and tuples are kept, unlike in the canonical
encoding, which only identifies a state).

The format is type-tagged: a container is a list whose first element names
its type, a scalar is itself.

    ["L", item, ...]                    list
    ["T", item, ...]                    tuple
    ["D", key, value, key, value, ...]  dict, in insertion order, any key type
    ["S", item, ...]                    set / frozenset (sorted by canonical form)
    ["A", "ClassName", "field", value, ...]   an attrs instance of a registered class
    ["B", bytes]                        bytearray (a mutable buffer; bytes stay a scalar)

Only the classes registered here (`register`) can be loaded: a snapshot
never names arbitrary code. Modes register their own state classes.

The engine imports only the standard library and attrs, so this module makes
plain data, not bytes; `arena.persistence.codec` encodes it.
"""

from __future__ import annotations

import attrs

from .canonical import FLATTEN
from .canonical import encode as canonical_encode
from .config import EngineConfig
from .state import EngineState

FORMAT_VERSION = 1

CLASSES: dict[str, type] = {}


def register(cls: type) -> type:
    """Allow instances of the attrs class `cls` in snapshots (by class name)."""
    if not attrs.has(cls):
        raise TypeError(f"{cls.__name__} is not an attrs class")
    other = CLASSES.get(cls.__name__)
    if other is not None and other is not cls:
        raise ValueError(f"two snapshot classes named {cls.__name__}")
    CLASSES[cls.__name__] = cls
    return cls


for _cls in (EngineState, EngineConfig):
    register(_cls)


class SnapshotError(ValueError):
    """The data is not a snapshot this engine can load."""


def to_data(obj: object) -> object:
    if obj is None or isinstance(obj, (bool, int, str, bytes)):
        return obj
    t = type(obj)
    if t is list:
        return ["L", *[to_data(v) for v in obj]]
    if t is dict:
        out: list = ["D"]
        for k, v in obj.items():
            out.append(to_data(k))
            out.append(to_data(v))
        return out
    if t is tuple:
        return ["T", *[to_data(v) for v in obj]]
    if t is bytearray:
        # Tagged, so it loads as a bytearray again (a mode mutates it in
        # place); the copy to bytes is the one the snapshot needs anyway.
        return ["B", bytes(obj)]
    if t in (set, frozenset):
        return ["S", *sorted((to_data(v) for v in obj), key=canonical_encode)]
    if attrs.has(t):
        if CLASSES.get(t.__name__) is not t:
            raise TypeError(f"{t.__name__} is not registered for snapshots (arena.engine.snapshot.register)")
        out = ["A", t.__name__]
        for f in attrs.fields(t):
            value = getattr(obj, f.name)
            if f.metadata.get(FLATTEN):  # its items as fields (see canonical.FLATTEN)
                for k, v in value.items():
                    out.append(k)
                    out.append(to_data(v))
                continue
            out.append(f.name)
            out.append(to_data(value))
        return out
    raise TypeError(f"not allowed in engine state: {t.__name__}")


def from_data(data: object) -> object:
    if data is None or isinstance(data, (bool, int, str, bytes)):
        return data
    if not isinstance(data, (list, tuple)) or not data:
        raise SnapshotError(f"bad snapshot value {data!r:.80}")
    tag = data[0]
    if tag == "L":
        return [from_data(v) for v in data[1:]]
    if tag == "T":
        return tuple(from_data(v) for v in data[1:])
    if tag == "D":
        if len(data) % 2 != 1:
            raise SnapshotError("dict with an odd number of items")
        it = iter(data[1:])
        return {_hashable(from_data(k)): from_data(v) for k, v in zip(it, it)}
    if tag == "S":
        return {_hashable(from_data(v)) for v in data[1:]}
    if tag == "B":
        if len(data) != 2 or not isinstance(data[1], (bytes, bytearray)):
            raise SnapshotError("bad bytearray record")
        return bytearray(data[1])
    if tag == "A":
        if len(data) < 2 or len(data) % 2 != 0:
            raise SnapshotError("bad attrs record")
        cls = CLASSES.get(data[1])
        if cls is None:
            raise SnapshotError(f"unknown snapshot class {data[1]!r}")
        fields = {f.name: f for f in attrs.fields(cls)}
        flat = next((f for f in fields.values() if f.metadata.get(FLATTEN)), None)
        kwargs = {}
        if flat is not None:
            kwargs[flat.alias] = {}
        it = iter(data[2:])
        for name, value in zip(it, it):
            f = fields.get(name)
            if f is None or f is flat:
                if flat is None or not isinstance(name, str):
                    raise SnapshotError(f"{data[1]} has no field {name!r}")
                kwargs[flat.alias][name] = from_data(value)
                continue
            kwargs[f.alias] = from_data(value)
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise SnapshotError(f"cannot rebuild {data[1]}: {exc}") from exc
    raise SnapshotError(f"unknown snapshot tag {tag!r}")


def _hashable(key: object) -> object:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    return key


def dump(state: EngineState) -> list:
    """The state as plain data: ["arena-snapshot", version, tick, <state>]."""
    return ["arena-snapshot", FORMAT_VERSION, state.tick, to_data(state)]


def load(data: object) -> EngineState:
    from .registry import registry

    registry.modes()  # the registered modes' classes can be loaded

    if (
        not isinstance(data, (list, tuple)) or len(data) != 4
        or data[0] != "arena-snapshot"
    ):
        raise SnapshotError("not an arena snapshot")
    if data[1] != FORMAT_VERSION:
        raise SnapshotError(f"snapshot format {data[1]!r}, this engine reads {FORMAT_VERSION}")
    state = from_data(data[3])
    if not isinstance(state, EngineState):
        raise SnapshotError("snapshot does not hold an EngineState")
    if state.tick != data[2]:
        raise SnapshotError("snapshot tick does not match its state")
    return state
