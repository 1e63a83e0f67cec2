"""How long the garbage collector stops the server, per generation.

A CPython collection stops every task on the loop: a young-generation pass
over a few thousand objects costs microseconds, a full (generation 2) pass
over every live container costs tens to hundreds of milliseconds once the
server holds a few thousand matches. That pause lands on whichever tick or
socket read is running, and shows up as the latency tail, not the average.
`GcWatch` times every collection through `gc.callbacks` (one `perf_counter`
at the start and one at the end: well under a microsecond against the
collection itself) so the metrics endpoint and the bench can name it.
"""

from __future__ import annotations

import gc
import time

GENERATIONS = (0, 1, 2)


class GcWatch:
    """Counts, total and longest pause of the collector's passes, by generation."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.pause_s = [0.0, 0.0, 0.0]
        self.max_pause_s = [0.0, 0.0, 0.0]
        self._started = 0.0
        self._installed = False

    def install(self) -> "GcWatch":
        if not self._installed:
            gc.callbacks.append(self._callback)
            self._installed = True
        return self

    def uninstall(self) -> None:
        if self._installed:
            gc.callbacks.remove(self._callback)
            self._installed = False

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        gen = info.get("generation", 2)
        self.collections[gen] += 1
        self.pause_s[gen] += pause
        if pause > self.max_pause_s[gen]:
            self.max_pause_s[gen] = pause

    def paused_total(self) -> float:
        """Seconds stopped by every collection so far (for per-tick attribution)."""
        return self.pause_s[0] + self.pause_s[1] + self.pause_s[2]

    def metric_lines(self) -> list[str]:
        """Prometheus lines: collections, pause seconds, longest pause, by generation."""
        out = ["# HELP arena_gc_collections_total Garbage-collector passes, by generation.",
               "# TYPE arena_gc_collections_total counter"]
        out += [f'arena_gc_collections_total{{generation="{g}"}} {self.collections[g]}' for g in GENERATIONS]
        out += ["# HELP arena_gc_pause_seconds_total Time the collector stopped the process, by generation.",
                "# TYPE arena_gc_pause_seconds_total counter"]
        out += [f'arena_gc_pause_seconds_total{{generation="{g}"}} {self.pause_s[g]:.6f}' for g in GENERATIONS]
        out += ["# HELP arena_gc_pause_max_seconds Longest single pass since start, by generation.",
                "# TYPE arena_gc_pause_max_seconds gauge"]
        out += [f'arena_gc_pause_max_seconds{{generation="{g}"}} {self.max_pause_s[g]:.6f}' for g in GENERATIONS]
        out += ["# HELP arena_gc_frozen_objects Containers frozen out of every collection (gc.freeze).",
                "# TYPE arena_gc_frozen_objects gauge",
                f"arena_gc_frozen_objects {gc.get_freeze_count()}"]
        return out
