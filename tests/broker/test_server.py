"""The Trio server: a bad client costs only its own connection."""

from __future__ import annotations

import struct
from pathlib import Path

import trio

from broker.net.server import Server
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
        _server, port = await _start(nursery, tmp_path / "idle", idle_s=0.2)
        idle = await trio.open_tcp_stream("127.0.0.1", port)
        assert await _closed(idle)
        await idle.aclose()
        # The cap, on a server whose connections do not idle out: three
        # connections are served, the fourth is closed while they stay open,
        # and a slot freed by closing one is given to the next connection.
        server, port = await _start(nursery, tmp_path / "cap")
        streams = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(3)]
        for i, stream in enumerate(streams):
            assert await _api_versions(stream, i) == i
        assert server.open_connections == 3
        surplus = await trio.open_tcp_stream("127.0.0.1", port)
        assert await _closed(surplus)  # max.connections=3
        await surplus.aclose()
        for i, stream in enumerate(streams):
            assert await _api_versions(stream, 10 + i) == 10 + i
        await streams.pop().aclose()
        while server.open_connections == 3:
            await trio.sleep(0.01)
        streams.append(await trio.open_tcp_stream("127.0.0.1", port))
        assert await _api_versions(streams[-1], 20) == 20
        for s in streams:
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
