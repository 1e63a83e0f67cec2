"""Hostile input on every read request: a clear protocol error, nothing changed.

Bad types, values out of range, unknown fields (ignored, as for every
request), requests before login, another wallet's profile, usernames taken
or invalid, avatars that are not images, too big, too many pixels, of a
format not accepted, or decompression bombs; and a flood of reads stopped by
the read bucket while the server keeps serving.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from arena.client import ArenaRequestError
from conftest import player
from test_e2e_support import error_code, raw_client, raw_error, req, still_serving

READS = [
    ("match.list", {"mode": "roast"}),
    ("leaderboard.get", {"board": "roast.wins"}),
    ("history.get", {}),
    ("profile.get", {"wallet": "11111111111111111111111111111111"}),
    ("profile.set", {"username": "nobody"}),
]


def image(fmt: str, w: int = 16, h: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (1, 2, 3)).save(out, format=fmt)
    return out.getvalue()


def png_bomb(w: int, h: int) -> bytes:
    """A small PNG whose header claims w x h pixels (one grey row repeated)."""
    z = zlib.compressobj(9)
    row = b"\x00" + bytes(w)
    raw = b"".join(z.compress(row) for _ in range(h)) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


BOMB = png_bomb(10_000, 10_000)
assert len(BOMB) < 262_144


@pytest.mark.parametrize("type_,body", READS)
async def test_reads_before_login_are_unauthenticated(arena_server, type_, body):
    _, url = await arena_server()
    async with raw_client(url) as c:
        await c.hello()
        got = await raw_error(c, req(5, type_, body), 5)
        assert got["code"] == "unauthenticated"


BAD = [
    ("match.list", {"mode": 7}),
    ("match.list", {}),
    ("match.list", {"mode": "nosuchmode"}),
    ("match.list", {"mode": "roast", "limit": 0}),
    ("match.list", {"mode": "roast", "limit": 101}),
    ("match.list", {"mode": "roast", "limit": "5"}),
    ("match.list", {"mode": "roast", "phase": ["entry"]}),
    ("leaderboard.get", {}),
    ("leaderboard.get", {"board": "no.such.board"}),
    ("leaderboard.get", {"board": "roast.wins", "period": "month"}),
    ("leaderboard.get", {"board": "roast.wins", "limit": -1}),
    ("leaderboard.get", {"board": "roast.wins", "limit": True}),
    ("leaderboard.get", {"board": "roast.wins", "around": "not a wallet"}),
    ("leaderboard.get", {"board": "x" * 65}),
    ("history.get", {"wallet": "0OIl"}),
    ("history.get", {"wallet": b"bytes"}),
    ("history.get", {"mode": "nosuchmode"}),
    ("history.get", {"before": "junk"}),
    ("history.get", {"before": "12"}),
    ("history.get", {"before": "x" * 300}),
    ("history.get", {"limit": 2**40}),
    ("profile.get", {}),
    ("profile.get", {"wallet": "not-a-wallet"}),
    ("profile.set", {}),
    ("profile.set", {"username": "ab"}),
    ("profile.set", {"username": "x" * 21}),
    ("profile.set", {"username": "bad name"}),
    ("profile.set", {"username": "ünïcode"}),
    ("profile.set", {"username": "semi;colon"}),
    ("profile.set", {"username": 12345}),
    ("profile.set", {"avatar": "not bytes"}),
    ("profile.set", {"avatar": b"GIF89a but not really an image"}),
    ("profile.set", {"avatar": b""}),
]


async def test_bad_bodies_get_bad_request_and_change_nothing(arena_server):
    server, url = await arena_server()
    async with player(url, faucet=False) as c:
        before = await c.profile()
        for type_, body in BAD:
            got = await c.request_raw(type_, body)
            assert got[0] == "error" and got[1]["code"] == "bad_request", (type_, body, got)
        assert await c.profile() == before
        assert await server.store.profile(c.wallet) is None
        await still_serving(url)


async def test_avatars_that_are_too_big_too_many_pixels_wrong_type_or_bombs(arena_server):
    server, url = await arena_server()
    limits = server.cfg.profiles
    async with player(url, faucet=False) as c:
        await c.set_profile(username="keeper")
        for data in (
            image("BMP"),  # decodes, but not a format avatars take
            image("TIFF"),
            image("PNG", limits.max_avatar_pixels + 1, 4),  # too wide
            image("PNG", 4, limits.max_avatar_pixels + 1),  # too high
            BOMB,  # ~100 kB claiming 100 megapixels
            image("PNG")[:40],  # truncated
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 5000,
            b"\xff" * (limits.max_avatar_bytes + 1),  # over the byte limit (a large frame: an upload)
        ):
            assert await error_code(c.set_profile(avatar=data)) == "bad_request"
        assert await c.profile() == {"wallet": c.wallet, "username": "keeper", "avatar_url": None, "stats": {}}
        assert not os.path.exists(os.path.join(server.cfg.media.path, "avatars"))
        # Each accepted format is taken, and stored re-encoded as PNG.
        for fmt in ("PNG", "JPEG", "WEBP", "GIF"):
            got = await c.set_profile(avatar=image(fmt, 40, 30))
            assert got["username"] == "keeper" and got["avatar_url"].endswith(".png")


async def test_profile_set_changes_only_the_callers_profile(arena_server):
    server, url = await arena_server()
    async with player(url, faucet=False) as a, player(url, faucet=False) as b:
        await a.set_profile(username="alpha")
        # A body naming another wallet: the field is unknown to profile.set and ignored.
        got = await b.request("profile.set", {"username": "beta", "wallet": a.wallet, "extra": [1, 2]})
        assert got["wallet"] == b.wallet and got["username"] == "beta"
        assert (await b.profile(a.wallet))["username"] == "alpha"
        # Taken, in any case; then nothing of b's changed either.
        for name in ("alpha", "ALPHA", "Alpha"):
            assert await error_code(b.set_profile(username=name)) == "duplicate"
        assert (await b.profile())["username"] == "beta"
        # A username is free again once its owner changes it.
        await a.set_profile(username="alpha2")
        assert (await b.set_profile(username="Alpha"))["username"] == "Alpha"


async def test_a_flood_of_reads_is_rate_limited(arena_server):
    server, url = await arena_server(net={"reads_per_s": 1, "reads_burst": 5})
    async with player(url, faucet=False) as c:
        replies = await c.request_batch([("leaderboard.get", {"board": "roast.wins"})] * 30)
        codes = [r.code if isinstance(r, ArenaRequestError) else "ok" for r in replies]
        assert codes.count("ok") == 5 and set(codes) == {"ok", "rate_limited"}, codes
        assert server.gateway.stats["reads_limited"] == 25
        await still_serving(url)


async def test_an_oversized_frame_that_is_not_an_upload_is_refused(arena_server):
    server, url = await arena_server()
    async with player(url, faucet=False) as c:
        big = req(9, "leaderboard.get", {"board": "roast.wins", "pad": "x" * 70_000})
        assert (await raw_error(c, big, 9))["code"] == "bad_frame"
        big = req(10, "profile.set", {"username": "x" * 70_000})  # profile.set without avatar bytes
        assert (await raw_error(c, big, 10))["code"] == "bad_frame"
        assert await server.store.profile(c.wallet) is None
