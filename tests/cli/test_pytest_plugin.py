"""The pytest plugin (``broker/pytest_plugin.py``) as a user meets it: the example
of docs/testing.md run as a user's own test suite, in a pytest of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

from broker.testing import EmbeddedBroker, KafkaBroker, parse_ready_line
from tests.cli.runner import REPO_ROOT

DOC = REPO_ROOT / "docs" / "testing.md"


def doc_example() -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    return blocks[0]


def run_user_suite(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_example.py").write_text(doc_example())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    # -p only where the entry point is not installed yet (a venv made before
    # it was declared): with both, pytest refuses to register it twice.
    installed = any(ep.value == "broker.pytest_plugin" for ep in entry_points(group="pytest11"))
    load = [] if installed else ["-p", "broker.pytest_plugin"]
    argv = [sys.executable, "-m", "pytest", *load, "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_the_documented_example_passes(tmp_path: Path) -> None:
    result = run_user_suite(tmp_path, "--kafka-broker-arg", "log.retention.check.interval.ms=60000")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_a_bad_broker_argument_is_a_usage_error(tmp_path: Path) -> None:
    result = run_user_suite(tmp_path, "--kafka-broker-arg", "no.such.setting=1")
    assert result.returncode != 0
    assert "unknown setting(s): no.such.setting" in result.stdout + result.stderr


def test_the_entry_point_is_declared() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["pytest11"] == {
        "raftbroker": "broker.pytest_plugin"
    }


def test_ready_line_port_zero_and_restart_on_the_same_port(tmp_path: Path) -> None:
    assert parse_ready_line("raftbroker ready on 127.0.0.1:9092\n") == ("127.0.0.1", 9092)
    assert parse_ready_line("something else") is None
    broker = KafkaBroker(tmp_path / "data")
    with broker:
        port = broker.port
        assert port > 0
        topic = broker.create_topic(partitions=2)
        broker.restart()
        assert broker.port == port
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        assert topic in admin.list_topics()
        admin.close()
    assert not broker.running()


def test_the_example_in_process(tmp_path: Path) -> None:
    result = run_user_suite(tmp_path, "--kafka-broker-mode", "inprocess", "-k", "round_trip")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_embedded_broker_restarts_on_its_data(tmp_path: Path) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    with EmbeddedBroker(tmp_path / "data") as broker:
        port = broker.port
        topic = broker.create_topic()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        producer.send(topic, b"kept").get(timeout=10)
        producer.close()
        broker.restart()
        assert broker.port == port
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            consumer_timeout_ms=10_000,
        )
        assert [r.value for r in consumer] == [b"kept"]
        consumer.close()
    assert not broker.running()
