"""Batch headers, splitting, produce validation and stamping (kafka-python as oracle)."""

from __future__ import annotations

import struct

import pytest

from broker.storage import errors
from broker.storage.batch import (
    HEADER_SIZE,
    log_append_time_header,
    parse_header,
    split_batches,
    stamp_prefix,
    validate_produce_records,
)
from broker.storage.config import LOG_APPEND_TIME, LogConfig
from broker.storage.errors import KafkaStorageError
from tests.storage.batches import GZIP, build_batch, decode_batches, one_batch

NOW = 1_700_000_000_000
CONFIG = LogConfig()


def test_header_fields_match_kafka_python() -> None:
    data = build_batch(
        3, timestamps=[NOW, NOW + 7, NOW + 2], producer_id=42, producer_epoch=3, base_sequence=9
    )
    header = parse_header(data)
    oracle = one_batch(data)
    assert header.base_offset == oracle.base_offset == 0
    assert header.size_in_bytes == len(data) == oracle.size_in_bytes
    assert header.magic == 2
    assert header.crc == oracle.crc
    assert header.last_offset_delta == 2 and header.records_count == 3
    assert header.base_timestamp == NOW and header.max_timestamp == NOW + 7
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (42, 3, 9)
    assert not header.is_control and not header.is_log_append_time and header.has_producer_id


def test_split_walks_back_to_back_batches_without_copy() -> None:
    a, b = build_batch(2), build_batch(5, value_size=100)
    blob = bytearray(a + b)
    batches = split_batches(memoryview(blob))
    assert [(pos, h.records_count) for pos, h in batches] == [(0, 2), (len(a), 5)]
    assert split_batches(b"") == []


@pytest.mark.parametrize("cut", [1, HEADER_SIZE - 1, HEADER_SIZE, -1])
def test_split_rejects_truncated_blob(cut: int) -> None:
    data = build_batch(3)
    with pytest.raises(KafkaStorageError) as exc:
        split_batches(data[:cut] if cut > 0 else data + data[:cut])
    assert exc.value.error_code == errors.CORRUPT_MESSAGE


def test_split_rejects_length_below_header() -> None:
    data = bytearray(build_batch(1))
    struct.pack_into(">i", data, 8, 10)
    with pytest.raises(KafkaStorageError) as exc:
        split_batches(data)
    assert exc.value.error_code == errors.CORRUPT_MESSAGE


def test_valid_produce_passes() -> None:
    data = build_batch(4, timestamp=NOW)
    [(position, header)] = validate_produce_records(data, CONFIG, NOW)
    assert position == 0 and header.records_count == 4


def _patched(data: bytes, fmt: str, offset: int, value: int, *, fix_crc: bool = True) -> bytes:
    from crc32c import crc32c

    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    if fix_crc:
        struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def _code(data: bytes, config: LogConfig = CONFIG, **kwargs: bool) -> int:
    with pytest.raises(KafkaStorageError) as exc:
        validate_produce_records(data, config, NOW, **kwargs)
    return exc.value.error_code


def test_each_produce_check_maps_to_kafka_error() -> None:
    good = build_batch(3, timestamp=NOW)
    assert _code(b"") == errors.INVALID_RECORD
    assert _code(good + good) == errors.INVALID_RECORD
    validate_produce_records(good + good, CONFIG, NOW, allow_multiple_batches=True)
    assert _code(_patched(good, ">b", 16, 1, fix_crc=False)) == errors.INVALID_RECORD  # magic
    assert _code(_patched(good, ">q", 0, 5, fix_crc=False)) == errors.INVALID_RECORD  # baseOffset
    assert _code(good, LogConfig(max_message_bytes=len(good) - 1)) == errors.MESSAGE_TOO_LARGE
    corrupt = bytearray(good)
    corrupt[-1] ^= 0x01
    assert _code(bytes(corrupt)) == errors.CORRUPT_MESSAGE
    assert _code(_patched(good, ">i", 23, 5)) == errors.INVALID_RECORD  # lastOffsetDelta
    assert _code(_patched(good, ">i", 57, 2)) == errors.INVALID_RECORD  # recordsCount
    assert _code(_patched(good, ">h", 21, 0x20)) == errors.INVALID_RECORD  # control
    idempotent = build_batch(1, timestamp=NOW, producer_id=7, producer_epoch=0, base_sequence=0)
    validate_produce_records(idempotent, CONFIG, NOW)
    assert _code(_patched(idempotent, ">i", 53, -1)) == errors.INVALID_RECORD  # sequence
    assert _code(_patched(good, ">h", 21, 0x08)) == errors.INVALID_TIMESTAMP  # LogAppendTime
    future = build_batch(1, timestamp=NOW + 3_600_001)
    assert _code(future) == errors.INVALID_TIMESTAMP
    old = build_batch(1, timestamp=NOW - 10_000)
    validate_produce_records(old, CONFIG, NOW)
    assert _code(old, LogConfig(message_timestamp_before_max_ms=9_999)) == errors.INVALID_TIMESTAMP
    # LogAppendTime topics do not check producer timestamps.
    validate_produce_records(future, LogConfig(message_timestamp_type=LOG_APPEND_TIME), NOW)


def test_stamp_prefix_keeps_crc_valid() -> None:
    data = build_batch(3, timestamp=NOW)
    header = parse_header(data)
    stamped = stamp_prefix(1234, header, 7) + data[16:]
    batch = one_batch(stamped)
    assert batch.validate_crc()
    assert (batch.base_offset, batch.leader_epoch) == (1234, 7)
    assert [r.offset for r in batch] == [1234, 1235, 1236]


@pytest.mark.parametrize("compression", [0, GZIP])
def test_log_append_time_rewrite_decodes_with_kafka_python(compression: int) -> None:
    data = build_batch(3, timestamp=NOW - 500, compression=compression, value_size=300)
    header = parse_header(data)
    new_header = log_append_time_header(memoryview(data), 0, header, 50, 4, NOW)
    stamped = new_header + data[HEADER_SIZE:]
    [batch] = decode_batches(stamped)  # checks the recomputed CRC
    assert batch.timestamp_type == 1
    assert batch.max_timestamp == NOW and batch.leader_epoch == 4
    assert [(r.offset, r.timestamp) for r in batch] == [(50, NOW), (51, NOW), (52, NOW)]
