"""Pictures of a palette bitmap: a PNG of one state, a timelapse of many.

A palette bitmap is `width × height` bytes, row-major, each an index into a
palette of `#rrggbb` strings (the weekly canvas's layout). `png` draws one
with Pillow as an indexed PNG (lossless, one byte a pixel, small).
`timelapse` replays placements (x, y, colour index) onto a blank bitmap and
encodes `frames` evenly spaced states as a video: an H.264 MP4 through
imageio-ffmpeg (whose wheel carries its own ffmpeg), or, if that encoder
fails or is missing, an animated GIF through Pillow.

Both are CPU work of seconds for a full 1000 × 1000 week: call them in a
worker thread (`trio.to_thread`), never on the tick loop.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile

from attrs import frozen

log = logging.getLogger("arena.media.render")

MP4 = "video/mp4"
GIF = "image/gif"


@frozen
class Video:
    data: bytes
    content_type: str  # MP4 or GIF
    extension: str  # "mp4" or "gif"
    frames: int


def _rgb_palette(palette) -> list[int]:
    flat: list[int] = []
    for colour in palette:
        flat += [int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)]
    return flat + [0, 0, 0] * (256 - len(palette))


def _image(width: int, height: int, palette, pixels: bytes):
    from PIL import Image

    if len(pixels) != width * height:
        raise ValueError(f"a {width}x{height} bitmap has {width * height} bytes, got {len(pixels)}")
    img = Image.frombytes("P", (width, height), bytes(pixels))
    img.putpalette(_rgb_palette(palette))
    return img


def png(width: int, height: int, palette, pixels: bytes) -> bytes:
    """The bitmap as an indexed PNG, one image pixel per canvas pixel."""
    out = io.BytesIO()
    _image(width, height, palette, pixels).save(out, format="PNG", optimize=True)
    return out.getvalue()


def frame_states(width: int, height: int, placements, frames: int) -> list[bytes]:
    """`frames` bitmaps (at least one): the blank canvas overwritten by the
    first k placements, k evenly spaced up to all of them (the last frame is
    the final canvas)."""
    placements = list(placements)
    frames = max(1, min(frames, len(placements) or 1))
    canvas = bytearray(width * height)
    out: list[bytes] = []
    done = 0
    for f in range(1, frames + 1):
        upto = len(placements) * f // frames
        for x, y, colour in placements[done:upto]:
            if 0 <= x < width and 0 <= y < height:
                canvas[y * width + x] = colour
        done = upto
        out.append(bytes(canvas))
    return out


def _scale(width: int, height: int, min_side: int) -> tuple[int, int, int]:
    """An integer upscale so the video is at least `min_side` on its short
    side, and even sizes (H.264's 4:2:0 needs them)."""
    k = max(1, -(-min_side // max(1, min(width, height))))
    w, h = width * k, height * k
    return k, w + (w % 2), h + (h % 2)


def _mp4(rgb_frames: list[bytes], size: tuple[int, int], fps: int) -> bytes:
    import imageio_ffmpeg

    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        writer = imageio_ffmpeg.write_frames(path, size, fps=fps, codec="libx264", pix_fmt_in="rgb24",
                                             pix_fmt_out="yuv420p", macro_block_size=1,
                                             output_params=["-movflags", "+faststart"], ffmpeg_log_level="error")
        writer.send(None)
        for frame in rgb_frames:
            writer.send(frame)
        writer.close()
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def timelapse(width: int, height: int, palette, placements, *, frames: int = 120, fps: int = 30,
              min_side: int = 256, encoder: str = "mp4") -> Video:
    """The week as a video of `frames` states (`frame_states`), each scaled
    up without smoothing to at least `min_side` pixels. `encoder` "mp4"
    tries H.264 first and falls back to a GIF; "gif" makes the GIF only."""
    states = frame_states(width, height, placements, frames)
    k, w, h = _scale(width, height, min_side)
    images = []
    from PIL import Image

    for state in states:
        img = _image(width, height, palette, state)
        if k > 1:
            img = img.resize((width * k, height * k), Image.NEAREST)
        if (w, h) != img.size:
            padded = Image.new("P", (w, h), 0)
            padded.putpalette(_rgb_palette(palette))
            padded.paste(img, (0, 0))
            img = padded
        images.append(img)
    if encoder == "mp4":
        try:
            data = _mp4([im.convert("RGB").tobytes() for im in images], (w, h), fps)
            return Video(data, MP4, "mp4", len(images))
        except Exception as exc:  # noqa: BLE001 - the GIF below is the documented fallback
            log.warning("MP4 encoding failed; the timelapse is a GIF", extra={"error": str(exc)[:200]})
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(20, 1000 // max(1, fps)), loop=0)
    return Video(out.getvalue(), GIF, "gif", len(images))
