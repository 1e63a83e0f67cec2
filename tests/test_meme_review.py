"""Content review for meme rounds (the "meme-review" side task): the embedded
heuristics (plainly labelled), a flat picture scored low, a blocked title
flagged, a media store that cannot give the upload back (a failed answer,
so the mode retries), and OpenAI through a local fake of its API (the
image sent with the title, a JSON review under a strict schema; a failing
API falls back to the heuristics)."""

from __future__ import annotations

import io
import json

import pytest
import trio
from PIL import Image

from arena.ai.content import HEURISTIC_NOTE, Reviewer
from arena.ai.embedded import EmbeddedJudge
from arena.ai.openai_judge import OpenAIJudge
from arena.media.local import LocalMedia
from arena.modes.meme.messages import ProcessContent
from fake_openai import FakeOpenAI, chat_reply, server_error


def png(flat=False, size=96) -> bytes:
    im = Image.new("RGB", (size, size), (200, 30, 30))
    if not flat:
        im.putdata([(x * 2 % 256, y * 2 % 256, 90) for y in range(size) for x in range(size)])
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


async def stored(tmp_path, data: bytes, name="m.png") -> tuple[LocalMedia, str]:
    media = LocalMedia(tmp_path / "media")
    return media, await media.store_object(f"memes/{name}", data, "image/png")


def eff(url, title="a cat on a keyboard", n=1) -> ProcessContent:
    return ProcessContent(f"process:me-x-c{n}:1", f"me-x-c{n}", url, "image/png", title)


async def test_embedded_review_is_labelled_and_scores_what_it_can_measure(tmp_path):
    media, url = await stored(tmp_path, png())
    svc = Reviewer(EmbeddedJudge(), media)
    good = await svc.run(eff(url))
    assert good.ok and good.engine == "embedded" and good.caption.endswith(HEURISTIC_NOTE)
    assert good.quality >= 60 and not good.flagged and set(good.tags) == {"cat", "keyboard"}
    _, flat_url = await stored(tmp_path, png(flat=True), "flat.png")
    flat = await svc.run(eff(flat_url, n=2))
    assert flat.ok and flat.quality < 40 and "flat colour" in flat.caption
    rude = await svc.run(eff(url, title="what a bastard cat", n=3))
    assert rude.flagged and "blocked" in rude.reason


async def test_a_media_store_that_fails_gives_a_failed_answer_to_retry(tmp_path):
    media = LocalMedia(tmp_path / "media")
    svc = Reviewer(EmbeddedJudge(), media)
    answer = await svc.run(eff(media.url_for("memes/gone.png")))
    assert not answer.ok and "cannot read the media" in answer.reason
    assert answer.key == "process:me-x-c1:1"


@pytest.fixture
def fake():
    with FakeOpenAI() as f:
        yield f


def openai_service(fake, media) -> Reviewer:
    judge = OpenAIJudge(api_key="sk-test", model="fake-model", base_url=fake.base_url, timeout_ms=2000,
                        max_retries=0, temperature=0.0)
    return Reviewer(judge, media, budget_s=10)


async def test_openai_reviews_with_the_image_and_a_strict_schema(tmp_path, fake):
    media, url = await stored(tmp_path, png())
    fake.push("score", chat_reply(json.dumps({"caption": "A cat typing furiously.", "tags": ["cat", "Office"],
                                              "quality": 83, "flagged": False, "reason": ""})))
    svc = openai_service(fake, media)
    with trio.fail_after(30):
        async with svc.judge:
            answer = await svc.run(eff(url))
    assert answer.ok and answer.engine == "openai" and answer.quality == 83
    assert answer.caption == "A cat typing furiously." and answer.tags == ("cat", "office")
    sent = fake.of_kind("score")[0].json
    assert sent["response_format"]["json_schema"]["name"] == "meme_review"
    parts = sent["messages"][1]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert fake.count("moderate") == 1


async def test_a_failing_openai_falls_back_to_the_heuristics(tmp_path, fake):
    media, url = await stored(tmp_path, png())
    fake.push("score", server_error())
    fake.push("score", chat_reply(json.dumps({"caption": "x", "tags": [], "quality": 250, "flagged": False,
                                              "reason": ""})))
    svc = openai_service(fake, media)
    with trio.fail_after(30):
        async with svc.judge:
            first = await svc.run(eff(url))
            second = await svc.run(eff(url, n=2))  # a quality out of range is a failure too
    for answer in (first, second):
        assert answer.ok and answer.engine == "embedded" and answer.caption.endswith(HEURISTIC_NOTE)
