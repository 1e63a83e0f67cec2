"""Serving processes acting as one cluster through Redis (docs/SCALING.md).

A *serving process* (a node, or one worker of a node) holds one world (its
own PostgreSQL schema under its own writer lease) and listens on one
advertised WebSocket URL. With `[cluster] node` and `[redis] url` set, each
one runs a `Cluster`, which gives the processes, through Redis only (no
protocol of their own between them):

- a **registry**: `node:{name}`, a hash with the URL, world, shard and a
  per-process `instance` id, whose TTL the heartbeat refreshes (three
  heartbeats): a dead process's entry vanishes by itself;
- a **match directory**: `match:{id}` -> owning node and URL, written when
  a match appears in the world (created, recovered after a restart or a
  takeover: the new owner overwrites), refreshed by the heartbeat, deleted
  when the match ends;
- **shared matchmaking**: a `queue.join` for a mode that names a shared
  queue (`Mode.shared_queue`) goes into the sorted set `queue:{mode}:{queue}`
  (in join order) instead of the local engine; a Lua script takes exactly
  one pair out at a time, atomically, skipping (and dropping) entries whose
  home process is gone; the process that took the pair out feeds its engine
  a journaled `MatchPaired`, and the mode creates the match there;
- **seat reservations**: a `match.found` for a wallet not connected to the
  owning process gets a `seat` (the owner's URL and a one-time token,
  `seat:{token}`, expiring after `seat_ttl_ms`); the client connects there
  and sends `auth.seat`, which uses the token up and logs the wallet in;
- **cross-process events**: an event for a wallet with no session here is
  published to the channel `events:{node}` of every process where the
  wallet is present (`presence:{wallet}`), which hands it to the wallet's
  sessions there: a tip, a balance event, a `match.found`;
- **relays** (`Mode.relay`: one big match, one owner, watchers everywhere):
  the first world to claim `relay_world:{match}` holds the match for good;
  the process serving that world is its owner (`relay:{match}`, refreshed
  by the heartbeat, rewritten by a successor after a takeover) and
  publishes the relayed events' tails, numbered, on `relayed:{match}`;
  its latest view (`Mode.relay_view`) is in `relay_view:{match}` with the
  number it includes. Every other process subscribes, answers the mode's
  `join` from the view plus the numbered events after it, and hands each
  relayed event to its local watchers; the mode's other requests are
  refused there with the owner's URL (`MatchElsewhere`).

Every key is under `[redis] key_prefix` + "cluster:". Redis calls run on
their own asyncio thread (`aiobridge`), off the tick; what the tick hands
over (`outgoing`, `forward`) is queued and written in order by one task, so
a seat is in Redis before the `match.found` naming it is published. The
scripts name keys they build from their arguments: single-instance Redis
(or one hash slot), not Redis Cluster.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import time
from collections import deque

import msgpack
import trio

from arena.engine import inputs as I
from arena.engine.context import Ctx
from arena.engine.errors import AUTH_FAILED, BAD_REQUEST, DUPLICATE, NOT_FOUND, OVERLOADED, WRONG_STATE, ArenaError
from arena.engine.outputs import Event
from arena.engine.registry import registry
from arena.supervisor import Supervisor

from .aiobridge import AsyncioThread

log = logging.getLogger("arena.cluster")

SEAT_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_QUEUED_OPS = 50_000
# The fields of an entry of `queued`, tab-separated (wallets, modes, queue
# and node names hold no tab: `_plain` refuses one).
SEP = "\t"

# KEYS: queued, queue, queues, sequence. ARGV: wallet, entry, (unused), node-key prefix,
# playing-key prefix, queue-key prefix. The score is Redis's own counter, not
# a process's clock: first come, first paired, whatever the clocks say.
# An entry whose home process is gone (no registry entry with its instance) is replaced.
JOIN = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local f = {}
  for part in string.gmatch(old, '[^\\t]+') do f[#f + 1] = part end
  if redis.call('HGET', ARGV[4] .. f[3], 'instance') == f[4] then
    return {'queued', f[1] .. ':' .. f[2]}
  end
  redis.call('ZREM', ARGV[6] .. f[1] .. ':' .. f[2], ARGV[1])
end
local playing = redis.call('GET', ARGV[5] .. ARGV[1])
if playing then return {'playing', playing} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1])
redis.call('SADD', KEYS[3], KEYS[2])
return {'ok', ''}
"""

# KEYS: queued, queue. ARGV: node-key prefix, pair size, dropped-list prefix.
# Takes the `size` oldest entries whose home process is alive out of the
# queue, or nothing; entries of dead processes met on the way are dropped,
# and noted in `dropped:{node}` (a process only stalled finds them there
# when it is back, and queues its still-connected wallets again).
PAIR = """
local size = tonumber(ARGV[2])
local live = {}
local offset = 0
while #live < 2 * size do
  local head = redis.call('ZRANGE', KEYS[2], offset, offset)
  if #head == 0 then break end
  local w = head[1]
  local e = redis.call('HGET', KEYS[1], w)
  local ok = false
  if e then
    local f = {}
    for part in string.gmatch(e, '[^\\t]+') do f[#f + 1] = part end
    ok = redis.call('HGET', ARGV[1] .. f[3], 'instance') == f[4]
  end
  if ok then
    live[#live + 1] = w
    live[#live + 1] = e
    offset = offset + 1
  else
    redis.call('ZREM', KEYS[2], w)
    if e then
      redis.call('HDEL', KEYS[1], w)
      local f = {}
      for part in string.gmatch(e, '[^\t]+') do f[#f + 1] = part end
      redis.call('RPUSH', ARGV[3] .. f[3], w .. '\t' .. e)
      redis.call('PEXPIRE', ARGV[3] .. f[3], 600000)
    end
  end
end
if #live < 2 * size then return {} end
for i = 1, #live, 2 do
  redis.call('ZREM', KEYS[2], live[i])
  redis.call('HDEL', KEYS[1], live[i])
end
return live
"""

# KEYS: queued. ARGV: wallet, queue-key prefix, node ("" = any). 1 if it was queued.
LEAVE = """
local e = redis.call('HGET', KEYS[1], ARGV[1])
if not e then return 0 end
local f = {}
for part in string.gmatch(e, '[^\\t]+') do f[#f + 1] = part end
if ARGV[3] ~= '' and f[3] ~= ARGV[3] then return 0 end
redis.call('ZREM', ARGV[2] .. f[1] .. ':' .. f[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

# KEYS: seat. ARGV: node, instance. The seat's fields, used up, if it is this
# process's; {'elsewhere', node} (kept: the right process may still take it)
# if another's; {} if there is none (unknown, used or expired).
CLAIM_SEAT = """
local s = redis.call('HGETALL', KEYS[1])
if #s == 0 then return {} end
local f = {}
for i = 1, #s, 2 do f[s[i]] = s[i + 1] end
if f['node'] ~= ARGV[1] or f['instance'] ~= ARGV[2] then return {'elsewhere', f['node'] or ''} end
redis.call('DEL', KEYS[1])
return {'seat', f['wallet'], f['match'], f['expires_ms']}
"""

# ARGV: presence-key prefix, channel prefix, this node, then (wallet, payload) pairs.
# Each payload goes to the channel of every other node the wallet is present on.
FORWARD = """
local sent = 0
for i = 4, #ARGV, 2 do
  local nodes = redis.call('HKEYS', ARGV[1] .. ARGV[i])
  for _, n in ipairs(nodes) do
    if n ~= ARGV[3] then
      sent = sent + redis.call('PUBLISH', ARGV[2] .. n, ARGV[i + 1])
    end
  end
end
return sent
"""


# KEYS: relay_world:{match}, relay:{match}. ARGV: world, node, url, instance, ttl ms.
# The first world to ask holds the match for good; its process (re)writes
# the owner entry. '' when this process is the owner, else the owning world.
CLAIM_RELAY = """
local w = redis.call('GET', KEYS[1])
if not w then
  redis.call('SET', KEYS[1], ARGV[1])
  w = ARGV[1]
end
if w ~= ARGV[1] then return w end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'world', ARGV[1], 'node', ARGV[2], 'url', ARGV[3], 'instance', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return ''
"""

RELAY_BACKLOG = 4096  # relayed messages a non-owner keeps per match, for joins
RELAY_JOIN_TRIES = 4  # heartbeats a join waits for a view it can serve (at least RELAY_JOIN_WAIT_S)
RELAY_JOIN_WAIT_S = 3.0
RELAY_RESYNC_TRIES = 10  # views a resync of watchers tries before it gives up on them


class MatchElsewhere(ArenaError):
    """A request for a relayed match sent to a process that does not hold it: where to send it."""

    def __init__(self, what: str, owner: dict | None):
        url, node = (owner or {}).get("url", ""), (owner or {}).get("node", "")
        where = f"node {node} at {url}" if url else "another process (not registered right now)"
        super().__init__(NOT_FOUND, f"{what}: the match is held by {where}: send it there")
        self.url = url
        self.node = node

    def body(self) -> dict:
        return {**super().body(), "url": self.url, "node": self.node}


class _Backlog:
    """A non-owner's recent relayed messages of one match from one owner
    instance, numbered without gaps from `first` to `last`."""

    __slots__ = ("instance", "first", "last", "items")

    def __init__(self, instance: str, seq: int):
        self.instance = instance
        self.first = seq
        self.last = seq - 1
        self.items: deque = deque()  # (seq, types, tails)


def _plain(value: str, what: str) -> str:
    if not value or SEP in value or len(value) > 200:
        raise ValueError(f"{what} must be a non-empty name without tabs, got {value!r}")
    return value


def parse_entry(entry: str) -> dict:
    mode, queue, node, instance, at = entry.split(SEP)
    return {"mode": mode, "queue": queue, "node": node, "instance": instance, "at_ms": int(at)}


class Cluster:
    def __init__(self, url: str, *, node: str, advertise: str, prefix: str = "", heartbeat_ms: int = 1000,
                 seat_ttl_ms: int = 15_000, shard: str = "", bridge: AsyncioThread | None = None,
                 wall_ms=None):
        self.url = url
        # The process's name in the registry: the node, or `<node>/<shard>`
        # when the node serves several shard worlds (one per process).
        self.node = _plain(f"{node}/{shard}" if shard else node, "[cluster] node")
        self.node_name = node
        self.advertise = advertise  # "" until the port is known (`start`)
        self.prefix = prefix + "cluster:"
        self.heartbeat_s = heartbeat_ms / 1000
        self.ttl_ms = 3 * heartbeat_ms
        self.seat_ttl_ms = seat_ttl_ms
        self.shard = shard
        self.instance = secrets.token_hex(8)  # this process: a restart under the same name is another
        self.bridge = bridge or AsyncioThread("arena-cluster")
        self.wall_ms = wall_ms or (lambda: time.time_ns() // 1_000_000)
        self.supervisor = Supervisor("cluster", failure_threshold=2, reset_after=2.0, backoff_max=2.0)
        self.client = None
        self.server = None
        self.ops: list[tuple] = []  # Redis writes in order: seats, directory, presence, forwards
        self.forwards: dict[str, list[bytes]] = {}  # wallet -> event tails for it elsewhere
        self.directory: dict[str, tuple] = {}  # match id -> players, as written
        self.present: set[str] = set()  # wallets with a connection here
        self._wake = trio.Event()
        self._scripts: dict[str, object] = {}
        self.stats = {"joins": 0, "pairs": 0, "seats": 0, "seats_claimed": 0, "seats_refused": 0,
                      "forwarded": 0, "received": 0, "failures": 0, "dropped_ops": 0}
        self.connected = False
        # Relays (`Mode.relay`): match id -> (mode name, Relay); filled at start.
        self.relays: dict[str, tuple] = {}
        self.relay_types: dict[str, str] = {}  # owner: relayed event type -> match (owned matches only)
        self.owned: set[str] = set()  # relayed matches this process holds
        self.relay_owner: dict[str, dict] = {}  # non-owner: match -> the owner's entry, as last read
        self.relay_up = False  # subscribed to every relayed match's channel
        self.relay_seq: dict[str, int] = {}  # owner: messages numbered so far, per match
        self.relay_viewed: dict[str, int] = {}  # owner: the number the last written view includes
        self.relay_pending: dict[str, tuple[list, list]] = {}  # owner: match -> (types, tails) not yet numbered
        self.backlog: dict[str, _Backlog] = {}  # non-owner
        # non-owner: match -> {session id: the number after which it gets events, None while joining}
        self.watching: dict[str, dict] = {}

    def k(self, key: str) -> str:
        return self.prefix + key

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self, nursery, server) -> None:
        """Register, then run the heartbeat, the writer and the listener."""
        self.server = server
        if not self.advertise:
            self.advertise = f"ws://{server.cfg.server.host}:{server.port}/v1"
        self.bridge.start()
        try:
            await self._call(self._register)
            log.info("cluster: registered", extra={"node": self.node, "url": self.advertise,
                                                   "world": server.state.world, "shard": self.shard})
        except Exception as exc:  # noqa: BLE001 - serve anyway; the heartbeat registers once Redis answers
            log.warning("cluster: redis unreachable at start; registering at the next heartbeat",
                        extra={"error": str(exc)[:200]})
        self.sync_directory(server.state, full=True)
        for mode in registry.modes().values():
            if mode.relay is not None:
                self.relays[mode.relay.match] = (mode.name, mode.relay)
        if self.relays:
            try:
                await self._claim_relays()
            except Exception as exc:  # noqa: BLE001 - the heartbeat claims once Redis answers
                log.warning("cluster: relays not claimed at start", extra={"error": str(exc)[:200]})
            nursery.start_soon(self.supervisor.run, self._listen_relays)
        nursery.start_soon(self.supervisor.run, self._heartbeat)
        nursery.start_soon(self.supervisor.run, self._writer)
        nursery.start_soon(self.supervisor.run, self._listen)

    async def _client(self):
        import redis.asyncio as aredis

        if self.client is None:
            self.client = aredis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
            for name, text in (("join", JOIN), ("pair", PAIR), ("leave", LEAVE), ("claim", CLAIM_SEAT)):
                self._scripts[name] = self.client.register_script(text)
        return self.client

    async def _call(self, fn, *args):
        try:
            out = await self.bridge.call(fn, *args)
        except Exception:
            self.connected = False
            self.stats["failures"] += 1
            raise
        self.connected = True
        return out

    def _registration(self) -> dict:
        state = self.server.state
        return {"url": self.advertise, "node": self.node_name, "world": state.world or "", "shard": self.shard,
                "instance": self.instance, "pid": os.getpid(), "host": socket.gethostname(),
                "heartbeat_ms": self.wall_ms()}

    async def _register(self) -> None:
        r = await self._client()
        key = self.k(f"node:{self.node}")
        pipe = r.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=self._registration())
        pipe.pexpire(key, self.ttl_ms)
        pipe.zadd(self.k("nodes"), {self.node: self.wall_ms()})
        await pipe.execute()

    async def _heartbeat(self) -> None:
        """Refresh the registry, this process's presence and directory keys,
        and offer every shared queue a pairing (entries of dead processes are
        dropped on the way)."""
        try:
            while True:
                await trio.sleep(self.heartbeat_s)
                self.sync_directory(self.server.state)
                if await self._call(self._beat, dict(self.directory), sorted(self.present)):
                    # Registered anew (a stall, or Redis lost its data): the
                    # directory entries may have expired with the registry.
                    self.sync_directory(self.server.state, full=True)
                if self.relays:
                    await self._claim_relays()
                    self._relay_views()
                await self.requeue_dropped()
                await self.sweep()
        except trio.Cancelled:
            # A clean stop leaves the registry at once (a crash: after three
            # heartbeats; a Redis failure: the supervisor restarts this loop).
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                try:
                    await self.bridge.call(self._deregister, sorted(self.present))
                except Exception:  # noqa: BLE001 - the entries expire anyway
                    pass
            raise

    async def _deregister(self, present: list) -> None:
        r = await self._client()
        key = self.k(f"node:{self.node}")
        mine = await r.hget(key, "instance")
        if mine is not None and mine.decode() == self.instance:
            pipe = r.pipeline(transaction=False)
            pipe.delete(key)
            for w in present:
                pipe.hdel(self.k(f"presence:{w}"), self.node)
            await pipe.execute()

    async def _beat(self, directory: dict, present: list) -> bool:
        """One heartbeat's writes; True when this process had to register anew."""
        r = await self._client()
        key = self.k(f"node:{self.node}")
        mine = await r.hget(key, "instance")
        pipe = r.pipeline(transaction=False)
        anew = mine is None or mine.decode() != self.instance
        if anew:
            # Expired (a stall longer than three heartbeats) or taken by a
            # process of the same name: register again as this instance.
            if mine is not None:
                self.stats["name_clashes"] = self.stats.get("name_clashes", 0) + 1
                log.error("cluster: another live process registered under this name; give each serving "
                          "process its own [cluster] node (or shard)", extra={"node": self.node})
            pipe.delete(key)
        pipe.hset(key, mapping=self._registration())
        pipe.pexpire(key, self.ttl_ms)
        now = self.wall_ms()
        pipe.zadd(self.k("nodes"), {self.node: now})
        pipe.zremrangebyscore(self.k("nodes"), 0, now - 10 * self.ttl_ms)
        for mid, players in directory.items():
            pipe.pexpire(self.k(f"match:{mid}"), self.ttl_ms)
            for p in players:
                pipe.pexpire(self.k(f"playing:{p}"), self.ttl_ms)
        for w in present:
            pkey = self.k(f"presence:{w}")
            pipe.hset(pkey, self.node, self.instance)
            pipe.pexpire(pkey, self.ttl_ms)
        await pipe.execute()
        return anew

    async def _writer(self) -> None:
        while True:
            with trio.move_on_after(self.heartbeat_s):
                await self._wake.wait()
            self._wake = trio.Event()
            await self.flush()

    async def flush(self) -> None:
        self._forwards_to_ops()
        if self.relay_pending:
            self._seal_relayed()
        ops, self.ops = self.ops, []
        if not ops:
            return
        try:
            await self._call(self._apply, ops)
        except Exception:
            # Kept for the retry, in order (the supervisor restarts the writer).
            self.ops = ops + self.ops
            raise

    def _forwards_to_ops(self) -> None:
        if self.forwards:
            pairs = []
            for wallet, tails in self.forwards.items():
                pairs += [wallet, msgpack.packb([wallet, tails], use_bin_type=True)]
            self.stats["forwarded"] += len(self.forwards)
            self.forwards = {}
            self._op("forward", pairs)

    async def _apply(self, ops: list) -> None:
        r = await self._client()
        pipe = r.pipeline(transaction=False)
        for op in ops:
            kind = op[0]
            if kind == "seat":
                _, token, fields = op
                pipe.hset(self.k(f"seat:{token}"), mapping=fields)
                pipe.pexpire(self.k(f"seat:{token}"), self.seat_ttl_ms)
            elif kind == "match":
                _, mid, fields, players = op
                key = self.k(f"match:{mid}")
                pipe.delete(key)
                pipe.hset(key, mapping=fields)
                pipe.pexpire(key, self.ttl_ms)
                for p in players:
                    pipe.set(self.k(f"playing:{p}"), mid, px=self.ttl_ms)
            elif kind == "unmatch":
                _, mid, players = op
                pipe.delete(self.k(f"match:{mid}"))
                for p in players:
                    # only if it still names this match (the wallet may play elsewhere now)
                    pipe.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"
                              " return 0", 1, self.k(f"playing:{p}"), mid)
            elif kind == "present":
                pkey = self.k(f"presence:{op[1]}")
                pipe.hset(pkey, self.node, self.instance)
                pipe.pexpire(pkey, self.ttl_ms)
            elif kind == "absent":
                pipe.hdel(self.k(f"presence:{op[1]}"), self.node)
            elif kind == "forward":
                pipe.eval(FORWARD, 0, self.k("presence:"), self.k("events:"), self.node, *op[1])
            elif kind == "relay":
                _, match, seq, payload = op
                pipe.set(self.k(f"relay_seq:{match}"), f"{self.instance}:{seq}")
                pipe.publish(self.k(f"relayed:{match}"), payload)
            elif kind == "view":
                _, match, payload = op
                pipe.set(self.k(f"relay_view:{match}"), payload)
        await pipe.execute()

    def _op(self, *op) -> None:
        if len(self.ops) >= MAX_QUEUED_OPS:
            self.stats["dropped_ops"] += 1
            return
        self.ops.append(op)
        self._wake.set()

    # --- the tick's hand-overs ----------------------------------------------------------------
    def outgoing(self, messages: list) -> list:
        """This tick's messages, with a seat reservation added to each
        `match.found` for a wallet with no connection here (it must come to
        this process to play). Called before the gateway delivers them."""
        out = None
        for i, m in enumerate(messages):
            if m.__class__ is not Event or m.type != "match.found":
                continue
            if out is None:
                out = list(messages)
            out[i] = [self._seated(wallet, m.body) for wallet in m.to]
        if out is None:
            return messages
        flat = []
        for m in out:
            if isinstance(m, list):
                flat.extend(m)
            else:
                flat.append(m)
        return flat

    def _seated(self, wallet: str, body: dict) -> Event:
        mid = body.get("match")
        if self._connected_here(wallet) or not isinstance(mid, str):
            return Event((wallet,), "match.found", body)
        token = secrets.token_urlsafe(24)
        expires = self.wall_ms() + self.seat_ttl_ms
        self._op("seat", token, {"wallet": wallet, "match": mid, "node": self.node, "instance": self.instance,
                                 "expires_ms": expires})
        self.stats["seats"] += 1
        seat = {"url": self.advertise, "token": token, "expires_at_ms": expires, "node": self.node}
        return Event((wallet,), "match.found", {**body, "seat": seat})

    def _connected_here(self, wallet: str) -> bool:
        sessions = self.server.gateway.sessions.by_wallet.get(wallet)
        return bool(sessions) and any(s.conn is not None for s in sessions.values())

    def forward(self, wallet: str, tail: bytes) -> None:
        """An event for a wallet with no session here: to wherever it is present."""
        tails = self.forwards.get(wallet)
        if tails is None:
            self.forwards[wallet] = [tail]
            self._wake.set()
        elif len(tails) < 1024:
            tails.append(tail)

    def sync_directory(self, state, full: bool = False) -> None:
        """The match directory after this tick: new matches written (every
        one with `full`: after recovery or a takeover this process is their
        owner now), ended ones removed."""
        matches = state.matches
        directory = self.directory
        if not full and len(matches) == len(directory) and all(mid in matches for mid in directory):
            return
        self._sync(state, full)

    def tick_done(self, state) -> None:
        """After each tick: the directory, when the number of matches moved
        (cheap; the heartbeat catches an end and a start within one tick)."""
        if len(state.matches) != len(self.directory):
            self._sync(state, False)

    def _sync(self, state, full: bool) -> None:
        matches = state.matches
        directory = self.directory
        for mid in [mid for mid in directory if mid not in matches]:
            self._op("unmatch", mid, directory.pop(mid))
        for mid, match in matches.items():
            if full or mid not in directory:
                players = tuple(getattr(match, "players", ()))
                directory[mid] = players
                self._op("match", mid, {"node": self.node, "url": self.advertise, "world": state.world or "",
                                        "shard": self.shard, "mode": match.mode,
                                        "players": ",".join(players)}, players)

    def wallet_present(self, wallet: str) -> None:
        self.present.add(wallet)
        self._op("present", wallet)

    def wallet_absent(self, wallet: str) -> None:
        """The wallet's last connection here dropped: no more events for it
        here, and out of the shared queue it joined through this process."""
        self.present.discard(wallet)
        self._op("absent", wallet)
        if self.server is not None and self.server.gateway._nursery is not None:
            self.server.gateway._nursery.start_soon(self._leave_quietly, wallet)

    async def _leave_quietly(self, wallet: str) -> None:
        try:
            await self.leave(wallet, only_here=True)
        except Exception as exc:  # noqa: BLE001 - the entry dies with this process's heartbeat anyway
            log.warning("cluster: queue entry not removed", extra={"wallet": wallet, "error": str(exc)[:200]})

    # --- matchmaking -------------------------------------------------------------------------
    async def join(self, wallet: str, mode: str, queue: str) -> None:
        """Queue `wallet`, then try to pair its queue. Raises ArenaError as
        the engine's own queue would (already queued, already playing)."""
        _plain(mode, "mode"), _plain(queue, "queue")
        entry = SEP.join((mode, queue, self.node, self.instance, str(self.wall_ms())))
        status, detail = await self._call(self._join, wallet, mode, queue, entry)
        if status == "queued":
            raise ArenaError(DUPLICATE, f"already queued in {detail}")
        if status == "playing":
            raise ArenaError(WRONG_STATE, f"already in battle {detail}")
        self.stats["joins"] += 1
        await self.pair(mode, queue)

    async def _join(self, wallet, mode, queue, entry):
        await self._client()
        out = await self._scripts["join"](
            keys=[self.k("queued"), self.k(f"queue:{mode}:{queue}"), self.k("queues"), self.k("queue_seq")],
            args=[wallet, entry, self.wall_ms(), self.k("node:"), self.k("playing:"), self.k("queue:")])
        return out[0].decode(), out[1].decode()

    async def leave(self, wallet: str, only_here: bool = False) -> bool:
        return bool(await self._call(self._leave, wallet, self.node if only_here else ""))

    async def _leave(self, wallet, node):
        await self._client()
        return await self._scripts["leave"](keys=[self.k("queued")], args=[wallet, self.k("queue:"), node])

    async def pair(self, mode: str, queue: str) -> int:
        """Take pairs out of one shared queue until none is left; each pair is
        a `MatchPaired` fed to this process's engine. The number of pairs."""
        m = registry.get(mode)
        if m is None:
            return 0
        n = 0
        while True:
            popped = await self._call(self._pair, mode, queue, m.pair_size)
            if not popped:
                return n
            players = tuple(popped[i].decode() for i in range(0, len(popped), 2))
            self.stats["pairs"] += 1
            n += 1
            log.info("cluster: paired", extra={"mode": mode, "queue": queue, "players": list(players)})
            # force: the pair has left Redis; the engine must hear of it even under load
            self.server.submit(I.MatchPaired(mode, queue, players), force=True)

    async def _pair(self, mode, queue, size):
        await self._client()
        key = self.k(f"queue:{mode}:{queue}")
        return await self._scripts["pair"](keys=[self.k("queued"), key], args=[self.k("node:"), size, self.k("dropped:")])

    async def requeue_dropped(self) -> int:
        """Entries of this process that a pairing dropped while it seemed dead
        (it stalled past three heartbeats): each wallet still connected here
        is queued again (at the back; a wallet queued elsewhere meanwhile
        stays there). The number queued again."""
        items = await self._call(self._take_dropped)
        n = 0
        for item in items:
            wallet, _, entry = item.decode().partition(SEP)
            try:
                e = parse_entry(entry)
            except ValueError:
                continue
            if e["instance"] != self.instance or not self._connected_here(wallet):
                continue
            try:
                await self.join(wallet, e["mode"], e["queue"])
                n += 1
            except ArenaError:
                pass  # queued or playing elsewhere by now
        return n

    async def _take_dropped(self):
        r = await self._client()
        key = self.k(f"dropped:{self.node}")
        pipe = r.pipeline(transaction=True)
        pipe.lrange(key, 0, -1)
        pipe.delete(key)
        items, _ = await pipe.execute()
        return items

    async def sweep(self) -> None:
        """Every shared queue gets a pairing attempt (a pair whose second
        member arrived while its first's process was busy, entries of dead
        processes to drop)."""
        keys = await self._call(self._queues)
        cut = len(self.k("queue:"))
        for key in keys:
            mode, _, queue = key.decode()[cut:].partition(":")
            if registry.get(mode) is not None:
                await self.pair(mode, queue)

    async def _queues(self):
        r = await self._client()
        return await r.smembers(self.k("queues"))

    # --- seats ---------------------------------------------------------------------------------
    async def claim_seat(self, token) -> tuple[str, str]:
        """(wallet, match) of a seat reservation of this process, used up;
        ArenaError otherwise (malformed, unknown, used, expired, another's)."""
        if not isinstance(token, str) or not SEAT_TOKEN_RE.match(token):
            self.stats["seats_refused"] += 1
            raise ArenaError(BAD_REQUEST, "token must be a seat token of match.found (16-64 URL-safe characters)")
        out = await self._call(self._claim, token)
        if not out:
            self.stats["seats_refused"] += 1
            raise ArenaError(AUTH_FAILED, "unknown, used or expired seat token")
        kind = out[0].decode()
        if kind == "elsewhere":
            self.stats["seats_refused"] += 1
            raise ArenaError(NOT_FOUND, "this seat is held by another server: connect to the seat's url")
        wallet, match, expires = out[1].decode(), out[2].decode(), int(out[3])
        if expires < self.wall_ms():  # Redis expires it too; this is the token's own word
            self.stats["seats_refused"] += 1
            raise ArenaError(AUTH_FAILED, "unknown, used or expired seat token")
        self.stats["seats_claimed"] += 1
        return wallet, match

    async def _claim(self, token):
        await self._client()
        return await self._scripts["claim"](keys=[self.k(f"seat:{token}")], args=[self.node, self.instance])

    # --- events from other processes ---------------------------------------------------------
    async def _listen(self) -> None:
        r = await self._call(self._client)
        pubsub = r.pubsub(ignore_subscribe_messages=True)
        await self._call(pubsub.subscribe, self.k(f"events:{self.node}"))
        try:
            while True:
                msg = await self._call(_next_message, pubsub)
                if msg is not None:
                    self._received(msg["data"])
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                try:
                    await self.bridge.call(pubsub.aclose)
                except Exception:  # noqa: BLE001 - closing a subscription that is gone
                    pass

    def _received(self, data: bytes) -> None:
        try:
            wallet, tails = msgpack.unpackb(data, raw=False)
        except Exception:  # noqa: BLE001 - a stranger's message on our channel
            log.warning("cluster: unreadable event message dropped")
            return
        gateway = self.server.gateway
        sessions = gateway.sessions.by_wallet.get(wallet)
        if not sessions or not isinstance(tails, list):
            return
        for tail in tails:
            if isinstance(tail, bytes):
                for s in sessions.values():
                    s.push_event(tail)
        self.stats["received"] += 1
        gateway.flush()

    # --- relays: one big match, one owner, watchers everywhere (`Mode.relay`) -----------------
    async def _claim_relays(self) -> None:
        """Claim (or refresh) ownership of every relayed match; for the
        others, read who owns them now."""
        world = self.server.state.world or ""
        out = await self._call(self._claim_relays_redis, world, sorted(self.relays))
        for match, (held_by, owner) in out.items():
            if held_by == "":
                if match not in self.owned:
                    self.owned.add(match)
                    self.relay_viewed[match] = -1  # a view at the next heartbeat
                    for t in self.relays[match][1].events:
                        self.relay_types[t] = match
                    log.info("cluster: holding a relayed match", extra={"match": match, "world": world})
                self.relay_owner[match] = {"url": self.advertise, "node": self.node, "instance": self.instance}
            else:
                if match in self.owned:  # the world lost it: only by hand (the key is never rewritten)
                    self.owned.discard(match)
                    self.relay_types = {t: m for t, m in self.relay_types.items() if m != match}
                    log.error("cluster: another world holds a relayed match now", extra={"match": match})
                self.relay_owner[match] = owner

    async def _claim_relays_redis(self, world: str, matches: list) -> dict:
        r = await self._client()
        script = self._scripts.get("relay")
        if script is None:
            script = self._scripts["relay"] = r.register_script(CLAIM_RELAY)
        out = {}
        for match in matches:
            held_by = (await script(keys=[self.k(f"relay_world:{match}"), self.k(f"relay:{match}")],
                                    args=[world, self.node, self.advertise, self.instance, self.ttl_ms])).decode()
            owner = None
            if held_by:
                fields = await r.hgetall(self.k(f"relay:{match}"))
                owner = {k.decode(): v.decode() for k, v in fields.items()} or None
            out[match] = (held_by, owner)
        return out

    def relay_event(self, type_: str, tail: bytes) -> None:
        """Owner: a relayed event of this tick (the gateway's `deliver`)."""
        match = self.relay_types[type_]
        pending = self.relay_pending.get(match)
        if pending is None:
            pending = self.relay_pending[match] = ([], [])
            self._wake.set()
        pending[0].append(type_)
        pending[1].append(tail)

    def _seal_relayed(self) -> None:
        """Number what was relayed since the last call, one message per match:
        everything handed over so far is in a numbered message, in order."""
        pending, self.relay_pending = self.relay_pending, {}
        for match, (types, tails) in pending.items():
            seq = self.relay_seq[match] = self.relay_seq.get(match, 0) + 1
            self._op("relay", match, seq, msgpack.packb([self.instance, seq, types, tails], use_bin_type=True))
            self.stats["relayed"] = self.stats.get("relayed", 0) + 1

    def _relay_views(self) -> None:
        """Owner, at each heartbeat: the view of each held match whose relayed
        events moved on since its last view, numbered with the last message
        it includes (written after that message: the writer keeps order)."""
        state = self.server.state
        ctx = None
        for match in self.owned:
            if self.relay_pending:
                self._seal_relayed()
            seq = self.relay_seq.get(match, 0)
            if self.relay_viewed.get(match) == seq:
                continue
            name, _relay = self.relays[match]
            shared = state.modes.get(name)
            ctx = ctx or Ctx(state, state.tick)
            view = registry.get(name).relay_view(ctx, shared) if shared is not None else None
            if view is None:
                continue
            self.relay_viewed[match] = seq
            self._op("view", match, msgpack.packb([self.instance, seq, view], use_bin_type=True))

    def relayed_match(self, mode: str) -> str | None:
        """The relayed match of `mode` when this process does not hold it (its
        requests are answered from the relay or refused), else None."""
        for match, (name, _relay) in self.relays.items():
            if name == mode and match not in self.owned:
                return match
        return None

    def relay_refusal(self, match: str, type_: str) -> ArenaError | None:
        """Why a non-owner cannot take `type_` for `match` (None: it is the
        join and the relay is up)."""
        relay = self.relays[match][1]
        owner = self.relay_owner.get(match)
        if type_ != relay.join:
            return MatchElsewhere(type_, owner)
        if not self.relay_up or owner is None:
            return ArenaError(OVERLOADED, "the relay of this match is not up yet; try again",
                              retry_after_ms=int(self.heartbeat_s * 1000))
        return None

    async def relay_read(self, match: str) -> tuple[dict, int, list]:
        """Non-owner: (view, floor, messages): the owner's latest view, the
        number of the last relayed message it or the messages include, and
        the backlog's messages after the view, which bring it up to date.
        Waits (a few heartbeats) for a view this process can serve: one the
        messages it received since it subscribed continue without a gap."""
        tries = max(RELAY_JOIN_TRIES, int(RELAY_JOIN_WAIT_S / self.heartbeat_s))
        for attempt in range(tries):
            raw_view, raw_seq = await self._call(self._read_view, match)
            if raw_view is None:  # the owner writes its first view at its next heartbeat, if it has one
                if attempt == tries - 1:
                    raise MatchElsewhere("nothing to watch yet", self.relay_owner.get(match))
                await trio.sleep(self.heartbeat_s)
                continue
            vi, n, view = msgpack.unpackb(raw_view, raw=False)
            li, _, last = (raw_seq or b"").decode().partition(":")
            latest = int(last) if li == vi and last.isdigit() else n
            b = self.backlog.get(match)
            mine = b is not None and b.instance == vi
            if li in ("", vi) and (latest <= n or (mine and b.first <= n + 1)):
                items = [it for it in b.items if it[0] > n] if mine else []
                return view, max(n, b.last) if mine else n, items
            await trio.sleep(self.heartbeat_s)
        raise ArenaError(OVERLOADED, "the relay has no view it can serve yet; try again",
                         retry_after_ms=int(self.heartbeat_s * 1000))

    async def _read_view(self, match: str):
        r = await self._client()
        pipe = r.pipeline(transaction=True)
        pipe.get(self.k(f"relay_view:{match}"))
        pipe.get(self.k(f"relay_seq:{match}"))
        return tuple(await pipe.execute())

    def watch(self, match: str, session, floor: int, items: list) -> None:
        """Non-owner: `session` watches `match` from message `floor` on, after
        `items` (the backlog after its view) are pushed to it now."""
        self.watching.setdefault(match, {})[session.id] = floor
        for _seq, types, tails in items:
            if not self._push(match, session, types, tails):
                break

    def _push(self, match: str, session, types: list, tails: list) -> bool:
        """One relayed message to one watcher; False when its watch ended with it."""
        for tail in tails:
            if isinstance(tail, bytes):
                session.push_event(tail)
        ends = self.relays[match][1].ends
        if ends and any(t in ends for t in types):
            self.watching.get(match, {}).pop(session.id, None)
            return False
        return True

    async def _listen_relays(self) -> None:
        r = await self._call(self._client)
        pubsub = r.pubsub(ignore_subscribe_messages=True)
        channels = {self.k(f"relayed:{m}"): m for m in self.relays}
        await self._call(pubsub.subscribe, *channels)
        self.relay_up = True
        try:
            while True:
                msg = await self._call(_next_message, pubsub)
                if msg is not None:
                    match = channels.get(msg["channel"].decode())
                    if match is not None and match not in self.owned:
                        self._relayed(match, msg["data"])
        finally:
            # What arrives while not subscribed is missed: watchers start over.
            self.relay_up = False
            for match in self.relays:  # no instance: the next message starts afresh, resyncing the watchers
                self.backlog[match] = _Backlog("", 0)
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                try:
                    await self.bridge.call(pubsub.aclose)
                except Exception:  # noqa: BLE001 - closing a subscription that is gone
                    pass

    def _relayed(self, match: str, data: bytes) -> None:
        try:
            instance, seq, types, tails = msgpack.unpackb(data, raw=False)
            if not (isinstance(seq, int) and isinstance(types, list) and isinstance(tails, list)):
                raise ValueError
        except Exception:  # noqa: BLE001 - a stranger's message on the channel
            log.warning("cluster: unreadable relay message dropped", extra={"match": match})
            return
        b = self.backlog.get(match)
        if b is None or b.instance != instance or seq != b.last + 1:
            if b is not None and b.instance == instance and seq <= b.last:
                return  # a repeat
            # A new owner (restart, takeover) or a lost message: the watchers
            # here cannot follow on from what they have; they get a fresh view.
            resync = b is not None and bool(self.watching.get(match))
            b = self.backlog[match] = _Backlog(instance, seq)
            if resync:
                self._resync(match)
        b.items.append((seq, types, tails))
        b.last = seq
        if len(b.items) > RELAY_BACKLOG:
            b.items.popleft()
            b.first = b.items[0][0]
        self.stats["relay_received"] = self.stats.get("relay_received", 0) + 1
        watchers = self.watching.get(match)
        if not watchers:
            return
        by_id = self.server.gateway.sessions.by_id
        for sid, floor in list(watchers.items()):
            session = by_id.get(sid)
            if session is None:
                del watchers[sid]  # the session expired
            elif floor is not None and seq > floor:
                self._push(match, session, types, tails)
        self.server.gateway.flush()

    def relay_resume(self, session) -> None:
        """A session resumed here whose buffer lost events: each relayed match
        it watches sends it a fresh view (its own world has none)."""
        for match, watchers in self.watching.items():
            if watchers.get(session.id, None) is not None:
                self._resync(match, (session.id,))

    def _resync(self, match: str, sids=None) -> None:
        """Watchers of `match` here (every one, or `sids`) get the owner's view
        again, as the `match.snapshot` of the match, then the messages after it."""
        watchers = self.watching.get(match, {})
        for sid in (list(watchers) if sids is None else sids):
            watchers[sid] = None  # nothing until the view
        nursery = self.server.gateway._nursery
        if nursery is not None:
            nursery.start_soon(self._resend_view, match)

    async def _resend_view(self, match: str) -> None:
        for attempt in range(RELAY_RESYNC_TRIES):
            try:
                view, floor, items = await self.relay_read(match)
                break
            except Exception as exc:  # noqa: BLE001 - Redis away, or no view yet: try again
                if attempt == RELAY_RESYNC_TRIES - 1:
                    log.warning("cluster: relay view unavailable; its watchers here are dropped",
                                extra={"match": match, "error": str(exc)[:200]})
                    watchers = self.watching.get(match, {})
                    for sid in [sid for sid, floor in watchers.items() if floor is None]:
                        del watchers[sid]
                    return
                await trio.sleep(self.heartbeat_s)
        from arena.net.codec import event_tail

        tail = event_tail("match.snapshot", {"match": match, "tick": 0, "state": view})
        by_id = self.server.gateway.sessions.by_id
        for sid, was in list(self.watching.get(match, {}).items()):
            session = by_id.get(sid)
            if session is None or was is not None:
                continue
            session.push_event(tail)
            self.watch(match, session, floor, items)
        self.server.gateway.flush()

    async def locate(self, match: str) -> dict | None:
        """The directory's entry of a live match: {"match", "url", "node", "world", "mode"}, or None."""
        async def read():
            r = await self._client()
            return await r.hgetall(self.k(f"match:{match}"))

        fields = {k.decode(): v.decode() for k, v in (await self._call(read)).items()}
        if not fields.get("url"):
            return None
        return {"match": match, "url": fields["url"], "node": fields.get("node", ""),
                "world": fields.get("world", ""), "mode": fields.get("mode", "")}

    # --- reads (tests, operators) ----------------------------------------------------------------
    async def nodes(self) -> dict:
        """{node: registration} of every live process."""
        async def read():
            r = await self._client()
            out = {}
            for name in await r.zrange(self.k("nodes"), 0, -1):
                fields = await r.hgetall(self.k(f"node:{name.decode()}"))
                if fields:
                    out[name.decode()] = {k.decode(): v.decode() for k, v in fields.items()}
            return out

        return await self._call(read)

    def health(self) -> dict:
        return {"connected": self.connected, "state": self.supervisor.state, "node": self.node,
                "url": self.advertise, "instance": self.instance, "queued_ops": len(self.ops),
                "matches": len(self.directory), "present": len(self.present),
                **({"relays": {m: "owner" if m in self.owned else "relay" if m in self.relay_owner else "unknown"
                               for m in self.relays},
                    "relay_up": self.relay_up,
                    "relay_watchers": sum(len(w) for w in self.watching.values())} if self.relays else {}),
                **self.stats}


async def _next_message(pubsub):
    return await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
