"""Kafka's own command-line tools against the broker, each beside Apache Kafka 4.1.2.

Every scenario runs the same tool commands (through their main classes, as
``bin/kafka-*.sh`` does) against our broker and against a real one-node
Kafka started for the module, then checks our output for what an operator
relies on and compares it line by line with Kafka's once what legitimately
differs is normalised: topic ids, cluster ids, ports. Anything else that
differs is a test failure, or, where listed in ``KNOWN`` with its reason, a
documented difference (``docs/compat.md``, "Apache Kafka as the reference").

Tools: kafka-topics, kafka-configs, kafka-consumer-groups (describe, reset
offsets, delete), kafka-get-offsets, kafka-delete-records,
kafka-leader-election, kafka-reassign-partitions (``--list``) and
kafka-metadata-quorum (describe --status / --replication of the one voter;
the 3-node quorum is in compat/test_cluster.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from compat.broker_process import BrokerProcess
from compat.kafka.cluster import KafkaCluster
from compat.kafka.fixtures import kafka, require_javac, require_kafka
from compat.kafka.java_driver import JavaDriver
from compat.kafka.tools import run_in_driver

__all__ = ["kafka"]

Run = Callable[..., str]

_TOPIC_ID = re.compile(r"TopicId: \S+")
_PORT = re.compile(r"127\.0\.0\.1:\d+")


# Kafka 4.1 bootstraps a new cluster with eligible leader replicas (KIP-966),
# which writes a cluster-wide dynamic min.insync.replicas=1; TopicCommand
# lists it among a topic's non-default configs. Ours has no cluster-level
# dynamic configs (docs/compat.md, known differences).
_ELR_MIN_ISR = re.compile(r"(Configs: )min\.insync\.replicas=1,?")


def normalise(text: str) -> list[str]:
    text = _TOPIC_ID.sub("TopicId: <id>", text)
    text = _PORT.sub("127.0.0.1:<port>", text)
    text = _ELR_MIN_ISR.sub(r"\1", text)
    return [line.rstrip() for line in text.strip().splitlines()]


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JavaDriver]:
    """One JVM that runs every tool of the module (``tool.run``)."""
    require_kafka()
    require_javac()
    driver = JavaDriver(tmp_path_factory.mktemp("tools") / "driver.log")
    driver.start()
    try:
        yield driver
    finally:
        driver.close()


class Target:
    """One broker the tools talk to: ours or Kafka."""

    def __init__(self, name: str, bootstrap: str, driver: JavaDriver) -> None:
        self.name = name
        self.bootstrap = bootstrap
        self.driver = driver

    def tool(self, tool: str, *args: str, ok: bool = True) -> str:
        done = run_in_driver(
            self.driver, tool, "--bootstrap-server", self.bootstrap, *args, check=ok
        )
        return done.stdout if ok else done.stdout + done.stderr

    def produce(self, topic: str, timestamps: dict[int, list[int]]) -> None:
        """Records with these CreateTime timestamps (ms after a base 10 s ago)."""
        base = int(time.time() * 1000) - 10_000
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        try:
            for partition, stamps in timestamps.items():
                for i, stamp in enumerate(stamps):
                    producer.send(
                        topic,
                        value=f"{partition}-{i}".encode(),
                        partition=partition,
                        timestamp_ms=base + stamp,
                    )
            producer.flush(timeout=15)
        finally:
            producer.close(timeout=5)


@pytest.fixture
def both(
    broker: BrokerProcess, kafka: KafkaCluster, driver: JavaDriver
) -> Iterator[tuple[Target, Target]]:
    yield Target("ours", broker.bootstrap, driver), Target("kafka", kafka.bootstrap, driver)


@pytest.fixture
def name(topic: str) -> str:
    """The test's topic without '.' (TopicCommand warns about names with one)."""
    return topic.replace(".", "-")


def same(ours: str, theirs: str) -> None:
    assert normalise(ours) == normalise(theirs), f"ours:\n{ours}\nkafka:\n{theirs}"


def test_topics(both: tuple[Target, Target], name: str) -> None:
    topic = name
    outputs = []
    for target in both:
        out = [
            target.tool(
                "kafka-topics",
                "--create",
                "--topic",
                topic,
                "--partitions",
                "3",
                "--replication-factor",
                "1",
                "--config",
                "retention.ms=1000000",
            ),
            target.tool("kafka-topics", "--describe", "--topic", topic),
            target.tool("kafka-topics", "--alter", "--topic", topic, "--partitions", "4"),
            target.tool("kafka-topics", "--describe", "--topic", topic),
            target.tool(
                "kafka-topics", "--create", "--topic", topic, "--partitions", "1", ok=False
            ),
            target.tool("kafka-topics", "--alter", "--topic", topic, "--partitions", "2", ok=False),
            target.tool("kafka-topics", "--list", "--exclude-internal"),
            target.tool("kafka-topics", "--delete", "--topic", topic),
            target.tool("kafka-topics", "--describe", "--topic", topic, ok=False),
        ]
        outputs.append(out)
    ours, theirs = outputs
    assert ours[0].strip() == f"Created topic {topic}."
    assert "PartitionCount: 4" in ours[3] and "Configs: retention.ms=1000000" in ours[3]
    assert f"Topic '{topic}' already exists." in ours[4]
    assert "InvalidPartitionsException" in ours[5]
    assert topic in ours[6].split()
    assert "UnknownTopicOrPartitionException" in ours[8] or "does not exist" in ours[8]
    for index in (0, 1, 2, 3, 7):
        same(ours[index], theirs[index])
    for index in (4, 5, 8):
        same(_error_line(ours[index]), _error_line(theirs[index]))


def _error_line(text: str) -> str:
    """The tool's error message (its first ``Error ...`` or exception line)."""
    for line in text.splitlines():
        if line.startswith(("Error", "org.apache.kafka", "java.")) or "Exception" in line:
            return line
    return text


def test_configs(both: tuple[Target, Target], name: str) -> None:
    outputs = []
    for target in both:
        target.tool("kafka-topics", "--create", "--topic", name, "--partitions", "1")
        entity = ("--entity-type", "topics", "--entity-name", name)
        outputs.append(
            [
                target.tool("kafka-configs", *entity, "--describe"),
                target.tool(
                    "kafka-configs",
                    *entity,
                    "--alter",
                    "--add-config",
                    "retention.ms=5000000,segment.bytes=10485760",
                ),
                target.tool("kafka-configs", *entity, "--describe"),
                target.tool(
                    "kafka-configs", *entity, "--alter", "--delete-config", "segment.bytes"
                ),
                target.tool("kafka-configs", *entity, "--describe"),
                target.tool(
                    "kafka-configs", *entity, "--alter", "--add-config", "retention.ms=x", ok=False
                ),
                target.tool(
                    "kafka-configs", *entity, "--alter", "--add-config", "no.such=1", ok=False
                ),
                target.tool("kafka-configs", *entity, "--describe", "--all"),
            ]
        )
    ours, theirs = outputs
    assert "retention.ms=5000000" in ours[2] and "segment.bytes=10485760" in ours[2]
    assert "segment.bytes" not in ours[4]
    assert "Invalid value x for configuration retention.ms" in ours[5]
    assert "no.such" in ours[6]
    for index in (1, 3):
        same(ours[index], theirs[index])
    for index in (0, 2, 4):
        same(first_synonym(ours[index]), first_synonym(theirs[index]))
    # acks.min and write.caching are ours alone (docs/configuration.md).
    extensions = re.compile(r"^  (acks\.min|write\.caching)=.*\n", re.MULTILINE)
    same(extensions.sub("", _SYNONYMS.sub("", ours[7])), _SYNONYMS.sub("", theirs[7]))
    for index in (5, 6):
        same(_error_line(ours[index]), _error_line(theirs[index]))


_SYNONYMS = re.compile(r" synonyms=\{([^,}]*)[^}]*\}")


def first_synonym(text: str) -> str:
    """kafka-configs output with each config's synonyms cut to the first one.

    The first synonym is where the value comes from. The rest differ (docs/compat.md):
    Kafka lists each broker synonym once per source it is set in and drops
    unit-converted ones (log.retention.hours for retention.ms) when the
    primary broker property (log.retention.ms) has no value; ours lists each
    synonym once with its highest source, and the built-in default when no
    broker property applies.
    """
    return _SYNONYMS.sub(r" synonyms={\1}", text)


def _write_offsets_json(path: Path, topic: str, offsets: dict[int, int]) -> str:
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "partitions": [
                    {"topic": topic, "partition": p, "offset": o} for p, o in offsets.items()
                ],
            }
        )
    )
    return str(path)


def test_get_offsets_and_delete_records(
    both: tuple[Target, Target], name: str, tmp_path: Path
) -> None:
    outputs = []
    for target in both:
        target.tool("kafka-topics", "--create", "--topic", name, "--partitions", "2")
        # Max timestamps: p0 at offsets 3 and 4 (Kafka answers the first),
        # p1 at offsets 0 and 1.
        target.produce(name, {0: [0, 1, 2, 9, 9], 1: [5, 5, 1]})
        spec = _write_offsets_json(tmp_path / f"{target.name}.json", name, {0: 3})
        outputs.append(
            [
                target.tool("kafka-get-offsets", "--topic", name),
                target.tool("kafka-get-offsets", "--topic", name, "--time", "-2"),
                target.tool("kafka-get-offsets", "--topic", name, "--partitions", "1"),
                target.tool("kafka-delete-records", "--offset-json-file", spec),
                target.tool("kafka-get-offsets", "--topic", name, "--time", "earliest"),
                target.tool("kafka-get-offsets", "--topic", name, "--time", "max-timestamp"),
            ]
        )
    ours, theirs = outputs
    assert normalise(ours[0]) == [f"{name}:0:5", f"{name}:1:3"]
    assert normalise(ours[4]) == [f"{name}:0:3", f"{name}:1:0"]
    assert "low_watermark: 3" in ours[3]
    assert normalise(ours[5]) == [f"{name}:0:3", f"{name}:1:0"]
    for a, b in zip(ours, theirs, strict=True):
        same(a, b)


def test_consumer_groups(both: tuple[Target, Target], name: str) -> None:
    group = f"{name}-group"
    outputs = []
    for target in both:
        target.tool("kafka-topics", "--create", "--topic", name, "--partitions", "2")
        target.produce(name, {0: [0, 1, 2, 3], 1: [0, 1]})
        g = ("--group", group)
        t = ("--topic", name)
        outputs.append(
            [
                target.tool("kafka-consumer-groups", *g, *t, "--reset-offsets", "--to-earliest"),
                target.tool(
                    "kafka-consumer-groups", *g, *t, "--reset-offsets", "--to-earliest", "--execute"
                ),
                target.tool("kafka-consumer-groups", "--describe", *g),
                target.tool(
                    "kafka-consumer-groups",
                    *g,
                    "--topic",
                    f"{name}:0",
                    "--reset-offsets",
                    "--to-offset",
                    "3",
                    "--execute",
                ),
                target.tool(
                    "kafka-consumer-groups",
                    *g,
                    *t,
                    "--reset-offsets",
                    "--shift-by",
                    "1",
                    "--execute",
                ),
                target.tool("kafka-consumer-groups", "--describe", *g, "--offsets"),
                target.tool("kafka-consumer-groups", "--describe", *g, "--state"),
                target.tool("kafka-consumer-groups", "--list"),
                target.tool("kafka-consumer-groups", "--delete", *g),
                target.tool("kafka-consumer-groups", "--describe", *g, ok=False),
            ]
        )
    ours, theirs = outputs
    assert group in ours[7].split()
    described = [line.split() for line in normalise(ours[5])[1:] if line.strip()]
    assert sorted((row[1], row[2], row[3], row[4]) for row in described) == [
        (name, "0", "4", "4"),
        (name, "1", "1", "2"),
    ]
    for index in range(9):
        same(ours[index], theirs[index])
    same(_error_line(ours[9]), _error_line(theirs[9]))


def test_leader_election_and_reassignments(both: tuple[Target, Target], name: str) -> None:
    outputs = []
    for target in both:
        target.tool("kafka-topics", "--create", "--topic", name, "--partitions", "1")
        outputs.append(
            [
                target.tool(
                    "kafka-leader-election",
                    "--election-type",
                    "preferred",
                    "--topic",
                    name,
                    "--partition",
                    "0",
                ),
                target.tool("kafka-reassign-partitions", "--list"),
            ]
        )
    ours, theirs = outputs
    assert f"Valid replica already elected for partitions {name}-0" in ours[0]
    for a, b in zip(ours, theirs, strict=True):
        same(a, b)


def test_metadata_quorum_describes_the_one_voter(both: tuple[Target, Target]) -> None:
    """DescribeQuorum: leader, epoch, high watermark, the voter and its replication row."""
    for target in both:
        status = target.tool("kafka-metadata-quorum", "describe", "--status")
        for field in (
            "ClusterId:",
            "LeaderId:",
            "LeaderEpoch:",
            "HighWatermark:",
            "CurrentVoters:",
        ):
            assert field in status, (field, status)
        assert re.search(r'CurrentVoters:\s+\[\{"id": \d+', status), status
        replication = target.tool("kafka-metadata-quorum", "describe", "--replication")
        assert re.search(r"^\d+\s+\S+\s+\d+\s+0\s+\d+\s+\d+\s+Leader", replication, re.M), (
            replication
        )
