"""Consumer-group members as processes, and the checks ``compat/test_groups.py`` makes.

``Member`` runs one group member (``compat/groups_member.py`` for the Python
clients, ``compat/node/group-member.js`` for KafkaJS) as a subprocess and
collects the JSON events it prints (see ``groups_member``'s docstring) on a
reader thread. ``stop()`` asks it to leave cleanly (exit code 0 asserted),
``kill()`` sends SIGKILL; every wait has a deadline.

The checks:

- ``check_exactly_once``: every produced record was processed, with its key;
  nothing else was; and no record was processed again after a processing
  whose commit succeeded. A re-read of a record whose processing was not
  covered by a successful commit (its member was killed, or the commit
  failed in a rebalance) is what at-least-once allows; those are counted,
  not failed.
- ``settle_time``: from the members' assignment events, when the live
  members' assignments first became disjoint, non-empty and complete.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compat import tools
from compat.broker_process import REPO_ROOT

PYTHON_CLIENTS = ("kafka-python", "aiokafka", "confluent-kafka")
ALL_CLIENTS = (*PYTHON_CLIENTS, "kafkajs")

NODE_SCRIPT = tools.NODE_DIR / "group-member.js"
STOP_TIMEOUT_S = 20.0  # a clean stop: finish a batch, commit, leave, exit


def now_ms() -> float:
    return time.time() * 1000


@dataclass(frozen=True)
class MemberConfig:
    client: str
    bootstrap: str
    topic: str
    group: str
    name: str
    session_ms: int = 6000
    heartbeat_ms: int = 1000
    max_records: int = 20
    delay_ms: int = 5
    assignors: Sequence[str] | None = None
    lifetime_s: int = 150

    def as_json(self) -> str:
        doc = dict(self.__dict__)
        doc["assignors"] = list(self.assignors) if self.assignors else None
        return json.dumps(doc)


def member_command(config: MemberConfig) -> list[str]:
    if config.client == "kafkajs":
        node = tools.require_tool("node", tools.node_path())
        tools.require_tool("kafkajs", tools.kafkajs_dir())
        return [node, str(NODE_SCRIPT), config.as_json()]
    if config.client not in PYTHON_CLIENTS:
        raise ValueError(f"unknown client {config.client!r}")
    return [sys.executable, "-m", "compat.groups_member", config.as_json()]


@dataclass
class Processing:
    """One record processed by one member in one batch."""

    member: str
    t: float
    batch: int
    partition: int
    offset: int
    key: str | None


class Member:
    """One group member process and the events it has reported so far."""

    def __init__(self, config: MemberConfig, log_dir: Path) -> None:
        self.config = config
        self.name = config.name
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self.stderr_path = log_dir / f"{config.name}.stderr"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                member_command(config),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=tools.NODE_DIR if config.client == "kafkajs" else REPO_ROOT,
                env=env,
                start_new_session=True,
            )
        self.killed_at: float | None = None
        self.stopped_at: float | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # a line cut short by SIGKILL
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        self.proc.stdout.close()
        with self._cond:
            self._cond.notify_all()

    # -- waiting -----------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.events)

    def wait_for(
        self, ok: Callable[[list[dict[str, Any]]], bool], timeout_s: float, what: str
    ) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not ok(self.events):
                self._raise_on_error()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.name}: {what} not seen within {timeout_s:.0f} s")
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        f"{self.name} exited ({self.proc.returncode}) before {what}:\n"
                        + self.stderr_tail()
                    )
                self._cond.wait(min(left, 0.2))

    def _raise_on_error(self) -> None:
        errors = [e for e in self.events if e["ev"] == "error"]
        if errors:
            raise AssertionError(f"{self.name} failed: {errors[0]['error']}\n" + self.stderr_tail())

    def check_no_error(self) -> None:
        with self._cond:
            self._raise_on_error()

    # -- views ---------------------------------------------------------------------

    def assignment(self) -> frozenset[int] | None:
        """The latest assignment reported (None before the first)."""
        for e in reversed(self.snapshot()):
            if e["ev"] == "assignment":
                return frozenset(e["partitions"])
        return None

    def assigned(self) -> bool:
        return bool(self.assignment())

    def processings(self) -> list[Processing]:
        out = []
        for e in self.snapshot():
            if e["ev"] == "records":
                for partition, offset, key in e["recs"]:
                    out.append(Processing(self.name, e["t"], e["batch"], partition, offset, key))
        return out

    def committed_batches(self) -> set[int]:
        return {e["batch"] for e in self.snapshot() if e["ev"] == "committed"}

    def failed_commits(self) -> list[str]:
        return [e["error"] for e in self.snapshot() if e["ev"] == "commit_failed"]

    def first_time(self, ev: str) -> float:
        for e in self.snapshot():
            if e["ev"] == ev:
                return float(e["t"])
        raise AssertionError(f"{self.name}: no {ev!r} event")

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle -----------------------------------------------------------------

    def live(self) -> bool:
        return self.killed_at is None and self.stopped_at is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Ask for a clean stop (leave the group); exit code 0 within the deadline."""
        self.request_stop()
        self.wait_stopped(timeout_s)

    def request_stop(self) -> None:
        """Ask for a clean stop without waiting (``wait_stopped`` waits)."""
        self.stopped_at = now_ms()
        self._send_stop()

    def wait_stopped(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._hard_kill()
            raise AssertionError(
                f"{self.name} still running {timeout_s:.0f} s after 'stop'; killed it:\n"
                + self.stderr_tail()
            ) from None
        self._reader.join(5)
        self.check_no_error()
        assert code == 0, f"{self.name} exited {code} on stop:\n{self.stderr_tail()}"

    def _send_stop(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.write(b"stop\n")
            self.proc.stdin.flush()
            self.proc.stdin.close()

    def kill(self) -> float:
        """SIGKILL; the wall-clock millisecond it was sent."""
        self.killed_at = now_ms()
        self._hard_kill()
        return self.killed_at

    def _hard_kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self._reader.join(5)

    def close(self) -> None:
        """Cleanup: kill a process still running, close its pipes."""
        self._hard_kill()


class Members:
    """The members a test started; all are killed at the end, whatever happens."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.all: list[Member] = []

    def start(self, config: MemberConfig) -> Member:
        member = Member(config, self.log_dir)
        self.all.append(member)
        return member

    def live(self) -> list[Member]:
        return [m for m in self.all if m.live()]

    def stop_live(self) -> None:
        """Stop every live member cleanly, all at once."""
        live = self.live()
        for m in live:
            m.request_stop()
        for m in live:
            m.wait_stopped()

    def close(self) -> None:
        for m in self.all:
            m.close()

    def check_no_error(self) -> None:
        for m in self.all:
            m.check_no_error()

    def processings(self) -> list[Processing]:
        return [p for m in self.all for p in m.processings()]

    def committed(self) -> dict[str, set[int]]:
        return {m.name: m.committed_batches() for m in self.all}

    def dump_events(self) -> list[Path]:
        """Write every member's events to ``<log dir>/<name>.events.jsonl``."""
        paths = []
        for m in self.all:
            path = self.log_dir / f"{m.name}.events.jsonl"
            path.write_text("".join(json.dumps(e) + "\n" for e in m.snapshot()))
            paths.append(path)
        return paths

    def describe(self) -> str:
        lines = []
        for m in self.all:
            state = "live" if m.live() else ("killed" if m.killed_at else "stopped")
            assignment = m.assignment()
            lines.append(
                f"{m.name} ({m.config.client}, {state}, exit {m.proc.poll()}): "
                f"assignment {sorted(assignment) if assignment is not None else None}, "
                f"{len(m.processings())} processed, {len(m.committed_batches())} commits, "
                f"failed commits {m.failed_commits()[:3]}"
            )
            tail = m.stderr_tail(10)
            if tail:
                lines.append("  stderr: " + tail.replace("\n", "\n  stderr: "))
        return "\n".join(lines)


def wait_until(
    probe: Callable[[], bool],
    timeout_s: float,
    what: str,
    *,
    members: Members | None = None,
    interval_s: float = 0.05,
) -> float:
    """Poll ``probe`` until true (bounded); the wall-clock ms it first held."""
    deadline = time.monotonic() + timeout_s
    while True:
        if members is not None:
            members.check_no_error()
        if probe():
            return now_ms()
        if time.monotonic() >= deadline:
            detail = f"\n{members.describe()}" if members is not None else ""
            raise AssertionError(f"{what} not reached within {timeout_s:.0f} s{detail}")
        time.sleep(interval_s)


def balanced(members: Sequence[Member], partitions: int) -> bool:
    """The members' latest assignments are disjoint, non-empty (when there are
    enough partitions) and cover every partition."""
    seen: list[int] = []
    for m in members:
        a = m.assignment()
        if a is None or (not a and len(members) <= partitions):
            return False
        seen += a
    return sorted(seen) == list(range(partitions))


def settle_time(members: Sequence[Member], partitions: int, since_ms: float) -> float:
    """When (wall-clock ms) the members' assignments first became ``balanced``
    after ``since_ms``, replaying their assignment events in time order."""
    timeline = sorted(
        (e["t"], m.name, frozenset(e["partitions"]))
        for m in members
        for e in m.snapshot()
        if e["ev"] == "assignment"
    )
    current: dict[str, frozenset[int] | None] = {m.name: None for m in members}
    for t, name, assignment in timeline:
        current[name] = assignment
        if t < since_ms:
            continue
        held = list(current.values())
        if all(a for a in held) and sorted(p for a in held if a for p in a) == list(
            range(partitions)
        ):
            return float(t)
    raise AssertionError(f"assignments never balanced after {since_ms}: {current}")


# -- the exactly-once check ----------------------------------------------------------


@dataclass
class Outcome:
    processed: int  # processings in all
    unique: int  # distinct records
    redelivered: int  # re-reads of records whose earlier processing was not committed
    per_member: dict[str, int] = field(default_factory=dict)


def check_exactly_once(
    produced: Mapping[tuple[int, int], str],
    processings: Iterable[Processing],
    committed: Mapping[str, set[int]],
) -> Outcome:
    """Every produced record processed; nothing processed after a committed
    processing of the same record; what was re-read counted."""
    by_record: dict[tuple[int, int], list[Processing]] = defaultdict(list)
    per_member: dict[str, int] = defaultdict(int)
    total = 0
    for p in processings:
        by_record[(p.partition, p.offset)].append(p)
        per_member[p.member] += 1
        total += 1
    unknown = sorted(set(by_record) - set(produced))
    assert not unknown, f"processed records that were never produced: {unknown[:10]}"
    lost = sorted(set(produced) - set(by_record))
    assert not lost, f"{len(lost)} records never processed (lost), e.g. {lost[:10]}"
    wrong = [
        (where, [p.key for p in ps])
        for where, ps in by_record.items()
        if any(p.key != produced[where] for p in ps)
    ]
    assert not wrong, f"records read with the wrong key: {wrong[:5]}"
    redelivered = 0
    violations = []
    for where, ps in sorted(by_record.items()):
        ps.sort(key=lambda p: p.t)
        redelivered += len(ps) - 1
        for earlier, later in itertools.pairwise(ps):
            if earlier.batch in committed.get(earlier.member, set()):
                violations.append(
                    f"partition {where[0]} offset {where[1]}: committed by {earlier.member} "
                    f"(batch {earlier.batch}) at {earlier.t:.0f}, read again by "
                    f"{later.member} at {later.t:.0f}"
                )
    assert not violations, (
        f"{len(violations)} records read again after their commit succeeded:\n"
        + "\n".join(violations[:10])
    )
    return Outcome(total, len(by_record), redelivered, dict(per_member))


def fully_committed(
    produced: Mapping[tuple[int, int], str], members: Members
) -> Callable[[], bool]:
    """A probe: every produced record has a processing whose commit succeeded."""

    def probe() -> bool:
        done: set[tuple[int, int]] = set()
        committed = members.committed()
        for p in members.processings():
            if p.batch in committed[p.member]:
                done.add((p.partition, p.offset))
        return set(produced) <= done

    return probe


def count_processed(members: Members) -> Callable[[], int]:
    return lambda: len({(p.partition, p.offset) for p in members.processings()})
