"""Build and decode v2 record batches with kafka-python, the test oracle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4


def build_batch(
    count: int = 1,
    *,
    timestamp: int = 1_000,
    timestamps: Sequence[int] | None = None,
    value: bytes | None = None,
    value_size: int = 10,
    compression: int = NONE,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
) -> bytes:
    """A produce-ready batch: baseOffset 0, epoch 0, valid CRC.

    Record i has timestamp `timestamps[i]` (default `timestamp + i`) and value
    `value` (default: `value_size` bytes derived from i).
    """
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=compression,
        is_transactional=int(transactional),
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        batch_size=1 << 30,
    )
    for i in range(count):
        ts = timestamps[i] if timestamps is not None else timestamp + i
        payload = value if value is not None else bytes([i % 251]) * value_size
        builder.append(i, timestamp=ts, key=None, value=payload, headers=[])
    return bytes(builder.build())


def decode_batches(data: bytes | memoryview) -> list[Any]:
    """Every batch in `data`, decoded by kafka-python (raises on a bad CRC)."""
    records = MemoryRecords(bytes(data))
    out: list[Any] = []
    while True:
        batch = records.next_batch()
        if batch is None:
            return out
        if not batch.validate_crc():
            raise AssertionError(f"bad CRC in batch at offset {batch.base_offset}")
        out.append(batch)


def decode_records(data: bytes | memoryview) -> list[tuple[int, int, bytes]]:
    """(offset, timestamp, value) of every record in `data`."""
    out = []
    for batch in decode_batches(data):
        for record in batch:
            out.append((record.offset, record.timestamp, bytes(record.value)))
    return out


def one_batch(data: bytes) -> Any:
    return cast(Any, DefaultRecordBatch(data))
