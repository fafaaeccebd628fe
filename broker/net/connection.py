"""One client connection: frames in, responses out, in order.

Like Kafka, a connection has one request in flight at a time: the next frame
is not handled until the previous response is written (Kafka mutes the
channel the same way), so responses are in request order and the only
buffering is the frame reader's, bounded by ``socket.request.max.bytes``.
A peer that sends garbage, an oversized frame or stalls past
``connections.max.idle.ms`` loses its own connection and nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from broker.api.dispatch import CloseConnection, dispatch
from broker.api.registry import ApiTable
from broker.wire.codec import Buffer, ProtocolError
from broker.wire.framing import FrameReader

log = logging.getLogger(__name__)
RECEIVE_BYTES = 256 * 1024
IOV_MAX = 1024


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


async def serve_connection(
    stream: trio.SocketStream,
    apis: ApiTable,
    node: Any,
    max_frame_bytes: int,
    idle_timeout_s: float,
    drain: Drain | None = None,
) -> None:
    drain = drain or Drain()
    reader = FrameReader(max_frame_bytes)
    peer = _peer(stream)
    client_host = _client_host(stream)
    try:
        while not drain.draining:
            frame = reader.next_frame()
            if frame is None:
                if not await _receive(stream, reader, idle_timeout_s, drain):
                    return  # EOF, idle or draining
                continue
            parts = await dispatch(frame, apis, node, client_host)
            if parts is not None:
                await send_buffers(stream, parts)
    except (CloseConnection, ProtocolError) as exc:
        log.warning("closing connection from %s: %s", peer, exc)
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError) as exc:
        log.debug("connection from %s ended: %s", peer, exc)
    except Exception:
        # A bug in a handler costs this connection only; the broker stays up.
        log.exception("unexpected error serving %s; closing its connection", peer)
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _receive(
    stream: trio.SocketStream, reader: FrameReader, idle_timeout_s: float, drain: Drain
) -> bool:
    """Read more bytes into ``reader``; False on EOF, idle timeout or drain."""
    with trio.CancelScope(deadline=trio.current_time() + idle_timeout_s) as scope:
        drain.idle.add(scope)
        try:
            target = reader.recv_buffer()
            if target is not None:
                n = await stream.socket.recv_into(target)
                if n:
                    reader.advance(n)
            else:
                data = await stream.receive_some(RECEIVE_BYTES)
                n = len(data)
                if n:
                    reader.feed(data)
            return n > 0
        finally:
            drain.idle.discard(scope)
    if not drain.draining:
        log.info("closing idle connection from %s", _peer(stream))
    return False


def _client_host(stream: trio.SocketStream) -> str:
    try:
        return "/" + str(stream.socket.getpeername()[0])
    except (OSError, IndexError):
        return ""


def _peer(stream: trio.SocketStream) -> str:
    try:
        return str(stream.socket.getpeername())
    except OSError:
        return "?"
