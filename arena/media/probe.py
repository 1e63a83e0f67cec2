"""Checks that uploaded media are what they claim to be, before they are
stored: images are decoded with Pillow (format, size, decompression bombs),
video is probed with the ffmpeg binary that `imageio-ffmpeg` ships (a
container ffmpeg can read, with a video stream, within a duration).

`check(data, media_type)` returns a `MediaInfo` or raises ArenaError
`bad_request` with the reason; it is CPU-bound, so the gateway runs it in a
worker thread. Nothing here trusts the declared type: a PNG declared as a
JPEG is refused.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tempfile
import warnings

from attrs import frozen

from arena.engine.errors import BAD_REQUEST, ArenaError

IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
VIDEO_TYPES = {"video/mp4": "mp4", "video/webm": "webm"}
MAX_PIXELS = 4096 * 4096
MAX_SIDE = 8192
MAX_VIDEO_MS = 120_000
PROBE_TIMEOUT_S = 10
_DURATION = re.compile(rb"Duration: (\d+):(\d\d):(\d\d)\.(\d\d)")
_VIDEO = re.compile(rb"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")


@frozen
class MediaInfo:
    kind: str  # "image" or "video"
    width: int
    height: int
    duration_ms: int = 0


def check(data: bytes, media_type: str) -> MediaInfo:
    if not data:
        raise ArenaError(BAD_REQUEST, "media is empty")
    if media_type in IMAGE_FORMATS:
        return _image(data, IMAGE_FORMATS[media_type])
    if media_type in VIDEO_TYPES:
        return _video(data, VIDEO_TYPES[media_type])
    raise ArenaError(BAD_REQUEST, f"media_type {media_type[:32]!r} is not accepted")


def _image(data: bytes, fmt: str) -> MediaInfo:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = im.size
            if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                raise ArenaError(BAD_REQUEST, f"image of {width}x{height} pixels is larger than allowed")
            im.verify()  # the whole file, not only its header
        except ArenaError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:
            raise ArenaError(BAD_REQUEST, f"media is not a readable {fmt} image ({type(exc).__name__})") from None
    return MediaInfo("image", width, height)


def _video(data: bytes, container: str) -> MediaInfo:
    import imageio_ffmpeg

    fd, path = tempfile.mkstemp(suffix=f".{container}")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # `-i` alone: ffmpeg describes the input on stderr and exits (no output file).
        run = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path],
                             capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ArenaError(BAD_REQUEST, "media could not be probed in time") from None
    finally:
        os.unlink(path)
    info = run.stderr
    if b"Invalid data" in info or b"could not find codec" in info.lower():
        raise ArenaError(BAD_REQUEST, f"media is not a readable {container} video")
    stream = _VIDEO.search(info)
    duration = _DURATION.search(info)
    if stream is None or duration is None:
        raise ArenaError(BAD_REQUEST, f"media is not a readable {container} video")
    fmt = re.search(rb"Input #0, ([\w,]+), from", info)
    if fmt is None or not any(container in name or (container == "mp4" and name == "mov")
                              for name in fmt.group(1).decode().split(",")):
        raise ArenaError(BAD_REQUEST, f"media is not a {container} container")
    h, m, s, cs = (int(x) for x in duration.groups())
    ms = ((h * 60 + m) * 60 + s) * 1000 + cs * 10
    if ms > MAX_VIDEO_MS:
        raise ArenaError(BAD_REQUEST, f"video of {ms} ms is longer than {MAX_VIDEO_MS} ms")
    return MediaInfo("video", int(stream.group(2)), int(stream.group(3)), ms)
