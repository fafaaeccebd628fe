"""ElectLeaders (key 43), versions 0-2.

Every partition is led by its preferred (first) replica already, and on one
node no replica is out of sync, so no election is ever needed. As Kafka's
controller answers in that case, each partition asked about gets
ELECTION_NOT_NEEDED (clients treat it as success: the leader is where it
should be), an unknown one UNKNOWN_TOPIC_OR_PARTITION, and a request for all
partitions (null) an empty result.
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
    from broker.node import Node

API_KEY = 43
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: RequestContext, body: ElectLeadersRequest) -> ElectLeadersResponse:
    node: Node = ctx.node
    response = ElectLeadersResponse()
    for tp in body.topic_partitions or []:
        out = ReplicaElectionResult(topic=tp.topic)
        response.replica_election_results.append(out)
        topic = node.image.topics.get(tp.topic)
        for index in tp.partitions:
            if topic is None or index not in topic.partitions:
                out.partition_result.append(
                    PartitionResult(
                        index,
                        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        "The partition does not exist.",
                    )
                )
            else:
                out.partition_result.append(
                    PartitionResult(
                        index,
                        ErrorCode.ELECTION_NOT_NEEDED,
                        "Leader election not needed for topic partition.",
                    )
                )
    return response
