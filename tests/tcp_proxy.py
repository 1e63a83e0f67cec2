"""A TCP proxy a test can unplug: the way to make a real PostgreSQL or Redis
"unreachable" for the server without touching the server itself."""

from __future__ import annotations

import trio


class TcpProxy:
    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self.listen_port: int | None = None
        self.up = True
        self._scopes: set[trio.CancelScope] = set()
        self.connections = 0

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.listen_port = listeners[0].socket.getsockname()[1]
        task_status.started(self.listen_port)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        if not self.up:
            await client.aclose()
            return
        try:
            server = await trio.open_tcp_stream(self.host, self.port)
        except OSError:
            await client.aclose()
            return
        self.connections += 1
        with trio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, client, server, nursery.cancel_scope)
                    nursery.start_soon(self._pump, server, client, nursery.cancel_scope)
            finally:
                self._scopes.discard(scope)
        for s in (client, server):
            with trio.move_on_after(0.5) as cs:
                cs.shield = True
                try:
                    await s.aclose()
                except Exception:  # noqa: BLE001
                    pass

    @staticmethod
    async def _pump(src, dst, scope) -> None:
        try:
            while True:
                data = await src.receive_some(65536)
                if not data:
                    break
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        scope.cancel()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self.up = False
        for scope in list(self._scopes):
            scope.cancel()

    def restore(self) -> None:
        self.up = True
