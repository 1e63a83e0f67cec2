"""Checking what a remote model answered, before anything trusts it.

A remote judge (OpenAI, or any server that speaks its API) can answer
anything: prose instead of JSON, a score of 11, a total that does not add up,
a prompt that is a paragraph or a repeat. These functions turn a reply into a
trusted value or raise `InvalidReply`; for any input at all they do nothing
else (no other exception escapes, whatever the type or shape of the reply).
The judge retries an invalid reply and, when it stays invalid, the embedded
judge answers instead.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

from arena.ai.port import COMMENTARY_MAX, DIMENSIONS, MAX_POINTS, MIN_POINTS, PROMPT_MAX, RoastScore, one_line

__all__ = [
    "InvalidReply",
    "SCORE_FIELDS",
    "SCORE_SCHEMA",
    "message_content",
    "parse_prompt",
    "parse_score",
    "same_prompt",
]

# Longest reply content we look at; a score object is ~200 characters.
MAX_REPLY_CHARS = 8_000
PROMPT_MIN = 10
SCORE_FIELDS = (*DIMENSIONS, "total", "commentary")

# The structured-output schema sent with every score request (strict mode:
# every property required, no others allowed).
SCORE_SCHEMA: dict = {
    "type": "object",
    "properties": {
        **{
            d: {"type": "integer", "minimum": MIN_POINTS, "maximum": MAX_POINTS, "description": desc}
            for d, desc in (
                ("savagery", "how hard the roast bites, 0..10"),
                ("creativity", "originality, wordplay and imagery, 0..10"),
                ("delivery", "rhythm, timing and punchline, 0..10"),
                ("relevance", "how well it answers the round's prompt, 0..10"),
            )
        },
        "total": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_POINTS * len(DIMENSIONS),
            "description": "savagery + creativity + delivery + relevance",
        },
        "commentary": {"type": "string", "description": "one short line of judge's commentary"},
    },
    "required": list(SCORE_FIELDS),
    "additionalProperties": False,
}


class InvalidReply(ValueError):
    """The model's reply cannot be trusted; `str(exc)` says why (no reply text)."""


def message_content(completion: Any) -> str:
    """The assistant's text in a chat completion, or InvalidReply.

    Defensive about shape: a server that answers 200 with an odd body gives
    an object (or even a str or list) without the usual attributes.
    """
    try:
        choices = getattr(completion, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise InvalidReply("no choices in the reply")
        choice = choices[0]
        message = getattr(choice, "message", None)
        if message is None:
            raise InvalidReply("no message in the reply")
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise InvalidReply("the model refused")
        if getattr(choice, "finish_reason", None) == "length":
            raise InvalidReply("the reply was cut off (finish_reason length)")
        content = getattr(message, "content", None)
    except InvalidReply:
        raise
    except Exception as exc:  # noqa: BLE001 - an odd object may raise anything from a property
        raise InvalidReply(f"unreadable reply ({type(exc).__name__})") from None
    if not isinstance(content, str):
        raise InvalidReply("the reply has no text content")
    return content


def _reject_constant(name: str) -> Any:
    raise InvalidReply(f"non-finite number {name} in the reply")


def parse_score(content: Any, judge: str = "openai") -> RoastScore:
    """A score reply (the JSON object of `SCORE_SCHEMA`) as a `RoastScore`.

    Trusted only if it is a JSON object with exactly the schema's fields;
    the four points integers (not booleans, not floats) in 0..10; `total` an
    integer equal to their sum; `commentary` a string with something
    printable in it. The commentary is squashed to one line of at most
    `COMMENTARY_MAX` characters (its only repair); nothing else is repaired.
    """
    if not isinstance(content, str):
        raise InvalidReply("the reply is not text")
    if len(content) > MAX_REPLY_CHARS:
        raise InvalidReply("the reply is too long")
    try:
        obj = json.loads(content, parse_constant=_reject_constant)
    except InvalidReply:
        raise
    except (ValueError, RecursionError, TypeError):
        raise InvalidReply("the reply is not JSON") from None
    if not isinstance(obj, dict):
        raise InvalidReply("the reply is not a JSON object")
    missing = [f for f in SCORE_FIELDS if f not in obj]
    if missing:
        raise InvalidReply(f"missing fields: {', '.join(missing)}")
    extra = sorted(k for k in obj if k not in SCORE_FIELDS)
    if extra:
        raise InvalidReply(f"unexpected fields: {', '.join(extra[:5])}"[:200])
    points = {}
    for d in DIMENSIONS:
        v = obj[d]
        if type(v) is not int:
            raise InvalidReply(f"{d} is not an integer")
        if not MIN_POINTS <= v <= MAX_POINTS:
            raise InvalidReply(f"{d} is out of range {MIN_POINTS}..{MAX_POINTS}")
        points[d] = v
    total = obj["total"]
    if type(total) is not int:
        raise InvalidReply("total is not an integer")
    if total != sum(points.values()):
        raise InvalidReply("total does not add up")
    commentary = obj["commentary"]
    if not isinstance(commentary, str):
        raise InvalidReply("commentary is not a string")
    line = one_line(commentary, limit=COMMENTARY_MAX, fallback="")
    if not line:
        raise InvalidReply("commentary is empty")
    try:
        return RoastScore(**points, commentary=line, judge=judge)
    except (TypeError, ValueError) as exc:  # belt and braces: RoastScore checks again
        raise InvalidReply(f"rejected by RoastScore: {exc}") from None


_QUOTES = "\"'“”‘’«»`"
_LABEL = re.compile(r"^(?:new\s+)?(?:roast\s+)?prompt\s*(?:\d+\s*)?[:\-–—]\s*", re.IGNORECASE)
_NUMBERING = re.compile(r"^(?:\d+[.)]|[-*•])\s+")
_KEY = re.compile(r"[^\w]+")


def _prompt_key(text: str) -> str:
    """What makes two prompts the same: letters and digits, casefolded."""
    return _KEY.sub("", unicodedata.normalize("NFKC", text).casefold())


def same_prompt(a: str, b: str) -> bool:
    return _prompt_key(a) == _prompt_key(b)


def parse_prompt(content: Any, used: tuple[str, ...] | list[str] = ()) -> str:
    """A generated prompt, trusted only if it is one line of sane length,
    printable, and not a repeat of a prompt in `used`.

    Light cleanup only: surrounding whitespace and quotes, a leading
    "Prompt:" label or list marker are dropped. A reply of several lines is
    rejected, not cut: the model did not do what was asked.
    """
    if not isinstance(content, str):
        raise InvalidReply("the reply is not text")
    if len(content) > MAX_REPLY_CHARS:
        raise InvalidReply("the reply is too long")
    text = unicodedata.normalize("NFKC", content).strip()
    text = _NUMBERING.sub("", _LABEL.sub("", text)).strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    if any(ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029" for ch in text):
        raise InvalidReply("the prompt is more than one line")
    if any(not (ch.isprintable() or ch == " ") for ch in text):
        raise InvalidReply("the prompt has control characters")
    text = re.sub(r"\s+", " ", text)
    if len(text) < PROMPT_MIN:
        raise InvalidReply("the prompt is too short")
    if len(text) > PROMPT_MAX:
        raise InvalidReply("the prompt is too long")
    if sum(ch.isalpha() for ch in text) < PROMPT_MIN // 2:
        raise InvalidReply("the prompt has too few letters")
    if any(isinstance(u, str) and same_prompt(text, u) for u in used):
        raise InvalidReply("the prompt repeats one already used in the battle")
    return text


def finite_seconds(value: Any) -> float | None:
    """A header value as a number of seconds, or None if it is not a sane one."""
    try:
        s = float(value)
    except (TypeError, ValueError):
        return None
    return s if math.isfinite(s) and s >= 0 else None
