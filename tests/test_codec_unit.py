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


# --- decoding limits (issue 19: decode bombs) ---------------------------------------


def nested(depth: int):
    v = None
    for _ in range(depth):
        v = [v]
    return v


def test_depth_limit_is_exact_on_both_paths():
    dec = codec.Decoder(max_depth=5, max_containers=64, max_container_items=64)
    assert dec.unpack(msgpack.packb(nested(5))) == nested(5)  # short: the fast path
    with pytest.raises(codec.BadFrame, match="nest"):
        dec.unpack(msgpack.packb(nested(6)))
    padded = [nested(4), "x" * 2000]  # long: the checked path
    assert dec.unpack(msgpack.packb(padded)) == padded
    with pytest.raises(codec.BadFrame, match="nest"):
        dec.unpack(msgpack.packb([nested(5), "x" * 2000]))
    # depth counts maps too
    with pytest.raises(codec.BadFrame, match="nest"):
        dec.unpack(msgpack.packb({"a": {"b": {"c": {"d": {"e": {}}}}}}))


def test_container_and_item_limits():
    dec = codec.Decoder(max_depth=8, max_containers=100, max_container_items=50)
    assert dec.unpack(msgpack.packb([[]] * 49)) == [[]] * 49
    with pytest.raises(codec.BadFrame, match="max_array_len"):
        dec.unpack(msgpack.packb(list(range(51))))
    with pytest.raises(codec.BadFrame, match="max_map_len"):
        dec.unpack(msgpack.packb({str(i): i for i in range(51)}))
    with pytest.raises(codec.BadFrame, match="at most 100 arrays and maps"):
        dec.unpack(msgpack.packb([[{}] * 40] * 3))


def test_a_bomb_costs_only_its_first_containers():
    import time

    bomb = msgpack.packb([[{}] * 1000] * 1000)  # 1M empty maps, ~1 MB
    t = time.perf_counter()
    with pytest.raises(codec.BadFrame):
        codec.unpack(bomb)
    assert time.perf_counter() - t < 0.1  # the whole decode takes ~0.1-0.2 s; refused after 1,024 maps
    with pytest.raises(codec.BadFrame):
        codec.unpack(msgpack.packb([{}] * 65_000))  # one array too long: refused by its header


@pytest.mark.parametrize("value", [
    {b"k": 1},
    [0, 1, "ping", {b"k": 1}],
    [0, 1, "ping", {"x": [{b"k": 1}]}],
    [0, 1, "ping", {"pad": "p" * 3000, "x": {b"k": 1}}],
])
def test_binary_map_keys_are_refused_on_both_paths(value):
    with pytest.raises(codec.BadFrame, match="keys|MessagePack"):
        codec.unpack(msgpack.packb(value, use_bin_type=True))


def test_binary_values_are_fine():
    value = [0, 1, "auth.login", {"wallet": "w", "signature": b"\x00" * 64}]
    assert codec.unpack(msgpack.packb(value, use_bin_type=True)) == value


@given(values)
def test_a_tight_decoder_agrees_with_msgpack_or_refuses(value):
    """Within limits a bounded decoder returns what msgpack returns; otherwise it refuses."""
    data = msgpack.packb(value, use_bin_type=True)
    dec = codec.Decoder(max_depth=3, max_containers=6, max_container_items=3)
    try:
        got = dec.unpack(data)
    except codec.BadFrame:
        return
    assert got == msgpack.unpackb(data, raw=False, strict_map_key=True)


def test_head_rid_and_peek_request():
    frame = msgpack.packb([0, 77, "roast.submit", {"audio": b"a" * 100_000}], use_bin_type=True)
    assert codec.head_rid(frame[:32]) == 77
    assert codec.head_rid(frame[:3]) == 77  # the rid is a fixint: its byte is enough
    assert codec.head_rid(frame[:2]) == 0  # cut before the rid
    assert codec.head_rid(b"\xc1") == 0
    assert codec.head_rid(msgpack.packb([1, 5, "x", {}])) == 0  # not a request
    assert codec.peek_request(frame) == (77, "roast.submit")
    with pytest.raises(codec.BadFrame) as exc:
        codec.peek_request(msgpack.packb([[0, 1, "ping", {}], [0, 2, "ping", {}]]))
    assert exc.value.rid == 0
    with pytest.raises(codec.BadFrame) as exc:
        codec.peek_request(msgpack.packb([1, 9, "ping", {}]))
    assert exc.value.rid == 9
