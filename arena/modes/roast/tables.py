"""Roast's tables in the store: users, battles, rounds, clips, the leaderboard.

Declared here, for both stores (and the in-memory one the tests use), so the
stores hold no game's tables or statements of their own. The stores apply
`MIGRATIONS` (tracked per mode in `mode_migrations`), turn each operation
`records.from_events` makes into statements with `statements`, and answer
`query(name)` for the names in `QUERIES`.

Migration 1 is the tables as the stores created them before modes owned
their tables (`CREATE ... IF NOT EXISTS`, so on such a store it changes
nothing). Rounds and clips carry no foreign key: a derived record must
never be able to block the journal it is written with.
"""

from __future__ import annotations

from arena.engine.mode import Tables

SQLITE_1 = (
    "CREATE TABLE IF NOT EXISTS users (wallet TEXT PRIMARY KEY, username TEXT,"
    " battles INTEGER NOT NULL DEFAULT 0, wins INTEGER NOT NULL DEFAULT 0, earnings INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL DEFAULT (datetime('now')))",
    "CREATE TABLE IF NOT EXISTS battles (id TEXT PRIMARY KEY, mode TEXT NOT NULL, tier TEXT NOT NULL,"
    " player1 TEXT NOT NULL, player2 TEXT NOT NULL, entry_fee INTEGER NOT NULL, status TEXT NOT NULL,"
    " winner TEXT, prize INTEGER NOT NULL DEFAULT 0, reason TEXT, score1 INTEGER, score2 INTEGER,"
    " started_tick INTEGER NOT NULL, ended_tick INTEGER,"
    " created_at TEXT NOT NULL DEFAULT (datetime('now')), ended_at TEXT)",
    "CREATE TABLE IF NOT EXISTS rounds (battle_id TEXT NOT NULL, round INTEGER NOT NULL, player TEXT NOT NULL,"
    " score INTEGER NOT NULL, breakdown TEXT NOT NULL, commentary TEXT NOT NULL, tick INTEGER NOT NULL,"
    " PRIMARY KEY (battle_id, round, player))",
    "CREATE TABLE IF NOT EXISTS clips (battle_id TEXT NOT NULL, round INTEGER NOT NULL, player TEXT NOT NULL,"
    " url TEXT NOT NULL, tick INTEGER NOT NULL, PRIMARY KEY (battle_id, round, player))",
    "CREATE VIEW IF NOT EXISTS leaderboard AS SELECT wallet, wins, battles, earnings FROM users"
    " WHERE battles > 0",
)

POSTGRES_1 = (
    "CREATE TABLE IF NOT EXISTS users (wallet TEXT PRIMARY KEY, username TEXT,"
    " battles INTEGER NOT NULL DEFAULT 0, wins INTEGER NOT NULL DEFAULT 0, earnings BIGINT NOT NULL DEFAULT 0,"
    " created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS battles (id TEXT PRIMARY KEY, mode TEXT NOT NULL, tier TEXT NOT NULL,"
    " player1 TEXT NOT NULL REFERENCES users (wallet), player2 TEXT NOT NULL REFERENCES users (wallet),"
    " entry_fee BIGINT NOT NULL, status TEXT NOT NULL,"
    " winner TEXT, prize BIGINT NOT NULL DEFAULT 0, reason TEXT, score1 INTEGER, score2 INTEGER,"
    " started_tick BIGINT NOT NULL, ended_tick BIGINT,"
    " created_at TIMESTAMPTZ NOT NULL DEFAULT now(), ended_at TIMESTAMPTZ)",
    "CREATE INDEX IF NOT EXISTS battles_status ON battles (status)",
    "CREATE TABLE IF NOT EXISTS rounds (battle_id TEXT NOT NULL, round INTEGER NOT NULL,"
    " player TEXT NOT NULL, score INTEGER NOT NULL, breakdown JSONB NOT NULL, commentary TEXT NOT NULL,"
    " tick BIGINT NOT NULL, PRIMARY KEY (battle_id, round, player))",
    "CREATE TABLE IF NOT EXISTS clips (battle_id TEXT NOT NULL, round INTEGER NOT NULL,"
    " player TEXT NOT NULL, url TEXT NOT NULL, tick BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
    " PRIMARY KEY (battle_id, round, player))",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS leaderboard AS SELECT wallet, wins, battles, earnings FROM users"
    " WHERE battles > 0",
    "CREATE UNIQUE INDEX IF NOT EXISTS leaderboard_wallet ON leaderboard (wallet)",
)

# Migration 2: the prompt of each round (for `history.get`).
SQLITE_2 = ("CREATE TABLE IF NOT EXISTS round_prompts (battle_id TEXT NOT NULL, round INTEGER NOT NULL,"
            " prompt TEXT NOT NULL, tick INTEGER NOT NULL, PRIMARY KEY (battle_id, round))",)
POSTGRES_2 = ("CREATE TABLE IF NOT EXISTS round_prompts (battle_id TEXT NOT NULL, round INTEGER NOT NULL,"
              " prompt TEXT NOT NULL, tick BIGINT NOT NULL, PRIMARY KEY (battle_id, round))",)

# Migration 3: tips sent while watching a battle (`tip.confirm` "match").
SQLITE_3 = ("CREATE TABLE IF NOT EXISTS tips (battle_id TEXT NOT NULL, from_wallet TEXT NOT NULL,"
            " to_wallet TEXT NOT NULL, amount INTEGER NOT NULL, fee INTEGER NOT NULL, tick INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS tips_battle ON tips (battle_id)")
POSTGRES_3 = ("CREATE TABLE IF NOT EXISTS tips (battle_id TEXT NOT NULL, from_wallet TEXT NOT NULL,"
              " to_wallet TEXT NOT NULL, amount BIGINT NOT NULL, fee BIGINT NOT NULL, tick BIGINT NOT NULL)",
              "CREATE INDEX IF NOT EXISTS tips_battle ON tips (battle_id)")

# Each round of some battles, with its prompt and recording, and the tips
# sent while watching them (`history.get`): one row shape, told apart by `kind`.
_DETAILS = ("SELECT 'round' AS kind, r.battle_id AS match, r.round, r.player, r.score, {breakdown},"
            " r.commentary, p.prompt, c.url AS clip, NULL AS to_wallet, NULL AS amount, NULL AS fee, r.tick"
            " FROM rounds r"
            " LEFT JOIN round_prompts p ON p.battle_id = r.battle_id AND p.round = r.round"
            " LEFT JOIN clips c ON c.battle_id = r.battle_id AND c.round = r.round AND c.player = r.player"
            " WHERE r.battle_id {which}"
            " UNION ALL SELECT 'tip', t.battle_id, NULL, t.from_wallet, NULL, NULL, NULL, NULL, NULL,"
            " t.to_wallet, t.amount, t.fee, t.tick FROM tips t WHERE t.battle_id {which}"
            " ORDER BY 2, 1, 3, 4, 13")
HISTORY_DETAILS = {
    "sqlite": _DETAILS.format(breakdown="r.breakdown", which="IN (SELECT value FROM json_each(?1))"),
    "postgres": _DETAILS.format(breakdown="r.breakdown::text AS breakdown", which="= ANY($1::text[])"),
}

QUERIES = {
    "battles": {"sqlite": "SELECT * FROM battles ORDER BY started_tick, id",
                "postgres": "SELECT * FROM battles ORDER BY started_tick, id"},
    "rounds": {"sqlite": "SELECT * FROM rounds ORDER BY battle_id, round, player",
               "postgres": "SELECT battle_id, round, player, score, breakdown::text AS breakdown, commentary, tick"
                           " FROM rounds ORDER BY battle_id, round, player"},
    "users": {"sqlite": "SELECT * FROM users ORDER BY wallet",
              "postgres": "SELECT wallet, username, battles, wins, earnings FROM users ORDER BY wallet"},
    "clips": {"sqlite": "SELECT * FROM clips ORDER BY battle_id, round, player",
              "postgres": "SELECT battle_id, round, player, url, tick FROM clips ORDER BY battle_id, round, player"},
    "leaderboard": {"sqlite": "SELECT * FROM leaderboard ORDER BY wins DESC, earnings DESC, wallet LIMIT 100",
                    "postgres": "SELECT * FROM leaderboard ORDER BY wins DESC, earnings DESC, wallet LIMIT 100"},
}

# A battle ends once; only then do its players' counters move (cancelled
# battles do not count). The users update runs first, while the battle is
# still `live`, so both statements see the same "was it live" answer.
_SQLITE_ENDED_USERS = (
    "UPDATE users SET battles = battles + 1, wins = wins + (wallet IS ?),"
    " earnings = earnings + (CASE WHEN wallet IS ? THEN ? ELSE 0 END)"
    " WHERE ? != 'cancelled' AND EXISTS (SELECT 1 FROM battles WHERE id = ? AND status = 'live')"
    " AND wallet IN (SELECT player1 FROM battles WHERE id = ? UNION SELECT player2 FROM battles WHERE id = ?)")
_SQLITE_ENDED_BATTLE = (
    "UPDATE battles SET status = 'ended', winner = ?, prize = ?, reason = ?, score1 = ?, score2 = ?,"
    " ended_tick = ?, ended_at = datetime('now') WHERE id = ? AND status = 'live'")
_PG_ENDED = (
    "WITH b AS (UPDATE battles SET status = 'ended', winner = $2, prize = $3, reason = $4,"
    " score1 = $5, score2 = $6, ended_tick = $7, ended_at = now()"
    " WHERE id = $1 AND status = 'live' RETURNING player1, player2, reason)"
    " UPDATE users SET battles = users.battles + 1,"
    " wins = users.wins + (CASE WHEN users.wallet = $2 THEN 1 ELSE 0 END),"
    " earnings = users.earnings + (CASE WHEN users.wallet = $2 THEN $3 ELSE 0 END)"
    " FROM b WHERE users.wallet IN (b.player1, b.player2) AND b.reason <> 'cancelled'")


def statements(dialect: str, op: tuple) -> list[tuple[str, tuple]]:
    """The (sql, parameters) an operation of `records.from_events` becomes."""
    kind = op[0]
    pg = dialect == "postgres"
    if kind == "battle":
        _, bid, mode, tier, p1, p2, fee, tick = op
        if pg:
            user = "INSERT INTO users (wallet) VALUES ($1) ON CONFLICT DO NOTHING"
            battle = ("INSERT INTO battles (id, mode, tier, player1, player2, entry_fee, status, started_tick)"
                      " VALUES ($1, $2, $3, $4, $5, $6, 'live', $7) ON CONFLICT (id) DO NOTHING")
        else:
            user = "INSERT OR IGNORE INTO users (wallet) VALUES (?)"
            battle = ("INSERT OR IGNORE INTO battles (id, mode, tier, player1, player2, entry_fee, status,"
                      " started_tick) VALUES (?, ?, ?, ?, ?, ?, 'live', ?)")
        return [(user, (p1,)), (user, (p2,)), (battle, (bid, mode, tier, p1, p2, fee, tick))]
    if kind == "round":
        _, bid, rnd, player, score, breakdown, commentary, tick = op
        sql = ("INSERT INTO rounds (battle_id, round, player, score, breakdown, commentary, tick)"
               " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) ON CONFLICT (battle_id, round, player) DO NOTHING"
               if pg else
               "INSERT OR REPLACE INTO rounds (battle_id, round, player, score, breakdown, commentary, tick)"
               " VALUES (?, ?, ?, ?, ?, ?, ?)")
        return [(sql, (bid, rnd, player, score, breakdown, commentary, tick))]
    if kind == "clip":
        _, bid, rnd, player, url, tick = op
        sql = ("INSERT INTO clips (battle_id, round, player, url, tick) VALUES ($1, $2, $3, $4, $5)"
               " ON CONFLICT (battle_id, round, player) DO UPDATE SET url = excluded.url"
               if pg else
               "INSERT OR REPLACE INTO clips (battle_id, round, player, url, tick) VALUES (?, ?, ?, ?, ?)")
        return [(sql, (bid, rnd, player, url, tick))]
    if kind == "prompt":
        _, bid, rnd, prompt, tick = op
        sql = ("INSERT INTO round_prompts (battle_id, round, prompt, tick) VALUES ($1, $2, $3, $4)"
               " ON CONFLICT (battle_id, round) DO NOTHING"
               if pg else
               "INSERT OR IGNORE INTO round_prompts (battle_id, round, prompt, tick) VALUES (?, ?, ?, ?)")
        return [(sql, (bid, rnd, prompt, tick))]
    if kind == "tip":
        _, bid, frm, to, amount, fee, tick = op
        sql = ("INSERT INTO tips (battle_id, from_wallet, to_wallet, amount, fee, tick) VALUES ($1, $2, $3, $4, $5, $6)"
               if pg else
               "INSERT INTO tips (battle_id, from_wallet, to_wallet, amount, fee, tick) VALUES (?, ?, ?, ?, ?, ?)")
        return [(sql, (bid, frm, to, amount, fee, tick))]
    if kind == "ended":
        _, bid, winner, prize, reason, s1, s2, tick = op
        if pg:
            return [(_PG_ENDED, (bid, winner, prize, reason, s1, s2, tick))]
        return [(_SQLITE_ENDED_USERS, (winner, winner, prize, reason, bid, bid, bid)),
                (_SQLITE_ENDED_BATTLE, (winner, prize, reason, s1, s2, tick, bid))]
    raise ValueError(f"unknown roast record op {kind!r}")


# --- the in-memory store's version of the same tables ------------------------------


def memory_apply(tables: dict, op: tuple) -> None:
    users = tables.setdefault("users", {})
    battles = tables.setdefault("battles", {})
    kind = op[0]
    if kind == "battle":
        _, bid, mode, tier, p1, p2, fee, tick = op
        for w in (p1, p2):
            users.setdefault(w, {"wallet": w, "username": None, "battles": 0, "wins": 0, "earnings": 0})
        battles.setdefault(bid, {"id": bid, "mode": mode, "tier": tier, "player1": p1, "player2": p2,
                                 "entry_fee": fee, "status": "live", "winner": None, "prize": 0,
                                 "reason": None, "score1": None, "score2": None,
                                 "started_tick": tick, "ended_tick": None})
    elif kind == "round":
        _, bid, rnd, player, score, breakdown, commentary, tick = op
        tables.setdefault("rounds", {})[(bid, rnd, player)] = {
            "battle_id": bid, "round": rnd, "player": player, "score": score,
            "breakdown": breakdown, "commentary": commentary, "tick": tick}
    elif kind == "clip":
        _, bid, rnd, player, url, tick = op
        tables.setdefault("clips", {})[(bid, rnd, player)] = {
            "battle_id": bid, "round": rnd, "player": player, "url": url, "tick": tick}
    elif kind == "prompt":
        _, bid, rnd, prompt, tick = op
        tables.setdefault("prompts", {}).setdefault((bid, rnd), prompt)
    elif kind == "tip":
        _, bid, frm, to, amount, fee, tick = op
        tables.setdefault("tips", []).append({"battle_id": bid, "from_wallet": frm, "to_wallet": to,
                                              "amount": amount, "fee": fee, "tick": tick})
    elif kind == "ended":
        _, bid, winner, prize, reason, s1, s2, tick = op
        b = battles.get(bid)
        if b is None or b["status"] != "live":
            return
        b.update(status="ended", winner=winner, prize=prize, reason=reason, score1=s1, score2=s2, ended_tick=tick)
        if reason != "cancelled":
            for w in (b["player1"], b["player2"]):
                u = users[w]
                u["battles"] += 1
                if w == winner:
                    u["wins"] += 1
                    u["earnings"] += prize
    else:
        raise ValueError(f"unknown roast record op {kind!r}")


def memory_query(tables: dict, name: str) -> list[dict]:
    users = tables.get("users", {})
    if name == "battles":
        return sorted(tables.get("battles", {}).values(), key=lambda b: (b["started_tick"], b["id"]))
    if name in ("rounds", "clips"):
        rows = tables.get(name, {})
        return [rows[k] for k in sorted(rows)]
    if name == "users":
        return [users[k] for k in sorted(users)]
    if name == "leaderboard":
        rows = [{k: u[k] for k in ("wallet", "wins", "battles", "earnings")} for u in users.values()
                if u["battles"] > 0]
        return sorted(rows, key=lambda r: (-r["wins"], -r["earnings"], r["wallet"]))[:100]
    raise KeyError(name)


def memory_history_details(tables: dict, matches: list[str]) -> list[dict]:
    wanted = set(matches)
    prompts, clips = tables.get("prompts", {}), tables.get("clips", {})
    rows = tables.get("rounds", {})
    out = [{"kind": "round", "match": bid, "round": rnd, "player": player, "score": r["score"],
            "breakdown": r["breakdown"], "commentary": r["commentary"], "prompt": prompts.get((bid, rnd)),
            "clip": clips.get((bid, rnd, player), {}).get("url"), "to_wallet": None, "amount": None, "fee": None,
            "tick": r["tick"]}
           for (bid, rnd, player), r in sorted(rows.items()) if bid in wanted]
    out += [{"kind": "tip", "match": t["battle_id"], "round": None, "player": t["from_wallet"], "score": None,
             "breakdown": None, "commentary": None, "prompt": None, "clip": None, "to_wallet": t["to_wallet"],
             "amount": t["amount"], "fee": t["fee"], "tick": t["tick"]}
            for t in tables.get("tips", []) if t["battle_id"] in wanted]
    return out


TABLES = Tables(
    migrations={"sqlite": ((1, SQLITE_1), (2, SQLITE_2), (3, SQLITE_3)),
                "postgres": ((1, POSTGRES_1), (2, POSTGRES_2), (3, POSTGRES_3))},
    statements=statements,
    queries=QUERIES,
    refresh={"postgres": ("REFRESH MATERIALIZED VIEW CONCURRENTLY leaderboard",)},
    memory_apply=memory_apply,
    memory_query=memory_query,
    history_details=HISTORY_DETAILS,
    memory_history_details=memory_history_details,
)
