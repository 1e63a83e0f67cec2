"""Bytes for the store: snapshots, journal ticks and effects as MessagePack.

The engine hands out plain data (`arena.engine.snapshot`, `inputs.to_record`);
this module is the only place that turns it into bytes and back. Integer map
keys are allowed (engine dicts have them), binary stays binary.
"""

from __future__ import annotations

import msgpack
from attrs import asdict

from arena.engine import inputs as I
from arena.engine import snapshot
from arena.engine.outputs import Settle, Transfer
from arena.engine.registry import registry


def _pack(value) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _unpack(data: bytes):
    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)


def dump_snapshot(state) -> bytes:
    return _pack(snapshot.dump(state))


def load_snapshot(data: bytes):
    return snapshot.load(_unpack(data))


def encode_tick(records: list[dict]) -> bytes:
    """One tick's inputs (as `inputs.to_record` dicts)."""
    return _pack(records)


def decode_tick(data: bytes) -> list[dict]:
    return _unpack(data)


def encode_inputs(inputs) -> bytes:
    return encode_tick([I.to_record(x) for x in inputs])


def decode_inputs(data: bytes) -> list:
    return [I.from_record(r) for r in decode_tick(data)]


# --- effects (the outbox) -------------------------------------------------------------

# Effect class names -> classes: `Settle` and every mode's (the registry's).
EFFECT_TYPES = registry.effect_types


def record_json(data: dict) -> str:
    """A mode record's data as the store keeps it (compact, keys sorted)."""
    import json

    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def encode_effect(eff) -> bytes:
    body = asdict(eff, recurse=False)
    if isinstance(eff, Settle):
        body["transfers"] = [[t.source, t.dest, t.amount] for t in eff.transfers]
    else:
        body = {k: list(v) if isinstance(v, tuple) else v for k, v in body.items()}
    return _pack([type(eff).__name__, body])


def decode_effect(data: bytes):
    name, body = _unpack(data)
    cls = EFFECT_TYPES.get(name)
    if cls is None:
        registry.modes()  # the built-in modes' effects, registered on first use
        cls = EFFECT_TYPES[name]
    if cls is Settle:
        body["transfers"] = tuple(Transfer(*t) for t in body["transfers"])
    else:
        body = {k: tuple(v) if isinstance(v, list) else v for k, v in body.items()}
    return cls(**body)


def pack(value) -> bytes:
    return _pack(value)


def unpack(data: bytes):
    return _unpack(data)
