"""The weekly canvas's archive side task ("canvas-archive"): an ended week's
pictures, into the media store.

For a `RenderArchive` effect (issued at the reset, held by the framework
until the reset's tick is durable, so the store has the whole pixel log):

1. reads the canvas's pixel log from the store (`canvas_pixel_log`);
2. draws the final bitmap as a PNG and the week's timelapse (`render`: an
   MP4, a GIF if encoding fails), in a worker thread;
3. stores both through the media port under `canvas/<archive>/` (local
   files or S3), named by the effect's key, so doing it twice writes the
   same files again;
4. answers `ArchiveRendered` with their URLs (journaled by the server).

Any failure (the store, the encoder, the media store) raises: the server's
`ModeTask` tries the effect again after `[canvas] archive_retry_ms`, and the
outbox keeps it across restarts, so no week goes without its pictures.
The mode's package names this module (`CanvasMode.side_tasks`) but never
imports it: the mode stays pure.
"""

from __future__ import annotations

import logging
import zlib

import trio

from arena.media import render
from arena.modes.canvas.messages import ArchiveRendered

log = logging.getLogger("arena.media.canvas_archive")

PIXEL_LOG_QUERY = "canvas_pixel_log"


def media_folder(key: str) -> str:
    """`canvas/<world>-<canvas number>`: the effect key's last two parts."""
    _, world, seq = key.split(":")
    return f"canvas/{world}-{seq}"


class CanvasArchiver:
    def __init__(self, media, store, settings):
        self.media = media
        self.store = store
        self.settings = settings
        self.rendered = 0

    def retry_after_s(self, effect, attempts: int) -> float:
        return self.settings.archive_retry_ms / 1000

    async def run(self, effect) -> ArchiveRendered:
        rows = await self.store.query(PIXEL_LOG_QUERY, params=(effect.seq,))
        if len(rows) < effect.placed:
            # Pruned, or records that failed: the timelapse shows what is left.
            log.warning("pixel log shorter than the week", extra={
                "seq": effect.seq, "placed": effect.placed, "logged": len(rows)})
        placements = [(r["x"], r["y"], r["color"]) for r in rows]
        settings = self.settings

        def draw():
            image = render.png(effect.width, effect.height, effect.palette, zlib.decompress(effect.bitmap))
            video = render.timelapse(effect.width, effect.height, effect.palette, placements,
                                     frames=settings.timelapse_frames, fps=settings.timelapse_fps)
            return image, video

        image, video = await trio.to_thread.run_sync(draw)
        folder = media_folder(effect.key)
        image_url = await self.media.store_object(f"{folder}/final.png", image, "image/png")
        video_url = await self.media.store_object(f"{folder}/timelapse.{video.extension}", video.data,
                                                  video.content_type)
        self.rendered += 1
        log.info("canvas archived", extra={"seq": effect.seq, "placements": len(placements),
                                           "video": video.content_type, "frames": video.frames})
        return ArchiveRendered(effect.key, effect.seq, image_url, video_url)


def make_archiver(context) -> CanvasArchiver:
    """The side task's handler (`Mode.side_tasks`), built once by the server."""
    return CanvasArchiver(context.media, context.store, context.config.engine.modes["canvas"])
