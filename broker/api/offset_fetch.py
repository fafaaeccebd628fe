"""OffsetFetch (key 9), versions 1-9 (several groups from v8).

Each group is asked of its own coordinator; -1 for partitions without a commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.api.context import RequestContext
from broker.group import offset_fetch_response
from broker.groups import Call
from broker.wire.generated.offset_fetch_request import OffsetFetchRequest, OffsetFetchRequestGroup

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 9
MIN_VERSION = 1
MAX_VERSION = 9


async def handle(ctx: RequestContext, body: OffsetFetchRequest) -> Any:
    node: Node = ctx.node
    version = ctx.header.api_version
    if version < 8:
        return await node.groups.call(
            body.group_id, lambda c, token, now: c.offset_fetch(body, version=version)
        )
    stable = body.require_stable
    results = []
    for group in body.groups:
        results.append(await node.groups.call(group.group_id, _fetch(group, stable)))
    return offset_fetch_response(version, results)


def _fetch(group: OffsetFetchRequestGroup, stable: bool) -> Call:
    return lambda c, token, now: c.fetch_group_offsets(
        group.group_id, group.topics, require_stable=stable
    )
