"""acks=all is answered only once an fsync that *began* after the batch was written returns.

An fsync covers what the file held when it started; bytes appended while it
runs (another produce, on the Trio thread, while the fsync waits in its worker
thread) may or may not be on the disk when it returns. These tests journal the
size of the segment file at the start of every fsync (the same rule as
``tests/admin/fsync_journal.py``) and check every acknowledged batch against it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import trio
import trio.testing

from broker.storage.batch import split_batches
from tests.admin.helpers import create, partition, produce, started_node
from tests.broker.helpers import client_batch


class FsyncJournal:
    """``os.fdatasync`` wrapped: the file's size when each call starts, per path.
    The first fsync of ``hold`` waits until ``release`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, hold: Path) -> None:
        self.starts: dict[str, list[int]] = {}
        self.hold = str(hold.resolve())
        self.held = threading.Event()
        self.release = threading.Event()
        real = os.fdatasync

        def fdatasync(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            self.starts.setdefault(path, []).append(os.fstat(fd).st_size)
            if path == self.hold and not self.held.is_set():
                self.held.set()
                assert self.release.wait(30), "the test never released the fsync"
            real(fd)

        monkeypatch.setattr(os, "fdatasync", fdatasync)

    def covered(self, path: Path, end: int) -> bool:
        """Some fsync of ``path`` started when the file already held ``end`` bytes."""
        return any(size >= end for size in self.starts.get(str(path.resolve()), []))


async def test_acks_all_appended_during_another_fsync_waits_for_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await started_node(tmp_path)
    await create(node, "t")
    part = partition(node, "t")
    segment = part.log.active_segment.log_path
    journal = FsyncJournal(monkeypatch, segment)
    acked: dict[str, int] = {}

    async def producer(name: str) -> None:
        result = await produce(node, "t", client_batch([name.encode() * 100]), acks=-1)
        assert result.error_code == 0
        acked[name] = result.base_offset

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer, "a")
        # a's fsync has started in its worker thread and is held there ...
        await trio.to_thread.run_sync(journal.held.wait)
        nursery.start_soon(producer, "b")
        # ... while b is appended (on the Trio thread) and waits for durability.
        await trio.testing.wait_all_tasks_blocked()
        assert part.log.log_end_offset == 2 and not acked
        journal.release.set()

    assert sorted(acked.values()) == [0, 1]
    data = memoryview(segment.read_bytes())
    ends = {h.base_offset: pos + h.size_in_bytes for pos, h in split_batches(data)}
    for name, offset in acked.items():
        assert journal.covered(segment, ends[offset]), (
            f"{name} (offset {offset}, ending at byte {ends[offset]}) was acknowledged, but "
            f"every fsync of the segment started before it was written: {journal.starts}"
        )
    await node.shutdown()
