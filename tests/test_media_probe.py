"""The media check of uploads (`arena.media.probe`): images decoded with
Pillow as their declared type, video probed with the ffmpeg of
`imageio-ffmpeg`; what is not what it claims, truncated, too large or too
long is refused with a reason."""

from __future__ import annotations

import io
import subprocess

import imageio_ffmpeg
import pytest
from PIL import Image

from arena.engine.errors import ArenaError
from arena.media import probe


def image(fmt: str, size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, fmt)
    return out.getvalue()


def video(tmp_path, ext: str, seconds: float = 1, codec: tuple = ()) -> bytes:
    path = tmp_path / f"v.{ext}"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc=duration={seconds}:size=64x48:rate=5", *codec, str(path)], check=True)
    return path.read_bytes()


@pytest.mark.parametrize("media_type,fmt", [("image/png", "PNG"), ("image/jpeg", "JPEG"), ("image/gif", "GIF"),
                                            ("image/webp", "WEBP")])
def test_images_of_each_type_pass(media_type, fmt):
    info = probe.check(image(fmt), media_type)
    assert (info.kind, info.width, info.height) == ("image", 64, 48)


def test_videos_are_probed_with_ffmpeg(tmp_path):
    mp4 = probe.check(video(tmp_path, "mp4", codec=("-pix_fmt", "yuv420p")), "video/mp4")
    assert (mp4.kind, mp4.width, mp4.height, mp4.duration_ms) == ("video", 64, 48, 1000)
    webm = probe.check(video(tmp_path, "webm", codec=("-c:v", "libvpx")), "video/webm")
    assert webm.kind == "video" and webm.duration_ms == 1000


def test_what_is_not_what_it_claims_is_refused(tmp_path):
    png = image("PNG")
    cases = [
        (png, "image/jpeg"), (png[:40], "image/png"), (b"", "image/png"), (b"GIF89a" + b"\0" * 20, "image/gif"),
        (png, "video/mp4"), (b"\0" * 100, "video/webm"), (png, "text/html"),
        (video(tmp_path, "webm", codec=("-c:v", "libvpx")), "video/mp4"),
    ]
    for data, media_type in cases:
        with pytest.raises(ArenaError) as err:
            probe.check(data, media_type)
        assert err.value.code == "bad_request", media_type


def test_too_many_pixels_and_too_long_videos_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ArenaError, match="larger than allowed"):
        probe.check(image("PNG", (probe.MAX_SIDE + 1, 2)), "image/png")
    monkeypatch.setattr(probe, "MAX_VIDEO_MS", 500)
    with pytest.raises(ArenaError, match="longer than"):
        probe.check(video(tmp_path, "mp4", codec=("-pix_fmt", "yuv420p")), "video/mp4")
