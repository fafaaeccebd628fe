"""Replicated partitions on three real broker processes (issue 14).

An RF=3 topic; kafka-python and confluent-kafka (librdkafka) produce with
acks=all and idempotence while the leader of a partition is SIGKILLed; the
clients carry on against the new leader (found through Metadata, which every
node reports alike once the new leader has reported itself with
AlterPartition); every acknowledged record is read back exactly once; the
killed node restarts, rejoins its groups as a follower and catches up: its
data batches are byte for byte the leader's.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from broker.storage.batch import split_batches
from compat.broker_cluster import BrokerCluster

TOPIC = "replicated"
PARTITIONS = 3
FAILOVER_BAR_S = 5.0

# kafka-python's producer leaves the socket of a refused connection attempt (to
# the killed node) to the garbage collector, which reports it as an unraisable
# ResourceWarning: collect after each test and ignore exactly that report (as
# compat/test_kafka_python.py does).
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(autouse=True)
def _collect_leaked_sockets() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    cluster = BrokerCluster(tmp_path_factory.mktemp("replicated"))
    try:
        cluster.start()
        cluster.wait_for_leader()
        yield cluster
    finally:
        cluster.close()


def wait_until(check: object, timeout_s: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting: {what or check}")
        time.sleep(0.05)


def leaders(bootstrap: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(TOPIC, timeout=5)
    topic = meta.topics[TOPIC]
    return {p: part.leader for p, part in topic.partitions.items()}


def create_topic(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def created() -> bool:
        futures = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)])
        try:
            futures[TOPIC].result(10)
        except Exception as exc:  # fewer than 3 brokers registered yet
            return "already exists" in str(exc)
        return True

    wait_until(created, what="RF=3 topic created")


def data_batches(directory: Path) -> list[bytes]:
    """The data batches of a partition directory's segments, in order."""
    out = []
    for segment in sorted(directory.glob("*.log")):
        blob = memoryview(segment.read_bytes())
        for position, header in split_batches(blob):
            if not header.is_control:
                out.append(bytes(blob[position : position + header.size_in_bytes]))
    return out


class Producers:
    """Both clients producing in threads; what each broker acknowledged."""

    def __init__(self, bootstrap: str) -> None:
        self.acked: list[bytes] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.bootstrap = bootstrap
        self.threads = [
            threading.Thread(target=self._confluent, daemon=True),
            threading.Thread(target=self._kafka_python, daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _ack(self, value: bytes) -> None:
        with self.lock:
            self.acked.append(value)

    def _confluent(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": 60000,
            }
        )

        def report(err: object, msg: object) -> None:
            if err is None:
                self._ack(msg.value())  # type: ignore[attr-defined]
            else:
                self.errors.append(f"confluent: {err}")

        i = 0
        while not self.stop.is_set():
            producer.produce(TOPIC, b"c-%d" % i, partition=i % PARTITIONS, on_delivery=report)
            producer.poll(0)
            i += 1
            time.sleep(0.002)
        producer.flush(60)

    def _kafka_python(self) -> None:
        # In a child process: kafka-python leaves the sockets of refused
        # connects (to the killed node) to the garbage collector, whose
        # ResourceWarnings would fail this session.
        child = subprocess.Popen(
            [sys.executable, "-c", KAFKA_PYTHON_PRODUCER, self.bootstrap, TOPIC, str(PARTITIONS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert child.stdin is not None and child.stdout is not None
        self.stop.wait()
        child.stdin.write(b"stop\n")
        child.stdin.flush()
        out, _ = child.communicate(timeout=120)
        for line in out.splitlines():
            if line.startswith(b"ERR "):
                self.errors.append(f"kafka-python: {line[4:].decode()}")
            elif line:
                self._ack(line)


KAFKA_PYTHON_PRODUCER = """
import sys, threading, time
from kafka import KafkaProducer
bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
producer = KafkaProducer(
    bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
    retries=1000, request_timeout_ms=10000, delivery_timeout_ms=60000,
)
futures, i = [], 0
while not stop.is_set():
    value = b"k-%d" % i
    futures.append((value, producer.send(topic, value, partition=i % partitions)))
    i += 1
    time.sleep(0.002)
producer.flush(60)
for value, future in futures:
    try:
        future.get(0)
    except Exception as exc:
        print("ERR", repr(exc), flush=True)
    else:
        sys.stdout.buffer.write(value + b"\\n")
sys.stdout.flush()
producer.close(timeout=10)
"""


def read_all(bootstrap: str) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "verify", "enable.auto.commit": False}
    )
    ends = {}
    for p in range(PARTITIONS):
        _low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
        ends[p] = high
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    got: list[bytes] = []
    positions = dict.fromkeys(range(PARTITIONS), 0)
    deadline = time.monotonic() + 60
    while any(positions[p] < ends[p] for p in ends) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        value, partition, offset = msg.value(), msg.partition(), msg.offset()
        assert value is not None and partition is not None and offset is not None
        got.append(value)
        positions[partition] = offset + 1
    consumer.close()
    return got


def test_acked_records_survive_the_partition_leaders_sigkill_and_the_node_catches_up(
    cluster: BrokerCluster,
) -> None:
    create_topic(cluster.bootstrap)
    wait_until(lambda: all(v > 0 for v in leaders(cluster.bootstrap).values()), what="leaders")
    producers = Producers(cluster.bootstrap)
    try:
        run_failover(cluster, producers)
    finally:
        producers.finish()


def run_failover(cluster: BrokerCluster, producers: Producers) -> None:
    producers.start()
    time.sleep(2)
    victim = leaders(cluster.bootstrap)[0]
    survivors = [n for i, n in cluster.nodes.items() if i != victim]
    killed_at = time.monotonic()
    cluster.nodes[victim].kill()

    def moved() -> bool:
        try:
            now = leaders(survivors[0].bootstrap)[0]
        except Exception:
            return False
        return now not in (victim, -1)

    wait_until(moved, what="a new leader of partition 0 in Metadata")
    failover_s = time.monotonic() - killed_at
    time.sleep(2)  # the clients carry on against the new leader
    cluster.nodes[victim].start()
    time.sleep(2)
    producers.finish()
    assert not producers.errors, producers.errors[:5]
    assert sum(v.startswith(b"c-") for v in producers.acked) > 100  # confluent-kafka
    assert sum(v.startswith(b"k-") for v in producers.acked) > 100  # kafka-python
    got = read_all(survivors[0].bootstrap)
    counts = Counter(got)
    duplicated = [v for v, n in counts.items() if n > 1]
    assert not duplicated, duplicated[:5]
    missing = set(producers.acked) - set(counts)
    assert not missing, sorted(missing)[:5]
    assert failover_s < FAILOVER_BAR_S, f"partition 0's leader moved after {failover_s:.2f} s"
    print(f"failover of partition 0's leader: {failover_s:.2f} s; {len(got)} records")

    # The restarted node caught up: its data batches are the leader's, byte for byte.
    def caught_up() -> bool:
        current = leaders(cluster.bootstrap)
        for p in range(PARTITIONS):
            leader = cluster.nodes[current[p]].data_dir / f"{TOPIC}-{p}"
            mine = cluster.nodes[victim].data_dir / f"{TOPIC}-{p}"
            if data_batches(mine) != data_batches(leader):
                return False
        return True

    wait_until(caught_up, what="the restarted node holds the leaders' batches")
