"""DeleteGroups (key 42), versions 0-2.

Only Empty groups are deleted, with their offsets (NON_EMPTY_GROUP otherwise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.groups import Call
from broker.wire.generated.delete_groups_request import DeleteGroupsRequest
from broker.wire.generated.delete_groups_response import DeleteGroupsResponse

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 42
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: RequestContext, body: DeleteGroupsRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    response = DeleteGroupsResponse()
    for group_id in dict.fromkeys(body.groups_names):
        one = DeleteGroupsRequest(groups_names=[group_id])
        answer = await node.groups.call(group_id, _delete(one, version))
        response.results.extend(answer.results)
    return response


def _delete(request: DeleteGroupsRequest, version: int) -> Call:
    return lambda c, token, now: c.delete_groups(token, request, version=version, now_ms=now)
