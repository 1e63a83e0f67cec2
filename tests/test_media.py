"""The media port: local files and S3-compatible storage pass the same tests.

S3 runs against moto's S3-compatible server, started by the tests on
127.0.0.1 (`moto[server]`, a dev dependency); those tests are skipped with a
clear reason if moto is not installed.
"""

from __future__ import annotations

import attrs
import pytest

from arena.config import default_config
from arena.engine.errors import ArenaError
from arena.media import make_media
from arena.media.local import LocalMedia

from moto_s3 import BUCKET, SECRET_KEY, media_section, moto_s3, s3_client

SECRET = SECRET_KEY


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3() as endpoint:
        yield endpoint


def s3_config(endpoint, **over):
    cfg = default_config()
    return attrs.evolve(cfg, media=media_section(cfg.media, endpoint, **over))


@pytest.fixture(params=["local", "s3"])
def media(request, tmp_path):
    if request.param == "local":
        return LocalMedia(tmp_path / "media")
    return make_media(s3_config(request.getfixturevalue("s3_endpoint")))


async def test_store_then_fetch(media):
    data = bytes(range(256)) * 40
    url = await media.store_audio("m-1", 2, 1, data)
    assert url.endswith("audio/m-1/round2_player1.webm")
    assert await media.fetch(url) == data


async def test_storing_again_replaces(media):
    url1 = await media.store_audio("m-2", 1, 2, b"first")
    url2 = await media.store_audio("m-2", 1, 2, b"second")
    assert url1 == url2 and await media.fetch(url2) == b"second"


@pytest.mark.parametrize("match,rnd,player", [("../etc", 1, 1), ("a/b", 1, 1), ("m", 0, 1), ("m", 1, 3)])
async def test_bad_keys_are_refused(media, match, rnd, player):
    with pytest.raises(ArenaError):
        await media.store_audio(match, rnd, player, b"x")


async def test_foreign_urls_are_not_fetched(media):
    for url in ("https://example.invalid/audio/m/round1_player1.webm", "file:///etc/passwd", ""):
        with pytest.raises(ArenaError):
            await media.fetch(url)


async def test_missing_recordings_are_not_found(media):
    url = await media.store_audio("m-3", 1, 1, b"x")
    missing = url.replace("round1_player1", "round9_player2")
    with pytest.raises((ArenaError, FileNotFoundError)):
        await media.fetch(missing)


# --- S3 specifics -------------------------------------------------------------------------


async def test_s3_urls_and_objects(s3_endpoint):
    media = make_media(s3_config(s3_endpoint))
    url = await media.store_audio("m-4", 3, 2, b"webm bytes")
    assert url == f"{s3_endpoint}/{BUCKET}/audio/m-4/round3_player2.webm"
    obj = s3_client(s3_endpoint).get_object(Bucket=BUCKET, Key="audio/m-4/round3_player2.webm")
    assert obj["Body"].read() == b"webm bytes" and obj["ContentType"] == "audio/webm"
    with pytest.raises(ArenaError):
        await media.fetch(f"{s3_endpoint}/{BUCKET}/private/other.bin")


async def test_s3_public_base_url(s3_endpoint):
    media = make_media(s3_config(s3_endpoint, base_url="https://cdn.example.test/media/"))
    url = await media.store_audio("m-5", 1, 1, b"abc")
    assert url == "https://cdn.example.test/media/audio/m-5/round1_player1.webm"
    assert await media.fetch(url) == b"abc"


def test_s3_credentials_stay_out_of_reprs(s3_endpoint):
    cfg = s3_config(s3_endpoint)
    assert SECRET not in repr(cfg) and SECRET not in repr(make_media(cfg))


def test_make_media_kinds(tmp_path):
    cfg = default_config()
    local = make_media(attrs.evolve(cfg, media=attrs.evolve(cfg.media, path=str(tmp_path))))
    assert isinstance(local, LocalMedia)
    with pytest.raises(ValueError, match="bucket"):
        make_media(attrs.evolve(cfg, media=attrs.evolve(cfg.media, kind="s3")))
