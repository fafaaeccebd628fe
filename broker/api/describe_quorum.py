"""DescribeQuorum (key 55), versions 0-2 (``kafka-metadata-quorum describe``).

The active controller answers from its Raft state: leader, epoch, high
watermark, and for each voter (and observer) its fetched log end offset and
when it last fetched / was last caught up (wall-clock ms, from the ticks
since). Any other node proxies the request to the active controller, as a
Kafka broker forwards it to the controller quorum. A single-voter node is
its own leader, its log end the high watermark. A partition other than
``__cluster_metadata-0`` gets UNKNOWN_TOPIC_OR_PARTITION; no reachable
leader, NOT_LEADER_OR_FOLLOWER.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.replication.driver import TICK_MS
from broker.wire.generated.describe_quorum_request import DescribeQuorumRequest
from broker.wire.generated.describe_quorum_response import (
    DescribeQuorumResponse,
    Listener,
    PartitionData,
    ReplicaState,
    TopicData,
)
from broker.wire.generated.describe_quorum_response import Node as QuorumNode

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 55
MIN_VERSION = 0
MAX_VERSION = 2
METADATA = "__cluster_metadata"

PROXY_TIMEOUT_S = 5.0


async def handle(ctx: RequestContext, body: DescribeQuorumRequest) -> DescribeQuorumResponse:
    node: Node = ctx.node
    quorum: Any = node.quorum
    wanted = [(t.topic_name, p.partition_index) for t in body.topics for p in t.partitions]
    if wanted != [(METADATA, 0)]:
        return DescribeQuorumResponse(
            topics=[
                TopicData(
                    t.topic_name,
                    [
                        PartitionData(
                            partition_index=p.partition_index,
                            error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                            error_message=f"{t.topic_name}-{p.partition_index} is not a raft log",
                        )
                        for p in t.partitions
                    ],
                )
                for t in body.topics
            ]
        )
    if not hasattr(quorum, "driver"):
        return _single(node)
    if quorum.raft.leader_state is None:
        leader = quorum.leader_id
        if leader is not None and leader != node.node_id:
            from broker.replication.peers import PeerUnavailable

            try:
                response: DescribeQuorumResponse = await quorum.peers.call(
                    leader, API_KEY, ctx.header.api_version, body, PROXY_TIMEOUT_S
                )
                return response
            except PeerUnavailable:
                pass
        return _error(ErrorCode.NOT_LEADER_OR_FOLLOWER, "no reachable quorum leader")
    return _from_leader(node, quorum)


def _error(code: int, message: str) -> DescribeQuorumResponse:
    part = PartitionData(partition_index=0, error_code=code, error_message=message, leader_id=-1)
    return DescribeQuorumResponse(topics=[TopicData(METADATA, [part])])


def _nodes(node: Node, voters: dict[int, tuple[str, int]]) -> list[QuorumNode]:
    name = node.config.advertised_listeners[0][0]
    return [
        QuorumNode(voter, [Listener(name, host, port)])
        for voter, (host, port) in sorted(voters.items())
    ]


def _single(node: Node) -> DescribeQuorumResponse:
    now = node.clock.now_ms()
    end = node.quorum.log.log_end_offset
    me = ReplicaState(node.node_id, log_end_offset=end, last_fetch_timestamp=now,
                      last_caught_up_timestamp=now)  # fmt: skip
    part = PartitionData(
        partition_index=0,
        leader_id=node.node_id,
        leader_epoch=1,
        high_watermark=end,
        current_voters=[me],
    )
    return DescribeQuorumResponse(
        topics=[TopicData(METADATA, [part])], nodes=_nodes(node, node.config.quorum_voters)
    )


def _from_leader(node: Node, quorum: Any) -> DescribeQuorumResponse:
    raft = quorum.raft
    state = raft.leader_state
    now = node.clock.now_ms()
    high_watermark = raft.high_watermark
    voters = sorted(raft.voters.latest)

    def replica(replica_id: int) -> ReplicaState:
        if replica_id == node.node_id:
            return ReplicaState(replica_id, log_end_offset=raft.log.end_offset,
                                last_fetch_timestamp=now, last_caught_up_timestamp=now)  # fmt: skip
        known = state.replicas.get(replica_id)
        if known is None:
            return ReplicaState(replica_id, log_end_offset=-1)
        fetched = now - (raft.now - known.last_fetch_tick) * TICK_MS
        if known.last_fetch_tick < state.since_tick:
            fetched = -1
        caught_up = fetched if known.end_offset >= high_watermark else -1
        return ReplicaState(replica_id, log_end_offset=known.end_offset,
                            last_fetch_timestamp=fetched, last_caught_up_timestamp=caught_up)  # fmt: skip

    observers = sorted(r for r in state.replicas if r not in raft.voters.latest)
    part = PartitionData(
        partition_index=0,
        leader_id=node.node_id,
        leader_epoch=raft.epoch,
        high_watermark=high_watermark,
        current_voters=[replica(v) for v in voters],
        observers=[replica(o) for o in observers],
    )
    return DescribeQuorumResponse(
        topics=[TopicData(METADATA, [part])], nodes=_nodes(node, quorum.voters)
    )
