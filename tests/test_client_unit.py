"""Unit tests of arena.client without a server: framing, frame dispatch,
event filtering, seq gap detection, request/reply over an in-memory fake
WebSocket."""

from __future__ import annotations

from contextlib import asynccontextmanager

import msgpack
import pytest
import trio
from solders.keypair import Keypair
from solders.signature import Signature
from trio_websocket import CloseReason, ConnectionClosed

from arena.client import (
    UINT32_MAX,
    ArenaClient,
    ArenaConnectionClosed,
    ArenaProtocolError,
    ArenaRequestError,
    ArenaTimeout,
    decode_frame,
    encode_request,
    short_wallet,
)


def pk(v) -> bytes:
    return msgpack.packb(v, use_bin_type=True)


def ev(seq, type_, body=None):
    return [2, seq, type_, {} if body is None else body]


# --- framing ---------------------------------------------------------------------------


def test_encode_request_is_one_envelope():
    assert msgpack.unpackb(encode_request(7, "ping", {})) == [0, 7, "ping", {}]
    assert msgpack.unpackb(encode_request(8, "wallet.balance")) == [0, 8, "wallet.balance", {}]
    raw = encode_request(9, "auth.login", {"wallet": "w", "signature": b"\x00" * 64})
    # bytes travel as MessagePack bin, not str
    assert msgpack.unpackb(raw, raw=False)[3]["signature"] == b"\x00" * 64
    assert b"\xc4\x40" in raw  # bin8 header, length 64


def test_decode_frame_single_and_batch():
    assert decode_frame(pk([1, 3, "ok", {"tick": 5}])) == [[1, 3, "ok", {"tick": 5}]]
    batch = [[1, 3, "ok", {}], [2, 1, "match.found", {"match": "m"}]]
    assert decode_frame(pk(batch)) == batch
    assert decode_frame(pk([])) == []
    # bin stays bytes, str stays str
    assert decode_frame(pk([1, 1, "ok", {"tx": b"\x01\x02"}]))[0][3]["tx"] == b"\x01\x02"


def test_decode_frame_rejects_garbage():
    with pytest.raises(ValueError):
        decode_frame(b"\xc1")
    with pytest.raises(ValueError):
        decode_frame(pk(1) + pk(2))  # two values in one frame


def test_short_wallet():
    w = str(Keypair().pubkey())
    assert short_wallet(w) == f"{w[:4]}…{w[-4:]}"
    assert short_wallet(None) == "-"


# --- frame dispatch (pure) -------------------------------------------------------------------


async def test_on_frame_resolves_reply_and_buffers_events():
    c = ArenaClient()
    rid = c._rid()
    from arena.client import _Pending

    p = _Pending()
    c._pending[rid] = p
    c._on_frame(pk([ev(1, "match.found", {"match": "m1"}), [1, rid, "ok", {"x": 1}], ev(2, "entry.confirmed", {"match": "m1"})]))
    assert p.event.is_set() and p.status == "ok" and p.body == {"x": 1}
    assert rid not in c._pending
    assert c.last_seq == 2 and c.seq_gaps == []
    assert [(t, s) for t, _, s in c.events_seen] == [("match.found", 1), ("entry.confirmed", 2)]
    assert c.drain_events() == [("match.found", {"match": "m1"}), ("entry.confirmed", {"match": "m1"})]
    assert c.drain_events() == []
    assert len(c.events_seen) == 2  # the log keeps everything


async def test_on_frame_unclaimed_and_protocol_errors():
    c = ArenaClient()
    c._on_frame(pk([1, 0, "error", {"code": "bad_frame", "message": "x"}]))
    assert c.unclaimed_replies == [(0, "error", {"code": "bad_frame", "message": "x"})]
    c._on_frame(b"\xc1")
    c._on_frame("text")
    c._on_frame(pk([9, 1, 2, 3]))
    c._on_frame(pk({"a": 1}))
    c._on_frame(pk([2, "x", "t", {}]))
    assert len(c.protocol_errors) == 5
    assert c.last_seq == 0 and c.events_seen == []


async def test_seq_gaps_recorded_not_raised():
    c = ArenaClient()
    c._on_frame(pk(ev(1, "a")))
    c._on_frame(pk([ev(2, "a"), ev(4, "a")]))  # 3 missing
    c._on_frame(pk(ev(4, "a")))  # repeated
    c._on_frame(pk(ev(5, "a")))
    assert c.seq_gaps == [(3, 4), (5, 4)]
    assert c.last_seq == 5


async def test_first_event_must_be_seq_1():
    c = ArenaClient()
    c._on_frame(pk(ev(2, "a")))
    assert c.seq_gaps == [(1, 2)]


async def test_keep_and_buffer_flags():
    c = ArenaClient(keep_events=False, buffer_events=False)
    c._on_frame(pk([ev(1, "a"), ev(3, "b")]))
    assert c.events_seen == [] and c.drain_events() == []
    assert c.last_seq == 3 and c.seq_gaps == [(2, 3)]


# --- next_event -------------------------------------------------------------------------------


async def test_next_event_filters_and_keeps_order():
    c = ArenaClient()
    c._on_frame(pk([
        ev(1, "battle:round_start", {"match": "m1", "roundNumber": 1}),
        ev(2, "reaction:sent", {"match": "m1"}),
        ev(3, "battle:round_start", {"match": "m2", "roundNumber": 1}),
        ev(4, "battle:ended", {"match": "m1"}),
        ev(5, "battle:round_start", {"match": "m1", "roundNumber": 2}),
    ]))
    assert await c.next_event("battle:round_start", match="m2") == (
        "battle:round_start", {"match": "m2", "roundNumber": 1})
    assert await c.next_event(("battle:ended", "reaction:sent")) == ("reaction:sent", {"match": "m1"})
    assert await c.next_event("battle:round_start", where=lambda b: b["roundNumber"] == 2) == (
        "battle:round_start", {"match": "m1", "roundNumber": 2})
    assert await c.next_event() == ("battle:round_start", {"match": "m1", "roundNumber": 1})
    assert [t for t, _, _ in c.buffered] == ["battle:ended"]
    assert await c.next_event(["battle:ended"], match="m1") == ("battle:ended", {"match": "m1"})


async def test_next_event_waits_for_later_event():
    c = ArenaClient()
    c._on_frame(pk(ev(1, "other")))

    async def later():
        await trio.sleep(0.05)
        c._on_frame(pk(ev(2, "noise")))
        await trio.sleep(0.05)
        c._on_frame(pk(ev(3, "wanted", {"match": "m"})))

    async with trio.open_nursery() as n:
        n.start_soon(later)
        assert await c.next_event("wanted", timeout=5) == ("wanted", {"match": "m"})
    assert [t for t, _, _ in c.buffered] == ["other", "noise"]


async def test_next_event_timeout():
    c = ArenaClient()
    c._on_frame(pk(ev(1, "other")))
    with pytest.raises(ArenaTimeout):
        await c.next_event("wanted", timeout=0.05)
    with pytest.raises(TimeoutError):
        await c.next_event("wanted", timeout=0.01)
    with pytest.raises(trio.TooSlowError):
        await c.next_event("wanted", timeout=0.01)
    assert await c.next_event(timeout=0) == ("other", {})


async def test_next_event_after_close():
    c = ArenaClient()
    c._on_frame(pk(ev(1, "a")))
    c._on_closed(1008, "abuse")
    assert await c.next_event("a") == ("a", {})  # buffered events are still readable
    with pytest.raises(ArenaConnectionClosed) as ei:
        await c.next_event("a", timeout=5)
    assert ei.value.code == 1008
    assert isinstance(ei.value, ConnectionError)


async def test_next_event_woken_by_close():
    c = ArenaClient()

    async def close_later():
        await trio.sleep(0.05)
        c._on_closed(1009, "too big")

    async with trio.open_nursery() as n:
        n.start_soon(close_later)
        with trio.fail_after(5), pytest.raises(ArenaConnectionClosed):
            await c.next_event("never", timeout=60)


# --- request / reply over a fake WebSocket ---------------------------------------------


class FakeWS:
    """A stand-in for trio_websocket.WebSocketConnection. `handler(envelope)`
    returns the reply envelopes/events (or None to stay silent)."""

    def __init__(self, handler=None):
        self.sent: list = []
        self.handler = handler
        self._tx, self._rx = trio.open_memory_channel(1000)
        self.closed: CloseReason | None = None

    async def send_message(self, data):
        if self.closed is not None:
            raise ConnectionClosed(self.closed)
        self.sent.append(data)
        if self.handler is None:
            return
        out = []
        for env in decode_frame(data):
            r = self.handler(env)
            if r:
                out.extend(r)
        if len(out) == 1:
            await self._tx.send(pk(out[0]))
        elif out:
            await self._tx.send(pk(out))  # the server batches a tick's output

    async def push(self, value):
        await self._tx.send(pk(value))

    def server_close(self, code, reason=None):
        self.closed = CloseReason(code, reason)
        self._tx.close()

    async def get_message(self):
        try:
            return await self._rx.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise ConnectionClosed(self.closed or CloseReason(1006, None)) from None

    async def aclose(self, code=1000, reason=None):
        if self.closed is None:
            self.closed = CloseReason(code, reason)
            self._tx.close()


@asynccontextmanager
async def fake_client(handler=None, **kw):
    ws = FakeWS(handler)
    c = ArenaClient(ws, **kw)
    async with trio.open_nursery() as n:
        n.start_soon(c._reader)
        try:
            yield c, ws
        finally:
            n.cancel_scope.cancel()


def echo_ok(env):
    _, rid, type_, body = env
    return [[1, rid, "ok", {"type": type_, "body": body}]]


async def test_request_ok_and_frame_format():
    async with fake_client(echo_ok) as (c, ws):
        body = await c.request("ping", {"x": 1})
        assert body == {"type": "ping", "body": {"x": 1}}
        assert await c.request("wallet.balance") == {"type": "wallet.balance", "body": {}}
        assert all(isinstance(f, bytes) for f in ws.sent)
        first = msgpack.unpackb(ws.sent[0])
        assert first[0] == 0 and first[2] == "ping" and isinstance(first[1], int)
        assert msgpack.unpackb(ws.sent[1])[1] == first[1] + 1  # rids count up
        assert c._pending == {}


async def test_error_reply_raises_with_code():
    def handler(env):
        return [[1, env[1], "error", {"code": "rate_limited", "message": "slow down", "retry_after_ms": 250}]]

    async with fake_client(handler) as (c, _):
        with pytest.raises(ArenaRequestError) as ei:
            await c.request("queue.join", {"mode": "roast", "tier": "bronze"})
        e = ei.value
        assert (e.code, e.message, e.retry_after_ms) == ("rate_limited", "slow down", 250)
        assert e.body["code"] == "rate_limited"
        status, body = await c.request_raw("queue.join", {})
        assert status == "error" and body["code"] == "rate_limited"


async def test_error_without_retry_and_bad_status():
    replies = iter([
        [1, None, "error", {"code": "not_found", "message": "no such match"}],
        [1, None, "maybe", {}],
    ])

    def handler(env):
        r = next(replies)
        r[1] = env[1]
        return [r]

    async with fake_client(handler) as (c, _):
        with pytest.raises(ArenaRequestError) as ei:
            await c.request("match.watch", {"match": "zz"})
        assert ei.value.code == "not_found" and ei.value.retry_after_ms is None
        with pytest.raises(ArenaProtocolError):
            await c.request("ping")


async def test_replies_out_of_order_and_events_interleaved():
    held = []

    def handler(env):
        held.append(env)
        if len(held) < 2:
            return None
        # answer both, second first, with events around them
        a, b = held
        return [[2, 1, "e1", {}], [1, b[1], "ok", {"n": 2}], [1, a[1], "ok", {"n": 1}], [2, 2, "e2", {}]]

    async with fake_client(handler) as (c, _):
        results = {}

        async def req(name):
            results[name] = await c.request(name)

        async with trio.open_nursery() as n:
            n.start_soon(req, "first")
            await trio.sleep(0.01)
            n.start_soon(req, "second")
        assert results == {"first": {"n": 1}, "second": {"n": 2}}
        assert await c.next_event("e2") == ("e2", {})
        assert c.last_seq == 2 and c.seq_gaps == []


async def test_request_batch_one_frame_mixed_results():
    def handler(env):
        _, rid, type_, body = env
        if type_ == "bad":
            return [[1, rid, "error", {"code": "unknown_type", "message": "?"}]]
        return [[1, rid, "ok", {"t": type_}]]

    async with fake_client(handler) as (c, ws):
        out = await c.request_batch([("ping", {}), ("bad", None), ("wallet.balance", {})])
        assert len(ws.sent) == 1
        frame = msgpack.unpackb(ws.sent[0])
        assert isinstance(frame[0], list) and [e[2] for e in frame] == ["ping", "bad", "wallet.balance"]
        assert frame[1][3] == {}
        assert out[0] == {"t": "ping"} and out[2] == {"t": "wallet.balance"}
        assert isinstance(out[1], ArenaRequestError) and out[1].code == "unknown_type"
        assert c._pending == {}


async def test_request_timeout_cleans_up():
    async with fake_client(None) as (c, _):
        with pytest.raises(ArenaTimeout):
            await c.request("ping", timeout=0.05)
        assert c._pending == {}


async def test_close_fails_waiting_requests_with_code():
    async with fake_client(None) as (c, ws):
        async def close_soon():
            await trio.sleep(0.05)
            ws.server_close(1008, "too many bad frames")

        async with trio.open_nursery() as n:
            n.start_soon(close_soon)
            with trio.fail_after(5), pytest.raises(ArenaConnectionClosed) as ei:
                await c.request("ping", timeout=60)
        assert ei.value.code == 1008
        assert c.closed and c.close_code == 1008 and c.close_reason == "too many bad frames"
        assert await c.wait_closed(timeout=1) == 1008
        with pytest.raises(ArenaConnectionClosed):
            await c.request("ping")
        with pytest.raises(ConnectionError):
            await c.request_batch([("ping", {})])


async def test_messages_before_close_are_delivered():
    async with fake_client(None) as (c, ws):
        await ws.push([1, 0, "error", {"code": "bad_frame", "message": "not msgpack"}])
        ws.server_close(1008)
        assert await c.wait_closed(timeout=5) == 1008
        assert await c.expect_reply(0, timeout=1) == ("error", {"code": "bad_frame", "message": "not msgpack"})


async def test_send_raw_and_expect_reply():
    def handler(env):
        return [[1, env[1] if isinstance(env, list) and len(env) > 1 else 0, "error",
                 {"code": "bad_frame", "message": "x"}]]

    async with fake_client(handler) as (c, ws):
        status, body = await c.send_raw(pk([0, 77, 5, {}]), rid=77)
        assert status == "error" and body["code"] == "bad_frame"
        assert await c.send_raw(pk([0, 0, "ping", "notamap"])) is None
        assert await c.expect_reply(0, timeout=5) == ("error", {"code": "bad_frame", "message": "x"})
        with pytest.raises(ArenaTimeout):
            await c.expect_reply(0, timeout=0.05)
        assert ws.sent[0] == pk([0, 77, 5, {}])


async def test_rid_wraps_and_skips_zero():
    c = ArenaClient()
    c._next_rid = UINT32_MAX
    assert c._rid() == UINT32_MAX
    assert c._rid() == 1
    c._pending[2] = object()
    assert c._rid() == 3  # skips a rid still waiting


# --- helpers: signatures ------------------------------------------------------------------


def verify(wallet: str, msg: bytes, sig: bytes) -> bool:
    from solders.pubkey import Pubkey

    return Signature(sig).verify(Pubkey.from_string(wallet), msg)


async def test_hello_login_signs_nonce():
    seen = {}
    nonces = iter(["n1", "n2"])

    def handler(env):
        _, rid, t, body = env
        seen.setdefault(t, []).append(body)
        if t == "hello":
            return [[1, rid, "ok", {"protocol": 1, "server": "fake", "tick_hz": 20, "tick": 3, "nonce": next(nonces)}]]
        if t == "auth.login":
            return [[1, rid, "ok", {"session": "s1", "user": {"id": "u", "wallet": body["wallet"], "username": None}}]]
        return [[1, rid, "ok", {}]]

    kp = Keypair()
    async with fake_client(handler, keypair=kp, client_name="t") as (c, _):
        h = await c.hello()
        assert h["nonce"] == "n1" and c.tick_hz == 20 and c.nonce == "n1"
        assert seen["hello"] == [{"protocol": 1, "client": "t"}]
        r = await c.login()
        assert c.session == "s1" and c.wallet == str(kp.pubkey()) and r["user"]["wallet"] == c.wallet
        body = seen["auth.login"][0]
        assert isinstance(body["signature"], bytes) and len(body["signature"]) == 64
        assert verify(c.wallet, b"arena:login:n1", body["signature"])
        assert c.nonce is None
        # a second login needs a fresh nonce: hello is sent again
        await c.login()
        assert len(seen["hello"]) == 2
        assert verify(c.wallet, b"arena:login:n2", seen["auth.login"][1]["signature"])


async def test_login_generates_keypair():
    def handler(env):
        _, rid, t, body = env
        if t == "hello":
            return [[1, rid, "ok", {"protocol": 1, "server": "f", "tick_hz": 20, "tick": 0, "nonce": "abc"}]]
        return [[1, rid, "ok", {"session": "s", "user": {"id": "1", "wallet": body["wallet"], "username": None}}]]

    async with fake_client(handler) as (c, _):
        await c.login()
        assert c.keypair is not None and c.wallet == str(c.keypair.pubkey())


async def test_pay_entry_and_tip_sign_tx():
    tx_entry, tx_tip = b"entry-tx-bytes", b"tip-tx-bytes"
    confirms = []

    def handler(env):
        _, rid, t, body = env
        if t == "entry.build":
            assert body == {"match": "m1"}
            return [[1, rid, "ok", {"tx": tx_entry, "amount": 100}]]
        if t == "tip.build":
            return [[1, rid, "ok", {"tx": tx_tip, "amount": body["amount"], "fee": body["amount"] * 200 // 10000}]]
        if t in ("entry.confirm", "tip.confirm"):
            confirms.append((t, body))
            return [[1, rid, "ok", {"status": "confirmed" if t == "tip.confirm" else "pending"}]]
        raise AssertionError(t)

    kp = Keypair()
    async with fake_client(handler, keypair=kp) as (c, _):
        assert await c.pay_entry("m1") == "pending"
        assert await c.tip("someone", 1000) == ("confirmed", 1000, 20)
    (t1, b1), (t2, b2) = confirms
    assert t1 == "entry.confirm" and b1["match"] == "m1" and b1["tx"] == tx_entry
    assert verify(str(kp.pubkey()), tx_entry, b1["signature"])
    assert t2 == "tip.confirm" and set(b2) == {"tx", "signature"} and verify(str(kp.pubkey()), tx_tip, b2["signature"])


async def test_game_helpers_bodies():
    seen = []

    def handler(env):
        _, rid, t, body = env
        seen.append((t, body))
        if t == "wallet.balance" or t == "wallet.faucet":
            return [[1, rid, "ok", {"balance": 42}]]
        if t == "ping":
            return [[1, rid, "ok", {"tick": 9}]]
        if t == "queue.join":
            return [[1, rid, "ok", {"queued": True}]]
        if t == "match.watch":
            return [[1, rid, "ok", {}], [2, 1, "match.snapshot", {"match": body["match"], "tick": 1, "state": {}}]]
        return [[1, rid, "ok", {}]]

    async with fake_client(handler) as (c, _):
        assert await c.balance() == 42
        assert await c.faucet() == 42
        assert await c.ping() == 9
        assert await c.queue("gold") == {"queued": True}
        await c.submit("m", 2, "hello")
        await c.submit("m", 3, "", audio=b"\x00\x01")
        await c.react("m", "🔥")
        await c.watch("m")
        assert (await c.next_event("match.snapshot", match="m", timeout=1))[1]["tick"] == 1
        await c.leave_queue()
    assert seen == [
        ("wallet.balance", {}), ("wallet.faucet", {}), ("ping", {}),
        ("queue.join", {"mode": "roast", "tier": "gold"}),
        ("roast.submit", {"match": "m", "round": 2, "text": "hello"}),
        ("roast.submit", {"match": "m", "round": 3, "text": "", "audio": b"\x00\x01"}),
        ("reaction.send", {"match": "m", "emoji": "🔥"}),
        ("match.watch", {"match": "m"}),
        ("queue.leave", {}),
    ]


async def test_resume_sets_seq_base():
    def handler(env):
        _, rid, t, body = env
        if t == "hello":
            return [[1, rid, "ok", {"protocol": 1, "server": "f", "tick_hz": 20, "tick": 0, "nonce": "x"}]]
        if t == "session.resume":
            assert body == {"session": "s9", "last_seq": 5}
            return [[1, rid, "ok", {"resumed": True, "replayed": 2}], [2, 6, "a", {}], [2, 7, "b", {}]]
        raise AssertionError(t)

    async with fake_client(handler) as (c, _):
        r = await c.resume("s9", 5)
        assert r == {"resumed": True, "replayed": 2}
        assert await c.next_event("b", timeout=1) == ("b", {})
        assert c.last_seq == 7 and c.seq_gaps == [] and c.session == "s9"


async def test_resume_failure_restores_seq():
    def handler(env):
        _, rid, t, body = env
        if t == "hello":
            return [[1, rid, "ok", {"protocol": 1, "server": "f", "tick_hz": 20, "tick": 0, "nonce": "x"}]]
        return [[1, rid, "error", {"code": "auth_failed", "message": "unknown session"}]]

    async with fake_client(handler) as (c, _):
        with pytest.raises(ArenaRequestError) as ei:
            await c.resume("nope", 5)
        assert ei.value.code == "auth_failed" and c.last_seq == 0


# --- over a real socket: a tiny in-process WebSocket server -----------------------------------

from trio_websocket import serve_websocket  # noqa: E402

from arena.client import open_client  # noqa: E402


def scripted(replies):
    """A server whose reply to a request of type T is replies[T](body) -> (status, body)
    or the string "close:CODE" to close the connection with that code."""

    async def handler(request):
        ws = await request.accept()
        seq = [0]
        try:
            while True:
                data = await ws.get_message()
                out = []
                for env in decode_frame(data):
                    _, rid, t, body = env
                    r = replies.get(t, lambda b: ("error", {"code": "unknown_type", "message": t}))(body)
                    if isinstance(r, str) and r.startswith("close:"):
                        await ws.aclose(int(r[6:]), "bye")
                        return
                    out.append([1, rid, r[0], r[1]])
                    for i, (et, eb) in enumerate(r[2] if len(r) > 2 else ()):
                        seq[0] += 1
                        out.append([2, seq[0], et, eb])
                if out:
                    await ws.send_message(pk(out[0] if len(out) == 1 else out))
        except ConnectionClosed:
            pass

    return handler


@asynccontextmanager
async def tiny_server(replies):
    async with trio.open_nursery() as n:
        server = await n.start(serve_websocket, scripted(replies), "127.0.0.1", 0, None)
        try:
            yield f"ws://127.0.0.1:{server.port}/v1"
        finally:
            n.cancel_scope.cancel()


HELLO = {"hello": lambda b: ("ok", {"protocol": 1, "server": "tiny", "tick_hz": 20, "tick": 1, "nonce": "nn"}),
         "auth.login": lambda b: ("ok", {"session": "S", "user": {"id": "1", "wallet": b["wallet"], "username": None}})}


async def test_open_client_real_socket_and_server_close_code():
    replies = dict(HELLO, ping=lambda b: ("ok", {"tick": 2}), abuse=lambda b: "close:1008")
    async with tiny_server(replies) as url:
        async with open_client(url) as c:
            assert (await c.hello())["server"] == "tiny"
            await c.login()
            assert c.session == "S"
            assert await c.ping() == 2
            out = await c.request_batch([("ping", {}), ("nope", {})])
            assert out[0] == {"tick": 2} and out[1].code == "unknown_type"
            with trio.fail_after(5), pytest.raises(ArenaConnectionClosed) as ei:
                await c.request("abuse", {})
            assert ei.value.code == 1008
            assert await c.wait_closed(1) == 1008 and c.closed


async def test_open_client_exceptions_are_not_wrapped():
    async with tiny_server(dict(HELLO)) as url:
        with pytest.raises(ArenaRequestError) as ei:
            async with open_client(url) as c:
                await c.request("whatever", {})
        assert ei.value.code == "unknown_type"


async def test_client_close_and_abort():
    async with tiny_server(dict(HELLO)) as url:
        async with open_client(url) as c:
            await c.hello()
            await c.close()
            assert c.closed
            with pytest.raises(ArenaConnectionClosed):
                await c.hello()
            with pytest.raises(ArenaConnectionClosed):
                await c.send_raw(b"x")
            assert await c.send_raw(b"x", allow_close=True) is None
        async with open_client(url) as c:
            await c.hello()
            await c.abort()
            with trio.fail_after(5):
                await c.wait_closed()
            with pytest.raises(ConnectionError):
                await c.ping()


# --- the bot (only what needs no game server) ---------------------------------------------------


def test_make_roast_deterministic_and_uses_prompt():
    import random

    from arena.bot import ROASTS, make_roast

    assert len(ROASTS) >= 30
    a = [make_roast(random.Random(5), "Roast your opponent as a dentist") for _ in range(3)]
    b = [make_roast(random.Random(5), "Roast your opponent as a dentist") for _ in range(3)]
    assert a == b
    rng = random.Random(1)
    lines = [make_roast(rng, "Roast your opponent as a dentist") for _ in range(20)]
    assert all("dentist" in line for line in lines if "{" not in line)
    assert all("{" not in line and "opponent" not in line for line in lines)
    assert make_roast(random.Random(2), "")  # no words: a fallback word


async def test_bot_stops_clearly_without_faucet():
    from arena.bot import run_bots

    replies = dict(HELLO)
    replies["wallet.faucet"] = lambda b: ("error", {"code": "not_allowed", "message": "no faucet"})
    lines: list[str] = []
    async with tiny_server(replies) as url:
        with trio.fail_after(20):
            rc = await run_bots(url, 1, "bronze", 1, 1, lines.append)
    assert rc == 1
    assert any("ERROR" in line and "no faucet" in line for line in lines), lines


def _lobby():
    replies = dict(HELLO)
    replies["wallet.faucet"] = lambda b: ("ok", {"balance": 1000})
    replies["wallet.balance"] = lambda b: ("ok", {"balance": 1000})
    replies["queue.join"] = lambda b: ("ok", {"queued": True})
    replies["queue.leave"] = lambda b: ("ok", {"queued": False})
    replies["ping"] = lambda b: ("ok", {"tick": 1})
    return replies


async def test_bots_wait_in_queue_while_server_answers():
    from arena.bot import run_bots

    lines: list[str] = []
    async with tiny_server(_lobby()) as url:
        # two bots queue, the server never pairs them but answers: they keep waiting
        with trio.move_on_after(2) as scope:
            await run_bots(url, 2, "bronze", 1, 1, lines.append)
    assert scope.cancelled_caught
    assert sum("queued for a bronze" in line for line in lines) == 2
    assert not any("ERROR" in line for line in lines), lines


async def test_lone_bot_leaves_queue_when_battles_are_counted():
    from arena.bot import run_bots

    lines: list[str] = []
    async with tiny_server(_lobby()) as url:
        with trio.fail_after(15):
            rc = await run_bots(url, 1, "bronze", 1, 1, lines.append)
    assert rc == 0
    assert any("no other bot left" in line for line in lines), lines


async def test_bot_reports_stall_and_fails():
    from arena.bot import run_bots

    replies = _lobby()
    found = {"match": "m1", "mode": "roast", "tier": "bronze", "players": ["a", "b"], "opponent": "b",
             "entry_fee": 100, "entry_deadline_ms": 60000}
    replies["queue.join"] = lambda b: ("ok", {"queued": True}, [("match.found", found)])
    replies["entry.build"] = lambda b: ("ok", {"tx": b"tx", "amount": 100})
    replies["entry.confirm"] = lambda b: ("ok", {"status": "pending"})
    lines: list[str] = []
    async with tiny_server(replies) as url:
        with trio.fail_after(15):
            rc = await run_bots(url, 1, "bronze", 1, 1, lines.append, stall_timeout=1.0)
    assert rc == 1
    assert any("paid entry 100 for m1" in line for line in lines), lines
    assert any("ERROR" in line and "no progress in match m1" in line for line in lines), lines
