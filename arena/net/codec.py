"""MessagePack framing of the v1 envelope (PROTOCOL.md, "Envelope").

Decoding is strict: anything that is not plain MessagePack of the expected
shape is a bad frame, reported with a reason and the `rid` when one can be
read. Encoding is built for fan-out: an event's type and body are packed
once (`event_tail`), and each session only prepends its own envelope
header and `seq`; a tick's envelopes for one client are joined into one
batch frame without re-encoding anything.
"""

from __future__ import annotations

from itertools import repeat as _repeat

import msgpack

REQUEST, REPLY, EVENT = 0, 1, 2
UINT32_MAX = 0xFFFFFFFF

# Decoding limits sized for envelopes (PROTOCOL.md "Limits"; [net] keys of
# the same names): how deep values nest, how many arrays and maps one frame
# may hold, how many items one of them may hold.
MAX_DEPTH = 16
MAX_CONTAINERS = 1024
MAX_CONTAINER_ITEMS = 1024


def _no_ext(code, data):
    raise ValueError("MessagePack extension types are not part of the protocol")


class BadFrame(Exception):
    """A frame that is not a valid request; `rid` is 0 when unreadable."""

    def __init__(self, reason: str, rid: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.rid = rid


class _Refused(ValueError):
    """A decoding limit was reached (raised from the container hooks)."""


# Bytes that may start an extension value (the timestamp included): fixext
# 1/2/4/8/16 (d4-d8), ext 8/16/32 (c7-c9); and a binary value (c4-c6), the
# only other kind that could be a (refused) non-string map key.
_EXT_BIN_BYTES = bytes((0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8))
# Bytes that may start an array or a map: fixmap 80-8f, fixarray 90-9f,
# array 16/32 dc-dd, map 16/32 de-df. Any other byte can never open a
# container, so the count of these bytes bounds the number of containers
# (and the nesting depth) from above, at C speed.
_CONTAINER_BYTES = bytes(range(0x80, 0xA0)) + bytes((0xDC, 0xDD, 0xDE, 0xDF))
# Each byte's class (2: may start a binary or extension value, 1: may open a
# container, 0: anything else): `2 in data.translate(_CLASSES)` is the
# cheapest test found for "no such byte" (an int `in` bytes is a memchr; a
# bytes `in` bytes or a `count` costs several times more).
_CLASSES = bytearray(256)
for _b in _CONTAINER_BYTES:
    _CLASSES[_b] = 1
for _b in _EXT_BIN_BYTES:
    _CLASSES[_b] = 2
_CLASSES = bytes(_CLASSES)
_unpackb = msgpack.unpackb
_STR = str


class Decoder:
    """Strict, bounded MessagePack decoding of one frame.

    A frame short enough that it cannot break a limit (at most `fast_bytes`
    bytes, no more possible container bytes than `max_depth`, no binary or
    extension byte) is decoded with msgpack's defaults, which are already the
    strict settings (str as str, string or binary map keys, lists): no
    keyword arguments, no hooks. Any other frame is decoded with msgpack's
    own length limits (no string longer than `max_str_bytes`, no binary
    longer than `max_bin_bytes`, no extension value, no array or map of more
    than `max_container_items`) and hooks that count its arrays and maps,
    measure their depth and refuse non-string map keys: decoding stops at the
    first container over a limit, so a frame of a million empty maps costs
    what its first `max_containers` do.
    """

    __slots__ = ("max_depth", "max_containers", "max_items", "max_str", "max_bin", "fast_bytes")

    def __init__(self, *, max_depth: int = MAX_DEPTH, max_containers: int = MAX_CONTAINERS,
                 max_container_items: int = MAX_CONTAINER_ITEMS, max_str_bytes: int = 1 << 20,
                 max_bin_bytes: int = 1 << 20):
        self.max_depth = max_depth
        self.max_containers = max_containers
        self.max_items = max_container_items
        self.max_str = max_str_bytes
        self.max_bin = max_bin_bytes
        # A frame of n bytes holds no string or container longer than n.
        self.fast_bytes = min(1024, max_container_items, max_str_bytes)
        if max_depth > max_containers:
            self.max_depth = max_containers

    def unpack(self, data: bytes):
        try:
            n = len(data)
            if (n <= self.fast_bytes and 2 not in data.translate(_CLASSES)
                    and n - len(data.translate(None, _CONTAINER_BYTES)) <= self.max_depth):
                value = _unpackb(data)
            else:
                value = self._unpack_checked(data)
        except msgpack.ExtraData as extra:
            # The first value decoded: its rid, if it has one, is readable.
            raise BadFrame("a frame holds exactly one MessagePack value", readable_rid(extra.unpacked)) from None
        except _Refused as exc:
            raise BadFrame(str(exc)) from None
        except ValueError as exc:  # includes StackError, UnicodeDecodeError, bad ext, limits
            raise BadFrame(f"not valid MessagePack: {exc or type(exc).__name__}") from None
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad frame
            raise BadFrame(f"not valid MessagePack: {type(exc).__name__}") from None
        return value

    def _unpack_checked(self, data: bytes):
        max_depth = self.max_depth
        left = [self.max_containers]
        depths: dict[int, int] = {}  # id of a decoded container -> its depth (1: no container inside)
        get = depths.get
        zeros = _repeat(0)

        def seen(obj, children) -> None:
            left[0] -= 1
            if left[0] < 0:
                raise _Refused(f"a frame holds at most {self.max_containers} arrays and maps")
            d = max(map(get, map(id, children), zeros), default=0) + 1
            if d > max_depth:
                raise _Refused(f"values nest at most {max_depth} deep")
            depths[id(obj)] = d

        def on_list(items):
            seen(items, items)
            return items

        def on_map(m):
            if m and set(map(type, m)) != {_STR}:
                raise _Refused("map keys must be strings")
            seen(m, m.values())
            return m

        return _unpackb(
            data,
            ext_hook=_no_ext,
            max_ext_len=0,
            max_str_len=self.max_str,
            max_bin_len=self.max_bin,
            max_array_len=self.max_items,
            max_map_len=self.max_items,
            list_hook=on_list,
            object_hook=on_map,
        )


_DEFAULT = Decoder()


def unpack(data: bytes):
    """Decode one frame with the default limits (see `Decoder`)."""
    return _DEFAULT.unpack(data)


def head_rid(head: bytes) -> int:
    """The rid of a message from its first bytes only (0 if unreadable)."""
    u = msgpack.Unpacker(max_buffer_size=max(64, len(head)), max_str_len=64, max_bin_len=64,
                         max_array_len=64, max_map_len=64, max_ext_len=0, ext_hook=_no_ext)
    u.feed(head)
    try:
        if u.read_array_header() != 4 or u.unpack() is not REQUEST:
            return 0
        rid = u.unpack()
    except Exception:  # noqa: BLE001 - truncated or not an envelope
        return 0
    return rid if rid.__class__ is int and 0 <= rid <= UINT32_MAX else 0


def peek_request(data: bytes) -> tuple[int, object]:
    """`(rid, type)` of a frame that starts like one request envelope
    `[0, rid, type, ...]`, read without decoding its body; raise BadFrame
    (with the rid where readable) for anything else, a batch included."""
    u = msgpack.Unpacker(max_buffer_size=len(data) or 1, max_str_len=256, max_bin_len=256,
                         max_array_len=16, max_map_len=16, max_ext_len=0, ext_hook=_no_ext)
    u.feed(data)
    try:
        if u.read_array_header() != 4:
            raise ValueError
        kind = u.unpack()
        rid = u.unpack()
        type_ = u.unpack()
    except Exception:  # noqa: BLE001 - not an envelope's start (or a batch): unreadable
        raise BadFrame("a frame over the plain limit must be one request envelope") from None
    rid = rid if rid.__class__ is int and 0 <= rid <= UINT32_MAX else 0
    if kind.__class__ is not int or kind != REQUEST:
        raise BadFrame("a client envelope starts with 0 (request)", rid)
    return rid, type_


def readable_rid(env) -> int:
    if isinstance(env, list) and len(env) >= 2:
        rid = env[1]
        if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid <= UINT32_MAX:
            return rid
    return 0


def split_envelopes(value) -> list:
    """A frame's value as a list of envelopes (a batch or a single one)."""
    # Exact type checks: the decoder only ever makes plain lists.
    if value.__class__ is list and value and value[0].__class__ is list:
        return value
    return [value]


def check_request(env) -> tuple[int, str, dict]:
    """Validate `[0, rid, type, body]`; return (rid, type, body) or raise BadFrame."""
    # Fast path for a well-formed request (decoded values have exact types;
    # a bool is not an int here, as the protocol wants).
    if env.__class__ is list and len(env) == 4:
        kind, rid, type_, body = env
        if (kind.__class__ is int and kind == REQUEST and rid.__class__ is int and 0 <= rid <= UINT32_MAX
                and type_.__class__ is str and body.__class__ is dict):
            return rid, type_, body
    return _check_request_slow(env)


def _check_request_slow(env) -> tuple[int, str, dict]:
    rid = readable_rid(env)
    if not isinstance(env, list) or len(env) != 4:
        raise BadFrame("an envelope is a 4-element array [0, rid, type, body]", rid)
    kind, raw_rid, type_, body = env
    if type(kind) is not int or kind != REQUEST:  # not False, not 0.0
        raise BadFrame("a client envelope starts with 0 (request)", rid)
    if not isinstance(raw_rid, int) or isinstance(raw_rid, bool) or not 0 <= raw_rid <= UINT32_MAX:
        raise BadFrame("rid must be a uint32", 0)
    if not isinstance(type_, str):
        raise BadFrame("type must be a string", rid)
    if not isinstance(body, dict):
        raise BadFrame("body must be a map", rid)
    return raw_rid, type_, body


# --- encoding -------------------------------------------------------------------


_packer = msgpack.Packer(use_bin_type=True)  # reused: faster than packb (single-threaded use)
pack = _packer.pack

# MessagePack of 0..127 is the byte itself.
FIXINT = [bytes((i,)) for i in range(128)]


def pack_uint(n: int) -> bytes:
    """MessagePack of a non-negative int, without a call into the packer."""
    if n < 128:
        return FIXINT[n]
    if n < 0x100:
        return b"\xcc" + n.to_bytes(1, "big")
    if n < 0x10000:
        return b"\xcd" + n.to_bytes(2, "big")
    if n < 0x100000000:
        return b"\xce" + n.to_bytes(4, "big")
    return pack(n)


_OK_EMPTY_TAIL = pack("ok") + pack({})


def reply_bytes(rid: int, ok: bool, body: dict) -> bytes:
    if ok and not body:
        return b"\x94\x01" + pack_uint(rid) + _OK_EMPTY_TAIL
    return pack([REPLY, rid, "ok" if ok else "error", body])


_TYPE_CACHE: dict[str, bytes] = {}


def event_tail(type_: str, body: dict) -> bytes:
    """An event's type and body, packed once for every session that gets it:
    each session prepends its own `[2, seq,` (`Session.push_event`)."""
    head = _TYPE_CACHE.get(type_)
    if head is None:
        head = pack(type_)
        if len(_TYPE_CACHE) < 1024:  # event types are few; never let junk grow it
            _TYPE_CACHE[type_] = head
    return head + pack(body)


def event_envelope(seq: int, tail: bytes) -> bytes:
    """The whole event envelope `[2, seq, type, body]` from its shared tail."""
    return b"\x94\x02" + pack_uint(seq) + tail


def array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def batch(envelopes: list[bytes]) -> bytes:
    """One frame for a list of packed envelopes (a bare envelope if only one)."""
    if len(envelopes) == 1:
        return envelopes[0]
    return array_header(len(envelopes)) + b"".join(envelopes)
