"""kafka-python against the broker (KafkaProducer, KafkaConsumer by assign+seek, KafkaAdminClient)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import kafka
import kafka.errors
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from compat import tools
from compat.suite import (
    GROUP_TIMEOUT_S,
    OP_TIMEOUT_S,
    Acks,
    Client,
    ClientError,
    ClientSuite,
    ClusterView,
    Message,
    Record,
)

_TIMEOUT_MS = int(OP_TIMEOUT_S * 1000)

# kafka-python's producer leaves the socket of a refused connection attempt open
# (its sender thread retries while a broker restarts or stops); the garbage
# collector reports them as unraisable ResourceWarnings in whichever test it
# happens to run. Collect after each test of this module, and ignore exactly
# that report here.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(autouse=True)
def _collect_leaked_sockets() -> Iterator[None]:
    yield
    gc.collect()


def _common(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        "client_id": "compat-kafka-python",
        "request_timeout_ms": 10_000,
        "reconnect_backoff_max_ms": 500,
    }


def _client_error(exc: kafka.errors.KafkaError) -> ClientError:
    name = (
        getattr(exc, "message", None) if isinstance(exc, kafka.errors.BrokerResponseError) else None
    )
    return ClientError(name, f"{type(exc).__name__}: {exc}")


def _record(r: Any) -> Record:
    return Record(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp)


def _send_all(producer: KafkaProducer, topic: str, messages: Sequence[Message]) -> list[int | None]:
    """Send in order, wait for every ack; the offsets (None for acks=0's -1)."""
    futures = [
        producer.send(
            topic,
            key=m.key,
            value=m.value,
            headers=list(m.headers),
            partition=m.partition,
            timestamp_ms=m.timestamp_ms,
        )
        for m in messages
    ]
    producer.flush(timeout=OP_TIMEOUT_S)
    offsets: list[int | None] = []
    for future in futures:
        offset = future.get(timeout=OP_TIMEOUT_S).offset
        offsets.append(offset if offset >= 0 else None)
    return offsets


class KafkaPythonClient(Client):
    def version(self) -> str:
        return str(kafka.__version__)

    def produce(
        self,
        bootstrap: str,
        topic: str,
        messages: Sequence[Message],
        *,
        codec: str = "none",
        acks: Acks = "all",
        idempotent: bool = False,
    ) -> list[int | None]:
        if codec == "snappy":
            # kafka-python compresses snappy only through python-snappy.
            tools.require_module("snappy")
        producer = KafkaProducer(
            **_common(bootstrap),
            acks="all" if acks == "all" else int(acks),
            compression_type=None if codec == "none" else codec,
            enable_idempotence=idempotent,
            linger_ms=5,
            max_block_ms=_TIMEOUT_MS,
            delivery_timeout_ms=_TIMEOUT_MS,
        )
        try:
            return _send_all(producer, topic, messages)
        finally:
            producer.close(timeout=5)

    def produce_around(
        self,
        bootstrap: str,
        topic: str,
        before: Sequence[Message],
        after: Sequence[Message],
        between: Callable[[], None],
    ) -> list[int | None]:
        producer = KafkaProducer(
            **_common(bootstrap),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_block_ms=_TIMEOUT_MS,
            delivery_timeout_ms=_TIMEOUT_MS,
        )
        try:
            offsets = _send_all(producer, topic, before)
            between()
            return offsets + _send_all(producer, topic, after)
        finally:
            producer.close(timeout=5)

    def _consumer(self, bootstrap: str) -> KafkaConsumer:
        return KafkaConsumer(
            **_common(bootstrap),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=200,
        )

    def fetch(
        self,
        bootstrap: str,
        topic: str,
        start: Mapping[int, int],
        counts: Mapping[int, int],
        *,
        stop_at_end: bool = False,
        timeout_s: float = OP_TIMEOUT_S,
    ) -> dict[int, list[Record]]:
        consumer = self._consumer(bootstrap)
        got: dict[int, list[Record]] = {p: [] for p in start}
        try:
            tps = {p: TopicPartition(topic, p) for p in start}
            consumer.assign(list(tps.values()))
            for p, tp in tps.items():
                consumer.seek(tp, start[p])
            deadline = time.monotonic() + timeout_s
            pending = {p for p in start if counts[p] > 0}
            while pending and time.monotonic() < deadline:
                for tp, batch in consumer.poll(timeout_ms=200).items():
                    got[tp.partition] += [_record(r) for r in batch]
                for p in list(pending):
                    if len(got[p]) >= counts[p]:
                        pending.discard(p)
                    elif stop_at_end:
                        high = consumer.highwater(tps[p])
                        if high is not None and consumer.position(tps[p]) >= high:
                            pending.discard(p)
        finally:
            consumer.close(autocommit=False)
        return {p: records[: counts[p]] for p, records in got.items()}

    def fetch_around(
        self,
        bootstrap: str,
        topic: str,
        partition: int,
        first: int,
        second: int,
        between: Callable[[], None],
    ) -> list[Record]:
        consumer = self._consumer(bootstrap)
        got: list[Record] = []
        try:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            for want in (first, first + second):
                deadline = time.monotonic() + OP_TIMEOUT_S
                while len(got) < want and time.monotonic() < deadline:
                    for batch in consumer.poll(timeout_ms=200).values():
                        got += [_record(r) for r in batch]
                if want == first:
                    between()
        finally:
            consumer.close(autocommit=False)
        return got

    def list_offsets(
        self, bootstrap: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, tuple[int, int]]:
        consumer = self._consumer(bootstrap)
        try:
            tps = [TopicPartition(topic, p) for p in partitions]
            low = consumer.beginning_offsets(tps, timeout_ms=_TIMEOUT_MS)
            high = consumer.end_offsets(tps, timeout_ms=_TIMEOUT_MS)
        finally:
            consumer.close(autocommit=False)
        return {tp.partition: (low[tp], high[tp]) for tp in tps}

    def offsets_for_times(
        self, bootstrap: str, topic: str, timestamps: Mapping[int, int]
    ) -> dict[int, int | None]:
        consumer = self._consumer(bootstrap)
        try:
            found = consumer.offsets_for_times(
                {TopicPartition(topic, p): ts for p, ts in timestamps.items()},
                timeout_ms=_TIMEOUT_MS,
            )
        finally:
            consumer.close(autocommit=False)
        return {tp.partition: (None if hit is None else hit.offset) for tp, hit in found.items()}

    def _admin(self, bootstrap: str) -> KafkaAdminClient:
        return KafkaAdminClient(**_common(bootstrap))

    def cluster_view(self, bootstrap: str, topic: str) -> ClusterView:
        # A producer's metadata request auto-creates the topic.
        producer = KafkaProducer(**_common(bootstrap), max_block_ms=_TIMEOUT_MS)
        try:
            producer.partitions_for(topic)
        finally:
            producer.close(timeout=5)
        admin = self._admin(bootstrap)
        try:
            [described] = admin.describe_topics([topic])
            cluster = admin.describe_cluster()
        finally:
            admin.close()
        if described.get("error_code", 0):
            raise ClientError(
                kafka.errors.for_code(described["error_code"]).message, str(described)
            )
        return ClusterView(
            brokers=frozenset((b["broker_id"], b["host"], b["port"]) for b in cluster["brokers"]),
            leaders={p["partition_index"]: p["leader_id"] for p in described["partitions"]},
        )

    def create_topic(self, bootstrap: str, topic: str, partitions: int) -> None:
        admin = self._admin(bootstrap)
        try:
            admin.create_topics(
                {topic: {"num_partitions": partitions, "replication_factor": 1}},
                timeout_ms=_TIMEOUT_MS,
            )
        except kafka.errors.KafkaError as exc:
            raise _client_error(exc) from exc
        finally:
            admin.close()

    def delete_topic(self, bootstrap: str, topic: str) -> None:
        admin = self._admin(bootstrap)
        try:
            admin.delete_topics([topic], timeout_ms=_TIMEOUT_MS)
        except kafka.errors.KafkaError as exc:
            raise _client_error(exc) from exc
        finally:
            admin.close()

    def list_topics(self, bootstrap: str) -> set[str]:
        admin = self._admin(bootstrap)
        try:
            return set(admin.list_topics())
        finally:
            admin.close()

    def consume_group(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        count: int,
        *,
        timeout_s: float = GROUP_TIMEOUT_S,
    ) -> list[Record]:
        consumer = KafkaConsumer(
            topic,
            **_common(bootstrap),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=200,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
        )
        got: list[Record] = []
        try:
            deadline = time.monotonic() + timeout_s
            while len(got) < count and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=200).values():
                    got += [_record(r) for r in batch]
            consumer.commit()  # the positions after everything read
        finally:
            consumer.close(autocommit=False)  # leaves the group
        return got


class TestKafkaPython(ClientSuite):
    CLIENT = "kafka-python"
    client: ClassVar[Client] = KafkaPythonClient()
