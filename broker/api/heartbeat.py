"""Heartbeat (key 12), versions 0-4.

REBALANCE_IN_PROGRESS tells a member to rejoin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.wire.generated.heartbeat_request import HeartbeatRequest

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 12
MIN_VERSION = 0
MAX_VERSION = 4


async def handle(ctx: RequestContext, body: HeartbeatRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    return await node.groups.call(
        body.group_id,
        lambda c, token, now: c.heartbeat(token, body, version=version, now_ms=now),
    )
