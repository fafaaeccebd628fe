"""Cost of produce validation per batch: header checks alone vs with the record walk.

    .venv/bin/python -m bench.bench_validation [--repeat N]

For each batch shape (kafka-python builds the batches: a key ``key-<i>``, a
value and one header per record, unless the shape says ``null key``, no
headers: the Java perf tool's records; ``mixed`` sizes draw each value's
size at random, the worst case for same-shape runs), four calls are timed,
interleaved, and the best of ``--repeat`` taken:

* ``header``: `validate_produce_records(records=False)`: header and CRC
  only, which is what the produce path did before issue 11 item 6;
* ``full``: `validate_produce_records` as it is: every field of every record
  (after decompression for a compressed batch), as Kafka's LogValidator;
* ``exact``: `walk_records` without a timestamp window, which reads every
  record field by field (the produce path before same-shape runs);
* ``append``: `PartitionLog.append` of the same batch to a log in a temporary
  directory (no fsync), for scale: what the produce path spends anyway.

Reported: microseconds per batch, the walk's nanoseconds per record in the
produce path (full - header) and field by field (exact), and the walk's cost
as a share of header + append.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kafka.record.default_records import DefaultRecordBatchBuilder

from broker.storage import LogConfig, PartitionLog
from broker.storage.batch import HEADER_SIZE, validate_produce_records
from broker.storage.record_check import walk_records

NOW = 1_700_000_000_000
NULL_KEY = 1  # shape flags: null keys and no headers
MIXED = 2  # value sizes at random from 1 to twice the given size
SHAPES = [  # (records, value bytes, codec, flags)
    (10_000, 100, 0, 0),
    (10_000, 100, 0, NULL_KEY),
    (1_000, 1_000, 0, 0),
    (100, 10_000, 0, 0),
    (150, 100, 0, 0),
    (150, 100, 0, NULL_KEY),
    (10_000, 100, 0, MIXED),
    (10_000, 100, 1, 0),
    (10_000, 100, 4, 0),
    (1_000, 1_000, 3, 0),
]
FLAGS = {0: "", NULL_KEY: " null key", MIXED: " mixed"}
CODEC = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def make(records: int, value_size: int, codec: int, flags: int = 0) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 30)
    sizes = random.Random(records)
    for i in range(records):
        size = sizes.randint(1, 2 * value_size) if flags & MIXED else value_size
        value = ((b"%08d" % i) * (size // 8 + 1))[:size]
        if flags & NULL_KEY:
            builder.append(i, NOW + i, None, value, [])
        else:
            builder.append(i, NOW + i, b"key-%d" % i, value, [("h", b"v")])
    return bytes(builder.build())


def best_us(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """The best time of each of ``fns``, run interleaved ``repeat`` times."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return [b * 1e6 for b in best]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()
    config = LogConfig(max_message_bytes=16 << 20, segment_bytes=1 << 30)
    print(
        "| batch | bytes | header us | full us | walk ns/record | exact ns/record "
        "| append us | walk / (header + append) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        plog = PartitionLog.open(Path(tmp) / "t-0", config, NOW)
        for records, value_size, codec, flags in SHAPES:
            data = make(records, value_size, codec, flags)
            view = memoryview(data)

            def header_only(view: memoryview = view) -> None:
                validate_produce_records(view, config, NOW, records=False)

            def full(view: memoryview = view) -> None:
                validate_produce_records(view, config, NOW)

            def exact(
                view: memoryview = view, count: int = records, plain: bool = not codec
            ) -> None:
                if plain:  # compressed: the produce path's walk is field by field already
                    walk_records(view[HEADER_SIZE:], count)

            def append(view: memoryview = view) -> None:
                plog.append(view, 0, NOW)

            header, whole, field_by_field, appended = best_us(
                [header_only, full, exact, append], args.repeat
            )
            walk = whole - header
            exact_ns = f"{field_by_field * 1000 / records:.0f}" if codec == 0 else "-"
            print(
                f"| {records} x {value_size} B {CODEC[codec]}{FLAGS[flags]} | {len(data):,} "
                f"| {header:.0f} | {whole:.0f} | {walk * 1000 / records:.0f} | {exact_ns} "
                f"| {appended:.0f} | {walk / (header + appended):.2f} |"
            )
        plog.close()


if __name__ == "__main__":
    main()
