"""The weekly archive: what is kept of a canvas when its week ends.

At the reset (`CanvasMode._reset`, before the next week begins), in the
reset's tick:

- `archive_week` records the archive (`canvas:archived` -> the
  `canvas_archives` row with the final bitmap, the winners, every agent's
  weekly rank, the week's stats; and the pixel log's retention), all
  written in that tick's journal transaction, so a store that fails loses
  nothing: the writer retries the whole batch until it commits;
- it issues `RenderArchive` (effect key `messages.archive_key`), which the
  framework holds until that tick is durable (`after_durable`) and then
  gives to the "canvas-archive" side task (arena/media/canvas_archive.py):
  the PNG of the final bitmap and the timelapse rebuilt from the pixel log,
  stored through the media port. A render that fails is tried again after
  `[canvas] archive_retry_ms` (5 min), and after a restart (the outbox);
- its answer `ArchiveRendered` (journaled) sets the image and video URLs on
  the archive (`rendered`): once per archive, a repeated answer changes
  nothing.

`CanvasState.archives` keeps the last `ARCHIVES_KEPT` archives' summaries,
which `canvas.archives` lists newest first (the store keeps every one).
"""

from __future__ import annotations

import zlib

from . import objectives, standings
from .messages import RenderArchive, archive_key
from .records import ARCHIVED, record_event

ARCHIVES_KEPT = 104  # two years of weekly canvases in the state


def archive_week(ctx, shared, cfg) -> None:
    """Record the ending week and ask for its pictures."""
    winner, winner_agent = standings.winners(shared.counts)
    bitmap = zlib.compress(shared.pixels, 9)
    keep_from = shared.seq - cfg.pixel_log_weeks + 1 if cfg.pixel_log_weeks else 0
    record_event(ctx, ARCHIVED, {
        "seq": shared.seq, "canvas": shared.canvas, "year": shared.year, "week": shared.week,
        "mode": shared.mode, "width": shared.width, "height": shared.height, "pixels": shared.placed,
        "placers": len(shared.counts), "started_ms": shared.started_ms, "ended_ms": ctx.now_ms,
        "bitmap": bitmap, "winner": winner, "winner_agent": winner_agent,
        "agents": standings.agent_rows(shared.counts),
        "stats": {"comments": shared.comments, "flagged_comments": shared.flagged_comments,
                  "objectives": objectives.completed_counts(shared)},
        "keep_log_from": keep_from,
    })
    ctx.effect(RenderArchive(archive_key(ctx.state.world, shared.seq), shared.seq, shared.canvas,
                             shared.width, shared.height, tuple(shared.palette), bitmap, shared.placed))
    shared.archives.append({"seq": shared.seq, "year": shared.year, "week": shared.week, "mode": shared.mode,
                            "image_url": None, "video_url": None, "winner": winner,
                            "winner_agent": winner_agent})
    del shared.archives[:-ARCHIVES_KEPT]


def rendered(ctx, shared, inp) -> None:
    """The side task's answer: the archive's URLs, set once."""
    for summary in shared.archives:
        if summary["seq"] == inp.seq:
            if summary["image_url"] is not None:
                return  # answered before (a re-dispatch after a restart)
            summary["image_url"], summary["video_url"] = inp.image_url, inp.video_url
            break
    record_event(ctx, "canvas:archive_rendered", {"seq": inp.seq, "image_url": inp.image_url,
                                                  "video_url": inp.video_url})


def listing(shared, limit: int) -> dict:
    """The `canvas.archives` reply: the newest `limit` archives."""
    fields = ("year", "week", "mode", "image_url", "video_url", "winner", "winner_agent")
    return {"archives": [{k: a[k] for k in fields} for a in reversed(shared.archives[-limit:])]}
