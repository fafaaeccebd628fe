"""The broker's channel to the active controller.

:meth:`ControllerChannel.call` sends one Kafka request to the active
controller and returns its response body. It finds the controller from the
quorum (``MetadataQuorum.leader_id``) and the voters' endpoints
(``controller.quorum.voters``); when this node is the leader the request is a
direct call of the local handler, without a socket. A response whose error is
NOT_CONTROLLER, a refused or broken connection, or no known leader, is
retried against the leader of the moment with exponential backoff, until
``timeout_s`` has passed (:class:`ControllerUnavailable`). The timeout
bounds the waits for remote controllers; a local call is never cut short.

One connection per controller node, one request at a time on it: membership
traffic is a heartbeat every two seconds. Forwarded admin requests can reuse
the channel as they are.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Any

import trio

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.codec import ProtocolError
from broker.wire.protocol import RequestHeader, decode_response, encode_request

if TYPE_CHECKING:
    from broker.node import Node

log = logging.getLogger(__name__)

CLIENT_ID = "broker-controller-channel"
MAX_FRAME = 100 * 1024 * 1024


class ControllerUnavailable(Exception):
    """No active controller answered within the channel's timeout."""


class ControllerChannel:
    def __init__(
        self,
        node: Node,
        *,
        timeout_s: float = 30.0,
        backoff_s: float = 0.05,
        max_backoff_s: float = 1.0,
    ) -> None:
        self.node = node
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._streams: dict[int, trio.abc.Stream] = {}
        self._locks: dict[int, trio.Lock] = {}
        self._correlation = itertools.count(1)

    async def call(
        self, api_key: int, version: int, body: Any, *, timeout_s: float | None = None
    ) -> Any:
        deadline = trio.current_time() + (self.timeout_s if timeout_s is None else timeout_s)
        backoff = self.backoff_s
        problem = "no active controller is known"
        while True:
            leader = self.node.quorum.leader_id
            if leader == self.node.node_id:
                # The local controller: a direct call, never cut short (a
                # cancelled metadata append would leave its listeners half
                # told); its own work is bounded.
                response = await self._call_local(api_key, version, body)
                if getattr(response, "error_code", 0) != ErrorCode.NOT_CONTROLLER:
                    return response
                problem = "this node is no longer the active controller"
            elif leader is not None:
                try:
                    with trio.move_on_at(deadline) as scope:
                        response = await self._send(leader, api_key, version, body)
                    if scope.cancelled_caught:
                        # A request cut short leaves its connection mid-frame.
                        await self._drop(leader)
                        problem = f"controller {leader} did not answer in time"
                    elif getattr(response, "error_code", 0) != ErrorCode.NOT_CONTROLLER:
                        return response
                    else:
                        problem = f"node {leader} is no longer the active controller"
                except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    problem = f"controller {leader}: {exc}"
                    await self._drop(leader)
                except (ProtocolError, EOFError) as exc:
                    problem = f"controller {leader} answered garbage: {exc}"
                    await self._drop(leader)
            if trio.current_time() + backoff >= deadline:
                raise ControllerUnavailable(
                    f"api {api_key}: no answer from the active controller: {problem}"
                )
            log.debug("retrying api %d in %.2fs: %s", api_key, backoff, problem)
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _call_local(self, api_key: int, version: int, body: Any) -> Any:
        header = RequestHeader(api_key, version, next(self._correlation), CLIENT_ID)
        entry = self.node.apis.get(api_key)
        assert entry is not None, f"no handler for api key {api_key}"
        ctx = RequestContext(header, self.node.apis, self.node)
        return await entry.handler(ctx, body)

    async def _send(self, leader: int, api_key: int, version: int, body: Any) -> Any:
        header = RequestHeader(api_key, version, next(self._correlation), CLIENT_ID)
        lock = self._locks.setdefault(leader, trio.Lock())
        async with lock:
            stream = self._streams.get(leader)
            if stream is None:
                host, port = self.node.config.quorum_voters[leader]
                stream = await trio.open_tcp_stream(host, port)
                self._streams[leader] = stream
            await stream.send_all(encode_request(header, body))
            size = int.from_bytes(await _receive_exactly(stream, 4), "big", signed=True)
            if not 4 <= size <= MAX_FRAME:
                raise ProtocolError(f"response frame of {size} bytes")
            frame = await _receive_exactly(stream, size)
            correlation_id, response = decode_response(api_key, version, frame)
            if correlation_id != header.correlation_id:
                raise ProtocolError(
                    f"correlation id {correlation_id}, expected {header.correlation_id}"
                )
            return response

    async def _drop(self, leader: int) -> None:
        stream = self._streams.pop(leader, None)
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def aclose(self) -> None:
        for leader in list(self._streams):
            await self._drop(leader)


async def _receive_exactly(stream: trio.abc.Stream, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = await stream.receive_some(size - len(buf))
        if not chunk:
            raise EOFError("the controller closed the connection")
        buf += chunk
    return bytes(buf)
