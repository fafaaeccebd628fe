"""BrokerRegistration (key 62), versions 0-4: a broker joins the cluster.

Served by the active controller (see :mod:`broker.controller.membership`);
any other node answers NOT_CONTROLLER, and the broker's channel retries
against the leader. The answer's BrokerEpoch is the offset of the broker's
RegisterBrokerRecord in ``__cluster_metadata``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.wire.generated.broker_registration_request import BrokerRegistrationRequest
from broker.wire.generated.broker_registration_response import BrokerRegistrationResponse

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 62
MIN_VERSION = 0
MAX_VERSION = 4
# A controller API: not listed in ApiVersions to clients, as Kafka's broker
# listeners do not list it (brokers send it without asking).
ADVERTISED = False


async def handle(
    ctx: RequestContext, body: BrokerRegistrationRequest
) -> BrokerRegistrationResponse:
    node: Node = ctx.node
    return await node.membership.register(body)
