"""Wiring persistence into the server (the composition root calls only this).

`ServerPersistence` owns the store, the `Durability` (journal, snapshots,
outbox, recovery), the durable wrapper of the embedded ledger, the Redis
mirror when one is configured, and their supervisors. `ArenaServer` calls:

- `start(nursery)` before it listens: recovery, then the side tasks;
- `record_tick(state, inputs, messages, effects)` each tick: returns the
  effects that may leave now (money waits for durability);
- `refuses(inp)`: True for a new match (queue.join) while the journal buffer
  is over `journal_buffer_max`;
- `health()`.
"""

from __future__ import annotations

import logging

import trio

from arena.engine import inputs as I
from arena.engine.config import settings_pairs
from arena.supervisor import Supervisor

from . import codec
from .durable import Durability
from .ledger import INBOX_INPUTS, inbox_key

log = logging.getLogger("arena.persistence")

LEADERBOARD_REFRESH_S = 30.0
DELIVERED_KEEP = 100_000
# The inputs `refuses` may refuse (new matches); `duplicate` may answer True
# only for `INBOX_INPUTS` (adapter results the inbox may have delivered already).
SHED_INPUTS = frozenset({I.QueueJoin})
UNLIMITED = frozenset({"hello", "ping", "auth.login", "session.resume"})


def make_store(cfg):
    """The store `[store] kind` names."""
    kind = cfg.store.kind
    if kind != "postgres" and cfg.ledger.records == "store" and cfg.ledger.kind != "embedded":
        raise ValueError("[ledger] records = \"store\" needs [store] kind = \"postgres\": the records are kept "
                         "in the world's PostgreSQL schema (docs/SCALING.md)")
    if kind != "postgres" and cfg.cluster.node:
        raise ValueError(f"[cluster] node = {cfg.cluster.node!r} needs [store] kind = \"postgres\": "
                         "nodes share a world through PostgreSQL (docs/SCALING.md)")
    if kind == "embedded":
        from .sqlite import SqliteStore

        return SqliteStore(cfg.store.path)
    if kind == "postgres":
        from .postgres import PostgresStore

        return PostgresStore(cfg.store.dsn, lease=lease_terms(cfg))
    if kind == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    raise ValueError(f"store kind {kind!r} is not available in this build")


def bucket_limits(cfg) -> dict[str, int]:
    """Per wallet and second: a mode request with a bucket of its own
    (`GameRequest.bucket`) is limited to that bucket's rate plus burst
    (`[<mode>] <bucket>_per_s` / `_burst`, `ArenaConfig.buckets`)."""
    from arena.config import bucket_rate
    from arena.engine.registry import registry

    registry.modes()
    out = {}
    for name, (mode, req) in registry.requests.items():
        if req.bucket is not None:
            per_s, burst = bucket_rate(cfg, mode, req.bucket)
            out[name] = per_s + burst
    return out


def lease_terms(cfg):
    """The writer lease a named node holds its world under, or None (a single node)."""
    if not cfg.cluster.node:
        return None
    from .lease import LeaseTerms
    from .world import holder_info

    me = holder_info()
    return LeaseTerms(owner=f"{cfg.cluster.node} pid={me['pid']} host={me['host']}"[:200],
                      ttl_ms=cfg.cluster.lease_ttl_ms)


class ServerPersistence:
    def __init__(self, server, cfg, store=None, redis=None):
        self.server = server
        self.cfg = cfg
        self.store = store if store is not None else make_store(cfg)
        from .lease import FencedOut

        # A fenced-out write is final: the server must stop, not retry it.
        self.supervisor = Supervisor("store", failure_threshold=3, reset_after=2.0, backoff_max=2.0,
                                     fatal=(FencedOut,))
        self.durability = Durability(
            self.store,
            snapshot_every_ticks=cfg.store.snapshot_every_ticks,
            keep_snapshots=cfg.store.keep_snapshots,
            journal_buffer_max=cfg.store.journal_buffer_max,
            supervisor=self.supervisor,
            tick_hz=cfg.server.tick_hz,
            week_zone=cfg.leaderboards.week_zone,
        )
        self.redis = redis
        self.delivered: dict[str, None] = {}  # inbox keys handed to the engine (insertion-ordered)
        if self.redis is None and getattr(cfg, "redis", None) is not None and cfg.redis.url:
            from .redis_mirror import RedisMirror

            self.redis = RedisMirror(cfg.redis.url, ttl_ms=cfg.net.session_ttl_ms, prefix=cfg.redis.key_prefix)
        # Per-wallet request limits, decided in the process; shared over nodes through Redis.
        from .redis_mirror import WalletRateLimits

        net = cfg.net
        self.rate_limits = WalletRateLimits(
            bucket_limits(cfg), default=net.requests_per_s + net.request_burst)
        if self.redis is not None:
            self.redis.rate_limits = self.rate_limits
            self.rate_limits.shared = True
        self._take = self.rate_limits.take

    @property
    def supervisors(self) -> dict:
        out = {"store": self.supervisor}
        if self.redis is not None:
            out["redis"] = self.redis.supervisor
        return out

    async def start(self, nursery) -> None:
        srv = self.server
        self._nursery = nursery
        state, redo, feed = await self.durability.recover(srv.state, sessions=srv.gateway.sessions)
        if not self.durability.recovered.get("fresh"):
            feed = self._settings_changes(state.config, srv.state.config) + feed
        srv.state = state
        srv.ledger = await self._durable_ledger(srv.ledger)
        for inp in feed:
            if inbox_key(inp) is not None:
                self.deliver_result(inp)
            else:
                srv.submit(inp, force=True)
        self.durability.release = srv._dispatch_one
        for eff in redo:
            srv._dispatch_one(eff)
        nursery.start_soon(self.supervisor.run, self.durability.writer)
        if getattr(self.store, "epoch", None) is not None:
            nursery.start_soon(self._keep_lease)
        nursery.start_soon(self._refresh_leaderboard)
        if self.redis is not None:
            await self.redis.start(nursery, srv)

    async def _keep_lease(self) -> None:
        """Renew the writer lease; when another node has taken it, end the server.

        A renewal the database cannot answer is retried: while it fails, a
        successor may claim the lease, and then this node's writes are
        refused and its next renewal ends it. It never writes meanwhile.
        """
        from .lease import FencedOut

        store = self.store
        while True:
            await trio.sleep(store.lease.renew_every_s)
            try:
                await store.renew_lease()
            except FencedOut:
                log.error("writer lease lost: stopping", extra={"owner": store.lease.owner})
                raise
            except Exception:  # noqa: BLE001 - the database is unreachable: try again
                log.warning("writer lease renewal failed", exc_info=True)

    @staticmethod
    def _settings_changes(recovered, configured) -> list:
        """Each mode's settings in config.toml, where they differ from the
        recovered state's: as `SettingsChanged` inputs, so the change is
        journaled and a replay makes it at the same tick. The tick rate and
        the seed cannot change for a store."""
        if recovered.tick_hz != configured.tick_hz:
            log.warning("the store was started at another tick rate; it keeps its own",
                        extra={"store_tick_hz": recovered.tick_hz, "config_tick_hz": configured.tick_hz})
        feed = []
        for name, want in configured.modes.items():
            have = recovered.modes.get(name)
            if have == want or type(have) is not type(want):
                continue
            old, new = dict(settings_pairs(have)), settings_pairs(want)
            changed = {k: v for k, v in new if old.get(k) != v}
            log.info("mode settings changed in config.toml: they apply from now on",
                     extra={"mode": name, "changed": changed})
            feed.append(I.SettingsChanged(name, new))
        return feed

    async def _durable_ledger(self, ledger):
        from arena.chain.embedded import EmbeddedLedger

        from .ledger import DurableLedger

        if not isinstance(ledger, EmbeddedLedger):
            # A chain keeps its own books; what it confirms reaches the engine
            # through the store's inbox (`announce`), never straight. Its
            # records serve one world: bound (or refused) before any use.
            from .chain_inbox import ChainAnnouncements

            bind = getattr(ledger, "bind_world", None)
            if self.cfg.ledger.records == "store" and getattr(ledger, "store", None) is not None:
                from arena.chain.pg_records import PgRecordStore

                ledger.store.close()  # the placeholder it was made with
                ledger.store = PgRecordStore(self.store)
            if bind is not None:
                rec = self.durability.recovered
                await bind(rec["world"], legacy=rec.get("legacy", False))

            return ChainAnnouncements(ledger, self.announce)
        durable = DurableLedger(ledger, self.store, self.supervisor, deliver=self.deliver_result)
        await durable.restore()
        self._nursery.start_soon(durable.writer)
        return durable

    async def _refresh_leaderboard(self) -> None:
        while True:
            await trio.sleep(LEADERBOARD_REFRESH_S)
            try:
                await self.store.refresh_leaderboard()
            except Exception as exc:  # noqa: BLE001 - a stale leaderboard is no emergency
                log.warning("leaderboard refresh failed", extra={"error": str(exc)[:200]})

    def record_tick(self, state, inputs, messages, effects) -> list:
        out = self.durability.record_tick(state, inputs, messages, effects)
        if self.redis is not None:
            self.redis.record_tick(state, messages)
        return out

    def wallet_rate_limit(self, wallet: str, action: str) -> int:
        if action in UNLIMITED:
            return 0
        return self._take(wallet, action)

    def deliver_result(self, inp) -> None:
        """An adapter result the store holds in its inbox: to the engine, once."""
        key = inbox_key(inp)
        if key in self.delivered:
            return
        self.delivered[key] = None
        if len(self.delivered) > DELIVERED_KEEP:
            self.delivered.pop(next(iter(self.delivered)))
        self.server.take(inp)

    async def announce(self, inp) -> bool:
        """A payment result a chain reports (`EntryFeePaid`, `TipSent`): into the
        store's inbox first, then to the engine, exactly once.

        The inbox row is the arbiter: of every announcement of one payment (the
        confirm call's, the chain watcher's, a re-announcement after a crash)
        only the one that adds the row hands the input over; a row that exists
        was handed over already, or is fed again by recovery until the engine
        has consumed it. Raises if the store cannot take it (the caller retries).
        True if this announcement is the one that handed the input over.
        """
        key = inbox_key(inp)
        if key is None:
            raise TypeError(f"{type(inp).__name__} is not a payment result")
        if key in self.delivered:
            return False  # this process handed it over already
        if await self.store.add_inbox(key, codec.encode_inputs([inp])):
            self.deliver_result(inp)
            return True
        return False

    def duplicate(self, inp) -> bool:
        """True for an adapter result already handed to the engine by `deliver_result`."""
        if type(inp) not in INBOX_INPUTS:
            return False
        return inbox_key(inp) in self.delivered

    def refuses(self, inp) -> bool:
        """True for a request that would start new work while the store is behind."""
        return type(inp) in SHED_INPUTS and self.durability.shedding

    def health(self) -> dict:
        h = self.durability.health()
        h["wallet_rate_limited"] = self.rate_limits.refused
        if self.redis is not None:
            h["redis"] = self.redis.health()
        return h
