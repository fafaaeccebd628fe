"""A fault-injecting TCP proxy in front of every peer connection.

Every directed link ``src -> dst`` between two nodes has a listening port of
its own: node ``src`` is configured with ``controller.quorum.voters`` naming
that port for ``dst`` (``faults/cluster.py``), so everything ``src`` dials to
``dst`` -- Raft RPCs, the controller channel, forwarded admin requests --
crosses this link, and nothing else does. Clients reach the nodes directly.

A link is in one of these modes (changed at any time from any thread):

* ``up``: bytes are relayed both ways (after ``delay_s``, a slow link).
* ``cut``: a partition. Open connections stop relaying in both directions
  and are kept open (the dialler sees silence, as after lost packets, not a
  reset); new connections are accepted and swallowed. On heal, connections
  that lost bytes are closed, so the peers re-dial on a clean stream.
* ``replies-lost``: requests reach ``dst``; its answers are dropped (one-way
  loss: ``dst`` acts on what it hears, ``src`` never learns it did).

The proxy runs one asyncio loop in a daemon thread of the harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

UP, CUT, REPLIES_LOST = "up", "cut", "replies-lost"
MODES = (UP, CUT, REPLIES_LOST)
CHUNK = 64 * 1024


@dataclass
class Link:
    src: int
    dst: int
    target_port: int
    port: int = 0
    mode: str = UP
    delay_s: float = 0.0
    conns: set[_Conn] = field(default_factory=set)
    bytes_dropped: int = 0


@dataclass(eq=False)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    upstream_writer: asyncio.StreamWriter | None = None
    tainted: bool = False  # some bytes were dropped: the stream is desynced

    def close(self) -> None:
        for w in (self.writer, self.upstream_writer):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.close()


class LinkProxy:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.links: dict[tuple[int, int], Link] = {}
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    # -- set-up --------------------------------------------------------------

    def add(self, src: int, dst: int, target_port: int, port: int = 0) -> int:
        """Listen for ``src -> dst``; returns the proxy port ``src`` must dial."""
        link = Link(src, dst, target_port)
        self.links[(src, dst)] = link
        server = self._call(self._listen(link, port))
        self._servers.append(server)
        link.port = server.sockets[0].getsockname()[1]
        return link.port

    async def _listen(self, link: Link, port: int) -> asyncio.base_events.Server:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(link, reader, writer)

        return await asyncio.start_server(accept, self.host, port, reuse_address=True)

    def close(self) -> None:
        async def shut() -> None:
            for server in self._servers:
                server.close()
            for link in self.links.values():
                for conn in list(link.conns):
                    conn.close()

        with contextlib.suppress(Exception):
            self._call(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    # -- faults --------------------------------------------------------------

    def set(self, src: int, dst: int, mode: str = UP, delay_s: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown link mode {mode!r}")

        async def apply() -> None:
            link = self.links[(src, dst)]
            link.mode, link.delay_s = mode, delay_s
            if mode == UP:
                for conn in [c for c in link.conns if c.tainted]:
                    conn.close()

        self._call(apply())

    def heal(self) -> None:
        for src, dst in list(self.links):
            self.set(src, dst, UP)

    def describe(self) -> dict[str, str]:
        return {
            f"{ln.src}->{ln.dst}": ln.mode + (f"+{ln.delay_s * 1000:.0f}ms" if ln.delay_s else "")
            for ln in self.links.values()
            if ln.mode != UP or ln.delay_s
        }

    # -- relaying ------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _serve(
        self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = _Conn(reader, writer)
        link.conns.add(conn)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(self.host, link.target_port)
            except OSError:
                if link.mode == CUT:  # swallow: the dialler sees silence
                    conn.tainted = True
                    await self._pump(link, reader, None, forward=True, conn=conn)
                return
            conn.upstream_writer = up_writer
            await asyncio.gather(
                self._pump(link, reader, up_writer, forward=True, conn=conn),
                self._pump(link, up_reader, writer, forward=False, conn=conn),
            )
        finally:
            link.conns.discard(conn)
            conn.close()

    async def _pump(
        self,
        link: Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | None,
        *,
        forward: bool,
        conn: _Conn,
    ) -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                drop = link.mode == CUT or (link.mode == REPLIES_LOST and not forward)
                if drop or writer is None:
                    conn.tainted = True
                    link.bytes_dropped += len(data)
                    continue
                if link.delay_s:
                    await asyncio.sleep(link.delay_s)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            conn.close()
