"""The hot-path cost of ``metrics.port``: produce with the metrics off and on.

``PYTHONPATH=. .venv/bin/python -m bench.bench_metrics [--messages N] [--rounds R]``

Each round starts a fresh broker process twice, metrics off then on, and
has librdkafka (confluent-kafka) produce N 100-byte records with one record
per batch (``batch.num.messages=1``, acks=1), so every record is a Produce
request and the per-request hooks (request counter and latency histogram,
messages and bytes in) are paid once per record. Reported per setting, as
medians over the rounds: records per second and the broker's CPU
microseconds per record (from /proc, so the client's own cost is not in it).
Then the hooks alone, called in a loop in this process: their cost per
request on and off, beside the broker's CPU per record (on a loaded machine
the end-to-end difference is within the noise; the loop is not).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bench.broker_procs import proc_cpu_seconds
from compat.broker_process import BrokerProcess, free_port


def one_run(metrics: bool, messages: int, root: Path) -> tuple[float, float]:
    overrides = {"metrics.port": str(free_port()), "metrics.host": "127.0.0.1"} if metrics else {}
    broker = BrokerProcess(root / f"data-{metrics}-{time.monotonic_ns()}", overrides=overrides)
    broker.start()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for future in admin.create_topics([NewTopic("bench", 1, 1)]).values():
            future.result(30)
        producer = Producer(
            {
                "bootstrap.servers": broker.bootstrap,
                "acks": 1,
                "linger.ms": 0,
                "batch.num.messages": 1,
                "compression.type": "none",
            }
        )
        producer.produce("bench", b"w" * 100)  # connect and fetch metadata first
        producer.flush(30)
        assert broker.pid is not None
        cpu0, t0 = proc_cpu_seconds(broker.pid), time.perf_counter()
        for _ in range(messages):
            while True:
                try:
                    producer.produce("bench", b"x" * 100)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
        producer.flush(60)
        elapsed = time.perf_counter() - t0
        cpu = proc_cpu_seconds(broker.pid) - cpu0
        del producer, admin  # disconnect before the broker stops
        return messages / elapsed, cpu / messages * 1e6
    finally:
        broker.close()


def hook_cost_us(enabled: bool, calls: int = 200_000) -> float:
    """Microseconds for the hooks one single-partition Produce request pays
    (``request_done`` and ``produced``), called in a loop in this process."""
    import trio

    from broker.node import HANDLERS
    from broker.observability.metrics import BrokerMetrics

    metrics = BrokerMetrics(enabled, HANDLERS)

    async def loop() -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            metrics.request_done(0, trio.current_time())
            metrics.produced("bench", 1, 170)
        return (time.perf_counter() - t0) / calls * 1e6

    return trio.run(loop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        for _ in range(args.rounds):
            for metrics in (False, True):
                results[metrics].append(one_run(metrics, args.messages, Path(tmp)))
    print(f"{args.messages} records of 100 B, one per Produce request, {args.rounds} rounds")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print("| metrics | records/s (median) | broker CPU µs/record (median) | runs (records/s) |")
    print("|---|---|---|---|")
    for metrics, runs in results.items():
        rates = [r for r, _ in runs]
        cpus = [c for _, c in runs]
        print(
            f"| {'on' if metrics else 'off'} | {statistics.median(rates):.0f} | "
            f"{statistics.median(cpus):.1f} | {', '.join(f'{r:.0f}' for r in rates)} |"
        )
    off = statistics.median(c for _, c in results[False])
    on = statistics.median(c for _, c in results[True])
    print(f"CPU per record, on vs off: {on - off:+.1f} µs ({(on / off - 1) * 100:+.1f} %)")
    micro_off = statistics.median(hook_cost_us(False) for _ in range(3))
    micro_on = statistics.median(hook_cost_us(True) for _ in range(3))
    print(
        f"hooks of one Produce request, in a loop: {micro_on:.2f} µs on, {micro_off:.2f} µs off "
        f"({(micro_on - micro_off) / off * 100:.1f} % of the broker's CPU per record with metrics off)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
