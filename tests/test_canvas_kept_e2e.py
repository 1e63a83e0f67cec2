"""What is kept of a canvas, end to end over real sockets on a real server
(127.0.0.1): a reset archives the week, and the "canvas-archive" side task
renders its PNG and MP4 timelapse (frames from the pixel log) into the media
store, whose URLs `canvas.archives` then lists; a render that fails is tried
again after `archive_retry_ms`; an archive whose store transaction fails is
written when the store is back, and only then rendered; comments,
objectives and agents' standings over the wire; hostile and out-of-order
requests get the protocol's codes and change nothing."""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import pytest
import trio

from arena.client import open_client
from arena.media.local import LocalMedia
from arena.modes.canvas.settings import CanvasConfig
from arena.persistence.memory import MemoryStore
from conftest import make_config, player, wait_until
from test_e2e_support import error_code

pytestmark = pytest.mark.trio

W, H = 12, 8


@pytest.fixture
def kept_server(nursery, tmp_path):
    """`server, url = await kept_server(media=..., store=..., **canvas settings)`."""
    from arena.server import ArenaServer

    async def start(*, media=None, store=None, comment=(50, 50), **canvas):
        cfg = make_config(tmp_path)
        values = dict(width=W, height=H, cooldown_ms=0, comment_cooldown_ms=0, archive_retry_ms=200,
                      timelapse_frames=12)
        values.update(canvas)
        cfg = attrs.evolve(cfg, engine=cfg.engine.with_mode("canvas", CanvasConfig(**values)),
                           buckets={**cfg.buckets, ("canvas", "place"): (100, 100),
                                    ("canvas", "comment"): comment})
        srv = ArenaServer(cfg, **({"media": media} if media is not None else {}),
                          **({"store": store} if store is not None else {}))
        port = await nursery.start(srv.run)
        return srv, f"ws://127.0.0.1:{port}/v1"

    return start


async def reset_by_operator(server, url, mode="speed") -> dict:
    key = await server.credentials.create(f"ops{server.state.tick}", "operator")
    async with open_client(url) as op:
        await op.hello()
        await op.request("auth.key", {"key": key})
        return await op.request("canvas.reset", {"mode": mode})


async def archives_when_rendered(client, timeout=30.0) -> list:
    with trio.fail_after(timeout):
        while True:
            listed = (await client.request("canvas.archives", {}))["archives"]
            if listed and listed[0]["image_url"]:
                return listed
            await trio.sleep(0.05)


async def stored_archive_with_urls(server, timeout=10.0) -> dict:
    """The one archive row, once the store has its URLs (written with the
    tick that took the side task's answer, a moment after the state has them)."""
    with trio.fail_after(timeout):
        while True:
            rows = await server.persistence.store.query("canvas_archives")
            if rows and rows[0]["image_url"]:
                [row] = rows
                return row
            await trio.sleep(0.05)


def local_path(url: str) -> Path:
    return Path(urlsplit(url).path)


class FlakyMedia(LocalMedia):
    """Local media whose first `failures` stores fail (a media store away)."""

    def __init__(self, root, failures: int):
        super().__init__(root)
        self.failures = failures
        self.attempts = 0

    async def store_object(self, key, data, content_type):
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise OSError("media store unreachable (test)")
        return await super().store_object(key, data, content_type)


async def test_a_reset_renders_the_png_and_the_timelapse_from_the_pixel_log(kept_server):
    from PIL import Image

    import imageio_ffmpeg

    server, url = await kept_server()
    async with player(url, faucet=False) as a:
        await a.request("canvas.join")
        plan = [(x, y, (x * 7 + y) % 32) for x in range(W) for y in range(0, H, 3)]
        for x, y, c in plan:
            await a.request("canvas.place", {"x": x, "y": y, "color": c})
        canvas = bytes(server.state.modes["canvas"].pixels)
        await reset_by_operator(server, url)
        [listed] = await archives_when_rendered(a)
    assert listed["mode"] == "classic" and listed["winner"] == a.wallet and listed["winner_agent"] is None
    png = local_path(listed["image_url"])
    assert png.name == "final.png" and png.parent.parent.name == "canvas"
    img = Image.open(io.BytesIO(png.read_bytes()))
    assert img.size == (W, H) and img.mode == "P" and img.tobytes() == canvas  # the final canvas, exactly
    video = local_path(listed["video_url"])
    assert video.suffix == ".mp4"
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = reader.__next__()
    frames = sum(1 for _ in reader)
    assert meta["codec"] == "h264" and frames == 12  # the configured frames, rebuilt from the log
    row = await stored_archive_with_urls(server)
    assert (row["image_url"], row["video_url"]) == (listed["image_url"], listed["video_url"])
    assert zlib.decompress(row["bitmap"]) == canvas
    assert server.health()["side_tasks"]["canvas-archive"]["successes"] == 1


async def test_a_failed_render_is_tried_again_after_the_retry_delay(kept_server, tmp_path):
    media = FlakyMedia(tmp_path / "flaky", failures=2)
    server, url = await kept_server(media=media, archive_retry_ms=300)
    async with player(url, faucet=False) as a:
        await a.request("canvas.join")
        await a.request("canvas.place", {"x": 1, "y": 1, "color": 5})
        t0 = trio.current_time()
        await reset_by_operator(server, url)
        [listed] = await archives_when_rendered(a)
        waited = trio.current_time() - t0
    assert media.attempts == 4 and waited >= 0.6  # two failed tries (300 ms apart), then the PNG and the video
    health = server.health()["side_tasks"]["canvas-archive"]
    assert health["failures"] == 2 and health["successes"] == 1 and "unreachable" in health["last_error"]
    assert local_path(listed["image_url"]).exists() and local_path(listed["video_url"]).exists()
    row = await stored_archive_with_urls(server)
    assert row["pixels"] == 1 and row["image_url"] == listed["image_url"]  # nothing of the week lost


async def test_an_archive_whose_transaction_fails_is_written_when_the_store_is_back(kept_server):
    store = MemoryStore()
    server, url = await kept_server(store=store)
    async with player(url, faucet=False) as a:
        await a.request("canvas.join")
        await a.request("canvas.place", {"x": 2, "y": 3, "color": 9})
        await wait_until(lambda: len(store.mode_tables.get("canvas", {}).get("canvas_pixels", {})) == 1)
        store.fail_ticks = OSError("disk full (test)")
        await reset_by_operator(server, url)
        await trio.sleep(0.5)
        assert await store.query("canvas_archives") == []  # the transaction failed: nothing written
        assert server.health()["side_tasks"]["canvas-archive"]["successes"] == 0  # held: not durable yet
        assert server.persistence.health()["held_money_effects"] == 1
        store.fail_ticks = None  # the store is back: the writer retries the whole batch
        [listed] = await archives_when_rendered(a)
    row = await stored_archive_with_urls(server)
    assert row["pixels"] == 1 and zlib.decompress(row["bitmap"])[3 * W + 2] == 9
    assert row["image_url"] == listed["image_url"]
    assert len(await store.query("canvas_pixel_log", params=(1,))) == 1


async def test_comments_objectives_and_agents_over_the_wire(kept_server):
    server, url = await kept_server(objectives_per_week=7)  # every shipped one
    key = await server.credentials.create("painter", "agent")
    async with player(url, faucet=False) as a, open_client(url) as bot:
        await bot.hello()
        await bot.request("auth.key", {"key": key})
        await a.request("canvas.join")
        await bot.request("canvas.join")
        got = await a.request("canvas.comment", {"text": "a heart here", "x": 3, "y": 4})
        _, seen = await bot.next_event("canvas:comment")
        assert seen == {"id": got["id"], "author": a.wallet, "text": "a heart here", "x": 3, "y": 4}
        await bot.request("canvas.comment", {"text": "beep"})
        _, own = await a.next_event("canvas:comment")  # a watcher sees its own comment too
        assert own["id"] == got["id"]
        _, seen = await a.next_event("canvas:comment")
        assert seen["author"] == "painter" and seen["x"] is None and seen["y"] is None
        for x in range(3):
            await bot.request("canvas.place", {"x": x, "y": 0, "color": 6})
        _, progress = await bot.next_event("objective:progress")
        assert set(progress) == {"objective", "progress", "target"} and progress["progress"] == 1
        _, done = await bot.next_event("objective:completed")
        assert done == {"objective": "corner-3"}
        mine = {o["id"]: o for o in (await bot.request("canvas.objectives", {}))["objectives"]}
        assert mine["corner-3"]["done"] and mine["black-5"]["progress"] == 3
        agents = await a.request("canvas.agents", {})
        assert agents["agents"] == [{"agent": "painter", "pixels": 3, "rank": 1, "total": 3, "active": True,
                                     "reputation": 1}]
        assert (await a.request("canvas.archives", {"limit": 5})) == {"archives": []}
    # Kept with their tick's journal entry: once that tick has closed and been written.
    with trio.fail_after(10):
        while len(comments := await server.persistence.store.query("canvas_comments")) < 2:
            await trio.sleep(0.05)
    assert [c["text"] for c in comments] == ["a heart here", "beep"]


async def test_hostile_and_out_of_order_requests_get_the_protocols_codes(kept_server):
    server, url = await kept_server(comment_max_chars=40)
    async with player(url, faucet=False) as p:
        assert await error_code(p.request("canvas.comment", {"text": "too soon"})) == "wrong_state"
        await p.request("canvas.join")
        for body in ({}, {"text": 5}, {"text": "ok", "x": "1", "y": 1}, {"text": "ok", "x": 1},
                     {"text": "ok", "x": W, "y": 0}, {"text": "x" * 41}, {"text": "x" * 2001},
                     {"text": "ok", "x": True, "y": 0}, {"text": "ok", "x": 2**40, "y": 0}, {"text": "\x1b[2J"},
                     {"text": ""}):
            assert await error_code(p.request("canvas.comment", body)) == "bad_request", body
        for body in ({"limit": 0}, {"limit": "3"}, {"limit": 101}, {"limit": -5}, {"limit": 1.5}):
            assert await error_code(p.request("canvas.archives", body)) == "bad_request", body
            assert await error_code(p.request("canvas.agents", body)) == "bad_request", body
        huge = await p.request_raw("canvas.comment", {"text": "y" * 70_000})  # over the 64 KiB frame limit
        assert huge[1]["code"] == "bad_frame"
        assert (await p.request("canvas.objectives", {"junk": 1}))["objectives"] is not None
    async with open_client(url) as anonymous:
        await anonymous.hello()
        for type_ in ("canvas.comment", "canvas.objectives", "canvas.archives", "canvas.agents"):
            assert await error_code(anonymous.request(type_, {"text": "x"})) == "unauthenticated"
    assert server.state.modes["canvas"].comments == 0  # nothing was taken
    assert await server.persistence.store.query("canvas_comments") == []


async def test_a_comment_flood_is_refused_at_the_gateway(kept_server):
    server, url = await kept_server(comment=(2, 5))
    async with player(url, faucet=False) as p:
        await p.request("canvas.join")
        replies = [(await p.request_raw("canvas.comment", {"text": f"n{i}"}))[1] for i in range(15)]
    codes = [r.get("code", "ok") if isinstance(r, dict) else "ok" for r in replies]
    assert codes.count("rate_limited") >= 8 and codes[0] == "ok", codes
    assert set(codes) == {"ok", "rate_limited"}
    await wait_until(lambda: server.state.modes["canvas"].comments == codes.count("ok"))
    with trio.fail_after(10):
        while len(await server.persistence.store.query("canvas_comments")) < codes.count("ok"):
            await trio.sleep(0.05)  # only the accepted ones are kept


@pytest.fixture(params=["sqlite", "postgres"])
async def world_store(request, tmp_path):
    """The [store] section of a world on disk: embedded SQLite, or a fresh
    schema of the real PostgreSQL (migrated first, as `arena migrate` does)."""
    if request.param == "sqlite":
        return {"kind": "embedded", "path": str(tmp_path / "canvas.sqlite")}
    from arena.persistence.postgres import PostgresStore

    dsn = request.getfixturevalue("pg_schema")
    store = PostgresStore(dsn)
    assert "canvas:1" in await store.migrate()
    await store.close()
    return {"kind": "postgres", "dsn": dsn}


async def test_a_render_unfinished_at_a_restart_is_done_after_it(world_store, tmp_path):
    """The media store is away and the server stops before the render
    succeeds: the next server on the same store (SQLite, PostgreSQL)
    dispatches the outbox's render again and the week gets its pictures."""
    from arena.server import ArenaServer

    def server(media):
        cfg = make_config(tmp_path)
        settings = CanvasConfig(width=W, height=H, cooldown_ms=0, archive_retry_ms=60_000, timelapse_frames=4)
        cfg = attrs.evolve(cfg, engine=cfg.engine.with_mode("canvas", settings),
                           store=attrs.evolve(cfg.store, **world_store))
        return ArenaServer(cfg, media=media)

    away = FlakyMedia(tmp_path / "media", failures=10**6)
    first = server(away)
    async with trio.open_nursery() as n:
        port = await n.start(first.run)
        url = f"ws://127.0.0.1:{port}/v1"
        async with player(url, faucet=False) as a:
            await a.request("canvas.join")
            for x in range(4):
                await a.request("canvas.place", {"x": x, "y": 2, "color": 3})
            await reset_by_operator(first, url)
        await wait_until(lambda: away.attempts >= 1)
        with trio.fail_after(10):
            while not await first.persistence.store.query("canvas_archives"):
                await trio.sleep(0.05)  # the archive is durable; only its pictures are missing
        n.cancel_scope.cancel()
    again = server(LocalMedia(tmp_path / "media"))
    async with trio.open_nursery() as n:
        port = await n.start(again.run)
        async with player(f"ws://127.0.0.1:{port}/v1", faucet=False) as a:
            [listed] = await archives_when_rendered(a)
        row = await stored_archive_with_urls(again)
        n.cancel_scope.cancel()
    assert row["pixels"] == 4 and row["image_url"] == listed["image_url"]
    assert local_path(listed["image_url"]).exists() and local_path(listed["video_url"]).exists()
    assert again.health()["side_tasks"]["canvas-archive"]["successes"] == 1


async def test_comments_moderated_through_the_openai_judge(nursery, tmp_path, monkeypatch):
    """`[canvas] moderate_comments` with the OpenAI judge (a local fake of the
    API on 127.0.0.1): a clean comment is shown once passed, a flagged one
    is kept marked and shown to no one, and a moderation call that fails is
    asked again until it answers."""
    from arena.server import ArenaServer
    from fake_openai import FakeOpenAI, server_error

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-canvas")
    with FakeOpenAI() as fake:
        cfg = make_config(tmp_path)
        ai = attrs.evolve(cfg.ai, kind="openai", base_url=fake.base_url, timeout_ms=2000, max_retries=0)
        settings = CanvasConfig(width=W, height=H, comment_cooldown_ms=0, moderate_comments=True)
        cfg = attrs.evolve(cfg, ai=ai, engine=cfg.engine.with_mode("canvas", settings))
        server = ArenaServer(cfg)
        port = await nursery.start(server.run)
        url = f"ws://127.0.0.1:{port}/v1"
        async with player(url, faucet=False) as a, player(url, faucet=False) as b:
            await a.request("canvas.join")
            await b.request("canvas.join")
            fake.push("moderate", server_error(500))  # the first call fails: asked again
            first = await a.request("canvas.comment", {"text": "lovely colours"})
            _, shown = await b.next_event("canvas:comment", timeout=15)
            assert shown["id"] == first["id"] and shown["text"] == "lovely colours"
            bad = await a.request("canvas.comment", {"text": "FLAGME you all"})
            fine = await a.request("canvas.comment", {"text": "and a third"})
            _, shown = await b.next_event("canvas:comment", timeout=15)
            assert shown["id"] == fine["id"]  # the flagged one in between never came
        assert fake.count("moderate") == 4
        with trio.fail_after(10):
            while len(rows := await server.persistence.store.query("canvas_comments")) < 3:
                await trio.sleep(0.05)
    assert {r["id"]: r["moderation"] for r in rows} == {first["id"]: "passed", bad["id"]: "flagged",
                                                       fine["id"]: "passed"}
    health = server.health()["side_tasks"]["canvas-moderation"]
    assert health["failures"] == 1 and health["successes"] == 3
    assert server.state.modes["canvas"].flagged_comments == 1 and not server.state.modes["canvas"].held_comments


async def test_with_the_embedded_judge_moderated_comments_are_shown_unread(kept_server):
    server, url = await kept_server(moderate_comments=True)
    async with player(url, faucet=False) as a:
        await a.request("canvas.join")
        sent = await a.request("canvas.comment", {"text": "FLAGME is just a word here"})
        _, shown = await a.next_event("canvas:comment")
        assert shown["id"] == sent["id"]
    with trio.fail_after(10):
        while not (rows := await server.persistence.store.query("canvas_comments")):
            await trio.sleep(0.05)
    assert rows[0]["moderation"] == "none"
