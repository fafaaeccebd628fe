"""The quorum-state file: Kafka's format, atomic replacement, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.raft.types import ElectionState
from broker.replication.quorum_state import QuorumStateCorrupt, QuorumStateStore
from broker.storage.power_loss import PowerLossDisk


def test_missing_file_is_a_new_replica(tmp_path: Path) -> None:
    assert QuorumStateStore(tmp_path).load() is None


def test_round_trip_in_kafkas_format(tmp_path: Path) -> None:
    store = QuorumStateStore(tmp_path)
    store.save(ElectionState(5, 1, None))
    text = (tmp_path / "quorum-state").read_text()
    assert text == (
        '{"leaderId":1,"leaderEpoch":5,"votedId":-1,'
        '"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}'
    )
    assert store.load() == ElectionState(5, 1, None)
    store.save(ElectionState(6, None, 3))
    assert store.load() == ElectionState(6, None, 3)
    assert json.loads(text)["data_version"] == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_reads_version_0_as_kafka_wrote_it(tmp_path: Path) -> None:
    # Byte for byte what a Kafka 4.1.2 controller with a static
    # controller.quorum.voters (kraft.version 0) wrote after its election.
    (tmp_path / "quorum-state").write_text(
        '{"clusterId":"","leaderId":1,"leaderEpoch":1,"votedId":-1,"appliedOffset":0,'
        '"currentVoters":[{"voterId":1}],"data_version":0}'
    )
    assert QuorumStateStore(tmp_path).load() == ElectionState(1, 1, None)
    (tmp_path / "quorum-state").write_text(
        '{"clusterId":"","leaderId":-1,"leaderEpoch":7,"votedId":2,"appliedOffset":0,'
        '"currentVoters":[{"voterId":1},{"voterId":2}],"data_version":0}'
    )
    assert QuorumStateStore(tmp_path).load() == ElectionState(7, None, 2)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n",
        b"{not json",
        b"[1, 2]",
        b'{"leaderId":1,"leaderEpoch":5,"votedId":-1,"data_version":1}',  # no votedDirectoryId
        b'{"leaderId":1,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}',
        b'{"leaderId":1,"leaderEpoch":-3,"votedId":-1,"data_version":0}',
        b'{"leaderId":"1","leaderEpoch":5,"votedId":-1,"data_version":0}',
        b'{"leaderId":1,"leaderEpoch":5,"votedId":-1,"data_version":2}',
        b"\xff\xfe",
    ],
)
def test_corrupt_file_names_itself(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "quorum-state"
    path.write_bytes(content)
    with pytest.raises(QuorumStateCorrupt, match=str(path)):
        QuorumStateStore(tmp_path).load()


def test_a_save_survives_a_power_loss_whole(tmp_path: Path) -> None:
    with PowerLossDisk(tmp_path) as disk:
        node = tmp_path / "node"
        node.mkdir()
        store = QuorumStateStore(node)
        store.save(ElectionState(1, None, 1))
        store.save(ElectionState(2, 2, 2))
        disk.crash(node)
        assert store.load() == ElectionState(2, 2, 2)
