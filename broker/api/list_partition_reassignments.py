"""ListPartitionReassignments (key 46), version 0.

No partition is ever being moved between brokers here (replica placement is
fixed at creation), so the answer lists no ongoing reassignment, for the
partitions asked about or for all of them.
"""

from __future__ import annotations

from broker.api.context import RequestContext
from broker.wire.generated.list_partition_reassignments_request import (
    ListPartitionReassignmentsRequest,
)
from broker.wire.generated.list_partition_reassignments_response import (
    ListPartitionReassignmentsResponse,
)

API_KEY = 46
MIN_VERSION = 0
MAX_VERSION = 0


async def handle(
    ctx: RequestContext, body: ListPartitionReassignmentsRequest
) -> ListPartitionReassignmentsResponse:
    return ListPartitionReassignmentsResponse(error_message=None, topics=[])
