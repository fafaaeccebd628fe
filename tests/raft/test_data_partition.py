"""Data partitions (issue 12 items 3 and 4): no state machine, only the high
watermark reported; a log start moved without a snapshot (retention,
DeleteRecords) never makes the core raise: a follower below it is reset with
an empty snapshot at the leader's log start (Kafka's follower truncates
fully and starts there), or, with a state machine, told OFFSET_OUT_OF_RANGE."""

from __future__ import annotations

from dataclasses import replace

from broker.raft.messages import OFFSET_OUT_OF_RANGE, FetchResponse
from broker.raft.node import RaftNode
from broker.raft.types import RaftConfig, Ready
from tests.raft.cluster import Cluster

DATA = RaftConfig(state_machine=False)


class RecordingCluster(Cluster):
    def __init__(self, voters: tuple[int, ...], config: RaftConfig) -> None:
        self.readies: list[tuple[int, Ready]] = []
        super().__init__(voters, config)

    def handle(self, node_id: int, rd: Ready) -> None:
        self.readies.append((node_id, rd))
        super().handle(node_id, rd)


def commit(cluster: Cluster, leader: RaftNode, count: int, rounds: int = 30) -> None:
    for i in range(count):
        leader.propose(b"r%d" % i)
    for _ in range(rounds):
        cluster.round()


def test_a_data_partition_applies_nothing_and_reports_the_high_watermark() -> None:
    cluster = RecordingCluster((1, 2, 3), DATA)
    leader = cluster.run_until_leader(100)
    assert leader is not None
    commit(cluster, leader, 5)
    assert leader.high_watermark == leader.log.end_offset == 6  # leader change + 5
    assert all(rd.committed == [] for _, rd in cluster.readies)
    for node_id in (1, 2, 3):
        core = cluster.core(node_id)
        assert core.applied_offset == core.high_watermark == 6
        reported = [rd.high_watermark for i, rd in cluster.readies if i == node_id]
        assert reported[-1] == 6


def behind_a_moved_log_start(config: RaftConfig) -> tuple[Cluster, RaftNode]:
    """Node 3 is down while the others commit and delete their prefix."""
    cluster = Cluster((1, 2, 3), config)
    leader = cluster.run_until_leader(100)
    assert leader is not None
    behind = 3 if leader.node_id != 3 else 2
    cluster.kill(behind)
    commit(cluster, leader, 8)
    assert leader.high_watermark == 9
    for host in cluster.hosts.values():
        if host.node_id != behind:
            host.log.delete_before(7)
    cluster.start(behind)
    return cluster, cluster.core(behind)


def test_a_follower_below_the_log_start_is_reset_with_an_empty_snapshot() -> None:
    cluster, follower = behind_a_moved_log_start(DATA)
    for _ in range(40):
        cluster.round()
    leader = cluster.leader()
    assert leader is not None
    assert follower.log.log_start_offset == 7
    assert follower.log.latest_snapshot() is not None
    assert follower.log.read(7, 10) == leader.log.read(7, 10)
    assert follower.high_watermark == leader.high_watermark == 9
    # It keeps following: new records reach it.
    commit(cluster, leader, 2)
    assert follower.log.end_offset == leader.log.end_offset == 11


def test_with_a_state_machine_it_is_told_offset_out_of_range() -> None:
    cluster, follower = behind_a_moved_log_start(RaftConfig())
    for _ in range(40):
        cluster.round()  # no exception in any core
    errors = {
        env.message.error_code
        for env in cluster.sent
        if isinstance(env.message, FetchResponse) and env.destination == follower.node_id
    }
    assert OFFSET_OUT_OF_RANGE in errors
    assert follower.log.end_offset == 0


def test_a_follower_whose_last_epoch_the_leader_forgot_is_reset() -> None:
    """Its fetch offset is inside the leader's log but its last epoch is
    older than every epoch the leader still holds."""
    cluster = Cluster((1, 2, 3), replace(DATA, pre_vote=True))
    leader = cluster.run_until_leader(100)
    assert leader is not None
    commit(cluster, leader, 2)  # epoch e: offsets 0..2 everywhere
    behind = 3 if leader.node_id != 3 else 2
    cluster.kill(behind)
    old = leader
    old_id = old.node_id
    cluster.kill(old_id)  # a new leader, a new epoch
    cluster.start(old_id)
    leader = cluster.run_until_leader(200)
    assert leader is not None and leader.epoch > old.epoch
    commit(cluster, leader, 6)
    end = leader.log.end_offset
    for host in cluster.hosts.values():
        if host.node_id != behind and host.core is not None:
            host.log.delete_before(end - 1)
    cluster.start(behind)
    for _ in range(60):
        cluster.round()
    follower = cluster.core(behind)
    leader = cluster.leader()
    assert leader is not None
    assert follower.log.log_start_offset == leader.log.log_start_offset
    assert follower.log.end_offset == leader.log.end_offset
