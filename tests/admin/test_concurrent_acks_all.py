"""Concurrent acks=all producers on one partition: every ack follows an fsync that covers it.

One broker process, its fsyncs journaled with their start sizes and end times
(``fsync_journal``, each fsync slowed by a few milliseconds as a slow disk
would), gets one partition and several kafka-python producers (acks=all, one
record per request) writing to it at once, so that produces keep arriving
while another one's fsync runs. Each producer notes when each ack arrived.
Then:

- every acknowledged record's batch must end within the start size of an
  fsync of its segment that returned before the ack arrived;
- after a SIGKILL and a power loss (each segment cut back to the start size
  of its last fsync), every acknowledged record is read back.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from broker.storage.batch import split_batches
from tests.admin.fsync_journal import power_loss, read_journal
from tests.admin.test_durability import JournaledBroker, read_all

pytestmark = pytest.mark.slow

PRODUCERS = 4
RECORDS = 60  # per producer
PORT = 19150


def test_concurrent_acks_all_are_each_covered_by_an_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FSYNC_JOURNAL_DELAY_MS", "3")
    journal = tmp_path / "fsync.journal"
    broker = JournaledBroker(tmp_path / "data", journal)
    broker.port = PORT
    acked: list[tuple[int, bytes, int]] = []  # (offset, value, monotonic ns of the ack)
    lock = threading.Lock()
    try:
        broker.start()
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic("race", 1, 1)])
        admin.close()
        start = threading.Barrier(PRODUCERS)

        def produce(n: int) -> None:
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=0)
            try:
                producer.send("race", b"warm-%d" % n).get(timeout=10)
                start.wait()
                for i in range(RECORDS):
                    value = b"p%d-%03d" % (n, i)
                    metadata = producer.send("race", value).get(timeout=10)
                    with lock:
                        acked.append((metadata.offset, value, time.monotonic_ns()))
            finally:
                producer.close(timeout=5)

        threads = [threading.Thread(target=produce, args=(n,)) for n in range(PRODUCERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(acked) == PRODUCERS * RECORDS
        broker.kill()

        segment = (tmp_path / "data" / "race-0" / ("0" * 20 + ".log")).resolve()
        batches = split_batches(memoryview(segment.read_bytes()))
        end_of = {
            h.base_offset + i: pos + h.size_in_bytes
            for pos, h in batches
            for i in range(h.last_offset_delta + 1)
        }
        fsyncs = [f for f in read_journal(journal) if f.path == str(segment)]
        uncovered = [
            (offset, value)
            for offset, value, acked_ns in acked
            if not any(f.start_size >= end_of[offset] and f.end_ns <= acked_ns for f in fsyncs)
        ]
        assert uncovered == [], f"{len(uncovered)} acks came before any fsync covering them"

        power_loss(tmp_path / "data", journal)
        broker.start()
        survived = set(read_all(broker.bootstrap, "race"))
        broker.stop()
        assert {value for _, value, _ in acked} <= survived
    finally:
        broker.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
