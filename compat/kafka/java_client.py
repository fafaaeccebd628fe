"""The adapter of the Apache Kafka Java client, shared by the ``compat/test_java_*`` modules.

``JAVA`` drives the client through the one JVM of ``compat/kafka/java_driver.py``;
the ``java_driver`` fixture (module scope) starts it for a test module and
stops it afterwards. Each adapter call opens the client it needs
(``KafkaProducer``, ``KafkaConsumer``, ``Admin``), does one thing with the
client's public API and closes it; ``producer``/``consumer``/``admin`` plus
``call`` give tests the same clients for longer-lived scenarios.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from compat.kafka import install
from compat.kafka.fixtures import require_javac, require_kafka
from compat.kafka.java_driver import JavaClientError, JavaDriver
from compat.suite import (
    GROUP_TIMEOUT_S,
    OP_TIMEOUT_S,
    Acks,
    Client,
    ClientError,
    ClusterView,
    Message,
    Record,
)

_TIMEOUT_MS = str(int(OP_TIMEOUT_S * 1000))
_ids = itertools.count()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def common_config(bootstrap: str) -> dict[str, str]:
    return {
        "bootstrap.servers": bootstrap,
        "client.id": "compat-java",
        "request.timeout.ms": "10000",
        "default.api.timeout.ms": _TIMEOUT_MS,
        "reconnect.backoff.max.ms": "500",
    }


def record_of(r: Mapping[str, Any]) -> Record:
    return Record(
        r["partition"],
        r["offset"],
        _unb64(r["key"]),
        _unb64(r["value"]),
        tuple((k, _unb64(v) or b"") for k, v in r["headers"]),
        r["timestamp"],
    )


def records_json(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [
        {
            "partition": m.partition,
            "key": _b64(m.key),
            "value": _b64(m.value),
            "headers": [[k, _b64(v)] for k, v in m.headers],
            "timestamp": m.timestamp_ms,
        }
        for m in messages
    ]


class JavaClient(Client):
    """The adapter; ``driver`` is set by the module fixture of whichever module uses it."""

    driver: JavaDriver | None = None

    def version(self) -> str:
        return install.KAFKA_VERSION

    def call(self, op: str, **fields: Any) -> Any:
        if self.driver is None:
            raise RuntimeError("no Java driver (the java_driver fixture sets it)")
        try:
            return self.driver.call(op, **fields)
        except JavaClientError as exc:
            raise ClientError(exc.error, exc.detail) from exc

    def opened(self, kind: str, config: Mapping[str, str]) -> str:
        handle = f"{kind}{next(_ids)}"
        self.call(f"{kind}.open", id=handle, config=dict(config))
        return handle

    def producer(self, bootstrap: str, **extra: str) -> str:
        return self.opened(
            "producer",
            {
                **common_config(bootstrap),
                "linger.ms": "5",
                "max.block.ms": _TIMEOUT_MS,
                "delivery.timeout.ms": _TIMEOUT_MS,
                **extra,
            },
        )

    def consumer(self, bootstrap: str, **extra: str) -> str:
        return self.opened(
            "consumer",
            {
                **common_config(bootstrap),
                "enable.auto.commit": "false",
                "auto.offset.reset": "earliest",
                "fetch.max.wait.ms": "200",
                **extra,
            },
        )

    def admin(self, bootstrap: str) -> str:
        return self.opened("admin", common_config(bootstrap))

    def admin_call(self, bootstrap: str, op: str, **fields: Any) -> Any:
        handle = self.admin(bootstrap)
        try:
            return self.call(f"admin.{op}", id=handle, **fields)
        finally:
            self.call("admin.close", id=handle)

    def poll(self, handle: str, ms: int = 200) -> list[Record]:
        return [record_of(r) for r in self.call("consumer.poll", id=handle, ms=ms)]

    # -- the Client interface ---------------------------------------------------

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
        handle = self.producer(
            bootstrap,
            **{
                "acks": acks,
                "compression.type": codec,
                "enable.idempotence": "true" if idempotent else "false",
            },
        )
        try:
            offsets: list[int | None] = self.call(
                "producer.send", id=handle, topic=topic, records=records_json(messages)
            )
            return offsets
        finally:
            self.call("producer.close", id=handle)

    def produce_around(
        self,
        bootstrap: str,
        topic: str,
        before: Sequence[Message],
        after: Sequence[Message],
        between: Callable[[], None],
    ) -> list[int | None]:
        handle = self.producer(bootstrap, acks="all", **{"enable.idempotence": "true"})
        try:
            first = self.call("producer.send", id=handle, topic=topic, records=records_json(before))
            between()
            second = self.call("producer.send", id=handle, topic=topic, records=records_json(after))
            return [*first, *second]
        finally:
            self.call("producer.close", id=handle)

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
        handle = self.consumer(bootstrap)
        got: dict[int, list[Record]] = {p: [] for p in start}
        try:
            self.call(
                "consumer.assign",
                id=handle,
                topic=topic,
                partitions=list(start),
                seek={str(p): o for p, o in start.items()},
            )
            end = (
                self.call("consumer.end", id=handle, topic=topic, partitions=list(start))
                if stop_at_end
                else {}
            )
            deadline = time.monotonic() + timeout_s
            pending = {p for p in start if counts[p] > 0}
            while pending and time.monotonic() < deadline:
                for r in self.poll(handle):
                    got[r.partition].append(r)
                for p in list(pending):
                    last = got[p][-1].offset + 1 if got[p] else start[p]
                    if len(got[p]) >= counts[p] or (stop_at_end and last >= end[str(p)]):
                        pending.discard(p)
            if stop_at_end:
                # Anything past the end seen at the start would be a duplicate.
                for r in self.poll(handle, 500):
                    got[r.partition].append(r)
        finally:
            self.call("consumer.close", id=handle)
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
        handle = self.consumer(bootstrap)
        got: list[Record] = []
        try:
            self.call(
                "consumer.assign",
                id=handle,
                topic=topic,
                partitions=[partition],
                seek={partition: 0},
            )
            for want in (first, first + second):
                deadline = time.monotonic() + OP_TIMEOUT_S
                while len(got) < want and time.monotonic() < deadline:
                    got += self.poll(handle)
                if want == first:
                    between()
        finally:
            self.call("consumer.close", id=handle)
        return got

    def list_offsets(
        self, bootstrap: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, tuple[int, int]]:
        handle = self.consumer(bootstrap)
        try:
            low = self.call("consumer.beginning", id=handle, topic=topic, partitions=partitions)
            high = self.call("consumer.end", id=handle, topic=topic, partitions=partitions)
        finally:
            self.call("consumer.close", id=handle)
        return {p: (low[str(p)], high[str(p)]) for p in partitions}

    def offsets_for_times(
        self, bootstrap: str, topic: str, timestamps: Mapping[int, int]
    ) -> dict[int, int | None]:
        handle = self.consumer(bootstrap)
        try:
            found = self.call(
                "consumer.offsets_for_times",
                id=handle,
                topic=topic,
                timestamps={str(p): t for p, t in timestamps.items()},
            )
        finally:
            self.call("consumer.close", id=handle)
        return {int(p): o for p, o in found.items()}

    def cluster_view(self, bootstrap: str, topic: str) -> ClusterView:
        # A producer's metadata request auto-creates the topic (the Admin's does not).
        handle = self.producer(bootstrap)
        try:
            self.call("producer.partitions", id=handle, topic=topic)
        finally:
            self.call("producer.close", id=handle)
        described = self.admin_call(bootstrap, "describe_topics", topics=[topic])[topic]
        cluster = self.admin_call(bootstrap, "describe_cluster")
        return ClusterView(
            brokers=frozenset((n, h, p) for n, h, p in cluster["nodes"]),
            leaders={p["partition"]: p["leader"] for p in described["partitions"]},
        )

    def create_topic(self, bootstrap: str, topic: str, partitions: int) -> None:
        errors = self.admin_call(
            bootstrap,
            "create_topics",
            topics=[{"name": topic, "partitions": partitions, "replication_factor": 1}],
        )
        if errors[topic] is not None:
            raise ClientError(errors[topic], f"createTopics({topic})")

    def delete_topic(self, bootstrap: str, topic: str) -> None:
        errors = self.admin_call(bootstrap, "delete_topics", topics=[topic])
        if errors[topic] is not None:
            raise ClientError(errors[topic], f"deleteTopics({topic})")

    def list_topics(self, bootstrap: str) -> set[str]:
        return set(self.admin_call(bootstrap, "list_topics"))

    def consume_group(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        count: int,
        *,
        timeout_s: float = GROUP_TIMEOUT_S,
    ) -> list[Record]:
        handle = self.consumer(
            bootstrap,
            **{
                "group.id": group,
                "group.protocol": "classic",
                "session.timeout.ms": "10000",
                "heartbeat.interval.ms": "1000",
            },
        )
        got: list[Record] = []
        try:
            self.call("consumer.subscribe", id=handle, topics=[topic])
            deadline = time.monotonic() + timeout_s
            while len(got) < count and time.monotonic() < deadline:
                got += self.poll(handle)
            self.call("consumer.commit", id=handle)
        finally:
            self.call("consumer.close", id=handle)  # leaves the group
        return got


JAVA = JavaClient()


@pytest.fixture(scope="module", autouse=True)
def java_driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JavaDriver]:
    """One JVM with the Java client for the module (compiled on first use)."""
    require_kafka()
    require_javac()
    driver = JavaDriver(Path(tmp_path_factory.mktemp("java")) / "driver.log")
    driver.start()
    JAVA.driver = driver
    try:
        yield driver
    finally:
        JAVA.driver = None
        driver.close()
