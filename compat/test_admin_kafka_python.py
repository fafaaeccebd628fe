"""kafka-python's KafkaAdminClient against a real broker process.

Topics with configs (created, described with sources and synonyms, altered
incrementally and wholesale, rejected when invalid, deleted), partitions
added, records deleted, the cluster, log dirs, reassignments and elections
described; and ``compression.type`` recompression, checked in the segment
file on disk and by reading the records back with KafkaConsumer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kafka.errors
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import AlterConfigOp, ConfigResource, NewTopic

from compat.broker_process import BrokerProcess
from tests.admin.helpers import stored_codecs

CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@pytest.fixture
def admin(broker: BrokerProcess) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        yield client
    finally:
        client.close()


def topic_configs(admin: KafkaAdminClient, topic: str, **kw: object) -> dict[str, dict[str, Any]]:
    result = admin.describe_configs([ConfigResource("TOPIC", topic)], **kw)
    configs: dict[str, dict[str, Any]] = result["topic"][topic]
    return configs


def read_values(bootstrap: str, topic: str, partition: int = 0) -> list[tuple[int, bytes]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        out: list[tuple[int, bytes]] = []
        for _ in range(50):
            if consumer.position(tp) >= end:
                break
            for records in consumer.poll(timeout_ms=500).values():
                out += [(r.offset, r.value) for r in records]
        return out
    finally:
        consumer.close()


def test_topic_configs_lifecycle(admin: KafkaAdminClient, topic: str) -> None:
    admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})])
    with pytest.raises(kafka.errors.TopicAlreadyExistsError):
        admin.create_topics([NewTopic(topic, 2, 1)])
    with pytest.raises(kafka.errors.InvalidConfigurationError, match=r"cleanup\.policy"):
        admin.create_topics(
            [NewTopic(topic + ".c", 1, 1, topic_configs={"cleanup.policy": "compact"})]
        )

    described = topic_configs(admin, topic, include_synonyms=True, config_filter="all")
    retention = described["retention.ms"]
    assert (retention["value"], retention["config_source"]) == ("3600000", "DYNAMIC_TOPIC_CONFIG")
    assert [s["name"] for s in retention["synonyms"]] == ["retention.ms", "log.retention.hours"]
    assert described["segment.bytes"]["config_source"] == "DEFAULT_CONFIG"
    assert described["write.caching"]["value"] == "false"

    # IncrementalAlterConfigs (the client's choice on a broker that has it).
    result = admin.alter_configs(
        [
            ConfigResource(
                "TOPIC",
                topic,
                {"retention.bytes": "1048576", "retention.ms": (AlterConfigOp.DELETE, None)},
            )
        ]
    )
    assert result == {"topic": {topic: "OK"}}
    modified = topic_configs(admin, topic)
    assert {k: v["value"] for k, v in modified.items()} == {"retention.bytes": "1048576"}

    rejected = admin.alter_configs([ConfigResource("TOPIC", topic, {"segment.bytes": "tiny"})])
    assert "InvalidConfigurationError" in rejected["topic"][topic]
    assert "segment.bytes" in rejected["topic"][topic]

    # Legacy AlterConfigs: the client fills in the other modified keys itself.
    result = admin.alter_configs(
        [ConfigResource("TOPIC", topic, {"segment.ms": "100000"})], incremental=False
    )
    assert result == {"topic": {topic: "OK"}}
    modified = topic_configs(admin, topic)
    assert {k: v["value"] for k, v in modified.items()} == {
        "retention.bytes": "1048576",
        "segment.ms": "100000",
    }
    admin.reset_configs([ConfigResource("TOPIC", topic, ["segment.ms", "retention.bytes"])])
    assert topic_configs(admin, topic) == {}

    admin.delete_topics([topic])
    assert topic not in admin.list_topics()
    with pytest.raises(kafka.errors.UnknownTopicOrPartitionError):
        admin.delete_topics([topic])


def test_create_partitions_and_delete_records(
    admin: KafkaAdminClient, broker: BrokerProcess, topic: str
) -> None:
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.create_partitions({topic: 3})
    [described] = admin.describe_topics([topic])
    assert len(described["partitions"]) == 3
    with pytest.raises(kafka.errors.InvalidPartitionsError):
        admin.create_partitions({topic: 2})
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for i in range(5):
        producer.send(topic, b"v%d" % i, partition=2).get(timeout=10)
    producer.close()
    result = admin.delete_records({TopicPartition(topic, 2): 3})
    assert result[TopicPartition(topic, 2)]["low_watermark"] == 3
    assert read_values(broker.bootstrap, topic, 2) == [(3, b"v3"), (4, b"v4")]
    with pytest.raises(kafka.errors.OffsetOutOfRangeError):
        admin.delete_records({TopicPartition(topic, 2): 99})


def test_cluster_log_dirs_reassignments_elections(
    admin: KafkaAdminClient, broker: BrokerProcess, topic: str
) -> None:
    cluster = admin.describe_cluster()
    assert [(b["broker_id"], b["port"]) for b in cluster["brokers"]] == [(1, broker.port)]
    assert cluster["controller_id"] == 1 and cluster["cluster_id"]
    admin.create_topics([NewTopic(topic, 2, 1)])
    [dirs] = admin.describe_log_dirs()
    names = {t["name"] for d in dirs["log_dirs"] for t in d["topics"]}
    assert topic in names
    assert admin.list_partition_reassignments() == {}
    admin.elect_leaders(0, {topic: [0, 1]})  # ELECTION_NOT_NEEDED is success to the client
    described = admin.describe_topic_partitions([topic])
    assert [p["partition_index"] for p in described["topics"][0]["partitions"]] == [0, 1]


@pytest.mark.parametrize("target", sorted(CODECS))
def test_compression_type_recompresses(
    admin: KafkaAdminClient, broker: BrokerProcess, topic: str, target: str
) -> None:
    sent = "zstd" if target == "gzip" else "gzip"
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"compression.type": target})])
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", compression_type=sent, linger_ms=50
    )
    values = [b"record %d " % i * 20 for i in range(40)]
    for value in values:
        producer.send(topic, value, partition=0)
    producer.flush(timeout=10)
    producer.close()
    codecs = stored_codecs(broker.data_dir, topic)
    assert codecs and set(codecs) == {CODECS[target]}
    assert [v for _offset, v in read_values(broker.bootstrap, topic)] == values
