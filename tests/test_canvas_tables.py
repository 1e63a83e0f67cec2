"""What the store keeps of a canvas, on SQLite, PostgreSQL (the real server,
a schema of its own) and the in-memory store: the pixel log, the archive,
comments, objectives and their completions, agents' weekly stats; each
written from the engine's records exactly as the server writes them (a
`TickBatch` per tick), idempotent when a batch is written twice, with the
pixel log's retention; and the log replayed equals the archived bitmap."""

from __future__ import annotations

import json
import zlib

import pytest

from arena.modes.canvas import messages as M
from arena.modes.canvas.tables import MIGRATIONS, statements
from arena.persistence.durable import mode_records
from arena.persistence.store import TickBatch
from canvas_support import World, canvas_config
from test_store_contract import store  # noqa: F401 - the one store fixture: SQLite, PostgreSQL, memory

pytestmark = pytest.mark.trio


class RecordedWorld(World):
    """A canvas world whose every tick's records are kept, as the server
    would write them: one list of operations per tick."""

    def __init__(self, *args, **kwargs):
        self.batches: list[tuple[int, list]] = []
        super().__init__(*args, **kwargs)

    def step(self, *inputs):
        messages = super().step(*inputs)
        ops = mode_records(self.state, self.tick, messages, {})
        if ops:
            self.batches.append((self.tick, ops))
        return messages


async def write_all(store, world: RecordedWorld, twice: bool = False) -> None:
    for tick, ops in world.batches:
        await store.write(TickBatch(records=list(ops), durable_tick=tick))
        if twice:  # a transaction the writer retried after an unclear failure
            await store.write(TickBatch(records=list(ops), durable_tick=tick))
    world.batches = []


def a_played_week(pixel_log_weeks: int = 8) -> tuple[RecordedWorld, list]:
    """Two users and an agent place, comment and complete objectives; the
    operator resets. Returns the world and the placements in order."""
    w = RecordedWorld(canvas_config(cooldown_ms=0, objectives_per_week=6, pixel_log_weeks=pixel_log_weeks,
                                    comment_cooldown_ms=0))
    for p in ("alice", "bob", "key:painter"):
        w.join(p)
    placed = []
    plan = [("alice", x, 0, 6) for x in range(6)] + [("bob", 1, 1, 13), ("key:painter", 2, 2, 3),
                                                     ("key:painter", 3, 3, 4), ("alice", 1, 1, 2)]
    for who, x, y, c in plan:
        assert w.place(who, x, y, c).ok
        placed.append((who, x, y, c))
        w.advance_ms(100)
    assert w.request(M.CanvasComment, "bob", "nice", 1, 1).ok
    assert w.request(M.CanvasComment, "key:painter", "hello canvas").ok
    assert w.reset().ok
    return w, placed


async def test_the_pixel_log_holds_who_placed_what_where_and_when(store):
    w, placed = a_played_week()
    await write_all(store, w)
    log = await store.query("canvas_pixel_log", params=(1,))
    assert [(r["placer"], r["x"], r["y"], r["color"]) for r in log] == placed
    assert [r["n"] for r in log] == list(range(1, len(placed) + 1))
    ms = [r["at_ms"] for r in log]
    assert ms == sorted(ms) and ms[1] - ms[0] == 100  # engine time, 100 ms apart
    assert await store.query("canvas_pixel_log", params=(2,)) == []  # the new week has none yet
    [archive] = await store.query("canvas_archives")
    replay = bytearray(archive["width"] * archive["height"])
    for r in log:
        replay[r["y"] * archive["width"] + r["x"]] = r["color"]
    assert zlib.decompress(archive["bitmap"]) == replay  # the log replayed is the archived canvas


async def test_the_archive_keeps_the_week_its_winners_and_stats(store):
    w, placed = a_played_week()
    await write_all(store, w)
    [a] = await store.query("canvas_archives")
    assert (a["seq"], a["mode"], a["width"], a["height"], a["pixels"], a["placers"]) == (1, "classic", 8, 6, 10, 3)
    assert (a["winner"], a["winner_agent"]) == ("alice", "painter")
    assert a["image_url"] is None and a["video_url"] is None  # until the side task answers
    stats = json.loads(a["stats"]) if isinstance(a["stats"], str) else a["stats"]
    assert stats["comments"] == 2 and stats["objectives"]["black-5"] == 1 and stats["objectives"]["pixels-50"] == 0
    assert a["ended_ms"] >= a["started_ms"] > 0
    agents = await store.query("weekly_agent_stats")
    assert [(r["canvas_seq"], r["agent"], r["pixels"], r["rank"]) for r in agents] == [(1, "painter", 2, 1)]
    totals = await store.query("canvas_agents")
    assert [(r["agent"], r["pixels"], r["weeks"], r["last_seq"]) for r in totals] == [("painter", 2, 1, 1)]


async def test_comments_objectives_and_completions_are_kept_with_their_canvas(store):
    w, _ = a_played_week()
    await write_all(store, w)
    comments = await store.query("canvas_comments")
    assert [(c["id"], c["canvas_seq"], c["author"], c["text"], c["x"], c["y"]) for c in comments] == [
        ("c1-1", 1, "bob", "nice", 1, 1), ("c1-2", 1, "key:painter", "hello canvas", None, None)]
    objectives = await store.query("canvas_objectives")
    assert {o["objective"] for o in objectives if o["canvas_seq"] == 1} == {
        "pixels-10", "pixels-50", "black-5", "red-5", "centre-5", "corner-3"}
    assert {o["canvas_seq"] for o in objectives} == {1, 2}  # the new week's were drawn too
    done = await store.query("canvas_objective_completions")
    assert {(d["canvas_seq"], d["objective"], d["wallet"]) for d in done} == {
        (1, "black-5", "alice"), (1, "corner-3", "alice")}


async def test_a_batch_written_twice_writes_nothing_twice(store):
    w, placed = a_played_week()
    await write_all(store, w, twice=True)
    assert len(await store.query("canvas_pixel_log", params=(1,))) == len(placed)
    assert len(await store.query("canvas_archives")) == 1
    assert len(await store.query("canvas_comments")) == 2
    assert [r["pixels"] for r in await store.query("canvas_agents")] == [2]


async def test_rendered_urls_are_set_once_on_the_archive(store):
    w, _ = a_played_week()
    key = M.archive_key(w.state.world, 1)
    w.step(M.ArchiveRendered(key, 1, "file:///m/final.png", "file:///m/timelapse.mp4"))
    w.step(M.ArchiveRendered(key, 1, "file:///other.png", "file:///other.mp4"))  # a re-dispatch's answer
    await write_all(store, w)
    [a] = await store.query("canvas_archives")
    assert (a["image_url"], a["video_url"]) == ("file:///m/final.png", "file:///m/timelapse.mp4")


async def test_the_pixel_log_of_old_canvases_is_deleted_at_an_archive(store):
    w, _ = a_played_week(pixel_log_weeks=2)
    for week in (2, 3):
        w.join("alice")
        w.place("alice", 0, 0, week)
        w.reset()
    await write_all(store, w)
    sizes = await store.query("canvas_pixel_log_sizes")
    assert [(r["canvas_seq"], r["placements"]) for r in sizes] == [(2, 1), (3, 1)]  # canvas 1's log is gone
    assert [a["seq"] for a in await store.query("canvas_archives")] == [1, 2, 3]  # archives stay


async def test_every_operation_has_statements_for_both_dialects():
    w, _ = a_played_week()
    ops = [op[2] for _, batch in w.batches for op in batch if op[0] == "mode_op"]
    kinds = {op[0] for op in ops}
    assert kinds == {"pixels", "archive", "comment", "objectives", "objective_done", "agent_stats"}
    for op in ops + [("prune_pixels", 3), ("archive_media", 1, "u", "v")]:
        for dialect in ("sqlite", "postgres"):
            assert statements(dialect, op)
    with pytest.raises(ValueError):
        statements("sqlite", ("nope",))
    assert [v for v, _ in MIGRATIONS["sqlite"]] == [v for v, _ in MIGRATIONS["postgres"]] == [1]
