"""Sign-In With Solana messages (sans-IO): parse, check, and build them.

The text is the one wallet adapters produce for the wallet-standard
`solana:signIn` feature (CAIP-122 style, as for Sign-In With Ethereum):

    <domain> wants you to sign in with your Solana account:
    <address>

    <statement>                       (optional, with the blank line before it)

    URI: <uri>
    Version: 1
    Chain ID: <chain id>
    Nonce: <nonce>
    Issued At: <RFC 3339 time>
    Expiration Time: <RFC 3339 time>  (optional; so are the lines below)
    Not Before: <RFC 3339 time>
    Request ID: <id>
    Resources:
    - <uri>

`parse` turns such a text into a `SiwsMessage` or raises `SiwsError`
saying what is wrong; `check` applies the server's rules (its domain, the
connection's nonce, the times); the wallet's ed25519 signature over the
UTF-8 bytes is checked by the caller, against the message's address. No
sockets and no clock here: the time is passed in.
"""

from __future__ import annotations

from datetime import datetime, timezone

from attrs import frozen

HEADER = " wants you to sign in with your Solana account:"
MAX_MESSAGE_CHARS = 4096
# The optional fields, in the order the text gives them.
FIELDS = (("URI", "uri"), ("Version", "version"), ("Chain ID", "chain_id"), ("Nonce", "nonce"),
          ("Issued At", "issued_at"), ("Expiration Time", "expiration_time"), ("Not Before", "not_before"),
          ("Request ID", "request_id"))


class SiwsError(ValueError):
    """The message is not a Sign-In With Solana message this server accepts."""


@frozen
class SiwsMessage:
    domain: str
    address: str
    statement: str | None = None
    uri: str | None = None
    version: str | None = None
    chain_id: str | None = None
    nonce: str | None = None
    issued_at: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()


def parse(text: str) -> SiwsMessage:
    if not isinstance(text, str) or not text:
        raise SiwsError("the message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise SiwsError(f"the message is longer than {MAX_MESSAGE_CHARS} characters")
    lines = text.split("\n")
    if not lines[0].endswith(HEADER) or len(lines[0]) == len(HEADER):
        raise SiwsError(f"the first line must be '<domain>{HEADER}'")
    domain = lines[0][: -len(HEADER)]
    if len(lines) < 2 or not lines[1]:
        raise SiwsError("the second line must be the address")
    address = lines[1]
    rest = lines[2:]
    statement = None
    # A blank line, then either the statement (and another blank line) or the fields.
    if rest and rest[0] == "":
        rest = rest[1:]
        if rest and not _is_field(rest[0]):
            statement = rest[0]
            rest = rest[1:]
            if rest and rest[0] == "":
                rest = rest[1:]
    values: dict[str, str] = {}
    resources: list[str] = []
    order = [label for label, _ in FIELDS]
    last = -1
    i = 0
    while i < len(rest):
        line = rest[i]
        if line == "Resources:":
            i += 1
            while i < len(rest) and rest[i].startswith("- "):
                resources.append(rest[i][2:])
                i += 1
            if i != len(rest):
                raise SiwsError("nothing may follow the resources")
            break
        label, sep, value = line.partition(": ")
        if not sep or label not in order:
            raise SiwsError(f"unexpected line {line[:80]!r}")
        at = order.index(label)
        if at <= last:
            raise SiwsError(f"field {label!r} is repeated or out of order")
        last = at
        values[dict(FIELDS)[label]] = value
        i += 1
    return SiwsMessage(domain=domain, address=address, statement=statement, resources=tuple(resources), **values)


def _is_field(line: str) -> bool:
    return line == "Resources:" or any(line.startswith(label + ": ") for label, _ in FIELDS)


def parse_time(text: str) -> datetime:
    """An RFC 3339 / ISO 8601 time with a zone ("Z" allowed)."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise SiwsError(f"{text[:40]!r} is not an RFC 3339 time") from None
    if t.tzinfo is None:
        raise SiwsError(f"{text[:40]!r} has no time zone")
    return t


def check(msg: SiwsMessage, *, domain: str, nonce: str | None, now: datetime,
          max_skew_s: float = 300.0) -> None:
    """The server's rules; raises SiwsError naming the first one broken.

    The domain must be this server's, the nonce the connection's current
    `hello` nonce, the version 1; `Issued At` must not be in the future (by
    more than `max_skew_s`), `Expiration Time` must not have passed, and
    `Not Before`, if given, must have."""
    if msg.domain != domain:
        raise SiwsError(f"the message is for domain {msg.domain[:80]!r}, this server is {domain!r}")
    if nonce is None:
        raise SiwsError("no unused login nonce: send hello again")
    if msg.nonce != nonce:
        raise SiwsError("the message's nonce is not this connection's hello nonce")
    if msg.version not in (None, "1"):
        raise SiwsError(f"version {msg.version[:10]!r} is not 1")
    if msg.issued_at is not None:
        issued = parse_time(msg.issued_at)
        if (issued - now).total_seconds() > max_skew_s:
            raise SiwsError("the message was issued in the future")
    if msg.expiration_time is not None and parse_time(msg.expiration_time) <= now:
        raise SiwsError("the message has expired")
    if msg.not_before is not None and parse_time(msg.not_before) > now:
        raise SiwsError("the message is not valid yet (Not Before)")


def build(msg: SiwsMessage) -> str:
    """The text of `msg`, as wallet adapters write it (for clients and tests)."""
    out = f"{msg.domain}{HEADER}\n{msg.address}"
    if msg.statement:
        out += f"\n\n{msg.statement}"
    fields = [f"{label}: {getattr(msg, name)}" for label, name in FIELDS if getattr(msg, name) is not None]
    if msg.resources:
        fields.append("Resources:")
        fields += [f"- {r}" for r in msg.resources]
    if fields:
        out += "\n\n" + "\n".join(fields)
    return out


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
