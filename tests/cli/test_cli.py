"""The ``raftbroker`` client commands against a real broker process (ours).

The same scenarios run against Apache Kafka in compat/test_cli_kafka.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker import __version__
from compat.broker_process import BrokerProcess, free_port
from tests.cli import scenarios
from tests.cli.runner import Cli


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = BrokerProcess(
        tmp_path_factory.mktemp("cli") / "data",
        num_partitions=1,
        overrides={"auto.create.topics.enable": "false"},
    )
    process.start()
    try:
        yield process
    finally:
        process.close()


@pytest.fixture
def cli(broker: BrokerProcess) -> Cli:
    return Cli(broker.bootstrap)


def test_topic_lifecycle(cli: Cli) -> None:
    scenarios.topic_lifecycle(cli, "cli-topics")


def test_produce_consume(cli: Cli) -> None:
    scenarios.produce_consume(cli, "cli-records")


def test_group_lifecycle(cli: Cli) -> None:
    scenarios.group_lifecycle(cli, "cli-groups", "cli-group")


def test_cluster_info_and_health(cli: Cli, broker: BrokerProcess) -> None:
    info = scenarios.cluster_commands(cli)
    assert info["controller_id"] == 1
    assert info["brokers"] == [
        {"id": 1, "host": "127.0.0.1", "port": broker.port, "rack": None, "fenced": False}
    ]


def test_quorum_describe_is_a_clear_answer(cli: Cli) -> None:
    result = cli("cluster", "quorum", "describe", "--format", "json", expect=None)
    if result.code == 0:  # once the broker serves DescribeQuorum
        assert result.json()["leader_id"] == 1
    else:
        assert result.code == 1
        assert "does not serve DescribeQuorum (API key 55)" in result.err
        assert result.out == ""


def test_brokers_from_the_environment(broker: BrokerProcess) -> None:
    cli = Cli(None, env={"RAFTBROKER_BROKERS": broker.bootstrap})
    assert cli("cluster", "info", "--format", "json").json()["controller_id"] == 1


def test_unreachable_broker_is_exit_code_3() -> None:
    scenarios.unreachable(free_port())


def test_usage_errors_are_exit_code_2(cli: Cli) -> None:
    assert "invalid choice" in cli("topic", "frobnicate", expect=2).err
    assert "must be positive" in cli("topic", "create", "x", "-p", "0", expect=2).err
    assert "KEY=VALUE" in cli("topic", "create", "x", "-c", "novalue", expect=2).err
    assert "nothing to change" in cli("topic", "alter-config", "x", expect=2).err
    no_target = cli("group", "reset-offsets", "g", "--topic", "t", expect=2)
    assert "one of the arguments" in no_target.err


def test_version(cli: Cli) -> None:
    assert cli("--version").out.strip() == f"raftbroker {__version__}"


def test_the_console_script_is_declared() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["raftbroker"] == "broker.__main__:main"
    assert any(d.startswith("kafka-python") for d in pyproject["project"]["dependencies"])
