"""`arena.net.codec.unpack`: its two decoding paths agree, and both are strict.

Frames without any MessagePack extension type byte are decoded without the
per-container timestamp hooks; frames with one (inside a string or a real
extension) take the hooked path. Either way the result, or the refusal, is
the same.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.net import codec

EXT_BYTES = bytes((0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8))

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(values)
def test_both_paths_decode_the_same(value):
    data = msgpack.packb(value, use_bin_type=True)
    expected = msgpack.unpackb(data, raw=False, strict_map_key=True)
    assert codec.unpack(data) == expected


def test_a_string_holding_an_extension_byte_still_decodes():
    text = "\u0580\u05c0 \u06d6"  # UTF-8 bytes d6 80, d7 80, db 96
    data = msgpack.packb([0, 1, "reaction.send", {"match": "m", "emoji": text}])
    assert any(b in EXT_BYTES for b in data)
    assert codec.unpack(data) == [0, 1, "reaction.send", {"match": "m", "emoji": text}]


@pytest.mark.parametrize("value", [
    msgpack.Timestamp(1, 0),
    [msgpack.Timestamp(1, 0)],
    {"t": [1, {"u": msgpack.Timestamp(2**40, 5)}]},
    {"x": msgpack.ExtType(5, b"abc")},
])
def test_extensions_are_refused_wherever_they_are(value):
    with pytest.raises(codec.BadFrame):
        codec.unpack(msgpack.packb(value))


@pytest.mark.parametrize("data", [msgpack.packb({1: 2}), b"\xa3\xff\xfe\xfd", b"\xc1", b"\x92\x01"])
def test_non_string_keys_bad_utf8_and_junk_are_refused(data):
    with pytest.raises(codec.BadFrame):
        codec.unpack(data)
