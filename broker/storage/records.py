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

import gzip
from typing import Final

from broker.storage.batch import HEADER_SIZE, BytesLike, parse_header

NONE: Final = 0
GZIP: Final = 1
SNAPPY: Final = 2
LZ4: Final = 3
ZSTD: Final = 4

_XERIAL_MAGIC: Final = b"\x82SNAPPY\x00"
_XERIAL_HEADER_SIZE: Final = 16  # magic (8), version (4), compatible version (4)


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


def _snappy_decompress(data: bytes) -> bytes:
    import cramjam

    if not data.startswith(_XERIAL_MAGIC):
        return bytes(cramjam.snappy.decompress_raw(data))
    # Xerial framing (snappy-java, which Kafka's Java producer uses):
    # a 16-byte header, then blocks of [int32 length][raw snappy block].
    out = bytearray()
    position = _XERIAL_HEADER_SIZE
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        position += 4
        out += bytes(cramjam.snappy.decompress_raw(data[position : position + length]))
        position += length
    return bytes(out)


def decompress(compression: int, data: bytes) -> bytes:
    if compression == NONE:
        return data
    if compression == GZIP:
        return gzip.decompress(data)
    if compression == SNAPPY:
        return _snappy_decompress(data)
    if compression == LZ4:
        import lz4.frame

        result: bytes = lz4.frame.decompress(data)
        return result
    if compression == ZSTD:
        import zstandard

        decompressed: bytes = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        return decompressed
    raise ValueError(f"unknown compression type {compression}")


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
