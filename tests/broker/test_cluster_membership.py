"""Brokers joining a real broker process: registration, heartbeats, fencing.

Our broker runs as its own process (``python -m broker serve``), the single
controller of its cluster. *Fake brokers* (ids 2 and 3) are test clients
that speak BrokerRegistration and BrokerHeartbeat to it over TCP, as a
Kafka broker speaks to its controller. They register our broker's own port
as their endpoint (``localhost`` rather than ``127.0.0.1``), so a client that
picks one of them still reaches a broker that answers. kafka-python sees them in Metadata while they heartbeat and stops
seeing them once their session runs out.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import (
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    NotLeaderForPartitionError,
)

from broker.errors import ErrorCode
from broker.wire.generated.broker_heartbeat_request import BrokerHeartbeatRequest
from broker.wire.generated.broker_registration_request import (
    BrokerRegistrationRequest,
    Listener,
)
from broker.wire.generated.fetch_request import FetchPartition, FetchRequest, FetchTopic
from broker.wire.generated.list_offsets_request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from broker.wire.generated.metadata_request import MetadataRequest, MetadataRequestTopic
from broker.wire.generated.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from compat.broker_process import BrokerProcess
from tests.broker.helpers import WireClient, client_batch

SESSION_MS = 1500
HEARTBEAT_MS = 200


class Client(WireClient):
    def metadata_brokers(self) -> list[int]:
        response = self.call(3, 12, MetadataRequest(topics=[]))
        return sorted(b.node_id for b in response.brokers)


class FakeBroker:
    """A broker that only registers and heartbeats (in a thread, while ``alive``)."""

    def __init__(self, broker_id: int, cluster_id: str, port: int) -> None:
        self.broker_id = broker_id
        self.cluster_id = cluster_id
        self.port = port
        self.client = Client(port)
        self.incarnation = uuid.uuid4()
        self.epoch = -1
        self.alive = threading.Event()
        self.answers: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def register(self) -> Any:
        response = self.client.call(
            62,
            4,
            BrokerRegistrationRequest(
                broker_id=self.broker_id,
                cluster_id=self.cluster_id,
                incarnation_id=self.incarnation,
                listeners=[Listener("PLAINTEXT", "localhost", self.port, 0)],
                rack=None,
            ),
        )
        self.epoch = response.broker_epoch
        return response

    def heartbeat(self, epoch: int | None = None, **flags: Any) -> Any:
        return self.client.call(
            63,
            1,
            BrokerHeartbeatRequest(
                broker_id=self.broker_id,
                broker_epoch=self.epoch if epoch is None else epoch,
                current_metadata_offset=2**62,  # always caught up
                **flags,
            ),
        )

    def start(self) -> None:
        self.alive.set()
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.is_set():
            if self.alive.is_set():
                try:
                    self.answers.append(self.heartbeat())
                except OSError:  # the broker went away (or is shutting down)
                    return
            time.sleep(HEARTBEAT_MS / 1000)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.client.close()


def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout_s``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not true after {timeout_s}s")
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        tmp_path / "data",
        overrides={
            "offsets.topic.num.partitions": "1",
            "broker.session.timeout.ms": str(SESSION_MS),
            "broker.heartbeat.interval.ms": str(HEARTBEAT_MS),
        },
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture
def client(broker: BrokerProcess) -> Iterator[Client]:
    connection = Client(broker_port(broker))
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def fakes(broker: BrokerProcess) -> Iterator[list[FakeBroker]]:
    """Brokers 2 and 3, not registered yet."""
    cid = cluster_id(broker.data_dir)
    made = [FakeBroker(2, cid, broker_port(broker)), FakeBroker(3, cid, broker_port(broker))]
    try:
        yield made
    finally:
        for fake in made:
            fake.close()


def broker_port(broker: BrokerProcess) -> int:
    assert broker.port is not None
    return broker.port


def cluster_id(data_dir: Path) -> str:
    props = dict(
        line.split("=", 1) for line in (data_dir / "meta.properties").read_text().splitlines()
    )
    return props["cluster.id"]


def kafka_python_brokers(port: int) -> list[int]:
    """The unfenced brokers kafka-python sees in Metadata, checked against
    DescribeCluster (which kafka-python asks to include fenced brokers)."""
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=5000)
    try:
        cluster = admin.describe_cluster()["brokers"]
        unfenced = sorted(b["broker_id"] for b in cluster if not b["is_fenced"])
        listed = admin._manager.run(admin._get_cluster_metadata, [])["brokers"]
        assert sorted(b["node_id"] for b in listed) == unfenced
        return unfenced
    finally:
        admin.close()


def test_fake_brokers_register_are_fenced_when_silent_and_return(
    broker: BrokerProcess, client: Client, fakes: list[FakeBroker]
) -> None:
    port = broker_port(broker)
    assert client.metadata_brokers() == [1]
    for fake in fakes:
        assert fake.register().error_code == ErrorCode.NONE
    # Registered fenced: not in Metadata until a heartbeat unfences them.
    assert client.metadata_brokers() == [1]
    first = fakes[0].heartbeat()
    assert (first.error_code, first.is_caught_up, first.is_fenced) == (0, True, False)
    for fake in fakes:
        fake.start()
    wait_for(lambda: client.metadata_brokers() == [1, 2, 3])
    assert kafka_python_brokers(port) == [1, 2, 3]

    # A heartbeat with an old epoch, a registration for another cluster.
    assert fakes[0].heartbeat(epoch=fakes[0].epoch - 1).error_code == (ErrorCode.STALE_BROKER_EPOCH)
    other = FakeBroker(4, "another-cluster", port)
    assert other.register().error_code == ErrorCode.INCONSISTENT_CLUSTER_ID
    other.close()

    # Broker 2 goes silent: fenced after the session timeout, gone from Metadata.
    fakes[0].alive.clear()
    silent_at = time.monotonic()
    wait_for(lambda: client.metadata_brokers() == [1, 3])
    fenced_after = time.monotonic() - silent_at
    assert fenced_after >= SESSION_MS / 1000 - HEARTBEAT_MS / 1000
    print(f"figures: broker fenced {fenced_after:.2f}s after its last heartbeat")
    assert kafka_python_brokers(port) == [1, 3]
    time.sleep(HEARTBEAT_MS / 1000 * 3)
    assert fakes[1].answers[-1].is_fenced is False  # 3 kept its session

    # It heartbeats again with the same epoch: unfenced, back in Metadata.
    fakes[0].alive.set()
    wait_for(lambda: client.metadata_brokers() == [1, 2, 3])
    assert kafka_python_brokers(port) == [1, 2, 3]

    # SIGTERM: a controlled shutdown, refused by no one, ends the process cleanly.
    broker.stop()
    assert "Traceback" not in broker.output_tail(200)


def test_controlled_shutdown_waits_for_live_brokers_to_catch_up(
    broker: BrokerProcess, client: Client, fakes: list[FakeBroker]
) -> None:
    fakes[0].register()
    fakes[0].start()
    wait_for(lambda: client.metadata_brokers() == [1, 2])
    position = broker.log_position()
    start = time.monotonic()
    broker.stop(timeout_s=30)  # exit code 0
    took = time.monotonic() - start
    log = broker.output_since(position, 200)
    # First in controlled shutdown while broker 2 catches up, then let go
    # (fenced), not by shutdown.timeout.ms running out.
    assert "broker 1 (epoch" in log and "is now unfenced, in controlled shutdown" in log, log
    assert "is now fenced, in controlled shutdown" in log, log
    assert "did not allow the shutdown" not in log, log
    print(f"figures: controlled shutdown with one other live broker took {took:.2f}s")


def test_partitions_are_placed_on_fake_brokers_and_refused_here(
    broker: BrokerProcess, client: Client, fakes: list[FakeBroker]
) -> None:
    port = broker_port(broker)
    admin = None
    producer = None
    try:
        for fake in fakes:
            fake.register()
            fake.start()
        wait_for(lambda: client.metadata_brokers() == [1, 2, 3])
        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=5000)
        admin.create_topics([NewTopic("spread", 6, 1)])
        # Explicit assignments are honoured; unknown brokers and too many
        # replicas are refused as Kafka refuses them.
        admin.create_topics([NewTopic("pinned", replica_assignments={0: [3], 1: [1]})])
        with pytest.raises(InvalidReplicationAssignmentError):
            admin.create_topics([NewTopic("nowhere", replica_assignments={0: [9]})])
        with pytest.raises(InvalidReplicationFactorError):
            admin.create_topics([NewTopic("wide", 1, 4)])

        described = {t["name"]: t for t in admin.describe_topics(["spread", "pinned"])}
        leaders = {p["partition_index"]: p["leader_id"] for p in described["spread"]["partitions"]}
        # Round-robin from a random start: each broker leads two of six.
        assert sorted(leaders.values()) == [1, 1, 2, 2, 3, 3], leaders
        assert {
            p["partition_index"]: p["leader_id"] for p in described["pinned"]["partitions"]
        } == {
            0: 3,
            1: 1,
        }
        print(f"figures: leaders of spread-0..5: {[leaders[p] for p in range(6)]}")

        remote = min(p for p, leader in leaders.items() if leader == 2)
        local = min(p for p, leader in leaders.items() if leader == 1)
        # A produce to our node for broker 2's partition: NOT_LEADER_OR_FOLLOWER
        # with the leader's id, epoch and endpoint (KIP-951, Produce v10+).
        answer = client.call(
            0,
            12,
            ProduceRequest(
                None,
                -1,
                5000,
                [
                    TopicProduceData(
                        "spread",
                        partition_data=[
                            PartitionProduceData(remote, client_batch([b"x"])),
                            PartitionProduceData(local, client_batch([b"y"])),
                        ],
                    )
                ],
            ),
        )
        results = {p.index: p for p in answer.responses[0].partition_responses}
        assert results[remote].error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        assert (
            results[remote].current_leader.leader_id,
            results[remote].current_leader.leader_epoch,
        ) == (2, 0)
        assert [(e.node_id, e.host, e.port) for e in answer.node_endpoints] == [
            (2, "localhost", port)
        ]
        assert results[local].error_code == ErrorCode.NONE

        # kafka-python, sent to "broker 2" (our port), gets the same answer.
        producer = KafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", retries=0, acks=1)
        producer.send("spread", b"here", partition=local).get(timeout=10)
        with pytest.raises(NotLeaderForPartitionError):
            producer.send("spread", b"there", partition=remote).get(timeout=10)

        # Fetch and ListOffsets say the same.
        fetched = client.call(
            1,
            16,
            FetchRequest(
                max_wait_ms=0,
                min_bytes=0,
                topics=[
                    FetchTopic(
                        topic_id=described_topic_id(client, "spread"),
                        partitions=[
                            FetchPartition(remote, fetch_offset=0, partition_max_bytes=1 << 20)
                        ],
                    )
                ],
            ),
        )
        part = fetched.responses[0].partitions[0]
        assert part.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        assert part.current_leader.leader_id == 2
        assert [e.node_id for e in fetched.node_endpoints] == [2]
        offsets = client.call(
            2,
            7,
            ListOffsetsRequest(
                replica_id=-1,
                topics=[ListOffsetsTopic("spread", [ListOffsetsPartition(remote, timestamp=-1)])],
            ),
        )
        assert offsets.topics[0].partitions[0].error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER

        # Broker 2 fenced: its partitions have no leader for clients.
        fakes[0].alive.clear()
        wait_for(lambda: client.metadata_brokers() == [1, 3])
        meta = client.call(3, 12, MetadataRequest(topics=[MetadataRequestTopic(name="spread")]))
        by_index = {p.partition_index: p for p in meta.topics[0].partitions}
        assert (by_index[remote].error_code, by_index[remote].leader_id) == (
            ErrorCode.LEADER_NOT_AVAILABLE,
            -1,
        )
        assert by_index[remote].offline_replicas == [2]
        assert by_index[local].leader_id == 1
    finally:
        if producer is not None:
            producer.close(timeout=1)
        if admin is not None:
            admin.close()


def described_topic_id(client: Client, name: str) -> uuid.UUID:
    meta = client.call(3, 12, MetadataRequest(topics=[MetadataRequestTopic(name=name)]))
    topic_id: uuid.UUID = meta.topics[0].topic_id
    return topic_id
