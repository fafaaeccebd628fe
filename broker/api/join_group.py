"""JoinGroup (key 11), versions 0-9.

Routed to the coordinator of the group's ``__consumer_offsets`` partition; the
response comes when the rebalance completes (see broker/group/coordinator.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.wire.generated.join_group_request import JoinGroupRequest

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 11
MIN_VERSION = 0
MAX_VERSION = 9


async def handle(ctx: RequestContext, body: JoinGroupRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    client_id = ctx.header.client_id or ""
    return await node.groups.call(
        body.group_id,
        lambda c, token, now: c.join_group(
            token,
            body,
            version=version,
            client_id=client_id,
            client_host=ctx.client_host,
            now_ms=now,
        ),
    )
