"""One consumer-group member in a process of its own, for ``compat/test_groups.py``.

Usage::

    python -m compat.groups_member '{"client": "kafka-python", "bootstrap": ..., ...}'

The member subscribes to one topic in one group with the client's own
consumer API, "processes" each record (sleeps ``delay_ms``), and after every
batch commits the offsets of exactly that batch synchronously, so that a test
can tell, record by record, which processing a commit covered. It writes
what happens to stdout, one JSON object per line, flushed at once (so a
SIGKILL loses at most the line being written):

    {"ev": "start", "t": T, "pid": PID}
    {"ev": "subscribe", "t": T}                         just before subscribing
    {"ev": "assignment", "t": T, "partitions": [...]}   its whole assignment, after each change
    {"ev": "records", "t": T, "batch": N, "recs": [[partition, offset, key], ...]}
    {"ev": "committed", "t": T, "batch": N}              the commit of batch N succeeded
    {"ev": "commit_failed", "t": T, "batch": N, "error": "..."}
    {"ev": "client_error", "t": T, "error": "..."}      a retriable error, carrying on
    {"ev": "closed", "t": T}                             left the group, about to exit 0
    {"ev": "error", "t": T, "error": "..."}              about to exit 1

``T`` is wall-clock milliseconds (``time.time()``; the KafkaJS member,
``compat/node/group-member.js``, uses ``Date.now()``, the same clock). A
``records`` line is written before its batch's commit is sent and
``committed`` after the commit succeeded: a record whose batch has no
``committed`` line was processed but maybe not committed.

stdin: the line ``stop`` (or end of file) makes the member finish its batch,
close the consumer (which leaves the group) and exit 0. The member also
exits (code 3) after ``lifetime_s`` whatever happens, so a test that dies
leaves no consumer running.

Config keys: ``client`` (kafka-python, aiokafka, confluent-kafka),
``bootstrap``, ``topic``, ``group``, ``name`` (the client id),
``session_ms``, ``heartbeat_ms``, ``max_records`` (per batch),
``delay_ms`` (per record), ``assignors`` (assignor names in preference
order, or null for the client's default), ``lifetime_s``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

Rec = tuple[int, int, str | None]  # partition, offset, key


def now_ms() -> float:
    return time.time() * 1000


class Reporter:
    """The member's side of the protocol: events out, the stop request in."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.stop = threading.Event()
        self.deadline = time.monotonic() + float(config.get("lifetime_s", 150))
        self.owned: set[int] = set()
        self.batches = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read_stdin, daemon=True).start()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        self.stop.set()

    def emit(self, ev: str, **fields: Any) -> None:
        line = json.dumps({"ev": ev, "t": now_ms(), **fields})
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def running(self) -> bool:
        if time.monotonic() > self.deadline:
            self.emit("error", error=f"lifetime of {self.config.get('lifetime_s')} s over")
            sys.stdout.flush()
            os._exit(3)
        return not self.stop.is_set()

    def revoked(self, partitions: Iterable[int]) -> None:
        self.owned -= set(partitions)
        self.emit("assignment", partitions=sorted(self.owned))

    def assigned(self, partitions: Iterable[int]) -> None:
        self.owned |= set(partitions)
        self.emit("assignment", partitions=sorted(self.owned))

    def lost(self) -> None:
        self.owned.clear()
        self.emit("assignment", partitions=[])

    def processed(self, recs: list[Rec]) -> int:
        """Report a batch as processed (after the per-record delay); its number."""
        self.batches += 1
        self.emit("records", batch=self.batches, recs=[list(r) for r in recs])
        return self.batches

    @property
    def delay_s(self) -> float:
        return float(self.config.get("delay_ms", 0)) / 1000


def _key(key: bytes | None) -> str | None:
    return None if key is None else key.decode()


# A commit that fails with a retriable error (the coordinator unreachable
# while the broker restarts) is sent again, as Java's commitSync() does, for
# this long; one refused because the group rebalanced is not (its partitions
# may be someone else's now): the records are then read again by their next
# owner, which at-least-once allows.
COMMIT_RETRY_S = 15.0


def _next_offsets(recs: list[Rec]) -> dict[int, int]:
    """The offset to commit per partition: one past the batch's last record there."""
    out: dict[int, int] = {}
    for partition, offset, _ in recs:
        out[partition] = max(out.get(partition, 0), offset + 1)
    return out


# -- kafka-python -------------------------------------------------------------------

KAFKA_PYTHON_POLL_MS = 2500


def run_kafka_python(rep: Reporter) -> None:
    import kafka.errors
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    cfg = rep.config
    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
    extra: dict[str, Any] = {}
    if cfg.get("assignors"):
        extra["partition_assignment_strategy"] = [assignors[n] for n in cfg["assignors"]]

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            rep.revoked(tp.partition for tp in revoked)

        def on_partitions_assigned(self, assigned: Any) -> None:
            rep.assigned(tp.partition for tp in assigned)

    consumer = KafkaConsumer(
        bootstrap_servers=cfg["bootstrap"],
        client_id=cfg["name"],
        group_id=cfg["group"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=cfg["session_ms"],
        heartbeat_interval_ms=cfg["heartbeat_ms"],
        max_poll_records=cfg["max_records"],
        fetch_max_wait_ms=100,
        request_timeout_ms=10_000,
        retry_backoff_ms=100,
        reconnect_backoff_max_ms=500,
        **extra,
    )
    rep.emit("subscribe")
    consumer.subscribe([cfg["topic"]], listener=Listener())
    topic = cfg["topic"]
    while rep.running():
        # A long poll: kafka-python 3.0.12 loses a join when poll() times out
        # while its JoinGroup is in flight and, meanwhile, the leader's
        # assignment made need_rejoin() false (a leader rejoining because its
        # topic metadata arrived after the first assignment): the next poll
        # never completes the join, the member gets no partitions, stops
        # heartbeating and is evicted (docs/groups-compat.md). A poll longer
        # than any rebalance here (heartbeat 1 s) avoids that window.
        try:
            polled = consumer.poll(timeout_ms=KAFKA_PYTHON_POLL_MS, max_records=cfg["max_records"])
        except kafka.errors.KafkaError as exc:
            # poll() raises what it meets (ECONNREFUSED while the broker
            # restarts): an application retries the retriable ones.
            if not exc.retriable:
                raise
            rep.emit("client_error", error=f"{type(exc).__name__}: {exc}")
            time.sleep(0.1)
            continue
        recs = [(r.partition, r.offset, _key(r.key)) for batch in polled.values() for r in batch]
        if not recs:
            continue
        time.sleep(rep.delay_s * len(recs))
        batch = rep.processed(recs)
        offsets = {
            TopicPartition(topic, p): OffsetAndMetadata(off, "", -1)
            for p, off in _next_offsets(recs).items()
        }
        deadline = time.monotonic() + COMMIT_RETRY_S
        while True:
            try:
                consumer.commit(offsets)
            except kafka.errors.KafkaError as exc:
                error = f"{type(exc).__name__}: {exc}"
                if exc.retriable and time.monotonic() < deadline:
                    rep.emit("client_error", error=error)
                    time.sleep(0.2)
                    continue
                rep.emit("commit_failed", batch=batch, error=error)
            else:
                rep.emit("committed", batch=batch)
            break
    consumer.close(autocommit=False)


# -- aiokafka -----------------------------------------------------------------------


def run_aiokafka(rep: Reporter) -> None:
    asyncio.run(_aiokafka(rep))


async def _aiokafka(rep: Reporter) -> None:
    import aiokafka.errors
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.abc import ConsumerRebalanceListener
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    cfg = rep.config
    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
    extra: dict[str, Any] = {}
    if cfg.get("assignors"):
        extra["partition_assignment_strategy"] = tuple(assignors[n] for n in cfg["assignors"])

    # aiokafka rebalances in a background task, also while the application
    # processes a batch that getmany() returned. The listener makes a
    # revocation wait until the batch in hand is processed and committed
    # (under the generation it was fetched in), and a batch that a revocation
    # overtook between getmany() and the lock is dropped unprocessed (the new
    # assignment starts from the committed offsets). Without this, a batch
    # straddling a rebalance is committed after the new assignment reset the
    # position to the older committed offset, and is read again.
    in_hand = asyncio.Lock()
    revocations = 0

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        async def on_partitions_revoked(self, revoked: Any) -> None:
            nonlocal revocations
            async with in_hand:
                revocations += 1
                rep.revoked(tp.partition for tp in revoked)

        async def on_partitions_assigned(self, assigned: Any) -> None:
            rep.assigned(tp.partition for tp in assigned)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=cfg["bootstrap"],
        client_id=cfg["name"],
        group_id=cfg["group"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=cfg["session_ms"],
        heartbeat_interval_ms=cfg["heartbeat_ms"],
        max_poll_records=cfg["max_records"],
        fetch_max_wait_ms=100,
        request_timeout_ms=10_000,
        retry_backoff_ms=100,
        **extra,
    )
    await consumer.start()
    topic = cfg["topic"]
    try:
        rep.emit("subscribe")
        consumer.subscribe([topic], listener=Listener())
        while rep.running():
            try:
                polled = await consumer.getmany(timeout_ms=100, max_records=cfg["max_records"])
            except aiokafka.errors.KafkaError as exc:
                if not exc.retriable:
                    raise
                rep.emit("client_error", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.1)
                continue
            seen = revocations  # no await since getmany() returned
            recs = [
                (r.partition, r.offset, _key(r.key)) for batch in polled.values() for r in batch
            ]
            if not recs:
                continue
            async with in_hand:
                if revocations != seen:
                    continue  # revoked meanwhile: stale
                await asyncio.sleep(rep.delay_s * len(recs))
                batch = rep.processed(recs)
                offsets = {TopicPartition(topic, p): off for p, off in _next_offsets(recs).items()}
                try:
                    await consumer.commit(offsets)
                except aiokafka.errors.KafkaError as exc:
                    rep.emit("commit_failed", batch=batch, error=f"{type(exc).__name__}: {exc}")
                else:
                    rep.emit("committed", batch=batch)
    finally:
        await consumer.stop()


# -- confluent-kafka ----------------------------------------------------------------


def run_confluent_kafka(rep: Reporter) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    cfg = rep.config
    extra: dict[str, Any] = {}
    if cfg.get("assignors"):
        extra["partition.assignment.strategy"] = ",".join(cfg["assignors"])
    consumer = Consumer(
        {
            "logger": logging.getLogger("groups_member"),
            "bootstrap.servers": cfg["bootstrap"],
            "client.id": cfg["name"],
            "group.id": cfg["group"],
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": cfg["session_ms"],
            "heartbeat.interval.ms": cfg["heartbeat_ms"],
            "fetch.wait.max.ms": 100,
            "socket.timeout.ms": 10_000,
            "reconnect.backoff.max.ms": 500,
            **extra,
        }
    )

    def on_assign(_: Any, partitions: list[Any]) -> None:
        rep.assigned(tp.partition for tp in partitions)

    def on_revoke(_: Any, partitions: list[Any]) -> None:
        rep.revoked(tp.partition for tp in partitions)

    def on_lost(_: Any, partitions: list[Any]) -> None:
        rep.lost()

    topic = cfg["topic"]
    rep.emit("subscribe")
    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    while rep.running():
        msgs = consumer.consume(num_messages=cfg["max_records"], timeout=0.1)
        recs: list[Rec] = []
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.retriable() or not err.fatal():
                    rep.emit("client_error", error=str(err))
                    continue
                raise KafkaException(err)
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None and offset is not None
            recs.append((partition, offset, _key(msg.key())))
        if not recs:
            continue
        time.sleep(rep.delay_s * len(recs))
        batch = rep.processed(recs)
        offsets = [TopicPartition(topic, p, off) for p, off in _next_offsets(recs).items()]
        deadline = time.monotonic() + COMMIT_RETRY_S
        while True:
            try:
                result = consumer.commit(offsets=offsets, asynchronous=False)
                failed = [tp for tp in result or [] if tp.error is not None]
                if failed:
                    raise KafkaException(failed[0].error)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                retriable = bool(getattr(err, "retriable", lambda: False)())
                if retriable and time.monotonic() < deadline:
                    rep.emit("client_error", error=str(exc))
                    time.sleep(0.2)
                    continue
                rep.emit("commit_failed", batch=batch, error=str(exc))
            else:
                rep.emit("committed", batch=batch)
            break
    consumer.close()


RUNNERS: dict[str, Callable[[Reporter], None]] = {
    "kafka-python": run_kafka_python,
    "aiokafka": run_aiokafka,
    "confluent-kafka": run_confluent_kafka,
}


def main(argv: list[str]) -> int:
    config: dict[str, Any] = json.loads(argv[1])
    # GROUPS_MEMBER_DEBUG=kafka.coordinator,...: those loggers of the client
    # at DEBUG on stderr (the test keeps each member's stderr by its events).
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    for name in filter(None, os.environ.get("GROUPS_MEMBER_DEBUG", "").split(",")):
        logging.getLogger(name).setLevel(logging.DEBUG)
    rep = Reporter(config)
    rep.emit("start", pid=os.getpid())
    try:
        RUNNERS[config["client"]](rep)
    except Exception as exc:
        rep.emit("error", error=f"{type(exc).__name__}: {exc}")
        return 1
    rep.emit("closed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
