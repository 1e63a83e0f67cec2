"""The simulator's media store: the media port over a dict, no disk.

A world's media lives here across its server's lives (like `SimStore`).
Every call finishes within the event loop (a checkpoint, no worker
thread), so a simulated world stays a function of its seed: a thread
finishing in real time would let the mock clock jump by a different
amount in each run.
"""

from __future__ import annotations

import trio

from arena.engine.errors import NOT_FOUND, ArenaError
from arena.media.local import audio_key, avatar_key, media_key

SCHEME = "sim-media://"


class SimMedia:
    name = "sim"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def url_for(self, key: str) -> str:
        return SCHEME + key

    async def _put(self, key: str, data: bytes) -> str:
        await trio.lowlevel.checkpoint()
        self.objects[key] = bytes(data)
        return self.url_for(key)

    async def store_audio(self, match: str, round_: int, player_index: int, data: bytes) -> str:
        return await self._put(audio_key(match, round_, player_index), data)

    async def store_avatar(self, wallet: str, png: bytes) -> str:
        return await self._put(avatar_key(wallet, png), png)

    async def store(self, key: str, data: bytes, content_type: str = "") -> str:
        return await self._put(media_key(key), data)

    async def fetch(self, url: str) -> bytes:
        await trio.lowlevel.checkpoint()
        data = self.objects.get(url.removeprefix(SCHEME)) if url.startswith(SCHEME) else None
        if data is None:
            raise ArenaError(NOT_FOUND, "not a URL of this media store")
        return data
