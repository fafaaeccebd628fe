"""Listeners: accept connections and give each its own task.

Every connection task lives in the server's nursery; the number of open
connections is capped by ``max.connections`` (a connection over the cap is
closed at once, as Kafka does). Shutdown is cancellation of that nursery.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from broker.api.registry import ApiTable
from broker.net.connection import Drain, serve_connection

log = logging.getLogger(__name__)


class Server:
    def __init__(
        self,
        apis: ApiTable,
        node: Any,
        *,
        max_frame_bytes: int,
        idle_timeout_s: float,
        max_connections: int,
    ) -> None:
        self.apis = apis
        self.node = node
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self.max_connections = max_connections
        self.open_connections = 0
        self.bound: list[tuple[str, int]] = []
        self.drain = Drain()
        self._accepting = trio.CancelScope()
        # Listeners are bound at once (so the ports are known) but connections
        # wait in the kernel's backlog until the node is ready to serve them.
        self.ready = trio.Event()

    async def serve(
        self,
        addresses: list[tuple[str, int]],
        *,
        task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        listeners: list[trio.SocketListener] = []
        for host, port in addresses:
            listeners += await trio.open_tcp_listeners(port, host=host or None)
        for listener in listeners:
            sockname = listener.socket.getsockname()
            self.bound.append((sockname[0], sockname[1]))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._accept_all, listeners, nursery)
            task_status.started(self.bound)

    async def _accept_all(
        self, listeners: list[trio.SocketListener], nursery: trio.Nursery
    ) -> None:
        with self._accepting:
            await self.ready.wait()
            async with trio.open_nursery() as accepting:
                for listener in listeners:
                    accepting.start_soon(self._accept_loop, listener, nursery)

    async def drain_connections(self, timeout_s: float) -> None:
        """Stop accepting, let in-flight requests finish (up to ``timeout_s``)."""
        self._accepting.cancel()
        self.drain.start()
        with trio.move_on_after(timeout_s):
            while self.open_connections:
                await trio.sleep(0.01)

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        async with listener:
            while True:
                stream = await listener.accept()
                if self.open_connections >= self.max_connections:
                    log.warning("max.connections (%d) reached; refusing", self.max_connections)
                    await stream.aclose()
                    continue
                self.open_connections += 1
                nursery.start_soon(self._run_connection, stream)

    async def _run_connection(self, stream: trio.SocketStream) -> None:
        try:
            await serve_connection(
                stream,
                self.apis,
                self.node,
                self.max_frame_bytes,
                self.idle_timeout_s,
                self.drain,
            )
        finally:
            self.open_connections -= 1
