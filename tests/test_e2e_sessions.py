"""End to end over real sockets: hello, login (including replayed and wrong
signatures), session.resume rules, take-over, expiry, several connections
per wallet, and what a lost connection does to the queue.
"""

from __future__ import annotations

import trio
from solders.keypair import Keypair

from arena.client import open_client
from conftest import player, wait_until
from test_e2e_support import TIMEOUT, error_code, queue_pair, raw_client, req, still_serving


def login_body(keypair: Keypair, nonce: str) -> dict:
    sig = bytes(keypair.sign_message(("arena:login:" + nonce).encode()))
    return {"wallet": str(keypair.pubkey()), "signature": sig}


async def test_login_reply(arena_server):
    _, url = await arena_server()
    kp = Keypair()
    async with raw_client(url) as c:
        hello = await c.hello()
        reply = await c.request("auth.login", login_body(kp, hello["nonce"]))
        wallet = str(kp.pubkey())
        assert set(reply) == {"session", "user"}
        assert isinstance(reply["session"], str) and 0 < len(reply["session"]) <= 128
        assert reply["user"] == {"id": wallet, "wallet": wallet, "username": None}
        assert await c.request("wallet.balance", {}) == {"balance": 0}
        # Logged in already: a second login is wrong_state, hello still works.
        hello2 = await c.hello()
        assert hello2["nonce"] != hello["nonce"]
        assert await error_code(c.request("auth.login", login_body(kp, hello2["nonce"]))) == "wrong_state"


async def test_replayed_login_signature_on_a_new_hello_is_auth_failed(arena_server):
    _, url = await arena_server()
    kp = Keypair()
    async with raw_client(url) as first:
        hello = await first.hello()
        captured = login_body(kp, hello["nonce"])
        await first.request("auth.login", captured)
        # An eavesdropper replays the signature on another connection...
        async with raw_client(url) as thief:
            await thief.hello()
            assert await error_code(thief.request("auth.login", captured)) == "auth_failed"
            # ... and on a fresh nonce again: still refused.
            await thief.hello()
            assert await error_code(thief.request("auth.login", captured)) == "auth_failed"
            assert await error_code(thief.request("wallet.balance", {})) == "unauthenticated"
        # The same connection after a new hello: the old signature is no good either.
        async with raw_client(url) as again:
            await again.hello()
            await again.hello()
            assert await error_code(again.request("auth.login", captured)) == "auth_failed"


async def test_each_nonce_allows_one_login_attempt(arena_server):
    _, url = await arena_server()
    kp, other = Keypair(), Keypair()
    async with raw_client(url) as c:
        # auth.login before hello: unauthenticated.
        assert await error_code(c.request("auth.login", login_body(kp, "x"))) == "unauthenticated"
        hello = await c.hello()
        nonce = hello["nonce"]
        # A wrong signature uses the nonce up ...
        assert await error_code(c.request("auth.login", login_body(other, nonce) | {"wallet": str(kp.pubkey())})) \
            == "auth_failed"
        # ... so even the right signature for it is refused now.
        assert await error_code(c.request("auth.login", login_body(kp, nonce))) == "auth_failed"
        # A successful login uses it up too (and the connection is then logged in).
        hello = await c.hello()
        await c.request("auth.login", login_body(kp, hello["nonce"]))
    async with raw_client(url) as c:
        first = (await c.hello())["nonce"]
        second = (await c.hello())["nonce"]
        assert first != second
        # Only the latest nonce counts.
        assert await error_code(c.request("auth.login", login_body(kp, first))) == "auth_failed"
        third = (await c.hello())["nonce"]
        await c.request("auth.login", login_body(kp, third))


async def test_wrong_signatures_are_auth_failed(arena_server):
    _, url = await arena_server()
    kp = Keypair()
    wallet = str(kp.pubkey())
    cases = {
        "signed by another key": lambda n: login_body(Keypair(), n) | {"wallet": wallet},
        "no prefix": lambda n: {"wallet": wallet, "signature": bytes(kp.sign_message(n.encode()))},
        "wrong prefix": lambda n: {"wallet": wallet, "signature": bytes(kp.sign_message(f"arena:login2:{n}".encode()))},
        "63 bytes": lambda n: login_body(kp, n) | {"signature": login_body(kp, n)["signature"][:63]},
        "empty signature": lambda n: {"wallet": wallet, "signature": b""},
        "zero signature": lambda n: {"wallet": wallet, "signature": bytes(64)},
        "flipped bit": lambda n: login_body(kp, n) | {
            "signature": bytes([login_body(kp, n)["signature"][0] ^ 1]) + login_body(kp, n)["signature"][1:]},
        "not base58": lambda n: login_body(kp, n) | {"wallet": "0OIl" * 8},
        "non-canonical wallet": lambda n: login_body(kp, n) | {"wallet": " " + wallet},
        "empty wallet": lambda n: login_body(kp, n) | {"wallet": ""},
    }
    async with raw_client(url) as c:
        for label, make in cases.items():
            nonce = (await c.hello())["nonce"]
            assert await error_code(c.request("auth.login", make(nonce))) == "auth_failed", label
        await c.hello()
        await c.login(kp)
        assert c.user["wallet"] == wallet


async def test_session_resume_errors(arena_server):
    _, url = await arena_server()
    async with player(url, faucet=False) as a:
        seq = a.last_seq
        async with raw_client(url) as c:
            # Before hello: unauthenticated.
            assert await error_code(c.request("session.resume", {"session": a.session, "last_seq": 0})) \
                == "unauthenticated"
            await c.hello()
            for bogus in ("nope", "", a.session + "x", a.session.upper() if a.session.upper() != a.session else "X"):
                assert await error_code(c.request("session.resume", {"session": bogus, "last_seq": 0})) \
                    == "not_found", bogus
            for last in (seq + 1, seq + 1000, -1, -(2**63), 2**63 - 1):
                assert await error_code(c.request("session.resume", {"session": a.session, "last_seq": last})) \
                    == "bad_request", last
            # None of that disturbed the session's own connection.
            assert not a.closed and isinstance(await a.ping(), int)
        # A connection that has a session cannot resume another one.
        async with player(url, faucet=False) as b:
            assert await error_code(b.request("session.resume", {"session": a.session, "last_seq": 0})) \
                == "wrong_state"
            assert await error_code(b.request("session.resume", {"session": b.session, "last_seq": 0})) \
                == "wrong_state"
        assert not a.closed and isinstance(await a.ping(), int)


async def test_resume_with_nothing_missed(arena_server):
    server, url = await arena_server()
    async with player(url, faucet=False) as a:
        session, last = a.session, a.last_seq
        await a.close()
    await wait_until(lambda: server.gateway.sessions.get(session).conn is None, timeout=TIMEOUT)
    async with open_client(url, keypair=a.keypair) as a2:
        assert await a2.resume(session, last) == {"resumed": True, "replayed": 0}
        assert await a2.balance() == 0  # logged in as the session's wallet
        await trio.sleep(0.2)
        assert a2.buffered == [] and a2.events_seen == []


async def test_resume_takeover_closes_the_old_connection_with_4000(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        match, _ = await queue_pair(a, b)
        async with open_client(url) as taker:  # another keypair: resume needs only the session id
            reply = await taker.resume(a.session, 0)
            assert reply["resumed"] is True and reply["replayed"] == a.last_seq
            assert await a.wait_closed(timeout=TIMEOUT) == 4000
            replayed = [await taker.next_event(timeout=TIMEOUT) for _ in range(reply["replayed"])]
            assert replayed[0][0] == "match.found"
            assert taker.seq_gaps == []
            # It acts as the session's wallet now.
            assert await taker.balance() == 10_000
            # The old connection is gone; the server and other sessions are fine.
            assert isinstance(await b.ping(), int)
            # Taking it over once more (from a third connection) closes the second.
            async with open_client(url) as third:
                await third.resume(a.session, taker.last_seq)
                assert await taker.wait_closed(timeout=TIMEOUT) == 4000
                assert await third.balance() == 10_000
    await still_serving(url)


async def test_expired_session_cannot_be_resumed(arena_server):
    server, url = await arena_server(net={"session_ttl_ms": 300})
    async with player(url, faucet=False) as a:
        session = a.session
        await a.close()
    await wait_until(lambda: server.gateway.sessions.get(session) is None, timeout=TIMEOUT)
    async with open_client(url) as c:
        await c.hello()
        assert await error_code(c.request("session.resume", {"session": session, "last_seq": 0})) == "not_found"


async def test_a_session_survives_an_abuse_close(arena_server):
    server, url = await arena_server()
    async with player(url, faucet=False) as a:
        session, last = a.session, a.last_seq
        for _ in range(10):
            await a.send_raw(b"\xc1", allow_close=True)
        assert await a.wait_closed(timeout=TIMEOUT) == 1008
    async with open_client(url, keypair=a.keypair) as a2:
        assert (await a2.resume(session, last))["resumed"] is True
        assert await a2.balance() == 0


async def test_several_connections_per_wallet_share_events_and_presence(arena_server):
    server, url = await arena_server(roast={"disconnect_grace_ms": 300, "time_limit_ms": 60_000})
    kp = Keypair()
    async with player(url, keypair=kp) as a1, player(url) as b:
        async with open_client(url, keypair=kp) as a2:
            await a2.login()
            assert a2.session != a1.session
            match, fee = await queue_pair(a1, b)
            _, found2 = await a2.next_event("match.found", timeout=TIMEOUT)
            assert found2["match"] == match
            await a2.pay_entry(match)
            await b.pay_entry(match)
            for c in (a1, a2, b):
                await c.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        # a2 is gone but a1 is still there: the wallet is online, no forfeit.
        await trio.sleep(1.0)
        m = server.state.matches.get(match)
        assert m is not None and not m.gone_until
        await a1.close()
        # Now the wallet has no connection: forfeit after the grace period.
        _, end = await b.next_event("battle:ended", match=match, timeout=TIMEOUT)
        assert end["reason"] == "forfeit" and end["winnerId"] == b.wallet


async def test_losing_the_last_connection_leaves_the_queue(arena_server):
    server, url = await arena_server()
    async with player(url) as b, player(url) as c:
        async with player(url) as a:
            await a.queue("bronze")
            await a.close()
        await wait_until(lambda: a.wallet not in server.state.modes["roast"].queued, timeout=TIMEOUT)
        await b.queue("bronze")
        await c.queue("bronze")
        _, found = await b.next_event("match.found", timeout=TIMEOUT)
        assert found["players"] == [b.wallet, c.wallet]


async def test_queue_leave_then_nobody_is_matched(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        await a.queue("bronze")
        assert await a.leave_queue() == {"queued": False}
        await b.queue("bronze")
        await trio.sleep(0.3)
        assert [t for t, _, _ in a.events_seen + b.events_seen] == []
        assert not server.state.matches


async def test_a_reply_never_reaches_the_connection_that_took_the_session_over(arena_server):
    """The old connection's last request is answered (if at all) on the old
    connection: the new one only ever gets replies to its own requests."""
    server, url = await arena_server()
    for tier in ("bronze", "silver", "gold"):
        async with player(url) as a:
            async with open_client(url, keypair=a.keypair) as a2:
                await a2.hello()
                # Back to back, so both reach the server within one tick.
                await a.send_raw(req(5_000, "queue.join", {"mode": "roast", "tier": tier}))
                await a2.send_raw(req(1_000, "session.resume", {"session": a.session, "last_seq": a.last_seq}))
                status, body = await a2.expect_reply(1_000, timeout=TIMEOUT)
                assert status == "ok" and body["resumed"] is True
                assert await a.wait_closed(timeout=TIMEOUT) == 4000
                # A request of the new connection with the old one's rid gets its own reply.
                status, body = await a2.send_raw(req(5_000, "wallet.balance"), rid=5_000, timeout=TIMEOUT)
                assert (status, body) == ("ok", {"balance": 10_000})
                await trio.sleep(0.2)
                assert a2.unclaimed_replies == []
                await a2.close()


async def test_a_client_that_does_not_read_is_dropped_with_4001_and_can_resume(arena_server):
    """docs/PROTOCOL.md: more than send_queue_frames frames waiting (or output not drained within
    write_timeout_ms) -> 4001; the session stays resumable."""
    import trio_websocket
    from test_e2e_support import pack

    # write_timeout_ms: a backlog that stops growing (its reading paused) is
    # dropped by the write timeout, well before the battle's entry deadline.
    server, url = await arena_server(net={"send_queue_frames": 2, "write_timeout_ms": 1000, "requests_per_s": 1_000_000,
                                          "request_burst": 1_000_000},
                                     buckets={("roast", "reactions"): (1_000, 1_000)})
    async with player(url) as a, player(url) as b:
        match, _ = await queue_pair(a, b)
        # 64 distinct 16-symbol emoji make every snapshot of the battle a few KB.
        emoji = [chr(0x1F600 + i) * 16 for i in range(64)]
        assert await a.request_batch([("reaction.send", {"match": match, "emoji": e}) for e in emoji]) == [{}] * 64
        kp = Keypair()
        async with trio_websocket.open_websocket_url(url, message_queue_size=1, max_message_size=2**30) as ws:
            await ws.send_message(req(1, "hello", {"protocol": 1, "client": "slow"}))
            nonce = msgpack_value(await ws.get_message())[3]["nonce"]
            await ws.send_message(req(2, "auth.login", login_body(kp, nonce)))
            session = msgpack_value(await ws.get_message())[3]["session"]
            # From now on this client reads nothing.
            rid = 10
            with trio.fail_after(120):
                while not server.gateway.stats["dropped_slow"]:
                    try:
                        await ws.send_message(pack([[0, rid + i, "match.watch", {"match": match}] for i in range(64)]))
                    except trio_websocket.ConnectionClosed:
                        # Dropped while this send waited: once more than half
                        # of send_queue_bytes waits, the server stops reading
                        # (backpressure) until the write timeout drops it.
                        break
                    rid += 64
                    await trio.sleep(0.01)
            await wait_until(lambda: server.gateway.stats["dropped_slow"] == 1, timeout=TIMEOUT)
            sess = server.gateway.sessions.get(session)
            await wait_until(lambda: sess.conn is None, timeout=TIMEOUT)
            # Drain what the server had sent, so the client library's reader
            # (blocked on its full one-message queue) sees the dropped
            # connection and the close on leaving this block can finish.
            with trio.move_on_after(10):
                try:
                    while True:
                        await ws.get_message()
                except trio_websocket.ConnectionClosed:
                    pass
        # Resumable: on a new connection, with the last event replayed.
        async with open_client(url, keypair=kp) as c:
            reply = await c.resume(session, sess.seq - 1)
            assert reply == {"resumed": True, "replayed": 1}
            t, ev = await c.next_event(timeout=TIMEOUT)
            assert t == "match.snapshot" and len(ev["state"]["reactions"]) == 64
            assert isinstance(await c.ping(), int)
        assert isinstance(await a.ping(), int)


def msgpack_value(frame: bytes):
    import msgpack

    return msgpack.unpackb(frame, raw=False)


async def test_resume_reply_comes_first_then_the_replay_in_the_same_frame(arena_server):
    import msgpack
    import trio_websocket

    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        match, _ = await queue_pair(a, b)
        assert a.events_seen[0][2] == 1  # seq counts from 1
        await a.react(match, "🔥")
        await a.next_event("reaction:sent", timeout=TIMEOUT)
        session, seq = a.session, a.last_seq
        async with trio_websocket.open_websocket_url(url) as ws:
            await ws.send_message(req(1, "hello", {"protocol": 1, "client": "raw"}))
            await ws.get_message()
            await ws.send_message(req(2, "session.resume", {"session": session, "last_seq": 0}))
            frame = msgpack.unpackb(await ws.get_message(), raw=False)
        assert frame[0] == [1, 2, "ok", {"resumed": True, "replayed": seq}]
        assert [(e[0], e[1]) for e in frame[1:]] == [(2, n) for n in range(1, seq + 1)]
        assert [e[2] for e in frame[1:]] == [t for t, _, _ in a.events_seen]
        assert await a.wait_closed(timeout=TIMEOUT) == 4000
