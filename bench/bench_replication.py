"""Replicated partitions on a local 3-node cluster (issue 14).

    python -m bench.bench_replication [--messages 20000] [--size 1024]

Three broker processes (compat/broker_cluster.py, kernel-chosen ports) on this
machine. Measures, with confluent-kafka (librdkafka):

* produce throughput of ``--messages`` values of ``--size`` bytes to a
  3-partition topic: RF=1 with acks=1 and RF=3 with acks=all (idempotent),
  in the same run, each twice (the best of two is reported);
* failover: the time from SIGKILL of the node leading partitions to the
  moment a survivor's Metadata names a live leader for every one of them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from compat.broker_cluster import BrokerCluster

PARTITIONS = 3


def create(bootstrap: str, name: str, partitions: int, rf: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 60
    while True:
        try:
            admin.create_topics([NewTopic(name, partitions, rf)])[name].result(10)
            break
        except Exception as exc:
            if "already exists" in str(exc):
                break
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    while any(p.leader < 0 for p in leaders(bootstrap, name).values()):
        time.sleep(0.1)


def leaders(bootstrap: str, topic: str) -> dict[int, Any]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(topic, timeout=5)
    return dict(meta.topics[topic].partitions)


def produce(bootstrap: str, topic: str, messages: int, size: int, acks: str) -> float:
    """Messages per second, from the first send to the last acknowledgement."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": acks,
            "enable.idempotence": acks == "all",
            "linger.ms": 5,
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": messages + 10,
        }
    )
    value = b"x" * size
    failed = []

    def report(err: object, _msg: object) -> None:
        if err is not None:
            failed.append(err)

    start = time.monotonic()
    for i in range(messages):
        producer.produce(topic, value, partition=i % PARTITIONS, on_delivery=report)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(120)
    elapsed = time.monotonic() - start
    if failed:
        raise RuntimeError(f"{len(failed)} deliveries failed: {failed[0]}")
    return messages / elapsed


def failover(cluster: BrokerCluster, topic: str) -> tuple[float, int]:
    """(seconds until every partition the killed node led has a live leader, count)."""
    current = leaders(cluster.bootstrap, topic)
    victim = current[0].leader
    led = [p for p, part in current.items() if part.leader == victim]
    survivor = next(n for i, n in cluster.nodes.items() if i != victim)
    start = time.monotonic()
    cluster.nodes[victim].kill()
    while True:
        try:
            now = leaders(survivor.bootstrap, topic)
            if all(now[p].leader not in (victim, -1) for p in led):
                break
        except Exception:
            pass
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    cluster.nodes[victim].start()
    return elapsed, len(led)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--keep", help="keep the nodes' directories (and logs) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replication-") as tmp:
        root = args.keep or tmp
        cluster = BrokerCluster(Path(root))
        try:
            cluster.start()
            cluster.wait_for_leader()
            create(cluster.bootstrap, "rf3", PARTITIONS, 3)
            create(cluster.bootstrap, "rf1", PARTITIONS, 1)
            rates: dict[str, list[float]] = {"rf1 acks=1": [], "rf3 acks=all": []}
            for _ in range(2):
                rates["rf1 acks=1"].append(
                    produce(cluster.bootstrap, "rf1", args.messages, args.size, "1")
                )
                rates["rf3 acks=all"].append(
                    produce(cluster.bootstrap, "rf3", args.messages, args.size, "all")
                )
            for name, values in rates.items():
                best = max(values)
                print(
                    f"{name}: {best:,.0f} msg/s ({best * args.size / 1e6:.1f} MB/s), "
                    f"runs {', '.join(f'{v:,.0f}' for v in values)}"
                )
            ratio = max(rates["rf3 acks=all"]) / max(rates["rf1 acks=1"])
            print(f"RF=3 acks=all / RF=1 acks=1: {ratio:.2f}")
            times = []
            for _ in range(args.failovers):
                elapsed, count = failover(cluster, "rf3")
                times.append(elapsed)
                print(f"failover of {count} partition leader(s): {elapsed:.2f} s")
                time.sleep(3)  # the restarted node rejoins and catches up
            times.sort()
            print(f"failover median {times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s")
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
