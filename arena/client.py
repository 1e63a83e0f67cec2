"""A small trio client for the Arena wire protocol, version 1 (PROTOCOL.md).

Written the way an independent client would be: it depends only on msgpack,
trio, trio-websocket and solders, never on the server's own code. Tests, the
bench and the bot (`arena.bot`) all use it.

    async with open_client("ws://127.0.0.1:8765/v1") as c:
        await c.hello()
        await c.login()                 # fresh keypair unless one was given
        await c.faucet()
        await c.queue("bronze")
        _, found = await c.next_event("match.found", timeout=30)
        await c.pay_entry(found["match"])

Frames: every request is one binary frame `[0, rid, type, body]`; the server
answers `[1, rid, status, body]` and pushes events `[2, seq, type, body]`, one
envelope or a batch (an array of envelopes) per frame. A background reader
task feeds each frame to `ArenaClient._on_frame`, a plain synchronous method
(unit-testable without a socket) that resolves waiting requests by `rid` and
appends events to a buffer read by `next_event`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import msgpack
import trio
import trio_websocket
from solders.keypair import Keypair

__all__ = [
    "DEFAULT_URL",
    "PROTOCOL_VERSION",
    "ArenaClient",
    "ArenaConnectionClosed",
    "ArenaError",
    "ArenaProtocolError",
    "ArenaRequestError",
    "ArenaTimeout",
    "decode_frame",
    "encode_request",
    "open_client",
    "short_wallet",
]

DEFAULT_URL = "ws://127.0.0.1:8765/v1"
PROTOCOL_VERSION = 1
REQUEST, REPLY, EVENT = 0, 1, 2
UINT32_MAX = 0xFFFFFFFF
MAX_MESSAGE_SIZE = 4 * 1024 * 1024


# --- errors ------------------------------------------------------------------------


class ArenaRequestError(Exception):
    """The server answered a request with status "error"."""

    def __init__(self, code: str, message: str = "", retry_after_ms: int | None = None,
                 body: dict | None = None):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms
        self.body = body if body is not None else {"code": code, "message": message}

    @classmethod
    def from_body(cls, body: Any) -> ArenaRequestError:
        if not isinstance(body, dict):
            return cls("bad_reply", f"error reply body is not a map: {body!r}", None, {"raw": body})
        code = body.get("code")
        msg = body.get("message")
        retry = body.get("retry_after_ms")
        return cls(
            code if isinstance(code, str) else repr(code),
            msg if isinstance(msg, str) else ("" if msg is None else repr(msg)),
            retry if isinstance(retry, int) and not isinstance(retry, bool) else None,
            body,
        )

    def __repr__(self) -> str:
        return f"ArenaRequestError(code={self.code!r}, message={self.message!r}, retry_after_ms={self.retry_after_ms!r})"


ArenaError = ArenaRequestError  # short alias


class ArenaConnectionClosed(ConnectionError):
    """The connection is closed; raised by anything that needs it open."""

    def __init__(self, code: int | None = None, reason: str | None = None):
        super().__init__(f"connection closed (code {code}{', ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


class ArenaTimeout(trio.TooSlowError, TimeoutError):
    """No reply / no matching event within the timeout."""


class ArenaProtocolError(Exception):
    """The server sent something the protocol does not allow (e.g. a reply status
    other than "ok"/"error")."""


# --- framing -------------------------------------------------------------------------

_module_packer = msgpack.Packer(use_bin_type=True)


def encode_request(rid: int, type: str, body: dict | None = None) -> bytes:
    """The frame bytes of one request envelope `[0, rid, type, body]`."""
    return _module_packer.pack([REQUEST, rid, type, {} if body is None else body])


def decode_frame(data: bytes) -> list:
    """A frame's envelopes: `[env]` for a single envelope, the list for a batch.

    Raises ValueError (msgpack's errors derive from it) when `data` is not
    exactly one MessagePack value.
    """
    value = msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)
    if isinstance(value, list) and (not value or isinstance(value[0], list)):
        return value
    return [value]


def short_wallet(wallet: Any) -> str:
    """`Abcd…wxyz` for logs; `-` for nil."""
    if not isinstance(wallet, str):
        return "-"
    return wallet if len(wallet) <= 10 else f"{wallet[:4]}…{wallet[-4:]}"


# --- the client ----------------------------------------------------------------------


class _Pending:
    __slots__ = ("event", "status", "body")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.status: str | None = None
        self.body: Any = None


_CLOSED = "__closed__"  # status given to requests failed by the connection closing


def _type_filter(type: str | Iterable[str] | None):
    if type is None:
        return None
    if isinstance(type, str):
        return (type,)
    return tuple(type)


class ArenaClient:
    """One protocol session over one WebSocket (`ws` may be None in unit tests).

    Public state:
      keypair, wallet, session, user, nonce, tick_hz, server_info (hello reply),
      last_seq (highest event seq seen), seq_gaps [(expected, got)],
      events_seen [(type, body, seq)], unclaimed_replies [(rid, status, body)],
      protocol_errors [str], closed (bool), close_code, close_reason.
    """

    def __init__(self, ws: trio_websocket.WebSocketConnection | None = None, *,
                 keypair: Keypair | None = None, client_name: str = "arena-client",
                 keep_events: bool = True, buffer_events: bool = True):
        self._ws = ws
        self.keypair = keypair
        self.client_name = client_name
        self.keep_events = keep_events
        self.buffer_events = buffer_events
        self._packer = msgpack.Packer(use_bin_type=True)
        self._next_rid = 1
        self._pending: dict[int, _Pending] = {}
        self._buffer: list[tuple[str, Any, int]] = []
        self._arrived = trio.Event()  # set (and replaced) whenever something is buffered or closes
        self.events_seen: list[tuple[str, Any, int]] = []
        self.unclaimed_replies: list[tuple[int, str, Any]] = []
        self.protocol_errors: list[str] = []
        self.last_seq = 0
        self.seq_gaps: list[tuple[int, int]] = []
        self.wallet: str | None = str(keypair.pubkey()) if keypair is not None else None
        self.bsv_key = None  # a bsv-sdk PrivateKey once logged in with auth.bsv
        self.session: str | None = None
        self.user: dict | None = None
        self.nonce: str | None = None
        self.tick_hz: int | None = None
        self.server_info: dict | None = None
        self.closed_event = trio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None

    # -- state --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.closed_event.is_set()

    async def wait_closed(self, timeout: float = 10) -> int | None:
        """Wait until the server closes the connection; return the close code."""
        with trio.move_on_after(timeout) as scope:
            await self.closed_event.wait()
        if scope.cancelled_caught:
            raise ArenaTimeout(f"connection still open after {timeout}s")
        return self.close_code

    def _rid(self) -> int:
        rid = self._next_rid
        while rid in self._pending:  # only after a wrap with very old requests still waiting
            rid = rid + 1 if rid < UINT32_MAX else 1
        self._next_rid = rid + 1 if rid < UINT32_MAX else 1  # 0 is never used: the server's "no rid"
        return rid

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = trio.Event()

    # -- frame handling (pure, synchronous) ---------------------------------------------

    def _on_frame(self, data: bytes | bytearray | str) -> None:
        """Handle one frame from the server: resolve replies, buffer events.

        Never raises; anything off-protocol is appended to `protocol_errors`.
        """
        if isinstance(data, str):
            self.protocol_errors.append("text frame from server")
            return
        try:
            envelopes = decode_frame(data)
        except Exception as exc:  # noqa: BLE001 - hostile/buggy server must not kill the reader
            self.protocol_errors.append(f"undecodable frame: {exc!r}")
            return
        woke = False
        for env in envelopes:
            if not isinstance(env, list) or len(env) != 4 or type(env[0]) is not int:
                self.protocol_errors.append(f"not an envelope: {env!r:.200}")
                continue
            kind, n, t, body = env
            if kind == REPLY:
                if type(n) is not int:
                    self.protocol_errors.append(f"reply rid is not an int: {env!r:.200}")
                    continue
                p = self._pending.pop(n, None)
                if p is None:
                    self.unclaimed_replies.append((n, t, body))
                    woke = True
                else:
                    p.status = t
                    p.body = body
                    p.event.set()
            elif kind == EVENT:
                if type(n) is not int or not isinstance(t, str):
                    self.protocol_errors.append(f"bad event envelope: {env!r:.200}")
                    continue
                expected = self.last_seq + 1
                if n != expected:
                    self.seq_gaps.append((expected, n))
                if n > self.last_seq:
                    self.last_seq = n
                if self.keep_events:
                    self.events_seen.append((t, body, n))
                if self.buffer_events:
                    self._buffer.append((t, body, n))
                    woke = True
            else:
                self.protocol_errors.append(f"unknown envelope kind {kind!r}")
        if woke:
            self._wake()

    def _on_closed(self, code: int | None, reason: str | None) -> None:
        if self.closed_event.is_set():
            return
        self.close_code = code
        self.close_reason = reason
        self.closed_event.set()
        pending, self._pending = self._pending, {}
        for p in pending.values():
            p.status = _CLOSED
            p.event.set()
        self._wake()

    def _closed_error(self) -> ArenaConnectionClosed:
        return ArenaConnectionClosed(self.close_code, self.close_reason)

    async def _reader(self) -> None:
        ws = self._ws
        try:
            while True:
                self._on_frame(await ws.get_message())
        except trio_websocket.ConnectionClosed as exc:
            r = exc.reason
            self._on_closed(getattr(r, "code", None), getattr(r, "reason", None))
        finally:
            # Cancelled (the client context is exiting) or crashed: fail waiters, never hang.
            if not self.closed_event.is_set():
                r = ws.closed
                self._on_closed(getattr(r, "code", None), getattr(r, "reason", None) or "client closed")

    # -- sending ------------------------------------------------------------------

    async def _send(self, data: bytes | str) -> None:
        if self.closed_event.is_set():
            raise self._closed_error()
        try:
            await self._ws.send_message(data)
        except trio_websocket.ConnectionClosed as exc:
            r = exc.reason
            # The reader reports the close too; here we only make sure the caller sees it.
            raise ArenaConnectionClosed(getattr(r, "code", None), getattr(r, "reason", None)) from None

    async def _await_pending(self, rid: int, p: _Pending, timeout: float) -> tuple[str, Any]:
        try:
            with trio.move_on_after(timeout) as scope:
                await p.event.wait()
        finally:
            if self._pending.get(rid) is p:  # timed out or cancelled: forget it
                del self._pending[rid]
        if scope.cancelled_caught:
            raise ArenaTimeout(f"no reply to rid {rid} within {timeout}s")
        if p.status == _CLOSED:
            raise self._closed_error()
        return p.status, p.body

    async def request_raw(self, type: str, body: dict | None = None, *,
                          timeout: float = 10) -> tuple[str, Any]:
        """Send one request; return (status, body) of its reply without raising on "error"."""
        if self.closed_event.is_set():
            raise self._closed_error()
        rid = self._rid()
        p = _Pending()
        self._pending[rid] = p
        try:
            await self._send(self._packer.pack([REQUEST, rid, type, {} if body is None else body]))
        except BaseException:
            self._pending.pop(rid, None)
            raise
        return await self._await_pending(rid, p, timeout)

    @staticmethod
    def _result(status: str, body: Any) -> Any:
        if status == "ok":
            return body
        if status == "error":
            raise ArenaRequestError.from_body(body)
        raise ArenaProtocolError(f"reply status {status!r} is neither 'ok' nor 'error'")

    async def request(self, type: str, body: dict | None = None, *, timeout: float = 10) -> Any:
        """Send one request and return its ok reply body; raise ArenaRequestError on "error"."""
        status, rbody = await self.request_raw(type, body, timeout=timeout)
        return self._result(status, rbody)

    async def request_batch(self, items: Iterable[tuple[str, dict | None]], *,
                            timeout: float = 10) -> list:
        """Send the requests as one batch frame; return their replies in order:
        the ok body, or an ArenaRequestError instance for an error reply."""
        if self.closed_event.is_set():
            raise self._closed_error()
        items = list(items)
        if not items:
            return []
        envs = []
        waits = []
        for type, body in items:
            rid = self._rid()
            p = _Pending()
            self._pending[rid] = p
            waits.append((rid, p))
            envs.append([REQUEST, rid, type, {} if body is None else body])
        try:
            await self._send(self._packer.pack(envs))
            out = []
            with trio.move_on_after(timeout) as scope:
                for rid, p in waits:
                    await p.event.wait()
            if scope.cancelled_caught:
                raise ArenaTimeout(f"batch of {len(waits)}: not all replies within {timeout}s")
            for rid, p in waits:
                if p.status == _CLOSED:
                    raise self._closed_error()
                try:
                    out.append(self._result(p.status, p.body))
                except ArenaRequestError as exc:
                    out.append(exc)
            return out
        finally:
            for rid, p in waits:
                if self._pending.get(rid) is p:
                    del self._pending[rid]

    async def send_raw(self, data: bytes | str, *, rid: int | None = None, timeout: float = 10,
                       allow_close: bool = False) -> tuple[str, Any] | None:
        """Send `data` as one frame, as is (str → a text frame).

        With `rid`, wait for the reply carrying that rid and return (status, body);
        without, return None at once (see `expect_reply` / `unclaimed_replies`).
        A closed connection raises ArenaConnectionClosed, unless `allow_close`
        (for frames meant to get the connection closed, e.g. over 1 MiB: the
        server may close it before the send finishes); then None is returned
        and `wait_closed()` gives the code.
        """
        if rid is None:
            try:
                await self._send(data)
            except ArenaConnectionClosed:
                if not allow_close:
                    raise
            return None
        p = _Pending()
        self._pending[rid] = p
        try:
            await self._send(data)
        except BaseException:
            self._pending.pop(rid, None)
            raise
        return await self._await_pending(rid, p, timeout)

    async def expect_reply(self, rid: int = 0, *, timeout: float = 10) -> tuple[str, Any]:
        """Wait for a reply nobody was waiting for (e.g. `bad_frame` under rid 0)
        with this rid; remove it from `unclaimed_replies` and return (status, body)."""
        with trio.move_on_after(timeout) as scope:
            while True:
                for i, (r, status, body) in enumerate(self.unclaimed_replies):
                    if r == rid:
                        del self.unclaimed_replies[i]
                        return status, body
                if self.closed_event.is_set():
                    raise self._closed_error()
                await self._arrived.wait()
        assert scope.cancelled_caught
        raise ArenaTimeout(f"no reply with rid {rid} within {timeout}s")

    async def close(self, code: int = 1000, reason: str | None = None, *, timeout: float = 2) -> None:
        """Close the connection from the client side (e.g. to test session.resume).

        Waits at most `timeout` seconds for the closing handshake."""
        if self._ws is not None:
            with trio.move_on_after(timeout):
                await self._ws.aclose(code, reason)
        self._on_closed(code, reason or "client closed")

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake, like a network
        failure (the server sees an abnormal close, 1006)."""
        if self._ws is not None:
            await self._ws._stream.aclose()

    # -- events -------------------------------------------------------------------

    def _find(self, types, match, where) -> tuple[str, Any] | None:
        buf = self._buffer
        for i, (t, body, _seq) in enumerate(buf):
            if types is not None and t not in types:
                continue
            if match is not None and not (isinstance(body, dict) and body.get("match") == match):
                continue
            if where is not None and not where(body):
                continue
            del buf[i]
            return t, body
        return None

    async def next_event(self, type: str | Iterable[str] | None = None, *, match: str | None = None,
                         where: Callable[[Any], bool] | None = None,
                         timeout: float = 10) -> tuple[str, Any]:
        """Remove and return (type, body) of the oldest buffered event matching
        `type` (a str or several), `match` (body["match"]) and `where(body)`;
        wait up to `timeout` seconds for one. Non-matching events stay buffered.
        Raises ArenaTimeout, or ArenaConnectionClosed once closed with none left."""
        types = _type_filter(type)
        found = self._find(types, match, where)
        if found is not None:
            return found
        with trio.move_on_after(timeout):
            while True:
                if self.closed_event.is_set():
                    raise self._closed_error()
                await self._arrived.wait()
                found = self._find(types, match, where)
                if found is not None:
                    return found
        raise ArenaTimeout(f"no event {type or '(any)'}"
                           f"{' for match ' + match if match else ''} within {timeout}s")

    def drain_events(self) -> list[tuple[str, Any]]:
        """Remove and return all buffered events as [(type, body)]."""
        out = [(t, b) for t, b, _ in self._buffer]
        self._buffer.clear()
        return out

    @property
    def buffered(self) -> list[tuple[str, Any, int]]:
        """The buffered, not yet consumed events [(type, body, seq)] (read-only view)."""
        return list(self._buffer)

    # -- helpers: session -----------------------------------------------------------

    def sign(self, message: bytes) -> bytes:
        """This client's wallet's signature of `message`: ed25519 (64 bytes) for a
        Solana wallet; for a BSV wallet (`login_bsv`), the 65 bytes of a Bitcoin
        Signed Message of the message's lowercase hex."""
        if self.bsv_key is not None:
            import base64

            return base64.b64decode(self.bsv_key.sign_text(bytes(message).hex())[1])
        if self.keypair is None:
            raise RuntimeError("no keypair (call login() or pass keypair=)")
        return bytes(self.keypair.sign_message(bytes(message)))

    def sign_payment(self, tx: bytes) -> tuple[bytes, bytes]:
        """The `(tx, signature)` a `*.confirm` takes for the built payment `tx`.

        On the BSV ledger `tx` is an unsigned BSV transaction (Extended
        Format): a BSV wallet signs its inputs and sends the signed
        transaction back, with its Bitcoin Signed Message over the built
        bytes' hex. Everywhere else the built bytes go back with `sign(tx)`."""
        if self.bsv_key is not None:
            from arena.chain.bsv_tx import sign_payment

            return sign_payment(self.bsv_key, tx)
        return tx, self.sign(tx)

    async def hello(self, protocol: int = PROTOCOL_VERSION) -> dict:
        body = await self.request("hello", {"protocol": protocol, "client": self.client_name})
        self.server_info = body
        self.nonce = body.get("nonce")
        self.tick_hz = body.get("tick_hz")
        return body

    async def _key_and_nonce(self, keypair: Keypair | None) -> str:
        """Take `keypair` (or keep the client's, or make one) and use up an
        unused hello nonce (sending hello if there is none)."""
        if keypair is not None:
            self.keypair = keypair
        if self.keypair is None:
            self.keypair = Keypair()
        self.bsv_key = None
        self.wallet = str(self.keypair.pubkey())
        if self.nonce is None:
            await self.hello()
        nonce, self.nonce = self.nonce, None
        return nonce

    async def login(self, keypair: Keypair | None = None) -> dict:
        """auth.login with the wallet key (given, the client's, or a fresh one).

        Sends `hello` first if no unused nonce is at hand. The nonce is used up
        either way. Returns the reply body; sets `session`, `wallet`, `user`."""
        nonce = await self._key_and_nonce(keypair)
        sig = self.sign(("arena:login:" + nonce).encode("utf-8"))
        body = await self.request("auth.login", {"wallet": self.wallet, "signature": sig})
        self.session = body.get("session")
        self.user = body.get("user")
        return body

    async def login_bsv(self, key=None) -> dict:
        """auth.bsv with a BSV key (a bsv-sdk `PrivateKey`: given, the client's,
        or a fresh one): a Bitcoin Signed Message of `"arena:login:" + nonce`.
        The wallet is the key's P2PKH address; payments are then signed with it."""
        from bsv.keys import PrivateKey

        if key is not None:
            self.bsv_key = key
        if self.bsv_key is None:
            self.bsv_key = PrivateKey()
        self.keypair = None
        self.wallet = self.bsv_key.address()
        if self.nonce is None:
            await self.hello()
        nonce, self.nonce = self.nonce, None
        _, signature = self.bsv_key.sign_text("arena:login:" + nonce)
        body = await self.request("auth.bsv", {"address": self.wallet, "signature": signature})
        self.session = body.get("session")
        self.user = body.get("user")
        return body

    async def login_siws(self, keypair: Keypair | None = None, *, statement: str | None = "Sign in to Arena.",
                         uri: str | None = None, expires_in_s: int | None = 600) -> dict:
        """auth.siws: a Sign-In With Solana message for the server's domain and
        this connection's hello nonce, signed with the wallet key."""
        from datetime import datetime, timedelta, timezone

        from arena.net import siws

        nonce = await self._key_and_nonce(keypair)
        domain = (self.server_info or {}).get("domain", "localhost")
        now = datetime.now(timezone.utc)
        text = siws.build(siws.SiwsMessage(
            domain=domain, address=self.wallet, statement=statement, uri=uri or f"https://{domain}",
            version="1", chain_id="mainnet", nonce=nonce,
            issued_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            expiration_time=(now + timedelta(seconds=expires_in_s)).isoformat(timespec="seconds").replace(
                "+00:00", "Z") if expires_in_s is not None else None))
        body = await self.request("auth.siws", {"message": text, "signature": self.sign(text.encode())})
        self.session = body.get("session")
        self.user = body.get("user")
        return body

    async def locate(self, match: str) -> dict:
        """match.locate: {"match", "url", "node", "world", "mode"} of the
        cluster's server holding `match` (`not_found` once it has ended)."""
        return await self.request("match.locate", {"match": match})

    async def claim_seat(self, token: str) -> dict:
        """auth.seat: claim the seat reservation of a cluster's `match.found`
        on the server it names (connect to `seat["url"]` first). Sends `hello`
        first if this connection has not. Sets `session`, `user` (and
        `wallet`, when no key is at hand); returns the reply body."""
        if self.server_info is None:
            await self.hello()
        body = await self.request("auth.seat", {"token": token})
        self.session = body.get("session")
        self.user = body.get("user")
        if self.wallet is None:
            self.wallet = (self.user or {}).get("wallet")
        return body

    async def resume(self, session: str | None = None, last_seq: int | None = None) -> dict:
        """session.resume (sends `hello` first if this connection has not).

        `last_seq` defaults to this client's `last_seq`; it becomes the base for
        seq checking so replayed events are expected from last_seq + 1."""
        session = self.session if session is None else session
        if last_seq is None:
            last_seq = self.last_seq
        if self.server_info is None:
            await self.hello()
        before = self.last_seq
        self.last_seq = last_seq
        try:
            body = await self.request("session.resume", {"session": session, "last_seq": last_seq})
        except BaseException:
            if self.last_seq == last_seq:
                self.last_seq = before
            raise
        self.session = session
        return body

    async def ping(self) -> int:
        """Returns the server's tick."""
        return (await self.request("ping", {}))["tick"]

    # -- helpers: wallet ----------------------------------------------------------

    async def balance(self) -> int:
        return (await self.request("wallet.balance", {}))["balance"]

    async def faucet(self) -> int:
        """Returns the new balance; raises ArenaRequestError("not_allowed") without a faucet."""
        return (await self.request("wallet.faucet", {}))["balance"]

    async def pay_entry(self, match: str) -> str:
        """entry.build → sign → entry.confirm; returns "pending" or "confirmed"."""
        built = await self.request("entry.build", {"match": match})
        tx, signature = self.sign_payment(built["tx"])
        body = await self.request("entry.confirm", {"match": match, "tx": tx, "signature": signature})
        return body["status"]

    async def tip(self, to: str, amount: int, match: str | None = None) -> tuple[str, int, int]:
        """tip.build → sign → tip.confirm; returns (status, amount, fee).
        `match`: the battle being watched, to tie the tip to it."""
        built = await self.request("tip.build", {"to": to, "amount": amount})
        tx, signature = self.sign_payment(built["tx"])
        body = await self.request("tip.confirm", {"tx": tx, "signature": signature, **_given(match=match)})
        return body["status"], built["amount"], built["fee"]

    # -- helpers: roast battles -----------------------------------------------------

    async def queue(self, tier: str = "bronze", mode: str = "roast") -> dict:
        return await self.request("queue.join", {"mode": mode, "tier": tier})

    async def leave_queue(self) -> dict:
        return await self.request("queue.leave", {})

    async def submit(self, match: str, round: int, text: str, audio: bytes | None = None) -> dict:
        body: dict[str, Any] = {"match": match, "round": round, "text": text}
        if audio is not None:
            body["audio"] = audio
        return await self.request("roast.submit", body)

    async def react(self, match: str, emoji: str) -> dict:
        return await self.request("reaction.send", {"match": match, "emoji": emoji})

    async def watch(self, match: str) -> dict:
        """match.watch; the `match.snapshot` event that follows stays in the event buffer."""
        return await self.request("match.watch", {"match": match})

    # -- helpers: the platform's reads -----------------------------------------------

    async def list_matches(self, mode: str = "roast", *, phase: str | None = None,
                           limit: int | None = None) -> list[dict]:
        """match.list: the live matches of a mode, newest first."""
        body = _given(mode=mode, phase=phase, limit=limit)
        return (await self.request("match.list", body))["matches"]

    async def leaderboard(self, board: str, *, period: str | None = None, limit: int | None = None,
                          around: str | None = None) -> dict:
        """leaderboard.get: {"board", "period", "entries": [{"rank", "wallet", "username", "score"}]}."""
        return await self.request("leaderboard.get", _given(board=board, period=period, limit=limit, around=around))

    async def history(self, wallet: str | None = None, *, mode: str | None = None, limit: int | None = None,
                      before: str | None = None) -> dict:
        """history.get: {"matches": [...], "next": cursor or None} (default: this wallet's)."""
        return await self.request("history.get", _given(wallet=wallet, mode=mode, limit=limit, before=before))

    async def profile(self, wallet: str | None = None) -> dict:
        """profile.get (default: this wallet's)."""
        return await self.request("profile.get", {"wallet": wallet or self.wallet})

    async def set_profile(self, *, username: str | None = None, avatar: bytes | None = None) -> dict:
        """profile.set: this wallet's username and/or avatar; the new profile."""
        return await self.request("profile.set", _given(username=username, avatar=avatar))


def _given(**fields: Any) -> dict:
    """A body of the fields that are not None (absent fields take the server's defaults)."""
    return {k: v for k, v in fields.items() if v is not None}


@asynccontextmanager
async def open_client(url: str = DEFAULT_URL, *, keypair: Keypair | None = None,
                      client_name: str = "arena-client", connect_timeout: float = 5,
                      disconnect_timeout: float = 2, max_message_size: int = MAX_MESSAGE_SIZE,
                      keep_events: bool = True, buffer_events: bool = True) -> AsyncIterator[ArenaClient]:
    """Connect and yield an ArenaClient whose reader runs until the block exits.

    Connection failures raise trio_websocket.HandshakeError (or a subclass such
    as ConnectionTimeout / ConnectionRejected). `keep_events=False` stops the
    `events_seen` log and `buffer_events=False` drops events instead of
    buffering them (for load generators that never read events).
    """
    async with trio_websocket.open_websocket_url(
        url, max_message_size=max_message_size, message_queue_size=64,
        connect_timeout=connect_timeout, disconnect_timeout=disconnect_timeout,
    ) as ws:
        client = ArenaClient(ws, keypair=keypair, client_name=client_name,
                             keep_events=keep_events, buffer_events=buffer_events)
        async with running(client):
            yield client


@asynccontextmanager
async def running(client: ArenaClient) -> AsyncIterator[ArenaClient]:
    """Run `client`'s reader until the block exits (any transport: a real
    WebSocket in `open_client`, an in-memory link in the simulator)."""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._reader)
            try:
                yield client
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The caller's own exception (the reader never raises): give it back as
        # raised, not wrapped, so `except ArenaRequestError` works around the block.
        if len(group.exceptions) != 1:
            raise
        exc = group.exceptions[0]
        context = exc.__context__
        try:
            raise exc
        finally:
            exc.__context__ = context
            del exc, context
