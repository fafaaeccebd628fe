"""A real broker process for the compat suite: start, stop, kill, restart.

``BrokerProcess`` runs ``python -m broker serve`` (the interpreter running the
tests, with the repository on ``PYTHONPATH``) listening on a free port of
127.0.0.1, with its data in a directory the caller owns. Readiness is "accepts
a TCP connection", waited for with a deadline; when the process dies or the
deadline passes, the error carries the tail of the process's output.

Lifecycle::

    broker = BrokerProcess(tmp_path / "data")
    broker.start()          # free port, waits until it accepts connections
    broker.bootstrap        # "127.0.0.1:PORT"
    broker.stop()           # SIGTERM; asserts exit code 0 within 10 s
    broker.start()          # same data dir, same port
    broker.kill()           # SIGKILL, no clean shutdown
    broker.restart()        # stop (or kill) and start on the same data dir
    broker.close()          # idempotent cleanup: kills a process still running

The process's stdout and stderr go to ``<data dir>.log`` (appended across
restarts, each start preceded by a banner line), never to a pipe that could
fill up and block the broker.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_POLL_INTERVAL_S = 0.05
_PORT_ATTEMPTS = 3


class BrokerStartError(RuntimeError):
    """The broker process exited or did not accept connections in time."""


class BrokerStopError(AssertionError):
    """The broker did not exit cleanly (code 0) within the deadline after SIGTERM."""


def free_port(host: str = HOST) -> int:
    """A TCP port that nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _can_connect(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class BrokerProcess:
    def __init__(
        self,
        data_dir: Path,
        *,
        num_partitions: int = 2,
        node_id: int = 1,
        overrides: Mapping[str, str] | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        self.node_id = node_id
        self.num_partitions = num_partitions
        self.overrides = dict(overrides or {})
        self.startup_timeout_s = startup_timeout_s
        self.host = HOST
        self.port: int | None = None
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where the current start's output begins

    # -- addresses ---------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise RuntimeError("broker not started")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ---------------------------------------------------------

    def command(self, port: int) -> list[str]:
        props = {
            "node.id": str(self.node_id),
            "listeners": f"PLAINTEXT://{self.host}:{port}",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(self.num_partitions),
            "auto.create.topics.enable": "true",
            **self.overrides,
        }
        cmd = [sys.executable, "-m", "broker", "serve"]
        for key, value in props.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    def start(self) -> None:
        """Start the process; on the first start pick a free port, later reuse it."""
        if self.running():
            raise RuntimeError(f"broker already running (pid {self.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fixed_port = self.port is not None
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = self.port if self.port is not None else free_port(self.host)
            try:
                self._spawn_and_wait(port)
            except BrokerStartError as exc:
                # Another process may have taken the free port between our probe
                # and the broker's bind: try another one (only before the first
                # successful start; a restart must keep its address).
                if fixed_port or attempt == _PORT_ATTEMPTS or not _address_in_use(str(exc)):
                    raise
                continue
            self.port = port
            return

    def _spawn_and_wait(self, port: int) -> None:
        self.starts += 1
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            log.write(f"=== start {self.starts}: {' '.join(self.command(port))}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir.parent,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal does not reach it
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise BrokerStartError(
                    f"broker exited with code {code} during start-up on port {port}:\n"
                    + self.output_tail()
                )
            if _can_connect(self.host, port):
                return
            if time.monotonic() >= deadline:
                self._terminate_hard()
                raise BrokerStartError(
                    f"broker did not accept connections on {self.host}:{port} within "
                    f"{self.startup_timeout_s:.0f} s:\n" + self.output_tail()
                )
            time.sleep(_POLL_INTERVAL_S)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM; the broker must exit with code 0 within ``timeout_s``."""
        proc = self._require_proc()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._terminate_hard()
            raise BrokerStopError(
                f"broker (pid {proc.pid}) still running {timeout_s:.0f} s after SIGTERM; "
                "killed it:\n" + self.output_tail()
            ) from None
        self._proc = None
        if code != 0:
            raise BrokerStopError(
                f"broker exited with code {code} after SIGTERM (expected 0):\n" + self.output_tail()
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs; whatever was not fsynced may be lost."""
        self._require_proc()
        self._terminate_hard()

    def restart(self, *, hard: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL when ``hard``) and start on the same data dir."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def close(self) -> None:
        """Cleanup for fixtures: kill a process that is still running."""
        if self._proc is not None:
            self._terminate_hard()

    def _require_proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError("broker is not running:\n" + self.output_tail())
        return self._proc

    def _terminate_hard(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_TIMEOUT_S)

    # -- diagnostics -------------------------------------------------------

    def output_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines the current (or last) start wrote."""
        return self.output_since(self._log_offset, lines)

    def log_position(self) -> int:
        """Where the output written from now on will start (for ``output_since``)."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def output_since(self, position: int, lines: int = 60) -> str:
        """The last ``lines`` lines written after ``position``, across restarts."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(position)
                text = log.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(no broker output: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def api_versions(self, timeout_s: float = 5.0) -> dict[int, tuple[int, int]]:
        """ApiVersions v0 over a raw socket: ``{api_key: (min, max)}``."""
        return request_api_versions(self.host, self._require_port(), timeout_s)

    def _require_port(self) -> int:
        if self.port is None:
            raise RuntimeError("broker not started")
        return self.port


def _address_in_use(message: str) -> bool:
    return "Address already in use" in message or f"Errno {errno.EADDRINUSE}" in message


# ApiVersions v0, request header v1: api_key, api_version, correlation_id,
# client_id (int16 length + bytes); the v0 body is empty.
_REQUEST_HEADER = struct.Struct(">hhih")
# Response: correlation_id, error_code, then an int32-counted array of
# (api_key, min_version, max_version).
_RESPONSE_HEAD = struct.Struct(">ihi")
_API_RANGE = struct.Struct(">hhh")
_API_VERSIONS_KEY = 18


def request_api_versions(host: str, port: int, timeout_s: float) -> dict[int, tuple[int, int]]:
    client_id = b"compat-probe"
    frame = _REQUEST_HEADER.pack(_API_VERSIONS_KEY, 0, 1, len(client_id)) + client_id
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        reader = sock.makefile("rb")
        size = struct.unpack(">i", _read_exactly(reader, 4))[0]
        body = _read_exactly(reader, size)
    correlation_id, error_code, count = _RESPONSE_HEAD.unpack_from(body, 0)
    if correlation_id != 1:
        raise ValueError(f"ApiVersions answered with correlation id {correlation_id}")
    if error_code != 0:
        raise ValueError(f"ApiVersions v0 failed with error code {error_code}")
    out: dict[int, tuple[int, int]] = {}
    for i in range(count):
        key, lo, hi = _API_RANGE.unpack_from(body, _RESPONSE_HEAD.size + i * _API_RANGE.size)
        out[key] = (lo, hi)
    return out


def _read_exactly(reader: IO[bytes], size: int) -> bytes:
    data = reader.read(size)
    if data is None or len(data) != size:
        raise ConnectionError(f"connection closed after {len(data or b'')} of {size} bytes")
    return data
