"""Hypothesis over the socket: arbitrary frames never hurt the server.

While a battle runs between two well-behaved players, hypothesis opens a
fresh connection per example (sometimes logged in, sometimes not) and sends
it arbitrary frames: random bytes, text, arbitrary MessagePack values, and
envelope-shaped values whose types and bodies are drawn from the protocol's
own vocabulary (so they reach the request handlers, the ledger and the
engine, including the running battle's id). For every example:

- every reply is a well-formed `[1, rid, "ok"|"error", body]`, an error body
  has a known code and a message, and the code is never `internal`;
- the connection stays open, or is closed with 1008 after at least ten
  bad_frame replies (never any other code: no frame here exceeds 1 MiB);
- when it stays open, a final ping is answered.

After all examples the server accepts new connections, the battle has
completed with its exact payout, and no token was created or destroyed.
"""

from __future__ import annotations

import os

import msgpack
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.client import open_client
from arena.engine.errors import ALL_CODES
from conftest import player
from test_e2e_support import background_battle, held_total, money, still_serving

# ARENA_FUZZ_EXAMPLES=500 for a deeper run than the default.
EXAMPLES = int(os.environ.get("ARENA_FUZZ_EXAMPLES", "40"))
PING_RID = 3_141_592_653
TYPES = ["hello", "auth.login", "session.resume", "ping", "wallet.balance", "wallet.faucet",
         "entry.build", "entry.confirm", "tip.build", "tip.confirm", "queue.join", "queue.leave",
         "roast.submit", "reaction.send", "match.watch"]
FIELDS = ["protocol", "client", "wallet", "signature", "session", "last_seq", "match", "tx", "to",
          "amount", "mode", "tier", "round", "text", "audio", "emoji"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True), st.text(max_size=40), st.binary(max_size=80),
    st.sampled_from(["roast", "bronze", "diamond", "🔥", "", "x" * 200]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=25,
)


def envelope(match_ids):
    field_value = st.one_of(values, st.sampled_from(match_ids))
    body = st.one_of(st.dictionaries(st.sampled_from(FIELDS), field_value, max_size=6), values)
    rid = st.one_of(st.integers(min_value=1, max_value=2**32 - 1), values)
    kind = st.one_of(st.just(0), st.just(0), values)
    type_ = st.one_of(st.sampled_from(TYPES), values)
    return st.one_of(
        st.tuples(kind, rid, type_, body).map(list),
        st.lists(values, max_size=6),
    )


def frames(match_ids):
    env = envelope(match_ids)
    packed = st.one_of(
        env,
        st.lists(env, min_size=1, max_size=8),  # a batch (or a list that is not one)
        values,
    ).map(lambda v: msgpack.packb(v, use_bin_type=True))
    return st.one_of(
        packed,
        packed.flatmap(lambda b: st.binary(max_size=8).map(lambda extra: b + extra)),  # trailing bytes
        packed.flatmap(lambda b: st.integers(0, max(0, len(b) - 1)).map(lambda n: b[:n])),  # truncated
        st.binary(max_size=200),
        st.text(max_size=60),
    )


async def run_example(url, frame_list, login) -> None:
    async with open_client(url) as c:
        if login:
            await c.hello()
            await c.login()
        for f in frame_list:
            await c.send_raw(f, allow_close=True)
        # Everything sent before the ping has been read when its reply comes
        # (one connection's frames are read in order). Its rid is one the
        # strategies are unlikely to pick, so no fuzzed reply is taken for it.
        c._next_rid = PING_RID
        if not c.closed:
            try:
                status, body = await c.request_raw("ping", {}, timeout=30)
            except ConnectionError:
                status = None
            else:
                # A fuzzed hello may have failed, but ping only needs one.
                assert status in ("ok", "error")
                if status == "error":
                    assert body["code"] in ("unauthenticated", "rate_limited"), body
        await trio.sleep(0.05)
        bad = 0
        for rid, status, body in c.unclaimed_replies:
            assert isinstance(rid, int) and 0 <= rid <= 2**32 - 1
            assert status in ("ok", "error"), status
            assert isinstance(body, dict)
            if status == "error":
                assert body["code"] in ALL_CODES and body["code"] != "internal", body
                assert isinstance(body["message"], str)
                if "retry_after_ms" in body:
                    assert isinstance(body["retry_after_ms"], int) and body["retry_after_ms"] >= 0
                bad += body["code"] == "bad_frame"
        assert c.protocol_errors == []
        if c.closed:
            assert c.close_code == 1008, c.close_code
            assert bad >= 10, bad


async def test_arbitrary_frames_never_hurt_the_server(arena_server, nursery):
    server, url = await arena_server(roast={"time_limit_ms": 300_000})
    async with background_battle(nursery, server, url) as bg:
        match_ids = [bg.match, "ro-" + "0" * 16, ""]

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(frames(match_ids), min_size=1, max_size=12), st.booleans())
        def fuzz(frame_list, login):
            trio.from_thread.run(run_example, url, frame_list, login)

        await trio.to_thread.run_sync(fuzz)
        assert not bg.done.is_set()  # the battle was still running all along
        await still_serving(url)
    # background_battle checked the battle completed with its exact payout.
    money(server)
    assert held_total(server) == -server.ledger.book.balance("mint:faucet")


async def test_arbitrary_envelope_bodies_for_every_type(arena_server):
    """Logged in, every request type with arbitrary bodies: one sane reply each."""
    server, url = await arena_server()
    async with player(url) as c:
        seen_types = set()

        async def one(type_, body):
            status, reply = await c.request_raw(type_, body, timeout=30)
            assert status in ("ok", "error")
            if status == "error":
                assert reply["code"] in ALL_CODES and reply["code"] != "internal", reply
            seen_types.add(type_)

        @settings(max_examples=EXAMPLES + 20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(st.sampled_from(TYPES),
               st.dictionaries(st.sampled_from(FIELDS), st.one_of(values, st.sampled_from(["ro-x", c.wallet])),
                               max_size=6))
        def fuzz(type_, body):
            trio.from_thread.run(one, type_, body)

        await trio.to_thread.run_sync(fuzz)
        assert not c.closed
        assert isinstance(await c.ping(), int)
    money(server)
