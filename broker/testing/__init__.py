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

This is test tooling, outside the broker's shell: it reads the system's
clock itself (start-up deadlines and durations), which the shell may not
(``broker/clock.py``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

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


class _Broker:
    """What both kinds of test broker share: settings, address, topics, ``with``."""

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

    @property
    def bootstrap_servers(self) -> str:
        if not self.port:
            raise RuntimeError("broker not started")
        return f"{self.host}:{self.port}"

    def settings(self) -> dict[str, str]:
        """The broker properties of the next start (the port once known)."""
        return {"listeners": f"PLAINTEXT://{self.host}:{self.port}", **self.properties}

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        raise NotImplementedError

    def restart(self) -> Self:
        """Stop (if running) and start on the same data and port."""
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def create_topic(
        self,
        name: str | None = None,
        *,
        partitions: int = 1,
        configs: Mapping[str, str] | None = None,
    ) -> str:
        """Create a topic (a fresh ``test-<random>`` name unless given); its name."""
        return create_topic(self.bootstrap_servers, name, partitions=partitions, configs=configs)


class KafkaBroker(_Broker):
    """``raftbroker serve`` as a child process (see the module's docstring)."""

    def __init__(self, data_dir: Path | str, **options: Any) -> None:
        super().__init__(data_dir, **options)
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        self._proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -------------------------------------------------------------

    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "broker", "serve"]
        for key, value in self.settings().items():
            argv += ["--override", f"{key}={value}"]
        return argv

    def start(self) -> Self:
        if self.running():
            raise RuntimeError(f"broker already running (pid {self.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
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


class EmbeddedBroker(_Broker):
    """The same broker in this process: a Trio loop in a thread of its own.

    Faster to start than :class:`KafkaBroker` (no interpreter to spawn, the
    imports already done) at the price of isolation: it shares this
    process's GIL, and a crash cannot be simulated (no ``kill()``).
    ``restart()`` stops it cleanly and opens the same data again.
    """

    def __init__(self, data_dir: Path | str, **options: Any) -> None:
        super().__init__(data_dir, **options)
        self._thread: threading.Thread | None = None
        self._stop: Any = None  # a trio.Event, set from this thread to stop
        self._token: Any = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        from broker.config import load_config

        if self.running():
            raise RuntimeError("broker already running")
        started = time.monotonic()
        config = load_config(None, [f"{k}={v}" for k, v in self.settings().items()], environ={})
        self._ready.clear()
        self._failure = None
        self._thread = threading.Thread(
            target=self._run, args=(config,), name="raftbroker", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(self.startup_timeout_s):
            raise BrokerStartError(f"broker not ready within {self.startup_timeout_s:.0f} s")
        if self._failure is not None:
            self._thread.join()
            raise BrokerStartError(f"broker failed to start: {self._failure!r}") from self._failure
        self.startup_s = time.monotonic() - started
        return self

    def _run(self, config: Any) -> None:
        import trio

        try:
            trio.run(self._main, config)
        except BaseException as exc:
            self._failure = exc
        finally:
            self._ready.set()

    async def _main(self, config: Any) -> None:
        import trio

        from broker.node import Node

        node = Node(config)
        self._stop = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(node.run)
                self.host, self.port = node.advertised_endpoint()
                self._ready.set()
                await self._stop.wait()
                await node.server.drain_connections(config["shutdown.timeout.ms"] / 1000)
                nursery.cancel_scope.cancel()
        finally:
            await node.shutdown()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        thread = self._thread
        if thread is None:
            return
        if thread.is_alive() and self._token is not None:
            import trio

            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            thread.join(timeout_s)
        self._thread = None
        self._token = None


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
