"""End to end over real sockets: malformed, oversized, text, out-of-order and
hostile frames, and every error code of PROTOCOL.md that a client can cause.

Each test asserts the exact error code and the `rid` it comes under, and that
the connection (where it stays open), the server, other sessions and a
running battle are not disturbed. The check order of PROTOCOL.md is tested
explicitly: bad_frame, then unknown_type, then unauthenticated, then
bad_request, then the request's own rules.
"""

from __future__ import annotations

from collections import Counter

import msgpack
import pytest
import trio

from arena.client import ArenaRequestError, open_client
from conftest import player, wait_until
from test_e2e_support import (
    BLANK,
    GOOD,
    TIMEOUT,
    background_battle,
    error_code,
    pack,
    queue_pair,
    raw_client,
    raw_error,
    req,
    start_battle,
    still_serving,
    wait_phase,
)

KIB = 1024
MIB = 1024 * 1024


def nested(depth: int):
    v = None
    for _ in range(depth):
        v = [v]
    return v


# (id, frame as sent, rid the bad_frame reply must carry)
BAD_FRAMES = [
    ("text", "hello", 0),
    ("text-that-looks-like-an-envelope", '[0, 5, "ping", {}]', 0),
    ("never-used-byte", b"\xc1", 0),
    ("truncated", req(5, "ping")[:-1], 0),
    ("empty-binary-frame", b"", 0),
    ("invalid-utf8-string", b"\x94\x00\x05\xa4\xff\xfe\xfd\xfc\x80", 0),
    ("int", pack(5), 0),
    ("nil", pack(None), 0),
    ("string", pack("ping"), 0),
    ("binary", pack(b"\x00\x05"), 0),
    ("map", pack({"kind": 0, "rid": 6, "type": "ping", "body": {}}), 0),
    ("empty-array", pack([]), 0),
    ("three-elements", pack([0, 7, "ping"]), 7),
    ("five-elements", pack([0, 8, "ping", {}, 0]), 8),
    ("reply-kind", pack([1, 9, "ping", {}]), 9),
    ("event-kind", pack([2, 10, "ping", {}]), 10),
    ("string-kind", pack(["0", 11, "ping", {}]), 11),
    ("bool-kind", pack([False, 12, "ping", {}]), 12),
    ("float-kind", pack([0.0, 13, "ping", {}]), 13),
    ("nil-kind", pack([None, 14, "ping", {}]), 14),
    ("rid-negative", pack([0, -1, "ping", {}]), 0),
    ("rid-too-big", pack([0, 2**32, "ping", {}]), 0),
    ("rid-bool", pack([0, True, "ping", {}]), 0),
    ("rid-float", pack([0, 15.0, "ping", {}]), 0),
    ("rid-string", pack([0, "16", "ping", {}]), 0),
    ("rid-nil", pack([0, None, "ping", {}]), 0),
    ("type-int", pack([0, 17, 5, {}]), 17),
    ("type-binary", pack([0, 18, b"ping", {}]), 18),
    ("type-nil", pack([0, 19, None, {}]), 19),
    ("body-array", pack([0, 20, "ping", []]), 20),
    ("body-nil", pack([0, 21, "ping", None]), 21),
    ("body-string", pack([0, 22, "ping", "{}"]), 22),
    ("trailing-garbage", req(23, "ping") + b"\xc0", 23),
    ("two-values", req(24, "ping") + req(25, "ping"), 24),
    ("int-map-key", pack([0, 26, "ping", {1: 2}]), 0),
    ("ext-type", pack([0, 27, "ping", {"x": msgpack.ExtType(5, b"abc")}]), 0),
    ("timestamp-ext", pack([0, 28, "ping", {"t": msgpack.Timestamp(1, 0)}]), 0),
    ("deeply-nested-beyond-decoder", b"\x91" * 100_000 + b"\xc0", 0),
    ("deeply-nested-decodable", pack(nested(900)), 0),
    ("deeply-nested-in-body", b"\x94\x00\x1d\xa4ping\x81\xa1x" + b"\x91" * 5_000 + b"\xc0", 0),
    ("batch-of-a-batch", pack([[[0, 30, "ping", {}]]]), 0),
]


@pytest.mark.parametrize("frame,rid", [pytest.param(f, r, id=i) for i, f, r in BAD_FRAMES])
async def test_bad_frame(arena_server, frame, rid):
    server, url = await arena_server()
    async with player(url, faucet=False) as c:
        body = await raw_error(c, frame, rid)
        assert body["code"] == "bad_frame", body
        # The connection is still usable and nothing else was answered.
        assert isinstance(await c.ping(), int)
        await trio.sleep(0.1)
        assert c.unclaimed_replies == []
        assert not c.closed
    assert server.gateway.stats["bad_frames"] == 1
    await still_serving(url)


async def test_bad_frames_before_hello_and_login_are_bad_frame(arena_server):
    """bad_frame comes before any other check, on a connection that said nothing yet."""
    _, url = await arena_server()
    async with raw_client(url) as c:
        assert (await raw_error(c, "text", 0))["code"] == "bad_frame"
        assert (await raw_error(c, pack([0, 3, 5, {}]), 3))["code"] == "bad_frame"
        assert (await raw_error(c, pack([0, 4, "ping", []]), 4))["code"] == "bad_frame"
        await c.hello()
        assert (await raw_error(c, pack([0, 5, "wallet.balance", None]), 5))["code"] == "bad_frame"


async def test_deep_body_within_decoder_limits_is_fine(arena_server):
    """Extra fields are ignored, however deep within the decoding limit
    (`[net] max_depth`, 16 for the whole frame: the envelope, its body and
    14 levels below); one level more is a bad_frame, and so is a frame of
    more arrays and maps than `max_containers`."""
    server, url = await arena_server()
    async with player(url, faucet=False) as c:
        status, body = await c.send_raw(req(40, "ping", {"x": nested(14)}), rid=40)
        assert status == "ok" and isinstance(body["tick"], int)
        assert (await raw_error(c, req(41, "ping", {"x": nested(15)}), 0))["code"] == "bad_frame"
        assert (await raw_error(c, req(42, "ping", {"x": nested(500)}), 0))["code"] == "bad_frame"
        status, _ = await c.send_raw(req(43, "ping", {"x": [{}] * 1000}), rid=43)
        assert status == "ok"
        assert (await raw_error(c, req(44, "ping", {"x": [[{}] * 1000] * 60}), 0))["code"] == "bad_frame"
        assert isinstance(await c.ping(), int)
    assert server.gateway.stats["bad_frames"] == 3


# --- size limits ---------------------------------------------------------------------


async def test_frame_over_64k_without_audio_is_bad_frame(arena_server):
    _, url = await arena_server()
    async with player(url, faucet=False) as c:
        big = req(41, "ping", {"pad": b"x" * (64 * KIB + 10)})
        assert len(big) > 64 * KIB
        assert (await raw_error(c, big, 41))["code"] == "bad_frame"
        # roast.submit with a huge text but no audio: still over the plain limit.
        sub = req(42, "roast.submit", {"match": "ro-x", "round": 1, "text": "t" * (70 * KIB)})
        assert (await raw_error(c, sub, 42))["code"] == "bad_frame"
        # "audio" present but not binary does not lift the limit.
        sub = req(43, "roast.submit", {"match": "ro-x", "round": 1, "text": "", "audio": "a" * (70 * KIB)})
        assert (await raw_error(c, sub, 43))["code"] == "bad_frame"
        # Audio inside a batch of two does not lift it either.
        one = [0, 44, "roast.submit", {"match": "ro-x", "round": 1, "text": "", "audio": b"a" * (70 * KIB)}]
        body = await raw_error(c, pack([one, [0, 45, "ping", {}]]), 0)
        assert body["code"] == "bad_frame"
        # Just under the limit is fine.
        small = req(46, "ping", {"pad": b"x" * (64 * KIB - 100)})
        assert len(small) <= 64 * KIB
        status, _ = await c.send_raw(small, rid=46)
        assert status == "ok"
        await trio.sleep(0.1)
        assert c.unclaimed_replies == []


async def test_roast_submit_with_audio_between_64k_and_1m_is_accepted(arena_server, tmp_path):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        match, _ = await start_battle(a, b)
        for c in (a, b):
            await c.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        # A large audio frame passes the framing checks even when the
        # request's own rules then refuse it (not_found, not bad_frame).
        audio = bytes(range(256)) * (300 * KIB // 256)
        status, body = await a.send_raw(
            req(50, "roast.submit", {"match": "ro-nope", "round": 1, "text": "", "audio": audio}), rid=50)
        assert (status, body["code"]) == ("error", "not_found")
        await wait_phase(server, match, "recording", 1)
        frame = req(51, "roast.submit", {"match": match, "round": 1, "text": "my mic says it all", "audio": audio})
        assert 64 * KIB < len(frame) < MIB
        status, body = await a.send_raw(frame, rid=51, timeout=TIMEOUT)
        assert (status, body) == ("ok", {})
        for c in (a, b):
            _, ev = await c.next_event("battle:roast_submitted", match=match, timeout=TIMEOUT)
            assert ev["playerId"] == a.wallet
            assert isinstance(ev["audioUrl"], str) and ev["audioUrl"]
        stored = list((tmp_path / "media").rglob("*.webm"))
        assert [p.read_bytes() for p in stored] == [audio]
        # Audio over max_audio_bytes (but the frame under 1 MiB): bad_request.
        too_long = b"\x00" * 1_000_001
        status, body = await b.send_raw(
            req(52, "roast.submit", {"match": match, "round": 1, "text": "", "audio": too_long}), rid=52)
        assert (status, body["code"]) == ("error", "bad_request")
        assert not a.closed and not b.closed


async def test_frame_over_1m_closes_with_1009(arena_server):
    server, url = await arena_server()
    async with player(url, faucet=False) as other, player(url, faucet=False) as c:
        huge = req(60, "roast.submit", {"match": "m", "round": 1, "text": "", "audio": b"\x00" * (MIB + 1)})
        try:
            await c.send_raw(huge)
        except ConnectionError:
            pass
        assert await c.wait_closed(timeout=TIMEOUT) == 1009
        assert isinstance(await other.ping(), int)
    await still_serving(url)


# --- repeated abuse ------------------------------------------------------------------


async def test_ten_bad_frames_close_with_1008_after_the_tenth_reply(arena_server):
    server, url = await arena_server()
    async with player(url, faucet=False) as other, player(url, faucet=False) as c:
        for i in range(9):
            assert (await raw_error(c, pack([0, 100 + i, "ping", None]), 100 + i))["code"] == "bad_frame"
        assert not c.closed and isinstance(await c.ping(), int)
        await c.send_raw(pack([0, 109, "ping", None]))
        status, body = await c.expect_reply(109, timeout=TIMEOUT)
        assert (status, body["code"]) == ("error", "bad_frame")
        assert await c.wait_closed(timeout=TIMEOUT) == 1008
        assert isinstance(await other.ping(), int)
    assert server.gateway.stats["closed_abuse"] == 1
    await still_serving(url)


async def test_ten_bad_frames_in_one_burst_all_answered_then_1008(arena_server):
    _, url = await arena_server()
    async with raw_client(url) as c:
        for _ in range(10):
            await c.send_raw(b"\xc1")
        await c.wait_closed(timeout=TIMEOUT)
        assert c.close_code == 1008
        codes = [(rid, body["code"]) for rid, status, body in c.unclaimed_replies]
        assert codes == [(0, "bad_frame")] * 10


async def test_bad_envelopes_in_a_batch_count_as_bad_frames(arena_server):
    _, url = await arena_server()
    async with player(url, faucet=False) as c:
        frame = pack([[0, 200 + i, "ping", None] for i in range(10)])
        await c.send_raw(frame)
        assert await c.wait_closed(timeout=TIMEOUT) == 1008
        assert sorted(r for r, _, _ in c.unclaimed_replies) == list(range(200, 210))


# --- check order: unknown_type, unauthenticated, bad_request ---------------------------

ALL_TYPES = [
    "hello", "auth.login", "session.resume", "ping", "wallet.balance", "wallet.faucet",
    "entry.build", "entry.confirm", "tip.build", "tip.confirm", "queue.join", "queue.leave",
    "roast.submit", "reaction.send", "match.watch",
]
LOGIN_TYPES = [t for t in ALL_TYPES if t not in ("hello", "ping", "auth.login", "session.resume")]


async def test_unknown_type(arena_server):
    _, url = await arena_server()
    async with raw_client(url) as c:
        # Before hello, unknown_type still wins over unauthenticated.
        for t in ("nope", "", "HELLO", "hello ", "x" * 5_000, "__init__", "battle:ended", "match.snapshot"):
            assert await error_code(c.request(t, {})) == "unknown_type", t
        await c.hello()
        await c.login()
        for t in ("nope", "wallet.balance.x", "queue.join\x00"):
            assert await error_code(c.request(t, {"mode": "roast", "tier": "bronze"})) == "unknown_type", t
        assert isinstance(await c.ping(), int)


async def test_everything_but_hello_before_hello_is_unauthenticated(arena_server):
    _, url = await arena_server()
    async with raw_client(url) as c:
        for t in ALL_TYPES:
            if t == "hello":
                continue
            # Even with a missing/ill-typed body: unauthenticated comes first.
            assert await error_code(c.request(t, {})) == "unauthenticated", t
            assert await error_code(c.request(t, {"match": 5, "wallet": b"x"})) == "unauthenticated", t
        await c.hello()
        assert isinstance(await c.ping(), int)


async def test_game_requests_after_hello_before_login_are_unauthenticated(arena_server):
    _, url = await arena_server()
    async with raw_client(url) as c:
        await c.hello()
        for t in LOGIN_TYPES:
            assert await error_code(c.request(t, {})) == "unauthenticated", t
        assert isinstance(await c.ping(), int)
        await c.login()
        assert await c.balance() == 0


GOOD_BODIES = {
    "hello": {"protocol": 1, "client": "t"},
    "session.resume": {"session": "s", "last_seq": 0},
    "entry.build": {"match": "m"},
    "entry.confirm": {"match": "m", "tx": b"t", "signature": b"s"},
    "tip.build": {"to": "w", "amount": 1},
    "tip.confirm": {"tx": b"t", "signature": b"s"},
    "queue.join": {"mode": "roast", "tier": "bronze"},
    "roast.submit": {"match": "m", "round": 1, "text": "t"},
    "reaction.send": {"match": "m", "emoji": "🔥"},
    "match.watch": {"match": "m"},
}
KINDS = {"protocol": int, "client": str, "session": str, "last_seq": int, "match": str, "tx": bytes,
         "signature": bytes, "to": str, "amount": int, "mode": str, "tier": str, "round": int,
         "text": str, "emoji": str, "audio": bytes}
WRONG = {
    int: ["1", True, False, 1.0, None, b"\x01", [1], {"v": 1}, 2**63, 2**64 - 1, -(2**63) - 0.5],
    str: [5, True, None, b"m", ["m"], {"m": 1}, 1.5],
    bytes: [5, True, None, "t", [1], {"t": 1}],
}


def bad_request_cases(type_: str):
    """(label, body) pairs that must get bad_request for `type_`."""
    good = GOOD_BODIES[type_]
    for name in good:
        yield f"missing {name}", {k: v for k, v in good.items() if k != name}
        for wrong in WRONG[KINDS[name]]:
            yield f"{name}={wrong!r:.40}", {**good, name: wrong}


EXTRA_BAD_REQUESTS = [
    # Optional audio, when present, must be binary.
    ("roast.submit", {**GOOD_BODIES["roast.submit"], "audio": "x"}),
    ("roast.submit", {**GOOD_BODIES["roast.submit"], "audio": None}),
    ("roast.submit", {**GOOD_BODIES["roast.submit"], "audio": 5}),
    # Documented maximum lengths.
    ("entry.build", {"match": "m" * 129}),
    ("match.watch", {"match": "m" * 129}),
    ("reaction.send", {"match": "m", "emoji": "x" * 65}),
    ("tip.build", {"to": "w" * 65, "amount": 1}),
    ("queue.join", {"mode": "roast", "tier": "b" * 33}),
    ("entry.confirm", {"match": "m", "tx": b"t", "signature": b"s" * 66}),
    ("tip.confirm", {"tx": b"t", "signature": b"s" * 66}),
]


@pytest.mark.parametrize("type_", list(GOOD_BODIES))
async def test_missing_or_ill_typed_field_is_bad_request(arena_server, type_):
    server, url = await arena_server()
    async with player(url) as c, raw_client(url) as fresh:
        await fresh.hello()
        # auth.login and session.resume are checked on a connection without a
        # session (where they are allowed); the rest on a logged-in one.
        conn = fresh if type_ in ("auth.login", "session.resume") else c
        cases = list(bad_request_cases(type_)) + [(f"extra {b!r:.60}", b) for t, b in EXTRA_BAD_REQUESTS if t == type_]
        for label, body in cases:
            assert await error_code(conn.request(type_, body)) == "bad_request", label
        assert isinstance(await conn.ping(), int)
        assert await c.balance() == 10_000
    assert server.gateway.stats["bad_frames"] == 0


async def test_login_and_resume_field_limits(arena_server):
    _, url = await arena_server()
    async with raw_client(url) as c:
        await c.hello()
        for body in ({"wallet": "w" * 65, "signature": b"s" * 64}, {"wallet": "w", "signature": b"s" * 65},
                     {"signature": b"s" * 64}, {"wallet": "w"}, {"wallet": 5, "signature": b"s"},
                     {"wallet": "w", "signature": "s" * 64}):
            assert await error_code(c.request("auth.login", body)) == "bad_request", body
        for body in ({"session": "s" * 129, "last_seq": 0}, {"session": "s"}, {"last_seq": 0},
                     {"session": "s", "last_seq": "0"}, {"session": "s", "last_seq": True}):
            assert await error_code(c.request("session.resume", body)) == "bad_request", body
        await c.hello()
        await c.login()


async def test_bad_request_for_every_type_in_one_session(arena_server):
    """The same checks, all on one live connection: none of them hurts it."""
    server, url = await arena_server()
    async with player(url) as c:
        n = 0
        for t, good in GOOD_BODIES.items():
            if t in ("auth.login", "session.resume"):
                continue
            for name in good:
                assert await error_code(c.request(t, {k: v for k, v in good.items() if k != name})) == "bad_request"
                n += 1
        assert n > 10
        assert await c.balance() == 10_000
        assert server.gateway.stats["bad_frames"] == 0


async def test_protocol_versions(arena_server):
    _, url = await arena_server()
    async with raw_client(url) as c:
        for version in (0, 2, 99, -1, 2**32):
            status, body = await c.request_raw("hello", {"protocol": version, "client": "t"})
            assert (status, body["code"]) == ("error", "unsupported_protocol"), version
        for wrong in ("1", 1.0, True, None):
            assert await error_code(c.request("hello", {"protocol": wrong, "client": "t"})) == "bad_request"
        assert await error_code(c.request("hello", {"client": "t"})) == "bad_request"
        # A refused hello does not count as hello.
        assert await error_code(c.request("ping", {})) == "unauthenticated"
        info = await c.hello()
        assert info["protocol"] == 1 and isinstance(info["nonce"], str)
        assert isinstance(info["tick_hz"], int) and isinstance(info["tick"], int) and isinstance(info["server"], str)


# --- rate limits ---------------------------------------------------------------------


async def test_rate_limited_with_retry_after(arena_server):
    _, url = await arena_server(net={"requests_per_s": 2, "request_burst": 5})
    async with raw_client(url) as other:
        await other.hello()
        async with raw_client(url) as c:
            # One frame, read in one go: hello takes a token, 4 pings the rest.
            replies = await c.request_batch([("hello", {"protocol": 1, "client": "t"})] + [("ping", {})] * 10)
            assert replies[0]["protocol"] == 1
            replies = replies[1:]
            ok = [r for r in replies if not isinstance(r, ArenaRequestError)]
            limited = [r for r in replies if isinstance(r, ArenaRequestError)]
            assert replies[:4] == ok and len(ok) == 4 and len(limited) == 6
            assert all(r.code == "rate_limited" for r in limited)
            assert all(isinstance(r.retry_after_ms, int) and r.retry_after_ms > 0 for r in limited)
            # The limit is per connection: another one is not affected.
            assert isinstance(await other.ping(), int)
            await trio.sleep(max(r.retry_after_ms for r in limited) / 1000 + 0.05)
            assert isinstance(await c.ping(), int)


async def test_reactions_rate_limited_separately(arena_server):
    _, url = await arena_server(buckets={("roast", "reactions"): (1, 3)})
    async with player(url) as a, player(url) as b:
        match, _ = await queue_pair(a, b)
        replies = await a.request_batch([("reaction.send", {"match": match, "emoji": "🔥"})] * 6
                                        + [("ping", {})] * 5)
        reacts, pings = replies[:6], replies[6:]
        assert [r for r in reacts if not isinstance(r, ArenaRequestError)] == [{}] * 3
        errs = [r for r in reacts if isinstance(r, ArenaRequestError)]
        assert [e.code for e in errs] == ["rate_limited"] * 3
        assert all(isinstance(e.retry_after_ms, int) and e.retry_after_ms > 0 for e in errs)
        assert all(isinstance(p, dict) and "tick" in p for p in pings)  # other requests unaffected
        # The other player's reactions have their own budget.
        assert await b.react(match, "🔥") == {}
        counts = []
        for _ in range(4):
            _, ev = await b.next_event("reaction:sent", match=match, timeout=TIMEOUT)
            counts.append(ev["count"])
        assert counts == [1, 2, 3, 4]


# --- batches -----------------------------------------------------------------------


async def test_batch_of_n_requests_gets_n_replies(arena_server):
    _, url = await arena_server()
    async with player(url) as c:
        replies = await c.request_batch([("ping", {})] * 20 + [("wallet.balance", {})] * 5)
        assert [type(r) for r in replies] == [dict] * 25
        assert all(r == {"balance": 10_000} for r in replies[20:])
        replies = await c.request_batch([("ping", {})] * 64)
        assert len(replies) == 64 and all(isinstance(r, dict) for r in replies)


async def test_batch_with_bad_envelopes(arena_server):
    _, url = await arena_server()
    async with player(url) as c:
        frame = pack([
            [0, 1001, "ping", {}],
            [0, 1002, 5, {}],                  # type not a string -> bad_frame under 1002
            [0, 1003, "wallet.balance", {}],
            [1, 1004, "ping", {}],             # a reply, not a request -> bad_frame under 1004
            "not an envelope",                 # -> bad_frame under rid 0
            [0, 1005, "nope", {}],             # unknown_type
            [0, 1006, "tip.build", {}],        # bad_request
            [0, 1007, "queue.join", {"mode": "roast", "tier": "bronze"}],
        ])
        await c.send_raw(frame)
        got = {}
        for rid in (1001, 1002, 1003, 1004, 0, 1005, 1006, 1007):
            status, body = await c.expect_reply(rid, timeout=TIMEOUT)
            got[rid] = body.get("code", "ok") if status == "error" else "ok"
        assert got == {1001: "ok", 1002: "bad_frame", 1003: "ok", 1004: "bad_frame", 0: "bad_frame",
                       1005: "unknown_type", 1006: "bad_request", 1007: "ok"}
        await trio.sleep(0.1)
        assert c.unclaimed_replies == []


async def test_oversize_batch_is_one_bad_frame_and_nothing_runs(arena_server):
    server, url = await arena_server()
    async with player(url) as c:
        frame = pack([[0, 2000 + i, "queue.join", {"mode": "roast", "tier": "bronze"}] for i in range(65)])
        body = await raw_error(c, frame, 0)
        assert body["code"] == "bad_frame"
        assert isinstance(await c.ping(), int)
        await trio.sleep(0.1)
        assert c.unclaimed_replies == []
        assert c.wallet not in server.state.modes["roast"].queued  # nothing ran


async def test_a_batch_is_read_in_order(arena_server):
    _, url = await arena_server()
    async with raw_client(url) as c:
        r = await c.request_batch([("ping", {}), ("hello", {"protocol": 1, "client": "t"}), ("ping", {})])
        assert isinstance(r[0], ArenaRequestError) and r[0].code == "unauthenticated"
        assert r[1]["protocol"] == 1 and "tick" in r[2]
    async with player(url) as c:
        r = await c.request_batch([("queue.join", {"mode": "roast", "tier": "bronze"}),
                                   ("queue.join", {"mode": "roast", "tier": "bronze"}),
                                   ("queue.leave", {}),
                                   ("queue.join", {"mode": "roast", "tier": "silver"})])
        assert r[0] == {"queued": True}
        assert isinstance(r[1], ArenaRequestError) and r[1].code == "duplicate"
        assert r[2] == {"queued": False} and r[3] == {"queued": True}


# --- out of order and the request's own rules ----------------------------------------------


async def test_queue_rules(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        assert await error_code(a.request("queue.join", {"mode": "chess", "tier": "bronze"})) == "bad_request"
        assert await error_code(a.request("queue.join", {"mode": "roast", "tier": "platinum"})) == "bad_request"
        assert await a.queue("bronze") == {"queued": True}
        assert await error_code(a.queue("bronze")) == "duplicate"
        assert await error_code(a.queue("silver")) == "duplicate"
        assert await a.leave_queue() == {"queued": False}
        assert await a.leave_queue() == {"queued": False}
        match, _ = await queue_pair(a, b)
        assert await error_code(a.queue("bronze")) == "wrong_state"
        assert await error_code(b.queue("gold")) == "wrong_state"


async def test_roast_submit_out_of_order(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b, player(url) as x:
        assert await error_code(a.submit("ro-unknown", 1, "hi")) == "not_found"
        match, _ = await queue_pair(a, b)
        # Entry phase: no round yet.
        assert await error_code(a.submit(match, 1, "too early")) == "wrong_state"
        assert await error_code(a.submit(match, 0, "round 0")) == "wrong_state"
        assert await a.pay_entry(match) == "confirmed"
        assert await b.pay_entry(match) == "confirmed"
        await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        await wait_phase(server, match, "recording", 1)
        assert await error_code(a.submit(match, 2, "next round")) == "wrong_state"
        assert await error_code(a.submit(match, -1, "negative")) == "wrong_state"
        assert await error_code(x.submit(match, 1, "not my battle")) == "not_allowed"
        assert await error_code(a.submit(match, 1, "x" * 2_001)) == "bad_request"
        assert await a.submit(match, 1, GOOD.format(p="you")) == {}
        assert await error_code(a.submit(match, 1, "again")) == "duplicate"
        assert await b.submit(match, 1, BLANK) == {}
        await wait_phase(server, match, "countdown", 2)
        assert await error_code(b.submit(match, 2, "during countdown")) == "wrong_state"
        assert await error_code(b.submit(match, 1, "old round")) == "wrong_state"


async def test_entry_payment_out_of_order(arena_server):
    server, url = await arena_server()
    async with player(url) as a, player(url) as b, player(url) as x:
        assert await error_code(a.request("entry.build", {"match": "ro-unknown"})) == "not_found"
        match, fee = await queue_pair(a, b)
        assert await error_code(x.request("entry.build", {"match": match})) == "not_allowed"
        built = await a.request("entry.build", {"match": match})
        spare = await a.request("entry.build", {"match": match})
        assert built["amount"] == fee
        assert await error_code(x.request("entry.confirm", {"match": match, "tx": built["tx"],
                                                            "signature": x.sign(built["tx"])})) == "not_allowed"
        assert (await a.request("entry.confirm", {"match": match, "tx": built["tx"],
                                                  "signature": a.sign(built["tx"])}))["status"] == "confirmed"
        assert await b.pay_entry(match) == "confirmed"
        await a.next_event("battle:round_start", match=match, timeout=TIMEOUT)
        # The battle has started: the fee is confirmed, so a second one is a duplicate.
        assert await error_code(a.request("entry.build", {"match": match})) == "duplicate"
        assert await error_code(a.request("entry.confirm", {"match": match, "tx": spare["tx"],
                                                            "signature": a.sign(spare["tx"])})) == "duplicate"
        assert await a.balance() == 10_000 - fee


async def test_reaction_and_watch_rules(arena_server):
    _, url = await arena_server()
    async with player(url) as a, player(url) as b, player(url) as x:
        assert await error_code(x.react("ro-unknown", "🔥")) == "not_found"
        assert await error_code(x.watch("ro-unknown")) == "not_found"
        match, _ = await queue_pair(a, b)
        assert await error_code(x.react(match, "🔥")) == "not_allowed"
        for bad in ("abc", "🔥 🔥", "1", " ", "\x00", "a🔥"):
            assert await error_code(a.react(match, bad)) == "bad_request", bad
        assert await error_code(a.react(match, "")) == "bad_request"
        assert await x.watch(match) == {}
        assert await x.react(match, "🔥") == {}


# --- hostile bursts: one reply per request, nobody else disturbed ----------------------------


async def test_hostile_burst_during_a_battle(arena_server, nursery):
    server, url = await arena_server(roast={"time_limit_ms": 120_000})
    async with background_battle(nursery, server, url) as bg:
        match = bg.match

        async def hostile(k: int):
            async with raw_client(url) as c:
                await c.hello()
                await c.login()
                # Distinct rids; bad frames stay under the abuse limit (9 per connection).
                base = 10_000 * (k + 1)
                expected = Counter()
                frames = []
                for i, (_, frame, rid) in enumerate(BAD_FRAMES[:40]):
                    if rid != 0 or isinstance(frame, str):
                        continue
                    frames.append(frame)
                    expected[0] += 1
                    if expected[0] == 5:
                        break
                for j, t in enumerate(ALL_TYPES):
                    rid = base + j
                    frames.append(req(rid, t, {"match": match, "round": 99, "text": "x", "emoji": "🔥",
                                               "mode": "roast", "tier": "diamond", "to": bg.wallets[0],
                                               "amount": -5, "tx": b"x", "signature": b"y",
                                               "session": "nope", "last_seq": 0, "protocol": 7,
                                               "client": "h", "wallet": "w"}))
                    expected[rid] += 1
                batch = [[0, base + 100 + i, "ping", {}] for i in range(30)]
                batch.insert(10, [0, base + 200, 1.5, {}])
                batch.insert(20, [0, base + 201, "queue.leave", "x"])
                frames.append(pack(batch))
                for i in range(30):
                    expected[base + 100 + i] += 1
                expected[base + 200] += 1
                expected[base + 201] += 1
                for f in frames:
                    await c.send_raw(f)
                await wait_until(lambda: sum(1 for _ in c.unclaimed_replies) >= sum(expected.values()),
                                 timeout=TIMEOUT)
                await trio.sleep(0.2)
                got = Counter(r for r, _, _ in c.unclaimed_replies)
                assert got == expected
                assert not c.closed

        async with trio.open_nursery() as n:
            for k in range(4):
                n.start_soon(hostile, k)
        await still_serving(url)
    # background_battle checked that the battle completed and paid out exactly.


async def test_many_abusive_connections_do_not_disturb_a_battle(arena_server, nursery):
    server, url = await arena_server(roast={"time_limit_ms": 120_000})
    async with background_battle(nursery, server, url) as bg:

        async def abuser(k: int):
            async with raw_client(url) as c:
                for i in range(12):
                    try:
                        await c.send_raw(b"\xc1" if i % 2 else "text")
                    except ConnectionError:
                        break
                assert await c.wait_closed(timeout=TIMEOUT) == 1008

        async def too_big():
            async with raw_client(url) as c:
                try:
                    await c.send_raw(b"\x00" * (MIB + 100))
                except ConnectionError:
                    pass
                assert await c.wait_closed(timeout=TIMEOUT) == 1009

        async with trio.open_nursery() as n:
            for k in range(6):
                n.start_soon(abuser, k)
            n.start_soon(too_big)
        await still_serving(url)


async def test_watch_limit_per_wallet(arena_server):
    _, url = await arena_server(roast={"max_watch_per_wallet": 2})
    async with player(url) as a, player(url) as b, player(url) as c, player(url) as d, \
            player(url) as e, player(url) as f, player(url, faucet=False) as w:
        matches = [(await queue_pair(p, q))[0] for p, q in ((a, b), (c, d), (e, f))]
        assert await w.watch(matches[0]) == {}
        assert await w.watch(matches[1]) == {}
        assert await error_code(w.watch(matches[2])) == "not_allowed"
        assert await w.watch(matches[0]) == {}  # watching again is fine
        # Players of a battle do not count as watchers of it.
        assert await a.watch(matches[0]) == {}
        assert await a.watch(matches[1]) == {}
        assert await a.watch(matches[2]) == {}


async def test_at_most_64_distinct_emoji_per_battle(arena_server):
    _, url = await arena_server(buckets={("roast", "reactions"): (1_000, 1_000)})
    async with player(url) as a, player(url) as b:
        match, _ = await queue_pair(a, b)
        replies = await a.request_batch([("reaction.send", {"match": match, "emoji": chr(0x1F600 + i)})
                                         for i in range(64)])
        assert replies == [{}] * 64
        assert await error_code(b.react(match, chr(0x1F600 + 64))) == "not_allowed"
        assert await b.react(match, chr(0x1F600)) == {}  # a known one still counts
        _, ev = await b.next_event("reaction:sent", where=lambda e: e["senderId"] == b.wallet, timeout=TIMEOUT)
        assert ev["count"] == 2


# --- the remaining codes and limits: in-flight ledger calls, overloaded, internal, paths ---------


async def test_at_most_16_ledger_requests_in_flight(arena_server):
    _, url = await arena_server()
    async with player(url) as c:
        replies = await c.request_batch([("wallet.balance", {})] * 20)
        ok = [r for r in replies if not isinstance(r, ArenaRequestError)]
        limited = [r for r in replies if isinstance(r, ArenaRequestError)]
        assert ok == [{"balance": 10_000}] * 16
        assert [r.code for r in limited] == ["rate_limited"] * 4
        assert all(r.retry_after_ms and r.retry_after_ms > 0 for r in limited)
        assert replies[:16] == ok  # the first 16, in order
        assert await c.balance() == 10_000


async def test_overloaded_when_the_server_sheds_load(arena_server, monkeypatch):
    import arena.server

    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        monkeypatch.setattr(arena.server, "MAX_PENDING_INPUTS", 0)
        status, body = await a.request_raw("queue.join", {"mode": "roast", "tier": "bronze"})
        assert (status, body["code"]) == ("error", "overloaded")
        assert isinstance(body["retry_after_ms"], int) and body["retry_after_ms"] > 0
        # Requests the gateway answers itself are not shed.
        assert isinstance(await a.ping(), int) and await a.balance() == 10_000
        monkeypatch.setattr(arena.server, "MAX_PENDING_INPUTS", 50_000)
        match, _ = await queue_pair(a, b)
        assert match in server.state.matches


async def test_a_ledger_bug_is_internal_and_hurts_nothing_else(arena_server):
    from arena.chain.embedded import EmbeddedLedger

    class Buggy(EmbeddedLedger):
        async def balance(self, wallet):
            raise RuntimeError("boom")

    server, url = await arena_server(server_kwargs={"ledger": Buggy(faucet_amount=10_000)})
    async with player(url) as c:
        status, body = await c.request_raw("wallet.balance", {})
        assert (status, body["code"]) == ("error", "internal")
        assert "boom" not in body["message"]  # no internals leak to clients
        assert await c.faucet() == 20_000 and isinstance(await c.ping(), int)
    await still_serving(url)


async def test_only_v1_is_served(arena_server):
    import trio_websocket

    _, url = await arena_server()
    base = url.rsplit("/", 1)[0]
    for path in ("/", "/v2", "/v1/x", "/V1"):
        with pytest.raises(trio_websocket.ConnectionRejected) as info:
            async with open_client(base + path):
                pass
        assert info.value.status_code == 404, path
    async with open_client(url + "?client=x") as c:
        assert (await c.hello())["protocol"] == 1


async def test_bad_frames_outside_the_window_are_forgotten(arena_server):
    server, url = await arena_server(net={"bad_frame_window_ms": 500})
    async with player(url, faucet=False) as c:
        for _ in range(9):
            await c.send_raw(b"\xc1")
        await wait_until(lambda: len(c.unclaimed_replies) == 9, timeout=TIMEOUT)
        await trio.sleep(0.7)
        for _ in range(9):
            await c.send_raw(b"\xc1")
        await wait_until(lambda: len(c.unclaimed_replies) == 18, timeout=TIMEOUT)
        assert not c.closed and isinstance(await c.ping(), int)
        for _ in range(10):
            await c.send_raw(b"\xc1", allow_close=True)
        assert await c.wait_closed(timeout=TIMEOUT) == 1008


async def test_one_tick_of_replies_is_one_batch_frame_in_order(arena_server):
    """The server batches what it has for a client within one tick into one frame, in order."""
    import trio_websocket

    _, url = await arena_server()
    async with trio_websocket.open_websocket_url(url) as ws:
        await ws.send_message(pack([[0, 1, "hello", {"protocol": 1, "client": "raw"}]]
                                   + [[0, 2 + i, "ping", {}] for i in range(5)] + [[0, 9, "nope", {}]]))
        frame = msgpack.unpackb(await ws.get_message(), raw=False)
        assert isinstance(frame, list) and all(isinstance(e, list) for e in frame)
        assert [(e[0], e[1], e[2]) for e in frame] == [(1, 1, "ok")] + [(1, 2 + i, "ok") for i in range(5)] + [
            (1, 9, "error")]
        # A single reply is sent as a bare envelope.
        await ws.send_message(req(10, "ping"))
        env = msgpack.unpackb(await ws.get_message(), raw=False)
        assert env[:3] == [1, 10, "ok"] and isinstance(env[3]["tick"], int)
