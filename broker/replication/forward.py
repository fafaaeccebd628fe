"""Controller operations sent to any node reach the active controller.

Theory of operation
-------------------
With a replicated quorum only the active controller (the Raft leader) may
append to the metadata log. A request for a controller operation
(:data:`FORWARDED`) that arrives elsewhere is proxied: the node sends the
same request, same version, to the active controller over a connection of
its own (broker/replication/peers.py) and answers its client with the
controller's response. Before answering, it waits until its own image has
replayed what the controller had committed when it answered (the leader's
high watermark, asked with DescribeQuorum), so a client that created a topic
through a follower finds it in that follower's Metadata next.

A node that is the active controller runs the handler itself, one operation
at a time (``operation_lock``): an operation is decided on the image, and the
image only moves when the previous operation has committed. Leadership may
move meanwhile: ``NotControllerError`` from the handler, an unreachable
leader or no leader at all make the node wait for the quorum to change and
try again, up to :data:`FORWARD_TIMEOUT_S`; then the client gets
NOT_CONTROLLER (InitProducerId: COORDINATOR_NOT_AVAILABLE), errors its
client library retries.

A single-voter node has no peers: its handlers run as they always did.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from broker.api.registry import ApiTable, Handler
from broker.controller.quorum import NotControllerError
from broker.raft import Role
from broker.replication.peers import PeerUnavailable
from broker.wire.generated import (
    alter_configs_response,
    create_partitions_response,
    create_topics_response,
    delete_topics_response,
    incremental_alter_configs_response,
)
from broker.wire.generated.broker_registration_response import BrokerRegistrationResponse
from broker.wire.generated.describe_quorum_request import (
    DescribeQuorumRequest,
    PartitionData,
    TopicData,
)
from broker.wire.generated.init_producer_id_response import InitProducerIdResponse

if TYPE_CHECKING:
    from broker.api.context import RequestContext
    from broker.replication.metadata_quorum import RaftMetadataQuorum

log = logging.getLogger(__name__)

FORWARDED = {
    19: "CreateTopics",
    20: "DeleteTopics",
    22: "InitProducerId",
    33: "AlterConfigs",
    37: "CreatePartitions",
    44: "IncrementalAlterConfigs",
    62: "BrokerRegistration",
}
FORWARD_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 5.0
CATCH_UP_TIMEOUT_S = 2.0
NOT_CONTROLLER = 41
COORDINATOR_NOT_AVAILABLE = 15
DESCRIBE_QUORUM_VERSION = 2


def install(apis: ApiTable) -> None:
    """Wrap the handlers of :data:`FORWARDED` APIs in ``apis``."""
    for api_key in FORWARDED:
        entry = apis.entries.get(api_key)
        if entry is not None:
            apis.entries[api_key] = dataclasses.replace(
                entry, handler=_forwarding(api_key, entry.handler)
            )


def _forwarding(api_key: int, handler: Handler) -> Handler:
    async def handle(ctx: RequestContext, body: Any) -> Any:
        quorum = ctx.node.quorum
        if not hasattr(quorum, "peers"):
            return await handler(ctx, body)
        return await to_controller(
            quorum, api_key, ctx.header.api_version, body, lambda: handler(ctx, body)
        )

    return handle


async def to_controller(
    quorum: RaftMetadataQuorum,
    api_key: int,
    version: int,
    body: Any,
    local: Callable[[], Awaitable[Any]],
) -> Any:
    """Run ``local`` on the active controller, or proxy ``body`` to it."""
    deadline = trio.current_time() + FORWARD_TIMEOUT_S
    while trio.current_time() < deadline:
        if quorum.is_active_controller:
            try:
                # One operation at a time: each is decided on the image the
                # previous one committed (two CreateTopics of one name must
                # not both pass the existence check).
                async with quorum.operation_lock:
                    return await local()
            except NotControllerError:
                pass  # lost the leadership meanwhile: find the new leader
        leader = quorum.leader_id
        if leader is not None and leader != quorum.node_id and quorum.raft.role is not Role.LEADER:
            try:
                response = await quorum.peers.call(leader, api_key, version, body, CALL_TIMEOUT_S)
            except PeerUnavailable as exc:
                log.info("forwarding %s to node %d failed: %s", FORWARDED[api_key], leader, exc)
            else:
                if not _not_controller(response):
                    if api_key != 22:
                        await _catch_up(quorum, leader)
                    return response
        with trio.move_on_after(0.1):
            await quorum.group.changed.wait()
    log.warning("no active controller for %s within %.0f s", FORWARDED[api_key], FORWARD_TIMEOUT_S)
    return no_controller_response(api_key, body)


def _not_controller(response: Any) -> bool:
    """The controller we asked was no longer the controller."""
    codes = [getattr(response, "error_code", 0)]
    for attr in ("topics", "responses", "results"):
        for item in getattr(response, attr, None) or []:
            codes.append(getattr(item, "error_code", 0))
    return NOT_CONTROLLER in codes


async def _catch_up(quorum: RaftMetadataQuorum, leader: int) -> None:
    """Wait until this node has replayed what ``leader`` has committed."""
    request = DescribeQuorumRequest([TopicData("__cluster_metadata", [PartitionData(0)])])
    try:
        response = await quorum.peers.call(
            leader, 55, DESCRIBE_QUORUM_VERSION, request, CALL_TIMEOUT_S
        )
        high_watermark = response.topics[0].partitions[0].high_watermark
    except (PeerUnavailable, IndexError, AttributeError):
        return
    with trio.move_on_after(CATCH_UP_TIMEOUT_S):
        while quorum.applied_offset < high_watermark:
            await trio.sleep(0.01)


def no_controller_response(api_key: int, body: Any) -> Any:
    """The answer when no controller could be reached in time."""
    message = "no active controller"
    if api_key == 19:
        return create_topics_response.CreateTopicsResponse(
            topics=[
                create_topics_response.CreatableTopicResult(
                    name=t.name, error_code=NOT_CONTROLLER, error_message=message
                )
                for t in body.topics
            ]
        )
    if api_key == 20:
        names = list(body.topic_names) + [t.name for t in body.topics if t.name]
        return delete_topics_response.DeleteTopicsResponse(
            responses=[
                delete_topics_response.DeletableTopicResult(
                    name=name, error_code=NOT_CONTROLLER, error_message=message
                )
                for name in names
            ]
        )
    if api_key == 37:
        return create_partitions_response.CreatePartitionsResponse(
            results=[
                create_partitions_response.CreatePartitionsTopicResult(
                    name=t.name, error_code=NOT_CONTROLLER, error_message=message
                )
                for t in body.topics
            ]
        )
    if api_key in (33, 44):
        module: Any = (
            alter_configs_response if api_key == 33 else incremental_alter_configs_response
        )
        cls = (
            module.AlterConfigsResponse if api_key == 33 else module.IncrementalAlterConfigsResponse
        )
        return cls(
            responses=[
                module.AlterConfigsResourceResponse(
                    error_code=NOT_CONTROLLER,
                    error_message=message,
                    resource_type=r.resource_type,
                    resource_name=r.resource_name,
                )
                for r in body.resources
            ]
        )
    if api_key == 22:
        return InitProducerIdResponse(error_code=COORDINATOR_NOT_AVAILABLE)
    return BrokerRegistrationResponse(error_code=NOT_CONTROLLER)


CREATE_TOPICS_VERSION = 7


def create_topics_request(specs: list[Any]) -> Any:
    """A CreateTopics request for the node's own topic creations (auto-create,
    ``__consumer_offsets``), to forward to the active controller."""
    from broker.wire.generated.create_topics_request import (
        CreatableReplicaAssignment,
        CreatableTopic,
        CreatableTopicConfig,
        CreateTopicsRequest,
    )

    return CreateTopicsRequest(
        topics=[
            CreatableTopic(
                name=spec.name,
                num_partitions=spec.num_partitions,
                replication_factor=spec.replication_factor,
                assignments=[
                    CreatableReplicaAssignment(index, list(brokers))
                    for index, brokers in sorted(spec.assignments.items())
                ],
                configs=[CreatableTopicConfig(k, v) for k, v in spec.configs.items()],
            )
            for spec in specs
        ],
        timeout_ms=30_000,
    )
