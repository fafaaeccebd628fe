"""EndQuorumEpoch (key 54), versions 0-1: a Raft RPC of the controller quorum (KIP-595).

Split into per-partition messages, stepped into this node's Raft driver and
answered with the core's replies (broker/replication/service.py). A node
without a replicated quorum answers BROKER_NOT_AVAILABLE; a request naming
another cluster id, INCONSISTENT_CLUSTER_ID. Not listed in ApiVersions on
this listener, as Kafka 4.1's broker listener does not list it.
"""

from __future__ import annotations

from typing import Any

from broker.api.context import RequestContext
from broker.replication.service import serve_node
from broker.wire.generated.end_quorum_epoch_request import EndQuorumEpochRequest

API_KEY = 54
MIN_VERSION = 0
MAX_VERSION = 1
ADVERTISED = False


async def handle(ctx: RequestContext, body: EndQuorumEpochRequest) -> Any:
    return await serve_node(ctx.node, API_KEY, body)
