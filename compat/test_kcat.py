"""kcat (librdkafka's command line client) against the broker, through subprocesses.

What kcat can express shapes the data: one ``-H`` header set and one ``-p``
partition per run (so one run per partition), text records split on newline
and tab (``-K``), and no way to choose a record's timestamp or learn its
offset on produce: the suite checks timestamps against the produce window and
offsets only for order. Reading is ``-C -p P -o OFFSET -c COUNT [-e] -J``;
offset lookups are query mode, ``-Q -t TOPIC:PARTITION:TIMESTAMP`` (with
Kafka's -2/-1 for earliest/latest).
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from compat import tools
from compat.suite import (
    GROUP_TIMEOUT_S,
    OP_TIMEOUT_S,
    Acks,
    Client,
    ClientError,
    ClientSuite,
    ClusterView,
    Message,
    Record,
    by_partition,
)

_QUERY_LINE = re.compile(r"^(?P<topic>\S+) \[(?P<partition>\d+)\] offset (?P<offset>-?\d+)$")


def _kcat() -> str:
    return tools.require_tool("kcat", tools.kcat_path())


def _command(bootstrap: str, args: Sequence[str]) -> list[str]:
    return [
        _kcat(),
        "-b",
        bootstrap,
        "-m",
        "10",  # metadata timeout, seconds
        "-X",
        "client.id=compat-kcat",
        "-X",
        "socket.timeout.ms=10000",
        *args,
    ]


def _run(
    bootstrap: str, args: Sequence[str], *, stdin: bytes = b"", timeout_s: float = OP_TIMEOUT_S
) -> subprocess.CompletedProcess[bytes]:
    cmd = _command(bootstrap, args)
    done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise ClientError(None, f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.decode()}")
    return done


def _text(data: bytes) -> str:
    text = data.decode("ascii")
    assert "\t" not in text and "\n" not in text, f"kcat cannot send {data!r} as one field"
    return text


def _read_lines(fd: int, count: int, timeout_s: float) -> list[bytes]:
    """Up to ``count`` lines from a pipe (unbuffered: nothing read ahead is lost)."""
    lines: list[bytes] = []
    pending = b""
    deadline = time.monotonic() + timeout_s
    while len(lines) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        chunk = os.read(fd, 1)  # one byte at a time: never read past `count` lines
        if not chunk:
            break
        pending += chunk
        if chunk == b"\n":
            lines.append(pending)
            pending = b""
    return lines


def _lines(messages: Sequence[Message]) -> bytes:
    """``key<TAB>value`` lines; null is written as empty (``-Z`` reads it back as null)."""
    text = "".join(f"{_text(m.key or b'')}\t{_text(m.value or b'')}\n" for m in messages)
    return text.encode()


def _json_record(line: str) -> Record:
    doc: dict[str, Any] = json.loads(line)
    flat: list[str] = doc.get("headers") or []
    return Record(
        partition=doc["partition"],
        offset=doc["offset"],
        key=None if doc.get("key") is None else doc["key"].encode(),
        value=None if doc.get("payload") is None else doc["payload"].encode(),
        headers=tuple((flat[i], flat[i + 1].encode()) for i in range(0, len(flat), 2)),
        timestamp_ms=doc["ts"],
    )


def _runs(batch: Sequence[Message]) -> list[tuple[bool, list[Message]]]:
    """Consecutive messages that one kcat run can send: ``-Z`` (empty means
    NULL) for those with a null key or value, plain for the others."""
    out: list[tuple[bool, list[Message]]] = []
    for m in batch:
        with_nulls = m.key is None or m.value is None
        if with_nulls:
            assert b"" not in (m.key, m.value), "kcat -Z cannot send empty and NULL together"
        if out and out[-1][0] == with_nulls:
            out[-1][1].append(m)
        else:
            out.append((with_nulls, [m]))
    return out


class KcatClient(Client):
    sets_timestamps = False
    per_message_headers = False
    binary_safe = False
    reports_offsets = False

    def version(self) -> str:
        path = tools.kcat_path()
        if path is None:
            return "(not installed)"
        out = subprocess.run(
            [path, "-V"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        found = re.search(r"Version (\S+) .*librdkafka (\S+)", out)
        return f"{found[1]} (librdkafka {found[2]})" if found else out.strip()

    def produce(
        self,
        bootstrap: str,
        topic: str,
        messages: Sequence[Message],
        *,
        codec: str = "none",
        acks: Acks = "all",
        idempotent: bool = False,
    ) -> list[int | None]:
        for partition, batch in sorted(by_partition(messages).items()):
            for with_nulls, run in _runs(batch):
                self._produce_run(
                    bootstrap, topic, partition, run, with_nulls, codec, acks, idempotent
                )
        return [None] * len(messages)  # kcat does not report offsets

    def produce_around(
        self,
        bootstrap: str,
        topic: str,
        before: Sequence[Message],
        after: Sequence[Message],
        between: Callable[[], None],
    ) -> list[int | None]:
        # One kcat process reads records from a pipe: `before`, then (after a
        # pause for delivery, which kcat cannot confirm) the restart, then
        # `after`; kcat exits 0 only when all were delivered.
        messages = [*before, *after]
        assert {m.partition for m in messages} == {0} and len({m.headers for m in messages}) == 1
        # -E: "all brokers down" during the restart is not a reason to exit.
        args = ["-P", "-E", "-t", topic, "-p", "0", "-K", "\t"]
        for name, value in messages[0].headers:
            args += ["-H", f"{name}={_text(value)}"]
        args += ["-X", "enable.idempotence=true", "-X", "acks=all", "-X", "linger.ms=5"]
        args += ["-X", "message.timeout.ms=60000"]
        proc = subprocess.Popen(
            _command(bootstrap, args),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            assert proc.stdin is not None
            proc.stdin.write(_lines(before))
            proc.stdin.flush()
            time.sleep(1.0)
            between()
            _, stderr = proc.communicate(_lines(after), timeout=2 * OP_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise ClientError(None, f"kcat exited {proc.returncode}: {stderr.decode()}")
        return [None] * len(messages)

    def _produce_run(
        self,
        bootstrap: str,
        topic: str,
        partition: int,
        run: Sequence[Message],
        with_nulls: bool,
        codec: str,
        acks: Acks,
        idempotent: bool,
    ) -> None:
        headers = {m.headers for m in run}
        assert len(headers) == 1, "kcat sends one header set per run"
        args = ["-P", "-t", topic, "-p", str(partition), "-K", "\t"]
        if with_nulls:
            args.append("-Z")  # an empty key or value is sent as NULL
        for name, value in run[0].headers:
            args += ["-H", f"{name}={_text(value)}"]
        args += [
            "-X",
            f"compression.codec={codec}",
            "-X",
            f"acks={acks}",
            "-X",
            f"enable.idempotence={str(idempotent).lower()}",
            "-X",
            "linger.ms=5",
            "-X",
            f"message.timeout.ms={int(OP_TIMEOUT_S * 1000) - 5000}",
        ]
        done = _run(bootstrap, args, stdin=_lines(run))
        # kcat exits 0 only when every message was delivered; belt and braces:
        assert b"Delivery failed" not in done.stderr, done.stderr.decode()

    def fetch(
        self,
        bootstrap: str,
        topic: str,
        start: Mapping[int, int],
        counts: Mapping[int, int],
        *,
        stop_at_end: bool = False,
        timeout_s: float = OP_TIMEOUT_S,
    ) -> dict[int, list[Record]]:
        out: dict[int, list[Record]] = {}
        for partition, offset in start.items():
            args = ["-C", "-t", topic, "-p", str(partition), "-o", str(offset)]
            args += ["-c", str(counts[partition]), "-J", "-q", "-X", "fetch.wait.max.ms=200"]
            if stop_at_end:
                args.append("-e")
            try:
                stdout = _run(bootstrap, args, timeout_s=timeout_s).stdout
            except subprocess.TimeoutExpired as exc:
                # Fewer records than asked for: keep what was read; the suite's
                # checks report what is missing.
                stdout = exc.stdout or b""
            out[partition] = [_json_record(line) for line in stdout.decode().splitlines() if line]
        return out

    def fetch_around(
        self,
        bootstrap: str,
        topic: str,
        partition: int,
        first: int,
        second: int,
        between: Callable[[], None],
    ) -> list[Record]:
        # One kcat consumer (-E: it rides out "all brokers down"; -u: unbuffered
        # output, records reach us as they arrive); the test's
        # restart happens once it has printed `first` records.
        args = ["-C", "-E", "-t", topic, "-p", str(partition), "-o", "0"]
        args += ["-c", str(first + second), "-J", "-q", "-u", "-X", "fetch.wait.max.ms=200"]
        proc = subprocess.Popen(
            _command(bootstrap, args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            lines = _read_lines(proc.stdout.fileno(), first, OP_TIMEOUT_S)
            if len(lines) == first:
                between()
                lines += _read_lines(proc.stdout.fileno(), second, OP_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        return [_json_record(line.decode()) for line in lines if line.strip()]

    def _query(self, bootstrap: str, topic: str, timestamps: Mapping[int, int]) -> dict[int, int]:
        args = ["-Q"]
        for partition, ts in timestamps.items():
            args += ["-t", f"{topic}:{partition}:{ts}"]
        found: dict[int, int] = {}
        for line in _run(bootstrap, args).stdout.decode().splitlines():
            match = _QUERY_LINE.match(line.strip())
            if match and match["topic"] == topic:
                found[int(match["partition"])] = int(match["offset"])
        assert set(found) == set(timestamps), f"kcat -Q answered for {sorted(found)}"
        return found

    def list_offsets(
        self, bootstrap: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, tuple[int, int]]:
        earliest = self._query(bootstrap, topic, dict.fromkeys(partitions, -2))
        latest = self._query(bootstrap, topic, dict.fromkeys(partitions, -1))
        return {p: (earliest[p], latest[p]) for p in partitions}

    def offsets_for_times(
        self, bootstrap: str, topic: str, timestamps: Mapping[int, int]
    ) -> dict[int, int | None]:
        found = self._query(bootstrap, topic, timestamps)
        return {p: (None if offset < 0 else offset) for p, offset in found.items()}

    def _metadata(self, bootstrap: str, topic: str | None) -> dict[str, Any]:
        args = ["-L", "-J"] + (["-t", topic] if topic else [])
        doc: dict[str, Any] = json.loads(_run(bootstrap, args).stdout)
        return doc

    def cluster_view(self, bootstrap: str, topic: str) -> ClusterView:
        doc = self._metadata(bootstrap, topic)
        [described] = [t for t in doc["topics"] if t["topic"] == topic]
        if described.get("error"):
            raise ClientError(None, str(described["error"]))
        brokers = set()
        for b in doc["brokers"]:
            host, _, port = b["name"].rpartition(":")
            brokers.add((b["id"], host, int(port)))
        return ClusterView(
            brokers=frozenset(brokers),
            leaders={p["partition"]: p["leader"] for p in described["partitions"]},
        )

    def create_topic(self, bootstrap: str, topic: str, partitions: int) -> None:
        raise NotImplementedError("kcat has no admin operations")

    def delete_topic(self, bootstrap: str, topic: str) -> None:
        raise NotImplementedError("kcat has no admin operations")

    def list_topics(self, bootstrap: str) -> set[str]:
        return {t["topic"] for t in self._metadata(bootstrap, None)["topics"]}

    def consume_group(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        count: int,
        *,
        timeout_s: float = GROUP_TIMEOUT_S,
    ) -> list[Record]:
        # kcat's balanced consumer (-G) stores each offset as it prints the
        # record and commits on exit (librdkafka's auto commit on close).
        args = ["-G", group, "-c", str(count), "-J", "-q"]
        args += ["-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=10000", topic]
        try:
            stdout = _run(bootstrap, args, timeout_s=timeout_s).stdout
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout or b""
        return [_json_record(line) for line in stdout.decode().splitlines() if line]


class TestKcat(ClientSuite):
    CLIENT = "kcat"
    client: ClassVar[Client] = KcatClient()
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {
        "admin-create-topics": "kcat has no admin mode: it cannot create topics",
        "admin-delete-topics": "kcat has no admin mode: it cannot delete topics",
    }
