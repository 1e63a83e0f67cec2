"""Media on the local disk: the default, needs nothing installed."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from arena.engine.errors import BAD_REQUEST, NOT_FOUND, ArenaError

_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def audio_key(match: str, round_: int, player_index: int) -> str:
    if not _SAFE.match(match) or ".." in match:
        raise ArenaError(BAD_REQUEST, "match id not usable as a media key")
    if not (isinstance(round_, int) and 0 < round_ < 1000) or player_index not in (1, 2):
        raise ArenaError(BAD_REQUEST, "round or player out of range")
    return f"audio/{match}/round{round_}_player{player_index}.webm"


def avatar_key(wallet: str, data: bytes) -> str:
    """`avatars/{wallet}/{digest}.png`: named by its content, so a new avatar
    gets a new URL (caches never show the old one) and storing the same
    image twice is harmless."""
    import hashlib

    if not _SAFE.match(wallet) or ".." in wallet:
        raise ArenaError(BAD_REQUEST, "wallet not usable as a media key")
    return f"avatars/{wallet}/{hashlib.sha256(data).hexdigest()[:32]}.png"


_SAFE_PATH = re.compile(r"^[a-z][a-z0-9_-]{0,31}(/[A-Za-z0-9_.-]{1,128}){1,4}$")


def object_key(key: str) -> str:
    """A key a side task stores a file under (`store_object`): a top folder
    of lower-case letters, then one to four path parts of safe characters,
    never `..` (so no key leaves the store's root)."""
    if not isinstance(key, str) or not _SAFE_PATH.match(key) or ".." in key.split("/"):
        raise ArenaError(BAD_REQUEST, f"{key!r} is not usable as a media key")
    return key


class LocalMedia:
    name = "local"

    def __init__(self, root: str | Path, base_url: str = ""):
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/")

    def url_for(self, key: str) -> str:
        if self.base_url:
            return f"{self.base_url}/{key}"
        return (self.root / key).as_uri()

    async def store_audio(self, match: str, round_: int, player_index: int, data: bytes) -> str:
        return await self._put(audio_key(match, round_, player_index), data)

    async def store_avatar(self, wallet: str, png: bytes) -> str:
        """A profile picture, already checked and re-encoded as PNG (`arena.net.reads`)."""
        return await self._put(avatar_key(wallet, png), png)

    async def store_object(self, key: str, data: bytes, content_type: str) -> str:
        """A file a side task made (an archived image or video) under `key`
        (`object_key`); storing it again replaces it with the same bytes."""
        return await self._put(object_key(key), data)

    async def _put(self, key: str, data: bytes) -> str:
        path = trio.Path(self.root / key)
        await path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        await tmp.write_bytes(data)
        await tmp.replace(path)
        return self.url_for(key)

    def _path_of(self, url: str) -> Path:
        prefix = f"{self.base_url}/" if self.base_url else self.root.as_uri() + "/"
        if not url.startswith(prefix):
            raise ArenaError(NOT_FOUND, "not a URL of this media store")
        path = (self.root / url[len(prefix):]).resolve()
        if self.root not in path.parents:
            raise ArenaError(NOT_FOUND, "outside the media store")
        return path

    async def fetch(self, url: str) -> bytes:
        return await trio.Path(self._path_of(url)).read_bytes()
