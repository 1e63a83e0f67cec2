"""The simulator's media store: the media port over a dict, no disk.

A world's media lives here across its server's lives (like `SimStore`).
Every call finishes within the event loop (a checkpoint, no worker
thread), so a simulated world stays a function of its seed. The keys are
the local store's (`LocalMedia`: the same `store_audio`, `store_avatar`
and `store_object`), only where the bytes go differs.
"""

from __future__ import annotations

import trio

from arena.engine.errors import NOT_FOUND, ArenaError
from arena.media.local import LocalMedia

SCHEME = "sim-media://"


class SimMedia(LocalMedia):
    name = "sim"

    def __init__(self) -> None:  # no root folder: nothing touches the disk
        self.base_url = ""
        self.objects: dict[str, bytes] = {}

    def url_for(self, key: str) -> str:
        return SCHEME + key

    async def _put(self, key: str, data: bytes) -> str:
        await trio.lowlevel.checkpoint()
        self.objects[key] = bytes(data)
        return self.url_for(key)

    async def fetch(self, url: str) -> bytes:
        await trio.lowlevel.checkpoint()
        data = self.objects.get(url.removeprefix(SCHEME)) if url.startswith(SCHEME) else None
        if data is None:
            raise ArenaError(NOT_FOUND, "not a URL of this media store")
        return data
