"""`canvas.comment`: users and agents comment on the week's canvas.

A comment is on the whole canvas or on one pixel (x and y both given). The
checks run in the protocol's order: joined this week (`wrong_state`), then
the text and the pixel (`bad_request`: empty, longer than `[canvas]
comment_max_chars`, control characters other than a newline, only one of
x and y, outside the canvas), then the wallet's comment cooldown
(`cooldown_active` with `retry_after_ms`). The gateway already refused a
text longer than any config allows and a flood (the "comment" bucket).

Every watcher gets `canvas:comment`; the store keeps it with its canvas's
number (`canvas_comments`), so comments are archived with their week.

With `[canvas] moderate_comments`, an accepted comment (its id answered at
once) waits in `CanvasState.held_comments` for the AI port's verdict
(`ModerateComment` -> `CommentModerated`, the "canvas-moderation" side
task): passed, it is shown to the week's watchers then; flagged, it is kept
in the store marked so and shown to no one. A verdict arriving after the
week ended only records it (the week's watchers are gone).
"""

from __future__ import annotations

from arena.engine.errors import BAD_REQUEST, COOLDOWN_ACTIVE, WRONG_STATE

from .messages import ModerateComment, moderation_key
from .records import agent_name, record_event

NOT_MODERATED = "none"
PASSED = "passed"
FLAGGED = "flagged"


def _text_problem(text: str, max_chars: int) -> str | None:
    if not text.strip():
        return "text must not be empty"
    if len(text) > max_chars:
        return f"text is longer than {max_chars} characters"
    if not all(ch.isprintable() or ch == "\n" for ch in text):
        return "text must not hold control characters"
    return None


def comment(ctx, shared, inp, cfg) -> None:
    if inp.wallet not in shared.watchers:
        ctx.error(inp, WRONG_STATE, "canvas.join first (again after a week_reset)")
        return
    problem = _text_problem(inp.text, cfg.comment_max_chars)
    if problem is None and (inp.x is None) != (inp.y is None):
        problem = "x and y come together (or neither, for the whole canvas)"
    if problem is None and inp.x is not None and not (0 <= inp.x < shared.width and 0 <= inp.y < shared.height):
        problem = f"({inp.x}, {inp.y}) is outside the {shared.width}x{shared.height} canvas"
    if problem is not None:
        ctx.error(inp, BAD_REQUEST, problem)
        return
    now = ctx.now_ms
    allowed = shared.next_comment.get(inp.wallet, 0)
    if now < allowed:
        ctx.error(inp, COOLDOWN_ACTIVE, "wait before commenting again", retry_after_ms=allowed - now)
        return
    shared.next_comment[inp.wallet] = now + cfg.comment_cooldown_ms
    shared.comments += 1
    cid = f"c{shared.seq}-{shared.comments}"
    held = {"seq": shared.seq, "id": cid, "wallet": inp.wallet, "text": inp.text, "x": inp.x, "y": inp.y,
            "at_ms": now}
    if cfg.moderate_comments:
        shared.held_comments[cid] = held
        ctx.effect(ModerateComment(moderation_key(ctx.state.world, cid), cid, inp.text))
    else:
        _publish(ctx, shared, held, NOT_MODERATED)
    ctx.reply(inp, {"id": cid})


def _publish(ctx, shared, comment: dict, moderation: str) -> None:
    """Show a comment to its week's watchers (if that week is still on) and record it."""
    if moderation != FLAGGED and comment["seq"] == shared.seq:
        author = agent_name(comment["wallet"]) or comment["wallet"]
        ctx.emit(shared.watchers, "canvas:comment", {"id": comment["id"], "author": author,
                                                     "text": comment["text"], "x": comment["x"], "y": comment["y"]})
    record_event(ctx, "canvas:commented", {**comment, "moderation": moderation})


def moderated(ctx, shared, inp) -> None:
    """The AI port's verdict on a held comment (once: a repeated one finds nothing held)."""
    comment = shared.held_comments.pop(inp.id, None)
    if comment is None:
        return
    if inp.flagged:
        shared.flagged_comments += 1
    _publish(ctx, shared, comment, FLAGGED if inp.flagged else PASSED if inp.by else NOT_MODERATED)
