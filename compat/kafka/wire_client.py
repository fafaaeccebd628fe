"""A blocking one-connection Kafka client on our generated codec (``broker.wire``).

Used to probe Kafka's readiness and by the differential tests, which send the
same request bodies to Kafka and to our broker and compare the decoded
responses. One request in flight at a time; every read has a timeout.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from broker.wire import generated
from broker.wire.protocol import RequestHeader, decode_response, encode_request

_SIZE = struct.Struct(">i")


class WireClient:
    def __init__(
        self, host: str, port: int, *, client_id: str = "compat-wire", timeout_s: float = 10.0
    ) -> None:
        self.client_id = client_id
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._correlation_id = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, body: Any, version: int, *, expect_response: bool = True) -> Any:
        """Send ``body`` (a generated request dataclass) at ``version``; the decoded response."""
        self._correlation_id += 1
        header = RequestHeader(body.API_KEY, version, self._correlation_id, self.client_id)
        self._sock.sendall(encode_request(header, body))
        if not expect_response:
            return None
        return self.receive(body.API_KEY, version)

    def send_raw(self, frame: bytes) -> bytes:
        """Send an already framed request; the raw response frame (without size)."""
        self._sock.sendall(frame)
        return self._read_frame()

    def receive(self, api_key: int, version: int) -> Any:
        correlation_id, response = decode_response(api_key, version, self._read_frame())
        if correlation_id != self._correlation_id:
            raise ConnectionError(
                f"response correlation id {correlation_id}, expected {self._correlation_id}"
            )
        return response

    def _read_frame(self) -> bytes:
        (size,) = _SIZE.unpack(self._read_exactly(4))
        return self._read_exactly(size)

    def _read_exactly(self, size: int) -> bytes:
        chunks = []
        left = size
        while left:
            chunk = self._sock.recv(left)
            if not chunk:
                raise ConnectionError(f"connection closed with {left} of {size} bytes unread")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def request_class(name: str) -> Any:
    """The generated dataclass of a message, e.g. ``request_class("MetadataRequest")``."""
    return getattr(generated.BY_NAME[name], name)
