"""The ``raftbroker`` client commands against Apache Kafka 4.1.2.

The scenarios of tests/cli/scenarios.py, which tests/cli/test_cli.py runs
against our broker, run here unchanged against a real one-node Kafka: the
CLI speaks the Kafka protocol, not our broker's dialect. Kafka serves
DescribeQuorum, so ``cluster quorum describe`` is checked in full here.
"""

from __future__ import annotations

import pytest

from compat.kafka.cluster import KafkaCluster
from compat.kafka.fixtures import kafka
from tests.cli import scenarios
from tests.cli.runner import Cli

__all__ = ["kafka"]


@pytest.fixture
def cli(kafka: KafkaCluster) -> Cli:
    return Cli(kafka.bootstrap)


def test_topic_lifecycle(cli: Cli) -> None:
    scenarios.topic_lifecycle(cli, "cli-topics")


def test_produce_consume(cli: Cli) -> None:
    scenarios.produce_consume(cli, "cli-records")


def test_group_lifecycle(cli: Cli) -> None:
    scenarios.group_lifecycle(cli, "cli-groups", "cli-group")


def test_cluster_info_and_health(cli: Cli, kafka: KafkaCluster) -> None:
    info = scenarios.cluster_commands(cli)
    assert info["cluster_id"] == kafka.cluster_id
    assert [b["port"] for b in info["brokers"]] == [kafka.nodes[0].port]


def test_quorum_describe(cli: Cli) -> None:
    quorum = cli("cluster", "quorum", "describe", "--format", "json").json()
    assert quorum["leader_id"] == 1
    assert quorum["leader_epoch"] >= 1
    assert quorum["high_watermark"] > 0
    assert [v["id"] for v in quorum["voters"]] == [1]
    table = cli("cluster", "quorum", "describe").out
    assert "LEADER EPOCH" in table
    assert "leader" in table.split("NODE", 1)[1]
