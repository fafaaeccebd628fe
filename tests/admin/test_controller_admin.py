"""Controller operations of the admin surface: records out, image untouched."""

from __future__ import annotations

import uuid

from broker.controller.controller import ConfigAlteration, Controller, PartitionsSpec, TopicSpec
from broker.controller.image import BROKER_RESOURCE, TOPIC_RESOURCE, MetadataImage, replay
from broker.errors import ErrorCode
from broker.wire.generated.config_record import ConfigRecord
from broker.wire.generated.partition_record import PartitionRecord
from broker.wire.generated.register_broker_record import BrokerEndpoint, RegisterBrokerRecord


def image_with(controller: Controller, *specs: TopicSpec, brokers: int = 1) -> MetadataImage:
    image = MetadataImage()
    records: list[object] = [
        RegisterBrokerRecord(
            broker_id=b,
            incarnation_id=uuid.uuid4(),
            broker_epoch=0,
            end_points=[BrokerEndpoint("PLAINTEXT", "h", 9092 + b, 0)],
            fenced=False,
        )
        for b in range(1, brokers + 1)
    ]
    results, created = controller.create_topics(_apply(image, records), list(specs))
    assert all(r.error == ErrorCode.NONE for r in results)
    return _apply(_apply(image, records), created)


def _apply(image: MetadataImage, records: list[object]) -> MetadataImage:
    for record in records:
        image = replay(image, image.offset + 1, record)
    return image


def test_alter_configs_emits_only_changes() -> None:
    c = Controller(1, 1, 1)
    image = image_with(c, TopicSpec("t", 1, 1, {}, {"retention.ms": "10", "segment.ms": "20"}))
    results, records = c.alter_configs(
        image,
        [
            ConfigAlteration(
                TOPIC_RESOURCE, "t", [("retention.ms", 1, None), ("segment.ms", 0, "20")]
            )
        ],
        incremental=True,
    )
    assert results[0].error == ErrorCode.NONE
    assert records == [ConfigRecord(TOPIC_RESOURCE, "t", "retention.ms", None)]
    after = _apply(image, records)
    assert after.topics["t"].configs == {"segment.ms": "20"}
    assert image.topics["t"].configs == {"retention.ms": "10", "segment.ms": "20"}


def test_alter_configs_errors_per_resource() -> None:
    c = Controller(1, 1, 1)
    image = image_with(c, TopicSpec("t", 1, 1, {}, {}))
    results, records = c.alter_configs(
        image,
        [
            ConfigAlteration(TOPIC_RESOURCE, "missing", [("retention.ms", 0, "1")]),
            ConfigAlteration(TOPIC_RESOURCE, "t", [("cleanup.policy", 0, "compact")]),
            ConfigAlteration(BROKER_RESOURCE, "1", [("log.retention.ms", 0, "1")]),
            ConfigAlteration(BROKER_RESOURCE, "2", [("log.retention.ms", 0, "1")]),
            ConfigAlteration(16, "x", []),
        ],
        incremental=False,
    )
    assert [r.error for r in results] == [
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.INVALID_CONFIG,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.INVALID_REQUEST,
    ]
    assert "cleanup.policy" in (results[1].message or "")
    assert "Unexpected broker id" in (results[3].message or "")
    assert records == []
    twice = [ConfigAlteration(TOPIC_RESOURCE, "t", [])] * 2
    assert {r.error for r in c.alter_configs(image, twice, incremental=True)[0]} == {
        ErrorCode.INVALID_REQUEST
    }


def test_create_partitions_round_robin_and_manual() -> None:
    c = Controller(1, 1, 1, random_index=lambda n: n - 1)
    image = image_with(c, TopicSpec("t", 2, 1, {}, {}), brokers=3)
    results, records = c.create_partitions(image, [PartitionsSpec("t", 4)])
    assert results[0].error == ErrorCode.NONE and results[0].num_partitions == 4
    assert [(r.partition_id, r.replicas) for r in records] == [(2, [3]), (3, [1])]
    results, records = c.create_partitions(image, [PartitionsSpec("t", 3, [[2]])])
    assert results[0].error == ErrorCode.NONE
    assert isinstance(records[0], PartitionRecord) and records[0].leader == 2
    assert len(_apply(image, records).topics["t"].partitions) == 3


def test_create_partitions_errors() -> None:
    c = Controller(1, 1, 1)
    image = image_with(c, TopicSpec("t", 2, 1, {}, {}))
    cases = [
        (PartitionsSpec("nope", 3), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        (PartitionsSpec("t", 1), ErrorCode.INVALID_PARTITIONS),
        (PartitionsSpec("t", 2), ErrorCode.INVALID_PARTITIONS),
        (PartitionsSpec("t", 4, [[1]]), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        (PartitionsSpec("t", 3, [[7]]), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        (PartitionsSpec("t", 3, [[1, 1]]), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    ]
    for spec, error in cases:
        results, records = c.create_partitions(image, [spec])
        assert (results[0].error, records) == (error, []), spec
    dup, _ = c.create_partitions(image, [PartitionsSpec("t", 3), PartitionsSpec("t", 4)])
    assert {r.error for r in dup} == {ErrorCode.INVALID_REQUEST}
