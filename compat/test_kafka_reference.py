"""Apache Kafka itself starts here: 1 node and 3 nodes in KRaft mode on loopback.

Proves the reference the Java-client, tools and differential tests rely on:
the pinned release installs from Maven Central, formats its storage, starts,
serves Metadata with all its brokers, and (3 nodes) creates a topic with
replication factor 3 whose replicas are all in sync.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.wire.generated.create_topics_request import CreatableTopic, CreateTopicsRequest
from broker.wire.generated.metadata_request import MetadataRequest, MetadataRequestTopic
from compat.kafka import install
from compat.kafka.cluster import KafkaCluster
from compat.kafka.fixtures import pick_ports, require_kafka
from compat.kafka.wire_client import WireClient, request_class


def _cluster(root: Path, nodes: int) -> Iterator[KafkaCluster]:
    require_kafka()
    ports = pick_ports(2 * nodes)
    cluster = KafkaCluster(root, ports=ports[:nodes], controller_ports=ports[nodes:])
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kafka1(tmp_path: Path) -> Iterator[KafkaCluster]:
    yield from _cluster(tmp_path, 1)


@pytest.fixture
def kafka3(tmp_path: Path) -> Iterator[KafkaCluster]:
    yield from _cluster(tmp_path, 3)


def test_pinned_release_is_installed() -> None:
    require_kafka()
    assert install.jar("kafka-clients").name == f"kafka-clients-{install.KAFKA_VERSION}.jar"
    assert install.jar(f"kafka_{install.SCALA_VERSION}").is_file()
    assert install.jar("kafka-tools").is_file()


def test_one_node_serves_metadata(kafka1: KafkaCluster) -> None:
    node = kafka1.nodes[0]
    with WireClient("127.0.0.1", node.port) as client:
        versions = client.send(request_class("ApiVersionsRequest")(), 0)
        metadata = client.send(MetadataRequest(topics=[]), 12)
    advertised = {api.api_key for api in versions.api_keys}
    assert {0, 1, 2, 3, 18, 19}.issubset(advertised)
    assert [(b.node_id, b.host, b.port) for b in metadata.brokers] == [(1, "127.0.0.1", node.port)]
    assert metadata.cluster_id == kafka1.cluster_id


def test_three_nodes_replicate_a_topic(kafka3: KafkaCluster) -> None:
    body = CreateTopicsRequest(
        topics=[CreatableTopic(name="rf3", num_partitions=2, replication_factor=3)],
        timeout_ms=30_000,
    )
    port = kafka3.nodes[0].port
    with WireClient("127.0.0.1", port) as client:
        created = client.send(body, 7)
        assert [(t.name, t.error_code) for t in created.topics] == [("rf3", 0)]
        deadline = time.monotonic() + 30
        while True:
            metadata = client.send(MetadataRequest(topics=[MetadataRequestTopic(name="rf3")]), 12)
            [topic] = metadata.topics
            in_sync = [sorted(p.isr_nodes) for p in topic.partitions]
            if in_sync == [[1, 2, 3], [1, 2, 3]] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert sorted(b.node_id for b in metadata.brokers) == [1, 2, 3]
    assert [sorted(p.replica_nodes) for p in topic.partitions] == [[1, 2, 3], [1, 2, 3]]
    assert in_sync == [[1, 2, 3], [1, 2, 3]]


def test_a_cluster_id_starting_with_a_dash_formats(tmp_path: Path) -> None:
    """CI once drew the id "-i0XeipvSKOA-N1OE45Ugg" (1 in 64 do start with
    "-"): kafka-storage took it for an option and the format failed."""
    require_kafka()
    ports = pick_ports(2)
    cluster = KafkaCluster(tmp_path, ports=ports[:1], controller_ports=ports[1:])
    cluster.cluster_id = "-i0XeipvSKOA-N1OE45Ugg"
    cluster.start()
    try:
        with WireClient("127.0.0.1", cluster.nodes[0].port) as client:
            metadata = client.send(MetadataRequest(topics=[]), 12)
        assert metadata.cluster_id == cluster.cluster_id
    finally:
        cluster.stop()


def test_random_cluster_ids_never_start_with_a_dash() -> None:
    from compat.kafka.cluster import random_cluster_id

    assert not any(random_cluster_id().startswith("-") for _ in range(2000))
