"""The request vocabulary of protocol v1: which types exist, when each is
allowed, and the shape of its body.

Checks run in the order PROTOCOL.md fixes: unknown type, then
authentication, then fields (`bad_request`). Bodies may carry extra fields
(clients of a later minor revision); they are ignored, never an error.
"""

from __future__ import annotations

from attrs import frozen

from arena.engine.errors import BAD_REQUEST, UNAUTHENTICATED, UNKNOWN_TYPE, ArenaError

# When a request may be sent.
ANY = 0  # even before hello
AFTER_HELLO = 1
AFTER_LOGIN = 2

MAX_ID_CHARS = 128


@frozen
class Field:
    name: str
    kind: type  # int, str, bytes, dict
    required: bool = True
    max_len: int | None = None


@frozen
class Spec:
    when: int
    fields: tuple[Field, ...] = ()


def _f(name, kind, required=True, max_len=None):
    return Field(name, kind, required, max_len)


REQUESTS: dict[str, Spec] = {
    "hello": Spec(ANY, (_f("protocol", int), _f("client", str, max_len=MAX_ID_CHARS))),
    "auth.login": Spec(AFTER_HELLO, (_f("wallet", str, max_len=64), _f("signature", bytes, max_len=64))),
    "session.resume": Spec(AFTER_HELLO, (_f("session", str, max_len=MAX_ID_CHARS), _f("last_seq", int))),
    "ping": Spec(AFTER_HELLO),
    "wallet.balance": Spec(AFTER_LOGIN),
    "wallet.faucet": Spec(AFTER_LOGIN),
    "entry.build": Spec(AFTER_LOGIN, (_f("match", str, max_len=MAX_ID_CHARS),)),
    "entry.confirm": Spec(
        AFTER_LOGIN, (_f("match", str, max_len=MAX_ID_CHARS), _f("tx", bytes), _f("signature", bytes, max_len=64))
    ),
    "tip.build": Spec(AFTER_LOGIN, (_f("to", str, max_len=64), _f("amount", int))),
    "tip.confirm": Spec(AFTER_LOGIN, (_f("tx", bytes), _f("signature", bytes, max_len=64))),
    "queue.join": Spec(AFTER_LOGIN, (_f("mode", str, max_len=32), _f("tier", str, max_len=32))),
    "queue.leave": Spec(AFTER_LOGIN),
    "roast.submit": Spec(
        AFTER_LOGIN,
        (_f("match", str, max_len=MAX_ID_CHARS), _f("round", int), _f("text", str), _f("audio", bytes, required=False)),
    ),
    "reaction.send": Spec(AFTER_LOGIN, (_f("match", str, max_len=MAX_ID_CHARS), _f("emoji", str, max_len=64))),
    "match.watch": Spec(AFTER_LOGIN, (_f("match", str, max_len=MAX_ID_CHARS),)),
}


# The same specs as plain tuples, for `check` (it runs for every request).
_COMPILED: dict[str, tuple[int, tuple[tuple[str, type, bool, int | None], ...]]] = {
    name: (spec.when, tuple((f.name, f.kind, f.required, f.max_len) for f in spec.fields))
    for name, spec in REQUESTS.items()
}


def check(type_: str, body: dict, stage: int) -> dict:
    """Return the validated body, or raise ArenaError with the protocol's code."""
    spec = _COMPILED.get(type_)
    if spec is None:
        raise ArenaError(UNKNOWN_TYPE, f"unknown request type {type_[:64]!r}")
    when, fields = spec
    if stage < when:
        need = "hello" if when == AFTER_HELLO or stage == ANY else "auth.login"
        raise ArenaError(UNAUTHENTICATED, f"{type_} needs {need} first")
    out = {}
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


def _kind_name(kind: type) -> str:
    return {int: "an integer", str: "a string", bytes: "binary", dict: "a map"}[kind]
