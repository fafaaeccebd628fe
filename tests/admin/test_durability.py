"""What each durability setting keeps through a SIGKILL, and through a power loss.

One broker process (its fsyncs journaled, see ``fsync_journal``) gets one topic
per row of the table in docs/durability.md. Each topic receives the same
acknowledged produces, one record per request, and the process is SIGKILLed
right after the last ack (the producers closed, nothing else sent). Then:

- *crash*: a copy of the data directory as the kill left it (the page cache
  survives a process crash) is served by a new broker;
- *power loss*: every segment file is cut back to its size at its last fsync
  (its recovery point), and the broker restarts on that.

Every acknowledged record is read back with kafka-python and counted.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from compat.broker_process import BrokerProcess
from tests.admin.fsync_journal import power_loss

pytestmark = pytest.mark.slow

RECORDS = 22
FLUSH_MESSAGES = 5


@dataclass(frozen=True)
class Row:
    topic: str
    configs: dict[str, str]
    acks: int | str


ROWS = {
    "default": Row("durable", {}, "all"),
    "caching": Row("cached", {"write.caching": "true"}, "all"),
    "caching-flush": Row(
        "cached-flushed",
        {"write.caching": "true", "flush.messages": str(FLUSH_MESSAGES)},
        "all",
    ),
    "acks1": Row("leader-ack", {}, 1),
    "acks-min-all": Row("raised", {"acks.min": "all"}, 1),
}


class JournaledBroker(BrokerProcess):
    """The broker run through ``tests.admin.fsync_journal``."""

    def __init__(self, data_dir: Path, journal: Path) -> None:
        super().__init__(data_dir, num_partitions=1)
        self.journal = journal

    def command(self, port: int) -> list[str]:
        cmd = super().command(port)
        assert cmd[1:3] == ["-m", "broker"]
        return [sys.executable, "-m", "tests.admin.fsync_journal", str(self.journal), *cmd[3:]]


@dataclass
class Outcome:
    acked: dict[str, list[bytes]]
    after_crash: dict[str, list[bytes]]
    after_power_loss: dict[str, list[bytes]]


def read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000
    )
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        out: list[bytes] = []
        while consumer.position(tp) < end:
            batch = consumer.poll(timeout_ms=2000)
            if not batch:
                break
            out += [r.value for r in batch.get(tp, [])]
        return out
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    base = tmp_path_factory.mktemp("durability")
    broker = JournaledBroker(base / "data", base / "fsync.journal")
    others: list[BrokerProcess] = []
    try:
        broker.start()
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics(
            [NewTopic(r.topic, 1, 1, topic_configs=r.configs) for r in ROWS.values()]
        )
        admin.close()
        acked: dict[str, list[bytes]] = {}
        producers = {
            acks: KafkaProducer(bootstrap_servers=broker.bootstrap, acks=acks, linger_ms=0)
            for acks in ("all", 1)
        }
        for r in ROWS.values():
            acked[r.topic] = []
        for i in range(RECORDS):
            for r in ROWS.values():
                value = b"%s-%03d" % (r.topic.encode(), i)
                producers[r.acks].send(r.topic, value).get(timeout=10)
                acked[r.topic].append(value)
        for p in producers.values():  # every ack is in; closing sends nothing more
            p.close(timeout=5)
        broker.kill()

        crashed = JournaledBroker(base / "crash-copy", base / "unused.journal")
        shutil.copytree(base / "data", base / "crash-copy")
        others.append(crashed)
        crashed.start()
        after_crash = {r.topic: read_all(crashed.bootstrap, r.topic) for r in ROWS.values()}
        crashed.stop()

        power_loss(base / "data", base / "fsync.journal")
        broker.start()
        after_power_loss = {r.topic: read_all(broker.bootstrap, r.topic) for r in ROWS.values()}
        broker.stop()
        yield Outcome(acked, after_crash, after_power_loss)
    finally:
        broker.close()
        for other in others:
            other.close()


def lost(outcome: Outcome, row: str, *, power: bool) -> int:
    topic = ROWS[row].topic
    read = (outcome.after_power_loss if power else outcome.after_crash)[topic]
    acked = outcome.acked[topic]
    assert read == acked[: len(read)], "what survives is a prefix, in order, without duplicates"
    return len(acked) - len(read)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_a_process_crash_loses_no_acknowledged_write(outcome: Outcome, row: str) -> None:
    assert lost(outcome, row, power=False) == 0


def test_default_acks_all_survives_power_loss(outcome: Outcome) -> None:
    """write.caching=false, acks=all: answered only after fsync."""
    assert lost(outcome, "default", power=True) == 0


def test_write_caching_loses_the_unflushed_tail_on_power_loss(outcome: Outcome) -> None:
    """write.caching=true, no flush policy: nothing was fsynced."""
    assert lost(outcome, "caching", power=True) == RECORDS


def test_write_caching_with_flush_messages_bounds_the_loss(outcome: Outcome) -> None:
    """write.caching=true, flush.messages=5: at most the last 4 acknowledged records."""
    loss = lost(outcome, "caching-flush", power=True)
    assert loss == RECORDS % FLUSH_MESSAGES
    assert loss < FLUSH_MESSAGES


def test_acks_1_is_not_fsynced(outcome: Outcome) -> None:
    """acks=1 on write.caching=false: answered after the append, not the fsync."""
    assert lost(outcome, "acks1", power=True) > 0


def test_acks_min_all_makes_acks_1_durable(outcome: Outcome) -> None:
    """acks.min=all: the same acks=1 producer now waits for the fsync."""
    assert lost(outcome, "acks-min-all", power=True) == 0
