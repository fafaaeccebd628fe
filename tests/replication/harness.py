"""Three Raft drivers in one trio.run, wired by in-memory streams.

Each node has the real pieces: a MetadataLog over a PartitionLog in a
temporary directory, an ElectionStore, a RaftDriver, Peers with RaftLinks,
and a server loop that frames Kafka requests and answers them through
broker/replication/service.py, exactly as the broker's handlers do. Only
the sockets are replaced: ``connect`` hands out one end of a
``trio.testing.memory_stream_pair`` and serves the other end as the target
node. A partition makes ``connect`` fail and closes the streams it cuts.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
import trio.testing

from broker.clock import TrioClock
from broker.raft import Ready, Role
from broker.raft.messages import LogEntry
from broker.replication import service, wire
from broker.replication.driver import RaftDriver
from broker.replication.election_store import ElectionStore
from broker.replication.metadata_log import MetadataLog
from broker.replication.metadata_quorum import RaftMetadataQuorum
from broker.replication.peers import Peers
from broker.replication.wire import METADATA_GROUP
from broker.storage.config import LogConfig
from broker.storage.log import PartitionLog
from broker.wire.framing import FrameReader
from broker.wire.protocol import decode_request, encode_response

CLUSTER = "test-cluster"
LIVENESS_S = 60.0  # virtual seconds: a bound on liveness, not a timing assertion


def now_ms() -> int:
    return int(trio.current_time() * 1000)


@dataclass
class SimNode:
    node_id: int
    directory: Path
    driver: RaftDriver | None = None
    quorum: RaftMetadataQuorum | None = None
    log: MetadataLog | None = None
    scope: trio.CancelScope | None = None
    applied: list[LogEntry] = field(default_factory=list)

    @property
    def raft(self) -> Any:
        assert self.driver is not None
        return self.driver.groups[METADATA_GROUP].node

    @property
    def alive(self) -> bool:
        return self.driver is not None

    def on_commit(self, rd: Ready) -> None:
        self.applied.extend(rd.committed)


class Network:
    def __init__(
        self,
        root: Path,
        ids: tuple[int, ...] = (1, 2, 3),
        seed: int = 0,
        *,
        quorums: bool = False,
    ) -> None:
        """``quorums``: each node runs a RaftMetadataQuorum (driver, peers and
        apply task) instead of a bare driver."""
        self.quorums = quorums
        self.ids = ids
        self.nodes = {i: SimNode(i, root / f"node-{i}") for i in ids}
        self.addresses = {i: ("node", 9000 + i) for i in ids}
        self.blocked: set[frozenset[int]] = set()
        self.streams: dict[frozenset[int], list[trio.abc.Stream]] = {}
        self.rng = random.Random(seed)
        self.nursery: trio.Nursery | None = None
        self.groups = [METADATA_GROUP]
        """The groups the nodes serve Raft requests for."""
        self.requests: dict[int, int] = {}
        """Wire requests served, per node."""

    # -------------------------------------------------------- lifecycle

    async def start(self, node_id: int) -> None:
        assert self.nursery is not None
        await self.nursery.start(self._run_node, self.nodes[node_id])

    async def _run_node(self, sim: SimNode, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        if self.quorums:
            await self._run_quorum(sim, task_status)
            return
        directory = sim.directory / "__cluster_metadata-0"
        plog = PartitionLog.open(directory, LogConfig(), now_ms())
        log = MetadataLog(plog, now_ms)
        store = ElectionStore(directory)
        peers = self._peers(sim)
        driver = RaftDriver(sim.node_id, peers)
        peers.deliver = driver.deliver
        driver.add_group(
            METADATA_GROUP,
            log,
            store,
            self.ids,
            sim.on_commit,
            rng=random.Random(self.rng.random()),
            flush_in_thread=False,
        )
        sim.applied = []
        with trio.CancelScope() as scope:
            sim.scope, sim.driver, sim.log = scope, driver, log
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(peers.run)
                    await nursery.start(driver.run)
                    task_status.started()
            finally:
                sim.driver = None
                sim.scope = None
                plog.abandon()

    def _peers(self, sim: SimNode) -> Peers:
        return Peers(
            sim.node_id,
            self.addresses,
            CLUSTER,
            [METADATA_GROUP],
            connect=self._connector(sim.node_id),
        )

    async def _run_quorum(self, sim: SimNode, task_status: Any) -> None:
        peers = self._peers(sim)
        quorum = RaftMetadataQuorum(
            sim.directory, TrioClock(), sim.node_id, self.addresses, CLUSTER, peers=peers
        )
        for group in quorum.driver.groups.values():
            group.flush_in_thread = False
            group.node._rng = random.Random(self.rng.random())
        with trio.CancelScope() as scope:
            sim.scope, sim.driver, sim.quorum, sim.log = scope, quorum.driver, quorum, None
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(quorum.run)
                    task_status.started()
            finally:
                sim.driver = sim.quorum = sim.scope = None
                quorum.log.abandon()

    def kill(self, node_id: int) -> None:
        sim = self.nodes[node_id]
        assert sim.scope is not None
        sim.scope.cancel()
        for pair, streams in self.streams.items():
            if node_id in pair:
                for stream in streams:
                    self._close(stream)

    # -------------------------------------------------------- network

    def partition(self, *groups: set[int]) -> None:
        """Cut every link between nodes of different groups."""
        for a in self.ids:
            for b in self.ids:
                if a < b and not any(a in g and b in g for g in groups):
                    pair = frozenset({a, b})
                    self.blocked.add(pair)
                    for stream in self.streams.pop(pair, []):
                        self._close(stream)

    def heal(self) -> None:
        self.blocked.clear()

    @staticmethod
    def _close(stream: trio.abc.Stream) -> None:
        assert isinstance(stream, trio.StapledStream)
        stream.send_stream.close()
        stream.receive_stream.close()

    def _connector(self, source: int) -> Any:
        async def connect(_host: str, port: int) -> trio.abc.Stream:
            target = port - 9000
            pair = frozenset({source, target})
            if pair in self.blocked or not self.nodes[target].alive:
                raise OSError(f"node {target} unreachable from {source}")
            client, server = trio.testing.memory_stream_pair()
            self.streams.setdefault(pair, []).extend([client, server])
            assert self.nursery is not None
            self.nursery.start_soon(self._serve, target, server)
            return client

        return connect

    async def _serve(self, target: int, stream: trio.abc.Stream) -> None:
        reader = FrameReader()
        try:
            while True:
                frame = reader.next_frame()
                if frame is None:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    reader.feed(data)
                    continue
                driver = self.nodes[target].driver
                if driver is None:
                    return
                request = decode_request(frame)
                self.requests[target] = self.requests.get(target, 0) + 1
                body = await service.serve(
                    driver,
                    CLUSTER,
                    wire.group_index(self.groups),
                    request.header.api_key,
                    request.body,
                    now_ms(),
                )
                parts = encode_response(
                    request.header.api_key,
                    request.header.api_version,
                    request.header.correlation_id,
                    body,
                )
                await stream.send_all(b"".join(bytes(p) for p in parts))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    # -------------------------------------------------------- queries

    def leaders(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.alive and n.raft.role is Role.LEADER]

    async def wait_for_leader(self, among: set[int] | None = None) -> SimNode:
        while True:
            found = [
                n
                for n in self.leaders()
                if among is None or n.node_id in among
                if n.raft.high_watermark > 0
            ]
            if len(found) == 1:
                return found[0]
            await trio.sleep(0.05)

    async def propose(self, payload: bytes) -> tuple[int, int]:
        leader = await self.wait_for_leader()
        assert leader.driver is not None
        return await leader.driver.propose(METADATA_GROUP, payload)

    async def wait_applied(self, offset: int, nodes: set[int]) -> None:
        while not all(
            self.nodes[i].applied and self.nodes[i].applied[-1].offset >= offset for i in nodes
        ):
            await trio.sleep(0.05)

    def user_entries(self, node_id: int) -> list[bytes]:
        return [e.payload for e in self.nodes[node_id].applied if e.control is None]


def run(
    test: Callable[[Network], Awaitable[None]],
    tmp_path: Path,
    seed: int = 0,
    *,
    quorums: bool = False,
) -> None:
    """Start the three nodes, run ``test`` under MockClock, stop everything."""

    async def main() -> None:
        net = Network(tmp_path, seed=seed, quorums=quorums)
        async with trio.open_nursery() as nursery:
            net.nursery = nursery
            for node_id in net.ids:
                await net.start(node_id)
            with trio.fail_after(LIVENESS_S):
                await test(net)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
