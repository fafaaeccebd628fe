"""OffsetCommit (key 8), versions 2-9.

Committed offsets are answered only once their records are stored.
Partitions of topics the cluster does not have are answered
UNKNOWN_TOPIC_OR_PARTITION here, before the group coordinator sees the
request, as Kafka does (it filters them against its metadata first); when
nothing is left, the coordinator is not asked at all.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.generated.offset_commit_request import OffsetCommitRequest
from broker.wire.generated.offset_commit_response import (
    OffsetCommitResponse,
    OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 8
MIN_VERSION = 2
MAX_VERSION = 9


async def handle(ctx: RequestContext, body: OffsetCommitRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    known = []
    unknown: list[OffsetCommitResponseTopic] = []
    for topic in body.topics:
        image = node.image.topics.get(topic.name)
        hosted = [p for p in topic.partitions if image and p.partition_index in image.partitions]
        missing = [p for p in topic.partitions if p not in hosted]
        if hosted:
            known.append(dataclasses.replace(topic, partitions=hosted))
        if missing:
            unknown.append(
                OffsetCommitResponseTopic(
                    name=topic.name,
                    partitions=[
                        OffsetCommitResponsePartition(
                            partition_index=p.partition_index,
                            error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        )
                        for p in missing
                    ],
                )
            )
    if not known:
        return OffsetCommitResponse(topics=unknown)
    request = dataclasses.replace(body, topics=known) if unknown else body
    response = await node.groups.call(
        body.group_id,
        lambda c, token, now: c.offset_commit(token, request, version=version, now_ms=now),
    )
    if unknown and isinstance(response, OffsetCommitResponse):
        response.topics += unknown
    return response
