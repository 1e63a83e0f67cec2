"""The weekly canvas's moderation side task ("canvas-moderation"): may a
comment be shown?

For a `ModerateComment` effect (issued only with `[canvas]
moderate_comments`), asks the AI port's judge `moderate(text)` (the OpenAI
judge: the moderation endpoint) and answers `CommentModerated` (journaled
by the server) with its verdict. A judge that cannot moderate (the embedded
one) passes every comment unread, and says so (`by` is empty, the store
marks the comment "none").

A failed call raises: the server's `ModeTask` asks again after a backoff
(1 s doubling to 60 s) for as long as it takes, and the outbox keeps the
effect across restarts; the comment waits meanwhile, shown to no one.
The mode's package names this module (`CanvasMode.side_tasks`) but never
imports it.
"""

from __future__ import annotations

from arena.modes.canvas.messages import CommentModerated

MAX_RETRY_S = 60.0


class CommentModerator:
    def __init__(self, judge):
        self.judge = judge
        self.can_moderate = judge is not None and hasattr(judge, "moderate")
        self.counters = {"moderated": 0, "flagged": 0, "unread": 0}

    def retry_after_s(self, effect, attempts: int) -> float:
        return min(MAX_RETRY_S, 2.0 ** (attempts - 1))

    async def run(self, effect) -> CommentModerated:
        if not self.can_moderate:
            self.counters["unread"] += 1
            return CommentModerated(effect.key, effect.id, False, (), "")
        verdict = await self.judge.moderate(effect.text)
        self.counters["moderated"] += 1
        self.counters["flagged"] += bool(verdict.flagged)
        return CommentModerated(effect.key, effect.id, bool(verdict.flagged), tuple(verdict.categories),
                                self.judge.name)


def make_moderator(context) -> CommentModerator:
    """The side task's handler (`Mode.side_tasks`), built once by the server."""
    return CommentModerator(context.judge)
