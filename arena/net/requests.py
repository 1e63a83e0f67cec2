"""The request vocabulary of protocol v1: which types exist, when each is
allowed, and the shape of its body. The framework's requests are listed
here; each mode adds its own (`Mode.requests`, from the registry), always
after login.

Checks run in the order PROTOCOL.md fixes: unknown type, then
authentication, then fields (`bad_request`). Bodies may carry extra fields
(clients of a later minor revision); they are ignored, never an error.
"""

from __future__ import annotations

from attrs import frozen

from arena.engine.errors import BAD_REQUEST, UNAUTHENTICATED, UNKNOWN_TYPE, ArenaError
from arena.engine.mode import SIGNATURE_MAX_BYTES
from arena.engine.mode import RequestField as Field
from arena.engine.registry import registry

# When a request may be sent.
ANY = 0  # even before hello
AFTER_HELLO = 1
AFTER_LOGIN = 2

MAX_ID_CHARS = 128


@frozen
class Spec:
    when: int
    fields: tuple[Field, ...] = ()


def _f(name, kind, required=True, max_len=None):
    return Field(name, kind, required, max_len)


REQUESTS: dict[str, Spec] = {
    "hello": Spec(ANY, (_f("protocol", int), _f("client", str, max_len=MAX_ID_CHARS))),
    "auth.login": Spec(AFTER_HELLO, (_f("wallet", str, max_len=64), _f("signature", bytes, max_len=64))),
    "auth.key": Spec(AFTER_HELLO, (_f("key", str, max_len=128),)),
    "auth.siws": Spec(AFTER_HELLO, (_f("message", str, max_len=4096), _f("signature", bytes, max_len=64))),
    "auth.bsv": Spec(AFTER_HELLO, (_f("address", str, max_len=64), _f("signature", str, max_len=100))),
    # A seat reservation of `match.found` (a cluster's): its one-time token.
    "auth.seat": Spec(AFTER_HELLO, (_f("token", str, max_len=64),)),
    "session.resume": Spec(AFTER_HELLO, (_f("session", str, max_len=MAX_ID_CHARS), _f("last_seq", int))),
    "ping": Spec(AFTER_HELLO),
    "wallet.balance": Spec(AFTER_LOGIN),
    "wallet.faucet": Spec(AFTER_LOGIN),
    "entry.build": Spec(AFTER_LOGIN, (_f("match", str, max_len=MAX_ID_CHARS),)),
    "entry.confirm": Spec(AFTER_LOGIN, (_f("match", str, max_len=MAX_ID_CHARS), _f("tx", bytes),
                                        _f("signature", bytes, max_len=SIGNATURE_MAX_BYTES))),
    "tip.build": Spec(AFTER_LOGIN, (_f("to", str, max_len=64), _f("amount", int))),
    "tip.confirm": Spec(AFTER_LOGIN, (_f("tx", bytes), _f("signature", bytes, max_len=SIGNATURE_MAX_BYTES),
                                      _f("match", str, required=False, max_len=64))),
    # `mode` picks the mode; the mode's own `queue_fields` are checked after
    # these (`check_fields`), once the mode is known.
    "queue.join": Spec(AFTER_LOGIN, (_f("mode", str, max_len=32),)),
    "queue.leave": Spec(AFTER_LOGIN),
    "match.watch": Spec(AFTER_LOGIN, (_f("match", str, max_len=MAX_ID_CHARS),)),
    # Which server of a cluster holds a match (the cluster's match directory).
    "match.locate": Spec(AFTER_LOGIN, (_f("match", str, max_len=MAX_ID_CHARS),)),
    # The platform's reads (`arena.net.reads`); the values' rules are checked there.
    "match.list": Spec(AFTER_LOGIN, (_f("mode", str, max_len=32), _f("phase", str, False, 32),
                                     _f("limit", int, False))),
    "leaderboard.get": Spec(AFTER_LOGIN, (_f("board", str, max_len=64), _f("period", str, False, 8),
                                          _f("limit", int, False), _f("around", str, False, 64))),
    "history.get": Spec(AFTER_LOGIN, (_f("wallet", str, False, 64), _f("mode", str, False, 32),
                                      _f("limit", int, False), _f("before", str, False, 2 * MAX_ID_CHARS))),
    "profile.get": Spec(AFTER_LOGIN, (_f("wallet", str, max_len=64),)),
    "profile.set": Spec(AFTER_LOGIN, (_f("username", str, False, 64), _f("avatar", bytes, False))),
}

# The framework's requests that may carry an upload (a frame over the plain
# limit, logged in only): request -> its binary field. The modes' are their
# `GameRequest.upload`s.
UPLOADS = {"profile.set": "avatar"}


def _compile(fields) -> tuple:
    return tuple((f.name, f.kind, f.required, f.max_len) for f in fields)


# Every request's spec as plain tuples, for `check` (it runs for every
# request): the framework's and the registered modes', rebuilt in place
# whenever a mode registers.
_COMPILED: dict[str, tuple] = {}


def _rebuild() -> None:
    specs = {name: (spec.when, _compile(spec.fields)) for name, spec in REQUESTS.items()}
    for name, (_mode, req) in registry.requests.items():
        specs[name] = (AFTER_LOGIN, _compile(req.fields))
    _COMPILED.clear()
    _COMPILED.update(specs)
    _QUEUE_FIELDS.clear()


def check(type_: str, body: dict, stage: int) -> dict:
    """Return the validated body, or raise ArenaError with the protocol's code."""
    spec = _COMPILED.get(type_)
    if spec is None:
        raise ArenaError(UNKNOWN_TYPE, f"unknown request type {type_[:64]!r}")
    when, fields = spec
    if stage < when:
        need = "hello" if when == AFTER_HELLO or stage == ANY else "auth.login"
        raise ArenaError(UNAUTHENTICATED, f"{type_} needs {need} first")
    out = check_fields(fields, body)
    if type_ == "queue.join":
        # Then the fields the chosen mode adds (an unknown mode is the
        # engine's to refuse, after these checks, as before).
        mode = registry.get(out["mode"])
        if mode is not None and mode.queue_fields:
            check_fields(_queue_fields(mode), body, out)
    return out


def _queue_fields(mode) -> tuple:
    compiled = _QUEUE_FIELDS.get(mode.name)
    if compiled is None:
        compiled = _QUEUE_FIELDS[mode.name] = _compile(mode.queue_fields)
    return compiled


def check_fields(fields: tuple, body: dict, out: dict | None = None) -> dict:
    """Check `body` against compiled `fields` (`_compile`); the checked values
    are added to `out` (a new dict by default)."""
    out = {} if out is None else out
    for name, kind, required, max_len in fields:
        value = body.get(name, _MISSING)
        if value is _MISSING:
            if required:
                raise ArenaError(BAD_REQUEST, f"missing field {name!r}")
            continue
        vt = value.__class__
        if kind is int:
            ok = vt is int or (isinstance(value, int) and vt is not bool)
        else:
            ok = vt is kind or isinstance(value, kind)
        if not ok:
            raise ArenaError(BAD_REQUEST, f"field {name!r} must be {_kind_name(kind)}")
        if max_len is not None and len(value) > max_len:
            raise ArenaError(BAD_REQUEST, f"field {name!r} is longer than {max_len}")
        if kind is int and not -(2**63) <= value < 2**63:
            raise ArenaError(BAD_REQUEST, f"field {name!r} is out of range")
        out[name] = value
    return out


_MISSING = object()
_QUEUE_FIELDS: dict = {}
registry.modes()  # the built-in modes, so their requests are known from the start
registry.listen(_rebuild)


def _kind_name(kind: type) -> str:
    return {int: "an integer", str: "a string", bytes: "binary", dict: "a map", bool: "true or false",
            list: "an array"}[kind]
