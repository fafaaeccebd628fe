"""OffsetDelete (key 47), version 0.

Not for topics a non-empty consumer group subscribes to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.wire.generated.offset_delete_request import OffsetDeleteRequest

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 47
MIN_VERSION = 0
MAX_VERSION = 0


async def handle(ctx: RequestContext, body: OffsetDeleteRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    return await node.groups.call(
        body.group_id,
        lambda c, token, now: c.offset_delete(token, body, version=version, now_ms=now),
    )
