"""The store port: what the server keeps durably, and the data it moves.

Two real implementations pass one contract suite (`tests/store_contract.py`):
`arena.persistence.sqlite.SqliteStore` (embedded, the default: a file, the
standard library's sqlite3) and `arena.persistence.postgres.PostgresStore`
(production). `MemoryStore` keeps the same tables in dicts: no durability,
for tests and benchmarks that do not want a disk.

Everything the tick loop writes for a run of ticks goes in one `TickBatch`,
written in one transaction: the journal rows, the newest durable tick, a
snapshot when one is due, the effects issued (outbox) and the ones now done,
the adapter results now consumed (inbox), session changes and the derived
records (each mode's tables, leaderboard points, finished matches). Ledger entries are written by
`write_ledger`, before the ledger's caller hears back.
"""

from __future__ import annotations

from typing import Protocol

from attrs import define, field


@define
class TickBatch:
    # (tick, encoded inputs) for the ticks that had inputs, in tick order
    ticks: list = field(factory=list)
    # every tick up to here has been stepped (empty ticks have no row)
    durable_tick: int = 0
    # (tick, state hash, encoded snapshot)
    snapshots: list = field(factory=list)
    # (key, kind, tick, encoded effect): effects issued
    outbox_add: list = field(factory=list)
    # (key, tick): effects whose result the engine has consumed
    outbox_done: list = field(factory=list)
    # (key, tick): adapter results (inbox) the engine has consumed
    inbox_done: list = field(factory=list)
    # (session id, wallet, seq)
    sessions: list = field(factory=list)
    sessions_gone: list = field(factory=list)
    # derived records (each mode's `records`; see arena.persistence.durable.mode_records)
    records: list = field(factory=list)
    # Retention, applied with a snapshot in the same transaction: keep the
    # newest `keep_snapshots` snapshots and the journal after the oldest of
    # them (what `load_recovery` and `python -m arena replay` read); 0 keeps all.
    keep_snapshots: int = 0

    def empty(self) -> bool:
        return not (self.ticks or self.snapshots or self.outbox_add or self.outbox_done or self.inbox_done
                    or self.sessions or self.sessions_gone or self.records)

    def merge(self, other: TickBatch) -> None:
        self.ticks += other.ticks
        self.durable_tick = max(self.durable_tick, other.durable_tick)
        self.snapshots += other.snapshots
        self.outbox_add += other.outbox_add
        self.outbox_done += other.outbox_done
        self.inbox_done += other.inbox_done
        self.sessions += other.sessions
        self.sessions_gone += other.sessions_gone
        self.records += other.records
        self.keep_snapshots = other.keep_snapshots or self.keep_snapshots

    def size(self) -> int:
        return len(self.ticks) + len(self.outbox_add) + len(self.records)


@define
class LedgerBatch:
    # (entry_id, key, debit, credit, amount), consecutive ids
    entries: list = field(factory=list)
    # every key applied (also those that wrote no entry)
    keys: list = field(factory=list)
    # (key, encoded input): results the engine must hear of (inbox)
    inbox: list = field(factory=list)


@define
class Recovery:
    """What the server needs to come back: the newest snapshot and what follows it."""

    snapshot_tick: int | None = None
    snapshot_hash: str | None = None
    snapshot: bytes | None = None
    journal: list = field(factory=list)  # (tick, encoded inputs), tick > snapshot_tick
    durable_tick: int = 0
    outbox: list = field(factory=list)  # (key, kind, tick, encoded effect) not done
    inbox: list = field(factory=list)  # (key, encoded input) not done
    sessions: list = field(factory=list)  # (id, wallet, seq)
    ledger_entries: list = field(factory=list)
    ledger_keys: list = field(factory=list)


class StoreError(Exception):
    """The store cannot do what was asked (unreachable, not migrated, corrupt)."""


class Store(Protocol):
    kind: str

    async def open(self) -> None:
        """Connect; check (embedded: apply) the schema migrations."""

    async def close(self) -> None: ...

    async def acquire_writer(self) -> None:
        """Become the world's one writer for this process's life (see
        `arena.persistence.world`), or raise `WriterLockHeld` naming the holder."""

    def release_writer(self) -> None:
        """Give up the lock (the server's run ended); the OS or database drops it on a crash."""

    async def world_id(self) -> int:
        """The world's id (`meta` key `world`), given to the store now if it has none."""

    async def migrate(self) -> list[int]:
        """Apply the missing schema migrations; return the versions applied."""

    async def schema_version(self) -> int: ...

    async def load_recovery(self) -> Recovery: ...

    async def write(self, batch: TickBatch) -> None:
        """All of `batch` in one transaction, or nothing."""

    async def write_ledger(self, batch: LedgerBatch) -> None:
        """Ledger entries, keys and inbox rows in one transaction, or nothing."""

    async def add_inbox(self, key: str, encoded: bytes) -> bool:
        """Add one inbox row unless `key` has one already; True if this call added it.

        The arbiter of exactly-once for results announced by a chain: of any
        number of announcements of one payment, in any processes, one gets
        True and hands the input to the engine."""

    async def snapshot_list(self) -> list[tuple[int, str]]: ...

    async def load_snapshot(self, tick: int) -> bytes: ...

    async def load_journal(self, after: int, upto: int | None = None) -> list[tuple[int, bytes]]: ...

    async def durable_tick(self) -> int: ...

    async def ledger_entries(self) -> tuple[list, list]: ...

    async def query(self, name: str, params: tuple = (), **args) -> list[dict]:
        """Read-only views for operators, tests and side tasks: "outbox",
        "sessions", "mode_records" and the modes' queries (`Tables.queries`),
        whose positional parameters are `params` ("?" / "$1" in their SQL)."""

    async def refresh_leaderboard(self) -> None: ...

    # The platform's reads (schema 5; `arena.persistence.reads`), for the
    # gateway's read requests, off the tick loop.
    async def leaderboard(self, board: str, period_key: str, limit: int, around: str | None = None) -> list[dict]:
        """[{"rank", "wallet", "username", "score"}]: the top `limit`, or the
        page around wallet `around` (empty if it has no score there)."""

    async def scores_of(self, wallet: str, period_key: str = "all") -> dict:
        """{board: score} of `wallet` in one period."""

    async def history(self, wallet: str, mode: str | None, limit: int, before: tuple | None = None) -> list[dict]:
        """[{"match", "mode", "ended_at_ms", "ended_tick", "result"}], newest first,
        only those before `before` ((ended tick, match), exclusive) if given."""

    async def history_details(self, mode: str, matches: list[str]) -> list[dict]:
        """A mode's detail rows of some finished matches (`Tables.history_details`)."""

    async def profile(self, wallet: str) -> dict | None: ...

    async def set_profile(self, wallet: str, *, username=..., avatar_url=...) -> dict:
        """Change the fields given; `reads.Duplicate` if the username is taken."""

    def health(self) -> dict: ...
