"""``log.format=json``, ``log.level``, the start-up banner and the event lines,
read from a real broker process's output."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer

from broker import __version__
from compat.broker_process import BrokerProcess


def json_lines(broker: BrokerProcess) -> list[dict[str, Any]]:
    out = []
    for line in broker.log_path.read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
        else:
            # BrokerProcess's own banner, and the ready line (stdout, not a log line).
            assert line.startswith(("=== start", "raftbroker ready on ")), f"not JSON: {line!r}"
    return out


def events(broker: BrokerProcess, name: str, *, wait_s: float = 30) -> list[dict[str, Any]]:
    """The ``name`` events in the output, waiting until there is one (the Kafka
    port accepts before start-up is over)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [e for e in json_lines(broker) if e.get("event") == name]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(tmp_path / "data", overrides={"log.format": "json"})
    process.start()
    try:
        yield process
    finally:
        process.close()


def test_banner_and_topic_events(broker: BrokerProcess) -> None:
    [banner] = events(broker, "broker_started")
    assert banner["level"] == "INFO"
    assert banner["logger"] == "broker.events"
    assert banner["version"] == __version__
    assert banner["node_id"] == 1
    assert banner["roles"] == ["broker", "controller"]
    assert banner["listeners"] == f"PLAINTEXT://{broker.bootstrap}"
    assert banner["data_dir"] == str(broker.data_dir)
    assert len(banner["cluster_id"]) == 22
    assert banner["metrics"] is None
    assert banner["message"].startswith(f"raftbroker {__version__} started: node 1")
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in json_lines(broker))

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics({"logged": {"num_partitions": 3}})
    admin.delete_topics(["logged"])
    admin.close()
    broker.stop()  # flushes the output
    [created] = [e for e in events(broker, "topic_created") if e["topic"] == "logged"]
    assert created["partitions"] == 3
    [deleted] = events(broker, "topic_deleted")
    assert deleted["topic"] == "logged" and deleted["topic_id"] == created["topic_id"]


def test_recovery_says_what_was_truncated(broker: BrokerProcess) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for _ in range(5):
        producer.send("recovered", b"r" * 50, partition=0).get(timeout=10)
    producer.close()
    broker.kill()
    segment = broker.data_dir / "recovered-0" / ("0" * 20 + ".log")
    size = segment.stat().st_size
    with segment.open("ab") as f:
        f.write(b"\x00\x01torn tail" * 3)
    broker.start()
    recoveries = {
        e["partition"]: e for e in events(broker, "log_recovered") if e["topic"] == "recovered"
    }
    assert recoveries[1]["level"] == "INFO"  # unclean, nothing to cut
    assert recoveries[1]["bytes_truncated"] == 0
    recovered = recoveries[0]
    assert recovered["level"] == "WARNING"
    assert recovered["bytes_truncated"] == 33
    assert recovered["log_end_offset"] == 5
    assert segment.stat().st_size == size


def test_log_level(tmp_path: Path) -> None:
    process = BrokerProcess(tmp_path / "data", overrides={"log.level": "WARNING"})
    process.start()
    admin = KafkaAdminClient(bootstrap_servers=process.bootstrap)  # start-up is over
    admin.create_topics({"quiet": {"num_partitions": 1}})
    admin.close()
    process.stop()
    text = process.log_path.read_text()
    assert " INFO " not in text
    assert "started: node 1" not in text
