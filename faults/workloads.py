"""Workloads: clients that run against the cluster and record a history.

* :class:`MetadataWorkload` creates uniquely named topics, each through a
  node drawn at random, with confluent-kafka's AdminClient.
* :class:`QueueWorkload` runs idempotent producers (confluent-kafka,
  acks=all unless the row says otherwise) writing unique values to explicit
  partitions, one consumer with ``assign`` reading every partition from the
  start, and one group member (``subscribe``) committing what it read. After
  heal, :meth:`QueueWorkload.final_read` reads every partition from the
  beginning to its high watermark.

Durability rows (``ROWS``) are topic configs plus producer settings; each
names what the checker may accept (``faults/checker.py``).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from faults.cluster import FaultCluster
from faults.history import History

TOPIC = "queue"


@dataclass(frozen=True)
class Row:
    """One row of docs/durability.md as a workload option."""

    name: str
    topic_configs: dict[str, str] = field(default_factory=dict)
    producer: dict[str, Any] = field(default_factory=dict)
    # What a power loss of a partition's host may lose of its acknowledged
    # writes: 0 (nothing), N (at most N per power loss) or None (unbounded).
    power_loss_bound: int | None = 0
    duplicates_allowed: bool = False


IDEMPOTENT = {"enable.idempotence": True, "acks": "all"}
ROWS = {
    row.name: row
    for row in (
        Row("default", {}, IDEMPOTENT),
        Row("write-caching", {"write.caching": "true"}, IDEMPOTENT, power_loss_bound=None),
        Row(
            "write-caching-flush-10",
            {"write.caching": "true", "flush.messages": "10"},
            IDEMPOTENT,
            power_loss_bound=9,
        ),
        Row(
            "acks-1",
            {},
            {"enable.idempotence": False, "acks": "1"},
            power_loss_bound=None,
            duplicates_allowed=True,
        ),
        Row(
            "acks-min-all",
            {"acks.min": "all"},
            {"enable.idempotence": False, "acks": "1"},
            duplicates_allowed=True,
        ),
    )
}


def _record(message: Any) -> tuple[int, int, str]:
    """(partition, offset, value) of a consumed record."""
    return message.partition(), message.offset(), (message.value() or b"").decode()


def _stoppable(stop: threading.Event, seconds: float) -> bool:
    return stop.wait(seconds)


class MetadataWorkload:
    name = "metadata"

    def __init__(self, cluster: FaultCluster, history: History, seed: int) -> None:
        self.cluster = cluster
        self.history = history
        self.rng = random.Random(seed ^ 0x5EED)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def setup(self) -> dict[str, Any]:
        return {}

    def start(self) -> None:
        for process in range(2):
            t = threading.Thread(target=self._creator, args=(process,), daemon=True)
            t.start()
            self.threads.append(t)

    def _creator(self, process: int) -> None:
        seq = 0
        while not self.stop.is_set():
            name = f"m-{process}-{seq}"
            seq += 1
            via = self.rng.choice(sorted(self.cluster.nodes))
            partitions = 1 + seq % 3
            self.history.add(process, "invoke", "create", {"topic": name, "via": via})
            admin = AdminClient(
                {"bootstrap.servers": self.cluster.nodes[via].bootstrap, "socket.timeout.ms": 5000}
            )
            try:
                admin.create_topics(
                    [NewTopic(name, partitions, 1)], operation_timeout=10, request_timeout=10
                )[name].result(15)
            except Exception as exc:
                error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                # Local errors (negative codes: timeouts, a destroyed handle) say
                # nothing of what the broker did; only its own refusal is definite.
                # TOPIC_ALREADY_EXISTS for a name only we use means a retry
                # (the client's, or a forwarding node's after a lost answer)
                # found our own create done: not a failure.
                definite = (
                    error is not None
                    and error.code() > 0
                    and error.code() != KafkaError.TOPIC_ALREADY_EXISTS
                    and not error.retriable()
                )
                self.history.add(
                    process,
                    "fail" if definite else "info",
                    "create",
                    {"topic": name, "error": str(exc)},
                )
            else:
                self.history.add(process, "ok", "create", {"topic": name, "partitions": partitions})
            _stoppable(self.stop, 0.2)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def final_read(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Every node's topics, once they agree (or at the deadline)."""
        deadline = time.monotonic() + timeout_s
        views: dict[str, Any] = {}
        while True:
            for i in self.cluster.nodes:
                try:
                    views[str(i)] = self.cluster.topics_on(i)
                except OSError as exc:
                    views[str(i)] = {"error": str(exc)}
            distinct = {repr(sorted(v.items())) for v in views.values()}
            if len(distinct) == 1 or time.monotonic() > deadline:
                return {"views": views}
            time.sleep(0.5)


class QueueWorkload:
    name = "queue"

    def __init__(
        self,
        cluster: FaultCluster,
        history: History,
        seed: int,
        *,
        row: Row,
        partitions: int = 6,
        replication_factor: int = 1,
        producers: int = 2,
        rate: float = 40.0,
    ) -> None:
        self.cluster = cluster
        self.history = history
        self.row = row
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.producers = producers
        self.interval = 1.0 / rate
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.seed = seed

    # -- set-up ----------------------------------------------------------------

    def setup(self) -> dict[str, Any]:
        admin = AdminClient({"bootstrap.servers": self.cluster.bootstrap})
        topic = NewTopic(
            TOPIC, self.partitions, self.replication_factor, config=dict(self.row.topic_configs)
        )
        deadline = time.monotonic() + 90
        # Placement spreads partitions over the unfenced brokers only: wait
        # for every node, or a late one would host none.
        while len(admin.list_topics(timeout=10).brokers) < len(self.cluster.nodes):
            if time.monotonic() > deadline:
                raise TimeoutError("not every broker is unfenced")
            time.sleep(0.2)
        while True:  # a slow start-up (a loaded machine) may need more than one try
            try:
                admin.create_topics([topic], operation_timeout=15)[TOPIC].result(20)
                break
            except Exception as exc:
                error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                if error is not None and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    break
                if time.monotonic() > deadline:
                    raise
        while True:
            meta = admin.list_topics(TOPIC, timeout=10).topics[TOPIC]
            if len(meta.partitions) == self.partitions and all(
                p.leader >= 0 for p in meta.partitions.values()
            ):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{TOPIC} has no leader for every partition")
            time.sleep(0.2)
        replicas = {str(p): list(m.replicas) for p, m in meta.partitions.items()}
        self.history.add("setup", "ok", "topic", {"replicas": replicas, "row": self.row.name})
        return {"replicas": replicas}

    def start(self) -> None:
        targets: list[tuple[Any, tuple[Any, ...]]] = [
            (self._producer, (p,)) for p in range(self.producers)
        ]
        targets += [(self._assign_consumer, ("assign",)), (self._group_consumer, ("group",))]
        for target, args in targets:
            t = threading.Thread(target=target, args=args, daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    # -- producers -------------------------------------------------------------

    def _producer(self, index: int) -> None:
        generation = 0
        while not self.stop.is_set():
            process = f"p{index}.{generation}"
            fatal = self._produce(process)
            if not fatal:
                return
            generation += 1

    def _produce(self, process: str) -> bool:
        """Produce until stopped; True when the producer hit a fatal error."""
        fatal = threading.Event()

        def on_error(err: KafkaError) -> None:
            if err.fatal():
                self.history.add(process, "info", "fatal", str(err))
                fatal.set()

        producer = Producer(
            {
                "bootstrap.servers": self.cluster.bootstrap,
                "message.timeout.ms": 30000,
                "linger.ms": 5,
                "error_cb": on_error,
                **self.row.producer,
            }
        )
        seq = 0
        while not self.stop.is_set() and not fatal.is_set():
            value = f"{process}:{seq}"
            partition = seq % self.partitions
            seq += 1
            self.history.add(process, "invoke", "send", {"value": value, "partition": partition})

            def delivered(err: KafkaError | None, msg: Any, value: str = value) -> None:
                if err is None:
                    self.history.add(
                        process,
                        "ok",
                        "send",
                        {"value": value, "partition": msg.partition(), "offset": msg.offset()},
                    )
                else:
                    self.history.add(process, "info", "send", {"value": value, "error": str(err)})

            try:
                producer.produce(TOPIC, value.encode(), partition=partition, on_delivery=delivered)
            except BufferError as exc:
                self.history.add(process, "fail", "send", {"value": value, "error": str(exc)})
            producer.poll(self.interval)
        producer.flush(35)
        return fatal.is_set()

    # -- consumers -------------------------------------------------------------

    def _consumer_config(self, **extra: Any) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.cluster.bootstrap,
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
            "enable.partition.eof": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            **extra,
        }

    def _record_polls(self, process: str, session: int, messages: list[Any]) -> None:
        good = []
        for m in messages:
            if m.error() is not None:
                self.history.add(process, "info", "poll-error", str(m.error()))
            else:
                good.append(list(_record(m)))
        if good:
            self.history.add(process, "ok", "poll", {"session": session, "records": good})

    def _assign_consumer(self, process: str) -> None:
        consumer = Consumer(self._consumer_config(**{"group.id": "faults-assign"}))
        consumer.assign(
            [TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(self.partitions)]
        )
        while not self.stop.is_set():
            self._record_polls(process, 0, consumer.consume(100, 0.5))
        consumer.close()

    def _group_consumer(self, process: str) -> None:
        session = [0]

        def on_assign(consumer: Any, partitions: list[TopicPartition]) -> None:
            session[0] += 1
            self.history.add(
                process,
                "info",
                "assign",
                {"session": session[0], "partitions": [p.partition for p in partitions]},
            )

        consumer = Consumer(
            self._consumer_config(**{"group.id": "faults-group", "auto.offset.reset": "earliest"})
        )
        consumer.subscribe([TOPIC], on_assign=on_assign)
        while not self.stop.is_set():
            messages = consumer.consume(100, 0.5)
            self._record_polls(process, session[0], messages)
            if not messages:
                continue
            self.history.add(process, "invoke", "commit", None)
            try:
                committed = consumer.commit(asynchronous=False)
            except Exception as exc:
                self.history.add(process, "info", "commit", str(exc))
                continue
            self.history.add(
                process,
                "ok",
                "commit",
                {str(tp.partition): tp.offset for tp in committed or [] if tp.offset >= 0},
            )
        consumer.close()

    # -- after heal --------------------------------------------------------------

    def final_read(self, timeout_s: float = 90.0) -> dict[str, Any]:
        consumer = Consumer(self._consumer_config(**{"group.id": "faults-final"}))
        deadline = time.monotonic() + timeout_s
        highs: dict[int, int] = {}
        errors: list[str] = []
        for p in range(self.partitions):
            while p not in highs:
                try:
                    highs[p] = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), 5)[1]
                except Exception as exc:
                    if time.monotonic() > deadline:
                        errors.append(f"partition {p}: no high watermark: {exc}")
                        break
                    time.sleep(0.5)
        consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in highs])
        records: dict[int, list[list[Any]]] = {p: [] for p in highs}
        position = {p: 0 for p in highs}
        while any(position[p] < highs[p] for p in highs) and time.monotonic() < deadline:
            for m in consumer.consume(500, 1.0):
                if m.error() is not None:
                    errors.append(str(m.error()))
                    continue
                p, offset, value = _record(m)
                records[p].append([offset, value])
                position[p] = offset + 1
        short = {p: (position[p], highs[p]) for p in highs if position[p] < highs[p]}
        if short:
            errors.append(f"read stopped short of the high watermark (position, high): {short}")
        committed: dict[str, int] = {}
        group = Consumer(self._consumer_config(**{"group.id": "faults-group"}))
        try:
            for tp in group.committed(
                [TopicPartition(TOPIC, p) for p in range(self.partitions)], 10
            ):
                committed[str(tp.partition)] = tp.offset
        except Exception as exc:
            errors.append(f"committed offsets: {exc}")
        group.close()
        consumer.close()
        return {
            "records": {str(p): r for p, r in records.items()},
            "highs": {str(p): h for p, h in highs.items()},
            "committed": committed,
            "errors": errors,
        }
