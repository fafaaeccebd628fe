"""DeleteRecords (key 21), versions 0-2.

Moves each partition's log start offset up to the requested offset (-1: the
high watermark) and deletes the segments wholly below it; the answer's
``low_watermark`` is the new log start offset. An offset above the high
watermark is OFFSET_OUT_OF_RANGE; an offset at or below the current log
start changes nothing and succeeds. Fetches below the new start then get
OFFSET_OUT_OF_RANGE and ListOffsets(earliest) answers the new start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker import admin
from broker.api.context import RequestContext
from broker.wire.generated.delete_records_request import DeleteRecordsRequest
from broker.wire.generated.delete_records_response import (
    DeleteRecordsPartitionResult,
    DeleteRecordsResponse,
    DeleteRecordsTopicResult,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 21
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: RequestContext, body: DeleteRecordsRequest) -> DeleteRecordsResponse:
    node: Node = ctx.node
    response = DeleteRecordsResponse()
    for topic in body.topics:
        out = DeleteRecordsTopicResult(name=topic.name)
        response.topics.append(out)
        for p in topic.partitions:
            error, low_watermark = await admin.delete_records(
                node, topic.name, p.partition_index, p.offset
            )
            out.partitions.append(
                DeleteRecordsPartitionResult(p.partition_index, low_watermark, error)
            )
    return response
