"""Our driver of the Apache Kafka Java client (``compat/kafka/java/KafkaClientDriver.java``).

The driver is compiled on first use with ``javac`` against the installed
``kafka-clients`` (and the Jackson it reads its requests with) into
``compat/kafka/.cache/<version>/driver-<hash of the source>``, so an edit
recompiles and an unchanged source costs nothing. One JVM serves a whole test
module: requests are JSON lines on its stdin, answers JSON lines on its
stdout; clients (producers, consumers, admins) live in it under ids that the
caller picks. The client's own log (log4j2, WARN) goes to a file.

    driver = JavaDriver(log_path)
    driver.call("producer.open", id="p", config={"bootstrap.servers": ...})
    driver.call("producer.send", id="p", topic="t", records=[...])  # offsets

A Kafka error comes back as :class:`JavaClientError` carrying the Kafka
error name (``TOPIC_ALREADY_EXISTS``); every call has a deadline after which
the JVM is killed (a hung client fails its test rather than the suite).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

from compat.kafka import install
from compat.kafka.cluster import java_path

SOURCE = Path(__file__).resolve().parent / "java" / "KafkaClientDriver.java"
MAIN_CLASS = "KafkaClientDriver"
CALL_TIMEOUT_S = 60.0
# The JVM clients' and tools' log: WARN and above, to stderr.
CLIENT_LOG4J2 = """\
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
"""


class JavaClientError(Exception):
    """A failed driver call: the Kafka error name (or None) and the exception text."""

    def __init__(self, error: str | None, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail


def compiled_driver() -> Path:
    """The directory holding the compiled driver, compiling it when the source changed."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    out = install.install_dir() / f"driver-{digest}"
    if (out / f"{MAIN_CLASS}.class").is_file():
        return out
    javac = os.environ.get("JAVAC") or shutil.which("javac")
    if javac is None:
        raise RuntimeError("javac not found (install a JDK 17; see .ci/install-system)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    done = subprocess.run(
        [javac, "-nowarn", "-d", str(tmp), "-cp", install.classpath(), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"javac failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    (tmp / "log4j2.properties").write_text(CLIENT_LOG4J2)
    tmp.rename(out)
    return out


class JavaDriver:
    def __init__(self, log_path: Path, *, call_timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.log_path = log_path
        self.call_timeout_s = call_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._log: IO[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        classes = compiled_driver()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            [
                java_path(),
                "-Xmx512m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                f"-Dlog4j2.configurationFile={classes / 'log4j2.properties'}",
                "-cp",
                os.pathsep.join([str(classes), install.classpath()]),
                MAIN_CLASS,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True)
        self._reader.start()
        hello = self._next_line(self.call_timeout_s)
        if json.loads(hello).get("result") != "ready":
            raise RuntimeError(f"unexpected first line from the Java driver: {hello!r}")

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _next_line(self, timeout_s: float) -> str:
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            self.close()
            raise TimeoutError(
                f"Java driver gave no answer within {timeout_s:.0f} s; killed it\n"
                + self.output_tail()
            ) from None
        if line is None:
            code = self._proc.poll() if self._proc is not None else None
            self.close()
            raise RuntimeError(f"Java driver exited ({code}):\n{self.output_tail()}")
        return line

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def call(self, op: str, *, timeout_s: float | None = None, **fields: Any) -> Any:
        if not self.running():
            self.start()
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self._proc.stdin.flush()
        answer = json.loads(self._next_line(timeout_s or self.call_timeout_s))
        if not answer["ok"]:
            raise JavaClientError(answer.get("error"), answer.get("detail", ""))
        return answer["result"]

    def output_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if self._reader is not None:
                self._reader.join(5)
                self._reader = None
            if proc.stdout is not None:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
