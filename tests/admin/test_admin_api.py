"""Every admin API through dispatch, against an in-process node with real log files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from broker.controller import topic_configs as tc
from broker.errors import ErrorCode
from broker.node import Node
from broker.wire.generated.alter_configs_request import (
    AlterableConfig as FullConfig,
)
from broker.wire.generated.alter_configs_request import (
    AlterConfigsRequest,
)
from broker.wire.generated.alter_configs_request import (
    AlterConfigsResource as FullResource,
)
from broker.wire.generated.create_partitions_request import (
    CreatePartitionsAssignment,
    CreatePartitionsRequest,
    CreatePartitionsTopic,
)
from broker.wire.generated.create_topics_request import (
    CreatableReplicaAssignment,
    CreatableTopic,
    CreatableTopicConfig,
    CreateTopicsRequest,
)
from broker.wire.generated.delete_records_request import (
    DeleteRecordsPartition,
    DeleteRecordsRequest,
    DeleteRecordsTopic,
)
from broker.wire.generated.describe_cluster_request import DescribeClusterRequest
from broker.wire.generated.describe_configs_request import (
    DescribeConfigsRequest,
    DescribeConfigsResource,
)
from broker.wire.generated.describe_log_dirs_request import (
    DescribableLogDirTopic,
    DescribeLogDirsRequest,
)
from broker.wire.generated.describe_producers_request import (
    DescribeProducersRequest,
)
from broker.wire.generated.describe_producers_request import (
    TopicRequest as ProducersTopic,
)
from broker.wire.generated.describe_topic_partitions_request import (
    Cursor,
    DescribeTopicPartitionsRequest,
    TopicRequest,
)
from broker.wire.generated.elect_leaders_request import ElectLeadersRequest, TopicPartitions
from broker.wire.generated.incremental_alter_configs_request import (
    AlterableConfig,
    AlterConfigsResource,
    IncrementalAlterConfigsRequest,
)
from broker.wire.generated.list_offsets_request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from broker.wire.generated.list_partition_reassignments_request import (
    ListPartitionReassignmentsRequest,
)
from tests.admin.helpers import create, fetch, partition, produce, set_configs, started_node
from tests.broker.helpers import call, client_batch

TOPIC, BROKER = 2, 4


@pytest.fixture
async def node(tmp_path: Path) -> Node:
    return await started_node(tmp_path, "num.partitions=2", "log.retention.minutes=60")


async def describe(node: Node, version: int, name: str, **kw: bool) -> dict[str, Any]:
    body = DescribeConfigsRequest(
        resources=[DescribeConfigsResource(TOPIC, name, None)],
        include_synonyms=kw.get("synonyms", False),
        include_documentation=kw.get("docs", False),
    )
    response = await call(node, 32, version, body)
    result = response.results[0]
    assert result.error_code == 0, result.error_message
    return {c.name: c for c in result.configs}


async def test_create_topics_with_configs_reports_sources(node: Node) -> None:
    result = await create(node, "t", {"retention.ms": "1000", "acks.min": "all"})
    assert result.error_code == 0
    configs = {c.name: c for c in result.configs}
    assert (configs["retention.ms"].value, configs["retention.ms"].config_source) == ("1000", 1)
    assert configs["segment.bytes"].config_source == tc.DEFAULT_CONFIG
    assert node.image.topics["t"].configs == {"retention.ms": "1000", "acks.min": "all"}
    bad = await create(node, "c", {"cleanup.policy": "compact"})
    assert bad.error_code == ErrorCode.INVALID_CONFIG
    assert bad.configs == []  # not null (v5+), as Kafka answers (compat differential)
    assert "cleanup.policy" in bad.error_message and "compaction" in bad.error_message
    assert "c" not in node.image.topics


@pytest.mark.parametrize("version", [1, 2, 3, 4])
async def test_describe_configs_every_version(node: Node, version: int) -> None:
    await create(node, "t", {"segment.ms": "5000"})
    configs = await describe(node, version, "t", synonyms=True, docs=True)
    seg = configs["segment.ms"]
    assert (seg.value, seg.config_source, seg.read_only) == ("5000", tc.DYNAMIC_TOPIC_CONFIG, False)
    ret = configs["retention.ms"]
    assert (ret.value, ret.config_source) == ("3600000", tc.STATIC_BROKER_CONFIG)
    assert [(s.name, s.value) for s in ret.synonyms] == [
        ("log.retention.minutes", "60"),
        ("log.retention.hours", "168"),
    ]
    if version >= 3:
        assert ret.config_type == tc.LONG and ret.documentation
    assert set(configs) == set(tc.TOPIC_CONFIGS)


async def test_describe_configs_filters_errors_and_broker(node: Node) -> None:
    await create(node, "t")
    body = DescribeConfigsRequest(
        resources=[
            DescribeConfigsResource(TOPIC, "t", ["retention.bytes"]),
            DescribeConfigsResource(TOPIC, "missing", None),
            DescribeConfigsResource(BROKER, "1", ["log.retention.minutes", "num.partitions"]),
            DescribeConfigsResource(BROKER, "", None),
            DescribeConfigsResource(BROKER, "9", None),
        ]
    )
    response = await call(node, 32, 4, body)
    t, missing, broker, default, other = response.results
    assert [c.name for c in t.configs] == ["retention.bytes"]
    assert t.configs[0].synonyms == [] and t.configs[0].documentation is None
    assert missing.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    by_name = {c.name: c for c in broker.configs}
    assert by_name["log.retention.minutes"].value == "60"
    assert by_name["log.retention.minutes"].config_source == tc.STATIC_BROKER_CONFIG
    assert by_name["num.partitions"].config_source == tc.STATIC_BROKER_CONFIG
    assert all(c.read_only for c in broker.configs)
    assert default.error_code == 0 and default.configs == []
    assert other.error_code == ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("version", [0, 1])
async def test_incremental_alter_configs(node: Node, version: int) -> None:
    await create(node, "t", {"retention.ms": "1000"})

    async def alter(*changes: tuple[str, int, str | None], validate: bool = False) -> Any:
        body = IncrementalAlterConfigsRequest(
            resources=[AlterConfigsResource(TOPIC, "t", [AlterableConfig(*c) for c in changes])],
            validate_only=validate,
        )
        return (await call(node, 44, version, body)).responses[0]

    r = await alter(("segment.bytes", 0, "65536"), validate=True)
    assert r.error_code == 0 and "segment.bytes" not in node.image.topics["t"].configs
    r = await alter(("segment.bytes", 0, "65536"), ("retention.ms", 1, None))
    assert r.error_code == 0
    assert node.image.topics["t"].configs == {"segment.bytes": "65536"}
    assert partition(node, "t").log.config.segment_bytes == 65536
    assert partition(node, "t").log.config.retention_ms == 3_600_000  # the broker default again
    r = await alter(("retention.ms", 2, "5"))
    assert r.error_code == ErrorCode.INVALID_CONFIG and "not a list" in r.error_message
    r = await alter(("cleanup.policy", 0, "compact"))
    assert r.error_code == ErrorCode.INVALID_CONFIG and "compaction" in r.error_message
    assert node.image.topics["t"].configs == {"segment.bytes": "65536"}


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_alter_configs_replaces_the_set(node: Node, version: int) -> None:
    await create(node, "t", {"retention.ms": "1000", "segment.ms": "2000"})
    body = AlterConfigsRequest(
        resources=[FullResource(TOPIC, "t", [FullConfig("max.message.bytes", "5000")])]
    )
    response = await call(node, 33, version, body)
    assert response.responses[0].error_code == 0
    assert node.image.topics["t"].configs == {"max.message.bytes": "5000"}
    assert partition(node, "t").log.config.max_message_bytes == 5000
    bad = AlterConfigsRequest(resources=[FullResource(TOPIC, "t", [FullConfig("x.y", "1")])])
    result = (await call(node, 33, version, bad)).responses[0]
    assert result.error_code == ErrorCode.INVALID_CONFIG and "x.y" in result.error_message


async def test_configs_survive_a_restart(tmp_path: Path) -> None:
    node = await started_node(tmp_path)
    await create(node, "t")
    assert (await set_configs(node, "t", retention_bytes="12345")).error_code == 0
    await node.shutdown()
    again = await started_node(tmp_path)
    assert again.image.topics["t"].configs == {"retention.bytes": "12345"}
    assert partition(again, "t").log.config.retention_bytes == 12345


@pytest.mark.parametrize("version", [0, 1, 2, 3])
async def test_create_partitions(node: Node, version: int) -> None:
    await create(node, "t", partitions=1)
    body = CreatePartitionsRequest(
        topics=[
            CreatePartitionsTopic("t", 3, None),
            CreatePartitionsTopic("missing", 2, None),
            CreatePartitionsTopic("t2", 2, [CreatePartitionsAssignment([5])]),
        ],
        timeout_ms=1000,
    )
    await create(node, "t2", partitions=1)
    response = await call(node, 37, version, body)
    errors = [r.error_code for r in response.results]
    assert errors == [0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.INVALID_REPLICA_ASSIGNMENT]
    assert sorted(node.image.topics["t"].partitions) == [0, 1, 2]
    assert (await produce(node, "t", client_batch([b"x"]), partition=2)).error_code == 0
    body = CreatePartitionsRequest(
        topics=[CreatePartitionsTopic("t", 5, None)], timeout_ms=1000, validate_only=True
    )
    assert (await call(node, 37, version, body)).results[0].error_code == 0
    assert len(node.image.topics["t"].partitions) == 3


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_describe_cluster(node: Node, version: int) -> None:
    body = DescribeClusterRequest(include_cluster_authorized_operations=True)
    response = await call(node, 60, version, body)
    assert response.error_code == 0 and response.cluster_id == node.cluster_id
    assert response.controller_id == 1
    assert [(b.broker_id, b.host, b.port) for b in response.brokers] == [(1, "127.0.0.1", 9092)]
    assert response.cluster_authorized_operations & (1 << 10)
    if version >= 1:
        wrong = await call(node, 60, version, DescribeClusterRequest(endpoint_type=2))
        assert wrong.error_code == ErrorCode.MISMATCHED_ENDPOINT_TYPE


async def test_describe_topic_partitions_paginates(node: Node) -> None:
    await create(node, "a", partitions=3)
    await create(node, "b", partitions=2)
    body = DescribeTopicPartitionsRequest(topics=[], response_partition_limit=4)
    first = await call(node, 75, 0, body)
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in first.topics] == [
        ("a", [0, 1, 2]),
        ("b", [0]),
    ]
    assert (first.next_cursor.topic_name, first.next_cursor.partition_index) == ("b", 1)
    body.cursor = Cursor("b", 1)
    rest = await call(node, 75, 0, body)
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in rest.topics] == [
        ("b", [1])
    ]
    assert rest.next_cursor is None
    asked = DescribeTopicPartitionsRequest(topics=[TopicRequest("zz"), TopicRequest("a")])
    response = await call(node, 75, 0, asked)
    assert [(t.name, t.error_code) for t in response.topics] == [
        ("a", 0),
        ("zz", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    assert response.topics[0].topic_id == node.image.topics["a"].topic_id


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_delete_records(node: Node, version: int) -> None:
    await create(node, "t", {"segment.bytes": "200"})
    for i in range(6):
        assert (await produce(node, "t", client_batch([b"v%d" % i]))).error_code == 0
    segments_before = len(partition(node, "t").log.segment_base_offsets)

    async def delete(offset: int, index: int = 0) -> Any:
        body = DeleteRecordsRequest(
            topics=[DeleteRecordsTopic("t", [DeleteRecordsPartition(index, offset)])],
            timeout_ms=1000,
        )
        return (await call(node, 21, version, body)).topics[0].partitions[0]

    r = await delete(4)
    assert (r.error_code, r.low_watermark) == (0, 4)
    assert len(partition(node, "t").log.segment_base_offsets) < segments_before
    assert (await fetch(node, "t", 2)).error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    body = ListOffsetsRequest(
        replica_id=-1, topics=[ListOffsetsTopic("t", [ListOffsetsPartition(0, timestamp=-2)])]
    )
    assert (await call(node, 2, 7, body)).topics[0].partitions[0].offset == 4
    assert (await delete(99)).error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert (await delete(2)).low_watermark == 4
    r = await delete(-1)
    assert (r.error_code, r.low_watermark) == (0, 6)
    assert (await delete(0, index=7)).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
async def test_describe_log_dirs(node: Node, version: int) -> None:
    await create(node, "t", partitions=2)
    await produce(node, "t", client_batch([b"x" * 100]))
    response = await call(node, 35, version, DescribeLogDirsRequest(topics=None))
    [result] = response.results
    assert result.log_dir == str(node.config.data_dir.absolute())
    sizes = {
        (t.name, p.partition_index): p.partition_size for t in result.topics for p in t.partitions
    }
    assert sizes[("t", 1)] == 0 and sizes[("t", 0)] == partition(node, "t").log.size_in_bytes > 100
    if version >= 4:
        assert result.total_bytes > 0 and result.usable_bytes > 0
    asked = DescribeLogDirsRequest(topics=[DescribableLogDirTopic("t", [1, 9])])
    [only] = (await call(node, 35, version, asked)).results
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in only.topics] == [
        ("t", [1])
    ]


async def test_reassignments_elections_producers(node: Node) -> None:
    await create(node, "t", partitions=1)
    response = await call(node, 46, 0, ListPartitionReassignmentsRequest(topics=None))
    assert (response.error_code, response.topics) == (0, [])
    for version in (0, 1, 2):
        elect = ElectLeadersRequest(topic_partitions=[TopicPartitions("t", [0, 4])])
        response = await call(node, 43, version, elect)
        errors = [p.error_code for p in response.replica_election_results[0].partition_result]
        assert errors == [ErrorCode.ELECTION_NOT_NEEDED, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
        everything = await call(node, 43, version, ElectLeadersRequest(topic_partitions=None))
        assert everything.replica_election_results == []
    batch = client_batch([b"a", b"b"], producer_id=7, producer_epoch=2, base_sequence=0)
    assert (await produce(node, "t", batch)).error_code == 0
    producers = DescribeProducersRequest(topics=[ProducersTopic("t", [0, 3])])
    [topic] = (await call(node, 61, 0, producers)).topics
    p0, p3 = topic.partitions
    assert [(s.producer_id, s.producer_epoch, s.last_sequence) for s in p0.active_producers] == [
        (7, 2, 1)
    ]
    assert p3.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


async def test_create_topics_defaults_assignments_validate_only(node: Node) -> None:
    def request(topic: CreatableTopic, validate_only: bool = False) -> CreateTopicsRequest:
        return CreateTopicsRequest(topics=[topic], timeout_ms=1000, validate_only=validate_only)

    defaults = await call(node, 19, 7, request(CreatableTopic("d", -1, -1)))
    assert (defaults.topics[0].num_partitions, defaults.topics[0].replication_factor) == (2, 1)
    assert sorted(node.image.topics["d"].partitions) == [0, 1]
    manual = CreatableTopic(
        "m",
        -1,
        -1,
        assignments=[CreatableReplicaAssignment(0, [1]), CreatableReplicaAssignment(1, [1])],
    )
    assert (await call(node, 19, 7, request(manual))).topics[0].error_code == 0
    assert sorted(node.image.topics["m"].partitions) == [0, 1]
    dry = CreatableTopic("v", 3, 1, configs=[CreatableTopicConfig("retention.ms", "5")])
    result = (await call(node, 19, 7, request(dry, validate_only=True))).topics[0]
    assert (result.error_code, result.num_partitions) == (0, 3)
    assert {c.name: c.value for c in result.configs}["retention.ms"] == "5"
    assert "v" not in node.image.topics
    bad = CreatableTopic("v", 3, 1, configs=[CreatableTopicConfig("retention.ms", "x")])
    result = (await call(node, 19, 7, request(bad, validate_only=True))).topics[0]
    assert result.error_code == ErrorCode.INVALID_CONFIG and "retention.ms" in result.error_message
