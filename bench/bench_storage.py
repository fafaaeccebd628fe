"""Storage engine throughput against the raw syscalls, on the same disk, in one run.

    .venv/bin/python -m bench.bench_storage [--dir DIR] [--mib N] [--recovery-gib G]

Every ratio compares with a baseline measured in the same process on the
same filesystem, so that the machine's speed cancels out:

* append: `PartitionLog.append` of a ready batch vs ``os.write`` of the same
  bytes to a plain ``O_APPEND`` file; "fdatasync each" makes both sides call
  ``fdatasync`` after every batch (ours through ``flush.messages=1``, the
  flush its append asks for).
* read: `PartitionLog.read` of fetch-sized chunks (1 MiB) from a reopened log
  vs ``os.pread`` of the same byte ranges of the same file. "views" stops at
  what the call returns (memoryviews of the mapping vs pread's new bytes);
  "+crc32c" also runs CRC32C over every returned byte, standing in for the
  consumer of the bytes (a socket send).
* recover: `PartitionLog.open` of a log closed without the clean-shutdown
  marker and with no recovery point, so every batch's header and CRC32C is
  checked and both indexes are rebuilt, vs ``os.pread`` + CRC32C of the same
  files in 1 MiB chunks (page cache warm: the log was just written).

Append and read calls are interleaved one by one with their baseline
(alternating which goes first) and timed one by one; throughputs come from
the median call, ratios are the median of per-pair ratios. The machine is
shared, so single runs wobble; the pairing keeps the ratios steady.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from crc32c import crc32c

from broker.storage import LogConfig, PartitionLog

MiB = 1 << 20
KiB = 1 << 10


def make_batch(size: int, records: int = 1) -> bytes:
    """A valid v2 batch of about `size` bytes: `records` records of equal values."""

    def varint(value: int) -> bytes:
        value = (value << 1) ^ (value >> 63)
        out = bytearray()
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
        return bytes(out)

    value_size = max(1, (size - 61) // records - 16)
    body = bytearray()
    for i in range(records):
        record = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(value_size)
        record += bytes([i % 251]) * value_size + varint(0)
        body += varint(len(record)) + record
    header = struct.pack(">hiqqqhii", 0, records - 1, 1_000, 1_000, -1, -1, -1, records)
    crc = crc32c(header + body)
    return struct.pack(">qiibI", 0, 4 + 1 + 4 + len(header) + len(body), 0, 2, crc) + header + body


def _settle(path: Path) -> None:
    """Write back dirty pages so the next run starts from the same state."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def bench_append(
    root: Path, batch_size: int, total: int, fsync: bool
) -> tuple[float, float, float]:
    """Interleaved: each round appends one batch to our log and writes the
    same bytes to the raw file (alternating which goes first), each call
    timed on its own. On a shared machine both then see the same
    interference; the per-call medians are compared."""
    batch = memoryview(make_batch(batch_size))
    config = LogConfig(flush_messages=1 if fsync else LogConfig().flush_messages)
    directory = root / "append" / "t-0"
    log = PartitionLog.open(directory, config, 0)
    raw_path = root / "append-raw.bin"
    fd = os.open(raw_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
    ours: list[float] = []
    raw: list[float] = []
    clock = time.perf_counter
    for i in range(max(1, total // len(batch))):
        for side in (0, 1) if i % 2 else (1, 0):  # alternate who goes first
            start = clock()
            if side == 0:
                log.append(batch, 1, 0)
                if log.flush_due:  # the owner's flush, as the broker does it
                    log.flush()
            else:
                os.write(fd, batch)
                if fsync:
                    os.fdatasync(fd)
            (ours if side == 0 else raw).append(clock() - start)
    os.close(fd)
    log.close()
    raw_path.unlink()
    shutil.rmtree(directory.parent)
    return _summary(len(batch), ours, raw)


def bench_read(root: Path, batch_size: int, total: int, touch: bool) -> tuple[float, float, float]:
    """Fetch-sized reads (1 MiB) of a reopened log, interleaved with
    ``os.pread`` of the same byte ranges of the same file; medians per call."""
    directory = root / "read" / "t-0"
    log = PartitionLog.open(directory, LogConfig(), 0)
    batch = memoryview(make_batch(batch_size))
    for _ in range(max(1, total // len(batch))):
        log.append(batch, 1, 0)
    log.close()
    log_file = directory / "00000000000000000000.log"
    _settle(log_file)
    # Untimed pass: the fetch offsets a consumer would use, and their byte ranges.
    log = PartitionLog.open(directory, LogConfig(), 0)
    fetches: list[tuple[int, int, int]] = []
    offset, position = 0, 0
    while offset < log.log_end_offset:
        records = log.read(offset, MiB).records
        fetches.append((offset, position, len(records)))
        position += len(records)
        offset = _next_offset(records)
        records.release()
    log.close()
    log = PartitionLog.open(directory, LogConfig(), 0)  # fresh mappings
    fd = os.open(log_file, os.O_RDONLY)
    ours: list[float] = []
    raw: list[float] = []
    clock = time.perf_counter
    for i, (offset, position, length) in enumerate(fetches):
        for side in (0, 1) if i % 2 else (1, 0):  # alternate who goes first
            start = clock()
            if side == 0:
                records = log.read(offset, MiB).records
                if touch:
                    crc32c(records)
                ours.append(clock() - start)
            else:
                data = os.pread(fd, length, position)
                if touch:
                    crc32c(data)
                raw.append(clock() - start)
    del records
    os.close(fd)
    log.close()
    shutil.rmtree(directory.parent)
    return _summary(statistics.median(length for _, _, length in fetches), ours, raw)


def _summary(size: float, ours: list[float], raw: list[float]) -> tuple[float, float, float]:
    """Throughputs from the median call times, and the ratio as the median of
    per-round ratios (the two calls of a round ran back to back, so a burst
    of interference on the machine hits both)."""
    ratio = statistics.median(r / o for o, r in zip(ours, raw, strict=True))
    return size / statistics.median(ours), size / statistics.median(raw), ratio


def _next_offset(records: memoryview) -> int:
    """The offset after the last batch in `records` (what a consumer fetches next)."""
    position = 0
    last = 0
    while position < len(records):
        base, length = struct.unpack_from(">qi", records, position)
        last = base + struct.unpack_from(">i", records, position + 23)[0]
        position += length + 12
    return last + 1


def bench_recovery(root: Path, batch_size: int, total: int) -> tuple[float, float, int]:
    """Open after a crash with no recovery point: every batch is validated.
    Baseline: ``os.pread`` + CRC32C of the same file in 1 MiB chunks, the
    least work any recovery must do."""
    directory = root / "recovery" / "t-0"
    log = PartitionLog.open(directory, LogConfig(), 0)
    batch = memoryview(make_batch(batch_size))
    for _ in range(max(1, total // len(batch))):
        log.append(batch, 1, 0)
    log.flush()  # durable, but the recovery point checkpoint still says 0
    size = log.size_in_bytes
    log.abandon()
    start = time.perf_counter()
    reopened = PartitionLog.open(directory, LogConfig(), 0)
    elapsed = time.perf_counter() - start
    assert reopened.recovery.segments_recovered >= 1 and reopened.log_end_offset > 0
    reopened.close()
    start = time.perf_counter()
    for path in sorted(directory.glob("*.log")):
        fd = os.open(path, os.O_RDONLY)
        position = 0
        while chunk := os.pread(fd, MiB, position):
            crc32c(chunk)
            position += len(chunk)
        os.close(fd)
    baseline = time.perf_counter() - start
    shutil.rmtree(directory.parent)
    return elapsed, baseline, size


def _row(
    name: str, ours: float, raw: float, unit: Callable[[float], str], ratio: float | None = None
) -> str:
    ratio = ours / raw if ratio is None else ratio
    return f"{name:<44} {unit(ours):>13} {unit(raw):>13} {ratio:>6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir in /tmp)")
    parser.add_argument("--mib", type=int, default=256, help="MiB per append/read run")
    parser.add_argument("--recovery-gib", type=float, default=1.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-storage-", dir=args.dir))
    mbps: Callable[[float], str] = lambda v: f"{v / MiB:,.0f} MiB/s"  # noqa: E731
    total = args.mib * MiB
    try:
        print(f"{'':<44} {'ours':>13} {'baseline':>13} {'ratio':>6}")
        for label, size, volume, fsync in (
            ("append 1 MiB batches, no fsync", MiB, total, False),
            ("append 16 KiB batches, no fsync", 16 * KiB, total // 4, False),
            ("append 1 MiB batches, fdatasync each", MiB, total // 4, True),
            ("append 16 KiB batches, fdatasync each", 16 * KiB, total // 32, True),
        ):
            ours, raw, ratio = bench_append(root, size, volume, fsync)
            print(_row(label, ours, raw, mbps, ratio), flush=True)
        for label, size in (("1 MiB", MiB), ("16 KiB", 16 * KiB)):
            for touch in (False, True):
                ours, raw, ratio = bench_read(root, size, total, touch)
                kind = "+crc32c" if touch else "views"
                print(_row(f"read {label} batches, {kind}", ours, raw, mbps, ratio), flush=True)
        recovery_bytes = int(args.recovery_gib * (1 << 30))
        for label, size in (("1 MiB", MiB), ("16 KiB", 16 * KiB)):
            elapsed, baseline, volume = bench_recovery(root, size, recovery_bytes)
            gib = volume / (1 << 30)
            print(
                _row(
                    f"recover {gib:.2f} GiB, {label} batches",
                    volume / elapsed,
                    volume / baseline,
                    mbps,
                )
                + f"   ({elapsed:.2f} s)",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
