"""OffsetForLeaderEpoch (key 23), versions 2-4.

For each partition: the end offset of the requested leader epoch (the start
offset of the next larger epoch, or the log end offset for the current one)
and the largest epoch <= the requested one, from the leader-epoch cache.
Clients use it after a leader change to detect log truncation (KIP-320).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.api.leader_hints import missing_partition_error
from broker.errors import ErrorCode
from broker.wire.generated.offset_for_leader_epoch_request import OffsetForLeaderEpochRequest
from broker.wire.generated.offset_for_leader_epoch_response import (
    EpochEndOffset,
    OffsetForLeaderEpochResponse,
    OffsetForLeaderTopicResult,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 23
MIN_VERSION = 2
MAX_VERSION = 4


async def handle(
    ctx: RequestContext, body: OffsetForLeaderEpochRequest
) -> OffsetForLeaderEpochResponse:
    node: Node = ctx.node
    response = OffsetForLeaderEpochResponse()
    for topic in body.topics:
        out = OffsetForLeaderTopicResult(topic=topic.topic)
        response.topics.append(out)
        for req in topic.partitions:
            result = EpochEndOffset(partition=req.partition)
            out.partitions.append(result)
            part = node.replicas.get(topic.topic, req.partition)
            if part is None:
                result.error_code = missing_partition_error(node, topic.topic, req.partition)
                continue
            current = req.current_leader_epoch
            if current >= 0 and current != part.leader_epoch:
                result.error_code = (
                    ErrorCode.FENCED_LEADER_EPOCH
                    if current < part.leader_epoch
                    else ErrorCode.UNKNOWN_LEADER_EPOCH
                )
                continue
            found = part.log.end_offset_for_epoch(req.leader_epoch)
            result.leader_epoch, result.end_offset = found.epoch, found.end_offset
    return response
