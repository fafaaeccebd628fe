"""The Apache Kafka Java ``Admin`` client against the broker, beyond the shared suite.

Topic configs (create with configs, describe with their sources, alter
incrementally, refuse invalid ones), partitions (grow; refuse shrinking),
records (DeleteRecords and the log start offset it moves), the cluster
(DescribeCluster), offsets (ListOffsets earliest/latest/max-timestamp) and
consumer groups (list, describe, offsets, alter offsets, delete). Each
expectation is what Apache Kafka 4.1 answers, error names included.
"""

from __future__ import annotations

import dataclasses

import pytest

from compat.broker_process import BrokerProcess
from compat.kafka.java_client import JAVA, java_driver
from compat.suite import ClientError, eventually, make_messages, now_ms

__all__ = ["java_driver"]


def _configs(bootstrap: str, topic: str) -> dict[str, dict[str, object]]:
    result: dict[str, dict[str, object]] = JAVA.admin_call(
        bootstrap, "describe_configs", resource_type="TOPIC", resource_name=topic
    )
    return result


@pytest.mark.apis("CreateTopics", "Metadata")
def test_create_topic_with_configs_and_describe_them(broker: BrokerProcess, topic: str) -> None:
    errors = JAVA.admin_call(
        broker.bootstrap,
        "create_topics",
        topics=[
            {
                "name": topic,
                "partitions": 3,
                "replication_factor": 1,
                "configs": {"retention.ms": "123456", "max.message.bytes": "200000"},
            }
        ],
    )
    assert errors == {topic: None}
    configs = _configs(broker.bootstrap, topic)
    assert configs["retention.ms"]["value"] == "123456"
    assert configs["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert configs["max.message.bytes"]["value"] == "200000"
    assert configs["max.message.bytes"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert configs["segment.bytes"]["source"] in {"DEFAULT_CONFIG", "STATIC_BROKER_CONFIG"}
    assert configs["segment.bytes"]["value"] == "1073741824"
    described = JAVA.admin_call(broker.bootstrap, "describe_topics", topics=[topic])[topic]
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    assert all(p["leader"] == broker.node_id for p in described["partitions"])
    assert all(p["isr"] == [broker.node_id] for p in described["partitions"])


@pytest.mark.apis("CreateTopics")
@pytest.mark.parametrize(
    ("configs", "error"),
    [
        ({"retention.ms": "not-a-number"}, "INVALID_CONFIG"),
        ({"no.such.config": "1"}, "INVALID_CONFIG"),
        ({"cleanup.policy": "sideways"}, "INVALID_CONFIG"),
    ],
    ids=["bad-value", "unknown-key", "bad-enum"],
)
def test_create_topic_refuses_invalid_configs(
    broker: BrokerProcess, topic: str, configs: dict[str, str], error: str
) -> None:
    errors = JAVA.admin_call(
        broker.bootstrap,
        "create_topics",
        topics=[{"name": topic, "partitions": 1, "replication_factor": 1, "configs": configs}],
    )
    assert errors == {topic: error}
    assert topic not in JAVA.list_topics(broker.bootstrap)


@pytest.mark.apis("CreateTopics")
def test_create_topic_refuses_bad_counts(broker: BrokerProcess, topic: str) -> None:
    errors = JAVA.admin_call(
        broker.bootstrap,
        "create_topics",
        topics=[
            {"name": topic + "-rf", "partitions": 1, "replication_factor": 3},
            {"name": topic + "-p", "partitions": 0, "replication_factor": 1},
        ],
    )
    assert errors == {
        topic + "-rf": "INVALID_REPLICATION_FACTOR",
        topic + "-p": "INVALID_PARTITIONS",
    }


@pytest.mark.apis("CreateTopics")
def test_incremental_alter_configs(broker: BrokerProcess, topic: str) -> None:
    JAVA.create_topic(broker.bootstrap, topic, 1)
    JAVA.admin_call(
        broker.bootstrap,
        "alter_configs",
        resource_type="TOPIC",
        resource_name=topic,
        ops=[["retention.ms", "3600000", "SET"], ["retention.bytes", "1048576", "SET"]],
    )
    configs = _configs(broker.bootstrap, topic)
    assert configs["retention.ms"]["value"] == "3600000"
    assert configs["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    JAVA.admin_call(
        broker.bootstrap,
        "alter_configs",
        resource_type="TOPIC",
        resource_name=topic,
        ops=[["retention.ms", None, "DELETE"]],
    )
    configs = _configs(broker.bootstrap, topic)
    assert configs["retention.ms"]["value"] == "604800000"
    assert configs["retention.ms"]["source"] != "DYNAMIC_TOPIC_CONFIG"
    assert configs["retention.bytes"]["value"] == "1048576"  # untouched by the second call
    with pytest.raises(ClientError) as bad:
        JAVA.admin_call(
            broker.bootstrap,
            "alter_configs",
            resource_type="TOPIC",
            resource_name=topic,
            ops=[["retention.ms", "soon", "SET"]],
        )
    assert bad.value.error == "INVALID_CONFIG"
    with pytest.raises(ClientError) as missing:
        JAVA.admin_call(
            broker.bootstrap,
            "alter_configs",
            resource_type="TOPIC",
            resource_name=topic + "-missing",
            ops=[["retention.ms", "1000", "SET"]],
        )
    assert missing.value.error == "UNKNOWN_TOPIC_OR_PARTITION"


@pytest.mark.apis("CreateTopics", "Metadata")
def test_create_partitions(broker: BrokerProcess, topic: str) -> None:
    JAVA.create_topic(broker.bootstrap, topic, 2)
    assert JAVA.admin_call(broker.bootstrap, "create_partitions", topic=topic, count=4) == {
        topic: None
    }
    described = eventually(
        lambda: JAVA.admin_call(broker.bootstrap, "describe_topics", topics=[topic])[topic],
        lambda d: len(d["partitions"]) == 4,
        what="4 partitions",
    )
    assert all(p["leader"] == broker.node_id for p in described["partitions"])
    assert JAVA.admin_call(broker.bootstrap, "create_partitions", topic=topic, count=3) == {
        topic: "INVALID_PARTITIONS"
    }
    assert JAVA.admin_call(
        broker.bootstrap, "create_partitions", topic=topic + "-missing", count=3
    ) == {topic + "-missing": "UNKNOWN_TOPIC_OR_PARTITION"}


@pytest.mark.apis("Produce", "Fetch", "ListOffsets")
def test_delete_records_moves_the_log_start(broker: BrokerProcess, topic: str) -> None:
    messages = make_messages(JAVA, "delete-records", 10, partitions=[0])
    JAVA.produce(broker.bootstrap, topic, messages)
    low = JAVA.admin_call(broker.bootstrap, "delete_records", topic=topic, before={"0": 4})
    assert low == {"0": 4}
    assert JAVA.list_offsets(broker.bootstrap, topic, [0]) == {0: (4, 10)}
    earliest = JAVA.admin_call(
        broker.bootstrap, "list_offsets", topic=topic, partitions=[0], spec="earliest"
    )
    assert earliest["0"][0] == 4
    got = JAVA.fetch(broker.bootstrap, topic, {0: 4}, {0: 6})[0]
    assert [r.offset for r in got] == list(range(4, 10))
    with pytest.raises(ClientError) as beyond:
        JAVA.admin_call(broker.bootstrap, "delete_records", topic=topic, before={"0": 11})
    assert beyond.value.error == "OFFSET_OUT_OF_RANGE"


@pytest.mark.apis("Produce", "ListOffsets")
def test_list_offsets_specs(broker: BrokerProcess, topic: str) -> None:
    messages = make_messages(JAVA, "list-offsets", 5, partitions=[0])
    # The middle record has the largest timestamp (within the hour Kafka accepts ahead).
    latest_ms = now_ms() + 600_000
    messages[2] = dataclasses.replace(messages[2], timestamp_ms=latest_ms)
    JAVA.produce(broker.bootstrap, topic, messages)

    def spec(name: str) -> list[int]:
        result: list[int] = JAVA.admin_call(
            broker.bootstrap, "list_offsets", topic=topic, partitions=[0], spec=name
        )["0"]
        return result

    assert spec("earliest")[0] == 0
    assert spec("latest")[0] == 5
    offset, timestamp, _epoch = spec("max-timestamp")
    assert (offset, timestamp) == (2, latest_ms)
    assert spec(str(messages[3].timestamp_ms))[0] == 2  # the first record at or after it


@pytest.mark.apis("Metadata")
def test_describe_cluster(broker: BrokerProcess) -> None:
    cluster = JAVA.admin_call(broker.bootstrap, "describe_cluster")
    assert cluster["nodes"] == [[broker.node_id, broker.host, broker.port]]
    assert cluster["controller"] == broker.node_id
    assert len(cluster["cluster_id"]) == 22  # a base64 UUID, as Kafka's


@pytest.mark.apis("Produce", "FindCoordinator", "JoinGroup", "OffsetCommit", "OffsetFetch")
def test_group_admin(broker: BrokerProcess, topic: str) -> None:
    group = f"{topic}.admin"
    messages = make_messages(JAVA, "group-admin", 6)
    JAVA.produce(broker.bootstrap, topic, messages)
    assert len(JAVA.consume_group(broker.bootstrap, topic, group, 6)) == 6

    listed = {g["group_id"]: g for g in JAVA.admin_call(broker.bootstrap, "list_groups")}
    assert listed[group]["type"] == "CLASSIC"
    assert listed[group]["state"] == "EMPTY"
    assert listed[group]["protocol"] == "consumer"
    described = JAVA.admin_call(broker.bootstrap, "describe_groups", groups=[group])[group]
    assert (described["state"], described["members"]) == ("EMPTY", [])
    assert described["coordinator"] == broker.node_id
    assert JAVA.admin_call(broker.bootstrap, "list_group_offsets", group=group) == {
        f"{topic}:0": 3,
        f"{topic}:1": 3,
    }

    JAVA.admin_call(
        broker.bootstrap, "alter_group_offsets", group=group, topic=topic, offsets={"0": 1}
    )
    assert JAVA.admin_call(broker.bootstrap, "list_group_offsets", group=group) == {
        f"{topic}:0": 1,
        f"{topic}:1": 3,
    }
    # A new member resumes from the altered offsets: 2 records of p0, none of p1.
    again = JAVA.consume_group(broker.bootstrap, topic, group, 2)
    assert sorted((r.partition, r.offset) for r in again) == [(0, 1), (0, 2)]

    assert JAVA.admin_call(broker.bootstrap, "delete_groups", groups=[group]) == {group: None}
    listed_after = {g["group_id"] for g in JAVA.admin_call(broker.bootstrap, "list_groups")}
    assert group not in listed_after
    assert JAVA.admin_call(broker.bootstrap, "delete_groups", groups=[group]) == {
        group: "GROUP_ID_NOT_FOUND"
    }
