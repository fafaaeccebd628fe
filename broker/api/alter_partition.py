"""AlterPartition (key 56), versions 2-3: a partition's Raft leader reports
itself and its ISR to the active controller (broker/replication/leadership.py).

Any node but the active controller answers NOT_CONTROLLER; leaders send it
through the controller channel, which retries against the controller of the
moment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.replication.leadership import alter_partition
from broker.wire.generated.alter_partition_request import AlterPartitionRequest
from broker.wire.generated.alter_partition_response import AlterPartitionResponse

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 56
MIN_VERSION = 2
MAX_VERSION = 3
# A controller API: brokers send it without asking (not listed to clients).
ADVERTISED = False


async def handle(ctx: RequestContext, body: AlterPartitionRequest) -> AlterPartitionResponse:
    node: Node = ctx.node
    return await alter_partition(node, node.leader_epochs, body)
