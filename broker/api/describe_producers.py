"""DescribeProducers (key 61), version 0.

The idempotent producers each partition remembers (from its batches since
start-up, and rebuilt from the log's batch headers at start): producer id,
epoch and last sequence. The last timestamp is not kept (-1); there are no
transactions, so no coordinator epoch and no open transaction (-1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.api.leader_hints import missing_partition_error
from broker.errors import ErrorCode
from broker.wire.generated.describe_producers_request import DescribeProducersRequest
from broker.wire.generated.describe_producers_response import (
    DescribeProducersResponse,
    PartitionResponse,
    ProducerState,
    TopicResponse,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 61
MIN_VERSION = 0
MAX_VERSION = 0


async def handle(ctx: RequestContext, body: DescribeProducersRequest) -> DescribeProducersResponse:
    node: Node = ctx.node
    response = DescribeProducersResponse()
    for topic in body.topics:
        out = TopicResponse(name=topic.name)
        response.topics.append(out)
        for index in topic.partition_indexes:
            result = PartitionResponse(partition_index=index)
            out.partitions.append(result)
            part = node.replicas.get(topic.name, index)
            if part is None:
                result.error_code = missing_partition_error(node, topic.name, index)
                if result.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
                    result.error_message = "This server does not host this topic-partition."
                continue
            for producer_id, entry in sorted(part.producers.producers.items()):
                last_sequence = entry.batches[-1].last_seq if entry.batches else -1
                result.active_producers.append(
                    ProducerState(
                        producer_id=producer_id,
                        producer_epoch=entry.epoch,
                        last_sequence=last_sequence,
                        last_timestamp=-1,
                        coordinator_epoch=-1,
                        current_txn_start_offset=-1,
                    )
                )
    return response
