"""confluent-kafka's AdminClient (librdkafka) against a real broker process.

Topics with configs (created, described with sources and synonyms, altered
with IncrementalAlterConfigs and the legacy AlterConfigs, rejected when
invalid, deleted), partitions added, records deleted, the cluster and the
topics described, elections; and ``compression.type`` recompression, checked
in the segment file on disk and by reading the records back with librdkafka.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from confluent_kafka import (
    Consumer,
    ElectionType,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
)
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewPartitions, NewTopic

from compat.broker_process import BrokerProcess
from tests.admin.helpers import stored_codecs

CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
TIMEOUT_S = 15.0
K = TypeVar("K")


def results(futures: Mapping[K, Future[Any]]) -> dict[K, Any]:
    return {key: f.result(TIMEOUT_S) for key, f in futures.items()}


def error_of(future: Future[Any]) -> KafkaError:
    with pytest.raises(KafkaException) as caught:
        future.result(TIMEOUT_S)
    error: KafkaError = caught.value.args[0]
    return error


def admin_for(broker: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def described(admin: AdminClient, topic: str) -> dict[str, ConfigEntry]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries: dict[str, ConfigEntry] = admin.describe_configs([resource])[resource].result(TIMEOUT_S)
    return entries


def incremental(admin: AdminClient, topic: str, *entries: ConfigEntry) -> Future[Any]:
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=list(entries))
    future: Future[Any] = admin.incremental_alter_configs([resource])[resource]
    return future


def read_values(bootstrap: str, topic: str, partition: int, count: int) -> list[tuple[int, bytes]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, partition, -2)])  # OFFSET_BEGINNING
        out: list[tuple[int, bytes]] = []
        for _ in range(60):
            if len(out) >= count:
                break
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            offset, value = msg.offset(), msg.value()
            assert offset is not None and value is not None
            out.append((offset, value))
        return out
    finally:
        consumer.close()


def test_topic_configs_lifecycle(broker: BrokerProcess, topic: str) -> None:
    admin = admin_for(broker)
    results(admin.create_topics([NewTopic(topic, 2, 1, config={"retention.ms": "3600000"})]))
    again = admin.create_topics([NewTopic(topic, 2, 1)])[topic]
    assert error_of(again).code() == KafkaError.TOPIC_ALREADY_EXISTS
    bad = admin.create_topics([NewTopic(topic + ".c", 1, 1, config={"cleanup.policy": "compact"})])
    error = error_of(bad[topic + ".c"])
    assert error.code() == KafkaError.INVALID_CONFIG and "cleanup.policy" in error.str()

    entries = described(admin, topic)
    retention = entries["retention.ms"]
    assert retention.value == "3600000"
    assert ConfigSource(retention.source) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert list(retention.synonyms) == ["retention.ms", "log.retention.hours"]
    assert entries["segment.bytes"].is_default

    incremental(
        admin,
        topic,
        ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND),
    ).result(TIMEOUT_S)
    entries = described(admin, topic)
    assert entries["retention.bytes"].value == "1048576"
    assert entries["retention.ms"].is_default
    assert entries["cleanup.policy"].value == "delete"

    subtract = incremental(
        admin,
        topic,
        ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SUBTRACT),
    )
    assert error_of(subtract).code() == KafkaError.INVALID_CONFIG
    compact = incremental(
        admin,
        topic,
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
    )
    assert error_of(compact).code() == KafkaError.INVALID_CONFIG

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy API, on purpose
        resource = ConfigResource(ResourceType.TOPIC, topic, set_config={"segment.ms": "100000"})
        admin.alter_configs([resource])[resource].result(TIMEOUT_S)
    entries = described(admin, topic)
    assert entries["segment.ms"].value == "100000"
    assert entries["retention.bytes"].is_default  # AlterConfigs replaces the whole set

    results(admin.delete_topics([topic]))
    gone = admin.delete_topics([topic])[topic]
    assert error_of(gone).code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_create_partitions_and_delete_records(broker: BrokerProcess, topic: str) -> None:
    admin = admin_for(broker)
    results(admin.create_topics([NewTopic(topic, 1, 1)]))
    results(admin.create_partitions([NewPartitions(topic, 3)]))
    shrink = admin.create_partitions([NewPartitions(topic, 2)])[topic]
    assert error_of(shrink).code() == KafkaError.INVALID_PARTITIONS
    [description] = results(admin.describe_topics(TopicCollection([topic]))).values()
    assert [p.id for p in description.partitions] == [0, 1, 2]

    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(5):
        producer.produce(topic, b"v%d" % i, partition=2)
    assert producer.flush(TIMEOUT_S) == 0
    deleted = results(admin.delete_records([TopicPartition(topic, 2, 3)]))
    assert [d.low_watermark for d in deleted.values()] == [3]
    assert read_values(broker.bootstrap, topic, 2, 2) == [(3, b"v3"), (4, b"v4")]
    low, high = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "unused"}
    ).get_watermark_offsets(TopicPartition(topic, 2), timeout=TIMEOUT_S)
    assert (low, high) == (3, 5)


def test_describe_cluster_and_elect_leaders(broker: BrokerProcess, topic: str) -> None:
    admin = admin_for(broker)
    cluster = admin.describe_cluster(request_timeout=TIMEOUT_S).result(TIMEOUT_S)
    assert cluster.cluster_id
    assert [(n.id, n.port) for n in cluster.nodes] == [(1, broker.port)]
    assert cluster.controller is not None and cluster.controller.id == 1
    results(admin.create_topics([NewTopic(topic, 1, 1)]))
    elected = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)])
    outcome = elected.result(TIMEOUT_S)
    error = outcome[TopicPartition(topic, 0)]
    assert error is None or error.code() == KafkaError.ELECTION_NOT_NEEDED


@pytest.mark.parametrize("target", sorted(CODECS))
def test_compression_type_recompresses(broker: BrokerProcess, topic: str, target: str) -> None:
    admin = admin_for(broker)
    results(admin.create_topics([NewTopic(topic, 1, 1, config={"compression.type": target})]))
    sent = "lz4" if target != "lz4" else "none"
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "compression.type": sent, "linger.ms": 20}
    )
    values = [b"record %d " % i * 20 for i in range(40)]
    for value in values:
        producer.produce(topic, value, partition=0)
    assert producer.flush(TIMEOUT_S) == 0
    codecs = stored_codecs(broker.data_dir, topic)
    assert codecs and set(codecs) == {CODECS[target]}
    assert [v for _o, v in read_values(broker.bootstrap, topic, 0, len(values))] == values
