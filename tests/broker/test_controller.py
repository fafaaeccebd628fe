"""Controller operations and metadata replay, without I/O."""

from __future__ import annotations

import random
import uuid

from broker.controller.controller import Controller, TopicSpec
from broker.controller.image import MetadataImage, replay
from broker.controller.records import decode_record, encode_record
from broker.errors import ErrorCode
from broker.recordbatch import build_batch, iter_records
from broker.wire.generated.register_broker_record import BrokerEndpoint, RegisterBrokerRecord


def _ids() -> uuid.UUID:
    _ids.n += 1  # type: ignore[attr-defined]
    return uuid.UUID(int=_ids.n)  # type: ignore[attr-defined]


_ids.n = 0  # type: ignore[attr-defined]


def apply(image: MetadataImage, records: list[object]) -> MetadataImage:
    for record in records:
        # every record goes through its wire form, as it would through the log
        image = replay(image, image.offset + 1, decode_record(encode_record(record)))
    return image


def with_brokers(*ids: int) -> MetadataImage:
    image = MetadataImage()
    return apply(
        image,
        [
            RegisterBrokerRecord(
                broker_id=i, end_points=[BrokerEndpoint("P", "h", 9092 + i, 0)], fenced=False
            )
            for i in ids
        ],
    )


def test_create_topics_records_and_replay() -> None:
    controller = Controller(1, 3, 1, new_uuid=_ids)
    image = with_brokers(1)
    results, records = controller.create_topics(
        image, [TopicSpec("a", -1, -1, {}, {"retention.ms": "10"})]
    )
    assert results[0].error == ErrorCode.NONE and results[0].num_partitions == 3
    image = apply(image, records)
    topic = image.topics["a"]
    assert sorted(topic.partitions) == [0, 1, 2]
    assert topic.partitions[0].leader == 1 and topic.configs == {"retention.ms": "10"}
    assert image.topic_by_id(topic.topic_id) is topic


def test_create_topics_validation() -> None:
    controller = Controller(1, 1, 1, new_uuid=_ids)
    image = with_brokers(1)
    image = apply(image, controller.create_topics(image, [TopicSpec("a", 1, 1, {}, {})])[1])
    specs = [
        TopicSpec("a", 1, 1, {}, {}),
        TopicSpec("b", 1, 1, {}, {}),
        TopicSpec("b", 1, 1, {}, {}),
        TopicSpec("..", 1, 1, {}, {}),
        TopicSpec("x" * 250, 1, 1, {}, {}),
        TopicSpec("c", 0, 1, {}, {}),
        TopicSpec("d", 1, 2, {}, {}),
        TopicSpec("e", 1, 1, {}, {"no.such.config": "1"}),
        TopicSpec("f", 1, 1, {}, {"retention.ms": "soon"}),
        TopicSpec("g", -1, -1, {0: [1], 1: [7]}, {}),
    ]
    results, records = controller.create_topics(image, specs)
    assert [r.error for r in results] == [
        ErrorCode.TOPIC_ALREADY_EXISTS,
        ErrorCode.NONE,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.INVALID_TOPIC_EXCEPTION,
        ErrorCode.INVALID_TOPIC_EXCEPTION,
        ErrorCode.INVALID_PARTITIONS,
        ErrorCode.INVALID_REPLICATION_FACTOR,
        ErrorCode.INVALID_CONFIG,
        ErrorCode.INVALID_CONFIG,
        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
    ]
    assert "no.such.config" in (results[7].message or "")
    assert sorted(apply(image, records).topics) == ["a", "b"]


def test_replicas_spread_over_brokers_from_a_random_start() -> None:
    starts = set()
    for seed in range(20):
        controller = Controller(1, 1, 1, new_uuid=_ids, random_index=random.Random(seed).randrange)
        image = with_brokers(1, 2, 3)
        image = apply(image, controller.create_topics(image, [TopicSpec("t", 4, 1, {}, {})])[1])
        leaders = [image.topics["t"].partitions[p].leader for p in range(4)]
        assert leaders in ([1, 2, 3, 1], [2, 3, 1, 2], [3, 1, 2, 3])
        starts.add(leaders[0])
    assert starts == {1, 2, 3}


def test_more_than_one_replica_is_refused_until_replication_exists() -> None:
    controller = Controller(1, 1, 1, new_uuid=_ids)
    image = with_brokers(1, 2, 3)
    results, records = controller.create_topics(
        image, [TopicSpec("t", 3, 2, {}, {}), TopicSpec("u", -1, -1, {0: [1, 2]}, {})]
    )
    assert [r.error for r in results] == [
        ErrorCode.INVALID_REPLICATION_FACTOR,
        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
    ]
    assert records == []


def test_delete_topics_by_name_and_id() -> None:
    controller = Controller(1, 1, 1, new_uuid=_ids)
    image = with_brokers(1)
    image = apply(
        image, controller.create_topics(image, [TopicSpec(n, 1, 1, {}, {}) for n in "ab"])[1]
    )
    b_id = image.topics["b"].topic_id
    results, records = controller.delete_topics(image, ["a", "zz"], [b_id, uuid.UUID(int=999)])
    assert [r.error for r in results] == [
        ErrorCode.NONE,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NONE,
        ErrorCode.UNKNOWN_TOPIC_ID,
    ]
    image = apply(image, records)
    assert image.topics == {} and image.topic_ids == {}


def test_producer_id_blocks_advance() -> None:
    controller = Controller(1, 1, 1)
    image = MetadataImage()
    first, records = controller.allocate_producer_ids(image, 0)
    image = apply(image, records)
    second, _ = controller.allocate_producer_ids(image, 0)
    assert (first, second) == (0, 1000)


def test_metadata_records_round_trip_through_a_batch() -> None:
    records = [RegisterBrokerRecord(broker_id=5, fenced=False)]
    batch = build_batch([(None, encode_record(r)) for r in records], timestamp=123, base_offset=10)
    ((attributes, record),) = list(iter_records(batch))
    assert attributes == 0 and record.offset == 10 and record.timestamp == 123
    assert record.value is not None and decode_record(record.value) == records[0]
