"""OffsetCommit (key 8), versions 2-9.

Committed offsets are answered only once their records are stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.wire.generated.offset_commit_request import OffsetCommitRequest

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 8
MIN_VERSION = 2
MAX_VERSION = 9


async def handle(ctx: RequestContext, body: OffsetCommitRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    return await node.groups.call(
        body.group_id,
        lambda c, token, now: c.offset_commit(token, body, version=version, now_ms=now),
    )
