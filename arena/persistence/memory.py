"""A store that keeps its tables in this process: no durability at all.

For tests and benchmarks that want the server's persistence paths without
a disk. It follows the same contract as the real stores (tests/store_contract.py),
so a process that keeps one object across "restarts" can recover from it.
"""

from __future__ import annotations

import json

from . import mode_tables, reads
from .store import LedgerBatch, Recovery, StoreError, TickBatch


class MemoryStore:
    kind = "memory"

    def __init__(self):
        self.opened = False
        self.fail: Exception | None = None  # set to make every call fail (fault tests)
        self.fail_ticks: Exception | None = None  # set to make only `write` (the journal) fail
        self.journal: dict[int, bytes] = {}
        self.snapshots: dict[int, tuple[str, bytes]] = {}
        self.meta: dict[str, int] = {}
        self.outbox: dict[str, list] = {}
        self.inbox: dict[str, list] = {}
        self.entries: list[tuple] = []
        self.keys: set[str] = set()
        self.sessions: dict[str, tuple] = {}
        self.mode_records: dict[tuple, dict] = {}
        self.mode_tables: dict[str, dict] = {}  # mode -> its tables (`Tables.memory_apply`)
        self.api_keys: dict[str, dict] = {}
        self.audit_log: list[dict] = []
        self.reads = reads.MemoryReads()  # board_scores, match_results, profiles (schema 5)
        self.stats = {"writes": 0}

    def _check(self):
        if self.fail is not None:
            raise self.fail
        if not self.opened:
            raise StoreError("store is not open")

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.opened = False

    async def migrate(self) -> list[int]:
        return []

    async def acquire_writer(self) -> None:
        """One object, one process: nothing to lock."""

    def release_writer(self) -> None:
        pass

    async def world_id(self) -> int:
        self._check()
        if "world" not in self.meta:
            from .world import new_world_id

            self.meta["world"] = new_world_id()
        return self.meta["world"]

    async def schema_version(self) -> int:
        return 1

    async def load_recovery(self) -> Recovery:
        self._check()
        rec = Recovery(durable_tick=self.meta.get("durable_tick", 0))
        if self.snapshots:
            t = max(self.snapshots)
            rec.snapshot_tick, (rec.snapshot_hash, rec.snapshot) = t, self.snapshots[t]
            rec.journal = sorted((k, v) for k, v in self.journal.items() if k > t)
        rec.outbox = sorted(((k, r[0], r[1], r[2]) for k, r in self.outbox.items() if r[3] is None),
                            key=lambda r: (r[2], r[0]))
        rec.inbox = [(k, r[0]) for k, r in self.inbox.items() if r[1] is None]
        rec.sessions = list(self.sessions.values())
        rec.ledger_entries, rec.ledger_keys = list(self.entries), sorted(self.keys)
        return rec

    async def write(self, b: TickBatch) -> None:
        self._check()
        if self.fail_ticks is not None:
            raise self.fail_ticks
        for t, blob in b.ticks:
            self.journal[t] = blob
        for t, h, blob in b.snapshots:
            self.snapshots[t] = (h, blob)
        if b.snapshots and b.keep_snapshots > 0 and len(self.snapshots) >= b.keep_snapshots:
            oldest = sorted(self.snapshots)[-b.keep_snapshots]
            self.snapshots = {t: v for t, v in self.snapshots.items() if t >= oldest}
            self.journal = {t: v for t, v in self.journal.items() if t > oldest}
        for key, kind, t, eff in b.outbox_add:
            self.outbox.setdefault(key, [kind, t, eff, None])
        for key, t in b.outbox_done:
            if key in self.outbox and self.outbox[key][3] is None:
                self.outbox[key][3] = t
        for key, t in b.inbox_done:
            if key in self.inbox and self.inbox[key][1] is None:
                self.inbox[key][1] = t
        for sid, wallet, seq in b.sessions:
            old = self.sessions.get(sid)
            self.sessions[sid] = (sid, wallet, max(seq, old[2]) if old else seq)
        for sid in b.sessions_gone:
            self.sessions.pop(sid, None)
        for op in b.records:
            self._record(op)
        self.meta["durable_tick"] = max(self.meta.get("durable_tick", 0), b.durable_tick)
        self.stats["writes"] += 1

    def _record(self, op) -> None:
        kind = op[0]
        if kind == "mode_record":
            _, mode, rkind, key, data, tick = op
            self.mode_records[(mode, rkind, key)] = {"mode": mode, "kind": rkind, "key": key, "tick": tick,
                                                     "data": data}
        elif kind == "mode_op":  # a mode's own tables, as plain dicts
            mode_tables.memory_apply(self.mode_tables, op)
        elif kind in ("board_add", "match_result"):
            self.reads.apply(op)
        else:
            raise ValueError(f"unknown record op {kind!r}")

    async def add_inbox(self, key: str, encoded: bytes) -> bool:
        self._check()
        if key in self.inbox:
            return False
        self.inbox[key] = [encoded, None]
        return True

    async def write_ledger(self, b: LedgerBatch) -> None:
        self._check()
        for e in b.entries:
            if e[0] < len(self.entries):
                continue  # written already (a retried batch)
            if e[0] != len(self.entries):
                raise StoreError(f"ledger entry {e[0]} out of order")
            self.entries.append(tuple(e))
        self.keys.update(b.keys)
        for key, blob in b.inbox:
            self.inbox.setdefault(key, [blob, None])

    async def snapshot_list(self):
        self._check()
        return sorted((t, h) for t, (h, _) in self.snapshots.items())

    async def load_snapshot(self, tick: int) -> bytes:
        self._check()
        if tick not in self.snapshots:
            raise StoreError(f"no snapshot at tick {tick}")
        return self.snapshots[tick][1]

    async def load_journal(self, after: int, upto: int | None = None):
        self._check()
        return sorted((t, b) for t, b in self.journal.items() if t > after and (upto is None or t <= upto))

    async def durable_tick(self) -> int:
        return self.meta.get("durable_tick", 0)

    async def ledger_entries(self):
        self._check()
        return list(self.entries), sorted(self.keys)

    async def add_api_key(self, key_id: str, name: str, role: str, hashed: str) -> bool:
        if any(k["name"] == name for k in self.api_keys.values()):
            return False
        self.api_keys[key_id] = {"id": key_id, "name": name, "role": role, "hash": hashed, "revoked_at": None}
        return True

    async def api_key(self, key_id: str) -> dict | None:
        k = self.api_keys.get(key_id)
        return dict(k) if k else None

    async def revoke_api_key(self, name: str) -> bool:
        for k in self.api_keys.values():
            if k["name"] == name and k["revoked_at"] is None:
                k["revoked_at"] = "revoked"
                return True
        return False

    async def audit(self, actor: str, role: str, action: str, detail: str, result: str) -> None:
        self.audit_log.append({"id": len(self.audit_log) + 1, "actor": actor, "role": role, "action": action,
                               "detail": detail, "result": result})

    async def query(self, name: str, params: tuple = (), **args) -> list[dict]:
        self._check()
        if name == "api_keys":
            return [{k: v for k, v in r.items() if k != "hash"} for r in sorted(self.api_keys.values(),
                                                                               key=lambda r: r["name"])]
        if name == "audit_log":
            return list(self.audit_log)
        if name == "mode_records":
            return [self.mode_records[k] for k in sorted(self.mode_records)]
        if name == "outbox":
            return [{"key": k, "kind": r[0], "tick": r[1], "done_tick": r[3]}
                    for k, r in sorted(self.outbox.items(), key=lambda kv: (kv[1][1], kv[0]))]
        if name == "inbox":
            return [{"key": k, "done_tick": r[1]} for k, r in sorted(self.inbox.items())]
        if name == "sessions":
            return [dict(zip(("id", "wallet", "seq"), v)) for _, v in sorted(self.sessions.items())]
        rows = mode_tables.memory_query(self.mode_tables, name, tuple(params))
        if rows is None:
            raise KeyError(name)
        return rows

    # --- the platform's reads (see `reads.MemoryReads`) -------------------------------
    async def leaderboard(self, board: str, period_key: str, limit: int, around: str | None = None) -> list[dict]:
        self._check()
        return self.reads.leaderboard(board, period_key, limit, around)

    async def scores_of(self, wallet: str, period_key: str = "all") -> dict:
        self._check()
        return self.reads.scores_of(wallet, period_key)

    async def history(self, wallet: str, mode: str | None, limit: int, before: tuple | None = None) -> list[dict]:
        self._check()
        return self.reads.history(wallet, mode, limit, before)

    async def history_details(self, mode: str, matches: list[str]) -> list[dict]:
        self._check()
        return mode_tables.memory_history_details(self.mode_tables, mode, matches)

    async def profile(self, wallet: str) -> dict | None:
        self._check()
        found = self.reads.profiles.get(wallet)
        return dict(found) if found else None

    async def set_profile(self, wallet: str, *, username=reads.KEEP, avatar_url=reads.KEEP) -> dict:
        self._check()
        new = reads.merged_profile(wallet, self.reads.profiles.get(wallet), username, avatar_url)
        name = new["username"]
        if name is not None and any(w != wallet and (p["username"] or "").lower() == name.lower()
                                    for w, p in self.reads.profiles.items()):
            raise reads.Duplicate(name)
        self.reads.profiles[wallet] = new
        return dict(new)

    def outbox_rows(self) -> list[dict]:
        return [{"key": k, "kind": r[0], "tick": r[1], "done_tick": r[3]} for k, r in self.outbox.items()]

    async def refresh_leaderboard(self) -> None:
        return None

    def health(self) -> dict:
        return {"kind": self.kind, **self.stats}


def breakdown(text: str) -> dict:
    return json.loads(text)
