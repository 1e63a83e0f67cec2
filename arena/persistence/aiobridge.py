"""Running asyncio libraries (asyncpg, redis.asyncio) from trio.

A dedicated asyncio event loop runs in one background thread. `call(fn,
*args)` submits the coroutine `fn(*args)` to it with
`asyncio.run_coroutine_threadsafe`, and the future's done-callback wakes the
waiting trio task through its trio token (`run_sync_soon`), so no worker
thread is parked per call (docs/PERSISTENCE.md has the measurements that
chose this over `trio.to_thread` and trio-asyncio). Cancelling the trio task
cancels the asyncio task; asyncpg rolls back a transaction cancelled that way.

Submit a whole transaction as one coroutine: each call costs a thread hop
both ways (~0.1-0.4 ms).
"""

from __future__ import annotations

import asyncio
import threading

import trio


class AsyncioThread:
    def __init__(self, name: str = "arena-asyncio"):
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.loop is not None:
            return
        loop = asyncio.SelectorEventLoop()  # explicit: immune to event-loop policy patches
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        self.loop = loop

    def stop(self) -> None:
        loop, self.loop = self.loop, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not loop.is_running():
            loop.close()

    async def call(self, fn, *args):
        """Await `fn(*args)` (a coroutine function) on the asyncio loop, from trio."""
        if self.loop is None:
            raise RuntimeError("asyncio thread not started")
        fut = asyncio.run_coroutine_threadsafe(fn(*args), self.loop)
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def wake(_):
            try:
                token.run_sync_soon(done.set)
            except trio.RunFinishedError:
                pass

        fut.add_done_callback(wake)
        try:
            await done.wait()
        except BaseException:
            fut.cancel()
            raise
        return fut.result()

    def call_blocking(self, fn, *args, timeout: float | None = None):
        """The same from a plain thread (not trio)."""
        return asyncio.run_coroutine_threadsafe(fn(*args), self.loop).result(timeout)
