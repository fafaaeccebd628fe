"""A partition this node does not host, and where its leader is (KIP-951).

Produce, Fetch, ListOffsets and OffsetForLeaderEpoch for a partition of the
image with no replica here answer NOT_LEADER_OR_FOLLOWER, as Kafka does, so
the client refreshes its metadata. Produce (v10+) and Fetch (v16+) also
carry the current leader and its endpoint in the response (``CurrentLeader``
and ``NodeEndpoints``, KIP-951), so the client can go there at once; the
generated encoders leave these fields out of older versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from broker.errors import ErrorCode

if TYPE_CHECKING:
    from broker.controller.image import MetadataImage
    from broker.node import Node

E = TypeVar("E")


def missing_partition_error(node: Node, topic: str, index: int) -> ErrorCode:
    """Why ``node.replicas.get(topic, index)`` is None: the partition's log
    could not be opened here, another broker hosts it, or it does not exist."""
    if node.replicas.is_offline(topic, index):
        return ErrorCode.KAFKA_STORAGE_ERROR
    found = node.image.topics.get(topic)
    if found is not None and index in found.partitions:
        return ErrorCode.NOT_LEADER_OR_FOLLOWER
    return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def current_leader(image: MetadataImage, topic: str, index: int) -> tuple[int, int]:
    """(leader id, leader epoch) for clients: (-1, -1) when unknown or fenced."""
    found = image.topics.get(topic)
    part = found.partitions.get(index) if found is not None else None
    if part is None:
        return -1, -1
    leader = image.live_leader(part)
    return (leader, part.leader_epoch) if leader >= 0 else (-1, -1)


def node_endpoints(
    image: MetadataImage, broker_ids: Iterable[int], make: Callable[[int, str, int, str | None], E]
) -> list[E]:
    """The endpoints of the leaders named in hints, once each."""
    out = []
    for broker_id in sorted(set(broker_ids)):
        broker = image.brokers.get(broker_id)
        if broker is not None and not broker.fenced and broker.endpoints:
            _name, host, port = broker.endpoints[0]
            out.append(make(broker_id, host, port, broker.rack))
    return out
