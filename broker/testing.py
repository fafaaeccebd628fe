"""A real broker for your tests: ``KafkaBroker`` runs ``raftbroker serve`` as a child process.

::

    from broker.testing import KafkaBroker

    with KafkaBroker(tmp_path / "kafka") as kafka:
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        topic = kafka.create_topic(partitions=3)

The broker listens on a port the kernel picks (``listeners`` on port 0, so
no two test runs race for one) and says where on its stdout, in one
machine-readable line, ``raftbroker ready on HOST:PORT``, printed once it
serves clients; ``start()`` returns then. Its log (stderr) goes to
``<data dir>.log``. ``restart()`` keeps the data and the port; ``kill()`` is
SIGKILL, for crash tests. The pytest fixtures built on it are in
``broker/pytest_plugin.py`` (``docs/testing.md``).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

READY_PREFIX = "raftbroker ready on "
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class BrokerStartError(RuntimeError):
    """The broker exited or did not say it was ready in time (the message has its log's tail)."""


def parse_ready_line(line: str) -> tuple[str, int] | None:
    """(host, port) of a ``raftbroker ready on HOST:PORT`` line, else None."""
    if not line.startswith(READY_PREFIX):
        return None
    host, _, port = line[len(READY_PREFIX) :].strip().rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


class KafkaBroker:
    def __init__(
        self,
        data_dir: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        num_partitions: int = 1,
        overrides: Mapping[str, str] | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        self.host = host
        self.port = port  # 0 until the first start
        self.properties = {
            "node.id": "1",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(num_partitions),
            "auto.create.topics.enable": "true",
            "group.initial.rebalance.delay.ms": "0",
            **(overrides or {}),
        }
        self.startup_timeout_s = startup_timeout_s
        self.startup_s: float | None = None  # how long the last start took
        self._proc: subprocess.Popen[str] | None = None

    # -- addresses -------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        if not self.port:
            raise RuntimeError("broker not started")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -------------------------------------------------------------

    def command(self) -> list[str]:
        props = {"listeners": f"PLAINTEXT://{self.host}:{self.port}", **self.properties}
        argv = [sys.executable, "-m", "broker", "serve"]
        for key, value in props.items():
            argv += ["--override", f"{key}={value}"]
        return argv

    def start(self) -> KafkaBroker:
        if self.running():
            raise RuntimeError(f"broker already running (pid {self.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                start_new_session=True,
            )
        assert self._proc.stdout is not None
        address = self._wait_ready(self._proc.stdout, started + self.startup_timeout_s)
        self.host, self.port = address
        self.startup_s = time.monotonic() - started
        return self

    def _wait_ready(self, stdout: IO[str], deadline: float) -> tuple[str, int]:
        proc = self._proc
        assert proc is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._terminate_hard()
                raise BrokerStartError(
                    f"broker not ready within {self.startup_timeout_s:.0f} s:\n{self.log_tail()}"
                )
            readable, _, _ = select.select([stdout], [], [], min(left, 0.5))
            if not readable:
                continue
            line = stdout.readline()
            if not line:  # EOF: it exited
                code = proc.wait()
                self._proc = None
                raise BrokerStartError(f"broker exited with code {code}:\n{self.log_tail()}")
            address = parse_ready_line(line)
            if address is not None:
                return address

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (a clean shutdown); SIGKILL if it outlives ``timeout_s``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._terminate_hard()
        self._close_pipe()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown (the next start recovers the logs)."""
        self._terminate_hard()
        self._proc = None

    def restart(self) -> KafkaBroker:
        """Stop (if running) and start on the same data and port."""
        self.stop()
        return self.start()

    def _terminate_hard(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- conveniences ----------------------------------------------------------

    def create_topic(
        self,
        name: str | None = None,
        *,
        partitions: int = 1,
        configs: Mapping[str, str] | None = None,
    ) -> str:
        """Create a topic (a fresh ``test-<random>`` name unless given); its name."""
        return create_topic(self.bootstrap_servers, name, partitions=partitions, configs=configs)


def create_topic(
    bootstrap_servers: str,
    name: str | None = None,
    *,
    partitions: int = 1,
    configs: Mapping[str, str] | None = None,
) -> str:
    """Create a topic on any Kafka-protocol broker; its name (``test-<random>`` unless given)."""
    from kafka.admin import KafkaAdminClient

    topic = name or f"test-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        admin.create_topics(
            {topic: {"num_partitions": partitions, "configs": dict(configs or {})}},
            raise_errors=True,
        )
    finally:
        admin.close()
    return topic
