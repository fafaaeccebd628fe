"""Fetch (key 1), versions 4-18 (consumers; sessionless).

Reads whole batches from each partition up to its high watermark, within
``partition_max_bytes`` and the response's ``max_bytes`` (the first
non-empty partition always gets at least one batch, as Kafka does). Record
data goes out as memoryviews of the segment mappings: never copied in
Python. When less than ``min_bytes`` is available the request waits, up to
``max_wait_ms``, for an append to any of its partitions; appends wake it,
nothing polls. A Fetch from a replica of ``__cluster_metadata`` (a ReplicaId,
KIP-595) goes to the Raft driver instead. Fetch sessions (KIP-227) are not kept: session id 0 is
answered, which clients treat as sessionless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from broker.api.context import RequestContext
from broker.api.leader_hints import current_leader, missing_partition_error, node_endpoints
from broker.errors import ErrorCode
from broker.replication.service import is_raft_fetch, is_replica_fetch, serve_node
from broker.storage.errors import KafkaStorageError
from broker.wire.codec import ZERO_UUID
from broker.wire.generated.fetch_request import FetchRequest
from broker.wire.generated.fetch_response import (
    FetchableTopicResponse,
    FetchResponse,
    LeaderIdAndEpoch,
    NodeEndpoint,
    PartitionData,
)

if TYPE_CHECKING:
    from broker.node import Node
    from broker.partitions import Partition

API_KEY = 1
MIN_VERSION = 4
MAX_VERSION = 18
READ_COMMITTED = 1


async def handle(ctx: RequestContext, body: FetchRequest) -> FetchResponse:
    node: Node = ctx.node
    version = ctx.header.api_version
    if is_raft_fetch(body) or is_replica_fetch(node, body):
        return await serve_node(node, API_KEY, body)  # type: ignore[no-any-return]
    deadline = trio.current_time() + max(0, body.max_wait_ms) / 1000
    while True:
        response, total, parts = _read(node, body, version)
        if total >= body.min_bytes or body.max_wait_ms <= 0 or not parts:
            node.metrics.fetched(node.image, response, version)
            return response
        events = [p.data_arrived for p in parts]
        with trio.move_on_at(deadline) as scope:
            await _wait_any(events)
        del response
        if scope.cancelled_caught:
            response, _total, _parts = _read(node, body, version)
            node.metrics.fetched(node.image, response, version)
            return response


async def _wait_any(events: list[trio.Event]) -> None:
    async with trio.open_nursery() as nursery:

        async def wait(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        for event in events:
            nursery.start_soon(wait, event)


def _read(
    node: Node, body: FetchRequest, version: int
) -> tuple[FetchResponse, int, list[Partition]]:
    response = FetchResponse(session_id=0)
    budget = body.max_bytes if body.max_bytes > 0 else 2**31 - 1
    total = 0
    hosted: list[Partition] = []
    leaders: list[int] = []  # of partitions hosted elsewhere (KIP-951 hints)
    for topic in body.topics:
        name = node.image.resolve_topic(topic.topic, topic.topic_id, by_id=version >= 13)
        out = FetchableTopicResponse(topic=topic.topic, topic_id=topic.topic_id)
        response.responses.append(out)
        for fp in topic.partitions:
            pd = PartitionData(partition_index=fp.partition, records=b"")
            if body.isolation_level != READ_COMMITTED:
                pd.aborted_transactions = None
            out.partitions.append(pd)
            part = node.replicas.get(name, fp.partition)
            if part is None:
                pd.error_code = (
                    ErrorCode.UNKNOWN_TOPIC_ID
                    if version >= 13 and topic.topic_id != ZERO_UUID and not name
                    else missing_partition_error(node, name, fp.partition)
                )
                if pd.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER:
                    pd.current_leader = LeaderIdAndEpoch(
                        *current_leader(node.image, name, fp.partition)
                    )
                    leaders.append(pd.current_leader.leader_id)
                pd.high_watermark = -1
                continue
            hosted.append(part)
            pd.high_watermark = part.high_watermark
            pd.last_stable_offset = part.high_watermark
            pd.log_start_offset = part.log.log_start_offset
            if fp.current_leader_epoch >= 0 and fp.current_leader_epoch != part.leader_epoch:
                pd.error_code = (
                    ErrorCode.FENCED_LEADER_EPOCH
                    if fp.current_leader_epoch < part.leader_epoch
                    else ErrorCode.UNKNOWN_LEADER_EPOCH
                )
                pd.current_leader = LeaderIdAndEpoch(node.node_id, part.leader_epoch)
                continue
            limit = min(fp.partition_max_bytes, budget)
            try:
                result = part.log.read(
                    fp.fetch_offset, limit, part.high_watermark, min_one_batch=total == 0
                )
            except KafkaStorageError as exc:
                # Kafka answers a failed partition with no offsets (-1), e.g. for
                # OFFSET_OUT_OF_RANGE; clients reset through ListOffsets.
                pd.error_code = exc.error_code
                pd.high_watermark = pd.last_stable_offset = pd.log_start_offset = -1
                continue
            size = len(result.records)
            if size:
                pd.records = result.records
                total += size
                budget -= size
    response.node_endpoints = node_endpoints(node.image, leaders, NodeEndpoint)
    return response, total, hosted
