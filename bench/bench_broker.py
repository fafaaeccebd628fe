"""Broker benchmark: ours against Tansu, same machine, same run, as ratios.

Run: ``.venv/bin/python -m bench.bench_broker [--brokers ours,tansu] [--quick]``.

Every produce cell (and the consume cell that reads its data back, and each
latency cell; with --quick, all cells of a partition count) gets a fresh
broker process on a free 127.0.0.1 port (ours with
a temporary ``log.dirs`` and ``num.partitions``, Tansu with in-memory
storage), so that data left by one cell does not slow the next. The brokers
take turns session by session, so that a change in the shared machine's load
hits both sides of a ratio alike. Its topic (1
or 8 partitions) is made with CreateTopics through confluent-kafka's
AdminClient, or by auto-creation when the broker does not answer
CreateTopics. Every cell then runs the librdkafka client
(confluent-kafka) in its own subprocess, so that the client's CPU
(``time.process_time``: all of librdkafka's threads) is its own, and the
broker's CPU is read from ``/proc/<pid>/stat`` just before and after the
measured loop:

- produce: as fast as possible for a bounded time and count, values of 100 B
  and 1 KiB, acks=1 and acks=all (``linger.ms=5``, ``batch.size`` 1 MiB,
  ``max.in.flight.requests.per.connection=5``, no compression, keyless
  messages with librdkafka's default partitioner);
- consume: the acks=1 data of the same size, assigned from the beginning of
  every partition (``fetch.queue.backoff.ms=5``), until all of it is read or
  the time bound;
- latency: 1 KiB, acks=1, at a fixed 10k msg/s; p50/p99 of produce() to
  delivery report (librdkafka's ``Message.latency()``).

A cell that our broker cannot do yet reports ``n/a (error: ...)``. The table
goes to stdout and to ``bench/results/broker-<date>.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.broker_procs import (
    REPO_ROOT,
    Broker,
    BrokerStartError,
    kafka_version,
    proc_cpu_seconds,
    start,
    tansu_version,
)

RESULTS_DIR = REPO_ROOT / "bench" / "results"
SIZES = (100, 1024)
ACKS = ("1", "all")
PARTITIONS = (1, 8)
LATENCY_RATE = 10_000
LATENCY_SIZE = 1024

Result = dict[str, Any]
Key = tuple[str, int, int, str]  # (kind, partitions, size, acks)


@dataclass(frozen=True)
class Budget:
    produce_s: float
    produce_max_msgs: int
    produce_max_bytes: int
    consume_s: float
    latency_s: float
    fresh_per_cell: bool


FULL = Budget(
    produce_s=3.0,
    produce_max_msgs=3_000_000,
    produce_max_bytes=384 << 20,
    consume_s=5.0,
    latency_s=3.0,
    fresh_per_cell=True,
)
QUICK = Budget(
    produce_s=0.7,
    produce_max_msgs=500_000,
    produce_max_bytes=96 << 20,
    consume_s=2.0,
    latency_s=1.0,
    fresh_per_cell=False,
)

# --------------------------------------------------------------------------
# Worker side: runs in a subprocess, one cell, prints one JSON line.
# --------------------------------------------------------------------------


def _producer_conf(
    bootstrap: str, acks: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": 5,
        "batch.size": 1024 * 1024,
        "max.in.flight.requests.per.connection": 5,
        "enable.idempotence": False,
        "compression.type": "none",
        # Enough queue for 8 partitions x 5 in-flight 1 MiB batches, small enough
        # that the final flush does not dominate a cell.
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 64 * 1024,
        "socket.timeout.ms": 10_000,
        "message.timeout.ms": 20_000,
        "log_level": 3,
    }
    if extra:
        conf.update(extra)
    return conf


def _wait_metadata(client: Any, topic: str, timeout: float) -> int:
    """Partitions of ``topic`` as the client sees them (raises if none)."""
    deadline = time.monotonic() + timeout
    last = "no metadata"
    while time.monotonic() < deadline:
        md = client.list_topics(topic, timeout=max(0.5, deadline - time.monotonic()))
        tmd = md.topics.get(topic)
        if tmd is not None and tmd.error is None and tmd.partitions:
            return len(tmd.partitions)
        last = str(tmd.error) if tmd is not None else "topic missing"
        time.sleep(0.1)
    raise RuntimeError(f"metadata for {topic}: {last}")


def worker_produce(spec: Result) -> Result:
    from confluent_kafka import KafkaException, Producer

    errors: list[str] = []

    def on_error(err: Any, msg: Any) -> None:
        if err is not None and len(errors) < 1_000_000:
            errors.append(str(err))

    producer = Producer(
        _producer_conf(
            spec["bootstrap"],
            spec["acks"],
            {"delivery.report.only.error": True, "on_delivery": on_error},
        )
    )
    try:
        _wait_metadata(producer, spec["topic"], 10.0)
    except KafkaException as e:
        raise RuntimeError(f"metadata: {e}") from e
    value = os.urandom(spec["size"])
    topic = spec["topic"]
    duration, max_msgs = spec["duration"], spec["max_msgs"]
    broker_pid = spec["broker_pid"]
    produce = producer.produce
    poll = producer.poll

    b0, c0, t0 = proc_cpu_seconds(broker_pid), time.process_time(), time.perf_counter()
    sent = 0
    stop_at = t0 + duration
    while sent < max_msgs:
        try:
            for _ in range(min(1000, max_msgs - sent)):
                produce(topic, value)
                sent += 1
        except BufferError:
            poll(0.001)
            continue
        poll(0)
        if time.perf_counter() >= stop_at:
            break
    remaining = producer.flush(30.0)
    t1, c1, b1 = time.perf_counter(), time.process_time(), proc_cpu_seconds(broker_pid)
    delivered = sent - remaining - len(errors)
    out: Result = {
        "msgs": delivered,
        "bytes": delivered * spec["size"],
        "seconds": t1 - t0,
        "broker_cpu": b1 - b0,
        "client_cpu": c1 - c0,
    }
    if delivered <= 0 or remaining or errors:
        first = errors[0] if errors else f"{remaining} undelivered after flush"
        note = f"{len(errors)} failed, {remaining} undelivered of {sent}: {first}"
        if delivered <= 0:
            raise RuntimeError(note)
        out["note"] = note
    return out


def worker_consume(spec: Result) -> Result:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": spec["bootstrap"],
            "group.id": f"bench-{os.getpid()}-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.queue.backoff.ms": 5,
            "enable.partition.eof": False,
            "socket.timeout.ms": 10_000,
            "log_level": 3,
        }
    )
    topic, expected = spec["topic"], spec["expected"]
    try:
        partitions = _wait_metadata(consumer, topic, 10.0)
        broker_pid = spec["broker_pid"]
        b0, c0, t0 = proc_cpu_seconds(broker_pid), time.process_time(), time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        stop_at = t0 + spec["duration"]
        n = nbytes = 0
        first_error = ""
        consume = consumer.consume
        while n < expected and time.perf_counter() < stop_at:
            batch = consume(num_messages=10_000, timeout=0.05)
            # C-level loops: a Python loop per message would be the bottleneck.
            if any(map(Message.error, batch)):
                errs = [m for m in batch if m.error() is not None]
                first_error = first_error or str(errs[0].error())
                batch = [m for m in batch if m.error() is None]
            n += len(batch)
            nbytes += sum(map(len, batch))
        t1, c1, b1 = time.perf_counter(), time.process_time(), proc_cpu_seconds(broker_pid)
    finally:
        consumer.close()
    if n == 0:
        raise RuntimeError(first_error or f"nothing consumed in {spec['duration']}s")
    out: Result = {
        "msgs": n,
        "bytes": nbytes,
        "seconds": t1 - t0,
        "broker_cpu": b1 - b0,
        "client_cpu": c1 - c0,
    }
    if n < expected:
        out["note"] = f"read {n} of {expected} in the time bound"
    if first_error:
        out["note"] = (out.get("note", "") + f" error: {first_error}").strip()
    return out


def worker_latency(spec: Result) -> Result:
    from confluent_kafka import Producer

    latencies: list[float] = []
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            lat = msg.latency()
            if lat is not None:
                latencies.append(lat)
        else:
            errors.append(str(err))

    producer = Producer(_producer_conf(spec["bootstrap"], "1", {"on_delivery": on_delivery}))
    topic = spec["topic"]
    _wait_metadata(producer, topic, 10.0)
    value = os.urandom(spec["size"])
    rate, duration, broker_pid = spec["rate"], spec["duration"], spec["broker_pid"]
    produce, poll = producer.produce, producer.poll

    b0, c0, t0 = proc_cpu_seconds(broker_pid), time.process_time(), time.perf_counter()
    sent = 0
    total = int(rate * duration)
    while sent < total:
        due = min(total, int((time.perf_counter() - t0) * rate) + 1)
        while sent < due:
            produce(topic, value)
            sent += 1
        poll(0)
        # Sleep to the next message's due time (at 10k/s: 100 us).
        delay = t0 + sent / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    send_seconds = time.perf_counter() - t0
    remaining = producer.flush(30.0)
    t1, c1, b1 = time.perf_counter(), time.process_time(), proc_cpu_seconds(broker_pid)
    if not latencies:
        raise RuntimeError(errors[0] if errors else f"no delivery reports ({remaining} pending)")
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000.0

    out: Result = {
        "msgs": len(latencies),
        "bytes": len(latencies) * spec["size"],
        "seconds": t1 - t0,
        "send_rate": sent / send_seconds,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "broker_cpu": b1 - b0,
        "client_cpu": c1 - c0,
    }
    if errors or remaining:
        out["note"] = f"{len(errors)} failed, {remaining} undelivered: {errors[:1]}"
    return out


WORKERS: dict[str, Callable[[Result], Result]] = {
    "produce": worker_produce,
    "consume": worker_consume,
    "latency": worker_latency,
}


def worker_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    try:
        result = WORKERS[spec["kind"]](spec)
    except Exception as e:
        result = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result), flush=True)
    return 0


# --------------------------------------------------------------------------
# Orchestrator side.
# --------------------------------------------------------------------------


def run_worker(spec: Result, timeout: float) -> Result:
    """Run one cell in a fresh client process; an error result instead of raising."""
    argv = [sys.executable, "-m", "bench.bench_broker", "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(
            argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"client timed out after {timeout:.0f}s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
        return {"error": f"client exited {proc.returncode}: {tail}"}
    try:
        result: Result = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": f"client output not JSON: {lines[-1][:200]}"}
    return result


def _kerr(e: BaseException) -> str:
    """A librdkafka error as its short text, anything else as its string."""
    from confluent_kafka import KafkaError

    arg = e.args[0] if e.args else None
    return str(arg.str()) if isinstance(arg, KafkaError) else str(e)


def create_topics(
    bootstrap: str, topics: Sequence[str], partitions: int, replication_factor: int = 1
) -> str:
    """Create ``topics``; returns how (CreateTopics or auto-create). Raises on failure."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient(
        {"bootstrap.servers": bootstrap, "log_level": 3, "allow.auto.create.topics": False}
    )
    try:
        # Metadata for one named topic: librdkafka's all-topics request (v13) carries
        # 3 bytes after the body, which a strict broker may refuse.
        admin.list_topics(topics[0], timeout=5)
    except Exception as e:
        raise RuntimeError(f"Metadata: {_kerr(e)}") from e
    how = "CreateTopics"
    try:
        futures = admin.create_topics(
            [NewTopic(t, partitions, replication_factor) for t in topics], request_timeout=5.0
        )
        for f in futures.values():
            f.result(timeout=10)
    except Exception as e:
        admin_error = _kerr(e)
        # Fall back to auto-creation: a producer's Metadata request for the topic.
        how = f"auto-create (CreateTopics: {admin_error})"
        producer = Producer({"bootstrap.servers": bootstrap, "log_level": 3})
        try:
            for t in topics:
                _wait_metadata(producer, t, 10.0)
        except Exception as e2:
            raise RuntimeError(f"CreateTopics: {admin_error}; auto-create: {_kerr(e2)}") from e2
        finally:
            producer.flush(1)
    # A cluster's brokers learn of a new topic from the controller a moment
    # after CreateTopics answers: wait until the one asked lists it whole.
    deadline = time.monotonic() + 30
    for t in topics:
        while True:
            md = admin.list_topics(t, timeout=10)
            parts = md.topics[t].partitions if t in md.topics else {}
            got = sum(1 for p in parts.values() if p.leader >= 0)
            if got == partitions:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{t} has {got} partitions with a leader, wanted {partitions}")
            time.sleep(0.1)
    return how


@dataclass
class Cell:
    """One measured figure set: key is shared by both brokers."""

    key: Key
    results: dict[str, Result] = field(default_factory=dict)


def topic_name(partitions: int, size: int, acks: str) -> str:
    return f"bench-p{partitions}-s{size}-a{acks}"


def all_keys() -> list[Key]:
    """Every cell, in table order."""
    keys: list[Key] = []
    for partitions in PARTITIONS:
        keys += [("produce", partitions, s, a) for s in SIZES for a in ACKS]
        keys += [("consume", partitions, s, "1") for s in SIZES]
    keys += [("latency", p, LATENCY_SIZE, "1") for p in PARTITIONS]
    return keys


Run = tuple[str, list[Key]]  # a topic and the cells that use it, in order
Session = tuple[int, list[Run]]  # partitions, runs: one broker process


def sessions(fresh_per_cell: bool) -> list[Session]:
    """What runs on each broker process.

    With ``fresh_per_cell`` every produce cell (with the consume cell that reads
    its data back) and every latency cell gets a fresh broker, so that one
    cell's stored data does not slow the next (Tansu's memory store slows down
    as it grows). Without it (``--quick``), one broker per partition count runs
    all of its cells, each on its own topic: less start-up time, more bias.
    """
    runs: list[tuple[int, Run]] = []
    for partitions in PARTITIONS:
        for size in SIZES:
            for acks in ACKS:
                keys: list[Key] = [("produce", partitions, size, acks)]
                if acks == "1":
                    keys.append(("consume", partitions, size, acks))
                runs.append((partitions, (topic_name(partitions, size, acks), keys)))
    for partitions in PARTITIONS:
        topic = f"bench-p{partitions}-latency"
        runs.append((partitions, (topic, [("latency", partitions, LATENCY_SIZE, "1")])))
    if fresh_per_cell:
        return [(p, [run]) for p, run in runs]
    return [(p, [run for q, run in runs if q == p]) for p in PARTITIONS]


def _spec(key: Key, topic: str, broker: Broker, budget: Budget, produced: int) -> Result:
    kind, _, size, acks = key
    spec: Result = {
        "kind": kind,
        "bootstrap": broker.bootstrap,
        "broker_pid": broker.pids,
        "topic": topic,
        "size": size,
        "acks": acks,
    }
    if kind == "produce":
        max_msgs = min(budget.produce_max_msgs, budget.produce_max_bytes // size)
        spec |= {"duration": budget.produce_s, "max_msgs": max_msgs}
    elif kind == "consume":
        spec |= {"duration": budget.consume_s, "expected": produced}
    else:
        spec |= {"duration": budget.latency_s, "rate": LATENCY_RATE}
    return spec


def run_session(
    name: str, session: Session, budget: Budget, cells: dict[Key, Cell], log: list[str]
) -> str:
    """One session on a fresh broker ``name``; returns a set-up error, or ""."""
    partitions, runs = session
    try:
        broker = start(name, partitions)
    except (BrokerStartError, OSError) as e:
        return f"start: {e}"
    try:
        try:
            how = create_topics(
                broker.bootstrap,
                [topic for topic, _ in runs],
                partitions,
                broker.replication_factor,
            )
        except Exception as e:
            error = f"topics: {e}"
            last_log = broker.log_tail(1)
            if last_log:
                error += f" [broker log: {last_log[-160:]}]"
            return error
        note = f"{name}: topics made by {how}"
        if note not in log:
            log.append(note)
        for topic, keys in runs:
            produced = 0
            for k in keys:
                if not broker.alive():
                    cells[k].results[name] = {"error": broker.describe_exit()}
                    continue
                if k[0] == "consume" and produced <= 0:
                    cells[k].results[name] = {"error": "nothing was produced"}
                    continue
                spec = _spec(k, topic, broker, budget, produced)
                result = run_worker(spec, float(spec["duration"]) + 60)
                if "error" in result and not broker.alive():
                    result = {"error": f"{result['error']}; {broker.describe_exit()}"}
                if k[0] == "produce" and "msgs" in result:
                    produced = int(result["msgs"])
                cells[k].results[name] = result
                print(f"  {name:5} {describe_key(k):38} {summarize(result)}", file=sys.stderr)
    finally:
        broker.kill()
    return ""


def run_all(brokers: Sequence[str], budget: Budget, cells: dict[Key, Cell], log: list[str]) -> None:
    """Every session, the brokers taking turns, so a change in the machine's load
    hits both sides of a ratio alike. Once a broker fails to start or to make its
    topic, its later sessions are not tried (they would fail the same way)."""
    setup_errors: dict[str, str] = {}
    for session in sessions(budget.fresh_per_cell):
        for name in brokers:
            error = setup_errors.get(name) or run_session(name, session, budget, cells, log)
            if error:
                setup_errors[name] = error
                for _, keys in session[1]:
                    for k in keys:
                        cells[k].results[name] = {"error": error}


def describe_key(key: tuple[str, int, int, str]) -> str:
    kind, partitions, size, acks = key
    size_s = "1 KiB" if size == 1024 else f"{size} B"
    if kind == "produce":
        return f"produce {size_s} acks={acks} p={partitions}"
    if kind == "consume":
        return f"consume {size_s} p={partitions}"
    return f"latency {size_s} acks={acks} @{LATENCY_RATE // 1000}k/s p={partitions}"


def summarize(r: Result) -> str:
    if "error" in r:
        return f"n/a (error: {r['error']})"
    s = f"{r['msgs'] / r['seconds']:,.0f} msg/s  broker {r['broker_cpu']:.2f}s  client {r['client_cpu']:.2f}s"
    if "p50_ms" in r:
        s += f"  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
    return s


# -- table ------------------------------------------------------------------


def _fmt(v: float) -> str:
    if v >= 100_000:
        return f"{v / 1000:,.0f}k"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _metric(r: Result | None, metric: str) -> float | None:
    if r is None or "error" in r:
        return None
    secs = float(r["seconds"]) or 1e-9
    values = {
        "msgs/s": r["msgs"] / secs,
        "MB/s": r["bytes"] / secs / 1e6,
        "broker CPU s": r["broker_cpu"],
        "client CPU s": r["client_cpu"],
        "broker CPU us/msg": r["broker_cpu"] / max(1, r["msgs"]) * 1e6,
        "p50 ms": r.get("p50_ms"),
        "p99 ms": r.get("p99_ms"),
    }
    v = values[metric]
    return None if v is None else float(v)


def _compare(cell: Cell, metric: str, brokers: Sequence[str]) -> str:
    parts: list[str] = []
    vals: list[float | None] = []
    for b in brokers:
        r = cell.results.get(b)
        v = _metric(r, metric)
        vals.append(v)
        if r is None:
            parts.append("-")
        elif v is None:
            parts.append("n/a")
        else:
            parts.append(_fmt(v))
    text = " / ".join(parts)
    if len(vals) == 2 and vals[0] is not None and vals[1]:
        text += f" (**{vals[0] / vals[1]:.2f}**)"
    return text


def render(
    cells: dict[Key, Cell],
    brokers: Sequence[str],
    header: list[str],
    log: list[str],
) -> str:
    who = " / ".join(brokers)
    ratio = f" ({brokers[0]}/{brokers[1]})" if len(brokers) == 2 else ""
    lines = [*header, ""]
    lines.append(f"Each figure: {who}{ratio}. Higher is better for msgs/s and MB/s, lower")
    lines.append("for CPU and latency. CPU seconds are for the whole cell (see seconds).")
    lines.append("")
    throughput = ["msgs/s", "MB/s", "broker CPU s", "broker CPU us/msg", "client CPU s"]
    lines.append("| cell | " + " | ".join(throughput) + " | seconds |")
    lines.append("|---" * (len(throughput) + 2) + "|")
    for key, cell in cells.items():
        if key[0] == "latency":
            continue
        secs = _compare_seconds(cell, brokers)
        row = [describe_key(key), *(_compare(cell, m, brokers) for m in throughput), secs]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lat = ["p50 ms", "p99 ms", "msgs/s", "broker CPU s", "client CPU s"]
    lines.append("| cell | " + " | ".join(lat) + " |")
    lines.append("|---" * (len(lat) + 1) + "|")
    for key, cell in cells.items():
        if key[0] != "latency":
            continue
        row = [describe_key(key), *(_compare(cell, m, brokers) for m in lat)]
        lines.append("| " + " | ".join(row) + " |")
    # One note per distinct error or remark, naming the cells it applies to.
    grouped: dict[tuple[str, str], list[str]] = {}
    for key, cell in cells.items():
        for b in brokers:
            r = cell.results.get(b)
            if r is None:
                continue
            if "error" in r:
                text = f"n/a (error: {str(r['error'])[:300]})"
            elif "note" in r:
                text = str(r["note"])[:300]
            else:
                continue
            grouped.setdefault((b, text), []).append(describe_key(key))
    notes = []
    for (b, text), where in grouped.items():
        cells_s = ", ".join(where) if len(where) <= 2 else f"{len(where)} cells"
        notes.append(f"- {b}, {cells_s}: {text}")
    if notes or log:
        lines += ["", "Notes:", ""]
        lines += [f"- {entry}" for entry in log]
        lines += notes
    return "\n".join(lines) + "\n"


def _compare_seconds(cell: Cell, brokers: Sequence[str]) -> str:
    parts = []
    for b in brokers:
        r = cell.results.get(b)
        parts.append(f"{r['seconds']:.1f}" if r is not None and "seconds" in r else "-")
    return " / ".join(parts)


def _git_head() -> str:
    """The commit ours runs from, and whether broker/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %s"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()[:72]
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "broker"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = f"`{head}`"
    if dirty:
        text += f" + {len(dirty.splitlines())} uncommitted files in broker/"
    return text


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--brokers", default="ours,tansu", help="comma list of ours, tansu, kafka, kafka3"
    )
    parser.add_argument("--quick", action="store_true", help="short cells (whole run < 1 min)")
    parser.add_argument("--out", help="result file (default bench/results/broker-<date>.md)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker)

    import confluent_kafka

    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    budget = QUICK if args.quick else FULL
    started = time.monotonic()
    load_before = _load()
    cells = {k: Cell(k) for k in all_keys()}
    log: list[str] = []
    run_all(brokers, budget, cells, log)
    elapsed = time.monotonic() - started
    today = datetime.date.today().isoformat()
    header = [
        f"# Broker benchmark {today}{' (quick)' if args.quick else ''}",
        "",
        f"- command: `.venv/bin/python -m bench.bench_broker --brokers {','.join(brokers)}"
        f"{' --quick' if args.quick else ''}`",
        f"- ours: {_git_head()}; tansu: "
        f"{tansu_version() + ' (memory storage)' if 'tansu' in brokers else '-'}; kafka: "
        f"{kafka_version() + ' (files, page cache: no fsync)' if 'kafka' in brokers else '-'}"
        + (
            f"; kafka3: {kafka_version()}, 3 nodes on loopback, topics with 3 replicas"
            " (acks=all waits for all three; min.insync.replicas 1)"
            if "kafka3" in brokers
            else ""
        ),
        "- ours is one node, every topic with 1 replica (no replication yet)",
        f"- client: confluent-kafka {confluent_kafka.version()}, "
        f"librdkafka {confluent_kafka.libversion()[0]}; Python {platform.python_version()}",
        f"- machine: {os.cpu_count()} cores; load avg (1/5/15 min) before {load_before},"
        f" after {_load()}; run took {elapsed:.0f} s",
        f"- bounds: produce {budget.produce_s} s or {budget.produce_max_msgs:,} msgs"
        f" or {budget.produce_max_bytes >> 20} MiB per cell,"
        f" consume {budget.consume_s} s, latency {budget.latency_s} s at {LATENCY_RATE:,} msg/s",
    ]
    text = render(cells, brokers, header, log)
    print(text)
    if not args.no_write:
        out = Path(args.out) if args.out else RESULTS_DIR / f"broker-{today}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
