"""Cost of produce validation per batch: header checks alone vs with the record walk.

    .venv/bin/python -m bench.bench_validation [--repeat N]

For each batch shape (kafka-python builds the batches: a key, a value and one
header per record), three calls are timed, interleaved, and the median taken:

* ``header``: `validate_produce_records(records=False)`: header and CRC
  only, which is what the produce path did before issue 11 item 6;
* ``full``: `validate_produce_records` as it is: every field of every record
  (after decompression for a compressed batch), as Kafka's LogValidator;
* ``append``: `PartitionLog.append` of the same batch to a log in a temporary
  directory (no fsync), for scale: what the produce path spends anyway.

Reported: microseconds per batch and nanoseconds per record for each, and the
walk's cost as a share of header + append.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kafka.record.default_records import DefaultRecordBatchBuilder

from broker.storage import LogConfig, PartitionLog
from broker.storage.batch import validate_produce_records

NOW = 1_700_000_000_000
SHAPES = [  # (records, value bytes, codec)
    (10_000, 100, 0),
    (1_000, 1_000, 0),
    (100, 10_000, 0),
    (150, 100, 0),
    (10_000, 100, 1),
    (10_000, 100, 4),
    (1_000, 1_000, 3),
]
CODEC = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def make(records: int, value_size: int, codec: int) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 30)
    for i in range(records):
        value = (b"%08d" % i) * (value_size // 8 + 1)
        builder.append(i, NOW + i, b"key-%d" % i, value[:value_size], [("h", b"v")])
    return bytes(builder.build())


def median_us(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()
    config = LogConfig(max_message_bytes=16 << 20, segment_bytes=1 << 30)
    print(
        "| batch | bytes | header us | full us | walk ns/record | append us "
        "| walk / (header + append) |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        plog = PartitionLog.open(Path(tmp) / "t-0", config, NOW)
        for records, value_size, codec in SHAPES:
            data = make(records, value_size, codec)
            view = memoryview(data)

            def header_only(view: memoryview = view) -> None:
                validate_produce_records(view, config, NOW, records=False)

            def full(view: memoryview = view) -> None:
                validate_produce_records(view, config, NOW)

            def append(view: memoryview = view) -> None:
                plog.append(view, 0, NOW)

            header = median_us(header_only, args.repeat)
            whole = median_us(full, args.repeat)
            appended = median_us(append, args.repeat)
            walk = whole - header
            print(
                f"| {records} x {value_size} B {CODEC[codec]} | {len(data):,} "
                f"| {header:.0f} | {whole:.0f} | {walk * 1000 / records:.0f} "
                f"| {appended:.0f} | {walk / (header + appended):.2f} |"
            )
        plog.close()


if __name__ == "__main__":
    main()
