"""The shell reads wall-clock time through the node's one clock (broker/clock.py).

A scan checks that no shell module reads the system's time itself; the other
tests run a node on a :class:`TrioClock` under ``MockClock(autojump_threshold=0)``
and see LogAppendTime, ``retention.ms`` and ``flush.ms`` follow the simulated
time exactly. Its start is far from the real date, so a stray system-time read
would show.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from broker.clock import TrioClock
from tests.admin.helpers import create, partition, produce
from tests.broker.helpers import client_batch, make_node

ROOT = Path(__file__).resolve().parents[2] / "broker"
CLOCK = ROOT / "clock.py"
# Reads of the system's clocks, as ``module.function``.
WALL_CLOCK_READS = {
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.perf_counter",
    "time.perf_counter_ns",
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
}
START_MS = 4_000_000_000_000  # the year 2096


async def when(clock: TrioClock, condition: Callable[[], bool]) -> int:
    """The clock's time once ``condition`` holds (checked every simulated
    0.1 s, for at most a simulated hour)."""
    for _ in range(36_000):
        if condition():
            return clock.now_ms()
        await trio.sleep(0.1)
    raise AssertionError("not within an hour")


def shell_modules() -> list[Path]:
    found = sorted(ROOT.glob("*.py"))
    for package in ("api", "net", "storage", "controller"):
        found += sorted((ROOT / package).rglob("*.py"))
    return [p for p in found if p != CLOCK]


def clock_reads(source: str) -> list[str]:
    reads = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            reads += [f"from {node.module} import {a.name}" for a in node.names]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            name = f"{node.value.id}.{node.attr}"
            if name in WALL_CLOCK_READS:
                reads.append(name)
    return reads


def test_the_scan_sees_a_clock_read() -> None:
    assert clock_reads("import time\nnow = int(time.time() * 1000)\n") == ["time.time"]
    assert clock_reads("from time import monotonic\n") == ["from time import monotonic"]
    assert {"node.py", "partitions.py", "groups.py", "produce.py", "quorum.py", "log.py"} <= {
        p.name for p in shell_modules()
    }


@pytest.mark.parametrize("path", shell_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_module_reads_no_clock_of_its_own(path: Path) -> None:
    assert clock_reads(path.read_text()) == []


async def test_log_append_time_follows_the_clock(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    node = make_node(tmp_path, clock=TrioClock(START_MS))
    await node.register([("127.0.0.1", 9092)])
    await create(node, "t", {"message.timestamp.type": "LogAppendTime"})
    first = await produce(node, "t", client_batch([b"a"]))
    await trio.sleep(30)
    second = await produce(node, "t", client_batch([b"b"]))
    assert second.log_append_time_ms - first.log_append_time_ms == 30_000
    assert abs(first.log_append_time_ms - START_MS) < 60_000
    await node.shutdown()


async def test_retention_and_flush_ms_follow_the_clock(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    clock = TrioClock(START_MS)
    node = make_node(tmp_path, "log.retention.check.interval.ms=1000", clock=clock)
    await node.register([("127.0.0.1", 9092)])
    await create(node, "old", {"retention.ms": "60000", "segment.bytes": "200"})
    await create(node, "lazy", {"write.caching": "true", "flush.ms": "10000"})
    old, lazy = partition(node, "old"), partition(node, "lazy")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(node._housekeeping)
        records_ms = clock.now_ms()
        for _ in range(3):  # three segments whose records carry the clock's time
            batch = client_batch([b"x" * 100], timestamp=records_ms)
            assert (await produce(node, "old", batch)).error_code == 0
        assert len(old.log.segment_base_offsets) == 3
        assert (await produce(node, "lazy", client_batch([b"y"]), acks=-1)).error_code == 0
        produced_ms = clock.now_ms()
        assert lazy.log.recovery_point == 0 and old.log.log_start_offset == 0
        # MockClock jumps ahead whenever every task waits, even while a worker
        # thread runs, so simulated time may run ahead of the work: wait for
        # each effect, then check it did not come before its time.
        flushed_ms = await when(clock, lambda: lazy.log.recovery_point == 1)
        # flush.ms counts from the last flush, or the last tick with nothing to flush.
        assert flushed_ms - produced_ms >= 10_000 - 1_000
        # Every segment expired; the active one is rolled, then deleted too.
        deleted_ms = await when(clock, lambda: old.log.log_start_offset == 3)
        assert deleted_ms - records_ms > 60_000
        nursery.cancel_scope.cancel()
    await node.shutdown()


async def test_retention_runs_every_check_interval_not_every_tick(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Records with old timestamps survive until the first retention check,
    one ``log.retention.check.interval.ms`` after start, as on Kafka (librdkafka's
    0052 writes 1970 timestamps and reads them back seconds later)."""
    clock = TrioClock(START_MS)
    node = make_node(tmp_path, "log.retention.check.interval.ms=60000", clock=clock)
    await node.register([("127.0.0.1", 9092)])
    await create(node, "old", {"retention.ms": "1000", "segment.bytes": "200"})
    old = partition(node, "old")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(node._housekeeping)
        for _ in range(3):
            batch = client_batch([b"x" * 100], timestamp=1_000)  # 1970
            assert (await produce(node, "old", batch)).error_code == 0
        await trio.sleep(30)  # six flush ticks, no retention check yet
        assert old.log.log_start_offset == 0
        deleted_ms = await when(clock, lambda: old.log.log_start_offset == 3)
        assert deleted_ms - START_MS >= 60_000
        nursery.cancel_scope.cancel()
    await node.shutdown()
