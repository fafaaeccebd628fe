"""Metadata (key 3), versions 0-13.

Lists this cluster's unfenced brokers and the requested topics (all of them
when the request's topic list is null, or empty in v0). Unknown topics are
created when the request allows it (always before v4) and
``auto.create.topics.enable`` is on, with the broker's default partitions and
replication factor. Topic ids are served from v10 and looked up by id from
v12. A partition whose leader is fenced is LEADER_NOT_AVAILABLE, leader -1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.controller.controller import INTERNAL_TOPICS, TopicSpec, topic_name_error
from broker.controller.image import MetadataImage, PartitionImage, TopicImage
from broker.errors import ErrorCode
from broker.security.session import Session
from broker.wire.codec import ZERO_UUID
from broker.wire.generated.metadata_request import MetadataRequest
from broker.wire.generated.metadata_response import (
    MetadataResponse,
    MetadataResponseBroker,
    MetadataResponsePartition,
    MetadataResponseTopic,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 3
MIN_VERSION = 0
MAX_VERSION = 13


async def handle(ctx: RequestContext, body: MetadataRequest) -> MetadataResponse:
    node: Node = ctx.node
    version = ctx.header.api_version
    image = node.image
    all_topics = body.topics is None or (version == 0 and not body.topics)
    response = MetadataResponse(
        brokers=brokers(node, image, ctx.session),
        cluster_id=node.cluster_id,
        controller_id=node.node_id,
    )
    if all_topics:
        response.topics = [_topic(image, t) for t in image.topics.values()]
        return response
    assert body.topics is not None
    auto_create = (version < 4 or body.allow_auto_topic_creation) and node.config[
        "auto.create.topics.enable"
    ]
    missing = [
        t.name
        for t in body.topics
        if t.name and t.name not in image.topics and topic_name_error(t.name) is None
    ]
    if auto_create and missing:
        specs = [TopicSpec(name, -1, -1, {}, {}) for name in dict.fromkeys(missing)]
        image = await node.create_topics(specs)
    for requested in body.topics:
        response.topics.append(_lookup(image, requested.name, requested.topic_id))
    return response


def brokers(
    node: Node, image: MetadataImage, session: Session | None = None
) -> list[MetadataResponseBroker]:
    out = []
    for b in sorted(image.brokers.values(), key=lambda b: b.broker_id):
        if b.fenced or not b.endpoints:
            continue
        _name, host, port = (session or Session()).endpoint(b.endpoints)
        out.append(MetadataResponseBroker(b.broker_id, host, port, b.rack))
    return out


def _lookup(image: MetadataImage, name: str | None, topic_id: object) -> MetadataResponseTopic:
    if name:
        topic = image.topics.get(name)
        if topic is not None:
            return _topic(image, topic)
        error = (
            ErrorCode.INVALID_TOPIC_EXCEPTION
            if topic_name_error(name)
            else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        )
        return MetadataResponseTopic(error_code=error, name=name)
    if topic_id != ZERO_UUID:
        found = image.topic_by_id(topic_id)  # type: ignore[arg-type]
        if found is not None:
            return _topic(image, found)
        return MetadataResponseTopic(
            error_code=ErrorCode.UNKNOWN_TOPIC_ID,
            name=None,
            topic_id=topic_id,  # type: ignore[arg-type]
        )
    return MetadataResponseTopic(error_code=ErrorCode.INVALID_REQUEST, name=name)


def _topic(image: MetadataImage, topic: TopicImage) -> MetadataResponseTopic:
    return MetadataResponseTopic(
        error_code=ErrorCode.NONE,
        name=topic.name,
        topic_id=topic.topic_id,
        is_internal=topic.name in INTERNAL_TOPICS,
        partitions=[
            _partition(image, p)
            for p in sorted(topic.partitions.values(), key=lambda p: p.partition_id)
        ],
    )


def _partition(image: MetadataImage, p: PartitionImage) -> MetadataResponsePartition:
    """A partition whose leader is fenced (or gone) has no leader for clients:
    LEADER_NOT_AVAILABLE with leader -1, and its fenced replicas are offline."""
    leader = image.live_leader(p)
    return MetadataResponsePartition(
        error_code=ErrorCode.NONE if leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE,
        partition_index=p.partition_id,
        leader_id=leader,
        leader_epoch=p.leader_epoch,
        replica_nodes=list(p.replicas),
        isr_nodes=list(p.isr),
        offline_replicas=[r for r in p.replicas if not image.is_unfenced(r)],
    )
