"""SyncGroup (key 14), versions 0-5.

The leader's assignments are stored before any member gets its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.wire.generated.sync_group_request import SyncGroupRequest

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 14
MIN_VERSION = 0
MAX_VERSION = 5


async def handle(ctx: RequestContext, body: SyncGroupRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    return await node.groups.call(
        body.group_id,
        lambda c, token, now: c.sync_group(token, body, version=version, now_ms=now),
    )
