"""confluent-kafka (librdkafka) against the broker (Producer, Consumer by assign, AdminClient).

librdkafka insists on a ``group.id`` for any consumer; the consumer here only
uses ``assign()`` with explicit offsets (librdkafka's seek) and never
subscribes or commits, so no group is joined.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import confluent_kafka
import kafka.errors
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

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

_REQUEST_TIMEOUT_S = 10.0


# librdkafka's log lines go through Python logging (captured per test by
# pytest) instead of straight to stderr.
_LOG = logging.getLogger("compat.confluent_kafka")


def _common(bootstrap: str) -> dict[str, Any]:
    return {
        "logger": _LOG,
        "bootstrap.servers": bootstrap,
        "client.id": "compat-confluent-kafka",
        "socket.timeout.ms": int(_REQUEST_TIMEOUT_S * 1000),
        "reconnect.backoff.max.ms": 500,
    }


def _client_error(err: KafkaError) -> ClientError:
    # librdkafka abbreviates some names (UNKNOWN_TOPIC_OR_PART): broker errors
    # (codes >= 0) are named as Kafka names them; local ones keep librdkafka's.
    code = err.code()
    name = kafka.errors.for_code(code).message if code >= 0 else err.name()
    return ClientError(name, f"{err.name()}: {err.str()}")


def _bytes(value: object) -> bytes:
    assert isinstance(value, bytes), f"expected bytes, got {value!r}"
    return value


def _record(msg: confluent_kafka.Message) -> Record:
    partition, offset = msg.partition(), msg.offset()
    assert partition is not None and offset is not None
    key, value = msg.key(), msg.value()
    headers = msg.headers() or []
    assert isinstance(headers, list), f"headers as {type(headers)}"
    return Record(
        partition,
        offset,
        None if key is None else _bytes(key),
        None if value is None else _bytes(value),
        tuple((name, _bytes(v)) for name, v in headers),
        msg.timestamp()[1],
    )


def _send_all(producer: Producer, topic: str, messages: Sequence[Message]) -> list[int | None]:
    """Produce in order, flush, raise the first delivery error; the offsets."""
    offsets: list[int | None] = [None] * len(messages)
    errors: list[KafkaError] = []

    def delivered(index: int) -> Any:
        def report(err: KafkaError | None, msg: confluent_kafka.Message) -> None:
            if err is not None:
                errors.append(err)
            else:
                offset = msg.offset()  # acks=0: None (no response)
                offsets[index] = offset if offset is not None and offset >= 0 else None

        return report

    for i, m in enumerate(messages):
        producer.produce(
            topic,
            value=m.value,
            key=m.key,
            partition=m.partition,
            timestamp=m.timestamp_ms or 0,  # 0: librdkafka stamps it
            headers=list(m.headers),
            on_delivery=delivered(i),
        )
    left = producer.flush(OP_TIMEOUT_S)
    assert left == 0, f"{left} messages still undelivered after {OP_TIMEOUT_S} s"
    if errors:
        raise _client_error(errors[0])
    return offsets


class ConfluentKafkaClient(Client):
    def version(self) -> str:
        return f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})"

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
        producer = Producer(
            {
                **_common(bootstrap),
                "acks": acks,
                "compression.type": codec,
                "enable.idempotence": idempotent,
                "linger.ms": 5,
                "message.timeout.ms": int(OP_TIMEOUT_S * 1000),
            }
        )
        return _send_all(producer, topic, messages)

    def produce_around(
        self,
        bootstrap: str,
        topic: str,
        before: Sequence[Message],
        after: Sequence[Message],
        between: Callable[[], None],
    ) -> list[int | None]:
        producer = Producer(
            {
                **_common(bootstrap),
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": int(OP_TIMEOUT_S * 1000),
            }
        )
        offsets = _send_all(producer, topic, before)
        between()
        return offsets + _send_all(producer, topic, after)

    def _consumer(self, bootstrap: str) -> Consumer:
        return Consumer(
            {
                **_common(bootstrap),
                "group.id": f"compat-unused-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 200,
            }
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
            consumer.assign([TopicPartition(topic, p, offset) for p, offset in start.items()])
            deadline = time.monotonic() + timeout_s
            pending = {p for p in start if counts[p] > 0}
            while pending and time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if stop_at_end:
                            pending.discard(msg.partition())
                        continue
                    raise _client_error(err)
                record = _record(msg)
                got[record.partition].append(record)
                if len(got[record.partition]) >= counts[record.partition]:
                    pending.discard(record.partition)
        finally:
            consumer.close()
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
            consumer.assign([TopicPartition(topic, partition, 0)])
            for want in (first, first + second):
                deadline = time.monotonic() + OP_TIMEOUT_S
                while len(got) < want and time.monotonic() < deadline:
                    msg = consumer.poll(0.2)
                    if msg is None:
                        continue
                    err = msg.error()
                    if err is None:
                        got.append(_record(msg))
                    elif err.code() != KafkaError._PARTITION_EOF and not err.retriable():
                        raise _client_error(err)
                if want == first:
                    between()
        finally:
            consumer.close()
        return got

    def list_offsets(
        self, bootstrap: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, tuple[int, int]]:
        consumer = self._consumer(bootstrap)
        try:
            out: dict[int, tuple[int, int]] = {}
            for p in partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=_REQUEST_TIMEOUT_S, cached=False
                )
                out[p] = (low, high)
            return out
        finally:
            consumer.close()

    def offsets_for_times(
        self, bootstrap: str, topic: str, timestamps: Mapping[int, int]
    ) -> dict[int, int | None]:
        consumer = self._consumer(bootstrap)
        try:
            found = consumer.offsets_for_times(
                [TopicPartition(topic, p, ts) for p, ts in timestamps.items()],
                timeout=_REQUEST_TIMEOUT_S,
            )
        finally:
            consumer.close()
        out: dict[int, int | None] = {}
        for tp in found:
            if tp.error is not None:
                raise _client_error(tp.error)
            out[tp.partition] = None if tp.offset < 0 else tp.offset  # -1: OFFSET_END
        return out

    def cluster_view(self, bootstrap: str, topic: str) -> ClusterView:
        # A producer's metadata request auto-creates the topic.
        producer = Producer(_common(bootstrap))
        metadata = producer.list_topics(topic, timeout=_REQUEST_TIMEOUT_S)
        described = metadata.topics[topic]
        if described.error is not None:
            raise _client_error(described.error)
        return ClusterView(
            brokers=frozenset((b.id, b.host, b.port) for b in metadata.brokers.values()),
            leaders={p.id: p.leader for p in described.partitions.values()},
        )

    def _admin(self, bootstrap: str) -> AdminClient:
        return AdminClient(_common(bootstrap))

    def create_topic(self, bootstrap: str, topic: str, partitions: int) -> None:
        admin = self._admin(bootstrap)  # keep it alive until the futures resolve
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
            operation_timeout=_REQUEST_TIMEOUT_S,
            request_timeout=_REQUEST_TIMEOUT_S,
        )
        try:
            futures[topic].result(timeout=OP_TIMEOUT_S)
        except KafkaException as exc:
            raise _client_error(exc.args[0]) from exc

    def delete_topic(self, bootstrap: str, topic: str) -> None:
        admin = self._admin(bootstrap)  # keep it alive until the futures resolve
        futures = admin.delete_topics(
            [topic], operation_timeout=_REQUEST_TIMEOUT_S, request_timeout=_REQUEST_TIMEOUT_S
        )
        try:
            futures[topic].result(timeout=OP_TIMEOUT_S)
        except KafkaException as exc:
            raise _client_error(exc.args[0]) from exc

    def list_topics(self, bootstrap: str) -> set[str]:
        metadata = self._admin(bootstrap).list_topics(timeout=_REQUEST_TIMEOUT_S)
        return set(metadata.topics)

    def consume_group(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        count: int,
        *,
        timeout_s: float = GROUP_TIMEOUT_S,
    ) -> list[Record]:
        consumer = Consumer(
            {
                **_common(bootstrap),
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 200,
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
            }
        )
        got: list[Record] = []
        try:
            consumer.subscribe([topic])
            deadline = time.monotonic() + timeout_s
            while len(got) < count and time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    raise _client_error(err)
                got.append(_record(msg))
            if got:
                consumer.commit(asynchronous=False)  # the positions after everything read
        finally:
            consumer.close()  # leaves the group
        return got


class TestConfluentKafka(ClientSuite):
    CLIENT = "confluent-kafka"
    client: ClassVar[Client] = ConfluentKafkaClient()
