"""Listeners: accept connections and give each its own task.

Every connection task lives in the server's nursery; the number of open
connections is capped by ``max.connections`` (a connection over the cap is
closed at once, as Kafka does), and the request bytes they buffer share one
:class:`~broker.net.memory.RequestMemoryPool` (``queued.max.request.bytes``).
Shutdown is cancellation of that nursery.

Running out of file descriptors (or kernel memory) makes ``accept`` fail;
that is load, not a fault: the listener backs off and retries while the
open connections keep being served, and the connections waiting in the
kernel's backlog are accepted once descriptors are free again.
"""

from __future__ import annotations

import errno
import logging
import ssl
from typing import Any

import trio

from broker.api.registry import ApiTable
from broker.net import tls
from broker.net.connection import DEFAULT_REQUEST_TIMEOUT_S, Drain, serve_connection
from broker.net.memory import RequestMemoryPool
from broker.security.principal import NoMatchingRule
from broker.security.session import Session
from broker.security.settings import ListenerSecurity, listener_security

log = logging.getLogger(__name__)

# accept() failures that mean "no resources right now": back off and retry.
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
ACCEPT_BACKOFF_S = 0.1
DEFAULT_QUEUED_MAX_REQUEST_BYTES = 200 * 1024 * 1024


class StartupError(Exception):
    """The server cannot start (a listener cannot be bound); the message says why."""


class Server:
    def __init__(
        self,
        apis: ApiTable,
        node: Any,
        *,
        max_frame_bytes: int,
        idle_timeout_s: float,
        max_connections: int,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        queued_max_request_bytes: int = DEFAULT_QUEUED_MAX_REQUEST_BYTES,
    ) -> None:
        self.apis = apis
        self.node = node
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.max_connections = max_connections
        self.memory = RequestMemoryPool(queued_max_request_bytes)
        self.open_connections = 0
        self.accept_failures = 0  # accept() calls that failed for lack of resources
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
        listeners: list[tuple[trio.SocketListener, _Security]] = []
        securities = self._securities(addresses)
        for (host, port), security in zip(addresses, securities, strict=True):
            listeners += [(one, security) for one in await open_listeners(host, port)]
        for listener, _security in listeners:
            sockname = listener.socket.getsockname()
            self.bound.append((sockname[0], sockname[1]))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._accept_all, listeners, nursery)
            task_status.started(self.bound)

    def _securities(self, addresses: list[tuple[str, int]]) -> list[_Security]:
        """Each address's listener security: from the node's config, matched by
        (host, port) in the order of ``listeners``; PLAINTEXT without a config."""
        config = getattr(self.node, "config", None)
        if config is None or not hasattr(config, "security"):
            return [_Security(None, None) for _ in addresses]
        by_listener = dict(zip(config.listeners, listener_security(config), strict=True))
        out = []
        for index, address in enumerate(addresses):
            listeners = config.listeners
            named = listeners[index] if index < len(listeners) else None
            spec = by_listener.get(named) if named and named[1:] == address else None
            ctx = None
            if spec is not None and spec.ssl is not None:
                try:
                    ctx = tls.server_context(spec.ssl, spec.name)
                except tls.TlsConfigError as exc:
                    raise StartupError(str(exc)) from None
            out.append(_Security(spec, ctx))
        return out

    async def _accept_all(
        self, listeners: list[tuple[trio.SocketListener, _Security]], nursery: trio.Nursery
    ) -> None:
        with self._accepting:
            await self.ready.wait()
            async with trio.open_nursery() as accepting:
                for listener, security in listeners:
                    accepting.start_soon(self._accept_loop, listener, security, nursery)

    async def drain_connections(self, timeout_s: float) -> None:
        """Stop accepting, let in-flight requests finish (up to ``timeout_s``)."""
        self._accepting.cancel()
        self.drain.start()
        with trio.move_on_after(timeout_s):
            while self.open_connections:
                await trio.sleep(0.01)

    async def _accept_loop(
        self, listener: trio.SocketListener, security: _Security, nursery: trio.Nursery
    ) -> None:
        async with listener:
            starved = False
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                        raise
                    self.accept_failures += 1
                    if not starved:
                        log.warning(
                            "cannot accept connections (%s) with %d open; "
                            "serving those and retrying every %d ms",
                            errno.errorcode.get(exc.errno or 0, exc.errno),
                            self.open_connections,
                            ACCEPT_BACKOFF_S * 1000,
                        )
                        starved = True
                    await trio.sleep(ACCEPT_BACKOFF_S)
                    continue
                if starved:
                    log.warning("accepting connections again (%d open)", self.open_connections)
                    starved = False
                if self.open_connections >= self.max_connections:
                    log.warning("max.connections (%d) reached; refusing", self.max_connections)
                    await stream.aclose()
                    continue
                self.open_connections += 1
                nursery.start_soon(self._run_connection, stream, security)

    async def _run_connection(self, stream: trio.SocketStream, security: _Security) -> None:
        try:
            served: trio.abc.Stream = stream
            session = Session()
            spec = security.spec
            if spec is not None:
                session = Session.for_listener(spec.name, spec.protocol, spec.sasl)
            if security.context is not None:
                peer = _peer_name(stream)
                secured = await tls.handshake(
                    stream, security.context, self.request_timeout_s, peer
                )
                if secured is None:
                    await stream.aclose()
                    return
                served = secured
                if spec is not None and spec.ssl is not None and spec.sasl is None:
                    try:
                        session.principal = spec.ssl.mapper.principal(tls.peer_subject(secured))
                    except NoMatchingRule as exc:
                        log.warning("closing TLS connection from %s: %s", peer, exc)
                        await trio.aclose_forcefully(secured)
                        return
                    log.info("TLS connection from %s as %s", peer, session.principal)
            await serve_connection(
                served,
                self.apis,
                self.node,
                self.max_frame_bytes,
                self.idle_timeout_s,
                self.drain,
                request_timeout_s=self.request_timeout_s,
                pool=self.memory,
                session=session,
            )
        finally:
            self.open_connections -= 1


class _Security:
    """A bound listener's security: its settings and, for TLS, its context."""

    __slots__ = ("context", "spec")

    def __init__(self, spec: ListenerSecurity | None, context: ssl.SSLContext | None) -> None:
        self.spec = spec
        self.context = context


def _peer_name(stream: trio.SocketStream) -> str:
    try:
        return str(stream.socket.getpeername())
    except OSError:
        return "?"


async def open_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """Bind ``host:port``; a bad host or a busy port is a :class:`StartupError`."""
    where = f"{host or '*'}:{port}"
    try:
        return await trio.open_tcp_listeners(port, host=host or None)
    except OSError as exc:
        # socket.gaierror is an OSError too: the host does not resolve.
        reason = exc.strerror or str(exc)
        raise StartupError(f"cannot listen on {where}: {reason}") from None
    except OverflowError:
        raise StartupError(f"cannot listen on {where}: port out of range") from None
