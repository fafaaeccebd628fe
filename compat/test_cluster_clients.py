"""Every client against one real 3-node cluster (issue 13, item 6).

One cluster of three broker processes on loopback for the module (combined
broker+controller nodes, one ``controller.quorum.voters``). For each client
of the suite (kafka-python, aiokafka, confluent-kafka, kcat, KafkaJS, the
Java client), bootstrapping through a node that is not the active
controller: its Metadata lists the three brokers, it creates a topic of 6
partitions (kcat, which has no admin mode, has it auto-created with the
cluster's ``num.partitions=6``), whose leaders are spread over the three
brokers, produces idempotently to every partition and reads every record back
in a consumer group. Kafka's ``kafka-topics`` creates, describes and lists a
topic through a non-controller node.

Then fencing: SIGKILL of a node that is not the active controller; within
``broker.session.timeout.ms`` (3000 here) the survivors drop it from Metadata
(kafka-python and confluent-kafka), its partitions have no leader
(LEADER_NOT_AVAILABLE); restarted, it is listed again and its partitions
serve the records they held.
"""

from __future__ import annotations

import functools
import gc
import re
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import kafka.errors
import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient

from compat.broker_cluster import BrokerCluster
from compat.kafka.java_client import JAVA, java_driver
from compat.suite import (
    Client,
    check_read_back,
    eventually,
    make_messages,
    produce,
    split_by_partition,
)
from compat.test_aiokafka import AiokafkaClient
from compat.test_confluent_kafka import ConfluentKafkaClient
from compat.test_kafka_python import KafkaPythonClient
from compat.test_kafkajs import KafkaJSClient
from compat.test_kcat import KcatClient

__all__ = ["java_driver"]  # the module's JVM (an autouse fixture)

# kafka-python leaves sockets of refused connections open (see test_kafka_python).
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)

PARTITIONS = 6
SESSION_TIMEOUT_MS = 3000
# The controller's fencing timer and the clients' metadata refresh on top of
# the session timeout.
FENCE_SLACK_S = 2.0


@pytest.fixture(autouse=True)
def _collect_leaked_sockets() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    cluster = BrokerCluster(
        tmp_path_factory.mktemp("cluster"),
        overrides={
            "num.partitions": str(PARTITIONS),
            "broker.session.timeout.ms": str(SESSION_TIMEOUT_MS),
            "broker.heartbeat.interval.ms": "500",
        },
    )
    try:
        cluster.start()
        cluster.wait_for_leader()
        for node in cluster.nodes.values():
            eventually(
                functools.partial(kafka_python_brokers, node.bootstrap),
                lambda ids: ids == [1, 2, 3],
                timeout_s=30,
                what=f"node {node.node_id} lists 3 brokers",
            )
        yield cluster
    finally:
        cluster.close()


def kafka_python_brokers(bootstrap: str) -> list[int]:
    """The unfenced brokers by kafka-python's DescribeCluster (which asks for
    the fenced ones too, flagged)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        brokers = admin.describe_cluster()["brokers"]
    finally:
        admin.close()
    return sorted(b["broker_id"] for b in brokers if not b.get("is_fenced"))


def kafka_python_leaders(bootstrap: str, topic: str) -> dict[int, tuple[int, str]]:
    """{partition: (leader, error name)} from kafka-python's Metadata request."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        [described] = admin.describe_topics([topic])
    finally:
        admin.close()
    return {
        p["partition_index"]: (p["leader_id"], kafka.errors.for_code(p["error_code"]).message)
        for p in described["partitions"]
    }


def follower(cluster: BrokerCluster) -> str:
    """The bootstrap address of a node that is not the active controller."""
    leader, _epoch = cluster.wait_for_leader()
    return cluster.nodes[min(i for i in cluster.nodes if i != leader)].bootstrap


class ClusterChecks:
    """What each client does on the cluster; one subclass per client (the
    ``CLIENT`` key is the matrix column, as in ``compat/suite.py``)."""

    CLIENT: ClassVar[str]
    client: ClassVar[Client]
    admin: ClassVar[bool] = True  # else the topic comes from auto-creation

    @pytest.mark.feature("cluster-3-nodes")
    def test_cluster(self, cluster: BrokerCluster) -> None:
        name, client = self.CLIENT, self.client
        through = follower(cluster)
        topic = f"cluster-{name}"
        if self.admin:
            client.create_topic(through, topic, PARTITIONS)
        view = eventually(
            lambda: client.cluster_view(through, topic),
            lambda v: len(v.leaders) == PARTITIONS and len(v.brokers) == 3,
            what=f"{name}: 3 brokers and {PARTITIONS} partition leaders",
        )
        ports = {node_id: node.port for node_id, node in cluster.nodes.items()}
        assert {(b[0], b[2]) for b in view.brokers} == set(ports.items())
        assert set(view.leaders.values()) == {1, 2, 3}, view.leaders  # spread over the brokers
        messages = make_messages(client, name, 4 * PARTITIONS, partitions=range(PARTITIONS))
        produced = produce(client, through, topic, messages, idempotent=True)
        records = client.consume_group(through, topic, f"group-{name}", len(messages))
        check_read_back(
            produced, split_by_partition(records), sets_timestamps=client.sets_timestamps
        )


class TestKafkaPython(ClusterChecks):
    CLIENT = "kafka-python"
    client: ClassVar[Client] = KafkaPythonClient()


class TestAiokafka(ClusterChecks):
    CLIENT = "aiokafka"
    client: ClassVar[Client] = AiokafkaClient()


class TestConfluentKafka(ClusterChecks):
    CLIENT = "confluent-kafka"
    client: ClassVar[Client] = ConfluentKafkaClient()


class TestKcat(ClusterChecks):
    CLIENT = "kcat"
    client: ClassVar[Client] = KcatClient()
    admin = False  # kcat has no admin mode


class TestKafkaJS(ClusterChecks):
    CLIENT = "kafkajs"
    client: ClassVar[Client] = KafkaJSClient()


class TestJava(ClusterChecks):
    CLIENT = "java"
    client: ClassVar[Client] = JAVA


def test_kafka_topics_tool_on_the_cluster(cluster: BrokerCluster) -> None:
    from compat.kafka.tools import run_tool

    through = follower(cluster)
    topic = "cluster-kafka-topics"
    run_tool(
        "kafka-topics",
        "--bootstrap-server",
        through,
        "--create",
        "--topic",
        topic,
        "--partitions",
        str(PARTITIONS),
    )
    described = run_tool(
        "kafka-topics", "--bootstrap-server", through, "--describe", "--topic", topic
    ).stdout
    leaders = re.findall(rf"Topic: {topic}\s+Partition: (\d+)\s+Leader: (\d+)", described)
    assert sorted(int(p) for p, _ in leaders) == list(range(PARTITIONS)), described
    assert {int(leader) for _, leader in leaders} == {1, 2, 3}, described
    for node in cluster.nodes.values():
        listed = run_tool("kafka-topics", "--bootstrap-server", node.bootstrap, "--list").stdout
        assert topic in listed.split(), listed


def confluent_metadata(bootstrap: str, topic: str) -> Any:
    return AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)


def confluent_brokers(bootstrap: str, topic: str) -> list[int]:
    return sorted(confluent_metadata(bootstrap, topic).brokers)


def test_a_killed_broker_is_fenced_and_comes_back(cluster: BrokerCluster) -> None:
    leader, _epoch = cluster.wait_for_leader()
    victim_id = max(i for i in cluster.nodes if i != leader)
    victim = cluster.nodes[victim_id]
    survivors = [n.bootstrap for i, n in cluster.nodes.items() if i != victim_id]
    client = TestKafkaPython.client
    topic = "cluster-fencing"
    client.create_topic(survivors[0], topic, PARTITIONS)
    view = eventually(
        lambda: client.cluster_view(survivors[0], topic),
        lambda v: len(v.leaders) == PARTITIONS,
        what="partition leaders",
    )
    hosted = sorted(p for p, node in view.leaders.items() if node == victim_id)
    assert hosted, view.leaders
    messages = make_messages(client, "fence", 3 * PARTITIONS, partitions=range(PARTITIONS))
    produced = produce(client, survivors[0], topic, messages)

    killed_at = time.monotonic()
    victim.kill()
    for bootstrap in survivors:
        eventually(
            functools.partial(confluent_brokers, bootstrap, topic),
            lambda ids: ids == sorted(set(cluster.nodes) - {victim_id}),
            timeout_s=SESSION_TIMEOUT_MS / 1000 + FENCE_SLACK_S,
            interval_s=0.1,
            what="confluent-kafka: the killed broker leaves Metadata",
        )
    fenced_s = time.monotonic() - killed_at
    assert fenced_s < SESSION_TIMEOUT_MS / 1000 + FENCE_SLACK_S, fenced_s
    for bootstrap in survivors:
        assert kafka_python_brokers(bootstrap) == sorted(set(cluster.nodes) - {victim_id})
        partitions = confluent_metadata(bootstrap, topic).topics[topic].partitions
        for p in hosted:
            assert partitions[p].leader == -1, (p, partitions[p].leader)
            assert partitions[p].error.code() == KafkaError.LEADER_NOT_AVAILABLE
        for p in set(range(PARTITIONS)) - set(hosted):
            assert partitions[p].leader in set(cluster.nodes) - {victim_id}
        leaders = kafka_python_leaders(bootstrap, topic)  # Metadata, through kafka-python
        assert {p for p, (leader, _) in leaders.items() if leader == -1} == set(hosted), leaders
        assert {p for p, (_, error) in leaders.items() if error == "LEADER_NOT_AVAILABLE"} == set(
            hosted
        ), leaders
    print(f"fenced and out of Metadata {fenced_s:.2f} s after SIGKILL")

    victim.start()
    for node in cluster.nodes.values():
        eventually(
            functools.partial(kafka_python_brokers, node.bootstrap),
            lambda ids: ids == [1, 2, 3],
            timeout_s=30,
            what=f"node {node.node_id} lists the restarted broker",
        )
    after = eventually(
        lambda: client.cluster_view(survivors[0], topic),
        lambda v: all(v.leaders.get(p) == victim_id for p in hosted),
        what="the restarted broker leads its partitions again",
    )
    assert len(after.leaders) == PARTITIONS
    counts = {p: len(sent) for p, sent in produced.partitions().items()}
    records = client.fetch(survivors[0], topic, dict.fromkeys(counts, 0), counts)
    check_read_back(produced, records)
