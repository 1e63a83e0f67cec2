"""Versioned schema migrations for both stores.

A migration is (version, statements). Versions only ever grow; a released
migration is never edited, a change is a new one. The applied versions are
recorded in `schema_migrations` (PostgreSQL) or SQLite's `user_version`.
`python -m arena migrate` applies what is missing; the embedded store applies
its own at start (it needs nothing installed), the PostgreSQL store refuses
to start on an out-of-date schema and says to run the command.

Tables (both stores):

- `journal` (tick, inputs): every tick that had inputs, MessagePack records;
  `meta.durable_tick` says up to which tick every tick was stepped.
- `snapshots` (tick, hash, data): the whole engine state every
  `snapshot_every_ticks`.
- `outbox` (key, kind, tick, effect, done_tick): effects issued, and when
  their result was consumed; recovery re-dispatches the ones not done.
- `inbox` (key, input, done_tick): adapter results that must reach the engine
  (an entry fee that reached escrow), written with the ledger entry.
- `ledger_entries`, `ledger_keys`: the embedded ledger's double-entry book.
- `sessions` (id, wallet, seq): resumable sessions.
- the two-player battle records, derived from engine events: `users`, `battles`,
  `rounds`, `clips`, and `leaderboard` (a materialized view on PostgreSQL,
  refreshed on a schedule; a plain view on SQLite). Rounds and clips carry
  no foreign key: a derived record must never be able to block the journal
  it is written with.
- `mode_records` (mode, kind, key, tick, data JSON): the rows any mode keeps
  (`arena.engine.mode.Record`), replaced when written again (version 2).
- `api_keys` (id, name, role, hash, created_at, revoked_at) and `audit_log`
  (at, actor, role, action, detail JSON, result): agents' and operators'
  credentials (only a hash of each secret) and every operator action
  (version 4).
- `board_scores` (board, period_key, wallet, score) and `board_sources`
  (board, period_key, wallet, source): every mode's leaderboards, per period
  ("all", "week:<Monday>"), each contribution counted once; `match_results`
  (match, mode, ended_at_ms, ended_tick, result JSON) and `match_players`
  (wallet, match, mode, ended_tick): finished matches for `history.get`;
  `profiles` (wallet, username, username_key, avatar_url): usernames unique
  regardless of case (version 5; see `arena.persistence.reads`).
- `writer_lease` (owner, epoch, expires_at; PostgreSQL only, version 6): the
  world's writer when nodes share it (`[cluster] node`): every write
  checks its epoch (docs/SCALING.md).
- `chain_payments`, `chain_escrow`, `chain_settlements`, `chain_meta`
  (PostgreSQL only, version 7): a chain ledger's record store kept in the
  world (`[ledger] records = "store"`, `arena.chain.pg_records`).
- `mode_migrations` (mode, version): which of each mode's own migrations
  (`arena.engine.mode.Tables`) are applied (version 3). A mode's tables are
  the mode's: the tables of the two-player battle records that version 1
  created are since declared by their mode too (with `IF NOT EXISTS`, so
  on a store that has them its migration changes nothing).
"""

from __future__ import annotations

SQLITE: list[tuple[int, list[str]]] = [
    (1, [
        "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS journal (tick INTEGER PRIMARY KEY, inputs BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS snapshots (tick INTEGER PRIMARY KEY, hash TEXT NOT NULL, data BLOB NOT NULL,"
        " created_at TEXT NOT NULL DEFAULT (datetime('now')))",
        "CREATE TABLE IF NOT EXISTS outbox (key TEXT PRIMARY KEY, kind TEXT NOT NULL, tick INTEGER NOT NULL,"
        " effect BLOB NOT NULL, done_tick INTEGER)",
        "CREATE INDEX IF NOT EXISTS outbox_open ON outbox (tick) WHERE done_tick IS NULL",
        "CREATE TABLE IF NOT EXISTS inbox (key TEXT PRIMARY KEY, input BLOB NOT NULL, done_tick INTEGER)",
        "CREATE TABLE IF NOT EXISTS ledger_entries (entry_id INTEGER PRIMARY KEY, key TEXT NOT NULL,"
        " debit TEXT NOT NULL, credit TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0))",
        "CREATE TABLE IF NOT EXISTS ledger_keys (key TEXT PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, wallet TEXT NOT NULL, seq INTEGER NOT NULL,"
        " updated_at TEXT NOT NULL DEFAULT (datetime('now')))",
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
    ]),
    (2, [
        "CREATE TABLE IF NOT EXISTS mode_records (mode TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
        " tick INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (mode, kind, key))",
    ]),
    (3, [
        "CREATE TABLE IF NOT EXISTS mode_migrations (mode TEXT NOT NULL, version INTEGER NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (datetime('now')), PRIMARY KEY (mode, version))",
    ]),
    (4, [
        "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,"
        " hash TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')), revoked_at TEXT)",
        "CREATE TABLE IF NOT EXISTS audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), actor TEXT NOT NULL,"
        " role TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL, result TEXT NOT NULL)",
    ]),
    (5, [
        "CREATE TABLE IF NOT EXISTS board_scores (board TEXT NOT NULL, period_key TEXT NOT NULL,"
        " wallet TEXT NOT NULL, score INTEGER NOT NULL, PRIMARY KEY (board, period_key, wallet))",
        "CREATE INDEX IF NOT EXISTS board_scores_rank ON board_scores (board, period_key, score DESC, wallet)",
        "CREATE INDEX IF NOT EXISTS board_scores_wallet ON board_scores (wallet, period_key)",
        "CREATE TABLE IF NOT EXISTS board_sources (board TEXT NOT NULL, period_key TEXT NOT NULL,"
        " wallet TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY (board, period_key, wallet, source))",
        "CREATE TABLE IF NOT EXISTS match_results (match TEXT PRIMARY KEY, mode TEXT NOT NULL,"
        " ended_at_ms INTEGER NOT NULL, ended_tick INTEGER NOT NULL, result TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS match_players (wallet TEXT NOT NULL, match TEXT NOT NULL, mode TEXT NOT NULL,"
        " ended_tick INTEGER NOT NULL, PRIMARY KEY (wallet, match))",
        "CREATE INDEX IF NOT EXISTS match_players_recent ON match_players (wallet, ended_tick DESC, match DESC)",
        "CREATE TABLE IF NOT EXISTS profiles (wallet TEXT PRIMARY KEY, username TEXT, username_key TEXT UNIQUE,"
        " avatar_url TEXT, updated_at TEXT NOT NULL DEFAULT (datetime('now')))",
    ]),
]

POSTGRES: list[tuple[int, list[str]]] = [
    (1, [
        "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS journal (tick BIGINT PRIMARY KEY, inputs BYTEA NOT NULL)",
        "CREATE TABLE IF NOT EXISTS snapshots (tick BIGINT PRIMARY KEY, hash TEXT NOT NULL, data BYTEA NOT NULL,"
        " created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS outbox (key TEXT PRIMARY KEY, kind TEXT NOT NULL, tick BIGINT NOT NULL,"
        " effect BYTEA NOT NULL, done_tick BIGINT)",
        "CREATE INDEX IF NOT EXISTS outbox_open ON outbox (tick) WHERE done_tick IS NULL",
        "CREATE TABLE IF NOT EXISTS inbox (key TEXT PRIMARY KEY, input BYTEA NOT NULL, done_tick BIGINT)",
        "CREATE TABLE IF NOT EXISTS ledger_entries (entry_id BIGINT PRIMARY KEY, key TEXT NOT NULL,"
        " debit TEXT NOT NULL, credit TEXT NOT NULL, amount BIGINT NOT NULL CHECK (amount > 0))",
        "CREATE TABLE IF NOT EXISTS ledger_keys (key TEXT PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, wallet TEXT NOT NULL, seq BIGINT NOT NULL,"
        " updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
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
    ]),
    (2, [
        "CREATE TABLE IF NOT EXISTS mode_records (mode TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
        " tick BIGINT NOT NULL, data JSONB NOT NULL, PRIMARY KEY (mode, kind, key))",
    ]),
    (3, [
        "CREATE TABLE IF NOT EXISTS mode_migrations (mode TEXT NOT NULL, version INTEGER NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (mode, version))",
    ]),
    (4, [
        "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,"
        " hash TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now(), revoked_at TIMESTAMPTZ)",
        "CREATE TABLE IF NOT EXISTS audit_log (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now(),"
        " actor TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, detail JSONB NOT NULL, result TEXT NOT NULL)",
    ]),
    (5, [
        "CREATE TABLE IF NOT EXISTS board_scores (board TEXT NOT NULL, period_key TEXT NOT NULL,"
        " wallet TEXT NOT NULL, score BIGINT NOT NULL, PRIMARY KEY (board, period_key, wallet))",
        "CREATE INDEX IF NOT EXISTS board_scores_rank ON board_scores (board, period_key, score DESC,"
        ' wallet COLLATE "C")',
        "CREATE INDEX IF NOT EXISTS board_scores_wallet ON board_scores (wallet, period_key)",
        "CREATE TABLE IF NOT EXISTS board_sources (board TEXT NOT NULL, period_key TEXT NOT NULL,"
        " wallet TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY (board, period_key, wallet, source))",
        "CREATE TABLE IF NOT EXISTS match_results (match TEXT PRIMARY KEY, mode TEXT NOT NULL,"
        " ended_at_ms BIGINT NOT NULL, ended_tick BIGINT NOT NULL, result JSONB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS match_players (wallet TEXT NOT NULL, match TEXT NOT NULL, mode TEXT NOT NULL,"
        " ended_tick BIGINT NOT NULL, PRIMARY KEY (wallet, match))",
        "CREATE INDEX IF NOT EXISTS match_players_recent ON match_players (wallet, ended_tick DESC,"
        ' match COLLATE "C" DESC)',
        "CREATE TABLE IF NOT EXISTS profiles (wallet TEXT PRIMARY KEY, username TEXT, username_key TEXT UNIQUE,"
        " avatar_url TEXT, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    ]),
    (6, [
        # At most one row: who holds the world as its writer, under which
        # fencing epoch, until when (the database's clock, never a node's).
        "CREATE TABLE IF NOT EXISTS writer_lease (id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT NOT NULL,"
        " epoch BIGINT NOT NULL, expires_at TIMESTAMPTZ NOT NULL, claimed_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    ]),
    (7, [
        # A chain ledger's record store kept in the world's own schema
        # (`[ledger] records = "store"`, arena.chain.pg_records): the tables of
        # arena.chain.solana_store with a `chain_` prefix, written in fenced
        # transactions, so a world taken over by another node carries them.
        "CREATE TABLE IF NOT EXISTS chain_payments (sig TEXT PRIMARY KEY, msg_hash TEXT NOT NULL UNIQUE,"
        " kind TEXT NOT NULL, wallet TEXT NOT NULL, match TEXT, to_wallet TEXT, amount BIGINT NOT NULL,"
        " fee BIGINT NOT NULL DEFAULT 0, raw BYTEA NOT NULL, blockhash TEXT NOT NULL, last_valid BIGINT NOT NULL,"
        " state TEXT NOT NULL, announced BIGINT NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '',"
        " created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS chain_payments_open ON chain_payments (state) WHERE state = 'submitted'",
        "CREATE INDEX IF NOT EXISTS chain_payments_entry ON chain_payments (wallet, match)",
        "CREATE TABLE IF NOT EXISTS chain_escrow (match TEXT PRIMARY KEY, balance BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS chain_settlements (key TEXT PRIMARY KEY, match TEXT NOT NULL,"
        " debits TEXT NOT NULL, transfers TEXT NOT NULL, state TEXT NOT NULL, sig TEXT, raw BYTEA, blockhash TEXT,"
        " last_valid BIGINT, attempts BIGINT NOT NULL DEFAULT 0, prior_sigs TEXT NOT NULL DEFAULT '[]',"
        " detail TEXT NOT NULL DEFAULT '', created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS chain_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    ]),
]

LATEST_SQLITE = SQLITE[-1][0]
LATEST_POSTGRES = POSTGRES[-1][0]
