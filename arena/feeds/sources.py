"""HTTP feed sources: from a source's config and a query to one `Answer`.

Everything but `fetch` is sans-IO (tested without a server): filling the URL
template, walking a JSON path, turning JSON numbers into engine values
(integers or decimal strings, never floats), reading a timestamp, and
turning a response (status, headers, body) into an answer. `fetch` does the
one HTTP GET with `httpx.AsyncClient` and maps every transport failure to an
answer too: a bad source never raises out of here.

A source config (`arena.config.FeedSourceConfig`) has `name`, `url` (with
`{query_key}` placeholders), `format` (`json`: the value is at
`value_path`, e.g. `data.price`, `results.0.numbers`, with optional
`time_path` and `time_unit`; or a publisher's own format,
`arena.feeds.draw_formats`, which also gives the URL placeholders it
derives from the query), `timeout_ms` (0: the feed's) and `headers`
(name, value) pairs sent with every request (API keys: their values come
from the environment at start-up and are never logged).

A path part `{*name}` makes a `json` answer a vector: the path is walked
once per item of the query's comma-separated `name`, in that order (a
market of many tokens in one response: Jupiter's `data.{*tokens}.price`,
Birdeye's `data.{*tokens}.value`, CoinGecko's `{*tokens}.usd`). A
`time_path` with such a part gives the oldest of the timestamps.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from urllib.parse import quote

import httpx
import trio

from .consensus import ERROR, OK, RATE_LIMITED, TIMEOUT, Answer
from .draw_formats import FORMATS, DrawFormatError

log = logging.getLogger("arena.feeds")

# httpx logs every request at INFO with its full URL; feed URLs may carry
# API keys in their queries: keep those lines out of the logs.
for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)

# A 429 without a usable Retry-After: ask that source again after this long.
DEFAULT_RETRY_AFTER_S = 5.0
MAX_BODY_BYTES = 1_048_576
DETAIL_MAX = 200

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class BadData(ValueError):
    """The response is not what the source's config says it is; the message
    is the short reason kept in the answer."""


def fill_url(template: str, query, fmt: str = "json") -> str:
    """`template` with each `{name}` replaced by the query's value for it
    (percent-encoded), or by one the source's format derives from the query.
    A placeholder neither has is an error."""
    values = dict(query)
    if fmt in FORMATS:
        try:
            values.update(FORMATS[fmt][0](values))
        except DrawFormatError as exc:
            raise BadData(str(exc)) from None

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in values:
            raise BadData(f"query lacks {name!r}")
        return quote(str(values[name]), safe="")

    return _PLACEHOLDER.sub(sub, template)


_EACH = re.compile(r"\{\*([A-Za-z_][A-Za-z0-9_]*)\}")


def json_values(doc, path: str, query=()):
    """The value at `path`, or, for a path with a `{*name}` part, the tuple of
    the values at it for each comma-separated item of the query's `name`."""
    m = _EACH.search(path)
    if m is None:
        return json_path(doc, path)
    values = dict(query)
    if m.group(1) not in values:
        raise BadData(f"query lacks {m.group(1)!r}")
    items = [i for i in str(values[m.group(1)]).split(",") if i]
    if not items or len(items) > MAX_LIST_ITEMS:
        raise BadData(f"{m.group(1)!r} must name 1..{MAX_LIST_ITEMS} items")
    return [json_path(doc, path[:m.start()] + item + path[m.end():]) for item in items]


def json_path(doc, path: str):
    """The value at dotted `path` ("data.price", "results.0.numbers"):
    each part a map key, or a list index."""
    here = doc
    walked = []
    for part in path.split("."):
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
        else:
            raise BadData(f"no {part!r} at {'.'.join(walked) or 'the top'}")
        walked.append(part)
    return here


# A value is journaled with the result: bounded, so a source cannot bloat
# the journal, and integers within MessagePack's (a bigger one could not be
# journaled at all).
MAX_TEXT_CHARS = 1024
MAX_LIST_ITEMS = 1024
MAX_DEPTH = 8
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def to_value(raw, decimals: int = 0, depth: int = 0):
    """A JSON value as plain engine data. Numbers (parsed as Decimal, never
    float) are multiplied by 10**decimals (prices in base units) and rounded
    half-even to an integer when `decimals` > 0; with 0, an integral number
    is an int and any other a decimal string. Numeric strings are scaled the
    same way when `decimals` > 0. Lists become tuples; maps are refused, and
    so is anything past the size limits above."""
    if isinstance(raw, bool) or raw is None:
        return raw
    if isinstance(raw, (int, Decimal)):
        return _number(Decimal(raw), decimals)
    if isinstance(raw, str):
        if len(raw) > MAX_TEXT_CHARS:
            raise BadData(f"a string over {MAX_TEXT_CHARS} characters")
        if decimals > 0:
            try:
                return _number(Decimal(raw.strip()), decimals)
            except InvalidOperation:
                raise BadData(f"{raw[:40]!r} is not a number") from None
        return raw
    if isinstance(raw, list):
        if len(raw) > MAX_LIST_ITEMS or depth >= MAX_DEPTH:
            raise BadData(f"a list over {MAX_LIST_ITEMS} items or {MAX_DEPTH} levels deep")
        return tuple(to_value(v, decimals, depth + 1) for v in raw)
    raise BadData("the value is an object, not a number, string or list")


def _number(d: Decimal, decimals: int):
    if not d.is_finite():
        raise BadData(f"{d} is not a finite number")
    if abs(d.adjusted()) > 40:
        raise BadData("the number is out of range")
    if decimals > 0:
        with localcontext() as ctx:
            ctx.prec = 80  # exact: |exponent| <= 40 and decimals <= 18
            n = int(d.scaleb(decimals).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    elif d == d.to_integral_value():
        n = int(d)
    else:
        return str(d.normalize())
    if not INT_MIN <= n <= INT_MAX:
        raise BadData("the number is out of range")
    return n


def to_ms(raw, unit: str) -> int:
    """A source's timestamp (a number or numeric string, in `unit` "s" or
    "ms") as integer milliseconds since the epoch."""
    if isinstance(raw, bool):
        raise BadData("the timestamp is not a number")
    try:
        d = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        raise BadData("the timestamp is not a number") from None
    if not d.is_finite() or d < 0 or d.adjusted() > 15:
        raise BadData("the timestamp is not a time")
    return int(d * 1000) if unit == "s" else int(d)


def retry_after_s(header: str | None, now_s: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not header:
        return DEFAULT_RETRY_AFTER_S
    text = header.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S
    return max(0.0, when.timestamp() - now_s)


def _short(text: str) -> str:
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 3] + "..."


def parse_response(source, status: int, headers, body: bytes, fetched_at_ms: int,
                   decimals: int = 0, query=()) -> tuple[Answer, float | None]:
    """(the answer, seconds to wait before asking again if rate limited).
    `query` is the fetch's: a publisher's format finds in the body the draw
    it names."""
    name = source.name
    if status == 429:
        wait = retry_after_s(headers.get("retry-after"), fetched_at_ms / 1000)
        return Answer(name, RATE_LIMITED, None, f"HTTP 429, retry after {wait:g} s", fetched_at_ms), wait
    if status != 200:
        return Answer(name, ERROR, None, f"HTTP {status}", fetched_at_ms), None
    try:
        if len(body) > MAX_BODY_BYTES:
            raise BadData(f"body over {MAX_BODY_BYTES} bytes")
        if source.format in FORMATS:
            try:
                value = to_value(FORMATS[source.format][1](body, dict(query)))
            except DrawFormatError as exc:
                raise BadData(str(exc)) from None
            return Answer(name, OK, value, "", fetched_at_ms), None
        try:
            doc = json.loads(body, parse_float=Decimal, parse_int=int)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadData(f"malformed JSON: {exc}") from None
        value = to_value(json_values(doc, source.value_path, query), decimals)
        observed = 0
        if source.time_path:
            stamps = json_values(doc, source.time_path, query)
            stamps = stamps if isinstance(stamps, list) and _EACH.search(source.time_path) else [stamps]
            observed = min(to_ms(t, source.time_unit) for t in stamps)
    except BadData as exc:
        return Answer(name, ERROR, None, _short(str(exc)), fetched_at_ms), None
    except RecursionError:
        return Answer(name, ERROR, None, "JSON nested too deep", fetched_at_ms), None
    return Answer(name, OK, value, "", fetched_at_ms, observed), None


async def _read_limited(resp) -> bytes:
    """The body, but never more than one byte past MAX_BODY_BYTES (a source
    sending endless data is cut off; `parse_response` then refuses it)."""
    chunks, size = [], 0
    async for chunk in resp.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break
    return b"".join(chunks)


async def fetch(client: httpx.AsyncClient, source, query, *, timeout_ms: int, decimals: int,
                wall_ms) -> tuple[Answer, float | None]:
    """GET the source's URL for `query`; never raises for a bad source.

    `timeout_ms` bounds the whole exchange (connect, send, read), enforced by
    trio as well as httpx, so a source that trickles bytes cannot hold the
    feed past it."""
    name = source.name
    try:
        url = fill_url(source.url, query, source.format)
    except BadData as exc:
        return Answer(name, ERROR, None, str(exc), wall_ms()), None
    seconds = timeout_ms / 1000
    try:
        with trio.fail_after(seconds):
            async with client.stream("GET", url, headers=dict(source.headers), timeout=seconds) as resp:
                body = await _read_limited(resp)
    except (trio.TooSlowError, httpx.TimeoutException):
        return Answer(name, TIMEOUT, None, f"no answer within {timeout_ms} ms", wall_ms()), None
    except httpx.ConnectError as exc:
        return Answer(name, ERROR, None, _short(f"connect failed: {exc}"), wall_ms()), None
    except httpx.HTTPError as exc:
        return Answer(name, ERROR, None, _short(f"{type(exc).__name__}: {exc}"), wall_ms()), None
    return parse_response(source, resp.status_code, resp.headers, body, wall_ms(), decimals, query)

