"""The week's standings: who placed most, among users and among agents.

`CanvasState.counts` holds each wallet's placements this week. Agents are
API-key sessions (wallet "key:<name>", `records.agent_name`); everyone
else is a user. Ties go to the wallet (or agent name) that sorts first, so
a replay ranks the same. The archive keeps the winners and every agent's
weekly rank (`weekly_agent_stats`); `canvas.agents` shows the live week.
"""

from __future__ import annotations

from arena.engine.errors import BAD_REQUEST

from .records import agent_name

MAX_LIMIT = 100


def _ranked(counts: dict) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def agent_rows(counts: dict) -> list[list]:
    """[[agent, pixels, rank]] of every agent that placed, best first (rank from 1)."""
    agents = {agent_name(w): n for w, n in counts.items() if agent_name(w) is not None}
    return [[name, n, rank] for rank, (name, n) in enumerate(_ranked(agents), 1)]


def winners(counts: dict) -> tuple[str | None, str | None]:
    """(the user who placed most, the agent who placed most): None where nobody did."""
    users = [(w, n) for w, n in _ranked(counts) if agent_name(w) is None]
    agents = agent_rows(counts)
    return (users[0][0] if users else None), (agents[0][0] if agents else None)


def check_limit(ctx, inp) -> int | None:
    """The request's `limit` (1..MAX_LIMIT), or None after a `bad_request`."""
    if not 1 <= inp.limit <= MAX_LIMIT:
        ctx.error(inp, BAD_REQUEST, f"limit must be 1..{MAX_LIMIT}")
        return None
    return inp.limit


def agents_reply(shared, limit: int) -> dict:
    """The `canvas.agents` reply: this week's agents, best first."""
    return {"canvas": shared.canvas, "agents": [{"agent": a, "pixels": n, "rank": r}
                                                for a, n, r in agent_rows(shared.counts)[:limit]]}
