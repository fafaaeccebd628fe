"""Runtime helpers for the generated codecs in :mod:`broker.wire.generated`.

Theory of operation
-------------------
Generated decoders take a ``memoryview`` and a position and return
``(value, new_position)``; they read fixed-width runs with one precompiled
``struct.Struct`` and slice variable-width fields out of the view. Record
batches come back as ``memoryview`` slices of the frame: never copied.
Every failure to decode (short frame, bad length, bad UTF-8) surfaces as
:class:`CorruptMessage`, the one exception the network layer expects.

Generated encoders append to a :class:`Writer`: small fields go into its
current ``bytearray``; a record-batch field closes that buffer and appends the
caller's buffers untouched, so a response is a list of buffers ready for one
``sendmsg`` with no copy of record data.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from typing import Union

Buffer = Union[bytes, bytearray, memoryview]  # noqa: UP007 - used at runtime
# A records field: one buffer, several (a fetch spanning segments), or absent.
Records = Union[bytes, bytearray, memoryview, Sequence[Buffer], None]  # noqa: UP007

ZERO_UUID = uuid.UUID(int=0)

INT8 = struct.Struct(">b")
INT16 = struct.Struct(">h")
INT32 = struct.Struct(">i")
UINT32 = struct.Struct(">I")
INT64 = struct.Struct(">q")


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid Kafka frame or message."""


class CorruptMessage(ProtocolError):
    """A frame's body does not decode as the message its header names."""


def read_uvarint(data: memoryview, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 varint (at most 5 bytes for the 32-bit values Kafka uses)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise CorruptMessage("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 28:
            raise CorruptMessage("varint longer than 5 bytes")


def uvarint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes([i]) for i in range(0x80)]


def read_uuid(data: memoryview, pos: int) -> tuple[uuid.UUID, int]:
    end = pos + 16
    if end > len(data):
        raise CorruptMessage("truncated uuid")
    return uuid.UUID(bytes=bytes(data[pos:end])), end


def check_end(data: memoryview, end: int) -> None:
    if end > len(data):
        raise CorruptMessage(f"field runs past the end of the frame ({end} > {len(data)})")


def records_size(records: Records) -> int:
    if records is None:
        return -1
    if isinstance(records, (bytes, bytearray, memoryview)):
        return memoryview(records).nbytes
    return sum(memoryview(part).nbytes for part in records)


class Writer:
    """Accumulates an encoded message as a list of buffers."""

    __slots__ = ("buf", "parts")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.parts: list[Buffer] = []

    def add_records(self, records: Records) -> None:
        if records is None:
            return
        self.parts.append(self.buf)
        if isinstance(records, (bytes, bytearray, memoryview)):
            self.parts.append(records)
        else:
            self.parts.extend(records)
        self.buf = bytearray()

    def finish(self) -> list[Buffer]:
        if self.buf:
            self.parts.append(self.buf)
        return self.parts

    def getvalue(self) -> bytes:
        return b"".join(self.finish())
