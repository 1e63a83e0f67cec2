"""The OpenAI judge and the judge service against a local fake of the OpenAI API.

Every case ends with an answer (the battle would go on), and the answer
says which judge gave it: `judge`/`source` "openai" when the remote judge
was trusted, "embedded" (and a "(fallback judge) " commentary) otherwise.
No test asserts how fast anything was; slow replies are far slower than the
budgets, and lower bounds (a retry-after honoured) are the only timings
checked.
"""

from __future__ import annotations

import logging

import attrs
import pytest
import trio

from arena.ai.openai_judge import OpenAIJudge
from arena.ai.prompts import PROMPTS
from arena.ai.service import FALLBACK_PREFIX, JudgeService, answer_budget, make_judge
from arena.ai.validate import SCORE_SCHEMA
from arena.config import default_config
from arena.modes.roast.settings import RoastConfig
from arena.modes.roast.messages import PromptGenerated, RoastScored
from arena.modes.roast.messages import GeneratePrompt, ScoreRoast
from arena.media.local import LocalMedia
from arena.supervisor import ACTIVE, CIRCUIT_OPEN, Supervisor
from fake_openai import (
    FakeOpenAI,
    Reply,
    chat_reply,
    closed_port,
    error_reply,
    malformed_body,
    rate_limited,
    score_reply,
    server_error,
    slow,
    transcript_reply,
)

SECRET = "sk-test-DO-NOT-LEAK-1234567890"
PROMPT = "Roast your opponent's taste in music."
ROAST = "Your playlist is so stale even the shuffle button asked for a transfer. Tragic!"
WALLET = "W" * 44


@pytest.fixture
def fake():
    with FakeOpenAI() as f:
        yield f


def score_eff(text=ROAST, audio_url=None, round=1):
    return ScoreRoast(key=f"score:m1:{round}:{WALLET}", match="m1", round=round, wallet=WALLET,
                      prompt=PROMPT, text=text, audio_url=audio_url)


def prompt_eff(used=(), round=1):
    return GeneratePrompt(key=f"prompt:m1:{round}", match="m1", round=round, seed=1234, used=tuple(used))


def service(fake_or_url, tmp_path=None, *, timeout_ms=2000, max_retries=2, budget=20.0, moderation=False,
            supervisor=None, media=None):
    base_url = fake_or_url if isinstance(fake_or_url, str) else fake_or_url.base_url
    judge = OpenAIJudge(api_key=SECRET, model="fake-model", base_url=base_url, timeout_ms=timeout_ms,
                        max_retries=max_retries, temperature=0.9)
    if media is None and tmp_path is not None:
        media = LocalMedia(tmp_path / "media")
    return JudgeService(judge, supervisor=supervisor or Supervisor("judge", failure_threshold=50),
                        media=media, score_budget=budget, prompt_budget=budget, moderation=moderation)


async def handle(svc: JudgeService, eff):
    with trio.fail_after(60):  # generous: only a hang fails this
        async with svc.judge:
            return await svc.handle(eff)


def assert_openai(result: RoastScored):
    assert result.judge == "openai", result
    assert not result.commentary.startswith(FALLBACK_PREFIX)


def assert_fallback(result: RoastScored):
    assert result.judge == "embedded", result
    assert result.commentary.startswith(FALLBACK_PREFIX), result.commentary
    assert len(result.commentary) <= 200


# --- happy path ---------------------------------------------------------------------


async def test_prompt_comes_from_the_model(fake):
    svc = service(fake)
    used = PROMPTS[:2]
    result = await handle(svc, prompt_eff(used=used, round=3))
    assert isinstance(result, PromptGenerated)
    assert result.source == "openai"
    assert "attempt number" in result.prompt and result.round == 3
    [req] = fake.of_kind("prompt")
    body = req.json
    assert body["model"] == "fake-model" and body["temperature"] == 0.9
    assert body["messages"][0]["role"] == "system"
    assert "never offensive" in body["messages"][0]["content"]
    assert all(u in body["messages"][-1]["content"] for u in used)
    assert req.headers["authorization"] == f"Bearer {SECRET}"


async def test_score_comes_from_the_model_with_a_strict_schema(fake):
    fake.push("score", score_reply(8, 7, 6, 5, commentary="A+ burn."))
    svc = service(fake)
    result = await handle(svc, score_eff())
    assert_openai(result)
    assert (result.savagery, result.creativity, result.delivery, result.relevance) == (8, 7, 6, 5)
    assert result.commentary == "A+ burn."
    [req] = fake.of_kind("score")
    rf = req.json["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["strict"] is True and rf["json_schema"]["schema"] == SCORE_SCHEMA
    payload = req.user_payload()
    assert payload == {"prompt": PROMPT, "roast_text": ROAST, "transcript": None}
    h = svc.health()
    assert h["remote_ok"] == 1 and h["fallbacks"] == 0 and h["judge"] == "openai"
    assert h["state"] == ACTIVE and h["api"]["requests"] == 1


# --- misbehaving servers ---------------------------------------------------------------


async def test_a_reply_slower_than_the_budget_falls_back(fake):
    fake.always("score", slow(30))
    svc = service(fake, timeout_ms=5000, max_retries=0, budget=0.5)
    result = await handle(svc, score_eff())
    assert_fallback(result)
    assert svc.health()["fallback_reasons"] == {"timeout": 1}


async def test_a_request_timeout_is_retried(fake):
    fake.push("score", slow(30))  # the first attempt times out; the second is answered
    svc = service(fake, timeout_ms=2000, max_retries=2)
    result = await handle(svc, score_eff())
    assert_openai(result)
    assert fake.count("score") == 2
    assert svc.judge.stats["timeouts"] == 1 and svc.judge.stats["retries"] == 1


async def test_every_attempt_timing_out_falls_back(fake):
    fake.always("score", slow(30))
    svc = service(fake, timeout_ms=300, max_retries=1)
    result = await handle(svc, score_eff())
    assert_fallback(result)
    assert fake.count("score") == 2


@pytest.mark.parametrize("ms", [False, True])
async def test_429_honours_retry_after(fake, ms):
    fake.push("score", rate_limited(0.6, ms=ms))
    svc = service(fake)
    result = await handle(svc, score_eff())
    assert_openai(result)
    first, second = fake.of_kind("score")
    assert second.at - first.at >= 0.6  # waited at least as asked
    assert svc.judge.stats["rate_limited"] == 1


async def test_429_with_a_retry_after_past_the_budget_falls_back_at_once(fake):
    fake.always("score", rate_limited(120))
    svc = service(fake, budget=5.0)
    result = await handle(svc, score_eff())
    assert_fallback(result)
    assert fake.count("score") == 1  # no point waiting 2 minutes
    assert svc.health()["fallback_reasons"] == {"rate_limited": 1}


async def test_429_without_retry_after_backs_off_and_retries(fake):
    fake.push("score", rate_limited(None), rate_limited(None))
    svc = service(fake)
    assert_openai(await handle(svc, score_eff()))
    assert fake.count("score") == 3


async def test_500s_are_retried_then_fall_back(fake):
    fake.always("score", server_error(500))
    svc = service(fake, max_retries=2)
    result = await handle(svc, score_eff())
    assert_fallback(result)
    assert fake.count("score") == 3
    assert svc.judge.stats["server_errors"] == 3


async def test_a_5xx_then_success_is_trusted(fake):
    fake.push("score", server_error(502), server_error(503))
    svc = service(fake, max_retries=2)
    assert_openai(await handle(svc, score_eff()))


async def test_a_client_error_is_not_retried(fake):
    fake.always("score", error_reply(400, "bad schema"))
    svc = service(fake, max_retries=2)
    assert_fallback(await handle(svc, score_eff()))
    assert fake.count("score") == 1
    assert svc.health()["fallback_reasons"] == {"client_error": 1}


@pytest.mark.parametrize(
    "bad",
    [
        chat_reply("this is not JSON at all"),
        chat_reply('{"savagery": 7, "creativity": 6'),
        malformed_body(),
        Reply(raw=b"<html>502 Bad Gateway</html>", headers={"content-type": "text/html"}),
        Reply(body={"unexpected": "shape"}),
        chat_reply(None, refusal="I can't judge that."),
        score_reply(savagery=11),
        score_reply(relevance=-2),
        score_reply(total=40),
        score_reply(commentary=""),
        chat_reply('{"savagery": 1, "creativity": 1, "delivery": 1, "total": 3, "commentary": "x"}'),
    ],
    ids=["prose", "truncated-json", "malformed-body", "html", "odd-shape", "refusal",
         "out-of-range", "negative", "total-mismatch", "empty-commentary", "missing-field"],
)
async def test_invalid_replies_are_retried_then_fall_back(fake, bad):
    fake.always("score", bad)
    svc = service(fake, max_retries=1)
    result = await handle(svc, score_eff())
    assert_fallback(result)
    assert fake.count("score") == 2  # retried once, never trusted


async def test_an_invalid_reply_then_a_valid_one_is_trusted(fake):
    fake.push("score", score_reply(savagery=11), score_reply(total=3))
    svc = service(fake, max_retries=2)
    result = await handle(svc, score_eff())
    assert_openai(result)
    assert fake.count("score") == 3
    assert svc.judge.stats["invalid_replies"] == 2


async def test_connection_refused_falls_back():
    svc = service(f"http://127.0.0.1:{closed_port()}/v1", max_retries=1)
    result = await handle(svc, score_eff())
    assert_fallback(result)
    assert svc.judge.stats["connection_errors"] == 2
    p = await handle(svc, prompt_eff(used=PROMPTS[:3]))
    assert p.source == "embedded" and p.prompt in PROMPTS and p.prompt not in PROMPTS[:3]


# --- prompts ----------------------------------------------------------------------------


async def test_a_repeated_or_multiline_prompt_is_not_trusted(fake):
    fake.push("prompt", chat_reply(PROMPTS[0]), chat_reply("Roast your opponent's car.\nAnd their house."),
              chat_reply("Roast your opponent as a haunted vending machine."))
    svc = service(fake, max_retries=2)
    result = await handle(svc, prompt_eff(used=PROMPTS[:1]))
    assert result.source == "openai"
    assert result.prompt == "Roast your opponent as a haunted vending machine."
    assert fake.count("prompt") == 3


async def test_prompt_falls_back_to_the_bank(fake):
    fake.always("prompt", server_error())
    svc = service(fake, max_retries=0)
    used = PROMPTS[:5]
    result = await handle(svc, prompt_eff(used=used))
    assert result.source == "embedded"
    assert result.prompt in PROMPTS and result.prompt not in used


# --- moderation -------------------------------------------------------------------------


async def test_a_flagged_roast_scores_zero(fake):
    svc = service(fake, moderation=True)
    result = await handle(svc, score_eff(text="FLAGME " + ROAST))
    assert result.judge == "openai"
    assert (result.savagery, result.creativity, result.delivery, result.relevance) == (0, 0, 0, 0)
    assert "moderation" in result.commentary.lower() and "harassment" in result.commentary
    assert fake.count("moderate") == 1 and fake.count("score") == 0
    [req] = fake.of_kind("moderate")
    assert "FLAGME" in req.json["input"]
    assert svc.health()["flagged"] == 1


async def test_a_clean_roast_is_moderated_then_scored(fake):
    svc = service(fake, moderation=True)
    assert_openai(await handle(svc, score_eff()))
    assert fake.count("moderate") == 1 and fake.count("score") == 1


async def test_moderation_off_sends_nothing_to_moderate(fake):
    svc = service(fake, moderation=False)
    assert_openai(await handle(svc, score_eff(text="FLAGME " + ROAST)))
    assert fake.count("moderate") == 0


async def test_moderation_failing_falls_back(fake):
    fake.always("moderate", server_error())
    svc = service(fake, moderation=True, max_retries=0)
    assert_fallback(await handle(svc, score_eff()))
    assert fake.count("score") == 0


# --- transcription ----------------------------------------------------------------------


async def test_audio_is_transcribed_then_scored(fake, tmp_path):
    svc = service(fake, tmp_path)
    spoken = "You dance like a loading bar stuck at ninety nine percent."
    url = await svc.media.store_audio("m1", 2, 1, spoken.encode())
    result = await handle(svc, score_eff(text="", audio_url=url, round=2))
    assert_openai(result)
    [t] = fake.of_kind("transcribe")
    assert t.form["model"] == "whisper-1"
    filename, data, _ctype = t.files["file"]
    assert data == spoken.encode() and filename.endswith(".webm")
    [s] = fake.of_kind("score")
    assert s.user_payload() == {"prompt": PROMPT, "roast_text": "", "transcript": spoken}
    assert svc.health()["transcribed"] == 1


async def test_a_transcript_survives_a_scoring_failure(fake, tmp_path):
    fake.always("score", server_error())
    svc = service(fake, tmp_path, max_retries=0)
    url = await svc.media.store_audio("m1", 1, 2, ROAST.encode())
    result = await handle(svc, score_eff(text="", audio_url=url))
    assert_fallback(result)
    assert result.savagery > 0  # the embedded judge scored the words that were said
    assert "only scores text" not in result.commentary


async def test_silent_audio_scores_zero_without_a_score_request(fake, tmp_path):
    fake.always("transcribe", transcript_reply("   "))
    svc = service(fake, tmp_path)
    url = await svc.media.store_audio("m1", 1, 1, b"\x1a\x45\xdf\xa3")
    result = await handle(svc, score_eff(text="", audio_url=url))
    assert result.judge == "openai" and result.savagery == result.relevance == 0
    assert fake.count("score") == 0


async def test_transcription_failure_falls_back(fake, tmp_path):
    fake.always("transcribe", server_error())
    svc = service(fake, tmp_path, max_retries=0)
    url = await svc.media.store_audio("m1", 1, 1, b"whatever")
    assert_fallback(await handle(svc, score_eff(text="", audio_url=url)))


# --- circuit breaker --------------------------------------------------------------------


async def test_the_circuit_opens_then_recovers(fake):
    now = [0.0]
    sup = Supervisor("judge", failure_threshold=2, reset_after=30.0, clock=lambda: now[0])
    fake.always("score", server_error())
    svc = service(fake, max_retries=0, supervisor=sup)
    async with svc.judge:
        for _ in range(2):
            assert_fallback(await svc.handle(score_eff()))
        assert sup.state == CIRCUIT_OPEN and svc.health()["circuit_open"] is True
        assert fake.count("score") == 2
        # Open: the embedded judge answers without calling out.
        assert_fallback(await svc.handle(score_eff()))
        assert fake.count("score") == 2
        assert svc.health()["fallback_reasons"]["circuit_open"] == 1
        # After the reset time one answer probes; the server is healthy again.
        now[0] += 31
        fake.always("score", score_reply())
        assert_openai(await svc.handle(score_eff()))
        assert sup.state == ACTIVE and fake.count("score") == 3


async def test_a_failed_probe_opens_the_circuit_again(fake):
    now = [0.0]
    sup = Supervisor("judge", failure_threshold=1, reset_after=10.0, clock=lambda: now[0])
    fake.always("score", server_error())
    svc = service(fake, max_retries=0, supervisor=sup)
    async with svc.judge:
        assert_fallback(await svc.handle(score_eff()))
        assert sup.state == CIRCUIT_OPEN
        now[0] += 11
        assert_fallback(await svc.handle(score_eff()))  # the probe fails
        assert sup.state == CIRCUIT_OPEN and fake.count("score") == 2


# --- configuration, secrets, budget ------------------------------------------------------


def test_budget_is_bounded_by_config_and_below_the_engine_wait():
    ai = default_config().ai  # timeout 8000 ms, 2 retries
    assert answer_budget(ai, 20_000) == 15.0  # capped at 3/4 of the wait
    assert answer_budget(ai, 60_000) == 24.0  # timeout × attempts
    small = attrs.evolve(ai, timeout_ms=500, max_retries=1)
    assert answer_budget(small, 20_000) == 1.0
    for wait in (1, 100, 5_000, 20_000):
        assert answer_budget(ai, wait) * 1000 < wait or wait < 2


def test_service_budgets_come_from_config():
    cfg = default_config()
    cfg = attrs.evolve(cfg, ai=attrs.evolve(cfg.ai, timeout_ms=1000, max_retries=3),
                       engine=cfg.engine.with_mode("roast", RoastConfig(scoring_timeout_ms=2000)))
    svc = JudgeService.from_config(cfg, make_judge(cfg))
    assert svc.score_budget == 1.5 and svc.prompt_budget == 4.0


def test_make_judge_needs_the_key_from_the_environment():
    cfg = default_config()
    cfg = attrs.evolve(cfg, ai=attrs.evolve(cfg.ai, kind="openai"))
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        make_judge(cfg, env={})
    judge = make_judge(cfg, env={"OPENAI_API_KEY": SECRET})
    assert isinstance(judge, OpenAIJudge)
    assert SECRET not in repr(judge) and SECRET not in repr(vars(judge))
    assert SECRET not in repr(cfg)


async def test_the_key_is_never_logged_nor_in_health(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.push("score", server_error(), error_reply(401, "bad key"))
    svc = service(fake, max_retries=2)
    await handle(svc, score_eff())
    assert fake.of_kind("score")[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in caplog.text
    assert SECRET not in repr(svc.health()) and SECRET not in repr(svc.judge)


async def _served(svc, *effects) -> list:
    """Run the service on `effects` until each has its answer; the answers in order."""
    send, recv = trio.open_memory_channel(10)
    answers = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(svc.serve, recv, answers.append)
            for eff in effects:
                await send.send(eff)
            while len(answers) < len(effects):
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    return answers


async def test_an_unopenable_judge_leaves_the_fallback_answering():
    class Broken:
        name = "broken"

        async def __aenter__(self):
            raise RuntimeError("no client")

        async def __aexit__(self, *exc):
            return None

    svc = JudgeService(Broken(), score_budget=1, prompt_budget=1)
    answers = await _served(svc, score_eff(), prompt_eff())
    assert answers[0].judge == "embedded" and answers[1].source == "embedded"
    assert svc.health()["fallback_reasons"] == {"unavailable": 2}


async def test_a_judge_that_answers_garbage_is_a_failing_judge():
    """Found by the simulator: a score that is not a RoastScore (strings,
    out-of-range numbers) reached the engine and stopped the tick loop."""
    import types

    class Liar:
        name = "liar"

        async def score(self, *args, **kwargs):
            return types.SimpleNamespace(savagery="lots", creativity=99, delivery=-5, relevance=None,
                                         commentary=12345, judge=None)

        async def generate_prompt(self, *args):
            return 12345

    svc = JudgeService(Liar(), score_budget=1, prompt_budget=1)
    scored, prompt = await _served(svc, score_eff(), prompt_eff())
    assert scored.judge == "embedded" and prompt.source == "embedded"
    assert all(type(getattr(scored, d)) is int and 0 <= getattr(scored, d) <= 10
               for d in ("savagery", "creativity", "delivery", "relevance"))
    assert isinstance(prompt.prompt, str) and prompt.prompt
