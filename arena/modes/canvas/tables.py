"""The canvas's tables in the store: the pixel log, archives, comments,
objectives and agents' weekly stats.

Declared here for SQLite, PostgreSQL and the in-memory store, so the stores
hold none of the canvas's statements. Every operation `records.from_events`
makes is idempotent (a primary key with `ON CONFLICT DO NOTHING` / `INSERT
OR IGNORE`, or an update to the same values), so a transaction the store
retries after an unclear failure neither fails nor writes twice. No foreign
keys: a derived record must never be able to block the journal it is
written with.

| table | one row per |
|---|---|
| `canvas_pixels` | placement: canvas number, its number in the week `n`, x, y, colour, placer, engine ms |
| `canvas_archives` | ended canvas: its week, game mode, size, counts, times, the final bitmap (zlib), winners, stats JSON, image and video URLs (set once rendered) |
| `canvas_comments` | comment: id, canvas, author, text, pixel (or NULL), engine ms, moderation ("none", "passed", "flagged": never shown) |
| `canvas_objectives` | objective drawn for a canvas: id, title, kind, target |
| `canvas_objective_completions` | wallet that completed one of a canvas's objectives, and when |
| `weekly_agent_stats` | agent that placed on a canvas: pixels placed, rank among the agents |

Operations (tuples, first item the kind):

- ("pixels", seq, rows): rows of (n, x, y, colour, placer, at_ms);
- ("prune_pixels", seq): delete the pixel log of every canvas before `seq`;
- ("archive", seq, canvas, year, week, mode, width, height, pixels, placers,
  started_ms, ended_ms, bitmap, winner, winner_agent, stats JSON);
- ("archive_media", seq, image_url, video_url);
- ("comment", id, seq, author, text, x or None, y or None, at_ms, moderation:
  "none", "passed" or "flagged");
- ("objectives", seq, rows): rows of (objective, title, kind, target);
- ("objective_done", seq, objective, wallet, at_ms);
- ("agent_stats", seq, year, week, rows): rows of (agent, pixels, rank).
"""

from __future__ import annotations

from arena.engine.mode import Tables

_SQLITE_1 = (
    "CREATE TABLE IF NOT EXISTS canvas_pixels (canvas_seq INTEGER NOT NULL, n INTEGER NOT NULL,"
    " x INTEGER NOT NULL, y INTEGER NOT NULL, color INTEGER NOT NULL, placer TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL, PRIMARY KEY (canvas_seq, n))",
    "CREATE TABLE IF NOT EXISTS canvas_archives (seq INTEGER PRIMARY KEY, canvas TEXT NOT NULL,"
    " year INTEGER NOT NULL, week INTEGER NOT NULL, mode TEXT NOT NULL, width INTEGER NOT NULL,"
    " height INTEGER NOT NULL, pixels INTEGER NOT NULL, placers INTEGER NOT NULL,"
    " started_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL, bitmap BLOB NOT NULL,"
    " winner TEXT, winner_agent TEXT, stats TEXT NOT NULL, image_url TEXT, video_url TEXT)",
    "CREATE TABLE IF NOT EXISTS canvas_comments (id TEXT PRIMARY KEY, canvas_seq INTEGER NOT NULL,"
    " author TEXT NOT NULL, text TEXT NOT NULL, x INTEGER, y INTEGER, at_ms INTEGER NOT NULL,"
    " moderation TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS canvas_comments_seq ON canvas_comments (canvas_seq, at_ms)",
    "CREATE TABLE IF NOT EXISTS canvas_objectives (canvas_seq INTEGER NOT NULL, objective TEXT NOT NULL,"
    " title TEXT NOT NULL, kind TEXT NOT NULL, target INTEGER NOT NULL, PRIMARY KEY (canvas_seq, objective))",
    "CREATE TABLE IF NOT EXISTS canvas_objective_completions (canvas_seq INTEGER NOT NULL,"
    " objective TEXT NOT NULL, wallet TEXT NOT NULL, at_ms INTEGER NOT NULL,"
    " PRIMARY KEY (canvas_seq, objective, wallet))",
    "CREATE TABLE IF NOT EXISTS weekly_agent_stats (canvas_seq INTEGER NOT NULL, year INTEGER NOT NULL,"
    " week INTEGER NOT NULL, agent TEXT NOT NULL, pixels INTEGER NOT NULL, rank INTEGER NOT NULL,"
    " PRIMARY KEY (canvas_seq, agent))",
)
# The same, with PostgreSQL's types (BIGINT milliseconds, BYTEA, JSONB).
_POSTGRES_1 = tuple(
    sql.replace("at_ms INTEGER", "at_ms BIGINT").replace("started_ms INTEGER", "started_ms BIGINT")
    .replace("ended_ms INTEGER", "ended_ms BIGINT").replace("BLOB", "BYTEA")
    .replace("stats TEXT", "stats JSONB")
    for sql in _SQLITE_1
)

MIGRATIONS = {"sqlite": ((1, _SQLITE_1),), "postgres": ((1, _POSTGRES_1),)}


def _both(sql: str) -> dict:
    """One SELECT for both dialects ("?" parameters become "$n")."""
    pg, n = "", 0
    for ch in sql:
        if ch == "?":
            n += 1
            pg += f"${n}"
        else:
            pg += ch
    return {"sqlite": sql, "postgres": pg}


_ARCHIVE_COLUMNS = ("seq, canvas, year, week, mode, width, height, pixels, placers, started_ms, ended_ms,"
                    " bitmap, winner, winner_agent, {stats}, image_url, video_url")
QUERIES = {
    "canvas_archives": {
        "sqlite": f"SELECT {_ARCHIVE_COLUMNS.format(stats='stats')} FROM canvas_archives ORDER BY seq",
        "postgres": f"SELECT {_ARCHIVE_COLUMNS.format(stats='stats::text AS stats')} FROM canvas_archives"
                    " ORDER BY seq",
    },
    # The timelapse's source: one canvas's placements in order (parameter: its number).
    "canvas_pixel_log": _both("SELECT n, x, y, color, placer, at_ms FROM canvas_pixels WHERE canvas_seq = ?"
                              " ORDER BY n"),
    "canvas_pixel_log_sizes": _both("SELECT canvas_seq, COUNT(*) AS placements FROM canvas_pixels"
                                    " GROUP BY canvas_seq ORDER BY canvas_seq"),
    "canvas_comments": _both("SELECT id, canvas_seq, author, text, x, y, at_ms, moderation FROM canvas_comments"
                             " ORDER BY canvas_seq, at_ms, id"),
    "canvas_objectives": _both("SELECT canvas_seq, objective, title, kind, target FROM canvas_objectives"
                               " ORDER BY canvas_seq, objective"),
    "canvas_objective_completions": _both(
        "SELECT canvas_seq, objective, wallet, at_ms FROM canvas_objective_completions"
        " ORDER BY canvas_seq, objective, wallet"),
    "weekly_agent_stats": _both("SELECT canvas_seq, year, week, agent, pixels, rank FROM weekly_agent_stats"
                                " ORDER BY canvas_seq, rank, agent"),
    # Every agent's totals over the archived weeks.
    "canvas_agents": _both("SELECT agent, SUM(pixels) AS pixels, COUNT(*) AS weeks, MAX(canvas_seq) AS last_seq"
                           " FROM weekly_agent_stats GROUP BY agent ORDER BY SUM(pixels) DESC, agent"),
}

_INSERTS = {
    "pixels": ("canvas_pixels", "(canvas_seq, n, x, y, color, placer, at_ms)", 7, "(canvas_seq, n)"),
    "comment": ("canvas_comments", "(id, canvas_seq, author, text, x, y, at_ms, moderation)", 8, "(id)"),
    "objectives": ("canvas_objectives", "(canvas_seq, objective, title, kind, target)", 5,
                   "(canvas_seq, objective)"),
    "objective_done": ("canvas_objective_completions", "(canvas_seq, objective, wallet, at_ms)", 4,
                       "(canvas_seq, objective, wallet)"),
    "agent_stats": ("weekly_agent_stats", "(canvas_seq, year, week, agent, pixels, rank)", 6,
                    "(canvas_seq, agent)"),
    "archive": ("canvas_archives", "(seq, canvas, year, week, mode, width, height, pixels, placers, started_ms,"
                " ended_ms, bitmap, winner, winner_agent, stats)", 15, "(seq)"),
}


def _insert(dialect: str, kind: str) -> str:
    """An insert that keeps the row already there (the same row: idempotent)."""
    table, columns, n, key = _INSERTS[kind]
    if dialect == "postgres":
        values = ", ".join(f"${i}::jsonb" if kind == "archive" and i == n else f"${i}" for i in range(1, n + 1))
        return f"INSERT INTO {table} {columns} VALUES ({values}) ON CONFLICT {key} DO NOTHING"
    return f"INSERT OR IGNORE INTO {table} {columns} VALUES ({', '.join('?' * n)})"


def statements(dialect: str, op: tuple) -> list[tuple[str, tuple]]:
    """The (sql, parameters) an operation of `records.from_events` becomes.
    Rows of one operation share one statement, so PostgreSQL sends them as
    one `executemany`."""
    kind = op[0]
    pg = dialect == "postgres"
    if kind == "pixels":
        _, seq, rows = op
        sql = _insert(dialect, kind)
        return [(sql, (seq, *row)) for row in rows]
    if kind == "prune_pixels":
        return [("DELETE FROM canvas_pixels WHERE canvas_seq < " + ("$1" if pg else "?"), (op[1],))]
    if kind in ("archive", "comment", "objective_done"):
        return [(_insert(dialect, kind), tuple(op[1:]))]
    if kind == "archive_media":
        _, seq, image_url, video_url = op
        sql = ("UPDATE canvas_archives SET image_url = $2, video_url = $3 WHERE seq = $1" if pg else
               "UPDATE canvas_archives SET image_url = ?2, video_url = ?3 WHERE seq = ?1")
        return [(sql, (seq, image_url, video_url))]
    if kind == "objectives":
        _, seq, rows = op
        return [(_insert(dialect, kind), (seq, *row)) for row in rows]
    if kind == "agent_stats":
        _, seq, year, week, rows = op
        return [(_insert(dialect, kind), (seq, year, week, *row)) for row in rows]
    raise ValueError(f"unknown canvas record op {kind!r}")


# --- the in-memory store's version of the same tables ------------------------------

_COLUMNS = {kind: [c.strip() for c in spec[1].strip("()").split(",")] for kind, spec in _INSERTS.items()}


def memory_apply(tables: dict, op: tuple) -> None:
    kind = op[0]
    if kind == "pixels":
        _, seq, rows = op
        log = tables.setdefault("canvas_pixels", {})
        for row in rows:
            log.setdefault((seq, row[0]), dict(zip(_COLUMNS["pixels"], (seq, *row))))
    elif kind == "prune_pixels":
        log = tables.setdefault("canvas_pixels", {})
        for k in [k for k in log if k[0] < op[1]]:
            del log[k]
    elif kind == "archive":
        row = dict(zip(_COLUMNS["archive"], op[1:]))
        tables.setdefault("canvas_archives", {}).setdefault(op[1], {**row, "image_url": None, "video_url": None})
    elif kind == "archive_media":
        _, seq, image_url, video_url = op
        found = tables.setdefault("canvas_archives", {}).get(seq)
        if found is not None:
            found.update(image_url=image_url, video_url=video_url)
    elif kind == "comment":
        tables.setdefault("canvas_comments", {}).setdefault(op[1], dict(zip(_COLUMNS["comment"], op[1:])))
    elif kind == "objectives":
        _, seq, rows = op
        table = tables.setdefault("canvas_objectives", {})
        for row in rows:
            table.setdefault((seq, row[0]), dict(zip(_COLUMNS["objectives"], (seq, *row))))
    elif kind == "objective_done":
        _, seq, objective, wallet, at_ms = op
        tables.setdefault("canvas_objective_completions", {}).setdefault(
            (seq, objective, wallet), dict(zip(_COLUMNS["objective_done"], op[1:])))
    elif kind == "agent_stats":
        _, seq, year, week, rows = op
        table = tables.setdefault("weekly_agent_stats", {})
        for row in rows:
            table.setdefault((seq, row[0]), dict(zip(_COLUMNS["agent_stats"], (seq, year, week, *row))))
    else:
        raise ValueError(f"unknown canvas record op {kind!r}")


def memory_query(tables: dict, name: str, *params) -> list[dict]:
    def rows(table: str, key=None) -> list[dict]:
        found = tables.get(table, {})
        return sorted(found.values(), key=key) if key else [found[k] for k in sorted(found)]

    if name == "canvas_archives":
        return rows("canvas_archives")
    if name == "canvas_pixel_log":
        (seq,) = params
        return [{k: r[k] for k in ("n", "x", "y", "color", "placer", "at_ms")}
                for r in rows("canvas_pixels") if r["canvas_seq"] == seq]
    if name == "canvas_pixel_log_sizes":
        sizes: dict[int, int] = {}
        for seq, _n in tables.get("canvas_pixels", {}):
            sizes[seq] = sizes.get(seq, 0) + 1
        return [{"canvas_seq": s, "placements": sizes[s]} for s in sorted(sizes)]
    if name == "canvas_comments":
        return rows("canvas_comments", key=lambda r: (r["canvas_seq"], r["at_ms"], r["id"]))
    if name in ("canvas_objectives", "canvas_objective_completions"):
        return rows(name)
    if name == "weekly_agent_stats":
        return rows(name, key=lambda r: (r["canvas_seq"], r["rank"], r["agent"]))
    if name == "canvas_agents":
        totals: dict[str, dict] = {}
        for r in tables.get("weekly_agent_stats", {}).values():
            t = totals.setdefault(r["agent"], {"agent": r["agent"], "pixels": 0, "weeks": 0, "last_seq": 0})
            t["pixels"] += r["pixels"]
            t["weeks"] += 1
            t["last_seq"] = max(t["last_seq"], r["canvas_seq"])
        return sorted(totals.values(), key=lambda t: (-t["pixels"], t["agent"]))
    raise KeyError(name)


TABLES = Tables(migrations=MIGRATIONS, statements=statements, queries=QUERIES,
                memory_apply=memory_apply, memory_query=memory_query)
