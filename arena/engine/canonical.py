"""Canonical encoding of engine state, and the state hash.

Two states are the same if and only if their canonical encodings are the same
bytes. The encoding walks attrs instances, dicts (keys sorted), lists, tuples
and scalars (a bytearray encodes exactly as the bytes it holds); anything
else is a bug and raises, so that a stray float or object cannot slip into
the state unnoticed. The hash (blake2b-256 of the encoding) is what replay
tests compare.
"""

from __future__ import annotations

import hashlib

import attrs


# attrs field metadata: a field added to a state class after stores were
# written leaves the encoding (hence the state hash) unchanged while it is
# None, so snapshots written before it existed still verify and replay.
OMIT_IF_NONE = "canonical_omit_if_none"
# attrs field metadata: the same for a field whose natural "not yet" value
# is its default rather than None (a counter at 0, an empty table, a setting
# left as it ships): left out while it equals the default, so a store whose
# states never had the field (snapshots load it as the default) still
# verifies, and a state that uses it hashes it.
OMIT_IF_DEFAULT = "canonical_omit_if_default"
# attrs field metadata: a dict field whose items are encoded as if they were
# fields of the instance itself (`EngineConfig.modes`: each mode's settings
# under the mode's name), so moving fields into such a dict keeps the hash.
FLATTEN = "canonical_flatten"


def fields_of(obj: object):
    """(name, value) of an attrs instance as the encodings see it: OMIT_IF_NONE
    fields left out while None, OMIT_IF_DEFAULT ones while at their default,
    FLATTEN fields' items in place of the field."""
    for f in attrs.fields(type(obj)):
        value = getattr(obj, f.name)
        if f.metadata.get(FLATTEN):
            for k, v in value.items():
                yield k, v
        elif f.metadata.get(OMIT_IF_NONE) and value is None:
            continue
        elif f.metadata.get(OMIT_IF_DEFAULT) and value == _default(f):
            continue
        else:
            yield f.name, value


def _default(f: attrs.Attribute) -> object:
    d = f.default
    return d.factory() if isinstance(d, attrs.Factory) else d


def to_plain(obj: object) -> object:
    """attrs instances -> dicts, tuples -> lists, recursively; scalars as is."""
    if obj is None or isinstance(obj, (bool, int, str, bytes)):
        return obj
    if type(obj) is bytearray:
        # A mutable buffer (a mode's big board, changed in place) is the same
        # value as the bytes it holds: encoded as bytes, so whether a state
        # keeps bytes or a bytearray never changes its hash. Not copied here:
        # `_enc` reads it as it is.
        return obj
    if attrs.has(type(obj)):
        out = {}
        for name, value in fields_of(obj):
            if name in out:
                raise TypeError(f"{type(obj).__name__}: two fields named {name!r}")
            out[name] = to_plain(value)
        return out
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(to_plain(v) for v in obj)
    raise TypeError(f"not allowed in engine state: {type(obj).__name__}")


def _enc(obj: object, out: list[bytes]) -> None:
    if obj is None:
        out.append(b"N")
    elif obj is True:
        out.append(b"T")
    elif obj is False:
        out.append(b"F")
    elif isinstance(obj, int):
        out.append(b"i%d;" % obj)
    elif isinstance(obj, str):
        b = obj.encode()
        out.append(b"s%d:" % len(b))
        out.append(b)
    elif isinstance(obj, (bytes, bytearray)):
        out.append(b"b%d:" % len(obj))
        out.append(obj)  # b"".join takes a bytearray as it is (one copy, into the encoding)
    elif isinstance(obj, dict):
        keys = sorted(obj, key=lambda k: (type(k).__name__, k))
        out.append(b"d%d:" % len(keys))
        for k in keys:
            _enc(k, out)
            _enc(obj[k], out)
    elif isinstance(obj, list):
        out.append(b"l%d:" % len(obj))
        for v in obj:
            _enc(v, out)
    else:
        raise TypeError(f"cannot encode {type(obj).__name__}")


def encode(obj: object) -> bytes:
    out: list[bytes] = []
    _enc(to_plain(obj), out)
    return b"".join(out)


def state_hash(obj: object) -> str:
    return hashlib.blake2b(encode(obj), digest_size=32).hexdigest()
