"""ListGroups (key 16), versions 0-5 (state filter v4, type filter v5).

The groups of every coordinator on this node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.wire.generated.list_groups_request import ListGroupsRequest
from broker.wire.generated.list_groups_response import ListGroupsResponse

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 16
MIN_VERSION = 0
MAX_VERSION = 5


async def handle(ctx: RequestContext, body: ListGroupsRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    answers = await node.groups.call_each(
        lambda c, token, now: c.list_groups(body, version=version)
    )
    response = ListGroupsResponse()
    for answer in answers:
        if answer.error_code and not response.error_code:
            response.error_code = answer.error_code
        response.groups.extend(answer.groups)
    return response
