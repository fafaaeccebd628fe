"""An in-process node and a tiny client for handler tests (real files, no
sockets), and a blocking wire client for tests of broker processes."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path
from typing import Any

from kafka.record.default_records import DefaultRecordBatchBuilder

from broker.api.dispatch import dispatch
from broker.clock import Clock
from broker.config import load_config
from broker.node import Node
from broker.wire.protocol import RequestHeader, decode_response, encode_request


def make_node(tmp_path: Path, *overrides: str, clock: Clock | None = None) -> Node:
    config = load_config(
        None,
        ["listeners=PLAINTEXT://127.0.0.1:9092", f"log.dirs={tmp_path}", *overrides],
        environ={},
    )
    return Node(config, clock)


async def call(node: Node, api_key: int, version: int, body: Any) -> Any:
    """Send one request through dispatch and decode the response body."""
    frame = encode_request(RequestHeader(api_key, version, 7, "test"), body)[4:]
    parts = await dispatch(bytearray(frame), node.apis, node)
    if parts is None:
        return None
    raw = b"".join(bytes(p) for p in parts)
    correlation_id, response = decode_response(api_key, version, raw[4:])
    assert correlation_id == 7
    return response


def client_batch(
    values: list[bytes],
    *,
    timestamp: int = 1_700_000_000_000,
    compression: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    keys: list[bytes | None] | None = None,
) -> bytes:
    """A record batch built by kafka-python's own builder, as a client sends it."""
    builder = DefaultRecordBatchBuilder(
        2, compression, False, producer_id, producer_epoch, base_sequence, 1 << 20
    )
    for i, value in enumerate(values):
        key = keys[i] if keys else None
        builder.append(i, timestamp + i, key, value, [("h", b"v")])
    return bytes(builder.build())


class WireClient:
    """One blocking connection to a broker process; one request at a time
    (callers on several threads take turns)."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.correlation = 0
        self._lock = threading.Lock()

    def call(self, api_key: int, version: int, body: Any) -> Any:
        with self._lock:
            self.correlation += 1
            self.sock.sendall(
                encode_request(RequestHeader(api_key, version, self.correlation, "t"), body)
            )
            (size,) = struct.unpack(">i", self._read(4))
            correlation, response = decode_response(api_key, version, self._read(size))
            assert correlation == self.correlation
            return response

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()
