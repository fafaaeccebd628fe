"""Kafka's VerifiableProducer and VerifiableConsumer: what Kafka's own system tests run.

Both tools print one JSON event per line on stdout. ``VerifiableTool`` runs one
of them as its own JVM (its main class, as ``bin/kafka-verifiable-*.sh`` does)
and collects the events as they come, on a reader thread:

    producer = VerifiableTool.producer(bootstrap, topic, messages=3000, config={...})
    producer.start()
    producer.wait_exit(30)
    acked = producer.events("producer_send_success")

The checks are pure functions over the events, so that the harness tests can
feed them lost, duplicated or reordered records:

- ``check_producer``: every message was sent and acknowledged once (no
  ``producer_send_error``), and each partition's acknowledged offsets run
  from 0 without a gap or a repeat (with idempotence no retry is stored twice);
- ``check_consumed``: the records the group consumed (``record_data``, from
  ``--verbose``) are exactly the acknowledged ones, each consumed once, at the
  offset its acknowledgement named, with the same value;
- ``check_rebalanced``: every consumer's last assignment is non-empty, the
  assignments are disjoint and cover the topic's partitions, and every
  offset commit succeeded.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from compat.kafka import install
from compat.kafka.cluster import java_path
from compat.kafka.java_driver import CLIENT_LOG4J2

PRODUCER_MAIN = "org.apache.kafka.tools.VerifiableProducer"
CONSUMER_MAIN = "org.apache.kafka.tools.VerifiableConsumer"

Event = dict[str, Any]


class VerifiableTool:
    """One VerifiableProducer or VerifiableConsumer process and its events."""

    def __init__(self, name: str, main: str, args: Sequence[str], workdir: Path) -> None:
        self.name = name
        self.main = main
        self.args = list(args)
        self.workdir = workdir
        self.stderr_path = workdir / f"{name}.stderr"
        self._events: list[Event] = []
        self._noise: list[str] = []
        self._changed = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @classmethod
    def producer(
        cls, name: str, workdir: Path, bootstrap: str, topic: str, *,
        messages: int, throughput: int, config: Mapping[str, str],
    ) -> VerifiableTool:  # fmt: skip
        """Idempotence and acks come from ``config``; ``--acks -1`` on the line."""
        args = ["--max-messages", str(messages), "--throughput", str(throughput), "--acks", "-1"]
        return cls._make(name, PRODUCER_MAIN, workdir, bootstrap, topic, args,
                         ("--producer.config", config))  # fmt: skip

    @classmethod
    def consumer(
        cls, name: str, workdir: Path, bootstrap: str, topic: str, *,
        group: str, config: Mapping[str, str],
    ) -> VerifiableTool:  # fmt: skip
        """Classic group protocol, from the earliest offset, every record printed."""
        args = ["--group-id", group, "--group-protocol", "classic", "--reset-policy", "earliest"]
        return cls._make(name, CONSUMER_MAIN, workdir, bootstrap, topic, [*args, "--verbose"],
                         ("--consumer.config", config))  # fmt: skip

    @classmethod
    def _make(
        cls, name: str, main: str, workdir: Path, bootstrap: str, topic: str,
        args: list[str], config: tuple[str, Mapping[str, str]],
    ) -> VerifiableTool:  # fmt: skip
        flag, props = config
        path = _write_properties(workdir / f"{name}.properties", props)
        line = ["--bootstrap-server", bootstrap, "--topic", topic, *args, flag, str(path)]
        return cls(name, main, line, workdir)

    def command(self) -> list[str]:
        log4j2 = self.workdir / "verifiable-log4j2.properties"
        if not log4j2.is_file():
            log4j2.write_text(CLIENT_LOG4J2)
        return [
            java_path(),
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={log4j2}",
            "-cp",
            install.classpath(),
            self.main,
            *self.args,
        ]

    def start(self) -> None:
        with open(self.stderr_path, "w") as stderr:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        self._reader = threading.Thread(target=self._read, name=self.name, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            with self._changed:
                if isinstance(event, dict) and "name" in event:
                    self._events.append(event)
                else:
                    self._noise.append(line.rstrip())
                self._changed.notify_all()
        self._proc.stdout.close()
        with self._changed:
            self._changed.notify_all()

    def events(self, name: str | None = None) -> list[Event]:
        with self._changed:
            return [e for e in self._events if name is None or e["name"] == name]

    def wait_for(self, what: str, done: Callable[[], bool], timeout_s: float) -> None:
        """Until ``done()`` holds; AssertionError naming ``what`` and the tool's
        output once ``timeout_s`` has passed or the process has ended without it."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not done():
                left = deadline - time.monotonic()
                ended = self._proc is not None and self._proc.poll() is not None
                if left <= 0 or (ended and not self._reading()):
                    raise AssertionError(f"{self.name}: no {what} within {timeout_s:.0f} s\n"
                                         f"{self.describe()}")  # fmt: skip
                self._changed.wait(min(left, 0.2))

    def _reading(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def wait_exit(self, timeout_s: float) -> int:
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{self.name} still running after {timeout_s:.0f} s\n"
                                 f"{self.describe()}") from exc  # fmt: skip
        if self._reader is not None:
            self._reader.join(10)
        return code

    def terminate(self, timeout_s: float = 20.0) -> int:
        """SIGTERM (the tool's shutdown hook closes its client) and wait."""
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.terminate()
        return self.wait_exit(timeout_s)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        if self._reader is not None:
            self._reader.join(10)

    def describe(self) -> str:
        names = Counter(e["name"] for e in self.events())
        try:
            stderr = self.stderr_path.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            stderr = []
        code = None if self._proc is None else self._proc.poll()
        return (
            f"exit code {code}; events {dict(names)}; other stdout {self._noise[-5:]}\n"
            "stderr tail:\n" + "\n".join(stderr)
        )


def _write_properties(path: Path, config: Mapping[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
    return path


# -- checks --------------------------------------------------------------------------


def check_producer(events: Sequence[Event], messages: int) -> dict[tuple[int, int], str]:
    """The acknowledged records as {(partition, offset): value}; AssertionError
    unless all ``messages`` were acknowledged once each, at gapless offsets."""
    errors = [e for e in events if e["name"] == "producer_send_error"]
    assert not errors, f"{len(errors)} sends failed, first: {errors[0]}"
    acked = [e for e in events if e["name"] == "producer_send_success"]
    values = Counter(e["value"] for e in acked)
    assert sorted(values) == sorted(str(i) for i in range(messages)), (
        f"acknowledged {len(values)} distinct values of {messages}"
    )
    repeated = [v for v, n in values.items() if n > 1]
    assert not repeated, f"values acknowledged more than once: {repeated[:10]}"
    tool_data = [e for e in events if e["name"] == "tool_data"]
    assert tool_data and tool_data[-1]["sent"] == tool_data[-1]["acked"] == messages, tool_data
    by_offset: dict[tuple[int, int], str] = {}
    for e in acked:
        key = (e["partition"], e["offset"])
        assert key not in by_offset, f"offset {key} acknowledged twice"
        by_offset[key] = e["value"]
    _assert_gapless(by_offset, "acknowledged")
    return by_offset


def _assert_gapless(records: Mapping[tuple[int, int], str], what: str) -> None:
    offsets: dict[int, list[int]] = defaultdict(list)
    for partition, offset in records:
        offsets[partition].append(offset)
    for partition, got in offsets.items():
        expected = list(range(len(got)))
        assert sorted(got) == expected, (
            f"partition {partition}: {what} offsets are not 0..{len(got) - 1}: "
            f"missing {sorted(set(expected) - set(got))[:10]}, "
            f"beyond {sorted(set(got) - set(expected))[:10]}"
        )


def consumed_records(consumers: Sequence[Sequence[Event]]) -> list[tuple[int, int, str]]:
    """Every record_data of every consumer, as (partition, offset, value)."""
    return [
        (e["partition"], e["offset"], e["value"])
        for events in consumers
        for e in events
        if e["name"] == "record_data"
    ]


def check_consumed(
    acked: Mapping[tuple[int, int], str], consumers: Sequence[Sequence[Event]]
) -> None:
    """The group consumed exactly the acknowledged records, each once."""
    seen = Counter((p, o) for p, o, _v in consumed_records(consumers))
    twice = sorted(k for k, n in seen.items() if n > 1)
    assert not twice, f"{len(twice)} records consumed more than once, first {twice[:10]}"
    missing = sorted(set(acked) - set(seen))
    assert not missing, f"{len(missing)} acknowledged records never consumed, first {missing[:10]}"
    extra = sorted(set(seen) - set(acked))
    assert not extra, f"{len(extra)} records consumed that were never acknowledged: {extra[:10]}"
    wrong = [(p, o, v) for p, o, v in consumed_records(consumers) if acked[(p, o)] != v]
    assert not wrong, f"records consumed with another value than acknowledged: {wrong[:10]}"


def last_assignment(events: Sequence[Event]) -> set[int]:
    """The partitions a consumer held after its last rebalance (eager protocol:
    each ``partitions_assigned`` is the whole assignment)."""
    assigned = [e for e in events if e["name"] == "partitions_assigned"]
    return {p["partition"] for p in assigned[-1]["partitions"]} if assigned else set()


def check_rebalanced(consumers: Sequence[Sequence[Event]], partitions: int) -> None:
    """The group's last rebalance completed: each member holds partitions, no
    partition twice, all of them covered; and every commit succeeded."""
    held = [last_assignment(events) for events in consumers]
    assert all(held), f"a member holds no partition after the rebalance: {held}"
    flat = [p for h in held for p in h]
    assert sorted(flat) == list(range(partitions)), f"assignments {held} of {partitions}"
    failed = [
        e for events in consumers for e in events
        if e["name"] == "offsets_committed" and not e["success"]
    ]  # fmt: skip
    assert not failed, f"{len(failed)} offset commits failed, first: {failed[0]}"
