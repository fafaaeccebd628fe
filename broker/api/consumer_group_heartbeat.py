"""ConsumerGroupHeartbeat (key 68), versions 0-1: the KIP-848 consumer protocol, refused.

This broker runs the classic group protocol only (JoinGroup, SyncGroup,
Heartbeat). A consumer configured with ``group.protocol=consumer`` sends
ConsumerGroupHeartbeat instead; we answer it as Apache Kafka 4.1 does when
``group.coordinator.rebalance.protocols`` is ``classic`` (captured from a
real Kafka): the API stays advertised (0-1) and every heartbeat is answered
UNSUPPORTED_VERSION. Both the Java client and librdkafka treat that code as
fatal for the consumer, so ``poll()`` fails at once with "the cluster does
not support the new CONSUMER group protocol" instead of waiting forever for
an assignment, as it did while the API was not advertised (issue 11 item
14). Kafka leaves the message null; ours says what to change. A join (member
epoch 0) is logged, so the operator sees who asked.
"""

from __future__ import annotations

import logging

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.generated.consumer_group_heartbeat_request import ConsumerGroupHeartbeatRequest
from broker.wire.generated.consumer_group_heartbeat_response import (
    ConsumerGroupHeartbeatResponse,
)

log = logging.getLogger(__name__)

API_KEY = 68
MIN_VERSION = 0
MAX_VERSION = 1
NO_CONSUMER_PROTOCOL = (
    "the consumer group protocol (KIP-848, group.protocol=consumer) is not supported "
    "by this broker; use group.protocol=classic"
)
JOIN_EPOCH = 0


async def handle(
    ctx: RequestContext, body: ConsumerGroupHeartbeatRequest
) -> ConsumerGroupHeartbeatResponse:
    if body.member_epoch == JOIN_EPOCH:
        log.warning(
            "client %r tried to join group %r with the consumer group protocol: %s",
            ctx.header.client_id,
            body.group_id,
            NO_CONSUMER_PROTOCOL,
        )
    return ConsumerGroupHeartbeatResponse(
        error_code=ErrorCode.UNSUPPORTED_VERSION, error_message=NO_CONSUMER_PROTOCOL
    )
