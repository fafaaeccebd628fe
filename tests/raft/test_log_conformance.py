"""One contract, two logs: `MemoryLog` and `PartitionRaftLog` (the storage
engine) run the same tests, and hypothesis-driven operation sequences on the
partition log (with power losses and reopens) are compared against MemoryLog.

A crash is a power loss: MemoryLog drops its unflushed tail; the partition
log's files go back to their last fsync (`broker.storage.power_loss`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.raft.control import encode_leader_change, encode_voters
from broker.raft.log import LogCorruption, MemoryLog, Snapshot
from broker.raft.messages import ControlKind, LogEntry, OffsetAndEpoch, SnapshotId
from broker.replication.raft_log import PartitionRaftLog
from broker.storage.config import LogConfig
from broker.storage.power_loss import PowerLossDisk

# Tiny segments so sequences roll, retain and truncate across segment files.
CONFIG = LogConfig(segment_bytes=600, index_interval_bytes=64, segment_index_bytes=4096)


class MemoryHarness:
    def __init__(self) -> None:
        self.log = MemoryLog()

    def crash(self) -> None:
        self.log.crash(0)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


class PartitionHarness:
    def __init__(self, disk: PowerLossDisk, path: Path) -> None:
        self.disk = disk
        self.path = path
        self.log = PartitionRaftLog.open(path, CONFIG, clock=lambda: 0)

    def crash(self) -> None:
        self.log.abandon()
        self.disk.crash(self.path)
        self.log = PartitionRaftLog.open(self.path, CONFIG, clock=lambda: 0)

    def reopen(self) -> None:
        self.log.close()
        self.log = PartitionRaftLog.open(self.path, CONFIG, clock=lambda: 0)

    def close(self) -> None:
        self.log.close()


Harness = MemoryHarness | PartitionHarness


@pytest.fixture(params=["memory", "partition"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness()
        return
    with PowerLossDisk(tmp_path) as disk:
        h = PartitionHarness(disk, tmp_path / "node" / "__raft-0")
        yield h
        h.close()


def data(offset: int, epoch: int, payload: bytes | None = None) -> LogEntry:
    return LogEntry(offset, epoch, payload if payload is not None else b"v%d" % offset)


def append_run(log: PartitionRaftLog | MemoryLog, epoch: int, count: int) -> None:
    start = log.end_offset
    log.append([data(start + i, epoch) for i in range(count)])


def test_empty_log(harness: Harness) -> None:
    log = harness.log
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == (0, 0, 0)
    assert log.read(0, 10) == []
    assert log.end_offset_for_epoch(0) == OffsetAndEpoch(0, 0)
    assert log.end_offset_for_epoch(3) == OffsetAndEpoch(0, 0)
    assert log.latest_snapshot() is None
    assert log.flush() == 0


def test_append_and_read(harness: Harness) -> None:
    log = harness.log
    entries = [
        LogEntry(0, 1, encode_leader_change(1, [1, 2, 3]), ControlKind.LEADER_CHANGE),
        data(1, 1),
        LogEntry(2, 1, encode_voters([1, 2, 3, 4]), ControlKind.KRAFT_VOTERS),
        data(3, 2, b""),
        data(4, 2, b"x" * 300),
    ]
    log.append(entries)
    assert log.read(0, 100) == entries
    assert log.read(2, 2) == entries[2:4]
    assert log.read(5, 3) == []
    assert (log.end_offset, log.last_epoch) == (5, 2)


def test_append_refuses_gaps_and_epochs_going_back(harness: Harness) -> None:
    log = harness.log
    append_run(log, 2, 3)
    with pytest.raises(LogCorruption):
        log.append([data(4, 2)])
    with pytest.raises(LogCorruption):
        log.append([data(3, 1)])
    assert log.end_offset == 3


def test_end_offset_for_epoch(harness: Harness) -> None:
    log = harness.log
    append_run(log, 1, 3)  # 0..2
    append_run(log, 3, 2)  # 3..4
    append_run(log, 4, 1)  # 5
    assert log.end_offset_for_epoch(0) == OffsetAndEpoch(0, 0)
    assert log.end_offset_for_epoch(1) == OffsetAndEpoch(3, 1)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(3, 1)
    assert log.end_offset_for_epoch(3) == OffsetAndEpoch(5, 3)
    assert log.end_offset_for_epoch(4) == OffsetAndEpoch(6, 4)
    assert log.end_offset_for_epoch(9) == OffsetAndEpoch(6, 4)


def test_truncate(harness: Harness) -> None:
    log = harness.log
    append_run(log, 1, 4)
    append_run(log, 2, 4)
    log.truncate_to(10)  # past the end: nothing
    assert log.end_offset == 8
    log.truncate_to(4)
    assert (log.end_offset, log.last_epoch) == (4, 1)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(4, 1)
    log.append([data(4, 3)])
    assert log.read(3, 5) == [data(3, 1), data(4, 3)]
    with pytest.raises(LogCorruption):
        log.truncate_to(-1)


def test_create_snapshot(harness: Harness) -> None:
    log = harness.log
    append_run(log, 1, 3)
    append_run(log, 2, 3)
    with pytest.raises(LogCorruption):
        log.create_snapshot(Snapshot(SnapshotId(7, 2), (1,), b""))
    snap = Snapshot(SnapshotId(4, 2), (1, 2, 3), b"state")
    log.create_snapshot(snap)
    assert log.latest_snapshot() == snap
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == (4, 6, 2)
    assert log.read(4, 10) == [data(4, 2), data(5, 2)]
    with pytest.raises(LogCorruption):
        log.read(3, 1)
    with pytest.raises(LogCorruption):
        log.truncate_to(3)
    assert log.end_offset_for_epoch(1) == OffsetAndEpoch(4, 0)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(6, 2)
    # A snapshot of the whole log: the snapshot alone answers.
    log.create_snapshot(Snapshot(SnapshotId(6, 2), (1, 2), b"all"))
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == (6, 6, 2)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(6, 2)
    assert log.end_offset_for_epoch(5) == OffsetAndEpoch(6, 2)


def test_install_snapshot_replaces_the_log(harness: Harness) -> None:
    log = harness.log
    append_run(log, 1, 5)
    snap = Snapshot(SnapshotId(3, 4), (2, 3), b"leader's")
    log.install_snapshot(snap)
    assert log.latest_snapshot() == snap
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == (3, 3, 4)
    assert log.end_offset_for_epoch(4) == OffsetAndEpoch(3, 4)
    assert log.read(3, 10) == []
    log.append([data(3, 5)])
    assert log.read(3, 10) == [data(3, 5)]


def test_flush_counts_what_was_there_when_it_started(harness: Harness) -> None:
    log = harness.log
    append_run(log, 1, 3)
    log.start_flush()
    append_run(log, 1, 2)  # while the fsync runs
    assert log.complete_flush() == 3
    assert log.durable_end_offset == 3
    assert log.flush() == 5


def test_truncation_during_a_flush_caps_it(harness: Harness) -> None:
    log = harness.log
    append_run(log, 1, 6)
    log.start_flush()
    log.truncate_to(2)
    append_run(log, 2, 3)
    assert log.complete_flush() == 2


def test_crash_drops_the_unflushed_tail(harness: Harness) -> None:
    append_run(harness.log, 1, 4)
    harness.log.flush()
    append_run(harness.log, 2, 3)
    harness.crash()
    log = harness.log
    assert (log.end_offset, log.last_epoch) == (4, 1)
    assert log.read(0, 10) == [data(i, 1) for i in range(4)]
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(4, 1)


def test_crash_during_a_flush_keeps_only_the_earlier_one(harness: Harness) -> None:
    append_run(harness.log, 1, 2)
    harness.log.flush()
    append_run(harness.log, 1, 2)
    harness.log.start_flush()
    harness.crash()
    assert harness.log.end_offset == 2


def test_truncation_is_durable(harness: Harness) -> None:
    append_run(harness.log, 1, 6)
    harness.log.flush()
    harness.log.truncate_to(2)
    harness.crash()
    assert harness.log.end_offset == 2
    append_run(harness.log, 3, 1)
    harness.log.flush()
    harness.crash()
    assert harness.log.read(0, 10) == [data(0, 1), data(1, 1), data(2, 3)]


def test_snapshots_are_durable_on_return(harness: Harness) -> None:
    append_run(harness.log, 1, 5)
    harness.log.flush()
    snap = Snapshot(SnapshotId(3, 1), (1, 2, 3), b"s")
    harness.log.create_snapshot(snap)
    harness.crash()
    log = harness.log
    assert log.latest_snapshot() == snap
    assert (log.log_start_offset, log.end_offset) == (3, 5)
    installed = Snapshot(SnapshotId(9, 2), (1,), b"i")
    log.install_snapshot(installed)
    harness.crash()
    log = harness.log
    assert log.latest_snapshot() == installed
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == (9, 9, 2)


def test_clean_reopen_keeps_everything(harness: Harness) -> None:
    append_run(harness.log, 1, 3)
    harness.log.create_snapshot(Snapshot(SnapshotId(2, 1), (1,), b"s"))
    append_run(harness.log, 2, 3)
    harness.reopen()
    log = harness.log
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == (2, 6, 2)
    assert log.read(2, 10) == [data(2, 1), *(data(i, 2) for i in range(3, 6))]
    assert log.latest_snapshot() == Snapshot(SnapshotId(2, 1), (1,), b"s")


def test_delete_before_moves_the_start_without_a_snapshot(harness: Harness) -> None:
    log = harness.log
    append_run(log, 1, 3)
    append_run(log, 2, 3)
    for bad in (0, 6, 7):
        with pytest.raises(LogCorruption):
            log.delete_before(bad)
    log.delete_before(4)
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == (4, 6, 2)
    assert log.latest_snapshot() is None
    assert log.read(4, 10) == [data(4, 2), data(5, 2)]
    assert log.end_offset_for_epoch(1) == OffsetAndEpoch(4, 0)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(6, 2)
    log.flush()
    harness.crash()  # durable on return
    assert (harness.log.log_start_offset, harness.log.end_offset) == (4, 6)


def test_delete_before_after_a_snapshot(harness: Harness) -> None:
    log = harness.log
    append_run(log, 1, 4)
    log.create_snapshot(Snapshot(SnapshotId(2, 1), (1,), b"s"))
    append_run(log, 3, 2)
    log.delete_before(5)
    assert log.log_start_offset == 5
    # The snapshot no longer stands for the log start.
    assert log.end_offset_for_epoch(1) == OffsetAndEpoch(5, 0)
    assert log.end_offset_for_epoch(3) == OffsetAndEpoch(6, 3)


# -- hypothesis: the partition log behaves as MemoryLog -----------------------------

operation = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 2), st.integers(1, 5), st.integers(0, 3)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("snapshot"), st.floats(0, 1)),
    st.tuples(st.just("install"), st.integers(0, 6), st.integers(0, 2)),
    st.tuples(st.just("delete"), st.floats(0, 1)),
    st.tuples(st.just("flush")),
    st.tuples(st.just("start_flush")),
    st.tuples(st.just("complete_flush")),
    st.tuples(st.just("crash")),
    st.tuples(st.just("reopen")),
)


def entry_for(offset: int, epoch: int, kind: int) -> LogEntry:
    if kind == 1:
        return LogEntry(
            offset, epoch, encode_leader_change(offset % 5, [1, 2, 3]), ControlKind.LEADER_CHANGE
        )
    if kind == 2:
        return LogEntry(
            offset, epoch, encode_voters(range(offset % 4 + 1)), ControlKind.KRAFT_VOTERS
        )
    return LogEntry(offset, epoch, b"p%d" % offset * (offset % 7))


def same_state(log: PartitionRaftLog, model: MemoryLog) -> None:
    assert log.log_start_offset == model.log_start_offset
    assert log.end_offset == model.end_offset
    assert log.last_epoch == model.last_epoch
    assert log.latest_snapshot() == model.latest_snapshot()
    start = model.log_start_offset
    assert log.read(start, 1000) == model.read(start, 1000)
    assert log.voter_records(start) == model.voter_records(start)
    for epoch in range(model.last_epoch + 2):
        assert log.end_offset_for_epoch(epoch) == model.end_offset_for_epoch(epoch), epoch


def apply(h: PartitionHarness, model: MemoryLog, op: tuple[object, ...]) -> None:
    log = h.log
    name = op[0]
    if name == "append":
        _, bump, count, kind = op
        assert isinstance(bump, int) and isinstance(count, int) and isinstance(kind, int)
        epoch = max(model.last_epoch, 1) + bump
        entries = [
            entry_for(model.end_offset + i, epoch, kind if i == 0 else 0) for i in range(count)
        ]
        log.append(entries)
        model.append(entries)
    elif name == "truncate":
        assert isinstance(op[1], float)
        target = model.log_start_offset + int((model.end_offset - model.log_start_offset) * op[1])
        log.truncate_to(target)
        model.truncate_to(target)
    elif name == "snapshot":
        assert isinstance(op[1], float)
        span = model.end_offset - model.log_start_offset
        if span == 0:
            return
        end = model.log_start_offset + 1 + int((span - 1) * op[1])
        epoch = model.read(end - 1, 1)[0].epoch
        snap = Snapshot(SnapshotId(end, epoch), (1, 2), b"s%d" % end)
        log.create_snapshot(snap)
        model.create_snapshot(snap)
    elif name == "delete":
        assert isinstance(op[1], float)
        span = model.end_offset - model.log_start_offset
        if span < 2:
            return
        end = model.log_start_offset + 1 + int((span - 2) * op[1])
        log.delete_before(end)
        model.delete_before(end)
    elif name == "install":
        _, ahead, bump = op
        assert isinstance(ahead, int) and isinstance(bump, int)
        end = model.log_start_offset + ahead
        snap = Snapshot(SnapshotId(end, max(model.last_epoch, 1) + bump), (3,), b"i%d" % end)
        log.install_snapshot(snap)
        model.install_snapshot(snap)
    elif name == "flush":
        assert log.flush() == model.flush()
    elif name == "start_flush":
        log.start_flush()
        model.start_flush()
    elif name == "complete_flush":
        # The storage may have made more durable (a truncation, a deletion
        # or a snapshot fsyncs), never less.
        assert model.complete_flush() <= log.complete_flush() <= model.end_offset
    elif name == "crash":
        durable, end = model.durable_end_offset, model.end_offset
        h.crash()
        # The storage may have made more durable than asked (a truncation
        # fsyncs the segment it cuts): a prefix of the unflushed tail survives.
        kept = h.log.end_offset - durable
        assert 0 <= kept <= end - durable
        model.crash(kept)
    elif name == "reopen":
        model.flush()
        h.reopen()
    same_state(h.log, model)


@settings(
    max_examples=60,
    database=None,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(operation, max_size=40))
def test_partition_log_behaves_as_memory_log(tmp_path: Path, ops: list[tuple[object, ...]]) -> None:
    base = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
    base.mkdir()
    with PowerLossDisk(base) as disk:
        h = PartitionHarness(disk, base / "node" / "__raft-0")
        model = MemoryLog()
        try:
            for op in ops:
                apply(h, model, op)
            h.crash()
            assert h.log.end_offset >= model.durable_end_offset
        finally:
            h.close()
