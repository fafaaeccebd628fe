"""DescribeTopicPartitions (key 75), version 0 (KIP-966).

Metadata's topic and partition view, paginated: topics in name order (all of
them when the request lists none), partitions in index order, at most
``response_partition_limit`` partitions per response (capped at 2000, as
Kafka caps it). When the limit cuts a topic, ``next_cursor`` names the topic
and partition to ask for next; a request's ``cursor`` resumes there. Eligible
leader replicas are not tracked: both ELR lists are empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from broker.api.context import RequestContext
from broker.controller.controller import INTERNAL_TOPICS
from broker.controller.image import MetadataImage, TopicImage
from broker.errors import ErrorCode
from broker.wire.generated.describe_topic_partitions_request import (
    DescribeTopicPartitionsRequest,
)
from broker.wire.generated.describe_topic_partitions_response import (
    Cursor,
    DescribeTopicPartitionsResponse,
    DescribeTopicPartitionsResponsePartition,
    DescribeTopicPartitionsResponseTopic,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 75
MIN_VERSION = 0
MAX_VERSION = 0
MAX_PARTITIONS: Final = 2000
OMITTED_OPERATIONS: Final = -(2**31)


async def handle(
    ctx: RequestContext, body: DescribeTopicPartitionsRequest
) -> DescribeTopicPartitionsResponse:
    node: Node = ctx.node
    image = node.image
    names = sorted({t.name for t in body.topics}) if body.topics else sorted(image.topics)
    cursor = body.cursor
    if cursor is not None:
        names = [n for n in names if n >= cursor.topic_name]
    budget = max(1, min(body.response_partition_limit, MAX_PARTITIONS))
    response = DescribeTopicPartitionsResponse()
    for name in names:
        topic = image.topics.get(name)
        if topic is None:
            response.topics.append(
                DescribeTopicPartitionsResponseTopic(
                    error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name=name
                )
            )
            continue
        first = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        indexes = sorted(i for i in topic.partitions if i >= first)
        if budget <= 0:
            response.next_cursor = Cursor(name, indexes[0] if indexes else first)
            break
        taken = indexes[:budget]
        budget -= len(taken)
        response.topics.append(_topic(image, topic, taken))
        if len(taken) < len(indexes):
            response.next_cursor = Cursor(name, indexes[len(taken)])
            break
    return response


def _topic(
    image: MetadataImage, topic: TopicImage, indexes: list[int]
) -> DescribeTopicPartitionsResponseTopic:
    partitions = []
    for i in indexes:
        p = topic.partitions[i]
        partitions.append(
            DescribeTopicPartitionsResponsePartition(
                error_code=ErrorCode.NONE,
                partition_index=i,
                leader_id=image.live_leader(p),
                leader_epoch=p.leader_epoch,
                replica_nodes=list(p.replicas),
                isr_nodes=list(p.isr),
                eligible_leader_replicas=[],
                last_known_elr=[],
                offline_replicas=[r for r in p.replicas if not image.is_unfenced(r)],
            )
        )
    return DescribeTopicPartitionsResponseTopic(
        error_code=ErrorCode.NONE,
        name=topic.name,
        topic_id=topic.topic_id,
        is_internal=topic.name in INTERNAL_TOPICS,
        partitions=partitions,
        topic_authorized_operations=OMITTED_OPERATIONS,
    )
