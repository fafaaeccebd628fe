"""A disk that fills up: produce fails with KAFKA_STORAGE_ERROR, nothing else breaks.

The full disk is simulated below the storage engine: ``os.writev`` (the one
call a segment appends with) is wrapped so that writes to the data
partition's directory stop at a byte budget, the way a file system that runs
out of space behaves: the write that crosses the limit is cut short, the
next one fails with ENOSPC. The metadata log is left alone.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from kafka.record.memory_records import MemoryRecords

from broker.errors import ErrorCode
from tests.admin.helpers import create, fetch, partition, produce, started_node, values
from tests.broker.helpers import client_batch


class FullDisk:
    """Byte budget for writes to files under ``directory``; None: unlimited."""

    def __init__(self, directory: Path) -> None:
        self.directory = str(directory)
        self.budget: int | None = None
        self.refused = 0
        self._real: Callable[[int, Sequence[Any]], int] = os.writev

    def writev(self, fd: int, buffers: Sequence[Any]) -> int:
        if self.budget is None or not os.readlink(f"/proc/self/fd/{fd}").startswith(self.directory):
            return self._real(fd, buffers)
        if self.budget <= 0:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        room, cut = self.budget, []
        for buf in buffers:
            view = memoryview(buf)[:room]
            if len(view):
                cut.append(view)
            room -= len(view)
        written = self._real(fd, cut)
        self.budget -= written
        return written


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FullDisk]:
    fake = FullDisk(tmp_path / "t-0")
    monkeypatch.setattr(os, "writev", fake.writev)  # what segments append with
    yield fake


async def test_full_disk_fails_produce_keeps_reads_and_data(tmp_path: Path, disk: FullDisk) -> None:
    node = await started_node(tmp_path)
    await create(node, "t")
    acked = []
    for i in range(5):
        batch = client_batch([b"before-%d" % i], producer_id=3, producer_epoch=0, base_sequence=i)
        assert (await produce(node, "t", batch)).error_code == 0
        acked.append(b"before-%d" % i)
    part = partition(node, "t")
    size_before = part.log.active_segment.size
    file_before = os.path.getsize(part.log.active_segment.log_path)

    disk.budget = 30  # less than the next batch: a short write, then ENOSPC
    failed = client_batch([b"too-much" * 20], producer_id=3, producer_epoch=0, base_sequence=5)
    for acks in (-1, 1):
        result = await produce(node, "t", failed, acks=acks)
        assert result.error_code == ErrorCode.KAFKA_STORAGE_ERROR  # retriable for clients
    assert disk.refused >= 1
    # The partial batch was cut off again: the file holds exactly what the log thinks.
    assert part.log.log_end_offset == 5 and part.high_watermark == 5
    assert part.log.active_segment.size == size_before
    assert os.path.getsize(part.log.active_segment.log_path) == file_before
    # Reads keep working.
    assert values((await fetch(node, "t")).records) == acked

    disk.budget = None  # space freed: the producer's retry of the same batch succeeds
    retry = await produce(node, "t", failed)
    assert (retry.error_code, retry.base_offset) == (0, 5)
    acked.append(b"too-much" * 20)
    await node.shutdown()

    again = await started_node(tmp_path)
    records = bytes((await fetch(again, "t")).records)
    assert values(records) == acked
    mr = MemoryRecords(records)
    while (batch := mr.next_batch()) is not None:
        assert batch.validate_crc()
    await again.shutdown()


async def test_full_disk_then_crash_recovers_everything_acknowledged(
    tmp_path: Path, disk: FullDisk
) -> None:
    node = await started_node(tmp_path)
    await create(node, "t")
    for i in range(3):
        assert (await produce(node, "t", client_batch([b"v%d" % i]))).error_code == 0
    disk.budget = 10
    result = await produce(node, "t", client_batch([b"x" * 500]))
    assert result.error_code == ErrorCode.KAFKA_STORAGE_ERROR
    partition(node, "t").log.abandon()  # no clean shutdown
    node.quorum.close()
    disk.budget = None
    again = await started_node(tmp_path)
    assert values((await fetch(again, "t")).records) == [b"v0", b"v1", b"v2"]
    assert (await produce(again, "t", client_batch([b"v3"]))).base_offset == 3
    await again.shutdown()


async def test_full_disk_at_a_segment_roll(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No room for a new segment's files: the append that needs the roll fails,
    the old segment stays active and whole, and the roll happens once there is room."""
    node = await started_node(tmp_path)
    await create(node, "t", {"segment.bytes": "1024"})
    real_open = os.open
    full = True

    def open_(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kw: int) -> int:
        if full and flags & os.O_CREAT and str(path).startswith(str(tmp_path / "t-0")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", open_)
    acked = []
    results = []
    for i in range(12):
        value = b"%02d" % i + b"." * 200
        result = await produce(node, "t", client_batch([value]))
        results.append(result.error_code)
        if result.error_code == 0:
            acked.append(value)
    assert ErrorCode.KAFKA_STORAGE_ERROR in results
    assert values((await fetch(node, "t")).records) == acked
    full = False
    assert (await produce(node, "t", client_batch([b"later"]))).error_code == 0
    acked.append(b"later")
    assert len(partition(node, "t").log.segment_base_offsets) == 2
    await node.shutdown()
    again = await started_node(tmp_path)
    offset, seen = 0, []
    while offset < partition(again, "t").log.log_end_offset:
        records = (await fetch(again, "t", offset)).records
        seen += values(records)
        offset += len(values(records))
    assert seen == acked
    await again.shutdown()
