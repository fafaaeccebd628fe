"""Kafka's VerifiableProducer and VerifiableConsumer against our broker and against Kafka.

The workload Kafka's own system tests run, here on one broker of each kind in
the same test (a one-node Kafka 4.1.2 for the module beside our ``broker``):

1. a 3-partition topic; consumer ``c1`` (classic group protocol, range
   assignor, commits synchronously after every poll, ``--verbose``) joins the
   group and is assigned all three partitions;
2. VerifiableProducer sends 3000 numbered messages, idempotent, acks=all,
   throttled to 1000/s so that the second consumer joins while it produces;
3. consumer ``c2`` joins a second in: the group rebalances (eager), both
   members hold partitions;
4. once the producer has exited and the group has consumed every
   acknowledged record, both consumers get SIGTERM (their shutdown hook
   closes the client, which leaves the group).

Checked from the JSON events (``compat/kafka/verifiable.py``): all 3000
acknowledged once, each partition's acknowledged offsets gapless from 0;
the group consumed exactly the acknowledged records, each once, with the
value acknowledged at that offset; the rebalance completed (``c1`` was
assigned twice, the final assignments are disjoint, cover the topic and
leave no member idle); every offset commit succeeded; both consumers printed
``shutdown_complete`` (closed cleanly) after SIGTERM. The same checks hold for Kafka, and the summary
of the two runs (counts, assignment sizes) must be equal.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from compat.broker_process import BrokerProcess
from compat.kafka.cluster import KafkaCluster
from compat.kafka.fixtures import kafka
from compat.kafka.verifiable import (
    VerifiableTool,
    check_consumed,
    check_producer,
    check_rebalanced,
    consumed_records,
    last_assignment,
)

__all__ = ["kafka"]

PARTITIONS = 3
MESSAGES = 3000
THROUGHPUT = 1000  # messages/s: the producer runs for about 3 s
PRODUCER_CONFIG = {
    "enable.idempotence": "true",
    "acks": "all",
    "linger.ms": "5",
    "max.in.flight.requests.per.connection": "5",
    "retries": "2147483647",
}
CONSUMER_CONFIG = {
    "session.timeout.ms": "10000",
    "heartbeat.interval.ms": "500",
    "max.poll.records": "200",
}


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)], timeout_ms=30_000)
    finally:
        admin.close()


def _assignments(tool: VerifiableTool) -> int:
    """How many rebalances gave ``tool`` a non-empty assignment."""
    return sum(1 for e in tool.events("partitions_assigned") if e["partitions"])


@contextlib.contextmanager
def _running(*tools: VerifiableTool) -> Iterator[None]:
    try:
        yield
    finally:
        for tool in tools:
            tool.kill()


def run_workload(bootstrap: str, topic: str, workdir: Path) -> dict[str, Any]:
    """Steps 1-4 of the module docstring; the checks; a summary to compare."""
    workdir.mkdir(parents=True, exist_ok=True)
    _create_topic(bootstrap, topic)
    group = f"{topic}-group"
    c1, c2 = (
        VerifiableTool.consumer(
            name, workdir, bootstrap, topic, group=group, config=CONSUMER_CONFIG
        )
        for name in ("c1", "c2")
    )
    producer = VerifiableTool.producer(
        "producer", workdir, bootstrap, topic,
        messages=MESSAGES, throughput=THROUGHPUT, config=PRODUCER_CONFIG,
    )  # fmt: skip
    with _running(c1, c2, producer):
        c1.start()
        c1.wait_for("assignment of every partition",
                    lambda: len(last_assignment(c1.events())) == PARTITIONS, 30)  # fmt: skip
        producer.start()
        producer.wait_for("first acknowledgement",
                          lambda: bool(producer.events("producer_send_success")), 30)  # fmt: skip
        c2.start()
        assert producer.wait_exit(60) == 0, producer.describe()
        acked = check_producer(producer.events(), MESSAGES)

        def all_consumed() -> bool:
            got = {(p, o) for p, o, _v in consumed_records([c1.events(), c2.events()])}
            return got >= set(acked.keys())

        c1.wait_for("a second assignment (c2 joined)", lambda: _assignments(c1) >= 2, 30)
        c2.wait_for("an assignment", lambda: _assignments(c2) >= 1, 30)
        deadline = time.monotonic() + 30
        while not all_consumed() and time.monotonic() < deadline:
            time.sleep(0.2)
        # the group as it stood with both members (c2 leaving rebalances c1 again)
        during = [c1.events(), c2.events()]
        for tool in (c2, c1):
            # 143: the JVM's exit status after SIGTERM once its shutdown hooks ran
            assert tool.terminate() in (0, 143), tool.describe()
    events = [c1.events(), c2.events()]
    for tool in (c1, c2):
        assert tool.events("shutdown_complete"), tool.describe()
    check_consumed(acked, events)
    check_rebalanced(during, PARTITIONS)
    return {
        "acked": len(acked),
        "consumed": len(consumed_records(events)),
        "assignment sizes": sorted(len(last_assignment(e)) for e in during),
        "c1 reassigned": len([e for e in during[0] if e["name"] == "partitions_assigned"]) >= 2,
    }


@pytest.fixture(scope="module")
def summaries() -> dict[str, dict[str, Any]]:
    return {}


@pytest.mark.parametrize("target", ["ours", "kafka"])
def test_verifiable_producer_and_consumer_group(
    target: str,
    broker: BrokerProcess,
    kafka: KafkaCluster,
    topic: str,
    tmp_path: Path,
    summaries: dict[str, dict[str, Any]],
) -> None:
    bootstrap = broker.bootstrap if target == "ours" else kafka.bootstrap
    summary = run_workload(bootstrap, topic.replace(".", "-"), tmp_path / target)
    assert summary["acked"] == summary["consumed"] == MESSAGES
    assert summary["assignment sizes"] == [1, 2]
    assert summary["c1 reassigned"]
    summaries[target] = summary
    if len(summaries) == 2:
        assert summaries["ours"] == summaries["kafka"]


# -- the checks themselves (no broker): they catch what they claim to -----------------


def _acked(*records: tuple[int, int, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": "producer_send_success", "partition": p, "offset": o, "value": v}
        for p, o, v in records
    ]
    return [*out, {"name": "tool_data", "sent": len(out), "acked": len(out)}]


def _consumer(*records: tuple[int, int, str], assigned: tuple[int, ...] = (0, 1)) -> list[Any]:
    events: list[dict[str, Any]] = [
        {"name": "partitions_assigned", "partitions": [{"partition": p} for p in assigned]}
    ]
    events += [{"name": "record_data", "partition": p, "offset": o, "value": v}
               for p, o, v in records]  # fmt: skip
    return events


def test_checks_catch_lost_duplicated_and_gapped_records() -> None:
    good = _acked((0, 0, "0"), (1, 0, "1"), (0, 1, "2"))
    acked = check_producer(good, 3)
    check_consumed(acked, [_consumer((0, 0, "0"), (0, 1, "2")), _consumer((1, 0, "1"))])
    bad_producers = {
        "a value acknowledged twice": _acked((0, 0, "0"), (0, 1, "0"), (0, 2, "1")),
        "an offset gap": _acked((0, 0, "0"), (0, 2, "1"), (1, 0, "2")),
        "a send error": [*good, {"name": "producer_send_error", "value": "3"}],
    }
    for label, events in bad_producers.items():
        with pytest.raises(AssertionError):
            check_producer(events, 3)
            pytest.fail(label)
    bad_consumers = {
        "lost": [_consumer((0, 0, "0"), (0, 1, "2"))],
        "twice": [_consumer((0, 0, "0"), (0, 1, "2"), (1, 0, "1")), _consumer((1, 0, "1"))],
        "another value": [_consumer((0, 0, "0"), (0, 1, "1"), (1, 0, "1"))],
        "never acknowledged": [_consumer((0, 0, "0"), (0, 1, "2"), (1, 0, "1"), (1, 1, "9"))],
    }
    for label, consumers in bad_consumers.items():
        with pytest.raises(AssertionError):
            check_consumed(acked, consumers)
            pytest.fail(label)


def test_checks_catch_incomplete_rebalances() -> None:
    check_rebalanced([_consumer(assigned=(0, 1)), _consumer(assigned=(2,))], 3)
    for held in [((0, 1, 2), ()), ((0, 1), (1, 2)), ((0,), (1,))]:
        with pytest.raises(AssertionError):
            check_rebalanced([_consumer(assigned=a) for a in held], 3)
    failed_commit = [
        *_consumer(assigned=(0, 1, 2)),
        {"name": "offsets_committed", "success": False},
    ]
    with pytest.raises(AssertionError):
        check_rebalanced([failed_commit], 3)
