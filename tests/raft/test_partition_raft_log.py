"""What only the storage-backed Raft log has: Kafka's formats on disk (read
back by kafka-python, a Kafka client that skips control batches), snapshot
files, and the reconciliation at open after a crash cut an operation short."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords

from broker.raft.control import encode_leader_change, encode_voters
from broker.raft.log import Snapshot
from broker.raft.messages import ControlKind, LogEntry, SnapshotId
from broker.replication.raft_log import (
    PartitionRaftLog,
    SnapshotCorrupt,
    snapshot_name,
    write_snapshot_file,
)
from broker.wire.generated import leader_change_message, voters_record


def open_log(path: Path) -> PartitionRaftLog:
    return PartitionRaftLog.open(path, clock=lambda: 1_700_000_000_000)


def batches(data: bytes) -> list[DefaultRecordBatch]:
    records = MemoryRecords(data)
    found: list[DefaultRecordBatch] = []
    while True:
        batch = records.next_batch()
        if batch is None:
            return found
        found.append(batch)


def test_entries_are_kafka_batches_and_control_batches(tmp_path: Path) -> None:
    log = open_log(tmp_path / "p")
    log.append(
        [
            LogEntry(0, 3, encode_leader_change(7, [7, 8, 9]), ControlKind.LEADER_CHANGE),
            LogEntry(1, 3, b"payload"),
            LogEntry(2, 3, encode_voters([7, 8]), ControlKind.KRAFT_VOTERS),
        ]
    )
    log.close()
    found = batches((tmp_path / "p" / "00000000000000000000.log").read_bytes())
    assert [(b.base_offset, b.leader_epoch, b.is_control_batch) for b in found] == [
        (0, 3, True),
        (1, 3, False),
        (2, 3, True),
    ]
    for batch in found:
        assert batch.validate_crc()
    leader_change, data, voters = (next(iter(b)) for b in found)
    assert data.key is None and data.value == b"payload"
    assert leader_change.key == b"\x00\x00\x00\x02"  # version 0, LEADER_CHANGE
    message, _ = leader_change_message.DECODERS[0](memoryview(leader_change.value), 0)
    assert message.leader_id == 7
    assert [v.voter_id for v in message.voters] == [7, 8, 9]
    assert voters.key == b"\x00\x00\x00\x06"  # version 0, KRAFT_VOTERS
    record, _ = voters_record.DECODERS[0](memoryview(voters.value), 0)
    assert [v.voter_id for v in record.voters] == [7, 8]


def test_snapshot_file_is_kafkas_checkpoint(tmp_path: Path) -> None:
    log = open_log(tmp_path / "p")
    log.append([LogEntry(i, 5, b"e%d" % i) for i in range(12)])
    log.create_snapshot(Snapshot(SnapshotId(10, 5), (1, 2, 3), b"image"))
    path = tmp_path / "p" / "00000000000000000010-0000000005.checkpoint"
    assert snapshot_name(SnapshotId(10, 5)) == path.name
    found = batches(path.read_bytes())
    assert [b.is_control_batch for b in found] == [True, True, False, True]
    assert {b.leader_epoch for b in found} == {5}
    header, kraft, data, footer = ([(r.offset, r.key, r.value) for r in b] for b in found)
    assert header[0][1] == b"\x00\x00\x00\x03"  # SNAPSHOT_HEADER
    assert [r[1] for r in kraft] == [b"\x00\x00\x00\x05", b"\x00\x00\x00\x06"]
    assert data == [(3, None, b"image")]
    assert footer[0][1] == b"\x00\x00\x00\x04"  # SNAPSHOT_FOOTER
    assert [r[0] for r in header + kraft + data + footer] == [0, 1, 2, 3, 4]


def test_only_the_latest_snapshot_is_kept(tmp_path: Path) -> None:
    log = open_log(tmp_path / "p")
    log.append([LogEntry(i, 1, b"") for i in range(6)])
    log.create_snapshot(Snapshot(SnapshotId(2, 1), (1,), b"a"))
    log.create_snapshot(Snapshot(SnapshotId(4, 1), (1,), b"b"))
    names = sorted(p.name for p in (tmp_path / "p").glob("*.checkpoint"))
    assert names == [snapshot_name(SnapshotId(4, 1))]


@pytest.mark.parametrize(
    ("log_epoch", "expected"),
    [
        # An install cut short (snapshot written, log not yet emptied): the
        # entry below the snapshot's end has another epoch, the log is emptied.
        (1, (5, 5, 2)),
        # A create whose log start was not durable yet: same epoch there, so
        # by log matching the log holds the snapshot's prefix; the start moves.
        (2, (5, 8, 2)),
    ],
)
def test_open_reconciles_a_snapshot_with_the_log(
    tmp_path: Path, log_epoch: int, expected: tuple[int, int, int]
) -> None:
    path = tmp_path / "p"
    log = open_log(path)
    log.append([LogEntry(i, log_epoch, b"old") for i in range(8)])
    log.close()
    snap = Snapshot(SnapshotId(5, 2), (1,), b"new")
    write_snapshot_file(path, snap, 0)
    log = open_log(path)
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == expected
    assert log.latest_snapshot() == snap


def test_open_after_an_install_ahead_of_the_log(tmp_path: Path) -> None:
    path = tmp_path / "p"
    log = open_log(path)
    log.append([LogEntry(i, 2, b"e") for i in range(3)])
    log.close()
    write_snapshot_file(path, Snapshot(SnapshotId(9, 2), (1,), b"s"), 0)
    (path / "00000000000000000009-0000000002.checkpoint.part").write_bytes(b"torn")
    log = open_log(path)
    assert (log.log_start_offset, log.end_offset) == (9, 9)
    assert not list(path.glob("*.part"))


def test_a_corrupt_snapshot_names_its_file(tmp_path: Path) -> None:
    path = tmp_path / "p"
    open_log(path).close()
    bad = path / snapshot_name(SnapshotId(4, 1))
    bad.write_bytes(b"\x00" * 30)
    with pytest.raises(SnapshotCorrupt, match=str(bad)):
        open_log(path)


def test_an_unclean_open_makes_the_recovered_log_durable(tmp_path: Path) -> None:
    """The core counts the log it finds at start as durable: after a process
    crash the recovered tail may be only in the page cache, so open fsyncs it."""
    path = tmp_path / "p"
    log = open_log(path)
    log.append([LogEntry(i, 1, b"x") for i in range(5)])
    log.abandon()  # a process crash: no flush, no clean-shutdown marker
    log = open_log(path)
    assert log.end_offset == 5
    assert log.durable_end_offset == 5


READS: list[tuple[int, int]] = []


class CountingLog(PartitionRaftLog):
    __slots__ = ()

    def read(self, from_offset: int, max_entries: int) -> list[LogEntry]:
        found = super().read(from_offset, max_entries)
        READS.append((from_offset, len(found)))
        return found


def test_a_restart_reads_no_entry_of_a_data_partition(tmp_path: Path) -> None:
    """Voter history from the voters index, nothing applied: constructing the
    core on a reopened log reads none of it (issue 12 item 3)."""
    from broker.raft.node import RaftNode
    from broker.raft.rng import SplitMix64
    from broker.raft.types import RaftConfig

    path = tmp_path / "p"
    log = open_log(path)
    log.append([LogEntry(0, 1, encode_leader_change(1, [1, 2, 3]), ControlKind.LEADER_CHANGE)])
    log.append([LogEntry(i, 1, b"x" * 1000) for i in range(1, 500)])
    log.append([LogEntry(500, 1, encode_voters([1, 2]), ControlKind.KRAFT_VOTERS)])
    log.append([LogEntry(i, 2, b"y" * 1000) for i in range(501, 1000)])
    log.close()
    log = CountingLog.open(path, clock=lambda: 0)
    READS.clear()
    node = RaftNode(1, log, (1, 2, 3), SplitMix64(1), RaftConfig(state_machine=False))
    assert node.voters.latest == frozenset({1, 2})
    assert node.voters.at(500) == frozenset({1, 2, 3})
    while node.has_ready():
        node.advance(node.ready())
    assert READS == []


def test_a_lost_or_wrong_voters_index_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "p"
    log = open_log(path)
    log.append([LogEntry(0, 1, encode_voters([1, 2, 3]), ControlKind.KRAFT_VOTERS)])
    log.append([LogEntry(1, 1, b"x"), LogEntry(2, 1, encode_voters([1]), ControlKind.KRAFT_VOTERS)])
    log.close()
    (path / "raft-voters-checkpoint").write_text("0\n1\n1 9 9\n")  # names a data entry
    assert open_log(path).voter_records(0) == [(0, (1, 2, 3)), (2, (1,))]
    (path / "raft-voters-checkpoint").unlink()
    log = open_log(path)
    assert log.voter_records(1) == [(2, (1,))]
    log.truncate_to(2)
    log.close()
    assert (path / "raft-voters-checkpoint").read_text() == "0\n1\n0 1 2 3\n"


def test_kafkas_dump_log_tool_reads_the_log_and_the_snapshot(tmp_path: Path) -> None:
    """Kafka 4.1's kafka-dump-log (kafka.tools.DumpLogSegments) decodes our
    segment and snapshot files: control records by type, data as payload."""
    import shutil
    import subprocess

    from compat.kafka import install

    java = shutil.which("java")
    if java is None or not install.installed():
        pytest.skip("needs java and the Kafka jars (compat/kafka)")
    path = tmp_path / "__cluster_metadata-0"
    log = open_log(path)
    log.append(
        [
            LogEntry(0, 1, encode_leader_change(1, [1, 2, 3]), ControlKind.LEADER_CHANGE),
            LogEntry(1, 1, b"hello"),
            LogEntry(2, 2, encode_voters([1, 2]), ControlKind.KRAFT_VOTERS),
            LogEntry(3, 2, b"world"),
        ]
    )
    log.create_snapshot(Snapshot(SnapshotId(3, 2), (1, 2), b"image"))
    log.close()
    segment = path / "00000000000000000000.log"
    snapshot = path / "00000000000000000003-0000000002.checkpoint"
    done = subprocess.run(
        [
            java,
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            install.classpath(),
            "kafka.tools.DumpLogSegments",
            "--deep-iteration",
            "--print-data-log",
            "--files",
            f"{segment},{snapshot}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = done.stdout
    assert 'LeaderChange: {"version":0,"leaderId":1,"voters":[{"voterId":1}' in out
    assert 'KRaftVoters {"version":0,"voters":[{"voterId":1,' in out
    assert "payload: hello" in out and "payload: world" in out
    assert "Snapshot end offset: 3, epoch: 2" in out
    assert 'SnapshotHeader {"version":0' in out
    assert 'KRaftVersion {"version":0,"kRaftVersion":1}' in out
    assert "payload: image" in out
    assert 'SnapshotFooter {"version":0}' in out
    assert "isvalid: false" not in out and "partitionLeaderEpoch: 2" in out
