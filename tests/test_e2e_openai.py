"""End to end with `[ai] kind = "openai"`: real sockets, a real server, and a
local fake of the OpenAI API (tests/fake_openai.py) in place of OpenAI.

A battle gets its prompts, transcripts and scores from the fake when it
behaves, and completes on time with the embedded judge when it does not.
Which judge answered is read from the journal (the engine's inputs carry
`judge` / `source`) and from the commentary ("(fallback judge) ...").
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio

from arena.ai.prompts import PROMPTS
from arena.ai.service import FALLBACK_PREFIX
from arena.client import ArenaRequestError
from arena.config import default_config
from arena.engine import core
from arena.engine.canonical import state_hash
from arena.modes.roast.messages import PromptGenerated, RoastScored
from arena.media import make_media
from conftest import player
from fake_openai import (
    FakeOpenAI,
    chat_reply,
    closed_port,
    malformed_body,
    rate_limited,
    score_reply,
    server_error,
    slow,
)
from moto_s3 import BUCKET, media_section, moto_s3, s3_client

LONG = "Your {p} energy is so weak even your echo gives up halfway, and your playlist files for divorce!"
SHORT = "meh"
EVENT_TIMEOUT = 60  # generous: only a stuck battle fails


class RecordingJournal:
    """Keeps every tick's inputs, like a durable journal would, for replay."""

    def __init__(self):
        self.entries: list[tuple[int, list]] = []
        self.durable_tick = 0

    def append(self, tick: int, inputs: list) -> None:
        self.entries.append((tick, list(inputs)))
        self.durable_tick = tick

    def inputs_of(self, cls) -> list:
        return [i for _, inputs in self.entries for i in inputs if isinstance(i, cls)]


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-e2e")
    with FakeOpenAI() as f:
        yield f


def ai_section(base_url: str, **over):
    base = default_config().ai
    return attrs.evolve(base, kind="openai", base_url=base_url, **{"timeout_ms": 2000, "max_retries": 1, **over})


async def submit(client, match, rnd, text, audio=None):
    """Submit once the recording window is open (the countdown may still run)."""
    with trio.fail_after(EVENT_TIMEOUT):
        while True:
            try:
                return await client.submit(match, rnd, text, audio=audio)
            except ArenaRequestError as exc:
                if exc.code != "wrong_state":
                    raise
                await trio.sleep(0.05)


async def play(a, b, roasts, rounds=3):
    """Play a whole battle; `roasts[client](rnd, prompt) -> (text, audio)`.
    Returns (match, prompts, reveals seen by `a`, roast_submitted seen by `a`, end)."""
    await a.queue("bronze")
    await b.queue("bronze")
    _, found = await a.next_event("match.found", timeout=EVENT_TIMEOUT)
    await b.next_event("match.found", timeout=EVENT_TIMEOUT)
    match = found["match"]
    assert await a.pay_entry(match) == "confirmed"
    assert await b.pay_entry(match) == "confirmed"
    prompts, reveals, submitted = [], [], []
    for rnd in range(1, rounds + 1):
        for c in (a, b):
            _, start = await c.next_event("battle:round_start", match=match, timeout=EVENT_TIMEOUT)
            assert start["roundNumber"] == rnd
        prompts.append(start["prompt"])
        for c in (a, b):
            text, audio = roasts[c](rnd, start["prompt"])
            await submit(c, match, rnd, text, audio)
        for _ in range(2):
            _, ev = await a.next_event("battle:roast_submitted", match=match, timeout=EVENT_TIMEOUT)
            submitted.append(ev)
        for c in (a, b):
            for _ in range(2):
                _, sc = await c.next_event("battle:score_revealed", match=match, timeout=EVENT_TIMEOUT)
                assert sc["roundNumber"] == rnd and sc["score"] == sum(sc["breakdown"].values())
                if c is a:
                    reveals.append(sc)
    _, end = await a.next_event("battle:ended", match=match, timeout=EVENT_TIMEOUT)
    _, end_b = await b.next_event("battle:ended", match=match, timeout=EVENT_TIMEOUT)
    assert end == end_b
    return match, prompts, reveals, submitted, end


def texts(a, b):
    return {a: lambda rnd, p: (LONG.format(p=p), None), b: lambda rnd, p: (SHORT, None)}


# --- the happy path --------------------------------------------------------------------------


async def test_battle_is_judged_by_openai_and_replays_without_it(arena_server, fake):
    journal = RecordingJournal()
    server, url = await arena_server(ai=ai_section(fake.base_url), server_kwargs={"journal": journal})
    async with player(url) as a, player(url) as b:
        match, prompts, reveals, _, end = await play(a, b, texts(a, b))
    assert end["reason"] == "completed" and end["winnerId"] == a.wallet
    # Prompts and scores came from the fake.
    assert all("attempt number" in p for p in prompts) and len(set(prompts)) == 3
    assert all(r["commentary"].startswith("Fake judge") for r in reveals)
    assert fake.count("prompt") >= 3 and fake.count("score") == 6
    # The journal has the answers, with their judge, as inputs ...
    scored = journal.inputs_of(RoastScored)
    assert len(scored) == 6 and {s.judge for s in scored} == {"openai"}
    assert {p.source for p in journal.inputs_of(PromptGenerated)} == {"openai"}
    # ... so a replay rebuilds the state exactly without asking anyone.
    calls = len(fake.requests)
    # The live state past the journal's last tick is a tick still being
    # formed (inputs are stepped as they arrive): compare once it closed.
    with trio.fail_after(5):
        while not journal.entries or journal.entries[-1][0] != server.state.tick:
            await trio.sleep(0.01)
    replayed = core.new_state(server.state.config, world=server.state.world)
    for tick, inputs in journal.entries:
        core.step(replayed, tick, inputs)
    assert replayed.tick == server.state.tick
    assert state_hash(replayed) == state_hash(server.state)
    assert len(fake.requests) == calls
    health = server.health()["side_tasks"]["judge"]
    assert health["judge"] == "openai" and health["circuit"] == "active"
    assert health["fallbacks"] == 0 and health["requests"] >= 9
    assert health["latency_ms_p99"] >= health["latency_ms_p50"] > 0


async def test_battle_with_audio_roasts_transcribed(arena_server, fake, tmp_path):
    server, url = await arena_server(ai=ai_section(fake.base_url))
    spoken = "You roast like a screensaver: technically moving, emotionally absent, and still losing"
    async with player(url) as a, player(url) as b:
        roasts = {a: lambda rnd, p: ("", f"{spoken} round {rnd}".encode()),
                  b: lambda rnd, p: (SHORT, None)}
        match, _, reveals, submitted, end = await play(a, b, roasts)
    assert end["reason"] == "completed" and end["winnerId"] == a.wallet
    urls = {ev["playerId"]: ev["audioUrl"] for ev in submitted if ev["playerId"] == a.wallet}
    assert urls[a.wallet].endswith(f"audio/{match}/round3_player1.webm")
    assert all(ev["audioUrl"] is None for ev in submitted if ev["playerId"] == b.wallet)
    for rnd in (1, 2, 3):
        stored = Path(tmp_path / "media" / "audio" / match / f"round{rnd}_player1.webm")
        assert stored.read_bytes() == f"{spoken} round {rnd}".encode()
    transcribed = fake.of_kind("transcribe")
    assert len(transcribed) == 3
    heard = [r.user_payload()["transcript"] for r in fake.of_kind("score")]
    assert sorted(h for h in heard if h) == [f"{spoken} round {n}" for n in (1, 2, 3)]
    mine = [r for r in reveals if r["playerId"] == a.wallet]
    assert all(r["commentary"].startswith("Fake judge") and r["score"] > 4 for r in mine)
    assert server.health()["side_tasks"]["judge"]["transcribed"] == 3


async def test_battle_with_s3_media_and_transcription(arena_server, fake):
    with moto_s3() as endpoint:
        media = make_media(attrs.evolve(default_config(), media=media_section(default_config().media, endpoint)))
        server, url = await arena_server(ai=ai_section(fake.base_url), roast={"rounds": 1},
                                         server_kwargs={"media": media})
        assert server.media.name == "s3"
        async with player(url) as a, player(url) as b:
            roasts = {a: lambda rnd, p: ("", b"you argue like autocorrect: confident and always wrong"),
                      b: lambda rnd, p: ("", b"no")}
            match, _, reveals, submitted, end = await play(a, b, roasts, rounds=1)
        assert end["reason"] == "completed" and end["winnerId"] == a.wallet
        by_player = {ev["playerId"]: ev["audioUrl"] for ev in submitted}
        assert by_player[a.wallet] == f"{endpoint}/{BUCKET}/audio/{match}/round1_player1.webm"
        assert by_player[b.wallet] == f"{endpoint}/{BUCKET}/audio/{match}/round1_player2.webm"
        obj = s3_client(endpoint).get_object(Bucket=BUCKET, Key=f"audio/{match}/round1_player2.webm")
        assert obj["Body"].read() == b"no"
        assert fake.count("transcribe") == 2
        assert all(r["commentary"].startswith("Fake judge") for r in reveals)


async def test_a_flagged_roast_scores_zero_in_a_battle(arena_server, fake):
    server, url = await arena_server(ai=ai_section(fake.base_url, moderation=True), roast={"rounds": 2})
    async with player(url) as a, player(url) as b:
        roasts = {a: lambda rnd, p: ("FLAGME " + LONG.format(p=p), None), b: lambda rnd, p: (SHORT, None)}
        _, _, reveals, _, end = await play(a, b, roasts, rounds=2)
    assert end["winnerId"] == b.wallet
    mine = [r for r in reveals if r["playerId"] == a.wallet]
    assert all(r["score"] == 0 and "moderation" in r["commentary"].lower() for r in mine)
    assert fake.count("moderate") == 4 and fake.count("score") == 2


# --- misbehaving servers: the battle still completes, judged by the fallback -------------------

MISBEHAVIOURS = {
    "slow": lambda fake: fake.always("score", slow(120)) or fake.always("prompt", slow(120)),
    "rate-limited": lambda fake: fake.always("score", rate_limited(600)) or fake.always("prompt", rate_limited(600)),
    "500s": lambda fake: fake.always("score", server_error(500)) or fake.always("prompt", server_error(503)),
    "malformed-body": lambda fake: fake.always("score", malformed_body()) or fake.always("prompt", malformed_body()),
    "not-json": lambda fake: fake.always("score", chat_reply("8/10, great roast!")),
    "out-of-range": lambda fake: fake.always("score", score_reply(savagery=12)),
    "total-mismatch": lambda fake: fake.always("score", score_reply(total=39)),
}


@pytest.mark.parametrize("how", list(MISBEHAVIOURS))
async def test_battle_completes_when_the_api_misbehaves(arena_server, fake, how):
    MISBEHAVIOURS[how](fake)
    journal = RecordingJournal()
    # Only the slow server needs a short timeout; elsewhere a generous one
    # keeps a busy machine from turning good prompts into fallbacks.
    timeout_ms = 400 if how == "slow" else 2000
    server, url = await arena_server(ai=ai_section(fake.base_url, timeout_ms=timeout_ms, circuit_failures=3),
                                     roast={"rounds": 2}, server_kwargs={"journal": journal})
    async with player(url) as a, player(url) as b:
        _, prompts, reveals, _, end = await play(a, b, texts(a, b), rounds=2)
    assert end["reason"] == "completed" and end["winnerId"] == a.wallet
    assert all(r["commentary"].startswith(FALLBACK_PREFIX) for r in reveals)
    assert {s.judge for s in journal.inputs_of(RoastScored)} == {"embedded"}
    sources = {p.source for p in journal.inputs_of(PromptGenerated)}
    if how in ("slow", "rate-limited", "500s", "malformed-body"):
        assert sources == {"embedded"} and all(p in PROMPTS for p in prompts)
    else:
        assert sources == {"openai"}
    health = server.health()["side_tasks"]["judge"]
    assert health["fallbacks"] >= 4 and health["failures"] >= 3


async def test_battle_completes_when_the_api_is_unreachable(arena_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-e2e")
    journal = RecordingJournal()
    server, url = await arena_server(ai=ai_section(f"http://127.0.0.1:{closed_port()}/v1", circuit_failures=2),
                                     server_kwargs={"journal": journal})
    async with player(url) as a, player(url) as b:
        _, prompts, reveals, _, end = await play(a, b, texts(a, b))
    assert end["reason"] == "completed" and end["winnerId"] == a.wallet
    assert all(p in PROMPTS for p in prompts)
    assert all(r["commentary"].startswith(FALLBACK_PREFIX) for r in reveals)
    health = server.health()["side_tasks"]["judge"]
    assert health["fallback_reasons"].get("circuit_open", 0) >= 1
    assert health["api"]["connection_errors"] >= 2
