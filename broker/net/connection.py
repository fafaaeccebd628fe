"""One client connection: frames in, responses out, in order.

Like Kafka, a connection has one request in flight at a time: the next frame
is not handled until the previous response is written (Kafka mutes the
channel the same way), so responses are in request order and the only
buffering is the frame reader's. What the reader holds counts against the
server's :class:`~broker.net.memory.RequestMemoryPool`
(``queued.max.request.bytes``); while it is exhausted the connection stops
reading.

Two clocks close a connection, neither restarted by a byte arriving:

- between requests, ``connections.max.idle.ms`` from the last response (or
  from the connection's start);
- once the first byte of a request is in, the whole request must arrive
  within ``request.receive.timeout.ms``, so a peer trickling a byte at a
  time is closed at that deadline rather than holding its buffer forever.

A peer that sends garbage, an oversized frame or stalls loses its own
connection and nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from broker.api.dispatch import CloseConnection, dispatch
from broker.api.registry import ApiTable
from broker.net.memory import RequestMemoryPool
from broker.security.session import Session
from broker.wire.codec import Buffer, ProtocolError
from broker.wire.framing import FrameReader

log = logging.getLogger(__name__)
RECEIVE_BYTES = 256 * 1024
IOV_MAX = 1024
DEFAULT_REQUEST_TIMEOUT_S = 30.0  # request.receive.timeout.ms
CLOSE_TIMEOUT_S = 1.0


async def send_buffers(stream: trio.SocketStream, parts: list[Buffer]) -> None:
    """Write buffers with ``sendmsg`` (no join, no copy) and finish partial sends."""
    sock = stream.socket
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    while views:
        sent = await sock.sendmsg(views[:IOV_MAX])
        while sent:
            head = views[0]
            if sent >= len(head):
                sent -= len(head)
                views.pop(0)
            else:
                views[0] = head[sent:]
                sent = 0


class Drain:
    """Shared by a server's connections: set when the server is shutting down.

    Connections waiting for a request close at once; a connection in the
    middle of one finishes it, sends the response, then closes.
    """

    def __init__(self) -> None:
        self.draining = False
        self.idle: set[trio.CancelScope] = set()

    def start(self) -> None:
        self.draining = True
        for scope in list(self.idle):
            scope.cancel()


class _Inbound:
    """A connection's frame reader, its share of the memory pool and its deadlines.

    Pool accounting (see :mod:`broker.net.memory`): a large frame is admitted
    when its prefix arrives and the pool has room, then counts its whole
    claimed size until its response is written and reads without waiting; a
    large frame that is not admitted waits for room before reading on.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        max_frame_bytes: int,
        pool: RequestMemoryPool,
        idle_timeout_s: float,
        request_timeout_s: float,
    ) -> None:
        self.stream = stream
        self.reader = FrameReader(max_frame_bytes)
        self.pool = pool
        self.claimed = 0  # counted against the pool's limit
        self.held = 0  # counted in the pool's buffered bytes
        self.admitted = 0  # reader.large_frames when the current large frame was admitted
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.idle_since = trio.current_time()
        self.request_since: float | None = None  # first byte of the current request

    def _in_admitted_frame(self) -> bool:
        return bool(self.reader.large_frame_size) and self.admitted == self.reader.large_frames

    def settle(self, *, request_done: bool = False) -> None:
        """Bring this connection's claim and holding to what its reader has."""
        reader = self.reader
        new_frame = reader.large_frame_size and self.admitted != reader.large_frames
        if new_frame and not self.pool.exhausted:
            self.admitted = reader.large_frames  # a new large frame, and room for it
        if self._in_admitted_frame():
            claimed = reader.large_frame_size
        elif request_done:
            claimed = 0
        else:
            claimed = self.claimed  # a finished frame keeps its claim until answered
        self.pool.claim(claimed - self.claimed)
        self.claimed = claimed
        held = reader.allocated_bytes
        self.pool.hold(held - self.held)
        self.held = held

    def release(self) -> None:
        self.pool.claim(-self.claimed)
        self.pool.hold(-self.held)
        self.claimed = self.held = 0

    def request_done(self) -> None:
        """A response went out: the idle clock starts again, the next request's later."""
        self.settle(request_done=True)
        self.idle_since = trio.current_time()

    async def _wait_for_memory(self) -> None:
        if self.reader.large_frame_size and not self._in_admitted_frame():
            await self.pool.wait_for_memory()
            self.settle()  # admits it

    async def receive(self, drain: Drain, peer: str) -> bool:
        """Read more bytes into the reader; False on EOF, a deadline or drain."""
        if self.reader.in_frame and self.request_since is None:
            self.request_since = trio.current_time()
        if self.request_since is not None:
            deadline = self.request_since + self.request_timeout_s
        else:
            deadline = self.idle_since + self.idle_timeout_s
        with trio.CancelScope(deadline=deadline) as scope:
            drain.idle.add(scope)
            try:
                await self._wait_for_memory()
                n = await self._read()
                self.settle()
                return n > 0
            finally:
                drain.idle.discard(scope)
        if not drain.draining and self.request_since is not None:
            log.warning(
                "closing connection from %s: request not complete within %.0f ms "
                "(request.receive.timeout.ms); %d bytes of it arrived",
                peer,
                self.request_timeout_s * 1000,
                self.reader.buffered_bytes,
            )
        elif not drain.draining:
            log.info("closing idle connection from %s", peer)
        return False

    async def _read(self) -> int:
        target = self.reader.recv_buffer()
        if target is not None:
            try:
                n = await self._recv_into(target)
            finally:
                target.release()  # the reader may grow its buffer next time
            if n:
                self.reader.advance(n)
            return n
        data = await self.stream.receive_some(RECEIVE_BYTES)
        if data:
            self.reader.feed(data)
        return len(data)

    async def _recv_into(self, target: memoryview) -> int:
        if isinstance(self.stream, trio.SocketStream):
            return await self.stream.socket.recv_into(target)
        if isinstance(self.stream, trio.SSLStream):
            return await self._recv_tls_into(target)
        data = await self.stream.receive_some(len(target))
        target[: len(data)] = data
        return len(data)

    async def _recv_tls_into(self, target: memoryview) -> int:
        """TLS yields at most one record (16 KiB) per read: fill the large
        frame's buffer in one go rather than one trip through :meth:`receive`
        per record. Bytes read before a deadline cancels this are lost with
        the connection, which that deadline closes."""
        filled = 0
        while filled < len(target):
            data = await self.stream.receive_some(len(target) - filled)
            if not data:
                break
            target[filled : filled + len(data)] = data
            filled += len(data)
        return filled


async def serve_connection(
    stream: trio.abc.Stream,
    apis: ApiTable,
    node: Any,
    max_frame_bytes: int,
    idle_timeout_s: float,
    drain: Drain | None = None,
    *,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    pool: RequestMemoryPool | None = None,
    session: Session | None = None,
) -> None:
    drain = drain or Drain()
    inbound = _Inbound(
        stream, max_frame_bytes, pool or RequestMemoryPool(-1), idle_timeout_s, request_timeout_s
    )
    peer = _peer(stream)
    client_host = _client_host(stream)
    try:
        while not drain.draining:
            frame = inbound.reader.next_frame()
            if frame is None:
                if not await inbound.receive(drain, peer):
                    return  # EOF, a deadline or draining
                continue
            inbound.request_since = None  # the next request starts with its first byte
            started, api_key = trio.current_time(), frame[0] << 8 | frame[1]
            parts = await dispatch(frame, apis, node, client_host, session)
            del frame
            if parts is not None:
                await _send(stream, parts)
            inbound.request_done()
            node.metrics.request_done(api_key, started)
            if session is not None and session.close_after_response:
                log.info("closing connection from %s after failed authentication", peer)
                return
    except (CloseConnection, ProtocolError) as exc:
        log.warning("closing connection from %s: %s", peer, exc)
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError) as exc:
        log.debug("connection from %s ended: %s", peer, exc)
    except Exception:
        # A bug in a handler costs this connection only; the broker stays up.
        log.exception("unexpected error serving %s; closing its connection", peer)
    finally:
        inbound.release()
        with trio.CancelScope(shield=True):
            # TLS sends close_notify first: bounded, a peer that stopped
            # reading must not keep this (shielded) task alive.
            with trio.move_on_after(CLOSE_TIMEOUT_S) as closing:
                await stream.aclose()
            if closing.cancelled_caught:
                await trio.aclose_forcefully(_transport(stream))


async def _send(stream: trio.abc.Stream, parts: list[Buffer]) -> None:
    if isinstance(stream, trio.SocketStream):
        await send_buffers(stream, parts)
    else:  # TLS: one copy into the joined buffer, none per part
        await stream.send_all(b"".join(memoryview(p).cast("B") for p in parts))


def _transport(stream: trio.abc.Stream) -> trio.abc.Stream:
    """The socket under a TLS stream (for the peer's address)."""
    if isinstance(stream, trio.SSLStream):
        transport: trio.abc.Stream = stream.transport_stream
        return transport
    return stream


def _client_host(stream: trio.abc.Stream) -> str:
    stream = _transport(stream)
    if not isinstance(stream, trio.SocketStream):
        return ""
    try:
        return "/" + str(stream.socket.getpeername()[0])
    except (OSError, IndexError):
        return ""


def _peer(stream: trio.abc.Stream) -> str:
    stream = _transport(stream)
    if not isinstance(stream, trio.SocketStream):
        return type(stream).__name__
    try:
        return str(stream.socket.getpeername())
    except OSError:
        return "?"
