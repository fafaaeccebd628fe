"""Produce (key 0), versions 3-13 (advertised from 0, as Kafka 4.1 does).

Each partition's records are checked as Kafka's LogValidator does (header,
CRC, then every field of every record: broker/storage/batch.py), then
appended as the frame's own memoryview. The record walk costs about 1 us a
record (13-27 ms for a 10,000-record batch, decompression included), so for
a large batch (`in_worker`) it runs in a worker thread while other
connections are served. Appends to one partition keep their arrival order:
while a partition's check is in a worker thread, later produces to it queue
behind it on the partition's ``produce_lock`` (a FIFO trio.Lock); when none
is, a produce checks and appends without awaiting, as before. Idempotent batches are checked against the producer's epoch and
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

A failed partition answers as Kafka's ReplicaManager does: base offset -1;
the partition's log start offset unless the records never reached its log
(``_NO_LOG_START``); and for INVALID_TIMESTAMP the records at fault
(``record_errors``: index in their batch and why), which Kafka's LogValidator
lists.

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
from broker.api.leader_hints import current_leader, missing_partition_error, node_endpoints
from broker.errors import ErrorCode
from broker.raft import RaftNode, Role
from broker.recordbatch import iter_records
from broker.replication.driver import NotLeader
from broker.storage.batch import BatchHeader, check_records, split_batches, validate_produce_records
from broker.storage.config import LogConfig
from broker.storage.errors import KafkaStorageError
from broker.storage.log import AppendInfo
from broker.wire.generated.produce_request import PartitionProduceData, ProduceRequest
from broker.wire.generated.produce_response import (
    BatchIndexAndErrorMessage,
    LeaderIdAndEpoch,
    NodeEndpoint,
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

# A batch with at least this many records, or a compressed one of at least
# this many bytes, is checked in a worker thread (~1 ms of work or more).
WORKER_RECORDS = 1000
WORKER_COMPRESSED_BYTES = 64 * 1024

# Kafka's Topic.INTERNAL_TOPICS plus the metadata log: never written by a client.
INTERNAL_TOPICS = frozenset(
    {"__consumer_offsets", "__transaction_state", "__share_group_state", "__cluster_metadata"}
)
# Failures Kafka answers with log start offset -1: the partition is not served
# here, or the records were refused before its log saw them. Every other
# failure (sequence, epoch, timestamp, min.insync.replicas...) carries it.
_NO_LOG_START = frozenset(
    {
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.UNKNOWN_TOPIC_ID,
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.KAFKA_STORAGE_ERROR,
        ErrorCode.INVALID_TOPIC_EXCEPTION,
        ErrorCode.INVALID_REQUIRED_ACKS,
        ErrorCode.MESSAGE_TOO_LARGE,
        ErrorCode.RECORD_LIST_TOO_LARGE,
        ErrorCode.CORRUPT_MESSAGE,
    }
)


async def handle(ctx: RequestContext, body: ProduceRequest) -> ProduceResponse | None:
    node: Node = ctx.node
    version = ctx.header.api_version
    acks = body.acks
    response = ProduceResponse()
    durable: list[tuple[Partition, int]] = []
    replicated: list[tuple[Partition, int, PartitionProduceResponse]] = []  # acks=all
    leaders: list[int] = []  # of partitions hosted elsewhere (KIP-951 hints)
    failed = False
    for topic in body.topic_data:
        name = node.image.resolve_topic(topic.name, topic.topic_id, by_id=version >= 13)
        out = TopicProduceResponse(name=topic.name, topic_id=topic.topic_id)
        response.responses.append(out)
        for data in topic.partition_data:
            result = PartitionProduceResponse(index=data.index)
            out.partition_responses.append(result)
            part = None
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
                        else missing_partition_error(node, name, data.index)
                    )
                    if result.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER:
                        leader, epoch = current_leader(node.image, name, data.index)
                        result.current_leader = LeaderIdAndEpoch(leader, epoch)
                        leaders.append(leader)
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
                    if last is not None and part.group is not None:
                        if part_acks == -1:
                            replicated.append((part, last, result))
                    elif last is not None and (
                        part.log.flush_due
                        or (part_acks == -1 and node.needs_fsync(part, part_acks))
                    ):
                        durable.append((part, last))
            if result.error_code != ErrorCode.NONE:
                # Kafka answers a failed partition with base offset -1 (not 0).
                result.base_offset = -1
                if part is not None and result.error_code not in _NO_LOG_START:
                    result.log_start_offset = part.log.log_start_offset
                failed = True
    for part, last in durable:
        await part.ensure_durable(last)
    if replicated:
        failed = await _await_commits(replicated, body.timeout_ms) or failed
    if acks == 0:
        if failed:
            raise CloseConnection("produce with acks=0 failed")
        return None
    response.node_endpoints = node_endpoints(node.image, leaders, NodeEndpoint)
    return response


def in_worker(batches: list[tuple[int, BatchHeader]]) -> bool:
    """Whether checking these batches' records is worth a worker thread."""
    return any(
        h.records_count >= WORKER_RECORDS
        or (h.compression and h.size_in_bytes >= WORKER_COMPRESSED_BYTES)
        for _, h in batches
    )


def _check_and_recompress(
    records: memoryview,
    batches: list[tuple[int, BatchHeader]],
    part: Partition,
    settings: admin.ProduceSettings,
    now_ms: int,
) -> memoryview:
    """The costly checks, and recompression if the topic asks for it: thread-safe."""
    config = part.log.config
    for position, header in batches:
        check_records(records, position, header, config, now_ms)
    if settings.codec is not None and any(h.compression != settings.codec for _, h in batches):
        return admin.recompress(records, settings.codec, settings.level, config.max_message_bytes)
    return records


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
    now_ms = node.clock.now_ms()
    try:
        batches = validate_produce_records(records, part.log.config, now_ms, records=False)
    except KafkaStorageError as exc:
        result.error_code = exc.error_code
        result.error_message = str(exc)
        if exc.error_code == ErrorCode.INVALID_TIMESTAMP:
            result.record_errors = timestamp_errors(records, part.log.config, node.clock.now_ms())
        return None
    recompress = settings.codec is not None and any(
        h.compression != settings.codec for _, h in batches
    )
    if not (recompress or in_worker(batches) or part.produce_lock.locked()):
        try:  # the common case: no await from here to the append
            checked = _check_and_recompress(records, batches, part, settings, now_ms)
        except KafkaStorageError as exc:
            result.error_code = exc.error_code
            result.error_message = str(exc)
            return None
        return await _store(node, part, checked, batches[0][1], result)
    async with part.produce_lock:
        try:
            checked = await trio.to_thread.run_sync(
                _check_and_recompress, records, batches, part, settings, now_ms
            )
        except KafkaStorageError as exc:
            result.error_code = exc.error_code
            result.error_message = str(exc)
            return None
        if part.log.closed:  # its topic was deleted while the check ran
            result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            return None
        return await _store(node, part, checked, batches[0][1], result)


async def _store(
    node: Node,
    part: Partition,
    records: memoryview,
    header: BatchHeader,
    result: PartitionProduceResponse,
) -> int | None:
    if part.group is None:
        return _append_checked(node, part, records, header, result)
    return await replicated_append(node, part, records, header, result)


async def replicated_append(
    node: Node,
    part: Partition,
    records: memoryview,
    header: BatchHeader,
    result: PartitionProduceResponse,
) -> int | None:
    """A replicated partition: the producer-state check and the proposal run
    in the driver task with no Raft step in between; the Raft leader's epoch
    stamps the batch (partitionLeaderEpoch)."""
    group = part.group
    assert group is not None
    payload = bytes(records)

    def propose(core: RaftNode) -> AppendInfo | None:
        if core.role is not Role.LEADER:
            raise NotLeader(core.known_leader())
        if header.producer_id >= 0:
            check = part.producers.check(
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                header.base_sequence + header.last_offset_delta,
            )
            if check.error != ErrorCode.NONE:
                result.error_code = check.error
                return None
            if check.duplicate_of is not None:
                result.base_offset = check.duplicate_of.first_offset
                result.log_start_offset = part.log.log_start_offset
                return AppendInfo(
                    check.duplicate_of.first_offset,
                    check.duplicate_of.last_offset,
                    -1,
                    -1,
                    -1,
                    part.log.log_start_offset,
                    0,
                    0,
                )
        outcome = core.propose(payload)
        if outcome.error_code != ErrorCode.NONE:
            raise NotLeader(core.known_leader())
        info: AppendInfo | None = group.log.last_append  # type: ignore[attr-defined]
        assert info is not None
        _record_producer(part, header, info)
        return info

    try:
        info = await node.quorum.driver.call(group.group_id, propose)  # type: ignore[attr-defined]
    except NotLeader:
        result.error_code = ErrorCode.NOT_LEADER_OR_FOLLOWER
        return None
    except KafkaStorageError as exc:
        result.error_code = exc.error_code
        result.error_message = str(exc)
        return None
    except OSError as exc:
        result.error_code = ErrorCode.KAFKA_STORAGE_ERROR
        result.error_message = f"append failed: {exc}"
        return None
    if info is None:
        return None
    if info.record_count:
        node.metrics.produced(part.topic, info.last_offset - info.base_offset + 1, len(records))
        result.base_offset = info.base_offset
        result.log_append_time_ms = info.log_append_time
        result.log_start_offset = info.log_start_offset
    return info.last_offset  # type: ignore[no-any-return]


async def _await_commits(
    waiting: list[tuple[Partition, int, PartitionProduceResponse]], timeout_ms: int
) -> bool:
    """acks=all on replicated partitions: wait until each batch is below its
    partition's high watermark (a majority of its voters holds it, fsynced);
    NOT_LEADER_OR_FOLLOWER if leadership is lost first, REQUEST_TIMED_OUT
    after the request's timeout. Whether any failed."""
    failed = False
    deadline = trio.current_time() + max(timeout_ms, 0) / 1000
    for part, last, result in waiting:
        while part.high_watermark <= last:
            if not part.is_leader:
                break
            with trio.move_on_at(deadline):
                await part.data_arrived.wait()
            if trio.current_time() >= deadline:
                break
        if part.high_watermark > last:
            continue
        result.error_code = (
            ErrorCode.NOT_LEADER_OR_FOLLOWER if not part.is_leader else ErrorCode.REQUEST_TIMED_OUT
        )
        result.base_offset = -1
        failed = True
    return failed


def _append_checked(
    node: Node,
    part: Partition,
    records: memoryview,
    header: BatchHeader,
    result: PartitionProduceResponse,
) -> int | None:
    """The producer-state check and the append, without awaiting."""
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
    _record_producer(part, header, info)
    part.advance_high_watermark()
    node.metrics.produced(part.topic, info.last_offset - info.base_offset + 1, len(records))
    result.base_offset = info.base_offset
    result.log_append_time_ms = info.log_append_time
    result.log_start_offset = info.log_start_offset
    return info.last_offset


def _record_producer(part: Partition, header: BatchHeader, info: AppendInfo) -> None:
    """An idempotent batch appended: its producer's sequences and offsets."""
    if header.producer_id >= 0:
        part.producers.update(
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            header.base_sequence + header.last_offset_delta,
            info.base_offset,
            info.last_offset,
        )


def timestamp_errors(
    records: memoryview, config: LogConfig, now_ms: int
) -> list[BatchIndexAndErrorMessage]:
    """The records of the first batch with a CreateTime out of the topic's
    window, as Kafka lists them (index in the batch, what is wrong). Decodes
    the records: only for a produce already refused."""
    low = now_ms - config.message_timestamp_before_max_ms
    high = now_ms + config.message_timestamp_after_max_ms
    try:
        for position, header in split_batches(records):
            batch = records[position : position + header.size_in_bytes]
            errors = [
                BatchIndexAndErrorMessage(
                    index,
                    f"Timestamp {record.timestamp} of message with offset {record.offset} is "
                    f"out of range. The timestamp should be within [{low}, {high}]",
                )
                for index, (_attributes, record) in enumerate(iter_records(batch))
                if not low <= record.timestamp <= high
            ]
            if errors:
                return errors
    except Exception:  # a batch too broken to list: no record errors
        return []
    return []
