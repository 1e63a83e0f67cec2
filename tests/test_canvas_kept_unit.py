"""What is kept of a canvas, over the pure engine: objectives (drawn per
week, progress per wallet, its events), comments (every refusal in the
protocol's order), the archive at a reset (its record and the render
effect, held until durable), the render's answer, and the reads
`canvas.archives` / `canvas.agents` / `canvas.objectives`; hostile and
out-of-order input changes nothing; the journal replays to the same hash."""

from __future__ import annotations

import pytest

from arena.engine import inputs as I
from arena.engine.canonical import encode, state_hash
from arena.engine.core import new_state, step
from arena.modes.canvas import messages as M
from arena.modes.canvas.archive import ARCHIVES_KEPT
from arena.modes.canvas.objectives import OBJECTIVES, draw
from arena.persistence import codec
from arena.persistence.durable import replay
from canvas_support import World, canvas_config


def world(**settings) -> World:
    values = dict(cooldown_ms=0, objectives_per_week=6, comment_cooldown_ms=5_000)
    values.update(settings)
    return World(canvas_config(**values))


def reset_with_effects(w: World, mode: str = "") -> list:
    """An operator reset, stepped by hand so its effects are seen."""
    w.tick += 1
    inp = M.CanvasReset("s-op", 999_000 + w.tick, "key:op", mode)
    w.journal.append((w.tick, codec.encode_inputs([inp])))
    messages, effects = step(w.state, w.tick, [inp])
    w.events += [m for m in messages if hasattr(m, "type")]
    return effects


# --- objectives ---------------------------------------------------------------------------


def test_the_weeks_objectives_are_drawn_by_canvas_number_within_the_palette():
    palette32 = canvas_config().modes["canvas"]
    w = world(objectives_per_week=3)
    w.join("a")
    first = list(w.canvas.objectives)
    assert len(first) == 3 == len(set(first)) and set(first) <= set(OBJECTIVES)
    assert draw(1, 1, 3, w.canvas.palette) == first  # the engine's seeded draw: replay draws the same
    mono = ("#ffffff", "#000000")
    assert "red-5" not in draw(1, 1, 6, mono) and "black-5" in draw(1, 1, 6, mono)  # reachable ones only
    assert palette32 is not None


def test_progress_is_per_wallet_with_events_and_completion_once():
    w = world()
    w.join("a")
    w.join("b")
    for x in range(6):
        assert w.place("a", x, 0, 6).ok  # black (#000000 is index 6 of the 32 colours)
    progress = [e.body for e in w.events_of("objective:progress", "a") if e.body["objective"] == "black-5"]
    assert [p["progress"] for p in progress] == [1, 2, 3, 4, 5] and progress[-1]["target"] == 5
    assert [e.body for e in w.events_of("objective:completed", "a")] == [{"objective": "black-5"}]
    assert all(e.to == ("a",) for e in w.events_of("objective:progress"))  # nobody else's business
    r = w.request(M.CanvasObjectives, "a")
    mine = {o["id"]: o for o in r.body["objectives"]}
    assert mine["black-5"] == {"id": "black-5", "title": "Place 5 black pixels", "target": 5, "progress": 5,
                               "done": True}
    assert mine["pixels-10"]["progress"] == 6 and not mine["pixels-10"]["done"]
    assert mine["corner-3"]["progress"] == 2  # (0, 0) and (1, 0) are in the top-left 20% of 8 x 6
    theirs = {o["id"]: o for o in w.request(M.CanvasObjectives, "b").body["objectives"]}
    assert all(o["progress"] == 0 and not o["done"] for o in theirs.values())


def test_objectives_before_any_join_begin_the_week_and_a_reset_draws_afresh():
    w = world()
    r = w.request(M.CanvasObjectives, "nobody")
    assert r.ok and len(r.body["objectives"]) == 6 and w.canvas.seq == 1
    w.join("a")
    w.place("a", 0, 0, 6)
    w.reset()
    after = w.request(M.CanvasObjectives, "a").body["objectives"]
    assert all(o["progress"] == 0 for o in after)  # progress is the week's


# --- comments -----------------------------------------------------------------------------


def comment(w: World, wallet: str, text: str, x=None, y=None):
    return w.request(M.CanvasComment, wallet, text, x, y)


def test_a_comment_reaches_every_watcher_and_answers_its_id():
    w = world()
    for p in ("a", "b", "key:bot"):
        w.join(p)
    r = comment(w, "a", "look here", 3, 2)
    assert r.ok and r.body == {"id": "c1-1"}
    [ev] = w.events_of("canvas:comment")
    assert set(ev.to) == {"a", "b", "key:bot"}
    assert ev.body == {"id": "c1-1", "author": "a", "text": "look here", "x": 3, "y": 2}
    assert comment(w, "key:bot", "hi").body == {"id": "c1-2"}
    assert w.events_of("canvas:comment")[-1].body["author"] == "bot"  # an agent by its name
    assert w.events_of("canvas:comment")[-1].body["x"] is None


@pytest.mark.parametrize("text, x, y", [
    ("", None, None), ("   ", None, None), ("x" * 281, None, None), ("bell\x07", None, None),
    ("nul\x00", None, None), ("ok", 3, None), ("ok", None, 2), ("ok", 8, 0), ("ok", 0, 6), ("ok", -1, -1),
])
def test_bad_comments_are_bad_request_and_change_nothing(text, x, y):
    w = world()
    w.join("a")
    before = encode(w.canvas)
    r = comment(w, "a", text, x, y)
    assert not r.ok and r.body["code"] == "bad_request"
    assert encode(w.canvas) == before and not w.events_of("canvas:comment")


def test_comments_before_join_or_after_the_reset_are_wrong_state():
    w = world()
    assert comment(w, "a", "early").body["code"] == "wrong_state"
    w.join("a")
    w.reset()
    assert comment(w, "a", "late").body["code"] == "wrong_state"  # join the new week first
    w.join("a")
    assert comment(w, "a", "now").body == {"id": "c2-1"}  # ids count per canvas


def test_the_comment_cooldown_says_when_to_retry():
    w = world()
    w.join("a")
    assert comment(w, "a", "one").ok
    w.advance_ms(2_000)
    r = comment(w, "a", "two")
    assert r.body["code"] == "cooldown_active" and r.body["retry_after_ms"] == 3_000
    w.advance_ms(3_000)
    assert comment(w, "a", "two").ok
    assert comment(w, "b", "x").body["code"] == "wrong_state"  # order: joined first, then the rest


def test_the_longest_configured_comment_is_taken():
    w = world(comment_max_chars=12)
    w.join("a")
    assert comment(w, "a", "twelve chars").ok
    w.advance_ms(5_000)
    assert comment(w, "a", "thirteen char").body["code"] == "bad_request"


# --- the archive --------------------------------------------------------------------------


def test_a_reset_issues_the_render_effect_held_until_durable():
    w = world()
    w.join("a")
    w.place("a", 1, 1, 4)
    [eff] = [e for e in reset_with_effects(w) if isinstance(e, M.RenderArchive)]
    assert eff.key == M.archive_key(w.state.world, 1) and eff.seq == 1 and eff.placed == 1
    assert (eff.width, eff.height, len(eff.palette)) == (8, 6, 32) and eff.after_durable
    assert codec.decode_effect(codec.encode_effect(eff)) == eff  # the outbox round trip
    from arena.engine.registry import registry

    assert registry.worker_of(eff) == "canvas-archive"
    assert registry.result_keys[M.ArchiveRendered](M.ArchiveRendered(eff.key, 1, "i", "v")) == eff.key


def test_archives_list_newest_first_with_urls_once_rendered():
    w = world()
    w.join("alice")
    w.place("alice", 0, 0, 1)
    w.join("key:bot")
    w.place("key:bot", 1, 0, 1)
    w.place("key:bot", 2, 0, 1)
    w.reset("key:op", "speed")
    w.reset("key:op", "mono")  # an empty week is archived too
    listed = w.request(M.CanvasArchives, "alice", 10).body["archives"]
    assert [a["mode"] for a in listed] == ["speed", "classic"]
    assert listed[1] == {"year": listed[1]["year"], "week": listed[1]["week"], "mode": "classic",
                         "image_url": None, "video_url": None, "winner": "alice", "winner_agent": "bot"}
    assert listed[0]["winner"] is None and listed[0]["winner_agent"] is None
    w.step(M.ArchiveRendered(M.archive_key(w.state.world, 1), 1, "http://m/1.png", "http://m/1.mp4"))
    again = w.request(M.CanvasArchives, "alice", 1).body["archives"]
    assert len(again) == 1 and again[0]["mode"] == "speed"
    oldest = w.request(M.CanvasArchives, "alice", 2).body["archives"][1]
    assert (oldest["image_url"], oldest["video_url"]) == ("http://m/1.png", "http://m/1.mp4")


def test_an_answer_for_an_unknown_or_answered_archive_changes_nothing_in_the_state():
    w = world()
    w.join("a")
    w.reset()
    w.step(M.ArchiveRendered(M.archive_key(w.state.world, 1), 1, "i1", "v1"))
    before = encode(w.canvas)
    w.step(M.ArchiveRendered(M.archive_key(w.state.world, 1), 1, "i2", "v2"))
    w.step(M.ArchiveRendered(M.archive_key(w.state.world, 77), 77, "i3", "v3"))
    assert encode(w.canvas) == before and w.canvas.archives[0]["image_url"] == "i1"


def test_the_state_keeps_a_bounded_list_of_archives():
    w = world()
    w.join("a")
    for _ in range(ARCHIVES_KEPT + 3):
        w.reset("key:op", "classic")
    assert len(w.canvas.archives) == ARCHIVES_KEPT and w.canvas.archives[0]["seq"] == 4


@pytest.mark.parametrize("limit", [0, -1, 101, 2**40])
def test_read_limits_out_of_range_are_bad_request(limit):
    w = world()
    for cls in (M.CanvasArchives, M.CanvasAgents):
        r = w.request(cls, "a", limit)
        assert not r.ok and r.body["code"] == "bad_request"


def test_agents_lists_this_weeks_agents_ranked():
    w = world()
    for p in ("key:b", "key:a", "human"):
        w.join(p)
    for p, n in (("key:b", 2), ("key:a", 2), ("human", 5)):
        for i in range(n):
            w.place(p, i, 1, 1)
    r = w.request(M.CanvasAgents, "human", 10)
    assert r.body == {"canvas": w.canvas.canvas, "agents": [{"agent": "a", "pixels": 2, "rank": 1},
                                                            {"agent": "b", "pixels": 2, "rank": 2}]}
    assert len(w.request(M.CanvasAgents, "human", 1).body["agents"]) == 1


# --- replay -------------------------------------------------------------------------------


def test_the_journal_replays_to_the_same_hash():
    w = world(broadcast_every_ticks=2)
    for p in ("a", "key:bot"):
        w.join(p)
    for i in range(7):
        w.place("a", i, 0, 6)
        w.place("key:bot", i, 5, 13)
        w.advance_ms(5_000)
        comment(w, "a", f"note {i}", i, 1)
    reset_with_effects(w)
    w.step(M.ArchiveRendered(M.archive_key(w.state.world, 1), 1, "i", "v"))
    w.join("a")
    w.place("a", 0, 0, 1)
    w.step(I.ScheduleFired("canvas", "reset", w.now_ms + 1, "late", 1))
    fresh = new_state(w.state.config)
    replay(fresh, w.journal, w.tick)
    assert state_hash(fresh) == state_hash(w.state)
    back = codec.load_snapshot(codec.dump_snapshot(w.state))
    assert state_hash(back) == state_hash(w.state)


# --- moderation ---------------------------------------------------------------------------


def moderated_world() -> World:
    return world(moderate_comments=True, comment_cooldown_ms=0)


def comment_with_effects(w: World, wallet: str, text: str) -> tuple:
    """A comment, stepped by hand so its effects are seen: (reply, effects)."""
    w.tick += 1
    inp = M.CanvasComment(f"s-{wallet}", 888_000 + w.tick, wallet, text, None, None)
    w.journal.append((w.tick, codec.encode_inputs([inp])))
    messages, effects = step(w.state, w.tick, [inp])
    w.events += [m for m in messages if hasattr(m, "type")]
    [reply] = [m for m in messages if getattr(m, "rid", None) == inp.rid]
    return reply, effects


def commented(w: World) -> list[dict]:
    """The comments recorded so far (the `canvas:commented` record events)."""
    return [e.body for e in w.events if e.type == "canvas:commented"]


def test_a_moderated_comment_waits_for_its_verdict_and_shows_if_passed():
    w = moderated_world()
    w.join("a")
    w.join("b")
    reply, effects = comment_with_effects(w, "a", "hello")
    assert reply.ok and reply.body == {"id": "c1-1"}
    [eff] = effects
    assert isinstance(eff, M.ModerateComment) and eff.id == "c1-1" and eff.text == "hello"
    assert eff.key == M.moderation_key(w.state.world, "c1-1")
    assert not w.events_of("canvas:comment") and not commented(w)  # shown to no one yet
    assert codec.decode_effect(codec.encode_effect(eff)) == eff
    w.step(M.CommentModerated(eff.key, "c1-1", False, (), "openai"))
    [ev] = w.events_of("canvas:comment")
    assert set(ev.to) == {"a", "b"} and ev.body["text"] == "hello"
    assert commented(w)[-1]["moderation"] == "passed" and not w.canvas.held_comments
    w.step(M.CommentModerated(eff.key, "c1-1", True, ("harassment",), "openai"))  # repeated: nothing
    assert len(w.events_of("canvas:comment")) == 1 and len(commented(w)) == 1


def test_a_flagged_comment_is_kept_marked_and_shown_to_no_one():
    w = moderated_world()
    w.join("a")
    _, [eff] = comment_with_effects(w, "a", "something nasty")
    w.step(M.CommentModerated(eff.key, eff.id, True, ("harassment",), "openai"))
    assert not w.events_of("canvas:comment")
    assert commented(w)[-1]["moderation"] == "flagged" and w.canvas.flagged_comments == 1


def test_a_verdict_after_the_reset_is_recorded_but_shown_to_no_one():
    w = moderated_world()
    w.join("a")
    _, [eff] = comment_with_effects(w, "a", "late verdict")
    w.reset()
    w.join("a")
    w.step(M.CommentModerated(eff.key, eff.id, False, (), "openai"))
    assert not w.events_of("canvas:comment")  # the old week's watchers are gone
    [rec] = commented(w)
    assert rec["seq"] == 1 and rec["moderation"] == "passed"


def test_a_judge_that_cannot_moderate_passes_comments_unread():
    w = moderated_world()
    w.join("a")
    _, [eff] = comment_with_effects(w, "a", "hi")
    w.step(M.CommentModerated(eff.key, eff.id, False, (), ""))
    assert w.events_of("canvas:comment") and commented(w)[-1]["moderation"] == "none"
