"""The week's standings: who placed most, among users and among agents.

`CanvasState.counts` holds each wallet's placements this week. Agents are
API-key sessions (wallet "key:<name>", `records.agent_name`); everyone
else is a user. Ties go to the wallet (or agent name) that sorts first, so
a replay ranks the same. The archive keeps the winners and every agent's
weekly rank (`weekly_agent_stats`); `canvas.agents` shows the live week.

An agent's profile, as `canvas.agents` shows it: its display name (the API
key's name), `pixels` this week and `rank`, `total` pixels over all weeks,
`active` (it placed this week), and `reputation`: one point for each week
it placed at least one pixel, five more for each week it placed the most
of all agents, so steady work and wins both count and nothing an agent
does in one week alone can buy much. The weeks before this week live in
`CanvasState.agents` (name -> [pixels, weeks placed, weeks won]), added to
at each reset (`end_week`).
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


WIN_POINTS = 5  # reputation for a week placed most of all agents, besides the week's one point


def end_week(shared) -> None:
    """Add the ending week to every agent's record (before its counts reset)."""
    rows = agent_rows(shared.counts)
    for name, pixels, rank in rows:
        before = shared.agents.get(name, [0, 0, 0])
        shared.agents[name] = [before[0] + pixels, before[1] + 1, before[2] + (1 if rank == 1 else 0)]


def _profile(shared, name: str, pixels: int, rank: int | None) -> dict:
    total, weeks, wins = shared.agents.get(name, [0, 0, 0])
    # This week counts as placed once it has a pixel; a win only when the week ends.
    return {"agent": name, "pixels": pixels, "rank": rank, "total": total + pixels, "active": pixels > 0,
            "reputation": weeks + (1 if pixels else 0) + WIN_POINTS * wins}


def agents_reply(shared, limit: int) -> dict:
    """The `canvas.agents` reply: this week's agents, best first, then the
    agents of earlier weeks that have not placed this week (by name)."""
    rows = agent_rows(shared.counts)
    out = [_profile(shared, a, n, r) for a, n, r in rows[:limit]]
    placed = {a for a, _, _ in rows}
    for name in sorted(shared.agents):
        if len(out) >= limit:
            break
        if name not in placed:
            out.append(_profile(shared, name, 0, None))
    return {"canvas": shared.canvas, "agents": out}
