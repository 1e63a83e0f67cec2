"""The Solana ledger's record store: what it sent, what landed, and who owns
which part of the escrow. One SQLite file (stdlib `sqlite3`), written before
anything is sent to the chain.

Tables
------
- `payments`: every entry fee and tip the ledger submitted, keyed by the
  transaction signature, with the signed transaction's bytes (so it can be
  re-broadcast; a signed transaction is idempotent on chain) and the last
  block height at which its blockhash is valid (after which it can never
  land). States: `submitted` → `landed` | `failed` | `expired`.
- `escrow`: the per-match accounting of the one escrow token account. An
  entry fee that lands credits `escrow:<match>`; a settlement that lands
  debits it. The sum over all matches equals what the ledger put into the
  escrow token account and has not paid out.
- `settlements`: one row per `Settle` key. Before a settlement transaction
  is sent, its key, signature, bytes and last valid block height are
  recorded here (state `sending`); the amounts it takes from each match's
  escrow count as reserved until it lands (`done`) or is known never to
  land (`failed`). A row in `done` makes every later `settle` of that key a
  no-op: this is what makes payouts idempotent across crashes.
- `meta`: which world the records serve (`world`), with which mint and
  escrow authority (`mint`, `escrow`). Settlement keys are unique within a
  world only, so records are bound to one world when a server first uses
  them, and a server of another world refuses them at start (see
  `SolanaStore.bind`) instead of taking that world's `done` rows for its own.

All methods are synchronous and thread-safe (one connection behind a lock);
the ledger calls them through `trio.to_thread.run_sync`. Each method is one
SQL transaction, so a crash leaves either all of its effect or none.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    sig TEXT PRIMARY KEY,
    msg_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,              -- entry | tip
    wallet TEXT NOT NULL,
    match TEXT,                      -- entry: the match
    to_wallet TEXT,                  -- tip: the performer
    amount INTEGER NOT NULL,
    fee INTEGER NOT NULL DEFAULT 0,
    raw BLOB NOT NULL,               -- the signed transaction
    blockhash TEXT NOT NULL,
    last_valid INTEGER NOT NULL,     -- last block height at which it can land
    state TEXT NOT NULL,             -- submitted | landed | failed | expired
    announced INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_open ON payments (state) WHERE state = 'submitted';
CREATE INDEX IF NOT EXISTS payments_entry ON payments (wallet, match);
CREATE TABLE IF NOT EXISTS escrow (
    match TEXT PRIMARY KEY,
    balance INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settlements (
    key TEXT PRIMARY KEY,
    match TEXT NOT NULL,
    debits TEXT NOT NULL,            -- JSON {match: amount} taken from escrow
    transfers TEXT NOT NULL,         -- JSON [[source, dest, amount], ...]
    state TEXT NOT NULL,             -- sending | done | failed
    sig TEXT,
    raw BLOB,
    blockhash TEXT,
    last_valid INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    prior_sigs TEXT NOT NULL DEFAULT '[]',
    detail TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    k TEXT PRIMARY KEY,
    v TEXT NOT NULL
);
"""

UNBOUND = "unbound"  # what `adopt` names to adopt records no world has claimed


class RecordsOfAnotherWorld(ValueError):
    """The record store serves another world, mint or escrow: this server must not use it."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Payment:
    """A row of `payments` as an object."""

    __slots__ = ("sig", "msg_hash", "kind", "wallet", "match", "to_wallet", "amount", "fee", "raw",
                 "blockhash", "last_valid", "state", "announced", "detail", "created_ms", "updated_ms")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def __repr__(self) -> str:
        return f"Payment({self.kind} {self.sig[:12]}… {self.state} {self.amount})"


class Settlement:
    __slots__ = ("key", "match", "debits", "transfers", "state", "sig", "raw", "blockhash",
                 "last_valid", "attempts", "prior_sigs", "detail", "created_ms", "updated_ms")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))
        if isinstance(self.debits, str):
            self.debits = json.loads(self.debits)
        if isinstance(self.transfers, str):
            self.transfers = [tuple(t) for t in json.loads(self.transfers)]
        if isinstance(self.prior_sigs, str):
            self.prior_sigs = json.loads(self.prior_sigs)

    def __repr__(self) -> str:
        return f"Settlement({self.key} {self.state} attempts={self.attempts})"


class Reserve:
    """Outcome of `reserve_settlement`."""

    OK = "ok"
    DONE = "done"              # already carried out: a no-op
    IN_FLIGHT = "in_flight"    # an earlier attempt may still land: resolve it first
    INSUFFICIENT = "insufficient"


class SolanaStore:
    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- plumbing ------------------------------------------------------------------
    def _tx(self, fn):
        """Run fn(db) in one IMMEDIATE transaction, under the lock."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                out = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return out

    def _read(self, sql: str, args=()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- the world these records serve -----------------------------------------------------
    def binding(self) -> dict[str, str]:
        """The `meta` rows: `world`, `mint`, `escrow` (and `adopted_from`) once bound."""
        return {r["k"]: r["v"] for r in self._read("SELECT k, v FROM meta")}

    def contents(self) -> dict[str, int]:
        """How much these records hold (for the messages that refuse them)."""
        with self._lock:
            return self._contents(self._db)

    @staticmethod
    def _contents(db) -> dict[str, int]:
        def one(sql):
            return db.execute(sql).fetchone()[0]

        return {"payments": one("SELECT COUNT(*) FROM payments"),
                "settlements": one("SELECT COUNT(*) FROM settlements"),
                "escrow_matches": one("SELECT COUNT(*) FROM escrow WHERE balance != 0"),
                "escrow_total": one("SELECT COALESCE(SUM(balance), 0) FROM escrow WHERE balance != 0")}

    def bind(self, world: str, mint: str, escrow: str, *, adopt: str = "", legacy: bool = False) -> str:
        """Bind these records to `world` (with `mint` and `escrow`), or refuse.

        - Records of this world: kept, if the mint and escrow are the same
          (another mint or escrow authority is always refused: the rows
          describe token accounts this server does not use).
        - Empty records: bound to `world`.
        - Records no world has claimed (written before worlds had ids): bound
          to `world` if the world is itself from before worlds had ids
          (`legacy`, its keys are the ones these records were written for),
          or if `adopt` is `"unbound"`; refused otherwise.
        - Records of another world: refused, unless `adopt` names that world.
          Adopting takes over its rows (escrow balances included); keys do
          not collide because every world draws its match ids from its id.

        Returns what was done: "kept", "bound", "claimed" or "adopted".
        Raises `RecordsOfAnotherWorld` with a message naming both sides.
        """
        def fn(db):
            meta = {r["k"]: r["v"] for r in db.execute("SELECT k, v FROM meta")}
            have = meta.get("world")
            for k, want in (("mint", mint), ("escrow", escrow)):
                if have is not None and meta.get(k) not in (None, want):
                    raise RecordsOfAnotherWorld(
                        f"the ledger records at {self.path} serve {k} {meta.get(k)}, this server is "
                        f"configured with {k} {want}: give it another [ledger] records_path")
            if have == world:
                return "kept"
            n = self._contents(db)
            what = (f"{n['payments']} payments, {n['settlements']} settlements, "
                    f"{n['escrow_total']} base units in escrow for {n['escrow_matches']} matches")
            if have is None:
                empty = not (n["payments"] or n["settlements"] or n["escrow_matches"])
                if empty:
                    outcome = "bound"
                elif legacy or adopt == UNBOUND:
                    outcome = "claimed"
                else:
                    raise RecordsOfAnotherWorld(
                        f"the ledger records at {self.path} were written before worlds had ids ({what}) "
                        f"and this store is a new world, {world}: they belong to an older store. Keep the "
                        f"file (it is that world's only record of its escrow) but move it away, or give this "
                        f"world another [ledger] records_path, or adopt them with "
                        f"[ledger] adopt_records = \"{UNBOUND}\"")
            elif adopt == have:
                outcome = "adopted"
                db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('adopted_from', ?)", (have,))
            else:
                raise RecordsOfAnotherWorld(
                    f"the ledger records at {self.path} belong to world {have} ({what}), this store is "
                    f"world {world}: a record store serves one world. Keep the file (it is world {have}'s "
                    f"record of its escrow) but move it away, or give this world another [ledger] "
                    f"records_path, or adopt them with [ledger] adopt_records = \"{have}\"")
            for k, v in (("world", world), ("mint", mint), ("escrow", escrow)):
                db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (k, v))
            return outcome

        return self._tx(fn)

    # --- payments ----------------------------------------------------------------------
    def add_payment(self, p: Payment) -> bool:
        """Record a payment about to be sent; False if its message is already recorded."""
        now = _now_ms()

        def fn(db):
            if db.execute("SELECT 1 FROM payments WHERE msg_hash = ? OR sig = ?", (p.msg_hash, p.sig)).fetchone():
                return False
            db.execute(
                "INSERT INTO payments (sig, msg_hash, kind, wallet, match, to_wallet, amount, fee, raw, blockhash,"
                " last_valid, state, announced, detail, created_ms, updated_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'submitted', 0, '', ?, ?)",
                (p.sig, p.msg_hash, p.kind, p.wallet, p.match, p.to_wallet, p.amount, p.fee or 0, p.raw,
                 p.blockhash, p.last_valid, now, now),
            )
            return True

        return self._tx(fn)

    def payment(self, sig: str) -> Payment | None:
        rows = self._read("SELECT * FROM payments WHERE sig = ?", (sig,))
        return Payment(**dict(rows[0])) if rows else None

    def payment_by_hash(self, msg_hash: str) -> Payment | None:
        rows = self._read("SELECT * FROM payments WHERE msg_hash = ?", (msg_hash,))
        return Payment(**dict(rows[0])) if rows else None

    def open_payments(self) -> list[Payment]:
        return [Payment(**dict(r)) for r in self._read("SELECT * FROM payments WHERE state = 'submitted'")]

    def unannounced(self) -> list[Payment]:
        rows = self._read("SELECT * FROM payments WHERE state = 'landed' AND announced = 0 ORDER BY created_ms")
        return [Payment(**dict(r)) for r in rows]

    def open_entry_for(self, wallet: str, match: str) -> list[Payment]:
        rows = self._read("SELECT * FROM payments WHERE kind = 'entry' AND wallet = ? AND match = ?"
                          " AND state = 'submitted'", (wallet, match))
        return [Payment(**dict(r)) for r in rows]

    def resolve_payment(self, sig: str, state: str, detail: str = "", announced: bool = False) -> bool:
        """Move a submitted payment to `landed`, `failed` or `expired`.

        Landing an entry credits its match's escrow in the same transaction.
        Returns False (and changes nothing) if it was not `submitted`.
        """
        assert state in ("landed", "failed", "expired")
        now = _now_ms()

        def fn(db):
            row = db.execute("SELECT kind, match, amount, state FROM payments WHERE sig = ?", (sig,)).fetchone()
            if row is None or row["state"] != "submitted":
                return False
            db.execute("UPDATE payments SET state = ?, detail = ?, announced = ?, updated_ms = ? WHERE sig = ?",
                       (state, detail[:500], int(announced), now, sig))
            if state == "landed" and row["kind"] == "entry":
                db.execute("INSERT INTO escrow (match, balance) VALUES (?, ?)"
                           " ON CONFLICT(match) DO UPDATE SET balance = balance + excluded.balance",
                           (row["match"], row["amount"]))
            return True

        return self._tx(fn)

    def drop_refused(self, sig: str) -> bool:
        """Forget a submitted payment the node refused (it was never forwarded,
        so it cannot land): the same signed transaction may be confirmed again."""
        return self._tx(lambda db: db.execute(
            "DELETE FROM payments WHERE sig = ? AND state = 'submitted'", (sig,)).rowcount == 1)

    def mark_announced(self, sig: str) -> None:
        self._tx(lambda db: db.execute("UPDATE payments SET announced = 1, updated_ms = ? WHERE sig = ?",
                                       (_now_ms(), sig)))

    # --- escrow accounting -------------------------------------------------------------
    def escrow_balance(self, match: str) -> int:
        rows = self._read("SELECT balance FROM escrow WHERE match = ?", (match,))
        return rows[0]["balance"] if rows else 0

    def escrow_total(self) -> int:
        rows = self._read("SELECT COALESCE(SUM(balance), 0) AS s FROM escrow")
        return rows[0]["s"]

    def nonzero_escrows(self) -> dict[str, int]:
        return {r["match"]: r["balance"] for r in self._read("SELECT * FROM escrow WHERE balance != 0")}

    @staticmethod
    def _reserved(db, match: str, except_key: str | None = None) -> int:
        total = 0
        for r in db.execute("SELECT key, debits FROM settlements WHERE state = 'sending'"):
            if r["key"] != except_key:
                total += json.loads(r["debits"]).get(match, 0)
        return total

    # --- settlements ---------------------------------------------------------------------
    def settlement(self, key: str) -> Settlement | None:
        rows = self._read("SELECT * FROM settlements WHERE key = ?", (key,))
        return Settlement(**dict(rows[0])) if rows else None

    def done_settlements(self) -> list[Settlement]:
        return [Settlement(**dict(r)) for r in self._read("SELECT * FROM settlements WHERE state = 'done'")]

    def open_settlements(self) -> list[Settlement]:
        return [Settlement(**dict(r)) for r in self._read("SELECT * FROM settlements WHERE state = 'sending'")]

    def reserve_settlement(self, key: str, match: str, debits: dict[str, int], transfers: list,
                           sig: str | None, raw: bytes | None, blockhash: str | None,
                           last_valid: int | None) -> tuple[str, str]:
        """Check the escrow can cover `debits` and record the attempt (state `sending`).

        Returns (outcome, detail): `Reserve.OK` when recorded; `DONE` if the
        key was already carried out; `IN_FLIGHT` if an earlier attempt is
        still `sending`; `INSUFFICIENT` if a match's escrow (less what other
        settlements in flight reserve) cannot cover its debit.
        """
        now = _now_ms()

        def fn(db):
            row = db.execute("SELECT state, sig, prior_sigs, attempts FROM settlements WHERE key = ?", (key,)).fetchone()
            if row is not None and row["state"] == "done":
                return Reserve.DONE, ""
            if row is not None and row["state"] == "sending":
                return Reserve.IN_FLIGHT, ""
            for m, amount in debits.items():
                have = db.execute("SELECT balance FROM escrow WHERE match = ?", (m,)).fetchone()
                available = (have["balance"] if have else 0) - self._reserved(db, m)
                if amount > available:
                    return Reserve.INSUFFICIENT, f"escrow:{m} has {max(available, 0)} available, needs {amount}"
            state = "sending" if sig is not None else "done"
            if row is None:
                db.execute(
                    "INSERT INTO settlements (key, match, debits, transfers, state, sig, raw, blockhash, last_valid,"
                    " attempts, prior_sigs, detail, created_ms, updated_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, '[]', '', ?, ?)",
                    (key, match, json.dumps(debits), json.dumps(transfers), state, sig, raw, blockhash,
                     last_valid, now, now),
                )
            else:
                prior = json.loads(row["prior_sigs"]) + ([row["sig"]] if row["sig"] else [])
                db.execute(
                    "UPDATE settlements SET debits = ?, transfers = ?, state = ?, sig = ?, raw = ?, blockhash = ?,"
                    " last_valid = ?, attempts = attempts + 1, prior_sigs = ?, detail = '', updated_ms = ?"
                    " WHERE key = ?",
                    (json.dumps(debits), json.dumps(transfers), state, sig, raw, blockhash, last_valid,
                     json.dumps(prior), now, key),
                )
            if state == "done":  # nothing to send (all amounts zero)
                self._apply_debits(db, debits)
            return Reserve.OK, ""

        return self._tx(fn)

    @staticmethod
    def _apply_debits(db, debits: dict[str, int]) -> None:
        for m, amount in debits.items():
            db.execute("INSERT INTO escrow (match, balance) VALUES (?, ?)"
                       " ON CONFLICT(match) DO UPDATE SET balance = balance + excluded.balance", (m, -amount))

    def finish_settlement(self, key: str, sig: str, landed: bool, detail: str = "") -> bool:
        """The attempt `sig` of `key` landed (`done`, escrow debited) or never will (`failed`).

        No-op (False) unless `key` is `sending` with that signature.
        """
        now = _now_ms()

        def fn(db):
            row = db.execute("SELECT state, sig, debits FROM settlements WHERE key = ?", (key,)).fetchone()
            if row is None or row["state"] != "sending" or row["sig"] != sig:
                return False
            db.execute("UPDATE settlements SET state = ?, detail = ?, updated_ms = ? WHERE key = ?",
                       ("done" if landed else "failed", detail[:500], now, key))
            if landed:
                self._apply_debits(db, json.loads(row["debits"]))
            return True

        return self._tx(fn)

    def adopt_settlement(self, key: str, sig: str, debits: dict[str, int], transfers: list | None = None) -> bool:
        """The chain shows `sig` (with this key's memo) landed: mark `key` done.

        Used when the record of an attempt was lost or superseded; the
        escrow is debited unless the key was already done. `transfers` (what
        the memo's digest proved the transaction carried) is kept with it.
        """
        now = _now_ms()
        moved = json.dumps(transfers if transfers is not None else [])

        def fn(db):
            row = db.execute("SELECT state FROM settlements WHERE key = ?", (key,)).fetchone()
            if row is not None and row["state"] == "done":
                return False
            if row is None:
                db.execute(
                    "INSERT INTO settlements (key, match, debits, transfers, state, sig, attempts, detail,"
                    " created_ms, updated_ms) VALUES (?, '', ?, ?, 'done', ?, 0, 'adopted from chain', ?, ?)",
                    (key, json.dumps(debits), moved, sig, now, now))
            else:
                db.execute("UPDATE settlements SET state = 'done', sig = ?, debits = ?,"
                           " transfers = CASE WHEN ? = '[]' THEN transfers ELSE ? END,"
                           " detail = 'adopted from chain', updated_ms = ? WHERE key = ?",
                           (sig, json.dumps(debits), moved, moved, now, key))
            self._apply_debits(db, debits)
            return True

        return self._tx(fn)

    def stats(self) -> dict:
        rows = self._read("SELECT state, COUNT(*) AS n FROM payments GROUP BY state")
        srows = self._read("SELECT state, COUNT(*) AS n FROM settlements GROUP BY state")
        return {
            "payments": {r["state"]: r["n"] for r in rows},
            "settlements": {r["state"]: r["n"] for r in srows},
        }
