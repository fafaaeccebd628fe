"""ListOffsets (key 2), versions 1-10.

Per partition: -2 earliest (log start offset), -1 latest (the high
watermark; read_committed gets the same, as there are no transactions),
-3 the record with the largest timestamp (KIP-734), -4 earliest local
(== earliest here), -5 the last tiered offset (none: -1), and otherwise the
first record whose timestamp is >= the one asked for (-1 when none).
A partition named more than once in a request is answered once, with
INVALID_REQUEST, as Kafka answers it.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.api.leader_hints import missing_partition_error
from broker.errors import ErrorCode
from broker.wire.generated.list_offsets_request import ListOffsetsPartition, ListOffsetsRequest
from broker.wire.generated.list_offsets_response import (
    ListOffsetsPartitionResponse,
    ListOffsetsResponse,
    ListOffsetsTopicResponse,
)

if TYPE_CHECKING:
    from broker.node import Node
    from broker.partitions import Partition

API_KEY = 2
MIN_VERSION = 1
MAX_VERSION = 10

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
LATEST_TIERED = -5


async def handle(ctx: RequestContext, body: ListOffsetsRequest) -> ListOffsetsResponse:
    node: Node = ctx.node
    response = ListOffsetsResponse()
    named = Counter((t.name, p.partition_index) for t in body.topics for p in t.partitions)
    answered: set[tuple[str, int]] = set()
    for topic in body.topics:
        out = ListOffsetsTopicResponse(name=topic.name)
        response.topics.append(out)
        for req in topic.partitions:
            key = (topic.name, req.partition_index)
            if named[key] > 1:
                if key not in answered:
                    answered.add(key)
                    out.partitions.append(
                        ListOffsetsPartitionResponse(
                            partition_index=req.partition_index,
                            error_code=ErrorCode.INVALID_REQUEST,
                        )
                    )
                continue
            part = node.replicas.get(topic.name, req.partition_index)
            if part is None:
                out.partitions.append(
                    ListOffsetsPartitionResponse(
                        partition_index=req.partition_index,
                        error_code=missing_partition_error(node, topic.name, req.partition_index),
                    )
                )
                continue
            out.partitions.append(lookup(part, req, ctx.header.api_version))
    return response


def lookup(
    part: Partition, req: ListOffsetsPartition, version: int
) -> ListOffsetsPartitionResponse:
    result = ListOffsetsPartitionResponse(partition_index=req.partition_index)
    if req.current_leader_epoch >= 0 and req.current_leader_epoch != part.leader_epoch:
        result.error_code = (
            ErrorCode.FENCED_LEADER_EPOCH
            if req.current_leader_epoch < part.leader_epoch
            else ErrorCode.UNKNOWN_LEADER_EPOCH
        )
        return result
    log = part.log
    ts = req.timestamp
    if ts in (EARLIEST, EARLIEST_LOCAL):
        offset = log.log_start_offset
        result.offset, result.leader_epoch = offset, log.epoch_for_offset(offset)
    elif ts == LATEST:
        offset = part.high_watermark
        result.offset, result.leader_epoch = offset, part.leader_epoch
    elif ts == LATEST_TIERED:
        result.offset = -1
    elif ts == MAX_TIMESTAMP:
        found = log.max_timestamp_and_offset()
        if found is not None:
            result.timestamp, result.offset, result.leader_epoch = found
    elif ts < 0:
        result.error_code = ErrorCode.INVALID_REQUEST
    else:
        found = log.offset_for_timestamp(ts)
        if found is not None and found.offset < part.high_watermark:
            result.timestamp, result.offset, result.leader_epoch = found
    if version == 0:
        result.old_style_offsets = [result.offset] if result.offset >= 0 else []
    return result
