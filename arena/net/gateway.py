"""The WebSocket front door: frames in, inputs to the engine, frames out.

One `Gateway` serves every client connection. It owns no game rules: it
decodes and checks each frame (PROTOCOL.md's order: bad_frame, unknown_type,
unauthenticated, bad_request), answers the session and wallet requests
itself (they need the ledger, not the engine's rules), and turns game
requests into engine inputs. What the engine says back is queued per
connection and written once per tick as a single batched frame (`flush`),
because on this stack the cost is per frame, not per byte.

The transport is `arena.net.ws`: a lean RFC 6455 server where one hub task
reads every ready socket (no task per connection) and `flush` writes each
connection's frame straight to its socket. A client that cannot keep up
(more than `send_queue_frames` frames or `send_queue_bytes` bytes waiting
for its socket, or waiting longer than `write_timeout_ms`) is disconnected
rather than allowed to slow the tick or other clients; its session stays
resumable.

Against hostile clients (issue 19): frames are decoded with limits sized
for envelopes (`codec.Decoder`); a frame over the plain limit is peeked at
and refused unless it is a logged-in media request, and before login the
transport drops it unread; every request spends from the rate limit, valid
or not, and invalid ones count with bad frames toward the abuse close; a
connection must log in within `login_timeout_ms`.

The gateway talks to the rest of the server through a `world` object:

- `world.state`: the engine state, read between ticks (never written here);
- `world.submit(input) -> bool`: queue an input for the next tick (False when
  the server sheds load);
- `world.ledger`: the ledger port; `world.media`: the media port or None;
- `world.verify_signature(wallet, message, signature) -> bool`,
  `world.is_wallet(text) -> bool`, `world.wallet_kind(text) -> "solana",
  "bsv" or None`, `world.verify_bsv_text(address, text, base64 signature)
  -> bool` (`arena.chain.keys`);
- `world.tip_fee_bps`, `world.server_name`, `world.tick_hz`;
- optionally `world.wallet_rate_limit(wallet, request type) -> ms to wait`
  (0 = go), a per-wallet limit over all the wallet's connections;
- `gateway.cluster` (set by the server, or None): a `Cluster` of serving
  processes (arena/persistence/cluster.py): shared-queue joins and leaves,
  `auth.seat`, `match.locate`, events for wallets with no session here,
  and relayed matches (`Mode.relay`: the owner's broadcast handed to the
  cluster, a join elsewhere answered from the relay);
- `world.store`: the store the read requests query (`leaderboard`,
  `history`, `profile`, ...; see `arena.net.reads`), and `world.cfg`, the
  whole config (`[leaderboards]`, `[profiles]`).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import deque

import trio

from arena.engine import core
from arena.engine import inputs as I
from arena.engine.registry import registry
from arena.engine.outputs import Event, Reply
from arena.engine.errors import (
    BAD_FRAME,
    BAD_REQUEST,
    DUPLICATE,
    INTERNAL,
    NOT_FOUND,
    OVERLOADED,
    PAYMENT_FAILED,
    RATE_LIMITED,
    UNSUPPORTED_PROTOCOL,
    WRONG_STATE,
    AUTH_FAILED,
    NOT_ALLOWED,
    ArenaError,
)

from arena.engine.clock import now_ms
from arena.engine.periods import ALL_KEY, period_key
from arena.media import probe
from arena.persistence.reads import KEEP, Duplicate

from arena.chain.keys import BSV, SOLANA

from . import codec, reads, requests, siws
from .ratelimit import SlidingCounter, TokenBucket
from .session import Session, SessionRegistry
from .ws import LogThrottle, WsServer

log = logging.getLogger("arena.net")
_throttle = LogThrottle(log)  # at most a line per 10 s per kind, with counts

CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TAKEN_OVER = 4000
CLOSE_SLOW = 4001
MAX_BATCH = 64


def upload_types() -> frozenset:
    """Requests that may come in a frame over `max_plain_frame_bytes` (logged
    in only): the modes' requests with an upload field (`GameRequest.upload`)
    and the framework's (`requests.UPLOADS`: an avatar)."""
    modes = (name for name, (_mode, req) in registry.requests.items() if req.upload is not None)
    return frozenset(modes) | frozenset(requests.UPLOADS)

MAX_INFLIGHT = 16
# Mode payments built and not yet confirmed, kept for their confirm (`Gateway._payment`).
MAX_BUILT_PAYMENTS = 4096
# Balance events remembered, so one payment reported twice is told once.
BALANCE_TOLD_MAX = 4096
READ_BUCKET = ":reads"  # a name no mode's bucket can have (`Connection.buckets`)
PROTOCOL_VERSION = 1


class Connection:
    __slots__ = (
        "id", "ws", "gateway", "stage", "nonce", "session", "outbox",
        "bad", "abuse", "bucket", "buckets", "inflight", "closing", "peer",
        "jobs", "working", "addr", "held", "role", "lookups",
    )

    def __init__(self, gateway: Gateway, ws, now: float, cid: int):
        cfg = gateway.cfg
        self.id = cid
        self.lookups = 0  # session.resume lookups in other shards' worlds (shard workers only)
        self.ws = ws  # arena.net.ws.WsConn
        self.gateway = gateway
        self.stage = requests.ANY
        self.nonce: str | None = None
        self.session: Session | None = None
        self.outbox: list[bytes] = []
        self.bad = SlidingCounter(cfg.bad_frame_window_ms / 1000)
        self.abuse = SlidingCounter(cfg.bad_frame_window_ms / 1000)  # bad frames and invalid requests
        self.bucket = TokenBucket(cfg.requests_per_s, cfg.request_burst, now)
        # Named buckets a mode's chattiest requests also take from
        # (`GameRequest.bucket`), made on first use.
        self.buckets: dict[str, TokenBucket] = {}
        self.inflight = 0
        self.jobs: deque = deque()  # ledger/media calls not yet run, in arrival order
        self.working = False  # a task is running this connection's jobs
        # Where the engine's replies to this connection's requests go: the
        # session plus this connection, so a reply never reaches another
        # connection that took the session over meanwhile.
        self.addr: str | None = None
        self.closing: int | None = None
        self.role: str | None = None  # "agent" / "operator" after auth.key
        self.peer = ws.peer if ws is not None else ""
        self.held = False  # reading stopped until the flush ([net] max_replies_per_tick)

    def queue(self, env: bytes) -> None:
        out = self.outbox
        if not out:
            self.gateway.dirty.append(self)
        out.append(env)
        if len(out) >= self.gateway.max_replies_per_tick and not self.held:
            self.gateway._hold(self)

    def reply(self, rid: int, body: dict | None = None) -> None:
        self.queue(codec.reply_bytes(rid, True, body if body is not None else {}))

    def error(self, rid: int, err: ArenaError) -> None:
        self.queue(codec.reply_bytes(rid, False, err.body()))

    @property
    def wallet(self) -> str | None:
        return self.session.wallet if self.session else None


MAX_SESSION_LOOKUPS = 3
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")  # what SessionRegistry issues (token_urlsafe)


class SessionElsewhere(ArenaError):
    """`session.resume` on a shard worker that does not hold the session: where it is."""

    def __init__(self, shard: int, url: str):
        super().__init__(NOT_FOUND, f"the session is held by shard {shard} at {url}: resume there")
        self.shard = shard
        self.url = url

    def body(self) -> dict:
        return {**super().body(), "shard": self.shard, "url": self.url}


class Gateway:
    def __init__(self, cfg, world, host: str = "127.0.0.1", port: int = 8765):
        self.cfg = cfg
        self.world = world
        self.host = host
        self.port = port
        # Ports this gateway shares with other processes (SO_REUSEPORT): a
        # shard worker's public port (arena.workers).
        self.shared_ports: tuple[int, ...] = ()
        # A shard worker's lookup of a session this world does not hold:
        # async (session id) -> (shard, url or None) or None (arena.workers).
        self.find_session = None
        # The domain auth.siws messages must name (`[server] domain`, via the world).
        self.domain = getattr(world, "domain", "localhost")
        self.sessions = SessionRegistry(cfg.event_buffer, cfg.event_buffer_bytes)
        self.dirty: list[Connection] = []
        # Set by a world that steps inputs as they arrive: replies are queued,
        # to be written after the socket batch they came in (`_after_batch`).
        self.wants_flush = False
        self.held: list[Connection] = []  # connections whose reading waits for the flush
        # Replies queued for one connection within one tick past which its input is
        # not read until the tick's flush (request floods cost bounded memory and CPU).
        self.max_replies_per_tick = cfg.max_replies_per_tick
        self.conns: set[Connection] = set()
        self.addrs: dict[str, Connection] = {}  # Connection.addr -> Connection
        # Uploads (`Upload.claim` of their request) being stored (False) or
        # stored and submitted but not yet applied by the engine (True).
        self.audio_claims: dict[tuple, bool] = {}
        # Mode payments built and not yet confirmed (`Payment`): the ledger's
        # `payment_ref` of the built tx -> (wallet, mode, the build's quote,
        # match, amount, build body), oldest first, at most
        # MAX_BUILT_PAYMENTS (the ledger expires unconfirmed ones anyway).
        self.built_payments: dict[bytes, tuple] = {}
        self._next_conn = 0
        # Avatars are decoded and re-encoded one at a time, in one worker
        # thread: that CPU is bounded however many connections upload at once.
        self._image_limiter = trio.CapacityLimiter(1)
        self.listen_port: int | None = None
        self.server: WsServer | None = None
        # Plain HTTP requests on this port (the web pages, arena/net/pages.py):
        # `http_handler(method, target) -> HttpAnswer`, or None for 404s.
        self.http_handler = None
        self._nursery = None
        self._balance_told: dict[tuple, None] = {}  # (wallet, key, reason), oldest first
        self._max_plain_frame = cfg.max_plain_frame_bytes
        self._decoder = codec.Decoder(
            max_depth=cfg.max_depth, max_containers=cfg.max_containers,
            max_container_items=cfg.max_container_items,
            max_str_bytes=cfg.max_plain_frame_bytes, max_bin_bytes=cfg.max_frame_bytes)
        self._unpack = self._decoder.unpack
        # optional: world.wallet_rate_limit(wallet, request type) -> ms to wait
        self._wallet_limit = getattr(world, "wallet_rate_limit", None)
        # Shared matchmaking, seats and events for wallets elsewhere
        # (`arena.persistence.cluster.Cluster`), when the server is one of a cluster.
        self.cluster = None
        self.stats = {
            "frames_in": 0, "frames_out": 0, "bytes_in": 0, "bytes_out": 0,
            "bad_frames": 0, "requests": 0, "dropped_slow": 0, "closed_abuse": 0,
            "invalid_requests": 0, "rate_limited": 0, "oversize_refused": 0, "reads_held": 0,
        }

    # --- serving ----------------------------------------------------------------
    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.server = WsServer(
            on_open=self._on_open,
            on_message=self._on_message,
            on_closed=self._on_closed,
            path="/v1",
            max_message_bytes=self.cfg.max_frame_bytes,
            # Before login nothing may be larger than a plain frame (`_attach` raises it).
            first_message_bytes=self.cfg.max_plain_frame_bytes,
            max_backlog=self.cfg.send_queue_frames,
            max_out_bytes=self.cfg.send_queue_bytes,
            write_timeout=self.cfg.write_timeout_ms / 1000,
            frame_timeout=self.cfg.frame_timeout_ms / 1000,
            max_held_bytes=self.cfg.max_buffered_input_bytes,
            handshake_timeout=self.cfg.handshake_timeout_ms / 1000,
            admit_timeout=self.cfg.login_timeout_ms / 1000,
            idle_timeout=self.cfg.idle_timeout_ms / 1000,
            max_connections=self.cfg.max_connections,
            max_per_address=self.cfg.max_connections_per_address,
            max_handshake_bytes=self.cfg.max_handshake_bytes,
            reject_body=b"Arena speaks protocol v1 at /v1\n",
            http_handler=self.http_handler,
        )
        self.server.on_slow = self._on_slow
        self.server.after_batch = self._after_batch
        self.server.on_oversize = self._on_oversize
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            port = await nursery.start(self.server.serve, self.host, self.port, self.shared_ports)
            self.listen_port = port
            log.info("listening", extra={"host": self.host, "port": port})
            nursery.start_soon(self._expire_sessions)
            task_status.started(port)

    async def _expire_sessions(self) -> None:
        ttl = self.cfg.session_ttl_ms / 1000
        while True:
            await trio.sleep(min(ttl, 5.0))
            self.sessions.expire(trio.current_time(), ttl)

    def _on_open(self, ws) -> None:
        self._next_conn += 1
        conn = Connection(self, ws, trio.current_time(), self._next_conn)
        ws.owner = conn
        self.conns.add(conn)

    def _on_message(self, ws, msg, is_text: bool) -> None:
        # The hottest function of the server (every request of every client):
        # the common case, one small well-formed envelope, goes straight on.
        conn = ws.owner
        stats = self.stats
        stats["frames_in"] += 1
        stats["bytes_in"] += len(msg)
        if is_text or msg.__class__ is str:
            self._bad(conn, codec.BadFrame("text frames are not part of the protocol; send binary MessagePack"))
            return
        if len(msg) > self._max_plain_frame:
            self._on_large(conn, msg)
            return
        try:
            value = self._unpack(msg)
        except codec.BadFrame as bad:
            self._bad(conn, bad)
            return
        if value.__class__ is list and len(value) == 4 and value[0].__class__ is int:
            self._on_envelope(conn, value)
            return
        self._on_batch(conn, value)

    def _on_closed(self, ws) -> None:
        conn = ws.owner
        if conn is None:
            return
        self.conns.discard(conn)
        self.addrs.pop(conn.addr, None)
        if conn.closing is None:
            conn.closing = ws.close_code or 1006
        conn.outbox = []
        self._drop_session(conn)

    def _on_oversize(self, ws, head: bytes, size: int, is_text: bool) -> None:
        """The transport dropped a message over this connection's current
        limit unread (before login: the plain limit): a bad frame."""
        conn = ws.owner
        if conn is None or conn.closing is not None:
            return
        self.stats["frames_in"] += 1
        self.stats["oversize_refused"] += 1
        rid = 0 if is_text else codec.head_rid(head)
        why = ("text frames are not part of the protocol; send binary MessagePack" if is_text else
               f"frame of {size} bytes exceeds {self._max_plain_frame} "
               "(only a logged-in request carrying an upload may be larger)")
        self._bad(conn, codec.BadFrame(why, rid))

    def _hold(self, conn: Connection) -> None:
        """Too many replies for `conn` this tick: read nothing more from it until the flush."""
        hold = getattr(conn.ws, "hold", None)
        if hold is None:
            return
        conn.held = True
        self.held.append(conn)
        self.stats["reads_held"] += 1
        hold(True)

    def _on_slow(self, ws) -> None:
        conn = ws.owner
        self.stats["dropped_slow"] += 1
        if conn is not None:
            conn.closing = CLOSE_SLOW

    def _drop_session(self, conn: Connection) -> None:
        s = conn.session
        if s is None or s.conn is not conn:
            return
        if self.sessions.detach(s, trio.current_time()):
            self.world.submit(I.PlayerDisconnected(s.wallet), force=True)
            if self.cluster is not None:
                self.cluster.wallet_absent(s.wallet)

    # --- frames in ------------------------------------------------------------------
    def _on_large(self, conn: Connection, msg: bytes) -> None:
        """A frame over the plain limit: only one logged-in request carrying
        an upload (`GameRequest.upload`) may be that large. Its envelope is
        peeked first, so anything else is refused without decoding its body."""
        limit = self._max_plain_frame
        why = f"frame of {len(msg)} bytes exceeds {limit} (only a request carrying an upload may be larger)"
        try:
            # A batch has no one rid of its own: naming its first envelope's
            # would tell the client that one was bad and leave the rest unanswered.
            rid, type_ = codec.peek_request(msg)
        except codec.BadFrame as bad:
            self._bad(conn, codec.BadFrame(why, bad.rid))
            return
        if type_ not in upload_types() or conn.stage < requests.AFTER_LOGIN:
            self._bad(conn, codec.BadFrame(why, rid))
            return
        try:
            value = self._unpack(msg)
        except codec.BadFrame as bad:
            self._bad(conn, codec.BadFrame(bad.reason, rid))
            return
        if not self._is_upload([value]):
            self._bad(conn, codec.BadFrame(why, codec.readable_rid(value)))
            return
        self._on_envelope(conn, value)

    def _on_batch(self, conn: Connection, value) -> None:
        """A frame that is not one envelope: a batch, or junk."""
        envelopes = codec.split_envelopes(value)
        if len(envelopes) > MAX_BATCH:
            self._bad(conn, codec.BadFrame(f"a batch holds at most {MAX_BATCH} envelopes"))
            return
        for env in envelopes:
            self._on_envelope(conn, env)
            if conn.closing is not None:
                return

    def _on_envelope(self, conn: Connection, env) -> None:
        try:
            rid, type_, body = codec.check_request(env)
        except codec.BadFrame as bad:
            self._bad(conn, bad)
            return
        self.stats["requests"] += 1
        # Every request, valid or not, spends from the connection's bucket.
        wait = conn.bucket.take(self._now())
        if wait:
            self.stats["rate_limited"] += 1
            conn.error(rid, ArenaError(RATE_LIMITED, "too many requests", retry_after_ms=wait))
            return
        try:
            body = requests.check(type_, body, conn.stage)
        except ArenaError as err:
            conn.error(rid, err)
            self._invalid(conn)
            return
        try:
            # Then the per-wallet limit over all the wallet's connections
            # (and nodes, through Redis).
            wallet_limit = self._wallet_limit
            if wallet_limit is not None and conn.session is not None:
                wait = wallet_limit(conn.session.wallet, type_)
                if wait:
                    raise ArenaError(RATE_LIMITED, "too many requests from this wallet", retry_after_ms=wait)
            handler = _HANDLERS.get(type_)
            if handler is not None:
                handler(self, conn, rid, body)
            else:
                self._game_request(conn, rid, type_, body)
        except ArenaError as err:
            conn.error(rid, err)
        except Exception:  # noqa: BLE001 - a handler bug must not stop the server
            log.exception("request handler failed", extra={"conn": conn.id, "type": type_})
            conn.error(rid, ArenaError(INTERNAL, "internal error"))

    @staticmethod
    def _is_upload(envelopes) -> bool:
        """One envelope of a mode's request whose upload field holds bytes."""
        if len(envelopes) != 1:
            return False
        env = envelopes[0]
        if not (isinstance(env, list) and len(env) == 4 and isinstance(env[3], dict)):
            return False
        if not isinstance(env[2], str):
            return False
        field = requests.UPLOADS.get(env[2])
        if field is None:
            found = registry.requests.get(env[2])
            upload = found[1].upload if found is not None else None
            field = upload.field if upload is not None else None
        return field is not None and isinstance(env[3].get(field), bytes)

    def _bad(self, conn: Connection, bad: codec.BadFrame) -> None:
        self.stats["bad_frames"] += 1
        conn.error(bad.rid, ArenaError(BAD_FRAME, bad.reason))
        now = trio.current_time()
        if (conn.bad.add(now) >= self.cfg.bad_frames_before_close
                or conn.abuse.add(now) >= self.cfg.invalid_requests_before_close):
            self._abusive(conn)

    def _invalid(self, conn: Connection) -> None:
        """An unknown_type, unauthenticated or bad_request reply: counted with
        the bad frames toward the abuse close."""
        self.stats["invalid_requests"] += 1
        if conn.abuse.add(trio.current_time()) >= self.cfg.invalid_requests_before_close:
            self._abusive(conn)

    def _abusive(self, conn: Connection) -> None:
        if conn.closing is not None:
            return
        self.stats["closed_abuse"] += 1
        _throttle(logging.WARNING, "abuse", "closing abusive connection", conn=conn.id, peer=conn.peer)
        self._close(conn, CLOSE_POLICY)

    def _close(self, conn: Connection, code: int) -> None:
        """Send what is queued, then close with `code`."""
        if conn.closing is not None:
            return
        conn.closing = code
        if conn.outbox:
            frame = codec.batch(conn.outbox)
            conn.outbox = []
            if conn.ws.send_message(frame):
                self.stats["frames_out"] += 1
                self.stats["bytes_out"] += len(frame)
        conn.ws.close(code)

    # --- requests ---------------------------------------------------------------------
    def _now(self) -> float:
        """The clock as of the socket batch being read (one read per batch)."""
        server = self.server
        return server.now if server is not None and server.now else trio.current_time()

    def _hello(self, conn, rid, body):
        if body["protocol"] != PROTOCOL_VERSION:
            raise ArenaError(UNSUPPORTED_PROTOCOL, f"this server speaks protocol {PROTOCOL_VERSION}")
        if conn.stage < requests.AFTER_HELLO:
            conn.stage = requests.AFTER_HELLO
        conn.nonce = secrets.token_hex(16)
        conn.reply(rid, {
            "protocol": PROTOCOL_VERSION,
            "server": self.world.server_name,
            "tick_hz": self.world.tick_hz,
            "tick": self.world.state.tick,
            "nonce": conn.nonce,
            "domain": self.domain,
        })

    def _key_login(self, conn, rid, body):
        """auth.key: an agent or operator logs in with an API key (checked off the tick)."""
        if conn.session is not None:
            raise ArenaError(WRONG_STATE, "this connection is already logged in")
        credentials = getattr(self.world, "credentials", None)
        if credentials is None:
            raise ArenaError(AUTH_FAILED, "this server takes no API keys")

        async def check():
            found = await credentials.check(body["key"])
            if found is None:
                self.stats["key_logins_refused"] = self.stats.get("key_logins_refused", 0) + 1
                conn.error(rid, ArenaError(AUTH_FAILED, "unknown or revoked API key"))
                return
            if conn.session is not None or conn.closing is not None:
                return
            name, role = found
            user = f"key:{name}"
            session = self.sessions.create(user)
            self._attach(conn, session)
            conn.role = role
            conn.reply(rid, {"session": session.id, "user": {"id": user, "name": name, "role": role}})

        self._spawn(conn, check)

    def _audit(self, conn, type_: str, body: dict, result: str) -> None:
        """One row of the store's audit log: who (the key), what, the result."""
        audit = getattr(self.world, "audit", None)
        if audit is None or self._nursery is None:
            return
        detail = {k: (v if isinstance(v, (int, str, bool)) or v is None else f"<{type(v).__name__}>")
                  for k, v in body.items()}
        self._nursery.start_soon(audit, conn.wallet or "", conn.role or "", type_, detail, result)

    def _siws(self, conn, rid, body):
        """Sign-In With Solana: the wallet-standard message, signed by its address."""
        nonce = self._use_login_nonce(conn, required=False)  # siws.check refuses a missing one itself
        try:
            msg = siws.parse(body["message"])
            siws.check(msg, domain=self.domain, nonce=nonce, now=siws.utc_now())
        except siws.SiwsError as exc:
            raise ArenaError(AUTH_FAILED, f"sign-in message refused: {exc}") from None
        wallet = msg.address
        if self.world.wallet_kind(wallet) != SOLANA:
            raise ArenaError(AUTH_FAILED, "the message's address is not a Solana wallet")
        if not self.world.verify_signature(wallet, body["message"].encode(), body["signature"]):
            raise ArenaError(AUTH_FAILED, "signature does not verify for the message's address")
        self._wallet_logged_in(conn, rid, wallet)

    def _bsv_login(self, conn, rid, body):
        """auth.bsv: a BSV wallet logs in with a Bitcoin Signed Message of the login text."""
        nonce = self._use_login_nonce(conn)
        address = body["address"]
        if self.world.wallet_kind(address) != BSV:
            raise ArenaError(AUTH_FAILED, "not a BSV address (P2PKH, base58check)")
        if not self.world.verify_bsv_text(address, "arena:login:" + nonce, body["signature"]):
            raise ArenaError(AUTH_FAILED, "signature does not verify for this address and nonce")
        self._wallet_logged_in(conn, rid, address)

    def _login(self, conn, rid, body):
        nonce = self._use_login_nonce(conn)
        wallet = body["wallet"]
        message = ("arena:login:" + nonce).encode()
        if not self.world.verify_signature(wallet, message, body["signature"]):
            raise ArenaError(AUTH_FAILED, "signature does not verify for this wallet and nonce")
        self._wallet_logged_in(conn, rid, wallet)

    @staticmethod
    def _use_login_nonce(conn, required: bool = True) -> str | None:
        """The connection's hello nonce, used up by this login attempt whatever
        its outcome (one attempt per hello, for every kind of wallet login).
        Refuses a connection already logged in, and (`required`) one with no
        unused nonce."""
        if conn.session is not None:
            raise ArenaError(WRONG_STATE, "this connection is already logged in")
        nonce, conn.nonce = conn.nonce, None
        if nonce is None and required:
            raise ArenaError(AUTH_FAILED, "no unused login nonce: send hello again")
        return nonce

    def _wallet_logged_in(self, conn, rid, wallet: str) -> None:
        """Bind a verified wallet's new session now; reply once its profile is read.

        The session is attached at once, so the requests that follow the
        login in the same batch are read as logged in; the reply, which
        carries the profile's `username`, waits for the store (off the
        tick, in the connection's ordered jobs). A store that cannot be
        read gives `username: nil` rather than failing a valid login.
        """
        session = self.sessions.create(wallet)
        self._attach(conn, session)
        store = getattr(self.world, "store", None)

        async def reply():
            username = None
            if store is not None:
                try:
                    username = ((await store.profile(wallet)) or {}).get("username")
                except Exception:  # the login stands; only the name is unknown
                    log.warning("profile unreadable at login", extra={"wallet": wallet}, exc_info=True)
            conn.reply(rid, {"session": session.id, "user": {"id": wallet, "wallet": wallet, "username": username}})

        self._spawn(conn, reply)

    def _attach(self, conn: Connection, session: Session, announce: bool = True) -> bool:
        """Bind `session` to `conn`. True when its wallet had no connection
        left: the engine hears `PlayerReconnected`, now, or with
        `announce=False` when the caller has queued what must come first
        (a resume's reply and the events it replays: the engine steps the
        input at once, and its events must follow those)."""
        old = session.conn
        if old is not None and old is not conn:
            self.sessions.detach(session, trio.current_time())
            old.session = None
            self._close(old, CLOSE_TAKEN_OVER)
        conn.session = session
        conn.addr = f"{session.id}/{conn.id}"
        self.addrs[conn.addr] = conn
        conn.stage = requests.AFTER_LOGIN
        admit = getattr(conn.ws, "admit", None)
        if admit is not None:
            # Logged in: no login deadline any more, and media frames allowed.
            admit(self.cfg.max_frame_bytes)
        if self.sessions.attach(session, conn):
            if announce:
                self.world.submit(I.PlayerReconnected(session.wallet), force=True)
            if self.cluster is not None:
                self.cluster.wallet_present(session.wallet)
            return True
        return False

    def _resume(self, conn, rid, body):
        if conn.session is not None:
            raise ArenaError(WRONG_STATE, "this connection already has a session")
        session = self.sessions.get(body["session"])
        if session is None:
            sid = body["session"]
            if self.find_session is not None and conn.lookups < MAX_SESSION_LOOKUPS and _SESSION_ID.fullmatch(sid):
                # A shard worker: the session may be another shard's; say where
                # (docs/PROTOCOL.md). A few lookups per connection: each is a
                # query per shard, and a client resuming needs one.
                conn.lookups += 1
                self._ledger_call(conn, rid, lambda: self._session_elsewhere(sid), "directory")
                return
            raise ArenaError(NOT_FOUND, "no such session (expired or unknown): log in again")
        last_seq = body["last_seq"]
        # Before a restored session takes the client's last_seq (which it
        # then equals), so only the bound the client can exceed is left after.
        if last_seq < 0:
            raise ArenaError(BAD_REQUEST, f"last_seq must be between 0 and {session.seq}")
        restored = self.sessions.resume_restored(session, last_seq)  # after a restart: snapshots
        if last_seq > session.seq:
            raise ArenaError(BAD_REQUEST, f"last_seq must be between 0 and {session.seq}")
        missed = None if restored else session.missed_since(last_seq)
        reconnected = self._attach(conn, session, announce=False)
        conn.reply(rid, {"resumed": True, "replayed": len(missed) if missed is not None else 0})
        if missed is not None:
            for env in missed:
                conn.queue(env)
        else:
            for ev in core.resume_snapshots(self.world.state, session.wallet):
                session.push_event(codec.event_tail(ev.type, ev.body))
            if self.cluster is not None and self.cluster.watching:  # relayed matches it watches
                self.cluster.relay_resume(session)
        if reconnected:
            self.world.submit(I.PlayerReconnected(session.wallet), force=True)

    async def _session_elsewhere(self, session_id: str) -> dict:
        where = await self.find_session(session_id)
        if where is None:
            raise ArenaError(NOT_FOUND, "no such session (expired or unknown): log in again")
        shard, url = where
        if url is None:
            raise ArenaError(NOT_FOUND, f"the session is on shard {shard}, which is moving to another worker: "
                             "try again shortly", retry_after_ms=1000)
        raise SessionElsewhere(shard, url)

    def _ping(self, conn, rid, body):
        conn.reply(rid, {"tick": self.world.state.tick})

    # Game requests: checked here only for shape; the engine applies the rules.
    def _submit(self, conn: Connection, rid: int, inp) -> None:
        if not self.world.submit(inp):
            raise ArenaError(OVERLOADED, "server is shedding load; try again", retry_after_ms=1000)

    def _queue_join(self, conn, rid, body):
        # (`requests.check` has checked the mode's own queue fields.)
        cluster = self.cluster
        if cluster is not None:
            mode = registry.get(body["mode"])
            queue = mode.shared_queue(self.world.state, conn.wallet, body) if mode is not None else None
            if queue is not None:  # the cluster's shared queue, not this engine's
                wallet, name = conn.wallet, mode.name

                async def join():
                    await cluster.join(wallet, name, queue)
                    return {"queued": True}

                self._ledger_call(conn, rid, join, "cluster")
                return
        self._submit(conn, rid, I.QueueJoin(conn.addr, rid, conn.wallet, body["mode"], body.get("tier", "")))

    def _queue_leave(self, conn, rid, body):
        cluster = self.cluster
        if cluster is None:
            self._submit(conn, rid, I.QueueLeave(conn.addr, rid, conn.wallet))
            return
        wallet, addr = conn.wallet, conn.addr

        async def leave():
            try:
                await cluster.leave(wallet)
            except Exception as exc:  # noqa: BLE001 - the engine's queue is still left; Redis's entry dies with its node
                log.warning("cluster queue leave failed", extra={"wallet": wallet, "error": str(exc)[:200]})
            # The engine answers (and leaves its own queue, of a mode that pairs locally).
            if not self.world.submit(I.QueueLeave(addr, rid, wallet)):
                conn.error(rid, ArenaError(OVERLOADED, "server is shedding load; try again", retry_after_ms=1000))

        self._spawn(conn, leave)

    def _locate(self, conn, rid, body):
        """match.locate: which server of the cluster holds a live match (the
        match directory), so a client whose server died finds the new owner."""
        cluster = self.cluster
        if cluster is None:
            raise ArenaError(NOT_ALLOWED, "this server is not part of a cluster: its matches are all here")
        match = body["match"]

        async def locate():
            found = await cluster.locate(match)
            if found is None:
                raise ArenaError(NOT_FOUND, f"no live match {match!r} in the cluster's directory")
            return found

        self._ledger_call(conn, rid, locate, "cluster")

    def _seat(self, conn, rid, body):
        """auth.seat: claim the seat reservation of a `match.found` (cluster
        only): the one-time token logs its wallet in here, for its match."""
        cluster = self.cluster
        if cluster is None:
            raise ArenaError(NOT_ALLOWED, "this server is not part of a cluster: it reserves no seats")
        if conn.session is not None:
            raise ArenaError(WRONG_STATE, "this connection is already logged in")
        conn.nonce = None  # one login attempt per hello, as for the wallet logins
        token = body["token"]

        async def claim():
            try:
                wallet, match = await cluster.claim_seat(token)
            except ArenaError as err:
                conn.error(rid, err)
                return
            except Exception as exc:  # noqa: BLE001 - Redis away: the client may try again
                log.warning("seat claim failed", extra={"error": str(exc)[:200]})
                conn.error(rid, ArenaError(INTERNAL, "seat reservations unavailable; try again"))
                return
            if conn.session is not None or conn.closing is not None:
                return
            session = self.sessions.create(wallet)
            reconnected = self._attach(conn, session, announce=False)
            conn.reply(rid, {"session": session.id, "match": match,
                             "user": {"id": wallet, "wallet": wallet, "username": None}})
            for ev in core.resume_snapshots(self.world.state, wallet):
                session.push_event(codec.event_tail(ev.type, ev.body))
            if reconnected:
                self.world.submit(I.PlayerReconnected(wallet), force=True)

        self._spawn(conn, claim)

    def _watch(self, conn, rid, body):
        self._submit(conn, rid, I.MatchWatch(conn.addr, rid, conn.wallet, body["match"]))

    def _game_request(self, conn, rid, type_, body):
        """A mode's request (`GameRequest`): its own bucket, then its input;
        with an upload, the upload is stored first if the mode would accept
        the request now (`Upload.accepts`)."""
        mode, req = registry.requests[type_]
        cluster = self.cluster
        if cluster is not None and cluster.relays:
            match = cluster.relayed_match(mode)
            if match is not None:  # the mode's one big match is held by another process
                self._relayed_request(conn, rid, type_, match)
                return
        if req.role is not None and conn.role != req.role and conn.role != "operator":
            if req.role == "operator":
                self._audit(conn, type_, body, "refused: no operator role")
            raise ArenaError(NOT_ALLOWED, f"{type_} needs an API key with the {req.role} role")
        if req.role == "operator":
            self._audit(conn, type_, body, "submitted")
        for f in req.fields:
            if f.payee and body.get(f.name) and not self.world.ledger.pays(body[f.name]):
                raise ArenaError(BAD_REQUEST, f"{f.name} must be a wallet this server's ledger "
                                              f"({self.world.ledger.name}) can pay")
        if req.payment is not None:
            self._payment(conn, rid, mode, req.payment, body)
            return
        if req.bucket is not None:
            bucket = conn.buckets.get(req.bucket)
            if bucket is None:
                bucket = conn.buckets[req.bucket] = self._bucket(mode, req.bucket)
            wait = bucket.take(self._now())
            if wait:
                raise ArenaError(RATE_LIMITED, f"too many {req.bucket}", retry_after_ms=wait)
        wallet = conn.session.wallet
        upload = req.upload
        data = body.get(upload.field) if upload is not None else None
        if data is None:
            inp = req.make(conn.addr, rid, wallet, body, _now_ms() if req.stamp_ms else 0, None)
            if not self.world.submit(inp):
                raise ArenaError(OVERLOADED, "server is shedding load; try again", retry_after_ms=1000)
            return
        self._store_upload(conn, rid, req, body, data)

    def _relayed_request(self, conn, rid, type_: str, match: str) -> None:
        """A request of a relayed mode on a process that does not hold its
        match: the join is answered from the relay (the owner's view, then
        the relayed events after it); anything else says where to send it."""
        cluster = self.cluster
        refusal = cluster.relay_refusal(match, type_)
        if refusal is not None:
            raise refusal
        session = conn.session

        async def join():
            try:
                view, floor, items = await cluster.relay_read(match)
            except ArenaError as err:
                conn.error(rid, err)
                return
            except Exception as exc:  # noqa: BLE001 - Redis away: the client may try again
                log.warning("relay join failed", extra={"match": match, "error": str(exc)[:200]})
                conn.error(rid, ArenaError(INTERNAL, "the relay is unavailable; try again"))
                return
            if conn.closing is not None or conn.session is not session:
                return
            owner = cluster.relay_owner.get(match) or {}
            conn.reply(rid, {**view, "relay": {"url": owner.get("url", ""), "node": owner.get("node", "")}})
            cluster.watch(match, session, floor, items)  # after the reply, in the same outbox

        self._spawn(conn, join)

    def _payment(self, conn, rid, mode: str, payment, body) -> None:
        """A mode's payment request (`arena.engine.mode.Payment`): an entry
        payment into a match's escrow, for the amount the mode's `quote`
        accepts now; confirmed money reaches the engine as `EntryFeePaid`
        (the entry fee's input and durable inbox), followed by the mode's own
        input with the build's choices."""
        wallet, ledger, world = conn.wallet, self.world.ledger, self.world
        if payment.step == "build":
            match, amount = payment.quote(world.state, wallet, body)
            built = self.built_payments

            async def build():
                tx = await ledger.build_entry(wallet, match, amount)
                # Keyed by what identifies the payment once signed (the
                # wallet may send back other bytes: a signed BSV transaction).
                built[ledger.payment_ref(tx)] = (wallet, mode, payment.quote, match, amount, dict(body))
                while len(built) > MAX_BUILT_PAYMENTS:
                    built.pop(next(iter(built)))
                reply = {"tx": tx, "amount": amount}
                if payment.extra is not None:
                    reply.update(payment.extra(world.state, wallet, amount, "built"))
                return reply

            self._ledger_call(conn, rid, build)
            return
        tx = bytes(body["tx"])
        ref = ledger.payment_ref(tx)
        found = self.built_payments.get(ref)
        if found is None or found[0] != wallet or found[1] != mode:
            raise ArenaError(PAYMENT_FAILED, "unknown or expired transaction")
        _wallet, _mode, quote, match, amount, built_body = found
        if quote is not payment.quote:  # built by another request of the mode
            raise ArenaError(BAD_REQUEST, "the transaction was built for another request")
        merged = {**built_body, **body}
        if payment.quote(world.state, wallet, merged) != (match, amount):
            raise ArenaError(BAD_REQUEST, "the transaction was built for another match or amount")

        async def confirm():
            extra: dict = {}

            def before_taken(res) -> None:
                # The state as it was before the engine took this payment
                # (`Payment.extra`'s contract), whenever the engine steps it.
                if payment.extra is not None:
                    extra.update(payment.extra(world.state, wallet, amount, res.status))

            res = await self._confirm_entry(wallet, match, amount, tx, body["signature"], before_taken)
            self.built_payments.pop(ref, None)
            choices = payment.paid(match, wallet, amount, res.payment_id, merged) if payment.paid else None
            if choices is not None:
                world.submit(choices, force=True)
            reply = payment.receipt(res.status, res.payment_id) if payment.receipt else {"status": res.status}
            reply.update(extra)
            return reply

        self._ledger_call(conn, rid, confirm)

    def _bucket(self, mode: str, name: str) -> TokenBucket:
        """A per-connection bucket of a mode (`Mode.buckets`), at the rate the
        world's config gives it (`world.bucket_rate(mode, name)`)."""
        from arena.config import bucket_rate

        per_s, burst = bucket_rate(getattr(self.world, "cfg", None), mode, name)
        return TokenBucket(per_s, burst, self._now())

    def _store_upload(self, conn, rid, req, body, data: bytes) -> None:
        upload = req.upload
        make = lambda url: req.make(conn.addr, rid, conn.wallet, body, _now_ms(), url)  # noqa: E731
        if len(data) > self.cfg.max_audio_bytes:
            raise ArenaError(BAD_REQUEST, f"{upload.field} larger than {self.cfg.max_audio_bytes} bytes")
        media = self.world.media
        if media is None:
            raise ArenaError(BAD_REQUEST, f"this server does not accept {upload.field}")
        # Store it only for a request the engine would accept now, so a
        # hostile client cannot fill the media store with junk, and a refused
        # request never overwrites the upload of the accepted one.
        state = self.world.state
        match_id = body.get("match")
        if match_id is not None and match_id not in state.matches:
            raise ArenaError(NOT_FOUND, f"no live match {match_id!r}")
        slot = upload.accepts(state, conn.wallet, body)
        if slot is None:
            # The engine answers why: not_allowed, wrong_state, duplicate, bad_request.
            self._submit(conn, rid, make(None))
            return
        key = upload.claim(body, conn.wallet)
        if key in self.audio_claims:
            raise ArenaError(DUPLICATE, f"a request with {upload.field} for this is already being submitted")
        claims = self.audio_claims
        claims[key] = False

        async def put() -> str:
            if not upload.media_types:
                return await media.store_audio(match_id, body.get("round", 0), slot, data)
            declared = body.get(upload.type_field)
            if declared not in upload.media_types:
                raise ArenaError(BAD_REQUEST, f"{upload.type_field} must be one of "
                                              f"{', '.join(sorted(upload.media_types))}")
            await trio.to_thread.run_sync(probe.check, data, declared)
            return await media.store_object(upload.store_key(body, conn.wallet, data), data, declared)

        async def store():
            try:
                url = await put()
            except ArenaError as err:
                claims.pop(key, None)
                conn.error(rid, err)
                return
            except Exception:  # noqa: BLE001
                claims.pop(key, None)
                log.exception("media store failed")
                conn.error(rid, ArenaError(INTERNAL, f"could not store {upload.field}"))
                return
            try:
                self._submit(conn, rid, make(url))
            except ArenaError as err:
                claims.pop(key, None)
                conn.error(rid, err)
            else:
                claims[key] = True  # released by the flush after the engine's next step

        try:
            self._spawn(conn, store)
        except ArenaError:
            claims.pop(key, None)
            raise

    # Wallet requests go to the ledger, off the tick.
    def _spawn(self, conn: Connection, fn) -> None:
        """Run `fn` in the gateway's nursery, not the connection's.

        A payment that reached the ledger must be reported to the engine
        even if the client hangs up meanwhile; cancelling it with the
        connection could strand money in escrow.

        A connection's calls run one at a time, in the order its requests
        arrived: a batch is read as its envelopes one after another
        (PROTOCOL.md), so `[wallet.faucet, wallet.balance]` must see the
        faucet's money, and of two confirms of one tx the first wins.
        """
        if conn.inflight >= MAX_INFLIGHT:
            raise ArenaError(RATE_LIMITED, "too many wallet or read requests in flight", retry_after_ms=200)
        conn.inflight += 1
        conn.jobs.append(fn)
        if not conn.working:
            conn.working = True
            self._nursery.start_soon(self._work, conn)

    @staticmethod
    async def _work(conn: Connection) -> None:
        try:
            while conn.jobs:
                fn = conn.jobs.popleft()
                try:
                    await fn()
                finally:
                    conn.inflight -= 1
        finally:
            conn.working = False

    def _ledger_call(self, conn, rid, fn, what: str = "ledger") -> None:
        """Answer `rid` with what `fn()` returns, in the connection's jobs
        (off the tick); `what` names the port in the log and the error."""
        async def call():
            try:
                body = await fn()
            except ArenaError as err:
                conn.error(rid, err)
            except Exception:  # noqa: BLE001 - never crash a connection on a port's bug
                log.exception(f"{what} call failed", extra={"conn": conn.id})
                conn.error(rid, ArenaError(INTERNAL, f"{what} error"))
            else:
                conn.reply(rid, body)

        self._spawn(conn, call)

    def _balance(self, conn, rid, body):
        ledger, wallet = self.world.ledger, conn.wallet
        self._ledger_call(conn, rid, lambda: _wrap("balance", ledger.balance(wallet)))

    def _faucet(self, conn, rid, body):
        ledger, wallet = self.world.ledger, conn.wallet
        self._ledger_call(conn, rid, lambda: _wrap("balance", ledger.faucet(wallet)))

    def _entry_build(self, conn, rid, body):
        wallet, match = conn.wallet, body["match"]
        amount = core.entry_quote(self.world.state, match, wallet)
        ledger = self.world.ledger

        async def build():
            tx = await ledger.build_entry(wallet, match, amount)
            return {"tx": tx, "amount": amount}

        self._ledger_call(conn, rid, build)

    def _entry_confirm(self, conn, rid, body):
        wallet, match = conn.wallet, body["match"]
        amount = core.entry_quote(self.world.state, match, wallet)

        async def confirm():
            res = await self._confirm_entry(wallet, match, amount, body["tx"], body["signature"])
            return {"status": res.status}

        self._ledger_call(conn, rid, confirm)

    async def _confirm_entry(self, wallet: str, match: str, amount: int, tx: bytes, signature: bytes,
                             before_taken=None):
        """Confirm a payment into `match`'s escrow (`entry.confirm`, a mode's
        `Payment`); confirmed money is told to the engine and the wallet.
        `before_taken(result)` runs first, on the state without it."""
        res = await self.world.ledger.confirm_entry(wallet, match, amount, tx, signature)
        if before_taken is not None:
            before_taken(res)
        if res.status == "confirmed":
            # The money is in escrow now; the engine must hear of it even
            # under load, or it could never refund it.
            paid = I.EntryFeePaid(match, wallet, res.amount, res.payment_id)
            self.world.submit(paid, force=True)
            self.notify_paid(paid)
        return res

    def _tip_build(self, conn, rid, body):
        to, amount, wallet = body["to"], body["amount"], conn.wallet
        if not self.world.is_wallet(to):
            raise ArenaError(BAD_REQUEST, "'to' must be a wallet address (base58 ed25519 key)")
        if to == wallet:
            raise ArenaError(BAD_REQUEST, "cannot tip yourself")
        if amount <= 0:
            raise ArenaError(BAD_REQUEST, "amount must be a positive integer")
        fee = amount * self.world.tip_fee_bps // 10_000
        ledger = self.world.ledger

        async def build():
            tx = await ledger.build_tip(wallet, to, amount, fee)
            return {"tx": tx, "amount": amount, "fee": fee}

        self._ledger_call(conn, rid, build)

    def _tip_confirm(self, conn, rid, body):
        ledger, world, wallet = self.world.ledger, self.world, conn.wallet

        async def confirm():
            watched = body.get("match", "")
            res = await ledger.confirm_tip(wallet, body["tx"], body["signature"],
                                           **({"match": watched} if watched else {}))
            if res.status == "confirmed":
                tip = I.TipSent(res.from_wallet, res.to_wallet, res.amount, res.fee, res.payment_id, watched)
                world.submit(tip, force=True)
                self.notify_paid(tip)
            return {"status": res.status}

        self._ledger_call(conn, rid, confirm)

    # --- reads (arena.net.reads): rate-limited per connection, off the tick ----------------
    def _read_bucket(self, conn: Connection) -> None:
        """Every read takes from the connection's read bucket (`[net] reads_per_s`,
        `reads_burst`) besides the request bucket: reads cost the store work."""
        bucket = conn.buckets.get(READ_BUCKET)
        if bucket is None:
            bucket = conn.buckets[READ_BUCKET] = TokenBucket(self.cfg.reads_per_s, self.cfg.reads_burst, self._now())
        wait = bucket.take(self._now())
        if wait:
            self.stats["reads_limited"] = self.stats.get("reads_limited", 0) + 1
            raise ArenaError(RATE_LIMITED, "too many reads", retry_after_ms=wait)

    def _store_read(self, conn, rid, fn) -> None:
        self._read_bucket(conn)
        store = getattr(self.world, "store", None)
        if store is None:
            raise ArenaError(NOT_FOUND, "this server keeps no store to read")
        self._ledger_call(conn, rid, lambda: fn(store), "store")

    def _wallet_arg(self, conn, body: dict, name: str) -> str:
        """A wallet named in a body: the caller's own, or a wallet address."""
        wallet = body.get(name, conn.wallet)
        if wallet != conn.wallet and not self.world.is_wallet(wallet):
            raise ArenaError(BAD_REQUEST, f"{name!r} must be a wallet address (base58 ed25519 key)")
        return wallet

    def _match_list(self, conn, rid, body):
        # Live state, between ticks: a scan in memory, answered at once.
        self._read_bucket(conn)
        mode = reads.check_mode(body["mode"])
        limit = reads.limit_of(body)
        conn.reply(rid, {"matches": reads.match_list(self.world.state, mode, body.get("phase"), limit)})

    def _leaderboard(self, conn, rid, body):
        board, period = reads.check_board(body)
        limit = reads.limit_of(body)
        around = self._wallet_arg(conn, body, "around") if "around" in body else None
        # The period key of engine time now: the same clock the records use.
        key = period_key(period, now_ms(self.world.state), self.world.cfg.leaderboards.week_zone)

        async def get(store):
            entries = await store.leaderboard(board, key, limit, around)
            return {"board": board, "period": period, "period_key": key, "entries": entries}

        self._store_read(conn, rid, get)

    def _history(self, conn, rid, body):
        wallet = self._wallet_arg(conn, body, "wallet")
        mode = reads.check_mode(body["mode"]) if "mode" in body else None
        limit = reads.limit_of(body)
        before = reads.parse_cursor(body["before"]) if "before" in body else None

        async def get(store):
            rows = await store.history(wallet, mode, limit, before)
            details: dict[str, list] = {}
            for name in dict.fromkeys(r["mode"] for r in rows):
                for d in await store.history_details(name, [r["match"] for r in rows if r["mode"] == name]):
                    details.setdefault(d["match"], []).append(d)
            items = []
            ledger = self.world.ledger
            for r in rows:
                m = registry.get(r["mode"])
                result = r["result"] if m is None else m.history_result(r["result"], details.get(r["match"], []))
                key = result.get("settlement_key") if isinstance(result, dict) else None
                if isinstance(key, str) and key:
                    # What the ledger did with the match's payout or refund
                    # (the chain transaction's signature, where there is one).
                    result = {**result, "settlement": await _receipt(ledger, key)}
                items.append({"match": r["match"], "mode": r["mode"], "ended_at_ms": r["ended_at_ms"],
                              "result": result})
            last = rows[-1] if len(rows) == limit else None
            return {"matches": items, "next": reads.cursor_of(last["ended_tick"], last["match"]) if last else None}

        self._store_read(conn, rid, get)

    def _profile_get(self, conn, rid, body):
        wallet = self._wallet_arg(conn, body, "wallet")
        self._store_read(conn, rid, lambda store: _profile_of(store, wallet))

    def _profile_set(self, conn, rid, body):
        """Only the caller's own profile: the body names no wallet."""
        wallet = conn.wallet
        if not self.world.is_wallet(wallet):
            raise ArenaError(NOT_ALLOWED, "profiles belong to wallets; this session is an API key's")
        if "username" not in body and "avatar" not in body:
            raise ArenaError(BAD_REQUEST, "profile.set needs 'username' or 'avatar'")
        username = reads.check_username(body["username"]) if "username" in body else KEEP
        data = body.get("avatar")
        profiles = self.world.cfg.profiles
        limits = reads.AvatarLimits(profiles.max_avatar_bytes, profiles.max_avatar_pixels)
        media = self.world.media
        if data is not None:
            if len(data) > limits.max_bytes:
                raise ArenaError(BAD_REQUEST, f"avatar larger than {limits.max_bytes} bytes")
            if media is None:
                raise ArenaError(BAD_REQUEST, "this server does not accept avatars")

        async def change(store):
            avatar_url = KEEP
            if data is not None:
                png = await trio.to_thread.run_sync(reads.check_avatar, data, limits, limiter=self._image_limiter)
                avatar_url = await media.store_avatar(wallet, png)
            try:
                await store.set_profile(wallet, username=username, avatar_url=avatar_url)
            except Duplicate:
                raise ArenaError(DUPLICATE, "that username is taken") from None
            log.info("profile changed", extra={"wallet": wallet, "username": username is not KEEP,
                                               "avatar": data is not None})
            return await _profile_of(store, wallet)

        self._store_read(conn, rid, change)

    # --- balance events ------------------------------------------------------------------
    def notify_paid(self, inp) -> None:
        """The balance events of a payment the ledger confirmed (an
        `EntryFeePaid` or a `TipSent`), however it was reported."""
        if isinstance(inp, I.EntryFeePaid):
            self.notify_balance(inp.wallet, -inp.amount, "entry", inp.payment_id)
        elif isinstance(inp, I.TipSent):
            self.notify_balance(inp.from_wallet, -inp.amount, "tip_sent", inp.payment_id)
            self.notify_balance(inp.to_wallet, inp.amount - inp.fee, "tip_received", inp.payment_id)

    def notify_balance(self, wallet: str, change: int, reason: str, key: str) -> None:
        """`wallet:updated` to a connected wallet whose balance the ledger has
        just changed (a payment, payout or refund it applied): its new balance
        read from the ledger, off the tick. Nothing for a change of 0, or for
        a wallet without a session here, unless this server is one of a
        cluster: then the event goes to wherever the wallet is (`deliver`)."""
        if not change or self._nursery is None or (self.cluster is None and not self.sessions.by_wallet.get(wallet)):
            return
        # One event per (wallet, payment or settlement key, reason): the
        # confirm call and the chain watcher may both report one payment.
        told = (wallet, key, reason)
        if told in self._balance_told:
            return
        self._balance_told[told] = None
        if len(self._balance_told) > BALANCE_TOLD_MAX:
            del self._balance_told[next(iter(self._balance_told))]
        ledger = self.world.ledger

        async def send():
            try:
                balance = await ledger.balance(wallet)
            except Exception as exc:  # noqa: BLE001 - a notification, never worth a crash
                self.stats["balance_events_failed"] = self.stats.get("balance_events_failed", 0) + 1
                log.warning("balance event not sent", extra={"wallet": wallet, "error": str(exc)[:200]})
                return
            self.deliver([Event((wallet,), "wallet:updated",
                                {"balance": balance, "change": change, "reason": reason, "key": key})])

        self._nursery.start_soon(send)

    # --- frames out -------------------------------------------------------------------
    def deliver(self, messages) -> None:
        """Queue the engine's replies on the connections that sent the requests
        (`Reply.session` is a `Connection.addr`), and events on the sessions
        they are for."""
        # Once per message per tick: `Connection.queue` is inlined.
        addrs = self.addrs
        by_wallet = self.sessions.by_wallet
        dirty = self.dirty
        reply_bytes = codec.reply_bytes
        event_tail = codec.event_tail
        cluster = self.cluster
        forward = cluster.forward if cluster is not None else None
        relayed = cluster.relay_types if cluster is not None and cluster.relay_types else None
        for m in messages:
            if m.__class__ is Reply:
                session, rid, ok, body = m
                c = addrs.get(session)
                if c is not None and c.closing is None:
                    out = c.outbox
                    if not out:
                        dirty.append(c)
                    out.append(reply_bytes(rid, ok, body))
            else:
                to, type_, body = m
                tail = event_tail(type_, body)
                if relayed is not None and type_ in relayed:  # to the watchers on the other processes
                    cluster.relay_event(type_, tail)
                for wallet in to:
                    mine = by_wallet.get(wallet)
                    if mine:
                        for s in mine.values():
                            s.push_event(tail)
                    elif forward is not None:  # a cluster: to wherever the wallet is
                        forward(wallet, tail)

    def _after_batch(self) -> None:
        if self.wants_flush:
            self.flush()

    def flush(self) -> None:
        """Write everything queued since the last flush: one frame per connection."""
        self.wants_flush = False
        if self.audio_claims:
            # The step that ran just before this flush applied every submitted
            # upload; the engine's state now answers for them.
            # In place: an upload still being stored holds this dict (its
            # claim is released or marked done there when the store ends).
            for k in [k for k, v in self.audio_claims.items() if v]:
                del self.audio_claims[k]
        dirty, self.dirty = self.dirty, []
        frames = nbytes = 0
        batch = codec.batch
        for conn in dirty:
            out = conn.outbox
            if not out:
                continue
            conn.outbox = []
            if conn.closing is not None:
                continue
            frame = out[0] if len(out) == 1 else batch(out)
            if conn.ws.send_message(frame):
                frames += 1
                nbytes += len(frame)
        stats = self.stats
        stats["frames_out"] += frames
        stats["bytes_out"] += nbytes
        if self.held:
            held, self.held = self.held, []
            for conn in held:
                conn.held = False
                conn.ws.hold(False)


async def _profile_of(store, wallet: str) -> dict:
    """profile.get's answer: a wallet with no profile yet has one with nothing set."""
    found = await store.profile(wallet) or {}
    return {"wallet": wallet, "username": found.get("username"), "avatar_url": found.get("avatar_url"),
            "stats": await store.scores_of(wallet, ALL_KEY)}


async def _receipt(ledger, key: str) -> dict | None:
    """The ledger's receipt of settlement `key`, or None (not carried out yet,
    a ledger without receipts, or one that cannot answer now: a read never
    fails for it)."""
    receipt = getattr(ledger, "settlement_receipt", None)
    if receipt is None:
        return None
    try:
        return await receipt(key)
    except Exception as exc:  # noqa: BLE001 - history is served without it
        log.warning("settlement receipt unavailable", extra={"key": key, "error": str(exc)[:200]})
        return None


async def _wrap(key: str, coro) -> dict:
    return {key: await coro}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_HANDLERS = {
    "hello": Gateway._hello,
    "auth.login": Gateway._login,
    "auth.siws": Gateway._siws,
    "auth.bsv": Gateway._bsv_login,
    "auth.key": Gateway._key_login,
    "session.resume": Gateway._resume,
    "auth.seat": Gateway._seat,
    "ping": Gateway._ping,
    "wallet.balance": Gateway._balance,
    "wallet.faucet": Gateway._faucet,
    "entry.build": Gateway._entry_build,
    "entry.confirm": Gateway._entry_confirm,
    "tip.build": Gateway._tip_build,
    "tip.confirm": Gateway._tip_confirm,
    "queue.join": Gateway._queue_join,
    "queue.leave": Gateway._queue_leave,
    "match.watch": Gateway._watch,
    "match.list": Gateway._match_list,
    "match.locate": Gateway._locate,
    "leaderboard.get": Gateway._leaderboard,
    "history.get": Gateway._history,
    "profile.get": Gateway._profile_get,
    "profile.set": Gateway._profile_set,
}
# Every other request type is a mode's (`Gateway._game_request`).
assert set(_HANDLERS) == set(requests.REQUESTS)
