"""Start-up time and idle RSS of a one-node broker: ours (``broker.testing``) and Apache Kafka.

``PYTHONPATH=. .venv/bin/python -m bench.bench_startup [--runs 20] [--kafka-runs 3]``

Ours: ``KafkaBroker.start()`` from spawn to its ``raftbroker ready on``
line (what the ``kafka_broker`` fixture waits for), then the first
CreateTopics answered, then RSS after a second idle. Kafka 4.1.2 (one KRaft
node from ``compat/kafka``, the test JVM options): from spawn (after
``kafka-storage format``, which is timed apart) until its Metadata lists
the broker, then RSS after a second idle. Medians, with the load average.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

from broker.testing import KafkaBroker


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ours(runs: int, root: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ready_s": [], "first_topic_s": [], "rss_mib": []}
    for i in range(runs):
        broker = KafkaBroker(root / f"ours-{i}" / "data")
        t0 = time.monotonic()
        broker.start()
        out["ready_s"].append(time.monotonic() - t0)
        broker.create_topic("first")
        out["first_topic_s"].append(time.monotonic() - t0)
        time.sleep(1)
        assert broker.pid is not None
        out["rss_mib"].append(rss_mib(broker.pid))
        broker.stop()
    return out


def free_ports(count: int, low: int, high: int) -> list[int]:
    found = []
    for port in range(low, high + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"not {count} free ports in {low}-{high}")


def kafka(runs: int, root: Path, ports: tuple[int, int]) -> dict[str, list[float]]:
    from compat.kafka.cluster import KafkaCluster
    from compat.kafka.fixtures import require_kafka

    require_kafka()
    out: dict[str, list[float]] = {"format_s": [], "ready_s": [], "rss_mib": []}
    for i in range(runs):
        port, controller = free_ports(2, *ports)
        cluster = KafkaCluster(root / f"kafka-{i}", ports=[port], controller_ports=[controller])
        node = cluster.nodes[0]
        t0 = time.monotonic()
        node.write_config(1)
        node.format(cluster.cluster_id)
        cluster._formatted = True
        out["format_s"].append(time.monotonic() - t0)
        t1 = time.monotonic()
        cluster.start()
        out["ready_s"].append(time.monotonic() - t1)
        time.sleep(1)
        pid = node._proc.pid if node._proc is not None else None
        if pid is not None:
            out["rss_mib"].append(rss_mib(pid))
        cluster.stop()
    return out


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--kafka-runs", type=int, default=3)
    parser.add_argument("--kafka-ports", default="19550-19599", help="LOW-HIGH")
    args = parser.parse_args(argv)
    low, high = (int(p) for p in args.kafka_ports.split("-"))
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        mine = ours(args.runs, Path(tmp))
        theirs = kafka(args.kafka_runs, Path(tmp), (low, high)) if args.kafka_runs else {}
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(
        "| broker | runs | ready (s, median) | first CreateTopics (s) | idle RSS (MiB) | all ready times (s) |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| raftbroker | {args.runs} | {median(mine['ready_s'])} | {median(mine['first_topic_s'])} | "
        f"{median(mine['rss_mib'])} | {', '.join(f'{v:.2f}' for v in mine['ready_s'])} |"
    )
    if theirs:
        print(
            f"| Apache Kafka 4.1.2 (+ format {median(theirs['format_s'])} s) | {args.kafka_runs} | "
            f"{median(theirs['ready_s'])} | - | {median(theirs['rss_mib'])} | "
            f"{', '.join(f'{v:.2f}' for v in theirs['ready_s'])} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
