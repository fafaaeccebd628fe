"""The Trio server: a bad client costs only its own connection."""

from __future__ import annotations

import contextlib
import functools
import struct
from pathlib import Path

import trio
import trio.testing

from broker.net.connection import RECEIVE_BYTES, serve_connection
from broker.net.memory import RequestMemoryPool
from broker.net.server import Server
from broker.wire.framing import LARGE_FRAME_BYTES
from broker.wire.generated.api_versions_request import ApiVersionsRequest
from broker.wire.protocol import RequestHeader, decode_response, encode_request
from tests.broker.helpers import make_node


async def _start(nursery: trio.Nursery, tmp_path: Path, idle_s: float = 60.0) -> tuple[Server, int]:
    node = make_node(tmp_path)
    server = Server(node.apis, node, max_frame_bytes=1024, idle_timeout_s=idle_s, max_connections=3)
    bound = await nursery.start(server.serve, [("127.0.0.1", 0)])
    server.ready.set()
    return server, bound[0][1]


async def _api_versions(stream: trio.SocketStream, correlation_id: int = 1) -> int:
    await stream.send_all(
        encode_request(RequestHeader(18, 3, correlation_id, "t"), ApiVersionsRequest("n", "1"))
    )
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
        chunk = await stream.receive_some()
        assert chunk, "connection closed"
        data += chunk
    corr, body = decode_response(18, 3, data[4:])
    assert body.error_code == 0
    return corr


async def _closed(stream: trio.SocketStream) -> bool:
    with trio.move_on_after(5):
        try:
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass
        return True
    return False


async def test_garbage_and_oversized_frames_close_only_their_connection(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        _server, port = await _start(nursery, tmp_path)
        good = await trio.open_tcp_stream("127.0.0.1", port)
        garbage = await trio.open_tcp_stream("127.0.0.1", port)
        huge = await trio.open_tcp_stream("127.0.0.1", port)
        await garbage.send_all(struct.pack(">i", 12) + b"\x00\x63" + b"\xff" * 10)
        await huge.send_all(struct.pack(">i", 1 << 30))
        assert await _closed(garbage)
        assert await _closed(huge)
        assert await _api_versions(good, 5) == 5
        for s in (good, garbage, huge):
            await s.aclose()
        nursery.cancel_scope.cancel()


async def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        _server, port = await _start(nursery, tmp_path)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        frames = b"".join(
            encode_request(RequestHeader(18, 3, i, "t"), ApiVersionsRequest("n", "1"))
            for i in range(10)
        )
        await stream.send_all(frames)
        data = b""
        seen: list[int] = []
        while len(seen) < 10:
            data += await stream.receive_some()
            while len(data) >= 4 and len(data) >= 4 + struct.unpack(">i", data[:4])[0]:
                size = struct.unpack(">i", data[:4])[0]
                seen.append(decode_response(18, 3, data[4 : 4 + size])[0])
                data = data[4 + size :]
        assert seen == list(range(10))
        await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_idle_and_surplus_connections_are_closed(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        server, port = await _start(nursery, tmp_path, idle_s=0.2)
        idle = await trio.open_tcp_stream("127.0.0.1", port)
        assert await _closed(idle)
        streams = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(4)]
        assert await _closed(streams[3])  # max.connections=3
        assert server.open_connections <= 3
        for s in [idle, *streams]:
            await s.aclose()
        nursery.cancel_scope.cancel()


async def test_drain_finishes_then_closes(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        server, port = await _start(nursery, tmp_path)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        assert await _api_versions(stream) == 1
        await server.drain_connections(5)
        assert server.open_connections == 0
        assert await _closed(stream)
        await stream.aclose()
        nursery.cancel_scope.cancel()


# -- memory per connection (issue 11, item 5): unit tests on memory streams ------------


async def _trickle(client: trio.abc.Stream, announce: int, closed_after: list[float]) -> None:
    """Announce a frame of ``announce`` bytes, then send one byte a second until closed."""
    start = trio.current_time()
    async with trio.open_nursery() as nursery:

        async def send() -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await client.send_all(struct.pack(">i", announce))
                while True:
                    await trio.sleep(1)
                    await client.send_all(b"x")

        nursery.start_soon(send)
        while await client.receive_some():
            pass
        closed_after.append(trio.current_time() - start)
        nursery.cancel_scope.cancel()


async def test_trickling_connections_hold_little_and_close_at_the_request_deadline(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    node = make_node(tmp_path)
    pool = RequestMemoryPool(-1)  # unbounded: what is measured is each connection's own cost
    announce = 8 * 1024 * 1024
    closed_after: list[float] = []
    with trio.move_on_after(300):
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                client, server = trio.testing.memory_stream_pair()
                nursery.start_soon(
                    functools.partial(
                        serve_connection,
                        server,
                        node.apis,
                        node,
                        announce,
                        600.0,
                        request_timeout_s=30.0,
                        pool=pool,
                    )
                )
                nursery.start_soon(_trickle, client, announce, closed_after)
    # Every connection is closed at the request deadline (30 s after its first
    # byte), although a byte arrived every second: the idle timer did not restart.
    assert len(closed_after) == 20
    assert all(30 <= t <= 31 for t in closed_after), closed_after
    # ... and none of them held more than the first 64 KiB buffer for its 8 MiB claim.
    assert pool.buffered_peak <= 20 * LARGE_FRAME_BYTES + 20 * 64
    assert pool.used == pool.buffered == 0


def _big_api_versions(correlation_id: int, size: int) -> bytes:
    name = "a" * size  # a valid client_software_name, to make a request this large
    return encode_request(RequestHeader(18, 3, correlation_id, "t"), ApiVersionsRequest(name, "1"))


async def test_queued_max_request_bytes_bounds_what_connections_buffer_together(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    node = make_node(tmp_path)
    limit = 1024 * 1024
    pool = RequestMemoryPool(limit)
    frame_size = 2 * 1024 * 1024
    answered: list[int] = []

    async def client_side(client: trio.abc.Stream, corr: int) -> None:
        await client.send_all(_big_api_versions(corr, frame_size))
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = await client.receive_some()
            assert chunk, "connection closed"
            data += chunk
        answered.append(decode_response(18, 3, data[4:])[0])
        await client.aclose()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for corr in range(10):
                client, server = trio.testing.memory_stream_pair()
                nursery.start_soon(
                    functools.partial(
                        serve_connection,
                        server,
                        node.apis,
                        node,
                        4 * frame_size,
                        600.0,
                        request_timeout_s=30.0,
                        pool=pool,
                    )
                )
                nursery.start_soon(client_side, client, corr)
    # All ten 2 MiB requests are answered, one admitted at a time, well before any
    # deadline (no connection starves holding a half-read frame) ...
    assert sorted(answered) == list(range(10))
    assert trio.current_time() < 30
    # ... while what they buffered together stayed within the limit plus one
    # admitted frame and the first buffer of each waiting one (unbounded: 20 MiB).
    assert pool.peak <= limit + frame_size
    assert pool.buffered_peak <= limit + frame_size + 10 * (LARGE_FRAME_BYTES + RECEIVE_BYTES)
    assert pool.used == pool.buffered == 0


async def test_a_complete_request_restarts_the_idle_clock_and_slow_complete_requests_pass(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A request sent in pieces within the deadline is served; idle counts from the answer."""
    node = make_node(tmp_path)
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            functools.partial(
                serve_connection, server, node.apis, node, 1 << 20, 50.0, request_timeout_s=30.0
            )
        )
        for corr in range(3):
            frame = encode_request(RequestHeader(18, 3, corr, "t"), ApiVersionsRequest("n", "1"))
            for i in range(len(frame)):  # one byte every 0.5 s: 10+ s per request
                await client.send_all(frame[i : i + 1])
                await trio.sleep(0.5)
            data = await client.receive_some()
            assert decode_response(18, 3, data[4:])[0] == corr
            await trio.sleep(45)  # idle, but under connections.max.idle.ms
        start = trio.current_time()
        assert await client.receive_some() == b""  # idle now: closed
        assert 4 <= trio.current_time() - start <= 6
        nursery.cancel_scope.cancel()
