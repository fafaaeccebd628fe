"""Handlers against an in-process node with real log files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from kafka.record.memory_records import MemoryRecords

from broker.errors import ErrorCode
from broker.node import Node
from broker.wire.generated.create_topics_request import CreatableTopic, CreateTopicsRequest
from broker.wire.generated.delete_topics_request import DeleteTopicsRequest
from broker.wire.generated.fetch_request import FetchPartition, FetchRequest, FetchTopic
from broker.wire.generated.init_producer_id_request import InitProducerIdRequest
from broker.wire.generated.list_offsets_request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from broker.wire.generated.metadata_request import MetadataRequest, MetadataRequestTopic
from broker.wire.generated.offset_for_leader_epoch_request import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderPartition,
    OffsetForLeaderTopic,
)
from broker.wire.generated.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from tests.broker.helpers import call, client_batch, make_node


@pytest.fixture
async def node(tmp_path: Path) -> Node:
    n = make_node(tmp_path, "num.partitions=2")
    await n.register([("127.0.0.1", 9092)])
    return n


async def create(node: Node, name: str, partitions: int = 1, **kw: Any) -> int:
    body = CreateTopicsRequest(topics=[CreatableTopic(name, partitions, 1)], timeout_ms=1000, **kw)
    response = await call(node, 19, 7, body)
    code: int = response.topics[0].error_code
    return code


async def produce(
    node: Node, topic: str, batch: bytes, partition: int = 0, acks: int = -1, version: int = 9
) -> Any:
    body = ProduceRequest(
        None,
        acks,
        5000,
        [TopicProduceData(topic, partition_data=[PartitionProduceData(partition, batch)])],
    )
    response = await call(node, 0, version, body)
    return None if response is None else response.responses[0].partition_responses[0]


async def fetch(
    node: Node, topic: str, offset: int, version: int = 12, max_wait_ms: int = 0, min_bytes: int = 0
) -> Any:
    body = FetchRequest(
        max_wait_ms=max_wait_ms,
        min_bytes=min_bytes,
        topics=[
            FetchTopic(
                topic,
                partitions=[FetchPartition(0, fetch_offset=offset, partition_max_bytes=1 << 20)],
            )
        ],
    )
    if version >= 13 and topic in node.image.topics:
        body.topics[0].topic_id = node.image.topics[topic].topic_id
    response = await call(node, 1, version, body)
    return response.responses[0].partitions[0]


def values(records: Any) -> list[bytes]:
    out = []
    mr = MemoryRecords(bytes(records))
    while (batch := mr.next_batch()) is not None:
        out += [r.value for r in batch]
    return out


async def test_produce_then_fetch_every_version_shape(node: Node) -> None:
    assert await create(node, "t") == ErrorCode.NONE
    for version in (3, 7, 9, 12):
        result = await produce(node, "t", client_batch([b"v%d" % version]), version=version)
        assert result.error_code == ErrorCode.NONE
    for version in (4, 11, 12, 16):
        pd = await fetch(node, "t", 0, version=version)
        assert pd.error_code == 0 and pd.high_watermark == 4
        assert values(pd.records) == [b"v3", b"v7", b"v9", b"v12"]


async def test_offsets_are_assigned_and_survive_a_restart(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    await node.register([("127.0.0.1", 9092)])
    assert await create(node, "t") == 0
    first = await produce(node, "t", client_batch([b"a", b"b", b"c"]))
    second = await produce(node, "t", client_batch([b"d"]))
    assert (first.base_offset, second.base_offset) == (0, 3)
    await node.shutdown()
    again = make_node(tmp_path)
    pd = await fetch(again, "t", 0)
    assert values(pd.records) == [b"a", b"b", b"c", b"d"]
    assert "t" in again.image.topics


async def test_produce_errors_are_kafka_codes(node: Node) -> None:
    await create(node, "t")
    assert (
        await produce(node, "nope", client_batch([b"x"]))
    ).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    corrupt = bytearray(client_batch([b"x"]))
    corrupt[-1] ^= 0xFF
    assert (await produce(node, "t", bytes(corrupt))).error_code == ErrorCode.CORRUPT_MESSAGE
    assert (
        await produce(node, "t", client_batch([b"x"]), acks=2)
    ).error_code == ErrorCode.INVALID_REQUIRED_ACKS
    big = client_batch([b"x" * (2 << 20)])
    assert (await produce(node, "t", big)).error_code == ErrorCode.MESSAGE_TOO_LARGE
    assert (await fetch(node, "t", 0)).high_watermark == 0


async def test_failed_partitions_answer_base_offset_minus_one(node: Node) -> None:
    """As Kafka does (compat/test_kafka_differential.py::test_produce found it)."""
    await create(node, "t")
    for result in (
        await produce(node, "nope", client_batch([b"x"])),
        await produce(node, "t", client_batch([b"x"]), acks=2),
        await produce(node, "t", client_batch([b"x"]), partition=7),
    ):
        assert result.error_code != ErrorCode.NONE and result.base_offset == -1
    # v13 names topics by id: an id nobody has, the zero id included.
    assert (await produce(node, "t", client_batch([b"x"]), version=13)).error_code == (
        ErrorCode.UNKNOWN_TOPIC_ID
    )


async def test_acks_zero_sends_no_response(node: Node) -> None:
    await create(node, "t")
    assert await produce(node, "t", client_batch([b"x"]), acks=0) is None
    assert (await fetch(node, "t", 0)).high_watermark == 1


async def test_idempotent_retry_returns_original_offset(node: Node) -> None:
    await create(node, "t")
    ipid = await call(
        node, 22, 4, InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=1000)
    )
    pid = ipid.producer_id
    assert pid >= 0 and ipid.producer_epoch == 0
    b0 = client_batch([b"a", b"b"], producer_id=pid, producer_epoch=0, base_sequence=0)
    b1 = client_batch([b"c"], producer_id=pid, producer_epoch=0, base_sequence=2)
    assert (await produce(node, "t", b0)).base_offset == 0
    assert (await produce(node, "t", b1)).base_offset == 2
    retry = await produce(node, "t", b0)
    assert retry.error_code == 0 and retry.base_offset == 0
    gap = client_batch([b"z"], producer_id=pid, producer_epoch=0, base_sequence=9)
    assert (await produce(node, "t", gap)).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    bumped = client_batch([b"z"], producer_id=pid, producer_epoch=1, base_sequence=0)
    assert (await produce(node, "t", bumped)).base_offset == 3
    stale = client_batch([b"z"], producer_id=pid, producer_epoch=0, base_sequence=3)
    assert (await produce(node, "t", stale)).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert (await fetch(node, "t", 0)).high_watermark == 4


async def test_producer_state_is_rebuilt_after_restart(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    await node.register([("127.0.0.1", 9092)])
    await create(node, "t")
    batch = client_batch([b"a"], producer_id=42, producer_epoch=3, base_sequence=0)
    assert (await produce(node, "t", batch)).base_offset == 0
    await node.shutdown()
    again = make_node(tmp_path)
    retry = await produce(again, "t", batch)
    assert retry.error_code == 0 and retry.base_offset == 0
    assert (await fetch(again, "t", 0)).high_watermark == 1
    old_epoch = client_batch([b"b"], producer_id=42, producer_epoch=2, base_sequence=1)
    assert (await produce(again, "t", old_epoch)).error_code == ErrorCode.INVALID_PRODUCER_EPOCH


async def test_producer_ids_are_never_reused_across_restarts(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    first = (await call(node, 22, 4, InitProducerIdRequest(transactional_id=None))).producer_id
    await node.shutdown()
    again = make_node(tmp_path)
    second = (await call(again, 22, 4, InitProducerIdRequest(transactional_id=None))).producer_id
    assert second > first


async def test_fetch_out_of_range_and_unknown(node: Node) -> None:
    await create(node, "t")
    await produce(node, "t", client_batch([b"a"]))
    beyond = await fetch(node, "t", 5)
    assert beyond.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    # No offsets with the error, as Kafka answers (compat/test_kafka_differential.py).
    assert (beyond.high_watermark, beyond.last_stable_offset, beyond.log_start_offset) == (
        -1,
        -1,
        -1,
    )
    unknown = await fetch(node, "nope", 0)
    assert (unknown.error_code, unknown.high_watermark) == (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        -1,
    )
    empty = await fetch(node, "t", 1)
    assert empty.error_code == 0 and bytes(empty.records) == b""


async def test_long_poll_is_woken_by_an_append(node: Node) -> None:
    await create(node, "t")
    result: list[Any] = []

    async def poll() -> None:
        result.append(await fetch(node, "t", 0, max_wait_ms=60_000, min_bytes=1))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        await trio.testing.wait_all_tasks_blocked()
        assert not result
        start = trio.current_time()
        await produce(node, "t", client_batch([b"wake"]))
    assert values(result[0].records) == [b"wake"]
    assert trio.current_time() - start < 30  # woken by the append, not the 60 s timeout


async def test_long_poll_times_out_empty(
    node: Node, autojump_clock: trio.testing.MockClock
) -> None:
    await create(node, "t")
    start = trio.current_time()
    pd = await fetch(node, "t", 0, max_wait_ms=500, min_bytes=1)
    assert trio.current_time() - start == pytest.approx(0.5)
    assert bytes(pd.records) == b""


async def test_metadata_lists_broker_and_auto_creates(node: Node) -> None:
    md = await call(node, 3, 12, MetadataRequest(topics=[MetadataRequestTopic(name="auto")]))
    assert [(b.node_id, b.host, b.port) for b in md.brokers] == [(node.node_id, "127.0.0.1", 9092)]
    (topic,) = md.topics
    assert topic.error_code == 0 and len(topic.partitions) == 2  # num.partitions=2
    assert topic.partitions[0].leader_id == node.node_id
    no_auto = await call(
        node,
        3,
        12,
        MetadataRequest(
            topics=[MetadataRequestTopic(name="other")], allow_auto_topic_creation=False
        ),
    )
    assert no_auto.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    everything = await call(node, 3, 1, MetadataRequest(topics=None))
    assert [t.name for t in everything.topics] == ["auto"]
    bad = await call(node, 3, 12, MetadataRequest(topics=[MetadataRequestTopic(name="bad name!")]))
    assert bad.topics[0].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION


async def test_auto_create_can_be_disabled(tmp_path: Path) -> None:
    node = make_node(tmp_path, "auto.create.topics.enable=false")
    md = await call(node, 3, 12, MetadataRequest(topics=[MetadataRequestTopic(name="auto")]))
    assert md.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


async def test_create_and_delete_topics(node: Node, tmp_path: Path) -> None:
    assert await create(node, "t", partitions=3) == 0
    assert await create(node, "t") == ErrorCode.TOPIC_ALREADY_EXISTS
    assert await create(node, "bad/name") == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert await create(node, "zero", partitions=0) == ErrorCode.INVALID_PARTITIONS
    assert await create(node, "v", validate_only=True) == 0
    assert "v" not in node.image.topics
    assert (tmp_path / "t-2").is_dir()
    deleted = await call(
        node, 20, 4, DeleteTopicsRequest(topic_names=["t", "nope"], timeout_ms=1000)
    )
    assert [(r.name, r.error_code) for r in deleted.responses] == [
        ("t", 0),
        ("nope", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    assert not (tmp_path / "t-2").exists()
    assert await create(node, "t") == 0  # a new topic of the same name, new id
    assert (await fetch(node, "t", 0)).high_watermark == 0


async def test_list_offsets_earliest_latest_time_and_max(node: Node) -> None:
    await create(node, "t")
    await produce(node, "t", client_batch([b"a", b"b"], timestamp=1000))
    await produce(node, "t", client_batch([b"c"], timestamp=5000))
    await produce(node, "t", client_batch([b"d"], timestamp=3000))

    async def lookup(ts: int) -> tuple[int, int]:
        body = ListOffsetsRequest(
            replica_id=-1, topics=[ListOffsetsTopic("t", [ListOffsetsPartition(0, timestamp=ts)])]
        )
        r = (await call(node, 2, 8, body)).topics[0].partitions[0]
        return r.offset, r.timestamp

    assert (await lookup(-2))[0] == 0
    assert (await lookup(-1))[0] == 4
    assert await lookup(-3) == (2, 5000)
    assert await lookup(1001) == (1, 1001)
    assert await lookup(4000) == (2, 5000)
    assert (await lookup(9999))[0] == -1


async def test_list_offsets_refuses_a_partition_named_twice(node: Node) -> None:
    """Once, INVALID_REQUEST, as Kafka answers (compat/test_kafka_differential.py)."""
    await create(node, "t", 2)
    body = ListOffsetsRequest(
        replica_id=-1,
        topics=[
            ListOffsetsTopic(
                "t",
                [
                    ListOffsetsPartition(0, timestamp=-1),
                    ListOffsetsPartition(1, timestamp=-1),
                    ListOffsetsPartition(0, timestamp=-2),
                ],
            )
        ],
    )
    parts = (await call(node, 2, 8, body)).topics[0].partitions
    assert [(p.partition_index, p.error_code) for p in parts] == [
        (0, ErrorCode.INVALID_REQUEST),
        (1, ErrorCode.NONE),
    ]


async def test_offset_for_leader_epoch(node: Node) -> None:
    await create(node, "t")
    await produce(node, "t", client_batch([b"a", b"b"]))
    body = OffsetForLeaderEpochRequest(
        replica_id=-1, topics=[OffsetForLeaderTopic("t", [OffsetForLeaderPartition(0, -1, 0)])]
    )
    r = (await call(node, 23, 4, body)).topics[0].partitions[0]
    assert (r.error_code, r.leader_epoch, r.end_offset) == (0, 0, 2)
    fenced = OffsetForLeaderEpochRequest(
        replica_id=-1, topics=[OffsetForLeaderTopic("t", [OffsetForLeaderPartition(0, 5, 0)])]
    )
    r = (await call(node, 23, 4, fenced)).topics[0].partitions[0]
    assert r.error_code == ErrorCode.UNKNOWN_LEADER_EPOCH


async def test_produce_to_internal_topics_is_refused(node: Node) -> None:
    """Issue 11 item 7: a client cannot write to __consumer_offsets (Kafka's
    ReplicaManager answers INVALID_TOPIC_EXCEPTION for internal topics)."""
    from broker.controller.controller import TopicSpec

    await node.create_topics([TopicSpec("__consumer_offsets", 1, 1, {}, {})])
    junk = client_batch([b"junk"], keys=[b"\xff\xffnot a key"])
    result = await produce(node, "__consumer_offsets", junk)
    assert result.error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
    part = node.replicas.get("__consumer_offsets", 0)
    assert part is not None and part.log.log_end_offset == 0
    # An ordinary topic with a leading underscore is not internal.
    assert await create(node, "__mine") == ErrorCode.NONE
    assert (await produce(node, "__mine", junk)).error_code == ErrorCode.NONE


async def test_find_coordinator_refuses_unknown_key_types(node: Node) -> None:
    """INVALID_REQUEST, as Kafka answers (compat/test_kafka_differential.py found it)."""
    from broker.wire.generated.find_coordinator_request import FindCoordinatorRequest

    response = await call(node, 10, 4, FindCoordinatorRequest(key_type=9, coordinator_keys=["g"]))
    assert [c.error_code for c in response.coordinators] == [ErrorCode.INVALID_REQUEST]
    response = await call(node, 10, 4, FindCoordinatorRequest(key_type=1, coordinator_keys=["t"]))
    assert [c.error_code for c in response.coordinators] == [
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    ]
    response = await call(node, 10, 4, FindCoordinatorRequest(key_type=2, coordinator_keys=["s"]))
    assert [c.error_code for c in response.coordinators] == [ErrorCode.COORDINATOR_NOT_AVAILABLE]
