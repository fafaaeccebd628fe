"""Record batch v2 headers: parse, split, check, stamp.

Theory of operation
-------------------
The broker treats a record batch as opaque bytes with a fixed 61-byte header.
Everything the produce path, the log, idempotence and Raft need is in that
header; the records after it are never decoded on a hot path (decoding in
Python caps below ~1 M records/s per core, see DESIGN.md).

Two header fields are *not* covered by the CRC, precisely so that a broker can
assign them without re-checksumming the batch: ``baseOffset`` (bytes 0-7) and
``partitionLeaderEpoch`` (bytes 12-15). Stamping a batch for the log therefore
means rewriting its first 16 bytes (`stamp_prefix`), and the body is written as
the caller's own buffer. LogAppendTime is the exception: it rewrites
``attributes`` and ``maxTimestamp``, which *are* covered, so the header is
rebuilt and the CRC is recomputed incrementally over the new header tail and
the untouched body (`log_append_time_header`), still without copying the body.

A records blob is zero or more batches back to back. `split_batches` walks one
without copying, and `validate_produce_records` applies the checks a Kafka
broker applies to a client's produce, raising `KafkaStorageError` with the code
Kafka answers with.

Those checks include the records themselves (`check_records`, with
broker/storage/record_check.py): every field of every record is read, as
Kafka's LogValidator iterates them, over the caller's buffer in place for an
uncompressed batch, after decompression (never past
`max_decompressed_bytes`) for a compressed one; every record's timestamp is
checked, not only the two the header carries. That walk costs 0.1-2 us a
record (record_check.py), so `validate_produce_records` can leave it out
(``records=False``) for a caller that runs it elsewhere (the produce path
runs it in a worker thread for large batches).
"""

from __future__ import annotations

import mmap
import struct
from typing import Final, NamedTuple

from crc32c import crc32c

from broker.storage import errors
from broker.storage.compression import CorruptCompressedData, DecompressedTooLarge, decompress
from broker.storage.config import CREATE_TIME, LogConfig
from broker.storage.errors import KafkaStorageError
from broker.storage.record_check import walk_records

BytesLike = bytes | bytearray | memoryview | mmap.mmap

# RecordBatch v2 header, big-endian, 61 bytes. Fields in order:
HEADER: Final = struct.Struct(
    ">"
    "q"  # baseOffset: offset of the first record; assigned by the broker, not in the CRC
    "i"  # batchLength: bytes after this field (so the batch is batchLength + 12 bytes)
    "i"  # partitionLeaderEpoch: epoch of the leader that appended it; not in the CRC
    "b"  # magic: record format version, always 2 here
    "I"  # crc: CRC32C (Castagnoli) of every byte from attributes to the end of the batch
    "h"  # attributes: bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
    "i"  # lastOffsetDelta: last record's offset minus baseOffset
    "q"  # baseTimestamp: first record's timestamp
    "q"  # maxTimestamp: largest record timestamp, or the LogAppendTime
    "q"  # producerId: idempotent/transactional producer id, -1 if none
    "h"  # producerEpoch: epoch of that producer id, -1 if none
    "i"  # baseSequence: sequence number of the first record, -1 if none
    "i"  # recordsCount: number of records in the batch
)
HEADER_SIZE: Final = HEADER.size  # 61

# The first 27 bytes, enough to walk a log: baseOffset, batchLength,
# partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta.
SCAN_HEADER: Final = struct.Struct(">qiibIhi")
SCAN_SIZE: Final = SCAN_HEADER.size  # 27

# The 16 bytes the log rewrites on append: baseOffset, batchLength, partitionLeaderEpoch.
PREFIX: Final = struct.Struct(">qii")
_MAX_TIMESTAMP = struct.Struct(">q")
_ATTRIBUTES = struct.Struct(">h")
_CRC = struct.Struct(">I")

LOG_OVERHEAD: Final = 12  # baseOffset + batchLength, the bytes batchLength does not count
PARTITION_LEADER_EPOCH_OFFSET: Final = 12
MAGIC_OFFSET: Final = 16
CRC_OFFSET: Final = 17
ATTRIBUTES_OFFSET: Final = 21  # the CRC covers [ATTRIBUTES_OFFSET, end)
MAX_TIMESTAMP_OFFSET: Final = 35

MAGIC_V2: Final = 2
NO_TIMESTAMP: Final = -1
NO_PRODUCER_ID: Final = -1
NO_PARTITION_LEADER_EPOCH: Final = -1

COMPRESSION_MASK: Final = 0x07
TIMESTAMP_TYPE_MASK: Final = 0x08
TRANSACTIONAL_MASK: Final = 0x10
CONTROL_MASK: Final = 0x20

# How far a compressed batch may inflate: this many times max.message.bytes
# (32 MiB at the default 1 MiB). Kafka sets no bound; a legitimate batch of
# ordinary data compresses 2-10x, and a producer told MESSAGE_TOO_LARGE splits
# its batch (the Java client) or fails the send.
DECOMPRESSION_RATIO_LIMIT: Final = 32


class BatchHeader(NamedTuple):
    """The decoded 61-byte header of one v2 record batch."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size_in_bytes(self) -> int:
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_MASK)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id > NO_PRODUCER_ID


def parse_header(buf: BytesLike, position: int = 0) -> BatchHeader:
    """Decode the header at `position`; the caller ensures 61 bytes are there."""
    return BatchHeader._make(HEADER.unpack_from(buf, position))


def crc_matches(buf: BytesLike, position: int, header: BatchHeader) -> bool:
    """True if the stored CRC32C matches the batch at `position` (no copy)."""
    end = position + header.batch_length + LOG_OVERHEAD
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    return crc32c(view[position + ATTRIBUTES_OFFSET : end]) == header.crc


def split_batches(buf: BytesLike) -> list[tuple[int, BatchHeader]]:
    """Walk a blob of back-to-back batches: [(position, header), ...].

    Raises CORRUPT_MESSAGE if a batch is shorter than a v2 header or runs past
    the end of the blob, as Kafka does for a truncated produce.
    """
    out: list[tuple[int, BatchHeader]] = []
    position = 0
    end = len(buf)
    while position < end:
        if end - position < HEADER_SIZE:
            raise KafkaStorageError(
                errors.CORRUPT_MESSAGE, f"{end - position} trailing bytes at {position}"
            )
        header = parse_header(buf, position)
        size = header.batch_length + LOG_OVERHEAD
        if size < HEADER_SIZE or position + size > end:
            raise KafkaStorageError(
                errors.CORRUPT_MESSAGE,
                f"batch at {position} declares {size} bytes, {end - position} available",
            )
        out.append((position, header))
        position += size
    return out


def validate_produce_records(
    buf: BytesLike,
    config: LogConfig,
    now_ms: int,
    *,
    allow_multiple_batches: bool = False,
    records: bool = True,
) -> list[tuple[int, BatchHeader]]:
    """Check a client's records blob as a Kafka broker does before appending.

    Kafka (ProduceRequest v3+ and LogValidator) accepts exactly one batch per
    partition; `allow_multiple_batches` lifts that for internal producers.
    The order of checks follows Kafka's so that the same error wins. With
    ``records=False`` only the headers and CRCs are checked: the caller
    then owes `check_records` for each batch.
    """
    batches = split_batches(buf)
    if not batches:
        raise KafkaStorageError(errors.INVALID_RECORD, "produce carries no record batch")
    if len(batches) > 1 and not allow_multiple_batches:
        raise KafkaStorageError(
            errors.INVALID_RECORD, f"{len(batches)} batches; exactly one is allowed"
        )
    for position, header in batches:
        _validate_one(buf, position, header, config, now_ms)
        if records:
            check_records(buf, position, header, config, now_ms)
    return batches


def _validate_one(
    buf: BytesLike, position: int, header: BatchHeader, config: LogConfig, now_ms: int
) -> None:
    if header.magic != MAGIC_V2:
        raise KafkaStorageError(errors.INVALID_RECORD, f"magic {header.magic}; only 2 is accepted")
    if header.base_offset != 0:
        raise KafkaStorageError(
            errors.INVALID_RECORD, f"client batch has baseOffset {header.base_offset}, not 0"
        )
    if header.size_in_bytes > config.max_message_bytes:
        raise KafkaStorageError(
            errors.MESSAGE_TOO_LARGE,
            f"batch of {header.size_in_bytes} bytes > max.message.bytes {config.max_message_bytes}",
        )
    if not crc_matches(buf, position, header):
        raise KafkaStorageError(errors.CORRUPT_MESSAGE, f"CRC mismatch in batch at {position}")
    if header.last_offset_delta < 0 or header.records_count <= 0:
        raise KafkaStorageError(
            errors.INVALID_RECORD,
            f"lastOffsetDelta {header.last_offset_delta}, recordsCount {header.records_count}",
        )
    if header.last_offset_delta + 1 != header.records_count:
        raise KafkaStorageError(
            errors.INVALID_RECORD,
            f"lastOffsetDelta + 1 = {header.last_offset_delta + 1} "
            f"but recordsCount = {header.records_count}",
        )
    if header.is_control:
        raise KafkaStorageError(errors.INVALID_RECORD, "clients may not write control batches")
    if header.has_producer_id and header.base_sequence < 0:
        raise KafkaStorageError(
            errors.INVALID_RECORD, f"producerId {header.producer_id} with sequence < 0"
        )
    if config.message_timestamp_type == CREATE_TIME:
        if header.is_log_append_time:
            raise KafkaStorageError(
                errors.INVALID_TIMESTAMP, "producer set the LogAppendTime timestamp type"
            )
        # The two timestamps the header carries (the first record's and the
        # largest) here; every record's in check_records.
        _check_timestamps(header.base_timestamp, header.max_timestamp, config, now_ms)


def _check_timestamps(first: int, last: int, config: LogConfig, now_ms: int) -> None:
    for timestamp in (first, last):
        if timestamp == NO_TIMESTAMP:
            continue
        if (
            now_ms - timestamp > config.message_timestamp_before_max_ms
            or timestamp - now_ms > config.message_timestamp_after_max_ms
        ):
            raise KafkaStorageError(
                errors.INVALID_TIMESTAMP,
                f"timestamp {timestamp} out of range for now={now_ms}",
            )


def _delta_window(header: BatchHeader, config: LogConfig, now_ms: int) -> tuple[int, int]:
    """The timestampDeltas `_check_timestamps` lets through for this batch (any, unchecked)."""
    if config.message_timestamp_type != CREATE_TIME or header.base_timestamp == NO_TIMESTAMP:
        return -(1 << 80), 1 << 80
    return (
        now_ms - config.message_timestamp_before_max_ms - header.base_timestamp,
        now_ms + config.message_timestamp_after_max_ms - header.base_timestamp,
    )


def max_decompressed_bytes(config: LogConfig) -> int:
    """The most a compressed batch's records section may decompress to."""
    return DECOMPRESSION_RATIO_LIMIT * config.max_message_bytes


def check_records(
    buf: BytesLike, position: int, header: BatchHeader, config: LogConfig, now_ms: int
) -> None:
    """Refuse a batch whose records section is not ``recordsCount`` sound records.

    INVALID_RECORD for a malformed section (Kafka's InvalidRecordException),
    a payload that does not decompress, or (compressed only, as Kafka) inner
    offsets other than 0, 1, 2...; MESSAGE_TOO_LARGE when it would
    decompress past `max_decompressed_bytes`; INVALID_TIMESTAMP for a record
    whose timestamp is out of range (CreateTime topics). Thread-safe: reads
    ``buf`` only.
    """
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    body = view[position + HEADER_SIZE : position + header.size_in_bytes]
    if header.compression == 0:
        walk = walk_records(
            body, header.records_count, delta_window=_delta_window(header, config, now_ms)
        )
    else:
        limit = max_decompressed_bytes(config)
        try:
            raw = decompress(header.compression, body, limit)
        except DecompressedTooLarge as exc:
            raise KafkaStorageError(
                errors.MESSAGE_TOO_LARGE,
                f"compressed batch at {position} {exc} (32 x max.message.bytes)",
            ) from exc
        except CorruptCompressedData as exc:
            raise KafkaStorageError(
                errors.INVALID_RECORD, f"compressed batch at {position}: {exc}"
            ) from exc
        walk = walk_records(raw, header.records_count, offsets_in_order=True)
    if walk.problem is not None:
        raise KafkaStorageError(errors.INVALID_RECORD, f"batch at {position}: {walk.problem}")
    if config.message_timestamp_type == CREATE_TIME and header.base_timestamp != NO_TIMESTAMP:
        _check_timestamps(
            header.base_timestamp + walk.min_timestamp_delta,
            header.base_timestamp + walk.max_timestamp_delta,
            config,
            now_ms,
        )


def stamp_prefix(base_offset: int, header: BatchHeader, leader_epoch: int) -> bytes:
    """The 16 bytes that replace the start of a batch when the log appends it."""
    return PREFIX.pack(base_offset, header.batch_length, leader_epoch)


def log_append_time_header(
    buf: BytesLike,
    position: int,
    header: BatchHeader,
    base_offset: int,
    leader_epoch: int,
    now_ms: int,
) -> bytes:
    """A new 61-byte header with LogAppendTime = `now_ms` and a recomputed CRC.

    The CRC runs over the new header's tail then continues over the original
    body in place, so the body is read once and never copied.
    """
    attributes = header.attributes | TIMESTAMP_TYPE_MASK
    new = bytearray(
        HEADER.pack(
            base_offset,
            header.batch_length,
            leader_epoch,
            header.magic,
            0,
            attributes,
            header.last_offset_delta,
            header.base_timestamp,
            now_ms,
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            header.records_count,
        )
    )
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    body = view[position + HEADER_SIZE : position + header.size_in_bytes]
    crc = crc32c(body, crc32c(memoryview(new)[ATTRIBUTES_OFFSET:]))
    _CRC.pack_into(new, CRC_OFFSET, crc)
    return bytes(new)
