"""In-memory connections between simulated clients and the real gateway.

The simulator runs the real `Gateway` (requests, sessions, budgets, event
buffers) and the real `ArenaClient`; only the bytes between them skip the
kernel and the WebSocket framing (`arena.net.ws`, tested on its own, sans-IO
and over real sockets). A message a client sends is handed to the gateway
at once, as the transport's reader would hand it over; a message the
gateway sends waits in the client's inbox until the client reads it, so a
client that stops reading is a slow reader: past `max_out_bytes` waiting the
gateway is told (`on_slow`) and the connection closed, as the real transport
does.
"""

from __future__ import annotations

import math

import trio
import trio_websocket

from arena.net.gateway import Gateway

CLOSE_ABNORMAL = 1006


class ServerSide:
    """What the gateway holds for a connection (the `arena.net.ws.WsConn` surface it uses)."""

    def __init__(self, link: Link, peer: str) -> None:
        self.link = link
        self.peer = peer
        self.owner = None
        self.close_code: int | None = None
        self.max_message = 0
        self.held_by_owner = False

    def send_message(self, payload: bytes) -> bool:
        return self.link.to_client(payload)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.link.close(code, reason, by_server=True)

    def hold(self, on: bool) -> None:
        self.held_by_owner = on

    def admit(self, max_message: int | None = None) -> None:
        if max_message is not None:
            self.max_message = max_message


class _Stream:
    """`ArenaClient.abort` closes the stream under the WebSocket: a dropped link."""

    def __init__(self, link: Link) -> None:
        self.link = link

    async def aclose(self) -> None:
        self.link.close(CLOSE_ABNORMAL, "dropped", by_server=False)


class ClientSide:
    """What an `ArenaClient` holds (the trio-websocket connection surface it uses)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._stream = _Stream(link)

    @property
    def closed(self):
        link = self.link
        return trio_websocket.CloseReason(link.code, link.reason) if link.is_closed else None

    async def get_message(self) -> bytes:
        link = self.link
        while link.deaf_until > trio.current_time() and not link.is_closed:
            await trio.sleep_until(link.deaf_until)  # a reader that stopped reading
        try:
            data = await link.inbox_recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise trio_websocket.ConnectionClosed(trio_websocket.CloseReason(link.code or CLOSE_ABNORMAL,
                                                                             link.reason)) from None
        link.waiting_bytes -= len(data)
        return data

    async def send_message(self, data) -> None:
        link = self.link
        if link.is_closed:
            raise trio_websocket.ConnectionClosed(trio_websocket.CloseReason(link.code, link.reason))
        await trio.lowlevel.checkpoint()
        if link.is_closed:
            raise trio_websocket.ConnectionClosed(trio_websocket.CloseReason(link.code, link.reason))
        link.bytes_in += len(data)
        if isinstance(data, str):
            link.gateway._on_message(link.server, data, True)
        else:
            link.gateway._on_message(link.server, bytes(data), False)

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        self.link.close(code, reason or "", by_server=False)
        await trio.lowlevel.checkpoint()


class Link:
    """One connection: a gateway side, a client side, and the bytes between."""

    def __init__(self, gateway: Gateway, peer: str, max_out_bytes: int) -> None:
        self.gateway = gateway
        self.server = ServerSide(self, peer)
        self.client = ClientSide(self)
        self.inbox_send, self.inbox_recv = trio.open_memory_channel(math.inf)
        self.max_out_bytes = max_out_bytes
        self.waiting_bytes = 0
        self.bytes_in = 0
        self.deaf_until = 0.0  # the client reads nothing before this (trio time)
        self.is_closed = False
        self.code: int | None = None
        self.reason: str | None = None
        gateway._on_open(self.server)

    def to_client(self, payload: bytes) -> bool:
        if self.is_closed:
            return False
        self.waiting_bytes += len(payload)
        if self.waiting_bytes > self.max_out_bytes:
            # The real transport's rule for a reader that does not keep up.
            on_slow = self.gateway.server_on_slow
            on_slow(self.server)
            self.close(1008, "slow reader", by_server=True)
            return False
        self.inbox_send.send_nowait(payload)
        return True

    def close(self, code: int, reason: str, by_server: bool) -> None:
        if self.is_closed:
            return
        self.is_closed = True
        self.code, self.reason = code, reason
        self.server.close_code = code
        self.inbox_send.close()
        # As the real transport's hub does: the gateway hears of the close on
        # its own turn, never from inside one of its calls. A gateway that is
        # gone (the server stopped or crashed) has nobody left to tell.
        nursery = self.gateway._nursery
        if nursery is not None:
            try:
                nursery.start_soon(self._closed)
            except RuntimeError:  # its nursery is closed: the server is gone
                pass

    async def _closed(self) -> None:
        self.gateway._on_closed(self.server)


class SimGateway(Gateway):
    """The real gateway, serving in-memory links instead of a socket."""

    def server_on_slow(self, ws) -> None:
        self._on_slow(ws)

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.listen_port = 0
            nursery.start_soon(self._expire_sessions)
            task_status.started(0)
            await trio.sleep_forever()

    def connect(self, peer: str) -> Link:
        return Link(self, peer, self.cfg.send_queue_bytes)


__all__ = ["SimGateway", "Link"]
