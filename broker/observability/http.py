"""The metrics listener (``metrics.port``): ``/metrics``, ``/healthz``, ``/readyz``.

A deliberately small HTTP/1.1 server on Trio: one GET a connection, answered
and closed. ``/healthz`` is 200 whenever the process's event loop answers;
``/readyz`` is 200 once the broker serves clients: its listeners are up, it
is registered (and not fenced) in the metadata image, the metadata quorum
has a leader, every partition it leads has an open log, and the group
coordinators have loaded; otherwise 503 with the reasons, one a line.
``/metrics`` is the Prometheus text (``broker/observability/metrics.py``).

The request is read with a deadline and a size limit; anything else than a
GET of those paths gets 404 or 405. It binds before the Kafka listeners so
that probes answer (503) while the broker recovers its logs.
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

import trio

from broker.net.server import StartupError

if TYPE_CHECKING:
    from broker.controller.image import MetadataImage
    from broker.node import Node

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT_S = 5.0
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    400: "Bad Request",
    503: "Service Unavailable",
}


def parse_request_line(head: bytes) -> tuple[str, str] | None:
    """(method, path without query) of an HTTP request head; None if malformed."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    return parts[0], parts[1].split("?", 1)[0]


def response(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def readiness_problems(node: Node) -> list[str]:
    """Why the node is not ready to serve clients (empty: ready)."""
    problems = []
    if not node.server.ready.is_set():
        problems.append("Kafka listeners not started")
    image: MetadataImage = node.image
    me = image.brokers.get(node.node_id)
    if me is None:
        problems.append(f"node {node.node_id} not registered in the metadata log")
    elif me.fenced:
        problems.append(f"node {node.node_id} is fenced")
    if node.quorum.leader_id is None:
        problems.append("the metadata quorum has no leader")
    if not node.groups.ready.is_set():
        problems.append("group coordinators still loading __consumer_offsets")
    offline = sorted(f"{t}-{i}" for t, i in node.replicas.offline)
    if offline:
        shown = ", ".join(offline[:5]) + (", ..." if len(offline) > 5 else "")
        problems.append(f"{len(offline)} partitions offline: {shown}")
    return problems


async def answer(node: Node, method: str, path: str) -> bytes:
    if path not in ("/metrics", "/healthz", "/readyz"):
        return response(404, b"not found: try /metrics, /healthz or /readyz\n")
    if method not in ("GET", "HEAD"):
        return response(405, b"only GET\n")
    if path == "/healthz":
        return response(200, b"ok\n")
    if path == "/readyz":
        problems = readiness_problems(node)
        if problems:
            return response(503, ("\n".join(problems) + "\n").encode())
        return response(200, b"ready\n")
    return response(200, await node.metrics.exposition(node), PROMETHEUS_TEXT)


async def handle_connection(stream: trio.abc.Stream, node: Node) -> None:
    try:
        head = b""
        with trio.move_on_after(REQUEST_TIMEOUT_S):
            while b"\r\n\r\n" not in head and len(head) < MAX_REQUEST_BYTES:
                data = await stream.receive_some(MAX_REQUEST_BYTES)
                if not data:
                    break
                head += data
        request = parse_request_line(head) if b"\r\n\r\n" in head else None
        if request is None:
            reply = response(400, b"bad request\n")
        else:
            method, path = request
            reply = await answer(node, method, path)
            if method == "HEAD":
                reply = reply.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        await stream.send_all(reply)
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
        pass
    except Exception:
        log.exception("metrics listener: request failed")
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def serve_metrics(
    node: Node,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on (host, port) until cancelled; started with the bound address."""
    try:
        listeners = await trio.open_tcp_listeners(port, host=host or None)
    except OSError as exc:
        why = (
            "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        )
        raise StartupError(f"metrics.port {port} on {host or '*'}: cannot listen: {why}") from None

    async def forget_deleted_topics(old: MetadataImage, new: MetadataImage) -> None:
        for name in old.topics.keys() - new.topics.keys():
            node.metrics.forget_topic(name)

    node.quorum.listeners.append(forget_deleted_topics)
    bound_host, bound_port = listeners[0].socket.getsockname()[:2]
    log.info("metrics on http://%s:%d/metrics (and /healthz, /readyz)", bound_host, bound_port)
    async with trio.open_nursery() as nursery:
        task_status.started((bound_host, bound_port))

        async def handler(stream: trio.SocketStream) -> None:
            await handle_connection(stream, node)

        await trio.serve_listeners(handler, listeners, handler_nursery=nursery)
