"""Record-level timestamp walking (ListOffsets), every compression codec."""

from __future__ import annotations

import struct

import cramjam
import pytest
from crc32c import crc32c

from broker.storage.batch import HEADER_SIZE
from broker.storage.records import first_offset_with_timestamp, record_timestamps
from tests.storage.batches import GZIP, LZ4, NONE, SNAPPY, ZSTD, build_batch, decode_records

TIMESTAMPS = [1_000, 5_000, 50, 5_000, 4_999, 10**12]


@pytest.mark.parametrize("compression", [NONE, GZIP, LZ4, ZSTD])
def test_record_timestamps_match_kafka_python(compression: int) -> None:
    data = build_batch(6, timestamps=TIMESTAMPS, value_size=500, compression=compression)
    expected = [(offset, ts) for offset, ts, _ in decode_records(data)]
    assert record_timestamps(memoryview(data)) == expected == list(enumerate(TIMESTAMPS))


def _as_snappy(data: bytes, *, xerial: bool) -> bytes:
    """Re-encode an uncompressed batch's records with snappy, as a Java
    producer (xerial framing) or librdkafka (raw block) would."""
    records = data[HEADER_SIZE:]
    if xerial:
        block = bytes(cramjam.snappy.compress_raw(records))
        body = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1) + struct.pack(">i", len(block)) + block
    else:
        body = bytes(cramjam.snappy.compress_raw(records))
    out = bytearray(data[:HEADER_SIZE] + body)
    struct.pack_into(">i", out, 8, len(out) - 12)
    attributes = struct.unpack_from(">h", out, 21)[0]
    struct.pack_into(">h", out, 21, attributes | SNAPPY)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


@pytest.mark.parametrize("xerial", [True, False])
def test_snappy(xerial: bool) -> None:
    data = _as_snappy(build_batch(6, timestamps=TIMESTAMPS, value_size=300), xerial=xerial)
    assert record_timestamps(data) == list(enumerate(TIMESTAMPS))


def test_first_offset_with_timestamp() -> None:
    data = build_batch(6, timestamps=TIMESTAMPS)
    assert first_offset_with_timestamp(data, 0, 0) == (1_000, 0)
    assert first_offset_with_timestamp(data, 1_001, 0) == (5_000, 1)
    assert first_offset_with_timestamp(data, 4_999, 2) == (5_000, 3)
    assert first_offset_with_timestamp(data, 10**12, 0) == (10**12, 5)
    assert first_offset_with_timestamp(data, 10**12 + 1, 0) is None
    assert first_offset_with_timestamp(data, 0, 6) is None


def test_log_append_time_batch_uses_its_max_timestamp() -> None:
    data = bytearray(build_batch(3, timestamps=[1, 2, 3]))
    struct.pack_into(">h", data, 21, 0x08)
    struct.pack_into(">q", data, 35, 777)
    assert record_timestamps(bytes(data)) == [(0, 777), (1, 777), (2, 777)]
