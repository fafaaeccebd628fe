"""Record-level reads, for ListOffsets only (never on a produce or fetch path).

ListOffsets by timestamp must answer with the *record* whose timestamp first
reaches the target, and MAX_TIMESTAMP with the first record carrying the
largest timestamp; batch headers only give a batch's largest timestamp. So
for the one candidate batch per lookup, this module walks the records, after
decompressing the batch's records section if needed.

Record v2 layout (only the fields before the key are decoded)::

    varint  length          bytes of the record after this field
    int8    attributes      unused
    varlong timestampDelta  record timestamp - batch baseTimestamp
    varint  offsetDelta     record offset - batch baseOffset
    ...                     key, value, headers: skipped using `length`

Varints are zigzag-encoded base-128, as in protobuf.
"""

from __future__ import annotations

from typing import Final

from broker.storage.batch import HEADER_SIZE, BytesLike, parse_header
from broker.storage.compression import GZIP, LZ4, NONE, SNAPPY, ZSTD
from broker.storage.compression import decompress as _bounded_decompress

__all__ = ["GZIP", "LZ4", "NONE", "SNAPPY", "ZSTD", "decompress", "read_varint"]

# Stored batches passed the produce checks, so they inflate to at most
# 32 x max.message.bytes; this bound only protects readers from a log written
# before those checks existed.
READ_LIMIT: Final = 1 << 30


def read_varint(buf: BytesLike, position: int) -> tuple[int, int]:
    """(value, next position) of the zigzag varint at `position`."""
    shift = 0
    raw = 0
    while True:
        byte = buf[position]
        position += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), position
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def decompress(compression: int, data: bytes, limit: int = READ_LIMIT) -> bytes:
    """A batch's records section, decompressed (at most ``limit`` bytes)."""
    raw = _bounded_decompress(compression, data, limit)
    return raw if isinstance(raw, bytes) else bytes(raw)


def record_timestamps(batch: BytesLike) -> list[tuple[int, int]]:
    """[(offset, timestamp), ...] of every record of one whole batch."""
    header = parse_header(batch, 0)
    if header.is_log_append_time:
        # Every record's timestamp is the batch's LogAppendTime.
        return [
            (header.base_offset + delta, header.max_timestamp)
            for delta in range(header.last_offset_delta + 1)
        ]
    body: BytesLike = batch[HEADER_SIZE : header.size_in_bytes]
    if header.compression != NONE:
        body = decompress(header.compression, bytes(body))
    out = []
    position = 0
    for _ in range(header.records_count):
        length, position = read_varint(body, position)
        end = position + length
        position += 1  # attributes
        timestamp_delta, position = read_varint(body, position)
        offset_delta, position = read_varint(body, position)
        out.append((header.base_offset + offset_delta, header.base_timestamp + timestamp_delta))
        position = end
    return out


def first_offset_with_timestamp(
    batch: BytesLike, timestamp: int, min_offset: int
) -> tuple[int, int] | None:
    """(timestamp, offset) of the first record at or after `min_offset` whose
    timestamp is >= `timestamp`, or None."""
    for offset, record_timestamp in record_timestamps(batch):
        if offset >= min_offset and record_timestamp >= timestamp:
            return record_timestamp, offset
    return None
