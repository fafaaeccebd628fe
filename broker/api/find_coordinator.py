"""FindCoordinator (key 10), versions 0-6 (batched keys from v4).

On one node this node coordinates every group. Transaction coordinators do
not exist yet: key type 1 (and 2, share groups) is answered
COORDINATOR_NOT_AVAILABLE; any other key type is INVALID_REQUEST, as Kafka
answers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.generated.find_coordinator_request import FindCoordinatorRequest
from broker.wire.generated.find_coordinator_response import Coordinator, FindCoordinatorResponse

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 10
MIN_VERSION = 0
MAX_VERSION = 6
GROUP = 0
KNOWN_KEY_TYPES = (GROUP, 1, 2)  # group, transaction, share


async def handle(ctx: RequestContext, body: FindCoordinatorRequest) -> FindCoordinatorResponse:
    node: Node = ctx.node
    host, port = node.advertised_endpoint()
    keys = body.coordinator_keys if ctx.header.api_version >= 4 else [body.key]
    coordinators = []
    for key in keys:
        if body.key_type not in KNOWN_KEY_TYPES:
            coordinators.append(
                Coordinator(
                    key=key,
                    node_id=-1,
                    host="",
                    port=-1,
                    error_code=ErrorCode.INVALID_REQUEST,
                    error_message=f"unknown coordinator key type {body.key_type}",
                )
            )
        elif body.key_type != GROUP:
            coordinators.append(
                Coordinator(
                    key=key,
                    node_id=-1,
                    host="",
                    port=-1,
                    error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE,
                    error_message="transactions are not supported",
                )
            )
        elif not key and ctx.header.api_version >= 4:
            coordinators.append(
                Coordinator(
                    key=key, node_id=-1, host="", port=-1, error_code=ErrorCode.INVALID_GROUP_ID
                )
            )
        else:
            coordinators.append(
                Coordinator(key=key, node_id=node.node_id, host=host, port=port, error_message=None)
            )
    if ctx.header.api_version >= 4:
        return FindCoordinatorResponse(coordinators=coordinators)
    c = coordinators[0]
    return FindCoordinatorResponse(
        error_code=c.error_code,
        error_message=c.error_message,
        node_id=c.node_id,
        host=c.host,
        port=c.port,
    )
