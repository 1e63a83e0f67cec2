"""MessagePack framing of the v1 envelope (PROTOCOL.md, "Envelope").

Decoding is strict: anything that is not plain MessagePack of the expected
shape is a bad frame, reported with a reason and the `rid` when one can be
read. Encoding is built for fan-out: an event's type and body are packed
once (`event_tail`), and each session only prepends its own envelope
header and `seq`; a tick's envelopes for one client are joined into one
batch frame without re-encoding anything.
"""

from __future__ import annotations

import msgpack

REQUEST, REPLY, EVENT = 0, 1, 2
UINT32_MAX = 0xFFFFFFFF

_packer_default = None


def _no_ext(code, data):
    raise ValueError("MessagePack extension types are not part of the protocol")


# The timestamp extension (-1) never reaches `ext_hook`: msgpack decodes it
# itself. These hooks see every array and map and refuse one inside them.
def _no_timestamp_in_list(items: list) -> list:
    for v in items:
        if type(v) is msgpack.Timestamp:
            raise ValueError("MessagePack timestamps are not part of the protocol")
    return items


def _no_timestamp_in_map(m: dict) -> dict:
    for v in m.values():
        if type(v) is msgpack.Timestamp:
            raise ValueError("MessagePack timestamps are not part of the protocol")
    return m


class BadFrame(Exception):
    """A frame that is not a valid request; `rid` is 0 when unreadable."""

    def __init__(self, reason: str, rid: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.rid = rid


# Every extension value (the timestamp included) starts with one of these type
# bytes: fixext 1/2/4/8/16 (d4-d8) or ext 8/16/32 (c7-c9). A frame without any
# of them cannot hold a timestamp, so it is decoded without the per-container
# hooks (two Python calls per request saved); a frame with one of them (or the
# same byte inside a string) takes the checked path.
_unpackb = msgpack.unpackb
_EXT_TYPE_BYTES = bytes((0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8))


def unpack(data: bytes):
    try:
        if len(data.translate(None, _EXT_TYPE_BYTES)) == len(data):  # cheaper than a regex search
            # No extension byte: msgpack's defaults (str as str, lists, string
            # map keys only) are the strict settings, and passing no keyword
            # arguments saves their parsing on every request.
            value = _unpackb(data)
        else:
            value = msgpack.unpackb(
                data,
                raw=False,
                strict_map_key=True,
                ext_hook=_no_ext,
                timestamp=0,
                use_list=True,
                list_hook=_no_timestamp_in_list,
                object_hook=_no_timestamp_in_map,
            )
    except msgpack.ExtraData as extra:
        # The first value decoded: its rid, if it has one, is readable.
        raise BadFrame("a frame holds exactly one MessagePack value", readable_rid(extra.unpacked)) from None
    except ValueError as exc:  # includes StackError, UnicodeDecodeError, bad ext, ...
        raise BadFrame(f"not valid MessagePack: {exc or type(exc).__name__}") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad frame
        raise BadFrame(f"not valid MessagePack: {type(exc).__name__}") from None
    if type(value) is msgpack.Timestamp:
        raise BadFrame("not valid MessagePack: timestamps are not part of the protocol")
    return value


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
