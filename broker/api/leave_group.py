"""LeaveGroup (key 13), versions 0-5 (batch leave from v3).

Members leave by id, or by group.instance.id for static members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.wire.generated.leave_group_request import LeaveGroupRequest

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 13
MIN_VERSION = 0
MAX_VERSION = 5


async def handle(ctx: RequestContext, body: LeaveGroupRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    return await node.groups.call(
        body.group_id,
        lambda c, token, now: c.leave_group(token, body, version=version, now_ms=now),
    )
