"""FindCoordinator (key 10), versions 0-6 (batched keys from v4).

A group's coordinator is the leader of the group's partition of
``__consumer_offsets`` (Kafka's hash of the group id), if that broker is
registered and unfenced; otherwise (the topic not created yet, its leader
fenced) COORDINATOR_NOT_AVAILABLE, which clients retry. Transaction coordinators do
not exist yet: key type 1 (transaction) is answered
TRANSACTIONAL_ID_AUTHORIZATION_FAILED with the message "transactions are not
supported by this broker", and logged. That code is fatal to librdkafka,
kafka-python and the Java client, so a transactional producer fails at once
with that message; the retriable COORDINATOR_NOT_AVAILABLE answered before
made each of them spin until its timeout (issue 11 item 14). Key type 2
(share groups) is answered COORDINATOR_NOT_AVAILABLE; any other key type is
INVALID_REQUEST, as Kafka answers it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.group import partition_for
from broker.groups import OFFSETS_TOPIC
from broker.security.session import Session
from broker.wire.generated.find_coordinator_request import FindCoordinatorRequest
from broker.wire.generated.find_coordinator_response import Coordinator, FindCoordinatorResponse

if TYPE_CHECKING:
    from broker.node import Node

log = logging.getLogger(__name__)

API_KEY = 10
MIN_VERSION = 0
MAX_VERSION = 6
GROUP = 0
NO_TRANSACTIONS = "transactions are not supported by this broker"
TRANSACTION = 1
KNOWN_KEY_TYPES = (GROUP, TRANSACTION, 2)  # group, transaction, share
NO_SHARE_GROUPS = "share groups are not supported by this broker"


def refused(key: str, error_code: int, message: str | None) -> Coordinator:
    """A key this node coordinates nothing for."""
    return Coordinator(
        key=key, node_id=-1, host="", port=-1, error_code=error_code, error_message=message
    )


def group_coordinator(node: Node, group_id: str, session: Session | None = None) -> Coordinator:
    """The broker leading the group's ``__consumer_offsets`` partition, at
    its endpoint on the client's listener."""
    image = node.image
    topic = image.topics.get(OFFSETS_TOPIC)
    if topic is None or not topic.partitions:
        return refused(group_id, ErrorCode.COORDINATOR_NOT_AVAILABLE, None)
    partition = topic.partitions.get(partition_for(group_id, len(topic.partitions)))
    leader = image.live_leader(partition) if partition is not None else -1
    broker = image.brokers.get(leader)
    if broker is None or not broker.endpoints:
        return refused(group_id, ErrorCode.COORDINATOR_NOT_AVAILABLE, None)
    _name, host, port = (session or Session()).endpoint(broker.endpoints)
    return Coordinator(key=group_id, node_id=leader, host=host, port=port, error_message=None)


async def handle(ctx: RequestContext, body: FindCoordinatorRequest) -> FindCoordinatorResponse:
    node: Node = ctx.node
    keys = body.coordinator_keys if ctx.header.api_version >= 4 else [body.key]
    coordinators = []
    for key in keys:
        if body.key_type not in KNOWN_KEY_TYPES:
            coordinators.append(
                refused(
                    key, ErrorCode.INVALID_REQUEST, f"unknown coordinator key type {body.key_type}"
                )
            )
        elif body.key_type == TRANSACTION:
            log.warning(
                "client %r asked for the coordinator of transactional id %r: %s",
                ctx.header.client_id,
                key,
                NO_TRANSACTIONS,
            )
            coordinators.append(
                refused(key, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, NO_TRANSACTIONS)
            )
        elif body.key_type != GROUP:  # share groups: not implemented
            coordinators.append(refused(key, ErrorCode.COORDINATOR_NOT_AVAILABLE, NO_SHARE_GROUPS))
        elif not key and ctx.header.api_version >= 4:
            coordinators.append(refused(key, ErrorCode.INVALID_GROUP_ID, None))
        else:
            coordinators.append(group_coordinator(node, key, ctx.session))
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
