"""Produce (key 0), versions 3-13 (advertised from 0, as Kafka 4.1 does).

Each partition's records are checked as Kafka's LogValidator does (header and
CRC only; records are never decoded), then appended as the frame's own
memoryview. Idempotent batches are checked against the producer's epoch and
sequences; a retried batch gets its original offset and is not appended
again. acks=0 sends no response, and an error with acks=0 closes the
connection so the client notices, as Kafka does. acks=all with the topic's
``write.caching=false`` waits until the batch is fsynced.

Topic configs acted on here (see broker/admin.py): ``acks.min`` raises a
weaker acks to its level; acks=all is refused with NOT_ENOUGH_REPLICAS when
fewer replicas are in sync than ``min.insync.replicas``; a batch whose codec
differs from ``compression.type`` is recompressed before it is appended, in a
worker thread (a 1 MB batch takes tens of milliseconds to recompress), so other
connections are served meanwhile. A ``flush.messages`` flush asked for by the
append is waited for before answering, as Kafka's append does.

Clients may not write to internal topics (``__consumer_offsets`` and the
other names below): Kafka's ReplicaManager answers INVALID_TOPIC_EXCEPTION,
and so do we, so that no client record reaches the group coordinator's replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from broker import admin
from broker.api.context import RequestContext
from broker.api.dispatch import CloseConnection
from broker.errors import ErrorCode
from broker.storage.batch import validate_produce_records
from broker.storage.errors import KafkaStorageError
from broker.wire.generated.produce_request import PartitionProduceData, ProduceRequest
from broker.wire.generated.produce_response import (
    PartitionProduceResponse,
    ProduceResponse,
    TopicProduceResponse,
)

if TYPE_CHECKING:
    from broker.node import Node
    from broker.partitions import Partition

API_KEY = 0
MIN_VERSION = 3
MAX_VERSION = 13

# Kafka's Topic.INTERNAL_TOPICS plus the metadata log: never written by a client.
INTERNAL_TOPICS = frozenset(
    {"__consumer_offsets", "__transaction_state", "__share_group_state", "__cluster_metadata"}
)


async def handle(ctx: RequestContext, body: ProduceRequest) -> ProduceResponse | None:
    node: Node = ctx.node
    version = ctx.header.api_version
    acks = body.acks
    response = ProduceResponse()
    durable: list[tuple[Partition, int]] = []
    failed = False
    for topic in body.topic_data:
        name = node.image.resolve_topic(topic.name, topic.topic_id, by_id=version >= 13)
        out = TopicProduceResponse(name=topic.name, topic_id=topic.topic_id)
        response.responses.append(out)
        for data in topic.partition_data:
            result = PartitionProduceResponse(index=data.index)
            out.partition_responses.append(result)
            if acks not in (0, 1, -1):
                result.error_code = ErrorCode.INVALID_REQUIRED_ACKS
            else:
                part = node.replicas.get(name, data.index)
                if part is None:
                    # v13+ names topics by id only: an id we do not know (zero
                    # included) is UNKNOWN_TOPIC_ID, as Kafka answers.
                    unknown_id = version >= 13 and not name
                    result.error_code = (
                        ErrorCode.UNKNOWN_TOPIC_ID
                        if unknown_id
                        else ErrorCode.KAFKA_STORAGE_ERROR
                        if node.replicas.is_offline(name, data.index)
                        else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                    )
                elif name in INTERNAL_TOPICS:
                    result.error_code = ErrorCode.INVALID_TOPIC_EXCEPTION
                    result.error_message = f"Cannot append to internal topic {name}"
                else:
                    settings = admin.produce_settings(node, part)
                    part_acks = settings.effective_acks(acks)
                    if part_acks == -1 and settings.min_insync_replicas > admin.in_sync_replicas(
                        node, part
                    ):
                        result.error_code = ErrorCode.NOT_ENOUGH_REPLICAS
                        last = None
                    else:
                        last = await _append(node, part, data, result, settings)
                    if last is not None and (
                        part.log.flush_due
                        or (part_acks == -1 and node.needs_fsync(part, part_acks))
                    ):
                        durable.append((part, last))
            if result.error_code != ErrorCode.NONE:
                # Kafka answers a failed partition with base offset -1 (not 0).
                result.base_offset = -1
                failed = True
    for part, last in durable:
        await part.ensure_durable(last)
    if acks == 0:
        if failed:
            raise CloseConnection("produce with acks=0 failed")
        return None
    return response


async def _append(
    node: Node,
    part: Partition,
    data: PartitionProduceData,
    result: PartitionProduceResponse,
    settings: admin.ProduceSettings,
) -> int | None:
    """Validate and append one partition's records; the last offset, or None.
    Nothing awaits between the producer-state check and the append."""
    records = data.records
    if records is None or not isinstance(records, memoryview):
        result.error_code = ErrorCode.INVALID_RECORD
        result.error_message = "produce without records"
        return None
    try:
        batches = validate_produce_records(records, part.log.config, node.clock.now_ms())
        if settings.codec is not None and any(h.compression != settings.codec for _, h in batches):
            records = await trio.to_thread.run_sync(
                admin.recompress,
                records,
                settings.codec,
                settings.level,
                part.log.config.max_message_bytes,
            )
    except KafkaStorageError as exc:
        result.error_code = exc.error_code
        result.error_message = str(exc)
        return None
    header = batches[0][1]
    if header.producer_id >= 0:
        last_seq = header.base_sequence + header.last_offset_delta
        check = part.producers.check(
            header.producer_id, header.producer_epoch, header.base_sequence, last_seq
        )
        if check.error != ErrorCode.NONE:
            result.error_code = check.error
            return None
        if check.duplicate_of is not None:
            result.base_offset = check.duplicate_of.first_offset
            result.log_start_offset = part.log.log_start_offset
            return check.duplicate_of.last_offset
    try:
        info = part.log.append(records, part.leader_epoch, node.clock.now_ms())
    except KafkaStorageError as exc:
        result.error_code = exc.error_code
        result.error_message = str(exc)
        return None
    except OSError as exc:
        result.error_code = ErrorCode.KAFKA_STORAGE_ERROR
        result.error_message = f"append failed: {exc}"
        return None
    if header.producer_id >= 0:
        part.producers.update(
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            header.base_sequence + header.last_offset_delta,
            info.base_offset,
            info.last_offset,
        )
    part.advance_high_watermark()
    node.metrics.produced(part.topic, info.last_offset - info.base_offset + 1, len(records))
    result.base_offset = info.base_offset
    result.log_append_time_ms = info.log_append_time
    result.log_start_offset = info.log_start_offset
    return info.last_offset
