"""The quorum-state file and the metadata log as a RaftLog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.controller.quorum import cluster_id
from broker.raft import Snapshot
from broker.raft.log import LogCorruption
from broker.raft.messages import ControlKind, LogEntry, OffsetAndEpoch, SnapshotId
from broker.raft.types import ElectionState
from broker.replication import meta
from broker.replication.election_store import ElectionStore, ElectionStoreError
from broker.replication.metadata_log import MetadataLog
from broker.storage.config import LogConfig
from broker.storage.log import PartitionLog


def test_quorum_state_round_trips_in_kafka_field_names(tmp_path: Path) -> None:
    store = ElectionStore(tmp_path)
    assert store.state is None
    assert store.open_incarnation() == 1
    store.write(ElectionState(7, 2, 3))
    raw = json.loads((tmp_path / "quorum-state").read_text())
    assert raw["leaderId"] == 2 and raw["leaderEpoch"] == 7 and raw["votedId"] == 3
    again = ElectionStore(tmp_path)
    assert again.state == ElectionState(7, 2, 3)
    assert again.open_incarnation() == 2  # a restart is a new incarnation
    store.write(ElectionState(8, None, None))
    assert ElectionStore(tmp_path).state == ElectionState(8, None, None)
    assert not list(tmp_path.glob("*.tmp"))


def test_a_torn_quorum_state_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "quorum-state").write_text('{"leaderId": 1, "leaderEp')
    with pytest.raises(ElectionStoreError, match="quorum-state"):
        ElectionStore(tmp_path)


def open_log(path: Path) -> MetadataLog:
    return MetadataLog(PartitionLog.open(path, LogConfig(), 0), lambda: 1_700_000_000_000)


def entries(start: int, epoch: int, count: int) -> list[LogEntry]:
    return [LogEntry(start + i, epoch, b"p%d" % (start + i)) for i in range(count)]


def test_metadata_log_appends_reads_truncates_and_survives_a_restart(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    assert (log.end_offset, log.last_epoch) == (0, 0)
    first = [LogEntry(0, 1, b"\x00\x00\x00\x01", ControlKind.LEADER_CHANGE), *entries(1, 1, 3)]
    log.append(first)
    log.append(entries(4, 3, 2))
    assert log.read(0, 100) == [*first, *entries(4, 3, 2)]
    assert log.read(2, 2) == entries(2, 1, 2)
    assert log.end_offset_for_epoch(1) == OffsetAndEpoch(4, 1)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(4, 1)
    assert log.end_offset_for_epoch(3) == OffsetAndEpoch(6, 3)
    assert log.end_offset_for_epoch(9) == OffsetAndEpoch(6, 3)
    assert log.end_offset_for_epoch(0) == OffsetAndEpoch(0, 0)
    assert log.last_epoch == 3
    log.truncate_to(5)
    assert log.end_offset == 5
    with pytest.raises(LogCorruption):
        log.append(entries(7, 3, 1))
    log.flush()
    log.close()
    again = open_log(tmp_path)
    assert again.read(0, 100) == [*first, *entries(4, 3, 1)]
    assert again.last_epoch == 3


def test_metadata_log_installs_a_snapshot_durably(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append(entries(0, 1, 3))
    snapshot = Snapshot(SnapshotId(10, 2), (1, 2, 3), b"state")
    log.install_snapshot(snapshot)
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == (10, 10, 2)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(10, 2)
    log.append(entries(10, 4, 1))
    log.flush()
    log.close()
    again = open_log(tmp_path)
    assert again.latest_snapshot() == snapshot
    assert again.read(10, 5) == entries(10, 4, 1)


VOTERS = {1: ("a", 9092), 2: ("b", 9092), 3: ("c", 9092)}


def test_fresh_nodes_with_the_same_voters_derive_one_cluster_id(tmp_path: Path) -> None:
    ids = {meta.resolve(tmp_path / f"n{i}", i, None, VOTERS) for i in VOTERS}
    assert len(ids) == 1
    (cluster_id,) = ids
    assert len(cluster_id) == 22  # a base64 uuid, as Kafka prints one
    assert meta.resolve(tmp_path / "other", 1, None, {1: ("a", 9092)}) != cluster_id
    props = meta.read(tmp_path / "n2")
    assert props is not None and props["node.id"] == "2" and props["cluster.id"] == cluster_id
    assert len(props["directory.id"]) == 22
    # A restart reads it back; the configured id must agree with it.
    assert meta.resolve(tmp_path / "n2", 2, None, VOTERS) == cluster_id
    with pytest.raises(meta.MetaPropertiesError, match="does not match"):
        meta.resolve(tmp_path / "n2", 2, "another", VOTERS)


def test_a_directory_of_another_node_is_refused(tmp_path: Path) -> None:
    meta.format_dir(tmp_path / "d", "cluster-a", 7)
    with pytest.raises(meta.MetaPropertiesError, match="belongs to node 7, not to node 2"):
        meta.resolve(tmp_path / "d", 2, None, VOTERS)
    with pytest.raises(ValueError, match="belongs to node 7, not to node 1"):
        cluster_id(tmp_path / "d", 1, None)  # the single-voter path checks it too
    with pytest.raises(meta.MetaPropertiesError, match="already formatted"):
        meta.format_dir(tmp_path / "d", "cluster-a", 7)
    assert cluster_id(tmp_path / "d", 7, None) == "cluster-a"
