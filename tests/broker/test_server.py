"""The Trio server: a bad client costs only its own connection."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
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


# -- real broker processes: fd exhaustion (item 4) and start-up (item 13) ------------

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


class BrokerProcess:
    """``python -m broker serve`` in a subprocess, its stderr collected by a thread."""

    def __init__(
        self,
        args: list[str],
        limit_fds: tuple[int, int] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        def preexec() -> None:
            if limit_fds is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, limit_fds)

        environ = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        environ.pop("CLUSTER_ID", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "broker", "serve", *args],
            cwd=REPO,
            env={**environ, **(env or {})},
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := re.search(pattern, line):
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    def port(self) -> int:
        return int(self.wait_for_line(r"listening on \[\('[^']*', (\d+)\)")[1])

    def wait(self, timeout: float = 30) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return rc

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait()


def _request(sock: socket.socket, corr: int) -> None:
    sock.sendall(encode_request(RequestHeader(18, 3, corr, "t"), ApiVersionsRequest("n", "1")))


def _response(sock: socket.socket, timeout: float) -> int | None:
    """The correlation id of the next ApiVersions response, or None if none in time."""
    sock.settimeout(timeout)
    data = b""
    try:
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
    except TimeoutError:
        return None
    return decode_response(18, 3, data[4:])[0]


def _answered(socks: list[socket.socket], quiet_s: float = 1.0) -> list[socket.socket]:
    """The sockets that got an ApiVersions response, waiting until none came for ``quiet_s``."""
    pending = {s.fileno(): s for s in socks}
    buffers: dict[int, bytes] = dict.fromkeys(pending, b"")
    done: list[socket.socket] = []
    with selectors.DefaultSelector() as sel:
        for sock in pending.values():
            sel.register(sock, selectors.EVENT_READ)
        while pending:
            events = sel.select(quiet_s)
            if not events:
                break
            for key, _ in events:
                sock = pending[key.fd]
                chunk = sock.recv(65536)
                data = buffers[key.fd] = buffers[key.fd] + chunk
                if not chunk or (
                    len(data) >= 4 and len(data) >= 4 + struct.unpack(">i", data[:4])[0]
                ):
                    sel.unregister(sock)
                    del pending[key.fd]
                    if chunk:
                        done.append(sock)
    return done


def test_out_of_file_descriptors_the_broker_keeps_serving_and_accepts_again(
    tmp_path: Path,
) -> None:
    broker = BrokerProcess(
        [
            "--override",
            "listeners=PLAINTEXT://127.0.0.1:0",
            "--override",
            f"log.dirs={tmp_path}",
            "--override",
            "offsets.topic.num.partitions=1",
        ],
        limit_fds=(64, 128),
    )
    clients: list[socket.socket] = []
    try:
        port = broker.port()
        broker.wait_for_line(r"open file limit raised from 64 to 128")
        for i in range(200):  # far more than 128 descriptors allow
            sock = socket.create_connection(("127.0.0.1", port))
            _request(sock, i)
            clients.append(sock)
        answered = _answered(clients)
        waiting = [s for s in clients if s not in answered]
        broker.wait_for_line(r"cannot accept connections \(EMFILE\)")
        assert broker.proc.poll() is None, "the broker died"
        assert 30 < len(answered) < 128 and waiting
        # The accepted connections are still served ...
        for j, sock in enumerate(answered[:10]):
            _request(sock, 1000 + j)
            assert _response(sock, 10) == 1000 + j
        # ... and once they close, the connections waiting in the backlog get in.
        for sock in answered:
            sock.close()
        assert len(_answered(waiting[:20], quiet_s=10)) == 20
        broker.wait_for_line(r"accepting connections again")
    finally:
        for sock in clients:
            sock.close()
        assert broker.stop() == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["listeners=PLAINTEXT://nosuchhost.invalid:9092"], "cannot listen on nosuchhost.invalid"),
        (["listeners=PLAINTEXT://127.0.0.1:{busy}"], "Address already in use"),
        (["listeners=PLAINTEXT://127.0.0.1:123456"], "port 123456 is outside"),
        (["log.dirs={tmp}/a-file/data"], "cannot be created: Not a directory"),
        (["log.dirs={tmp}/a-file"], "exists and is not a directory"),
        (["listeners=SASL_SSL://127.0.0.1:0"], "SASL_SSL"),
        (["controller.quorum.voters=2@a:9093,3@c:9093"], "controller.quorum.voters"),
    ],
)
def test_start_up_errors_are_one_line_and_a_non_zero_exit(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    (tmp_path / "a-file").write_text("")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = ["--override", "listeners=PLAINTEXT://127.0.0.1:0"]
        args += ["--override", f"log.dirs={tmp_path}/data"]
        for item in overrides:
            args += ["--override", item.format(busy=busy.getsockname()[1], tmp=tmp_path)]
        broker = BrokerProcess(args)
        rc = broker.wait()
    assert rc != 0
    errors = [line for line in broker.lines if line.startswith("broker: ")]
    assert len(errors) == 1 and message in errors[0], broker.lines
    assert not any("Traceback" in line for line in broker.lines), broker.lines


def test_kafka4_stock_server_properties_starts_listing_what_it_ignores(tmp_path: Path) -> None:
    broker = BrokerProcess(
        [
            "--config",
            str(FIXTURES / "kafka4-server.properties"),
            # Only what is specific to this machine: free ports and a data directory.
            "--override",
            "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
            "--override",
            "advertised.listeners=PLAINTEXT://127.0.0.1:0",
            "--override",
            f"log.dirs={tmp_path}",
        ],
        # As a container might run it: the image's variables around it.
        env={
            "CLUSTER_ID": "4L6g3nShT-eMCtK--X86sw",
            "KAFKA_HEAP_OPTS": "-Xmx1G",
            "KAFKA_JMX_PORT": "9999",
            "KAFKA_BOOTSTRAP_SERVERS": "localhost:9092",
        },
    )
    try:
        port = broker.port()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            _request(sock, 3)
            assert _response(sock, 10) == 3
        ignored = [line for line in broker.lines if "ignoring settings" in line]
        assert len(ignored) == 1
        assert "share.coordinator.state.topic.replication.factor" in ignored[0]
        assert "num.network.threads" in ignored[0]
        stray = [line for line in broker.lines if "ignoring environment variables" in line]
        assert len(stray) == 1
        assert "KAFKA_BOOTSTRAP_SERVERS, KAFKA_HEAP_OPTS, KAFKA_JMX_PORT" in stray[0]
        broker.wait_for_line(r"of cluster 4L6g3nShT-eMCtK--X86sw listening")
    finally:
        assert broker.stop() == 0
