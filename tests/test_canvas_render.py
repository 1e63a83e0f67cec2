"""The canvas archive's pictures and the side task that stores them: the PNG
is the bitmap exactly; the timelapse's frames are the pixel log's states
(an H.264 MP4, a GIF when encoding fails); the archiver reads the log from
the store and writes both through the media port (local files, and S3 on
moto's server at 127.0.0.1), the same files again when run twice; media
keys that could leave the store are refused; and the generic mode side
task retries a failing effect until it succeeds, submitting its result once."""

from __future__ import annotations

import io
import zlib

import attrs
import pytest
import trio

from arena.config import default_config
from arena.engine.errors import ArenaError
from arena.media import make_media, render
from arena.media.canvas_archive import make_archiver, media_folder
from arena.media.local import LocalMedia, object_key
from arena.mode_tasks import ModeTask, TaskContext, build_mode_tasks, load_factory
from arena.modes.canvas import messages as M
from arena.modes.canvas.settings import PALETTE_8, PALETTE_32, CanvasConfig
from arena.persistence.memory import MemoryStore
from arena.persistence.store import TickBatch
from moto_s3 import BUCKET, media_section, moto_s3, s3_client

PLACEMENTS = [(x % 6, (x * 5) % 4, (x * 3) % 8) for x in range(40)]


def final_of(width, height, placements) -> bytes:
    canvas = bytearray(width * height)
    for x, y, c in placements:
        canvas[y * width + x] = c
    return bytes(canvas)


def test_the_png_is_the_bitmap_exactly():
    from PIL import Image

    pixels = final_of(6, 4, PLACEMENTS)
    img = Image.open(io.BytesIO(render.png(6, 4, PALETTE_8, pixels)))
    assert img.format == "PNG" and img.size == (6, 4) and img.tobytes() == pixels
    rgb = img.convert("RGB")
    assert rgb.getpixel((0, 0)) == tuple(int(PALETTE_8[pixels[0]][i:i + 2], 16) for i in (1, 3, 5))
    with pytest.raises(ValueError):
        render.png(6, 4, PALETTE_8, b"short")


def test_frame_states_step_evenly_to_the_final_canvas():
    frames = render.frame_states(6, 4, PLACEMENTS, 8)
    assert len(frames) == 8 and frames[-1] == final_of(6, 4, PLACEMENTS)
    assert frames[0] == final_of(6, 4, PLACEMENTS[:5])
    assert render.frame_states(6, 4, [], 10) == [bytes(24)]  # an empty week: one blank frame
    assert len(render.frame_states(6, 4, PLACEMENTS[:3], 10)) == 3  # never more frames than placements
    assert render.frame_states(2, 2, [(5, 5, 1), (1, 1, 1)], 2)[-1] == bytes([0, 0, 0, 1])  # off-canvas ignored


def test_the_timelapse_is_an_h264_mp4_of_the_frames():
    import imageio_ffmpeg

    video = render.timelapse(6, 4, PALETTE_8, PLACEMENTS, frames=10, fps=10, min_side=64)
    assert (video.content_type, video.extension, video.frames) == ("video/mp4", "mp4", 10)
    path = io.BytesIO(video.data)
    assert path.getvalue()[4:8] == b"ftyp"
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(video.data)
        f.flush()
        reader = imageio_ffmpeg.read_frames(f.name)
        meta = next(reader)
        assert meta["codec"] == "h264" and meta["size"] == (96, 64) and sum(1 for _ in reader) == 10


def test_a_gif_when_the_mp4_encoder_fails(monkeypatch):
    from PIL import Image

    def broken(*args):
        raise RuntimeError("no ffmpeg here")

    monkeypatch.setattr(render, "_mp4", broken)
    video = render.timelapse(6, 4, PALETTE_8, PLACEMENTS, frames=5, min_side=12)
    assert (video.content_type, video.extension, video.frames) == ("image/gif", "gif", 5)
    gif = Image.open(io.BytesIO(video.data))
    assert gif.format == "GIF" and gif.n_frames == 5 and gif.size == (18, 12)
    assert render.timelapse(6, 4, PALETTE_8, PLACEMENTS, frames=2, encoder="gif").content_type == "image/gif"


@pytest.mark.parametrize("key", ["../x.png", "canvas/../../etc/passwd", "/abs/x.png", "canvas", "canvas/",
                                 "Canvas/x.png", "canvas/a b.png", "canvas/" + "x" * 200, "canvas/a/b/c/d/e",
                                 7, "canvas/..", ""])
def test_media_keys_that_could_leave_the_store_are_refused(key):
    with pytest.raises(ArenaError):
        object_key(key)


def test_a_good_media_key_is_kept():
    assert object_key("canvas/w-000001/final.png") == "canvas/w-000001/final.png"
    assert media_folder(M.archive_key("ab12", 7)) == "canvas/ab12-000007"


# --- the archiver -------------------------------------------------------------------------


def effect(seq=1, placements=PLACEMENTS, width=6, height=4, palette=PALETTE_32):
    bitmap = zlib.compress(final_of(width, height, placements), 9)
    return M.RenderArchive(M.archive_key("w1", seq), seq, f"canvas:2026-{seq}", width, height, tuple(palette),
                           bitmap, len(placements))


async def logged_store(seq=1, placements=PLACEMENTS) -> MemoryStore:
    store = MemoryStore()
    await store.open()
    rows = [(n, x, y, c, "w", 1000 + n) for n, (x, y, c) in enumerate(placements, 1)]
    await store.write(TickBatch(records=[("mode_op", "canvas", ("pixels", seq, rows))], durable_tick=1))
    return store


def archiver(media, store, **settings):
    cfg = default_config()
    cfg = attrs.evolve(cfg, engine=cfg.engine.with_mode("canvas", CanvasConfig(timelapse_frames=6, **settings)))
    return make_archiver(TaskContext(cfg, media, store))


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3() as endpoint:
        yield endpoint


@pytest.mark.trio
async def test_the_archiver_stores_the_png_and_the_video_and_answers_their_urls(tmp_path):
    from PIL import Image

    media = LocalMedia(tmp_path / "media")
    task = archiver(media, await logged_store())
    answer = await task.run(effect())
    assert (answer.key, answer.seq) == (M.archive_key("w1", 1), 1)
    assert answer.image_url.endswith("canvas/w1-000001/final.png")
    assert answer.video_url.endswith("canvas/w1-000001/timelapse.mp4")
    png = Image.open(io.BytesIO(await media.fetch(answer.image_url)))
    assert png.tobytes() == final_of(6, 4, PLACEMENTS)
    assert (await task.run(effect())) == answer  # again: the same files, the same answer
    assert task.retry_after_s(effect(), 1) == 300.0


@pytest.mark.trio
async def test_the_archiver_writes_to_s3_with_content_types(s3_endpoint):
    cfg = default_config()
    media = make_media(attrs.evolve(cfg, media=media_section(cfg.media, s3_endpoint)))
    answer = await archiver(media, await logged_store(seq=3), archive_retry_ms=1_000).run(effect(seq=3))
    assert answer.image_url == f"{s3_endpoint}/{BUCKET}/canvas/w1-000003/final.png"
    s3 = s3_client(s3_endpoint)
    png = s3.get_object(Bucket=BUCKET, Key="canvas/w1-000003/final.png")
    video = s3.get_object(Bucket=BUCKET, Key="canvas/w1-000003/timelapse.mp4")
    assert png["ContentType"] == "image/png" and video["ContentType"] == "video/mp4"
    assert png["Body"].read()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.trio
async def test_a_store_that_fails_fails_the_render(tmp_path):
    store = await logged_store()
    store.fail = OSError("store away (test)")
    with pytest.raises(OSError):
        await archiver(LocalMedia(tmp_path), store).run(effect())


# --- the generic mode side task -----------------------------------------------------------


class Flaky:
    def __init__(self, failures):
        self.failures = failures
        self.calls = 0
        self.delays: list[int] = []

    async def run(self, eff):
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"try {self.calls} failed")
        return ("done", eff)

    def retry_after_s(self, eff, attempts):
        self.delays.append(attempts)
        return 0.01


@pytest.mark.trio
async def test_a_mode_task_retries_until_the_effect_succeeds_and_submits_once():
    handler, submitted = Flaky(failures=3), []
    task = ModeTask("flaky", handler, submitted.append)
    async with trio.open_nursery() as n:
        n.start_soon(task.supervisor.run, task.run)
        task.send.send_nowait("e1")
        with trio.fail_after(5):
            while not submitted:
                await trio.sleep(0.01)
        n.cancel_scope.cancel()
    assert submitted == [("done", "e1")] and handler.calls == 4 and handler.delays == [1, 2, 3]
    health = task.supervisor.health()
    assert health["failures"] == 3 and health["successes"] == 1 and health["state"] == "active"


def test_mode_tasks_come_from_the_registry_and_bad_names_are_refused():
    ctx = TaskContext(default_config(), None, None)
    tasks = build_mode_tasks(ctx, lambda r: None)
    assert "canvas-archive" in tasks
    for bad in ("no_colon", ":x", "arena.media.render:"):
        with pytest.raises(ValueError):
            load_factory(bad)
    with pytest.raises(AttributeError):
        load_factory("arena.media.render:nope")
