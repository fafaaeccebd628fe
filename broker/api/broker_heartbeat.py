"""BrokerHeartbeat (key 63), versions 0-1: a registered broker is alive.

Served by the active controller (see :mod:`broker.controller.membership`);
any other node answers NOT_CONTROLLER. The answer tells the broker whether it
is caught up with the metadata log, fenced, and (after WantShutDown) whether
it may shut down; an epoch other than the broker's current registration is
STALE_BROKER_EPOCH.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.wire.generated.broker_heartbeat_request import BrokerHeartbeatRequest
from broker.wire.generated.broker_heartbeat_response import BrokerHeartbeatResponse

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 63
MIN_VERSION = 0
MAX_VERSION = 1
# A controller API: not listed in ApiVersions to clients, as Kafka's broker
# listeners do not list it (brokers send it without asking).
ADVERTISED = False


async def handle(ctx: RequestContext, body: BrokerHeartbeatRequest) -> BrokerHeartbeatResponse:
    node: Node = ctx.node
    return await node.membership.heartbeat(body)
