"""Bytes for the store: snapshots, journal ticks and effects as MessagePack.

The engine hands out plain data (`arena.engine.snapshot`, `inputs.to_record`);
this module is the only place that turns it into bytes and back. Integer map
keys are allowed (engine dicts have them), binary stays binary.

Snapshots are stored compressed (zlib, level 1): a mode's state may hold a
large buffer (a 1000 × 1000 bitmap of one byte a pixel is 1 MB raw, a few
KB when mostly blank, ~0.7 MB as noise). `dump_snapshot` gives the raw MessagePack
on the tick loop (a copy is needed there anyway, the state changes next
tick); the writer compresses it in its worker thread (`compress_snapshot`).
`load_snapshot` reads both, so snapshots stored raw by earlier releases
still load: a zlib stream starts with 0x78, which as MessagePack would be
the bare integer 120, never a snapshot.
"""

from __future__ import annotations

import zlib

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


_ZLIB = 0x78


def compress_snapshot(data: bytes) -> bytes:
    """A raw snapshot compressed for the store (unchanged if it already is)."""
    if data[:1] == bytes((_ZLIB,)):
        return data
    return zlib.compress(data, 1)


def load_snapshot(data: bytes):
    if data[:1] == bytes((_ZLIB,)):
        data = zlib.decompress(data)
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
