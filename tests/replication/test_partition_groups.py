"""Data partitions as Raft groups: three drivers in one trio.run under
MockClock, in-memory streams (tests/replication/harness.py), each node holding
the same two partitions, each a group over a BatchRaftLog (a Kafka batch per
entry) with the data-partition config."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import trio
import trio.testing

from broker.raft import RaftNode, Role
from broker.recordbatch import build_batch
from broker.replication.batch_log import BatchRaftLog
from broker.replication.driver import RaftDriver
from broker.replication.election_store import ElectionStore
from broker.replication.metadata_log import MetadataLog
from broker.replication.partition_groups import DATA_RAFT_CONFIG
from broker.replication.peers import Peers
from broker.replication.wire import METADATA_GROUP, GroupId
from broker.storage.batch import split_batches
from broker.storage.config import LogConfig
from broker.storage.log import PartitionLog
from tests.replication.harness import CLUSTER, Network, SimNode, now_ms

TOPIC_ID = uuid.UUID(int=7)
GROUPS = [GroupId("t", TOPIC_ID, p, data=True) for p in range(2)]
LIVENESS_S = 60.0  # virtual seconds: a bound on liveness, not a timing assertion


class DataNetwork(Network):
    """The harness's network, each node running the two data groups."""

    def __init__(self, root: Path, seed: int = 0, *, metadata: bool = False) -> None:
        super().__init__(root, seed=seed)
        self.logs: dict[int, dict[GroupId, BatchRaftLog]] = {}
        self.groups = list(GROUPS)
        self.metadata = metadata
        """Also run ``__cluster_metadata`` (as a broker node does)."""
        if metadata:
            self.groups.append(METADATA_GROUP)

    async def _run_node(self, sim: SimNode, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        peers = Peers(
            sim.node_id, self.addresses, CLUSTER, self.groups, connect=self._connector(sim.node_id)
        )
        driver = RaftDriver(sim.node_id, peers)
        peers.deliver = driver.deliver
        logs = {}
        if self.metadata:
            directory = sim.directory / "__cluster_metadata-0"
            meta_log = MetadataLog(PartitionLog.open(directory, LogConfig(), now_ms()), now_ms)
            sim.applied = []
            driver.add_group(
                METADATA_GROUP,
                meta_log,
                ElectionStore(directory),
                self.ids,
                sim.on_commit,
                rng=random.Random(self.rng.random()),
                flush_in_thread=False,
            )
        for group_id in GROUPS:
            directory = sim.directory / f"t-{group_id.partition}"
            plog = PartitionLog.open(directory, LogConfig(), now_ms())
            logs[group_id] = BatchRaftLog(plog, now_ms)
            driver.add_group(
                group_id,
                logs[group_id],
                ElectionStore(directory),
                self.ids,
                lambda _rd: None,
                config=DATA_RAFT_CONFIG,
                rng=random.Random(self.rng.random()),
                flush_in_thread=False,
            )
        self.logs[sim.node_id] = logs
        with trio.CancelScope() as scope:
            sim.scope, sim.driver = scope, driver
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(peers.run)
                    await nursery.start(driver.run)
                    task_status.started()
            finally:
                sim.driver = None
                sim.scope = None
                for raft_log in logs.values():
                    raft_log.abandon()
                if self.metadata:
                    meta_log.plog.abandon()

    def core(self, node_id: int, group: GroupId) -> RaftNode:
        driver = self.nodes[node_id].driver
        assert driver is not None
        return driver.groups[group].node

    async def leader_of(self, group: GroupId, among: set[int] | None = None) -> int:
        while True:
            found = [
                i
                for i, n in self.nodes.items()
                if n.alive
                and (among is None or i in among)
                and self.core(i, group).role is Role.LEADER
            ]
            if len(found) == 1:
                return found[0]
            await trio.sleep(0.05)

    async def produce(self, group: GroupId, values: list[bytes]) -> tuple[int, int]:
        """One batch through the group's leader: (base offset, last offset)."""
        while True:
            leader = await self.leader_of(group)
            driver = self.nodes[leader].driver
            assert driver is not None
            batch = build_batch([(None, v) for v in values], timestamp=now_ms())

            def propose(
                core: RaftNode, batch: bytes = batch, leader: int = leader
            ) -> tuple[int, int]:
                result = core.propose(batch)
                assert result.error_code == 0
                info = self.logs[leader][group].last_append
                assert info is not None
                return info.base_offset, info.last_offset

            try:
                return await driver.call(group, propose)  # type: ignore[no-any-return]
            except AssertionError:
                await trio.sleep(0.05)

    async def committed(self, group: GroupId, offset: int, nodes: set[int]) -> None:
        while not all(self.core(i, group).high_watermark > offset for i in nodes):
            await trio.sleep(0.05)

    def data_batches(self, node_id: int, group: GroupId) -> list[bytes]:
        storage = self.logs[node_id][group].storage
        found = storage.read(storage.log_start_offset, 1 << 24)
        view = memoryview(found.records)
        return [
            bytes(view[pos : pos + h.size_in_bytes])
            for pos, h in split_batches(view)
            if not h.is_control
        ]


def run(test: Any, tmp_path: Path, seed: int = 0, *, metadata: bool = False) -> None:
    async def main() -> None:
        net = DataNetwork(tmp_path, seed=seed, metadata=metadata)
        async with trio.open_nursery() as nursery:
            net.nursery = nursery
            for node_id in net.ids:
                await net.start(node_id)
            with trio.fail_after(LIVENESS_S):
                await test(net)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_batches_replicate_whole_and_byte_for_byte(tmp_path: Path) -> None:
    async def body(net: DataNetwork) -> None:
        group = GROUPS[0]
        first = await net.produce(group, [b"a", b"b", b"c"])
        second = await net.produce(group, [b"d"] * 10)
        assert second[0] == first[1] + 1  # a batch takes as many offsets as records
        await net.committed(group, second[1], set(net.ids))
        leader = await net.leader_of(group)
        batches = net.data_batches(leader, group)
        assert len(batches) == 2
        epoch = net.core(leader, group).epoch
        for _pos, header in split_batches(memoryview(batches[0])):
            assert header.partition_leader_epoch == epoch  # the Raft epoch stamps it
        for node_id in net.ids:
            assert net.data_batches(node_id, group) == batches

    run(body, tmp_path)


def test_leader_killed_nothing_committed_is_lost_and_the_old_leader_catches_up(
    tmp_path: Path,
) -> None:
    async def body(net: DataNetwork) -> None:
        group = GROUPS[1]
        acked = []
        for i in range(5):
            _base, last = await net.produce(group, [b"before-%d" % i])
            acked.append(last)
        await net.committed(group, acked[-1], set(net.ids))
        old = await net.leader_of(group)
        net.kill(old)
        survivors = set(net.ids) - {old}
        new = await net.leader_of(group, survivors)
        assert new != old
        _base, last = await net.produce(group, [b"after"])
        await net.committed(group, last, survivors)
        kept = net.data_batches(new, group)
        assert len(kept) == 6
        await net.start(old)
        await net.committed(group, last, set(net.ids))
        assert net.data_batches(old, group) == kept
        assert net.core(old, group).role is Role.FOLLOWER

    run(body, tmp_path, seed=1)


def test_idle_partitions_cost_one_long_polled_fetch_per_follower_and_leader_node(
    tmp_path: Path,
) -> None:
    async def body(net: DataNetwork) -> None:
        for group in GROUPS:
            _base, last = await net.produce(group, [b"x"])
            await net.committed(group, last, set(net.ids))
        # Both groups led by one node: its followers fetch both in one request.
        leaders = {await net.leader_of(g) for g in GROUPS}
        await trio.sleep(2)
        before = dict(net.requests)
        await trio.sleep(10)
        served = sum(net.requests.get(i, 0) - before.get(i, 0) for i in net.ids)
        # Per leader node, each follower node sends one multi-partition fetch
        # per long poll (200 ms): 2 followers x 50 polls = ~100 per leader node.
        # One fetch per partition, or fetches answered at once, would be more.
        assert served <= 130 * len(leaders), served

    run(body, tmp_path, seed=2)


def test_idle_data_partitions_do_not_hold_back_the_metadata_log(tmp_path: Path) -> None:
    """The metadata log commits, and fails over, next to idle data groups in
    the same drivers. (It does not reproduce the head-of-line blocking that
    compat/test_replication.py and bench/bench_replication.py showed when
    data and metadata fetches shared a connection: that needs the metadata
    leader to lead a parked data group too, which this seed does not give.)"""

    async def body(net: DataNetwork) -> None:
        for group in GROUPS:
            _base, last = await net.produce(group, [b"x"])
            await net.committed(group, last, set(net.ids))
        await trio.sleep(2)  # the data partitions idle: their fetches park
        for i in range(3):
            offset, _epoch = await net.propose(b"meta-%d" % i)
            await net.wait_applied(offset, set(net.ids))
        leader = await net.wait_for_leader()
        net.kill(leader.node_id)
        survivors = set(net.ids) - {leader.node_id}
        await net.wait_for_leader(survivors)
        offset, _epoch = await net.propose(b"after")
        await net.wait_applied(offset, survivors)

    run(body, tmp_path, seed=4, metadata=True)
