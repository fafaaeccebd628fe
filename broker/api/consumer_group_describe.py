"""ConsumerGroupDescribe (key 69), versions 0-1: refused with the consumer protocol.

Only classic groups exist here (see consumer_group_heartbeat.py), so, as
Apache Kafka 4.1 answers with ``group.coordinator.rebalance.protocols=classic``
(captured from a real Kafka), every group asked for is answered
UNSUPPORTED_VERSION, one entry per id, in the order asked. Admin clients
describe classic groups with DescribeGroups (key 15).
"""

from __future__ import annotations

from broker.api.consumer_group_heartbeat import NO_CONSUMER_PROTOCOL
from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.generated.consumer_group_describe_request import ConsumerGroupDescribeRequest
from broker.wire.generated.consumer_group_describe_response import (
    ConsumerGroupDescribeResponse,
    DescribedGroup,
)

API_KEY = 69
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(
    ctx: RequestContext, body: ConsumerGroupDescribeRequest
) -> ConsumerGroupDescribeResponse:
    return ConsumerGroupDescribeResponse(
        groups=[
            DescribedGroup(
                error_code=ErrorCode.UNSUPPORTED_VERSION,
                error_message=NO_CONSUMER_PROTOCOL,
                group_id=group_id,
            )
            for group_id in body.group_ids
        ]
    )
