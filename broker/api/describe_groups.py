"""DescribeGroups (key 15), versions 0-6.

Each group is described by its own coordinator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.groups import Call
from broker.wire.generated.describe_groups_request import DescribeGroupsRequest
from broker.wire.generated.describe_groups_response import DescribeGroupsResponse

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 15
MIN_VERSION = 0
MAX_VERSION = 6


async def handle(ctx: RequestContext, body: DescribeGroupsRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    response = DescribeGroupsResponse()
    for group_id in body.groups:
        response.groups.append(await node.groups.call(group_id, _describe(group_id, version)))
    return response


def _describe(group_id: str, version: int) -> Call:
    return lambda c, token, now: c.describe_group(group_id, version=version)
