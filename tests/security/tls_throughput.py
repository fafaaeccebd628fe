"""Produce/consume throughput over PLAINTEXT vs SSL (not a test; a measurement).

    python -m tests.security.tls_throughput [--messages 50000] [--size 1024]

Starts one broker process per protocol (certificates made on the spot),
produces ``--messages`` records of ``--size`` bytes with confluent-kafka
(acks=1, no compression) and consumes them back, printing MB/s for each leg
and the broker's CPU seconds (user + system, from /proc): on a shared
machine the CPU figure is the steadier one.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import confluent_kafka

from tests.security.brokers import SecureBroker, tls_overrides
from tests.security.certs import Pki


def _cpu_s(pid: int | None) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    bootstrap: str, client: dict[str, str], messages: int, size: int, pid: int | None
) -> tuple[float, float, float, float]:
    topic = f"bench-{time.monotonic_ns()}"
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": "5", **client}
    )
    payload = b"x" * size
    cpu = _cpu_s(pid)
    start = time.monotonic()
    for _ in range(messages):
        while True:
            try:
                producer.produce(topic, payload, partition=0)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)
    produced = time.monotonic() - start
    produce_cpu = _cpu_s(pid) - cpu
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": topic,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **client,
        }
    )
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
    got = 0
    cpu = _cpu_s(pid)
    start = time.monotonic()
    while got < messages:
        for message in consumer.consume(1000, 1.0):
            if not message.error():
                got += 1
    consumed = time.monotonic() - start
    consume_cpu = _cpu_s(pid) - cpu
    consumer.close()
    mb = messages * size / 1e6
    return mb / produced, mb / consumed, produce_cpu, consume_cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pki = Pki(Path(tmp) / "pki")
        runs = {
            "PLAINTEXT": ({}, {}),
            "SSL": (
                tls_overrides(pki.server.keystore, pki.ca_path, "none"),
                {"security.protocol": "SSL", "ssl.ca.location": str(pki.ca_path)},
            ),
        }
        for protocol, (overrides, client) in runs.items():
            broker = SecureBroker(Path(tmp) / protocol / "data", protocol, overrides)
            broker.start()
            try:
                produce, consume, produce_cpu, consume_cpu = _measure(
                    broker.bootstrap, client, args.messages, args.size, broker.pid
                )
            finally:
                broker.stop()
            print(
                f"{protocol:10} produce {produce:7.1f} MB/s ({produce_cpu:5.2f} s broker CPU)"
                f"   consume {consume:7.1f} MB/s ({consume_cpu:5.2f} s broker CPU)"
            )


if __name__ == "__main__":
    main()
