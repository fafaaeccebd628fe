"""DescribeCluster (key 60), versions 0-2.

The cluster id, the controller (this node) and the registered brokers with
their first advertised endpoint; fenced brokers only when v2 asks for them.
A request for controller endpoints (``endpoint_type`` 2) sent here, a broker
listener, is MISMATCHED_ENDPOINT_TYPE, as in Kafka. Without an authorizer
every cluster operation is allowed, so the authorized-operations bit set,
when asked for, lists them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.generated.describe_cluster_request import DescribeClusterRequest
from broker.wire.generated.describe_cluster_response import (
    DescribeClusterBroker,
    DescribeClusterResponse,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 60
MIN_VERSION = 0
MAX_VERSION = 2

BROKER_ENDPOINTS: Final = 1
# AclOperation codes valid on the cluster resource: CREATE 5, ALTER 7,
# DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
# IDEMPOTENT_WRITE 12.
CLUSTER_OPERATIONS: Final = sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))
OMITTED_OPERATIONS: Final = -(2**31)


async def handle(ctx: RequestContext, body: DescribeClusterRequest) -> DescribeClusterResponse:
    node: Node = ctx.node
    version = ctx.header.api_version
    endpoint_type = body.endpoint_type if version >= 1 else BROKER_ENDPOINTS
    if endpoint_type != BROKER_ENDPOINTS:
        return DescribeClusterResponse(
            error_code=ErrorCode.MISMATCHED_ENDPOINT_TYPE,
            error_message="The request was sent to a broker endpoint, not a controller one.",
            endpoint_type=endpoint_type,
            cluster_id=node.cluster_id,
        )
    include_fenced = version >= 2 and body.include_fenced_brokers
    brokers = []
    for b in sorted(node.image.brokers.values(), key=lambda b: b.broker_id):
        if (b.fenced and not include_fenced) or not b.endpoints:
            continue
        _name, host, port = ctx.session.endpoint(b.endpoints)
        brokers.append(DescribeClusterBroker(b.broker_id, host, port, b.rack, b.fenced))
    return DescribeClusterResponse(
        endpoint_type=endpoint_type,
        cluster_id=node.cluster_id,
        controller_id=node.node_id,
        brokers=brokers,
        cluster_authorized_operations=CLUSTER_OPERATIONS
        if body.include_cluster_authorized_operations
        else OMITTED_OPERATIONS,
    )
