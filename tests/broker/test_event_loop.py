"""Blocking work stays off the Trio thread: fsyncs, log opening, recompression.

Every fsync (``os.fsync``, ``os.fdatasync``) is wrapped to note the thread it
runs on; the test drives the paths that used to fsync on the event loop (a
segment roll, ``flush.messages``, the first batch of an epoch and its
checkpoint, CreateTopics opening logs) and expects none there. The
recompression test holds a 1 MB batch's compression until another request has
been served, which only a worker thread allows.
"""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from broker.wire.generated.delete_records_request import (
    DeleteRecordsPartition,
    DeleteRecordsRequest,
    DeleteRecordsTopic,
)
from tests.admin.helpers import (
    codecs,
    create,
    fetch,
    partition,
    produce,
    started_node,
    values,
)
from tests.broker.helpers import call, client_batch


def delete_records_request(topic: str, offset: int) -> DeleteRecordsRequest:
    partitions = [DeleteRecordsPartition(0, offset)]
    return DeleteRecordsRequest([DeleteRecordsTopic(topic, partitions)], 5000)


class FsyncThreads:
    """Which fsyncs ran on the thread that created this (the Trio thread)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loop_thread = threading.get_ident()
        self.on_loop: list[str] = []
        self.in_workers: list[str] = []
        for name in ("fsync", "fdatasync"):
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name)))

    def _wrap(self, real: Callable[[Any], None]) -> Callable[[Any], None]:
        def sync(fd: Any) -> None:
            path = os.readlink(f"/proc/self/fd/{fd if isinstance(fd, int) else fd.fileno()}")
            on_loop = threading.get_ident() == self.loop_thread
            (self.on_loop if on_loop else self.in_workers).append(path)
            real(fd)

        return sync


async def test_no_fsync_runs_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await started_node(tmp_path)  # start-up may block: nothing is served yet
    fsyncs = FsyncThreads(monkeypatch)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(node.replicas.run_flusher)
        # CreateTopics: the new logs are created (files, directory fsyncs) in workers.
        await create(node, "t", {"segment.bytes": "600", "flush.messages": "1"})
        await create(node, "u")
        part = partition(node, "t")
        for i in range(6):
            # The first batch brings epoch 0 (its checkpoint); every other one
            # rolls the 600-byte segment; flush.messages=1 fsyncs each append,
            # and acks=1 is answered only after that fsync, as in Kafka.
            result = await produce(node, "t", client_batch([bytes([i]) * 200]), acks=1)
            assert result.error_code == 0
            assert part.log.recovery_point == part.log.log_end_offset == i + 1
        assert len(part.log.segment_base_offsets) > 2
        assert (await produce(node, "u", client_batch([b"x"]), acks=-1)).error_code == 0
        # DeleteRecords: its log-start-offset checkpoint is fsynced, in a worker.
        deleted = await call(node, 21, 2, delete_records_request("t", 3))
        assert deleted.topics[0].partitions[0].low_watermark == 3
        await trio.testing.wait_all_tasks_blocked()  # the flusher's roll flushes too
        nursery.cancel_scope.cancel()
    assert fsyncs.on_loop == []
    synced = {Path(p).name for p in fsyncs.in_workers}
    assert {
        "leader-epoch-checkpoint",
        "log-start-offset-checkpoint",
        "t-0",
        "u-0",
        "00000000000000000000.log",
    } <= synced
    assert any(name.endswith(".index") for name in synced)  # a rolled segment's indexes
    await node.shutdown()


async def test_recompressing_a_1_mb_batch_does_not_stall_other_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await started_node(tmp_path)
    await create(node, "gz", {"compression.type": "gzip", "max.message.bytes": str(4 << 20)})
    await create(node, "other")
    assert (await produce(node, "other", client_batch([b"ready"]))).error_code == 0
    compressing = threading.Event()
    served = threading.Event()
    real_compress = gzip.compress

    def held_compress(data: bytes, compresslevel: int = 9, **kwargs: Any) -> bytes:
        compressing.set()
        # On the Trio thread this would wait in vain: no other task can run.
        if not served.wait(20):
            raise AssertionError("no other request was served during the recompression")
        return real_compress(data, compresslevel, **kwargs)

    monkeypatch.setattr(gzip, "compress", held_compress)
    produced: list[Any] = []

    async def produce_big() -> None:
        values_1mb = [bytes([i]) * 62_500 for i in range(16)]  # 1 MB
        produced.append(await produce(node, "gz", client_batch(values_1mb)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce_big)
        while not compressing.is_set():
            await trio.sleep(0)
        # The batch is being recompressed: another request is answered meanwhile.
        answered = await fetch(node, "other")
        assert values(answered.records) == [b"ready"]
        assert not produced
        served.set()
    assert produced[0].error_code == 0
    stored = await fetch(node, "gz")
    assert [len(v or b"") for v in values(stored.records)] == [62_500] * 16
    assert codecs(stored.records) == [1]  # gzip
    await node.shutdown()
