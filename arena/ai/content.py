"""The meme rounds' review side task ("meme-review"): a caption, tags, a
quality score (0..100) and a moderation verdict for one uploaded item,
answered for one `ProcessContent` effect with one `ContentProcessed`
input. The mode's package names this module (`MemeMode.side_tasks`) but
never imports it; the server runs it as a `ModeTask` with the AI port's
judge and the media port (`arena.mode_tasks.TaskContext`).

Two reviewers, like the roast judge's two:

* **embedded heuristics** (the default, and the fallback when OpenAI fails
  or its circuit is open). NOT A MODEL: the caption is the title, the tags
  are its content words, the quality comes from measurable things (an image
  of one flat colour, a tiny picture, a title of one word score low), and
  moderation is the roast judge's word blocklist over the title. Every
  answer says `engine = "embedded"` and its caption says it is heuristic.
* **OpenAI** (`[ai] kind = "openai"`): a chat completion with the title and,
  for an image, the image itself, asked for a JSON object under a strict
  schema, within `[ai] timeout_ms × (max_retries + 1)`; the title also goes
  through the moderation endpoint. Any failure, timeout or answer out of
  range: the heuristics answer instead, and say so.

Fetching the media from the media port can fail (the store is down): the
answer is then `ok = False` and the mode asks again later under a new key,
so an upload is never lost to a transient failure.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re

import trio
from attrs import frozen

from arena.ai.heuristics import uses_blocked_words
from arena.ai.validate import message_content
from arena.media import probe
from arena.modes.meme.messages import ContentProcessed, ProcessContent

log = logging.getLogger("arena.ai")

EMBEDDED = "embedded"
HEURISTIC_NOTE = " (embedded heuristics, not a model's description)"
MAX_TAGS = 8
_WORD = re.compile(r"[a-z][a-z0-9']{2,}")
_STOP = frozenset("the and for with that this you your are was when what who how not but its his her "
                  "they them from have has just like all out get got one".split())

REVIEW_SYSTEM = (
    "You review short meme uploads for a game. Answer only with the JSON object the schema asks for: "
    "a one-sentence caption, up to 8 lowercase single-word tags, a quality score 0..100 (how funny, "
    "clear and well made it is), flagged true if it is hateful, sexual, violent or harassing, and a "
    "short reason when flagged (else an empty string)."
)
REVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "caption": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "quality": {"type": "integer"},
        "flagged": {"type": "boolean"},
        "reason": {"type": "string"},
    },
    "required": ["caption", "tags", "quality", "flagged", "reason"],
    "additionalProperties": False,
}


@frozen
class Review:
    caption: str
    tags: tuple
    quality: int
    flagged: bool
    reason: str
    engine: str


def title_tags(title: str) -> tuple:
    seen: dict[str, None] = {}
    for w in _WORD.findall(title.lower()):
        if w not in _STOP:
            seen.setdefault(w, None)
    return tuple(seen)[:MAX_TAGS]


def embedded_review(title: str, media_type: str, data: bytes) -> Review:
    """The heuristic review (see the module doc); deterministic."""
    quality = 60
    notes = []
    try:
        info = probe.check(data, media_type)
    except Exception:  # noqa: BLE001 - it was checked at upload; unreadable now scores 0
        return Review(title + HEURISTIC_NOTE, title_tags(title), 0, False, "", EMBEDDED)
    if info.kind == "image":
        if _flat_image(data):
            quality, notes = 5, ["a single flat colour"]
        elif min(info.width, info.height) < 64:
            quality -= 25
            notes.append("very small")
        elif min(info.width, info.height) >= 256:
            quality += 10
    else:
        quality += 10 if info.duration_ms >= 2_000 else 0
    words = len(title.split())
    quality += 15 if 2 <= words <= 14 else -15
    quality = max(0, min(100, quality))
    flagged = uses_blocked_words(title)
    reason = "the title uses blocked words" if flagged else ""
    caption = title + (f" [{', '.join(notes)}]" if notes else "") + HEURISTIC_NOTE
    return Review(caption, title_tags(title), quality, flagged, reason, EMBEDDED)


def _flat_image(data: bytes) -> bool:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        small = im.convert("RGB").resize((16, 16))
        return all(lo == hi for lo, hi in small.getextrema())


async def openai_review(judge, title: str, media_type: str, data: bytes) -> Review:
    """One OpenAI review (raises on any failure: the caller falls back)."""
    content = [{"type": "text", "text": json.dumps({"title": title, "media_type": media_type})}]
    if media_type.startswith("image/"):
        url = f"data:{media_type};base64,{base64.b64encode(data).decode()}"
        content.append({"type": "image_url", "image_url": {"url": url}})
    completion = await judge.client.chat.completions.create(
        model=judge.model, temperature=0,
        messages=[{"role": "system", "content": REVIEW_SYSTEM}, {"role": "user", "content": content}],
        response_format={"type": "json_schema",
                         "json_schema": {"name": "meme_review", "strict": True, "schema": REVIEW_SCHEMA}},
    )
    doc = json.loads(message_content(completion))
    quality = doc.get("quality")
    if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
        raise ValueError(f"quality must be an integer 0..100, got {quality!r}")
    tags = tuple(t.lower()[:32] for t in doc.get("tags", ()) if isinstance(t, str) and t)[:MAX_TAGS]
    flagged, reason = bool(doc.get("flagged")), str(doc.get("reason", ""))[:200]
    if hasattr(judge, "moderate"):
        verdict = await judge.moderate(title)
        if verdict.flagged:
            flagged, reason = True, "moderation: " + ", ".join(verdict.categories)
    return Review(str(doc.get("caption", ""))[:300], tags, quality, flagged, reason, getattr(judge, "name", "openai"))


def processed(eff: ProcessContent, review: Review) -> ContentProcessed:
    return ContentProcessed(eff.key, eff.content, True, review.caption, review.tags, review.quality,
                            review.flagged, review.reason, review.engine)


def failed(eff: ProcessContent, reason: str) -> ContentProcessed:
    return ContentProcessed(eff.key, eff.content, False, reason=reason[:200])


class Reviewer:
    """The side task's handler: `run(effect)` always answers (a failure to
    read the media is a failed answer the mode retries; a failing remote
    reviewer falls back to the heuristics), so `retry_after_s` is only for
    the unexpected."""

    def __init__(self, judge, media, budget_s: float = 30.0):
        self.judge, self.media, self.budget_s = judge, media, budget_s
        self.remote = judge is not None and getattr(judge, "name", EMBEDDED) != EMBEDDED \
            and hasattr(type(judge), "client")
        self.counters = {"reviews": 0, "remote": 0, "fallbacks": 0, "unreadable": 0}

    def retry_after_s(self, effect, attempts: int) -> float:
        return min(60.0, 2.0 ** (attempts - 1))

    async def run(self, eff: ProcessContent) -> ContentProcessed:
        self.counters["reviews"] += 1
        try:
            if self.media is None:
                raise RuntimeError("no media store to read the upload from")
            data = await self.media.fetch(eff.media_url)
        except Exception as exc:  # noqa: BLE001
            self.counters["unreadable"] += 1
            log.warning("cannot read content to review", extra={"key": eff.key, "error": str(exc)[:200]})
            return failed(eff, f"cannot read the media: {type(exc).__name__}")
        if self.remote:
            try:
                with trio.fail_after(self.budget_s):
                    review = await openai_review(self.judge, eff.title, eff.media_type, data)
                self.counters["remote"] += 1
                return processed(eff, review)
            except Exception as exc:  # noqa: BLE001 - any remote failure falls back
                self.counters["fallbacks"] += 1
                log.warning("remote review failed; embedded heuristics answer",
                            extra={"key": eff.key, "error": f"{type(exc).__name__}: {exc}"[:200]})
        if eff.media_type.startswith("video/"):  # ffmpeg runs as a child process: wait for it off the loop
            review = await trio.to_thread.run_sync(embedded_review, eff.title, eff.media_type, data)
        else:  # decoding an image of at most a few MiB takes milliseconds
            review = embedded_review(eff.title, eff.media_type, data)
        return processed(eff, review)


def make_reviewer(context) -> Reviewer:
    """The side task's handler (`Mode.side_tasks`), built once by the server."""
    ai = getattr(context.config, "ai", None)
    budget = ai.timeout_ms * (ai.max_retries + 1) / 1000 if ai is not None else 30.0
    return Reviewer(context.judge, context.media, budget)
