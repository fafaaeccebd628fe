"""Broker benchmark with Apache Kafka's own perf tools: ours against Kafka, same run.

The client is Kafka's ``kafka-producer-perf-test`` and
``kafka-consumer-perf-test`` (their main classes,
``org.apache.kafka.tools.ProducerPerformance`` and ``ConsumerPerformance``,
from the pinned Kafka release in ``compat/kafka``), one JVM per cell, the
second client of the benchmark beside librdkafka (``bench_broker.py``).

Cells, per partition count (1 and 8): produce 100 B and 1 KiB records with
acks=1 and acks=all (``--throughput -1``; ``linger.ms=5``,
``batch.size=1 MiB``, no compression, the Java producer's defaults otherwise,
so acks=all is idempotent and acks=1 is not), then consume what the acks=1
cell wrote with ConsumerPerformance (a consumer group of its own: it joins,
is assigned every partition, reads ``--messages`` records). Figures are the
tools' own (records/s, MB/s, latency percentiles; for the consumer, the rate
including and excluding its group join), plus the broker's CPU (``utime +
stime`` of its processes over the tool's run) per message and the tool's
CPU (its JVM, start-up included).

``kafka3`` is three Kafka nodes on loopback whose topics have three replicas
(the replication peer); ours is one node, its topics one replica. Each
broker gets a fresh process per partition count (its topics made by
CreateTopics); the brokers take turns, session by session, so that a
change in the machine's load hits both sides of a ratio alike.

    .venv/bin/python -m bench.bench_kafka_tools                     # ours,kafka,kafka3
    .venv/bin/python -m bench.bench_kafka_tools --brokers ours,kafka
    .venv/bin/python -m bench.bench_kafka_tools --quick --no-write

Results go to stdout and ``bench/results/kafka-tools-<date>.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.bench_broker import RESULTS_DIR, _fmt, _git_head, _load, create_topics, describe_key
from bench.broker_procs import (
    Broker,
    BrokerStartError,
    die_with_parent,
    kafka_version,
    proc_cpu_seconds,
    start,
)

SIZES = (100, 1024)
ACKS = ("1", "all")
PARTITIONS = (1, 8)
RECORDS = {100: 2_000_000, 1024: 400_000}
QUICK_RECORDS = {100: 300_000, 1024: 60_000}
TOOL_TIMEOUT_S = 180.0
PRODUCER_PROPS = {
    "linger.ms": "5",
    "batch.size": str(1 << 20),
    "buffer.memory": str(64 << 20),
    "compression.type": "none",
}

Key = tuple[str, int, int, str]  # (produce|consume, partitions, size, acks)
Result = dict[str, Any]

# "2000000 records sent, 812347.7 records/sec (77.47 MB/sec), 12.31 ms avg latency,
#  301.00 ms max latency, 9 ms 50th, 31 ms 95th, 41 ms 99th, 60 ms 99.9th."
_PRODUCER_FINAL = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th"
)


def parse_producer(stdout: str) -> Result:
    """ProducerPerformance's last line (the one with percentiles)."""
    found = _PRODUCER_FINAL.findall(stdout)
    if not found:
        raise ValueError(f"no summary line in: {stdout.strip()[-300:]!r}")
    n, rate, mb, avg, mx, p50, p95, p99, p999 = found[-1]
    return {
        "msgs": int(n),
        "msgs/s": float(rate),
        "MB/s": float(mb),
        "avg ms": float(avg),
        "max ms": float(mx),
        "p50 ms": float(p50),
        "p95 ms": float(p95),
        "p99 ms": float(p99),
        "p99.9 ms": float(p999),
    }


def parse_consumer(stdout: str) -> Result:
    """ConsumerPerformance's header and values lines (comma separated)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    for i, line in enumerate(lines[:-1]):
        if line.startswith("start.time"):
            names = [n.strip() for n in line.split(",")]
            values = [v.strip() for v in lines[i + 1].split(",")]
            row = dict(zip(names, values, strict=True))
            return {
                "msgs": int(row["data.consumed.in.nMsg"]),
                "msgs/s": float(row["nMsg.sec"]),
                "MB/s": float(row["MB.sec"]),
                "fetch msgs/s": float(row["fetch.nMsg.sec"]),
                "rebalance ms": float(row["rebalance.time.ms"]),
            }
    raise ValueError(f"no header and values in: {stdout.strip()[-300:]!r}")


def tool_command(main: str, *args: str) -> list[str]:
    from compat.kafka.tools import MAIN_CLASSES, tool_command

    return tool_command(next(t for t, m in MAIN_CLASSES.items() if m == main), *args)


def run_tool(argv: list[str], broker: Broker) -> tuple[str, float, float]:
    """stdout, the tool's CPU seconds and the broker's over the run."""
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0 = proc_cpu_seconds(broker.pids)
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    b1 = proc_cpu_seconds(broker.pids)
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (children1.ru_utime - children0.ru_utime) + (children1.ru_stime - children0.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"exit code {done.returncode}: {done.stderr.strip()[-300:]}")
    return done.stdout, client, b1 - b0


def produce(broker: Broker, topic: str, size: int, acks: str, records: int) -> Result:
    props = {"bootstrap.servers": broker.bootstrap, "acks": acks, **PRODUCER_PROPS}
    argv = tool_command(
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic,
        "--num-records", str(records),
        "--record-size", str(size),
        "--throughput", "-1",
        "--producer-props", *(f"{k}={v}" for k, v in props.items()),
    )  # fmt: skip
    stdout, client_cpu, broker_cpu = run_tool(argv, broker)
    return parse_producer(stdout) | {"client_cpu": client_cpu, "broker_cpu": broker_cpu}


def consume(broker: Broker, topic: str, records: int) -> Result:
    argv = tool_command(
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", broker.bootstrap,
        "--topic", topic,
        "--messages", str(records),
        "--group", f"{topic}-perf",
        "--timeout", "15000",
    )  # fmt: skip
    stdout, client_cpu, broker_cpu = run_tool(argv, broker)
    result = parse_consumer(stdout) | {"client_cpu": client_cpu, "broker_cpu": broker_cpu}
    if result["msgs"] < records:
        result["note"] = f"read {result['msgs']} of {records} records"
    return result


@dataclass
class Cell:
    key: Key
    results: dict[str, Result] = field(default_factory=dict)


def all_keys() -> list[Key]:
    keys: list[Key] = []
    for partitions in PARTITIONS:
        for size in SIZES:
            keys += [("produce", partitions, size, acks) for acks in ACKS]
            keys.append(("consume", partitions, size, "1"))
    return keys


def run_session(
    name: str, partitions: int, records: dict[int, int], cells: dict[Key, Cell]
) -> None:
    """Every cell of one partition count on a fresh broker ``name``."""
    keys = [k for k in cells if k[1] == partitions]
    try:
        broker = start(name, partitions)
    except (BrokerStartError, OSError) as e:
        for k in keys:
            cells[k].results[name] = {"error": f"start: {e}"}
        return
    try:
        topics = {
            (size, acks): f"perf-p{partitions}-s{size}-a{acks}" for size in SIZES for acks in ACKS
        }
        try:
            create_topics(
                broker.bootstrap, list(topics.values()), partitions, broker.replication_factor
            )
        except Exception as e:  # any client or broker failure: this session's cells say so
            for k in keys:
                cells[k].results[name] = {"error": f"topics: {str(e)[:300]}"}
            return
        for key in keys:
            kind, _, size, acks = key
            try:
                if kind == "produce":
                    result = produce(broker, topics[(size, acks)], size, acks, records[size])
                else:
                    result = consume(broker, topics[(size, "1")], records[size])
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                result = {"error": str(e)[:300]}
                if not broker.alive():
                    result["error"] += f"; {broker.describe_exit()}"
            cells[key].results[name] = result
            print(f"  {name:6} {describe_key(key):30} {summarize(result)}", file=sys.stderr)
    finally:
        broker.kill()


def summarize(r: Result) -> str:
    if "error" in r:
        return f"n/a (error: {r['error']})"
    return f"{r['msgs/s']:,.0f} msg/s  broker {r['broker_cpu']:.2f}s  client {r['client_cpu']:.2f}s"


def _metric(r: Result | None, metric: str) -> float | None:
    if r is None or "error" in r:
        return None
    if metric == "broker CPU us/msg":
        return float(r["broker_cpu"]) / max(1, int(r["msgs"])) * 1e6
    value = r.get(metric)
    return None if value is None else float(value)


def _compare(cell: Cell, metric: str, brokers: Sequence[str]) -> str:
    values = [_metric(cell.results.get(b), metric) for b in brokers]
    text = " / ".join("n/a" if v is None else _fmt(v) for v in values)
    first = values[0]
    ratios = [f"{first / v:.2f}" if first is not None and v else "-" for v in values[1:]]
    if first is not None and any(r != "-" for r in ratios):
        text += f" (**{', '.join(ratios)}**)"
    return text


PRODUCE_COLUMNS = ("msgs/s", "MB/s", "p50 ms", "p99 ms", "broker CPU us/msg", "client_cpu")
CONSUME_COLUMNS = ("msgs/s", "fetch msgs/s", "rebalance ms", "broker CPU us/msg", "client_cpu")


def render(cells: dict[Key, Cell], brokers: Sequence[str], header: list[str]) -> str:
    who = " / ".join(brokers)
    ratio = ", ".join(f"{brokers[0]}/{b}" for b in brokers[1:])
    lines = [*header, "", f"Each figure: {who} (**{ratio}**). Higher is better for msgs/s and"]
    lines += ["MB/s, lower for latency, CPU and rebalance time.", ""]
    for kind, columns in (("produce", PRODUCE_COLUMNS), ("consume", CONSUME_COLUMNS)):
        names = [c.replace("client_cpu", "client CPU s") for c in columns]
        lines.append("| cell | " + " | ".join(names) + " |")
        lines.append("|---" * (len(columns) + 1) + "|")
        for key, cell in cells.items():
            if key[0] == kind:
                row = [describe_key(key), *(_compare(cell, c, brokers) for c in columns)]
                lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    notes = [
        f"- {b}, {describe_key(key)}: {r.get('error') or r.get('note')}"
        for key, cell in cells.items()
        for b, r in cell.results.items()
        if "error" in r or "note" in r
    ]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--brokers", default="ours,kafka,kafka3", help="comma list: ours, kafka, kafka3"
    )
    parser.add_argument("--quick", action="store_true", help="fewer records per cell")
    parser.add_argument("--out", help="result file (default bench/results/kafka-tools-<date>.md)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    records = QUICK_RECORDS if args.quick else RECORDS
    cells = {k: Cell(k) for k in all_keys()}
    started = time.monotonic()
    load_before = _load()
    for partitions in PARTITIONS:
        for name in brokers:
            run_session(name, partitions, records, cells)
    today = datetime.date.today().isoformat()
    peers = {
        "kafka": f"{kafka_version()}, one KRaft node, topics with 1 replica (page cache: no fsync)",
        "kafka3": f"{kafka_version()}, 3 nodes on loopback, topics with 3 replicas "
        "(acks=all waits for all three; min.insync.replicas 1)",
        "ours": f"{_git_head()}, one node, topics with 1 replica (no replication yet)",
    }
    header = [
        f"# Broker benchmark with Kafka's perf tools {today}{' (quick)' if args.quick else ''}",
        "",
        f"- command: `.venv/bin/python -m bench.bench_kafka_tools --brokers {','.join(brokers)}"
        f"{' --quick' if args.quick else ''}`",
        *(f"- {b}: {peers[b]}" for b in brokers if b in peers),
        f"- client: Kafka's ProducerPerformance / ConsumerPerformance ({kafka_version()}),"
        f" one JVM per cell; producer props {PRODUCER_PROPS}",
        f"- records per cell: {', '.join(f'{n:,} of {s} B' for s, n in records.items())}",
        f"- machine: {os.cpu_count()} cores; load avg (1/5/15 min) before {load_before},"
        f" after {_load()}; run took {time.monotonic() - started:.0f} s; Python"
        f" {platform.python_version()}",
    ]
    text = render(cells, brokers, header)
    print(text)
    if not args.no_write:
        out = args.out or str(RESULTS_DIR / f"kafka-tools-{today}.md")
        with open(out, "w") as f:
            f.write(text)
        print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
