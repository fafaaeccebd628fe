"""Build and read record batches v2 for the broker's own records.

The produce and fetch paths never come here: client batches stay opaque. This
module is for what the broker writes itself (metadata records, consumer
offsets, Raft control records) and reads back at start-up.

Record v2 layout (after the 61-byte batch header, see broker/storage/batch.py)::

    varint  length          bytes of the record after this field
    int8    attributes      unused, 0
    varlong timestampDelta  record timestamp - batch baseTimestamp
    varint  offsetDelta     record offset - batch baseOffset
    varint  keyLength       -1 for a null key
    bytes   key
    varint  valueLength     -1 for a null value (a tombstone)
    bytes   value
    varint  headersCount    then per header: varint keyLength, key, varint valueLength, value

Varints are zigzag base-128, as in protobuf.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from crc32c import crc32c

from broker.storage.batch import HEADER, HEADER_SIZE, BytesLike, parse_header, split_batches
from broker.storage.records import decompress, read_varint

CONTROL_ATTRIBUTE = 0x20


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def zigzag(value: int) -> bytes:
    """``value`` as a zigzag varint (a record field)."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def bytes_field(data: bytes | None) -> bytes:
    """A record's length-prefixed bytes: varint length (-1: null), then the bytes."""
    if data is None:
        return zigzag(-1)
    return zigzag(len(data)) + data


def build_batch(
    records: Sequence[tuple[bytes | None, bytes | None]],
    *,
    timestamp: int,
    base_offset: int = 0,
    leader_epoch: int = -1,
    control: bool = False,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """An uncompressed batch of (key, value) records, all with ``timestamp``."""
    if not records:
        raise ValueError("a batch needs at least one record")
    body = bytearray()
    for delta, (key, value) in enumerate(records):
        rec = b"\0" + zigzag(0) + zigzag(delta) + bytes_field(key) + bytes_field(value)
        rec += zigzag(0)  # no headers
        body += zigzag(len(rec)) + rec
    attributes = CONTROL_ATTRIBUTE if control else 0
    count = len(records)
    header = HEADER.pack(
        base_offset,
        HEADER_SIZE - 12 + len(body),
        leader_epoch,
        2,
        0,
        attributes,
        count - 1,
        timestamp,
        timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    )
    crc = crc32c(header[21:] + body)
    return header[:17] + crc.to_bytes(4, "big") + header[21:] + bytes(body)


def iter_records(buf: BytesLike) -> Iterator[tuple[int, Record]]:
    """(batch attributes, record) for every record of every batch in ``buf``."""
    view = memoryview(buf)
    for position, header in split_batches(view):
        end = position + header.size_in_bytes
        body: BytesLike = view[position + HEADER_SIZE : end]
        if header.compression:
            body = decompress(header.compression, bytes(body))
        pos = 0
        for _ in range(header.records_count):
            length, pos = read_varint(body, pos)
            rec_end = pos + length
            pos += 1  # attributes
            ts_delta, pos = read_varint(body, pos)
            off_delta, pos = read_varint(body, pos)
            key, pos = _read_bytes(body, pos)
            value, pos = _read_bytes(body, pos)
            n_headers, pos = read_varint(body, pos)
            headers = []
            for _h in range(n_headers):
                hkey, pos = _read_bytes(body, pos)
                hval, pos = _read_bytes(body, pos)
                headers.append(((hkey or b"").decode(), hval))
            pos = rec_end
            yield (
                header.attributes,
                Record(
                    header.base_offset + off_delta,
                    header.base_timestamp + ts_delta,
                    key,
                    value,
                    tuple(headers),
                ),
            )


def _read_bytes(buf: BytesLike, pos: int) -> tuple[bytes | None, int]:
    n, pos = read_varint(buf, pos)
    if n < 0:
        return None, pos
    return bytes(buf[pos : pos + n]), pos + n


__all__ = ["Record", "build_batch", "bytes_field", "iter_records", "parse_header", "zigzag"]
