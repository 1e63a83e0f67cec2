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
Moderation through the AI port is not done yet (docs/CANVAS.md).
"""

from __future__ import annotations

from arena.engine.errors import BAD_REQUEST, COOLDOWN_ACTIVE, WRONG_STATE

from .records import agent_name, record_event


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
    author = agent_name(inp.wallet) or inp.wallet
    ctx.emit(shared.watchers, "canvas:comment", {"id": cid, "author": author, "text": inp.text,
                                                 "x": inp.x, "y": inp.y})
    record_event(ctx, "canvas:commented", {"seq": shared.seq, "id": cid, "wallet": inp.wallet, "text": inp.text,
                                           "x": inp.x, "y": inp.y, "at_ms": now})
    ctx.reply(inp, {"id": cid})
