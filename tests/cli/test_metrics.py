"""``metrics.port``: Prometheus text under Kafka's exporter names, /healthz, /readyz.

A real broker process with the metrics listener on; a real client (kafka-python)
produces and consumes as a group while the test scrapes, and every series is
checked to move by what the client did.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="prometheus-client is a dependency of the broker")

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from compat.broker_process import BrokerProcess, free_port
from tests.cli.runner import REPO_ROOT

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    port = free_port()
    process = BrokerProcess(
        tmp_path_factory.mktemp("metrics") / "data",
        num_partitions=1,
        overrides={"metrics.port": str(port), "metrics.host": "127.0.0.1"},
    )
    process.metrics_port = port  # type: ignore[attr-defined]
    process.start()
    try:
        wait_ready(process)
        yield process
    finally:
        process.close()


def wait_ready(broker: BrokerProcess, timeout_s: float = 30) -> None:
    """/readyz answers 503 while the broker starts (its Kafka port already accepts)."""
    deadline = time.monotonic() + timeout_s
    while (answer := get(broker, "/readyz"))[0] != 200:
        assert answer[0] == 503, answer
        assert time.monotonic() < deadline, answer
        time.sleep(0.05)


def get(broker: BrokerProcess, path: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{broker.metrics_port}{path}"  # type: ignore[attr-defined]
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def scrape(broker: BrokerProcess) -> Samples:
    status, content_type, text = get(broker, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_health_and_readiness(broker: BrokerProcess) -> None:
    assert get(broker, "/healthz")[::2] == (200, "ok\n")
    assert get(broker, "/readyz")[::2] == (200, "ready\n")
    assert get(broker, "/nope")[0] == 404
    with socket.create_connection(("127.0.0.1", broker.metrics_port), timeout=5) as sock:  # type: ignore[attr-defined]
        sock.sendall(b"garbage\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")


def test_metrics_move_with_a_real_client(broker: BrokerProcess) -> None:
    topic, group = "metered", "metered-group"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics({topic: {"num_partitions": 2}})
    admin.close()
    before = scrape(broker)
    assert value(before, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(before, "kafka_controller_kafkacontroller_globaltopiccount") == 2  # + offsets
    assert value(before, "kafka_server_replicamanager_partitioncount") == 52
    assert value(before, "kafka_server_replicamanager_leadercount") == 52
    assert value(before, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(before, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    assert value(before, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 0

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    for i in range(10):
        producer.send(topic, value=b"x" * 100, partition=i % 2).get(timeout=10)
    producer.close()
    after_produce = scrape(broker)
    assert (
        value(after_produce, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 10
    )
    bytes_in = value(after_produce, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic)
    assert 10 * 100 < bytes_in < 10 * 200  # the batches as appended
    produces = value(
        after_produce, "kafka_network_requestmetrics_requests_total", request="Produce"
    )
    assert (
        produces - value(before, "kafka_network_requestmetrics_requests_total", request="Produce")
        == 10
    )
    hist = "kafka_network_requestmetrics_totaltimems"
    assert value(after_produce, hist + "_count", request="Produce") == produces
    assert value(after_produce, hist + "_sum", request="Produce") > 0
    assert value(after_produce, hist + "_bucket", request="Produce", le="+Inf") == produces

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=3,
    )
    seen = 0
    while seen < 7:
        seen += sum(len(r) for r in consumer.poll(timeout_ms=1000, max_records=7 - seen).values())
    consumer.commit()
    consumer.close(autocommit=False)
    after_consume = scrape(broker)
    assert (
        value(after_consume, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic)
        >= bytes_in
    )
    assert value(after_consume, "kafka_network_requestmetrics_requests_total", request="Fetch") >= 1
    assert (
        value(after_consume, "kafka_network_requestmetrics_requests_total", request="JoinGroup")
        >= 1
    )
    lags = {
        labels: v
        for (name, labels), v in after_consume.items()
        if name == "kafka_consumergroup_lag" and ("consumergroup", group) in labels
    }
    assert sum(lags.values()) == 10 - 7
    offsets = sum(
        v
        for (name, labels), v in after_consume.items()
        if name == "kafka_consumergroup_current_offset" and ("consumergroup", group) in labels
    )
    assert offsets == 7


def test_deleted_topic_series_go(broker: BrokerProcess) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics({"short-lived": {"num_partitions": 1}})
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send("short-lived", b"v").get(timeout=10)
    producer.close()
    assert (
        value(
            scrape(broker), "kafka_server_brokertopicmetrics_messagesin_total", topic="short-lived"
        )
        == 1
    )
    admin.delete_topics(["short-lived"])
    admin.close()
    names = {
        labels for (name, labels) in scrape(broker) if name.startswith("kafka_server_brokertopic")
    }
    assert (("topic", "short-lived"),) not in names


def serve(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "broker", "serve", "--override", f"log.dirs={tmp_path / 'data'}"]
    argv += ["--override", f"listeners=PLAINTEXT://127.0.0.1:{free_port()}"]
    for item in overrides:
        argv += ["--override", item]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


@pytest.mark.parametrize("port", ["-2", "65536", "http"])
def test_a_port_that_cannot_be_bound_is_refused(tmp_path: Path, port: str) -> None:
    result = serve(tmp_path, f"metrics.port={port}")
    assert result.returncode == 2
    assert "metrics.port" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_metrics_port_stops_start_up(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = serve(tmp_path, f"metrics.port={port}", "metrics.host=127.0.0.1")
    assert result.returncode == 1
    assert (
        f"metrics.port {port} on 127.0.0.1: cannot listen: address already in use" in result.stderr
    )
    assert "Traceback" not in result.stderr
