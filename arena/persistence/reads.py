"""The platform's read side in the store: leaderboards, match history, profiles.

Schema version 5 adds four tables every mode shares (see `schema`):

- `board_scores` (board, period_key, wallet, score): one row per wallet per
  period of a board (`arena.engine.mode.Board`), moved by "board_add"
  record operations in the tick's journal transaction; `board_sources`
  remembers which contributions (tick and event) each row has counted, so a
  batch written twice does not count twice;
- `match_results` (match, mode, ended_at_ms, ended_tick, result JSON) and
  `match_players` (wallet, match, mode, ended_tick): finished matches
  (`arena.engine.mode.MatchResult`), listed per wallet newest first;
- `profiles` (wallet, username, username_key, avatar_url): usernames are
  unique without regard to case (`username_key` is the lower-cased name).

The statements are written once with `?` parameters and turned into
PostgreSQL's `$n` by `pg`; the in-memory store's versions of the same reads
are the functions at the end, over plain dicts. Everything here runs off
the tick loop (the stores' reads run in a thread or on asyncpg's loop).

Ranking, on every store: score descending, then wallet in byte order (the
order listed); `rank` is competition ranking ("1224"): one more than the
number of wallets with a strictly higher score, so tied wallets share a
rank.
"""

from __future__ import annotations

import json
import re

_PARAM = re.compile(r"\?")


def pg(sql: str) -> str:
    """`sql` with PostgreSQL's numbered parameters for its `?`s, and wallets
    compared byte-wise (as SQLite and Python do) rather than by locale."""
    n = iter(range(1, 1000))
    return _PARAM.sub(lambda _m: f"${next(n)}", sql.replace("{C}", ' COLLATE "C"'))


def lite(sql: str) -> str:
    return sql.replace("{C}", "")


# Board reads walk the (board, period_key, score DESC, wallet) index: a
# page is an index range, never a ranking of the whole board (a window
# function over every row measured ~10 ms at 10,000 wallets on SQLite).
# (board, period_key, limit, offset): a page of a board, in board order.
BOARD_PAGE = ("SELECT b.wallet, b.score, p.username FROM board_scores b LEFT JOIN profiles p ON p.wallet = b.wallet"
              " WHERE b.board = ? AND b.period_key = ? ORDER BY b.score DESC, b.wallet{C} LIMIT ? OFFSET ?")
# (board, period_key, score): how many wallets are ranked above a score.
BOARD_ABOVE = "SELECT COUNT(*) FROM board_scores WHERE board = ? AND period_key = ? AND score > ?"
# (board, period_key, board, period_key, board, period_key, wallet): a
# wallet's 1-based position in board order, and the board's size.
BOARD_POSITION = ("SELECT (SELECT COUNT(*) FROM board_scores o WHERE o.board = ? AND o.period_key = ?"
                  " AND (o.score > s.score OR (o.score = s.score AND o.wallet{C} < s.wallet{C}))) + 1,"
                  " (SELECT COUNT(*) FROM board_scores t WHERE t.board = ? AND t.period_key = ?)"
                  " FROM board_scores s WHERE s.board = ? AND s.period_key = ? AND s.wallet = ?")


def ranked_page(rows: list, offset: int, above_first: int) -> list[dict]:
    """Entries of a page of (wallet, score, username) rows starting at 0-based
    `offset`, given how many wallets score above its first row: a rank is
    shared by equal scores and is otherwise the row's position."""
    out: list[dict] = []
    for i, (wallet, score, username) in enumerate(rows):
        if i == 0:
            rank = above_first + 1
        elif score != rows[i - 1][1]:
            rank = offset + i + 1
        out.append({"rank": rank, "wallet": wallet, "username": username, "score": score})
    return out


# (wallet, period_key): a wallet's score on every board.
SCORES_OF = "SELECT board, score FROM board_scores WHERE wallet = ? AND period_key = ? ORDER BY board"

# (board, period_key, wallet, source): a contribution, counted once.
BOARD_SOURCE_SQLITE = ("INSERT OR IGNORE INTO board_sources (board, period_key, wallet, source)"
                       " VALUES (?, ?, ?, ?)")
BOARD_ADD_SQLITE = ("INSERT INTO board_scores (board, period_key, wallet, score) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (board, period_key, wallet) DO UPDATE SET score = score + excluded.score")
BOARD_ADD_PG = ("WITH s AS (INSERT INTO board_sources (board, period_key, wallet, source)"
                " VALUES ($1, $2, $3, $5) ON CONFLICT DO NOTHING RETURNING 1)"
                " INSERT INTO board_scores (board, period_key, wallet, score) SELECT $1, $2, $3, $4 FROM s"
                " ON CONFLICT (board, period_key, wallet) DO UPDATE SET score = board_scores.score + excluded.score")

# A finished match: (match, mode, ended_at_ms, ended_tick, result) then one
# (wallet, match, mode, ended_tick) per player; written again, nothing changes.
RESULT_SQLITE = ("INSERT OR IGNORE INTO match_results (match, mode, ended_at_ms, ended_tick, result)"
                 " VALUES (?, ?, ?, ?, ?)")
PLAYER_SQLITE = "INSERT OR IGNORE INTO match_players (wallet, match, mode, ended_tick) VALUES (?, ?, ?, ?)"
RESULT_PG = ("INSERT INTO match_results (match, mode, ended_at_ms, ended_tick, result)"
             " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (match) DO NOTHING")
PLAYER_PG = ("INSERT INTO match_players (wallet, match, mode, ended_tick) VALUES ($1, $2, $3, $4)"
             " ON CONFLICT (wallet, match) DO NOTHING")


def history_sql(dialect: str, *, mode: bool, before: bool) -> str:
    """A wallet's finished matches, newest first: parameters (wallet, [mode,]
    [before tick, before tick, before match,] limit)."""
    result = "r.result::text AS result" if dialect == "postgres" else "r.result"
    sql = (f"SELECT r.match, r.mode, r.ended_at_ms, r.ended_tick, {result} FROM match_players p"
           " JOIN match_results r ON r.match = p.match WHERE p.wallet = ?")
    if mode:
        sql += " AND p.mode = ?"
    if before:
        sql += " AND (p.ended_tick < ? OR (p.ended_tick = ? AND p.match{C} < ?))"
    sql += " ORDER BY p.ended_tick DESC, p.match{C} DESC LIMIT ?"
    return pg(sql) if dialect == "postgres" else lite(sql)


def history_params(wallet: str, mode: str | None, before: tuple | None, limit: int) -> tuple:
    out = [wallet]
    if mode is not None:
        out.append(mode)
    if before is not None:
        out += [before[0], before[0], before[1]]
    out.append(limit)
    return tuple(out)


PROFILE = "SELECT wallet, username, avatar_url FROM profiles WHERE wallet = ?"
PROFILE_UPSERT = ("INSERT INTO profiles (wallet, username, username_key, avatar_url) VALUES (?, ?, ?, ?)"
                  " ON CONFLICT (wallet) DO UPDATE SET username = excluded.username,"
                  " username_key = excluded.username_key, avatar_url = excluded.avatar_url")


class Duplicate(Exception):
    """The username is another wallet's."""


KEEP = object()  # `set_profile`: leave this field as it is


def merged_profile(wallet: str, old: dict | None, username, avatar_url) -> dict:
    """The profile `set_profile` writes: the old one with the given fields replaced."""
    new = {"wallet": wallet, "username": None, "avatar_url": None} if old is None else dict(old)
    if username is not KEEP:
        new["username"] = username
    if avatar_url is not KEEP:
        new["avatar_url"] = avatar_url
    return new


def upsert_params(p: dict) -> tuple:
    name = p["username"]
    return (p["wallet"], name, name.lower() if name is not None else None, p["avatar_url"])


def page_start(pos: int, total: int, limit: int) -> int:
    """The first position (0-based) of a page of `limit` rows around 1-based
    position `pos` in a board of `total`: half the page above the wallet,
    shifted down at the top and up at the bottom so the page stays full."""
    return max(0, min(pos - 1 - limit // 2, total - limit))


def decode_history(rows: list) -> list[dict]:
    out = []
    for match, mode, ended_at_ms, ended_tick, result in rows:
        out.append({"match": match, "mode": mode, "ended_at_ms": ended_at_ms, "ended_tick": ended_tick,
                    "result": json.loads(result) if isinstance(result, str) else result})
    return out


# --- the in-memory store's versions -------------------------------------------------


class MemoryReads:
    """The same tables and reads as plain dicts (for `MemoryStore`)."""

    def __init__(self):
        self.scores: dict[tuple, dict] = {}  # (board, period_key) -> wallet -> score
        self.sources: set = set()
        self.results: dict[str, dict] = {}
        self.players: dict[str, dict] = {}  # wallet -> match -> (ended_tick, mode)
        self.profiles: dict[str, dict] = {}

    def apply(self, op: tuple) -> None:
        if op[0] == "board_add":
            _, board, period, wallet, points, source = op
            if (board, period, wallet, source) in self.sources:
                return
            self.sources.add((board, period, wallet, source))
            rows = self.scores.setdefault((board, period), {})
            rows[wallet] = rows.get(wallet, 0) + points
        else:  # "match_result"
            _, mode, match, players, ended_at_ms, tick, result = op
            if match in self.results:
                return
            self.results[match] = {"match": match, "mode": mode, "ended_at_ms": ended_at_ms,
                                   "ended_tick": tick, "result": json.loads(result)}
            for w in players:
                self.players.setdefault(w, {})[match] = (tick, mode)

    def ranked(self, board: str, period: str) -> list[dict]:
        rows = sorted(self.scores.get((board, period), {}).items(), key=lambda kv: (-kv[1], kv[0]))
        out, rank = [], 0
        for i, (wallet, score) in enumerate(rows):
            if i == 0 or score != rows[i - 1][1]:
                rank = i + 1
            out.append({"rank": rank, "wallet": wallet, "score": score,
                        "username": self.profiles.get(wallet, {}).get("username")})
        return out

    def leaderboard(self, board: str, period: str, limit: int, around: str | None) -> list[dict]:
        rows = self.ranked(board, period)
        start = 0
        if around is not None:
            pos = next((i + 1 for i, r in enumerate(rows) if r["wallet"] == around), None)
            if pos is None:
                return []
            start = page_start(pos, len(rows), limit)
        return [{k: r[k] for k in ("rank", "wallet", "username", "score")} for r in rows[start:start + limit]]

    def scores_of(self, wallet: str, period: str) -> dict:
        return {b: rows[wallet] for (b, p), rows in sorted(self.scores.items()) if p == period and wallet in rows}

    def history(self, wallet: str, mode: str | None, limit: int, before: tuple | None) -> list[dict]:
        mine = [(tick, match) for match, (tick, m) in self.players.get(wallet, {}).items()
                if mode is None or m == mode]
        mine.sort(reverse=True)
        if before is not None:
            mine = [k for k in mine if k < before]
        return [dict(self.results[match]) for _, match in mine[:limit]]
