"""Requests and responses: headers plus generated bodies.

Theory of operation
-------------------
A request frame starts with ``api_key int16, api_version int16,
correlation_id int32`` in every header version, so those are read first and
decide the rest: the request header is v2 (client id, then tagged fields) when
the body's version is flexible, v1 otherwise. A response header is v1
(correlation id and tagged fields) for flexible versions and v0 otherwise,
except that ApiVersions responses always use v0 so that a client can read the
reply to a version it guessed too high (KIP-511).

:func:`decode_request` raises :class:`UnsupportedRequest` (carrying the
correlation id) for a key or version no schema covers, and
:class:`~broker.wire.codec.CorruptMessage` for anything that does not decode;
the caller decides whether to answer or to close the connection.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from broker.wire import generated
from broker.wire.codec import INT16, INT32, Buffer, CorruptMessage, ProtocolError, Writer
from broker.wire.codec import read_uvarint as _read_uvarint

API_VERSIONS_KEY = 18
_PEEK = struct.Struct(">hhi")
_HEAD = struct.Struct(">hhih")  # api key, api version, correlation id, client id length
_DECODE_ERRORS = (struct.error, IndexError, ValueError, UnicodeDecodeError, OverflowError)


@dataclass(slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


@dataclass(slots=True)
class Request:
    header: RequestHeader
    body: Any
    frame: Buffer  # keeps the memory that records fields of ``body`` point into


class UnsupportedRequest(ProtocolError):
    """No schema covers this (api key, version)."""

    def __init__(self, header: RequestHeader) -> None:
        super().__init__(f"unsupported api key {header.api_key} version {header.api_version}")
        self.header = header


def request_module(api_key: int) -> ModuleType | None:
    return generated.REQUESTS.get(api_key)


def response_module(api_key: int) -> ModuleType:
    return generated.RESPONSES[api_key]


def _message_class(module: ModuleType) -> Any:
    return _CLASSES[module.__name__]


def peek_header(frame: Buffer) -> RequestHeader:
    """The fields every request header version shares; client id is left None."""
    try:
        api_key, api_version, correlation_id = _PEEK.unpack_from(frame, 0)
    except struct.error as exc:
        raise CorruptMessage("request shorter than its header") from exc
    return RequestHeader(api_key, api_version, correlation_id, None)


def decode_request(frame: Buffer) -> Request:
    data = memoryview(frame)
    try:
        api_key, version, correlation_id, n = _HEAD.unpack_from(data, 0)
    except struct.error:
        header = peek_header(data)  # raises CorruptMessage if even that is short
        raise CorruptMessage("request header truncated") from None
    header = RequestHeader(api_key, version, correlation_id, None)
    entry = _REQUEST_INDEX.get(api_key)
    if entry is None or not entry[0] <= version <= entry[1]:
        raise UnsupportedRequest(header)
    _low, _high, first_flexible, decoders = entry
    try:
        pos = 10
        if n >= 0:
            pos += n
            if pos > len(data):
                raise CorruptMessage("client id runs past the end of the frame")
            header.client_id = str(data[10:pos], "utf-8")
        if 0 <= first_flexible <= version:
            if data[pos] == 0:
                pos += 1
            else:
                pos = _skip_tagged_fields(data, pos)
        body, end = decoders[version](data, pos)
    except _DECODE_ERRORS as exc:
        raise CorruptMessage(f"api key {api_key} v{version}: {exc}") from exc
    # Bytes after the body are ignored, as Kafka ignores them: librdkafka 2.16
    # sends three after its all-topics Metadata v13 request.
    del end
    return Request(header, body, frame)


def _skip_tagged_fields(data: memoryview, pos: int) -> int:
    count, pos = _read_uvarint(data, pos)
    for _ in range(count):
        _tag, pos = _read_uvarint(data, pos)
        size, pos = _read_uvarint(data, pos)
        pos += size
    if pos > len(data):
        raise CorruptMessage("tagged fields run past the end of the header")
    return pos


def encode_response(api_key: int, version: int, correlation_id: int, body: Any) -> list[Buffer]:
    """The whole framed response as buffers for one ``sendmsg``."""
    module = response_module(api_key)
    cls = _message_class(module)
    w = Writer()
    w.buf += b"\0\0\0\0"  # size, patched below
    w.buf += INT32.pack(correlation_id)
    flexible = 0 <= cls.FIRST_FLEXIBLE_VERSION <= version
    if flexible and api_key != API_VERSIONS_KEY:
        w.buf += b"\0"  # response header v1: no tagged fields
    head = w.buf
    module.ENCODERS[version](body, w)
    parts = w.finish()
    size = sum(memoryview(p).nbytes for p in parts) - 4
    INT32.pack_into(head, 0, size)
    return parts


def encode_request(header: RequestHeader, body: Any) -> bytes:
    """A framed request (used by tests, benchmarks and node-to-node clients)."""
    module = generated.REQUESTS[header.api_key]
    cls = _message_class(module)
    w = Writer()
    w.buf += _PEEK.pack(header.api_key, header.api_version, header.correlation_id)
    if header.client_id is None:
        w.buf += INT16.pack(-1)
    else:
        raw = header.client_id.encode()
        w.buf += INT16.pack(len(raw)) + raw
    if 0 <= cls.FIRST_FLEXIBLE_VERSION <= header.api_version:
        w.buf += b"\0"
    module.ENCODERS[header.api_version](body, w)
    data = w.getvalue()
    return INT32.pack(len(data)) + data


def decode_response(api_key: int, version: int, frame: Buffer) -> tuple[int, Any]:
    """(correlation id, body) of a response frame without its size prefix."""
    data = memoryview(frame)
    module = response_module(api_key)
    cls = _message_class(module)
    try:
        (correlation_id,) = INT32.unpack_from(data, 0)
        pos = 4
        if 0 <= cls.FIRST_FLEXIBLE_VERSION <= version and api_key != API_VERSIONS_KEY:
            pos = _skip_tagged_fields(data, pos)
        body, _ = module.DECODERS[version](data, pos)
    except _DECODE_ERRORS as exc:
        raise CorruptMessage(f"{cls.NAME} v{version}: {exc}") from exc
    return correlation_id, body


def _classes() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, module in generated.BY_NAME.items():
        out[module.__name__] = getattr(module, name)
    return out


_CLASSES = _classes()
# api key -> (min version, max version, first flexible version, decoders)
_REQUEST_INDEX: dict[int, tuple[int, int, int, dict[int, Any]]] = {
    key: (
        _CLASSES[m.__name__].MIN_VERSION,
        _CLASSES[m.__name__].MAX_VERSION,
        _CLASSES[m.__name__].FIRST_FLEXIBLE_VERSION,
        m.DECODERS,
    )
    for key, m in generated.REQUESTS.items()
}
