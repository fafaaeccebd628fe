"""OffsetCommit (key 8), versions 2-9.

Partitions of topics that do not exist (or partition indexes a topic does not
have) get UNKNOWN_TOPIC_OR_PARTITION here, before the coordinator sees the
request, as Kafka's ``KafkaApis`` does; when no partition is left the
coordinator is not asked at all (so no group is created and no member
session is touched). The rest is committed by the group's coordinator and
answered once its records are stored. The response lists every requested
partition in request order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.controller.image import MetadataImage
from broker.errors import ErrorCode
from broker.group import commit_response
from broker.wire.generated.offset_commit_request import (
    OffsetCommitRequest,
    OffsetCommitRequestTopic,
)
from broker.wire.generated.offset_commit_response import OffsetCommitResponse

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 8
MIN_VERSION = 2
MAX_VERSION = 9


async def handle(ctx: RequestContext, body: OffsetCommitRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    known = known_partitions(node.image, body)
    if not known.topics:
        return commit_response(body, lambda _tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    answer: OffsetCommitResponse = await node.groups.call(
        body.group_id,
        lambda c, token, now: c.offset_commit(token, known, version=version, now_ms=now),
    )
    errors = {
        (t.name, p.partition_index): p.error_code for t in answer.topics for p in t.partitions
    }
    return commit_response(body, lambda tp: errors.get(tp, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))


def known_partitions(image: MetadataImage, request: OffsetCommitRequest) -> OffsetCommitRequest:
    """The request without the partitions the metadata image does not have."""
    topics = []
    for topic in request.topics:
        found = image.topics.get(topic.name)
        if found is None:
            continue
        partitions = [p for p in topic.partitions if p.partition_index in found.partitions]
        if partitions:
            topics.append(
                OffsetCommitRequestTopic(
                    name=topic.name, topic_id=topic.topic_id, partitions=partitions
                )
            )
    return OffsetCommitRequest(
        group_id=request.group_id,
        generation_id_or_member_epoch=request.generation_id_or_member_epoch,
        member_id=request.member_id,
        group_instance_id=request.group_instance_id,
        retention_time_ms=request.retention_time_ms,
        topics=topics,
    )
