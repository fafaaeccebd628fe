"""BrokerRegistration (key 62), versions 0-4: a broker joins the cluster.

Minimal, for the controller quorum's own nodes: the active controller
records a RegisterBrokerRecord with the broker's listeners and answers its
broker epoch (the record's offset + 1, as the local registration does); any
other node forwards the request to it (broker/replication/forward.py).
Heartbeats and fencing are not handled here (helper "membership" owns the
broker lifecycle: its handler replaces this one). A request for another
cluster id gets INCONSISTENT_CLUSTER_ID.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.wire.generated.broker_registration_request import BrokerRegistrationRequest
from broker.wire.generated.broker_registration_response import BrokerRegistrationResponse
from broker.wire.generated.register_broker_record import BrokerEndpoint, RegisterBrokerRecord

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 62
MIN_VERSION = 0
MAX_VERSION = 4
ADVERTISED = False
INCONSISTENT_CLUSTER_ID = 104


async def handle(
    ctx: RequestContext, body: BrokerRegistrationRequest
) -> BrokerRegistrationResponse:
    node: Node = ctx.node
    if body.cluster_id and body.cluster_id != node.cluster_id:
        return BrokerRegistrationResponse(error_code=INCONSISTENT_CLUSTER_ID)
    record = RegisterBrokerRecord(
        broker_id=body.broker_id,
        incarnation_id=body.incarnation_id,
        broker_epoch=node.image.offset + 1,
        end_points=[
            BrokerEndpoint(listener.name, listener.host, listener.port, listener.security_protocol)
            for listener in body.listeners
        ],
        rack=body.rack,
        fenced=False,
    )
    await node.quorum.append([record])
    return BrokerRegistrationResponse(broker_epoch=record.broker_epoch)
