"""DeleteTopics (key 20), versions 1-6: by name, and by topic id from v6."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.codec import ZERO_UUID
from broker.wire.generated.delete_topics_request import DeleteTopicsRequest
from broker.wire.generated.delete_topics_response import DeletableTopicResult, DeleteTopicsResponse

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 20
MIN_VERSION = 1
MAX_VERSION = 6


async def handle(ctx: RequestContext, body: DeleteTopicsRequest) -> DeleteTopicsResponse:
    node: Node = ctx.node
    if ctx.header.api_version >= 6:
        names = [t.name for t in body.topics if t.name]
        ids = [t.topic_id for t in body.topics if not t.name and t.topic_id != ZERO_UUID]
    else:
        names, ids = list(body.topic_names), []
    response = DeleteTopicsResponse()
    if not node.config["delete.topic.enable"]:
        for name in names:
            response.responses.append(
                DeletableTopicResult(name=name, error_code=ErrorCode.TOPIC_DELETION_DISABLED)
            )
        return response
    for r in await node.delete_topics(names, ids):
        response.responses.append(
            DeletableTopicResult(
                name=r.name or None,
                topic_id=r.topic_id,
                error_code=r.error,
                error_message=r.message,
            )
        )
    return response
