"""ElectLeaders (key 43), versions 0-2.

What is answered per partition (:func:`decide`, the sans-I/O part):

- an unknown partition: UNKNOWN_TOPIC_OR_PARTITION;
- PREFERRED (type 0): ELECTION_NOT_NEEDED when the preferred (first) replica
  already leads, as Kafka's controller answers; otherwise the election is
  refused, PREFERRED_LEADER_NOT_AVAILABLE with a message saying why (the
  preferred replica is out of sync, or moving Raft leadership on request is
  not implemented yet) -- never a success that did not happen;
- UNCLEAN (type 1): ELECTION_NOT_NEEDED while the partition has a leader;
  without one ELIGIBLE_LEADERS_NOT_AVAILABLE, since unclean election is not
  implemented (``unclean.leader.election.enable=true`` is refused too).

A request for all partitions (null) reports, as Kafka does, the partitions an
election would change: those whose leader is not the preferred replica (for
PREFERRED) or that have no leader (for UNCLEAN); none means an empty result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.generated.elect_leaders_request import ElectLeadersRequest
from broker.wire.generated.elect_leaders_response import (
    ElectLeadersResponse,
    PartitionResult,
    ReplicaElectionResult,
)

if TYPE_CHECKING:
    from broker.controller.image import PartitionImage
    from broker.node import Node

API_KEY = 43
MIN_VERSION = 0
MAX_VERSION = 2

PREFERRED = 0
UNCLEAN = 1


def needed(election_type: int, part: PartitionImage) -> bool:
    """Whether an election of this type would change the partition's leader."""
    if election_type == UNCLEAN:
        return part.leader < 0
    return bool(part.replicas) and part.leader != part.replicas[0]


def decide(election_type: int, part: PartitionImage | None) -> tuple[int, str | None]:
    """The error code and message answered for one partition."""
    if part is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist."
    if election_type not in (PREFERRED, UNCLEAN):
        return ErrorCode.INVALID_REQUEST, f"Unknown election type {election_type}."
    if not needed(election_type, part):
        return ErrorCode.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."
    if election_type == UNCLEAN:
        return (
            ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
            "Unclean leader election is not implemented; the partition waits for a "
            "majority of its replicas.",
        )
    preferred = part.replicas[0]
    if preferred not in part.isr:
        return (
            ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
            f"The preferred leader {preferred} is not in the in-sync replicas.",
        )
    return (
        ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
        f"Moving leadership to preferred leader {preferred} is not implemented yet.",
    )


async def handle(ctx: RequestContext, body: ElectLeadersRequest) -> ElectLeadersResponse:
    node: Node = ctx.node
    kind = body.election_type  # v0 has no field: decoded as 0, PREFERRED
    response = ElectLeadersResponse()
    asked = body.topic_partitions
    if asked is None:
        for name, topic in sorted(node.image.topics.items()):
            indexes = [i for i, p in sorted(topic.partitions.items()) if needed(kind, p)]
            if indexes:
                out = ReplicaElectionResult(topic=name)
                response.replica_election_results.append(out)
                for index in indexes:
                    code, message = decide(kind, topic.partitions[index])
                    out.partition_result.append(PartitionResult(index, code, message))
        return response
    for tp in asked:
        out = ReplicaElectionResult(topic=tp.topic)
        response.replica_election_results.append(out)
        found = node.image.topics.get(tp.topic)
        for index in tp.partitions:
            part = found.partitions.get(index) if found is not None else None
            code, message = decide(kind, part)
            out.partition_result.append(PartitionResult(index, code, message))
    return response
