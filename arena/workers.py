"""`serve --workers N`: one node, several worker processes, each serving one shard world.

The supervisor (this process) starts `N + [cluster] standby_workers` worker
processes (`python -m arena serve --worker-slot <i>`). Every worker claims
the first claimable shard of `[cluster] shards` (arena.persistence.shards:
the lease's claim, with its fencing epoch), recovers that shard's world from
its snapshot and journal, and serves it: on its own port `port + 1 + k`
(shard k) and on the public `port`, which every serving worker of the node
shares with SO_REUSEPORT. A worker that has claimed nothing yet is a
*standby*: it serves nothing and keeps trying to claim a shard whose lease
expired (this node's crashed worker's, or another node's).

The supervisor keeps at least `standby_workers` standbys and at least
`N + standby_workers` workers alive: when a standby claims a shard it starts
a new standby; a worker that dies is replaced (with a backoff when workers
die right after starting). A worker that refuses to start before serving
(schema out of date, a shard the store cannot recover, bad configuration)
stops the node: a restart cannot mend it. SIGTERM or Ctrl-C stops every worker cleanly (each ends its
lease at once, so another node's standby need not wait for it to expire).

Workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group):
they stop on the supervisor's SIGTERM only, so a stop is one orderly signal.

The status pipe: each worker writes `claimed <shard> <epoch>`,
`serving <shard> <port>` and `refused` lines to the descriptor named in
ARENA_WORKER_STATUS_FD; nothing else crosses it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time

import attrs
import trio

log = logging.getLogger("arena.workers")

STATUS_FD = "ARENA_WORKER_STATUS_FD"
STOP_GRACE_S = 20.0  # a worker still running this long after SIGTERM is killed
FAST_EXIT_S = 5.0  # a worker that dies sooner than this after starting backs the restarts off
CHAIN_LEDGERS = ("solana", "bsv")


class WorkersRefused(ValueError):
    """`serve --workers` cannot run with this configuration (the message says why)."""


def worker_count(cfg, requested: int | None) -> int | None:
    """How many shard workers `serve` runs, or None for the single-process server.

    None when `--workers` is not given and `[cluster] shards` is 0 (one world
    in the configured schema, as without clusters), or `--workers 1` without
    shards. Otherwise the number asked for, by default the number of cores.
    Raises `WorkersRefused` when the store or the ledger cannot be sharded.
    """
    shards = cfg.cluster.shards
    if requested is None:
        if shards == 0:
            return None
        requested = os.cpu_count() or 1
    if requested < 1:
        raise WorkersRefused(f"--workers {requested}: at least one worker")
    if requested == 1 and shards == 0:
        return None
    if cfg.store.kind != "postgres":
        raise WorkersRefused(
            f"--workers {requested} needs [store] kind = \"postgres\" (this store is {cfg.store.kind!r}): the "
            "embedded store is one file that one process writes; shard worlds live in PostgreSQL schemas")
    if cfg.ledger.kind in CHAIN_LEDGERS and cfg.ledger.records != "store":
        raise WorkersRefused(
            f"--workers {requested} with [ledger] kind = {cfg.ledger.kind!r} needs [ledger] records = \"store\": "
            "with records in a file beside the node, a shard moved to another node would not find them "
            "(docs/SCALING.md)")
    return requested


def shard_count(cfg, workers: int) -> int:
    return cfg.cluster.shards or workers


def node_name(cfg) -> str:
    return cfg.cluster.node or socket.gethostname()


def shard_port(base_port: int, k: int) -> int:
    """Shard k's own port: clients that must reach that shard's world connect here."""
    return base_port + 1 + k


def worker_url(cfg, base_port: int, k: int) -> str:
    """Where clients reach shard k's worker on this node: `[cluster] advertise`
    (when this build has it and it is set) with the shard's port, else
    ws://<[server] host>:<port + 1 + k>/v1 (the host name for a wildcard host)."""
    from urllib.parse import urlsplit, urlunsplit

    port = shard_port(base_port, k)
    advertised = getattr(cfg.cluster, "advertise", "")
    if advertised:
        u = urlsplit(advertised)
        host = u.hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return urlunsplit(u._replace(netloc=f"{host}:{port}"))
    host = cfg.server.host
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    return f"ws://{host}:{port}/v1"


def shard_config(cfg, k: int, base_port: int):
    """The configuration a worker serving shard k runs with: the shard's
    schema, its own port, its metrics port beside the configured one, a
    fixed seed moved per shard (so match ids differ between shards)."""
    from arena.persistence.shards import shard_dsn

    server = attrs.evolve(cfg.server, port=shard_port(base_port, k),
                          metrics_port=(cfg.server.metrics_port + 1 + k) if cfg.server.metrics_port else 0)
    engine = cfg.engine
    if engine.seed:
        engine = attrs.evolve(engine, seed=engine.seed + k)
    cluster = attrs.evolve(cfg.cluster, node=node_name(cfg))
    # The cluster registry's names for this process (`[cluster] advertise` and
    # `shard`, where this build has them): its own URL and its shard.
    if hasattr(cluster, "advertise"):
        cluster = attrs.evolve(cluster, advertise=worker_url(cfg, base_port, k))
    if hasattr(cluster, "shard"):
        cluster = attrs.evolve(cluster, shard=str(k))
    return attrs.evolve(cfg, server=server, engine=engine, cluster=cluster,
                        store=attrs.evolve(cfg.store, dsn=shard_dsn(cfg.store.dsn, k)))


def say(text: str) -> None:
    print(f"arena: {text}", file=sys.stderr, flush=True)


# --- the worker ---------------------------------------------------------------------------
class _Status:
    def __init__(self):
        fd = os.environ.get(STATUS_FD)
        self.fd = int(fd) if fd else None

    def send(self, line: str) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, (line + "\n").encode())
        except OSError:
            self.fd = None  # the supervisor is gone; the worker serves on until stopped


class _Tag(logging.Filter):
    def __init__(self):
        super().__init__()
        self.fields: dict = {}

    def filter(self, record) -> bool:
        for k, v in self.fields.items():
            setattr(record, k, v)
        return True


def worker_main(args, cfg) -> int:
    """One worker: claim a shard, serve it until SIGTERM or until fenced out."""
    from arena.cli_serve import refusal, tune_gc
    from arena.persistence.lease import LeaseTerms
    from arena.persistence.postgres import PostgresStore
    from arena.persistence.shards import claim_first, shard_dsn
    from arena.persistence.world import holder_info
    from arena.server import ArenaServer

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped by the supervisor's SIGTERM only
    slot = args.worker_slot
    workers = args.workers or 1
    shards = shard_count(cfg, workers)
    base_port = args.port if args.port is not None else cfg.server.port
    tag = _Tag()
    tag.fields = {"worker": slot}
    for h in logging.getLogger().handlers:
        h.addFilter(tag)
    status = _Status()
    me = holder_info()
    ident = f"{node_name(cfg)} worker={slot} pid={me['pid']} host={me['host']}"
    holder: dict = {}

    async def serve() -> None:
        terms = LeaseTerms(owner=ident[:200], ttl_ms=cfg.cluster.lease_ttl_ms)

        def waiting(held):
            log.info("standby: every shard's writer lease is held",
                     extra={"holders": "; ".join(f"shard {k}: {h}" for k, h in sorted(held.items()))})

        k, epoch = await claim_first(cfg.store.dsn, shards, terms, start=slot % shards, on_wait=waiting)
        url = worker_url(cfg, base_port, k)
        # The lease row names the holder's address: where shard k is served now.
        terms = LeaseTerms(owner=f"{ident} shard={k} url={url}"[:200], ttl_ms=cfg.cluster.lease_ttl_ms)
        tag.fields = {"worker": slot, "shard": k}
        store = PostgresStore(shard_dsn(cfg.store.dsn, k), lease=terms)
        store.epoch = epoch  # claimed above: the store starts as the holder of this epoch
        await _name_holder(store, epoch, terms.owner)
        log.info("shard claimed", extra={"shard": k, "epoch": epoch, "url": url})
        status.send(f"claimed {k} {epoch}")
        try:
            server = ArenaServer(shard_config(cfg, k, base_port), store=store)
        except ValueError as exc:  # the configuration: no other worker can serve with it either
            await store.close()  # ends the lease at once
            raise StartRefused(str(exc)) from exc
        server.gateway.shared_ports = (base_port,)
        server.gateway.find_session = session_finder(store, cfg.store.dsn, shards, k)
        holder["server"] = server
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.run)
            await server.started.wait()
            status.send(f"serving {k} {server.port}")
            say(f"worker {slot} serves shard {k} (world {server.state.world}, lease epoch {epoch}) "
                f"at {url}, and the public port {base_port}")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            async def stop_on_term():
                with trio.open_signal_receiver(signal.SIGTERM) as signals:
                    async for _ in signals:
                        nursery.cancel_scope.cancel()
                        return

            nursery.start_soon(stop_on_term)
            await serve()
            nursery.cancel_scope.cancel()

    tune_gc()
    try:
        trio.run(main)
    except OSError as exc:
        say(f"worker {slot} cannot serve: {exc}")
        return 1
    except BaseException as exc:
        why = refusal(exc) or _start_refused(exc)
        if why is None:
            raise
        server = holder.get("server")
        if server is not None and server.started.is_set():
            say(f"worker {slot} stopped: {why}")  # served, then fenced out: another worker serves the shard
        else:
            # Before serving: the configuration or the store is wrong. Say so
            # to the supervisor, which stops the node rather than start
            # worker after worker on it.
            status.send("refused")
            say(f"worker {slot} cannot start: {why}")
        return 2
    return 0


class StartRefused(Exception):
    """A worker cannot serve its claimed shard with this configuration."""


def _start_refused(exc: BaseException) -> str | None:
    from arena.cli_serve import find_error

    found = find_error(exc, (StartRefused,))
    return None if found is None else str(found)


def session_finder(store, dsn: str, shards: int, me: int):
    """The lookup a worker's gateway asks for a session it does not hold:
    which other shard's world has it, and the URL its lease holder named
    (None while nobody holds that shard's lease)."""
    import re

    from arena.persistence.shards import shard_schema

    async def find(session_id: str):
        async def q(conn):
            for j in range(shards):
                if j == me:
                    continue
                schema = shard_schema(dsn, j)
                if await conn.fetchval(f'SELECT 1 FROM "{schema}".sessions WHERE id = $1', session_id):
                    row = await conn.fetchrow(f'SELECT owner, expires_at > now() AS live FROM "{schema}".writer_lease'
                                              " WHERE id = 1")
                    m = re.search(r"url=(\S+)", row["owner"]) if row is not None and row["live"] else None
                    return j, (m.group(1) if m else None)
            return None

        return await store._with_conn(q, transaction=False)

    return find


async def _name_holder(store, epoch: int, owner: str) -> None:
    async def go(conn):
        await conn.execute("UPDATE writer_lease SET owner = $2 WHERE id = 1 AND epoch = $1", epoch, owner)

    store.bridge.start()
    await store._with_conn(go)


# --- the supervisor ----------------------------------------------------------------------
@attrs.define(eq=False)
class Child:
    slot: int
    proc: object
    started: float
    shard: int | None = None
    port: int | None = None
    refused: bool = False  # it said it cannot start (configuration, store)


class Supervisor:
    def __init__(self, args, cfg, workers: int):
        self.args = args
        self.cfg = cfg
        self.workers = workers
        self.shards = shard_count(cfg, workers)
        self.standby = cfg.cluster.standby_workers
        self.children: list[Child] = []
        self.next_slot = 0
        self.stopping = False
        self.refused = False
        self.fast_exits = 0
        self.restart_at = 0.0

    def command(self, slot: int) -> list[str]:
        a = self.args
        cmd = [sys.executable, "-m", "arena", "serve", "--config", a.config, "--log-level", a.log_level,
               "--workers", str(self.workers), "--worker-slot", str(slot)]
        if a.port is not None:
            cmd += ["--port", str(a.port)]
        return cmd

    async def spawn(self, nursery, events) -> None:
        slot, self.next_slot = self.next_slot, self.next_slot + 1
        r, w = os.pipe()
        try:
            proc = await trio.lowlevel.open_process(
                self.command(slot), pass_fds=(w,), env=dict(os.environ, **{STATUS_FD: str(w)}))
        finally:
            os.close(w)
        child = Child(slot=slot, proc=proc, started=time.monotonic())
        say(f"worker {slot} started (pid {proc.pid})")
        self.children.append(child)
        nursery.start_soon(self._watch, child, r, events)

    async def _watch(self, child: Child, fd: int, events) -> None:
        buf = b""
        async with trio.lowlevel.FdStream(fd) as stream:
            while True:
                data = await stream.receive_some(4096)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    await events.send(("status", child, line.decode(errors="replace").split()))
        code = await child.proc.wait()
        await events.send(("exit", child, code))

    def counts(self) -> tuple[int, int]:
        standby = sum(1 for c in self.children if c.shard is None)
        return len(self.children) - standby, standby

    async def top_up(self, nursery, events) -> None:
        """Start workers until there are `standby` standbys and `workers + standby` workers."""
        if self.stopping:
            return
        now = time.monotonic()
        if now < self.restart_at:
            return
        while True:
            serving, standby = self.counts()
            if standby >= self.standby and serving + standby >= self.workers + self.standby:
                return
            await self.spawn(nursery, events)

    def stop_all(self, nursery) -> None:
        if self.stopping:
            return
        self.stopping = True
        for c in self.children:
            if c.proc.returncode is None:
                c.proc.send_signal(signal.SIGTERM)

        async def kill_late():
            await trio.sleep(STOP_GRACE_S)
            for c in self.children:
                if c.proc.returncode is None:
                    say(f"worker {c.slot} did not stop within {STOP_GRACE_S:.0f} s: killed")
                    c.proc.kill()

        nursery.start_soon(kill_late)

    async def run(self) -> int:
        send, recv = trio.open_memory_channel(256)
        async with trio.open_nursery() as nursery:
            async def signals():
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as sigs:
                    async for sig in sigs:
                        say(f"{signal.Signals(sig).name}: stopping every worker")
                        self.stop_all(nursery)

            nursery.start_soon(signals)
            await self.top_up(nursery, send)
            async for kind, child, what in recv:
                if kind == "status":
                    self._status(child, what)
                elif kind == "exit":
                    self._exited(child, what, nursery)
                    if self.stopping and not self.children:
                        break
                    if self.restart_at > time.monotonic():
                        nursery.start_soon(self._wake_later, send, self.restart_at - time.monotonic())
                await self.top_up(nursery, send)
            nursery.cancel_scope.cancel()
        say("stopped: every worker has ended")
        return 2 if self.refused else 0

    @staticmethod
    async def _wake_later(events, delay: float) -> None:
        await trio.sleep(delay)
        await events.send(("wake", None, None))

    def _status(self, child: Child, what: list[str]) -> None:
        if len(what) >= 2 and what[0] == "claimed" and what[1].isdigit():
            child.shard = int(what[1])
            serving, standby = self.counts()
            log.info("worker claimed a shard", extra={"worker": child.slot, "shard": child.shard,
                                                      "serving": serving, "standby": standby})
        elif what == ["refused"]:
            child.refused = True
        elif len(what) >= 3 and what[0] == "serving" and what[2].isdigit():
            child.port = int(what[2])
            self.fast_exits = 0

    def _exited(self, child: Child, code: int, nursery) -> None:
        self.children.remove(child)
        where = f"shard {child.shard}" if child.shard is not None else "no shard (standby)"
        if self.stopping:
            say(f"worker {child.slot} ({where}) stopped (exit status {code})")
            return
        if code == 2 and (child.shard is None or child.refused):
            # It refused before serving: the configuration or the store is wrong.
            say(f"worker {child.slot} refused to start (exit status 2): stopping the node")
            self.refused = True
            self.stop_all(nursery)
            return
        say(f"worker {child.slot} ({where}) exited with status {code}: starting another "
            f"(a standby claims its shard once its lease is free)")
        if time.monotonic() - child.started < FAST_EXIT_S:
            self.fast_exits += 1
            self.restart_at = time.monotonic() + min(10.0, 0.25 * 2 ** self.fast_exits)
        else:
            self.fast_exits = 0


def supervise_main(args, cfg, workers: int) -> int:
    from arena.persistence.shards import migrate_shards, shard_schema

    shards = shard_count(cfg, workers)
    base_port = args.port if args.port is not None else cfg.server.port
    if base_port == 0 or base_port + shards >= 65_536:
        say(f"cannot start: --workers needs a fixed [server] port with room for its shards' ports "
            f"(shard k at port + 1 + k, {shards} shards); this one is {base_port}")
        return 2
    try:
        applied = trio.run(migrate_shards, cfg.store.dsn, shards)
    except Exception as exc:  # noqa: BLE001 - report, do not trace
        say(f"cannot start: migrating the shard schemas failed: {type(exc).__name__}: {exc}")
        return 1
    for k, versions in applied.items():
        if versions:
            say(f"shard {k} ({shard_schema(cfg.store.dsn, k)}): applied migrations {', '.join(map(str, versions))}")
    say(f"node {node_name(cfg)}: {workers} worker(s) + {cfg.cluster.standby_workers} standby over {shards} "
        f"shard(s) ({shard_schema(cfg.store.dsn, 0)} .. {shard_schema(cfg.store.dsn, shards - 1)}); "
        f"public ws://{cfg.server.host}:{base_port}/v1, shard k at port {base_port}+1+k; Ctrl-C stops")
    return trio.run(Supervisor(args, cfg, workers).run)
