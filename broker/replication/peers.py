"""Connections to the other nodes: Raft traffic and request forwarding.

Theory of operation
-------------------
Every node speaks to every peer over that peer's one listener, with Kafka's
own framing, as a client would. Two kinds of connection per peer:

* :class:`RaftLink` carries the driver's Raft requests. One outbound
  connection, a bounded queue in front of it (``QUEUE_ITEMS``): when the
  queue is full or the peer is unreachable, requests are dropped (the core
  resends what matters on its timers), so a dead or paused peer never blocks
  the driver. A connection that fails is dropped and re-dialled with
  exponential backoff (``BACKOFF_S`` to ``MAX_BACKOFF_S``). Requests may be
  pipelined; the server answers them in order, so the reader matches
  responses to requests by correlation id and hands their per-group messages
  back to the driver with the core's correlation ids.
* Data partitions' Raft traffic (``GroupId.data``) goes over a second
  :class:`RaftLink` per peer, opened at the first such message: a peer
  answers one connection's requests in order, so a data fetch it parks for
  its long poll would otherwise hold the metadata log's answers back past
  the follower's request timeout.
* :meth:`Peers.call` sends one request and awaits its response on a
  connection of its own (a forwarded CreateTopics must not wait behind a
  Fetch the leader holds for its long poll), within a timeout.

Each batch the driver hands over for one peer becomes one wire request per
Raft RPC kind, carrying the messages of every group (the core sends a group
one message of a kind per round; a second one goes into a second request).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from broker.raft import Envelope
from broker.replication import wire
from broker.replication.wire import GroupId
from broker.wire.codec import ProtocolError
from broker.wire.framing import FrameReader
from broker.wire.protocol import RequestHeader, decode_response, encode_request

log = logging.getLogger(__name__)

QUEUE_ITEMS = 256
BACKOFF_S = 0.05
MAX_BACKOFF_S = 1.0
CONNECT_TIMEOUT_S = 1.0
CLIENT_ID = "raft"
RECEIVE_BYTES = 256 * 1024

Connect = Callable[[str, int], Awaitable[trio.abc.Stream]]
Deliver = Callable[[int, list[tuple[GroupId, Envelope]]], None]


async def open_tcp(host: str, port: int) -> trio.abc.Stream:
    return await trio.open_tcp_stream(host, port)


class PeerUnavailable(Exception):
    """The peer could not be reached or did not answer in time."""


@dataclass(slots=True)
class _InFlight:
    api_key: int
    version: int
    parts: list[tuple[GroupId, int]]  # group, core correlation id
    destination: int


class _Stream:
    """A connected stream with a frame reader."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.reader = FrameReader(1 << 30)

    async def next_frame(self) -> bytearray:
        while True:
            frame = self.reader.next_frame()
            if frame is not None:
                return frame
            data = await self.stream.receive_some(RECEIVE_BYTES)
            if not data:
                raise PeerUnavailable("connection closed by the peer")
            self.reader.feed(data)


@dataclass(slots=True)
class RaftLink:
    """The outbound Raft connection to one peer."""

    node_id: int
    peer_id: int
    address: tuple[str, int]
    cluster_id: str | None
    deliver: Deliver
    connect: Connect
    groups: dict[Any, GroupId]
    _send: trio.MemorySendChannel[list[tuple[GroupId, Envelope]]] = field(init=False)
    _receive: trio.MemoryReceiveChannel[list[tuple[GroupId, Envelope]]] = field(init=False)
    _correlation: itertools.count[int] = field(default_factory=itertools.count)
    connected: bool = False
    dropped: int = 0

    def __post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel(QUEUE_ITEMS)

    def enqueue(self, items: list[tuple[GroupId, Envelope]]) -> None:
        try:
            self._send.send_nowait(items)
        except trio.WouldBlock:
            self.dropped += 1

    async def run(self) -> None:
        backoff = BACKOFF_S
        while True:
            try:
                with trio.fail_after(CONNECT_TIMEOUT_S):
                    stream = await self.connect(*self.address)
            except (OSError, trio.TooSlowError) as exc:
                log.debug("raft: node %d unreachable: %s", self.peer_id, exc)
                self._drop_queued()
                await trio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = BACKOFF_S
            self.connected = True
            try:
                await self._serve(_Stream(stream))
            finally:
                self.connected = False
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)
            self._drop_queued()
            await trio.sleep(BACKOFF_S)

    def _drop_queued(self) -> None:
        while True:
            try:
                self._receive.receive_nowait()
            except trio.WouldBlock:
                return

    async def _serve(self, conn: _Stream) -> None:
        """Write and read until the connection fails (the failure is logged)."""
        inflight: dict[int, _InFlight] = {}
        async with trio.open_nursery() as nursery:
            cancel = nursery.cancel_scope
            nursery.start_soon(self._guarded, self._read, conn, inflight, cancel)
            await self._guarded(self._write, conn, inflight, cancel)

    async def _guarded(
        self,
        fn: Callable[[_Stream, dict[int, _InFlight]], Awaitable[None]],
        conn: _Stream,
        inflight: dict[int, _InFlight],
        cancel: trio.CancelScope,
    ) -> None:
        try:
            await fn(conn, inflight)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            log.debug("raft: connection to node %d lost: %s", self.peer_id, exc)
        except (PeerUnavailable, ProtocolError, ValueError) as exc:
            log.info("raft: connection to node %d dropped: %s", self.peer_id, exc)
        cancel.cancel()

    async def _write(self, conn: _Stream, inflight: dict[int, _InFlight]) -> None:
        while True:
            batch = [await self._receive.receive()]
            while True:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            frames = []
            for items in batch:
                frames.extend(self._frames(items, inflight))
            await conn.stream.send_all(b"".join(frames))

    def _frames(
        self, items: list[tuple[GroupId, Envelope]], inflight: dict[int, _InFlight]
    ) -> list[bytes]:
        # Data partitions' messages never share a request with the metadata
        # log's: a slow data group must not hold the quorum's fetch back.
        by_kind: dict[tuple[int, bool], list[list[tuple[GroupId, Envelope]]]] = {}
        for group, env in items:
            requests = by_kind.setdefault((wire.api_key_of(env.message), group.data), [])
            for request in requests:
                if all(g != group for g, _ in request):
                    request.append((group, env))
                    break
            else:
                requests.append([(group, env)])
        frames = []
        for (api_key, _data), requests in by_kind.items():
            version = wire.VERSIONS[api_key]
            for request in requests:
                body = wire.encode_request(
                    api_key,
                    self.cluster_id,
                    self.node_id,
                    self.peer_id,
                    [(g, e.message) for g, e in request],
                )
                correlation = next(self._correlation) & 0x7FFFFFFF
                header = RequestHeader(api_key, version, correlation, CLIENT_ID)
                frames.append(encode_request(header, body))
                inflight[correlation] = _InFlight(
                    api_key, version, [(g, e.correlation_id) for g, e in request], self.peer_id
                )
        return frames

    async def _read(self, conn: _Stream, inflight: dict[int, _InFlight]) -> None:
        while True:
            frame = await conn.next_frame()
            correlation = int.from_bytes(frame[:4], "big", signed=True)
            sent = inflight.pop(correlation, None)
            if sent is None:
                raise PeerUnavailable(f"response with unknown correlation id {correlation}")
            _cid, body = decode_response(sent.api_key, sent.version, frame)
            messages = wire.decode_response(sent.api_key, body, self.groups)
            ids = dict(sent.parts)
            out = [
                (group, Envelope(self.peer_id, self.node_id, ids[group], message))
                for group, message in messages
                if group in ids
            ]
            self.deliver(self.peer_id, out)


class Peers:
    """The node's links to the other voters; the driver's :class:`Transport`."""

    def __init__(
        self,
        node_id: int,
        addresses: dict[int, tuple[str, int]],
        cluster_id: str | None,
        groups: Sequence[GroupId],
        *,
        connect: Connect = open_tcp,
    ) -> None:
        self.node_id = node_id
        self.addresses = {k: v for k, v in addresses.items() if k != node_id}
        self.cluster_id = cluster_id
        self.connect = connect
        self.index = wire.group_index(groups)
        self.deliver: Deliver = lambda _source, _items: None
        self.links: dict[int, RaftLink] = {}
        # Data partitions' Raft traffic has a connection of its own per peer: a
        # peer answers a connection's requests in order, so a data fetch it
        # parks for its long poll must not delay the metadata log's answers
        # past the follower's request timeout (head-of-line blocking).
        self.data_links: dict[int, RaftLink] = {}
        self._nursery: trio.Nursery | None = None
        self._call_ids = itertools.count(1 << 20)

    def send(self, destination: int, items: Sequence[tuple[GroupId, Envelope]]) -> None:
        meta = [item for item in items if not item[0].data]
        data = [item for item in items if item[0].data]
        link = self.links.get(destination)
        if link is not None and meta:
            link.enqueue(meta)
        if data:
            data_link = self.data_links.get(destination)
            if data_link is None and self._nursery is not None and destination in self.addresses:
                # Opened at the first data message (a cluster without
                # replicated partitions never opens it).
                data_link = RaftLink(
                    self.node_id,
                    destination,
                    self.addresses[destination],
                    self.cluster_id,
                    self._deliver,
                    self.connect,
                    self.index,
                )
                self.data_links[destination] = data_link
                self._nursery.start_soon(data_link.run)
            if data_link is not None:
                data_link.enqueue(data)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for peer_id, address in sorted(self.addresses.items()):
                link = RaftLink(
                    self.node_id,
                    peer_id,
                    address,
                    self.cluster_id,
                    self._deliver,
                    self.connect,
                    self.index,
                )
                self.links[peer_id] = link
                nursery.start_soon(link.run)
            task_status.started()

    def _deliver(self, source: int, items: list[tuple[GroupId, Envelope]]) -> None:
        self.deliver(source, items)

    async def call(
        self, destination: int, api_key: int, version: int, body: Any, timeout_s: float
    ) -> Any:
        """One request to ``destination`` on a connection of its own; its
        response body. Raises :class:`PeerUnavailable`."""
        address = self.addresses.get(destination)
        if address is None:
            raise PeerUnavailable(f"node {destination} is not a known voter")
        correlation = next(self._call_ids) & 0x7FFFFFFF
        frame = encode_request(RequestHeader(api_key, version, correlation, CLIENT_ID), body)
        stream: trio.abc.Stream | None = None
        try:
            with trio.fail_after(timeout_s):
                stream = await self.connect(*address)
                await stream.send_all(frame)
                raw = await _Stream(stream).next_frame()
        except (OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
            raise PeerUnavailable(f"node {destination}: {exc or type(exc).__name__}") from exc
        finally:
            if stream is not None:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)
        got, response = decode_response(api_key, version, raw)
        if got != correlation:
            raise PeerUnavailable(f"node {destination} answered correlation id {got}")
        return response
