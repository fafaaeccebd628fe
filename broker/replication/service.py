"""The receiving side of the Raft RPCs, shared by the handlers in broker/api/.

A request is checked (cluster id, a running driver), split into per-group
messages (broker/replication/wire.py), stepped into the driver, and the
core's answers are put back into one response. A group the core did not
answer within the driver's wait is left out of the response; the sender's
core times out and resends, as it would for a lost packet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.replication import wire

if TYPE_CHECKING:
    from broker.replication.driver import RaftDriver

INCONSISTENT_CLUSTER_ID = 104
BROKER_NOT_AVAILABLE = 8
INVALID_REQUEST = 42


async def serve(
    driver: RaftDriver | None,
    cluster_id: str | None,
    groups: dict[Any, wire.GroupId],
    api_key: int,
    body: Any,
    now_ms: int = 0,
) -> Any:
    if driver is None:
        # A node without a replicated quorum (one voter) takes no Raft traffic.
        return wire.error_response(api_key, BROKER_NOT_AVAILABLE)
    sent = getattr(body, "cluster_id", None)
    if sent is not None and cluster_id is not None and sent != cluster_id:
        return wire.error_response(api_key, INCONSISTENT_CLUSTER_ID)
    try:
        source, items = wire.decode_request(api_key, body, groups, driver.max_fetch_records)
    except wire.WireError:
        return wire.error_response(api_key, INVALID_REQUEST)
    max_wait = getattr(body, "max_wait_ms", 0) if api_key == wire.FETCH else 0
    answers = await driver.request(source, items, max_wait_ms=max_wait)
    return wire.encode_response(api_key, answers, now_ms)


async def serve_node(node: Any, api_key: int, body: Any) -> Any:
    """:func:`serve` for a broker node (the handlers' entry point)."""
    quorum = node.quorum
    driver = getattr(quorum, "driver", None)
    if driver is None or not getattr(quorum, "running", False):
        return wire.error_response(api_key, BROKER_NOT_AVAILABLE)
    return await serve(
        driver, node.cluster_id, quorum.peers.index, api_key, body, node.clock.now_ms()
    )


def is_raft_fetch(body: Any) -> bool:
    """A Fetch from a replica of ``__cluster_metadata`` (KIP-595), not a consumer's."""
    replica_id = body.replica_state.replica_id
    if replica_id < 0:
        replica_id = body.replica_id
    if replica_id < 0:
        return False
    return any(
        t.topic_id == wire.METADATA_TOPIC_ID or t.topic == wire.METADATA_GROUP.topic
        for t in body.topics
    )


def is_replica_fetch(node: Any, body: Any) -> bool:
    """A follower's Fetch of replicated data partitions (replica id set, every
    topic a data group of this node's driver): served by the Raft groups."""
    replica_id = body.replica_state.replica_id
    if replica_id < 0:
        replica_id = body.replica_id
    if replica_id < 0 or not body.topics:
        return False
    peers = getattr(node.quorum, "peers", None)
    if peers is None:
        return False
    index = peers.index
    for t in body.topics:
        group = index.get(t.topic_id if t.topic_id.int else t.topic)
        if group is None or not group.data:
            return False
    return True
