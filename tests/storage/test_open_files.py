"""The open-file budget (files.OPEN_FILES) and index space on a full disk.

Idle segments forget their descriptors and mappings and reopen them on
demand; a view handed out keeps its own mapping alive through eviction and
truncation; reads copy once views pin more than the budget. Index space is
allocated before it is stored into, so a full tmpfs is KAFKA_STORAGE_ERROR.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.storage import LogConfig, PartitionLog, errors, files
from tests.storage.batches import build_batch, decode_records
from tests.tmpfs import mounted_tmpfs

REPO = Path(__file__).resolve().parents[2]
CONFIG = LogConfig(segment_bytes=64 << 10, index_interval_bytes=0, segment_index_bytes=4096)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def budget() -> Iterator[files.OpenFiles]:
    files.OPEN_FILES.set_capacity(12)
    try:
        yield files.OPEN_FILES
    finally:
        files.OPEN_FILES.set_capacity(None)


def test_many_logs_hold_at_most_the_budget(tmp_path: Path, budget: files.OpenFiles) -> None:
    before = open_fds()
    evictions = budget.evictions
    logs = [PartitionLog.open(tmp_path / f"t-{i}", CONFIG, 0) for i in range(60)]
    for round_ in range(3):
        for i, log in enumerate(logs):
            log.append(build_batch(2, value=b"%d-%d" % (i, round_)), 1, 0)
    # Each log rolled segments too (64 KiB segments, tiny indexes): reads of
    # every log, old segments included, reopen what they need.
    for i, log in enumerate(logs):
        values = [r[2] for r in decode_records(log.read(0, 1 << 20).records)]
        assert values == [b"%d-%d" % (i, n) for n in range(3) for _ in range(2)]
        assert open_fds() - before <= budget.capacity + 4
    assert budget.evictions > evictions
    assert budget.live <= budget.capacity + 4
    for log in logs:
        log.close()
    reopened = [PartitionLog.open(tmp_path / f"t-{i}", CONFIG, 0) for i in range(60)]
    assert all(log.recovery.clean_shutdown and log.log_end_offset == 6 for log in reopened)
    assert open_fds() - before <= budget.capacity + 4
    for log in reopened:
        log.close()


def test_reads_copy_once_views_pin_more_than_the_budget(
    tmp_path: Path, budget: files.OpenFiles
) -> None:
    logs = [PartitionLog.open(tmp_path / f"t-{i}", CONFIG, 0) for i in range(40)]
    for i, log in enumerate(logs):
        log.append(build_batch(1, value=b"v%d" % i), 1, 0)
    before = open_fds()
    views = [log.read(0, 1 << 20).records for log in logs]  # a Fetch of 40 partitions
    assert open_fds() - before <= budget.capacity + 4  # not one mapping per view
    assert any(isinstance(v.obj, bytes) for v in views)  # the later ones were copied
    assert [decode_records(v)[0][2] for v in views] == [b"v%d" % i for i in range(40)]
    del views
    for log in logs:
        log.close()


EVICTED_VIEW_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from broker.storage import PartitionLog, LogConfig, files
    from tests.storage.batches import build_batch

    files.OPEN_FILES.set_capacity(2)
    base = Path(sys.argv[1])
    log = PartitionLog.open(base / "t-0", LogConfig(), 0)
    for i in range(50):
        log.append(build_batch(5, value_size=4000), 1, 0)
    view = log.read(100, 1 << 30).records       # pins the mapping of the tail
    before = bytes(view)
    others = [PartitionLog.open(base / f"o-{i}", LogConfig(), 0) for i in range(20)]
    for other in others:                        # evicts t-0's handles
        other.append(build_batch(1), 1, 0)
    assert not log.active_segment.holds_handles
    log.truncate_to(10, 0)                      # must still see the pinned mapping
    assert bytes(view) == before                # a SIGBUS if shrunk in place
    log.append(build_batch(1, value_size=10), 2, 0)
    assert log.log_end_offset == 11
    log.close()
    print("ok")
    """
)


def test_a_view_survives_eviction_and_truncation(tmp_path: Path) -> None:
    """A SIGBUS would kill the interpreter, so this runs in a child process."""
    result = subprocess.run(
        [sys.executable, "-c", EVICTED_VIEW_SCRIPT, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path, "1m") as mnt:
        yield mnt


def fill(mnt: Path) -> None:
    with open(mnt / "filler", "wb", buffering=0) as f:
        for size in (1 << 16, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


FULL_INDEX_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from broker.storage import KafkaStorageError, LogConfig, PartitionLog
    from tests.storage.batches import build_batch
    from tests.storage.test_open_files import fill

    mnt = Path(sys.argv[1])
    log = PartitionLog.open(mnt / "t-0", LogConfig(index_interval_bytes=0), 0)
    # Every batch after the first adds an 8-byte offset index entry: after
    # 512 of them the index page is full. Size the first batch so that the
    # .log then ends 100 bytes into a page: the next batches fit in the .log
    # without new space, but their index entries need a new page.
    small = len(build_batch(1, value_size=1))
    first = (100 - 512 * small) % 4096
    first += 4096 if first < 200 else 0
    padding = first - len(build_batch(1, value_size=0))
    while len(build_batch(1, value_size=padding)) > first:  # longer varints
        padding -= 1
    assert len(build_batch(1, value_size=padding)) == first
    log.append(build_batch(1, value_size=padding), 1, 0)
    for i in range(512):
        log.append(build_batch(1, value_size=1), 1, 0)
    assert log.active_segment.size % 4096 == 100
    fill(mnt)
    codes = []
    for i in range(600):      # fits in the .log's page; the indexes need new pages
        try:
            log.append(build_batch(1, value_size=1), 1, 0)
            codes.append(0)
        except KafkaStorageError as exc:
            codes.append(exc.error_code)
    print(sorted(set(codes)), log.log_end_offset, log.active_segment.size, flush=True)
    log.abandon()
    """
)


def test_full_tmpfs_index_is_a_storage_error_not_sigbus(tmpfs: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FULL_INDEX_SCRIPT, str(tmpfs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    codes, end, size = result.stdout.strip().rsplit(" ", 2)
    seen = set(json.loads(codes))
    assert errors.KAFKA_STORAGE_ERROR in seen and seen <= {0, errors.KAFKA_STORAGE_ERROR}
    assert os.path.getsize(tmpfs / "t-0" / "00000000000000000000.log") == int(size)
    os.unlink(tmpfs / "filler")
    log = PartitionLog.open(tmpfs / "t-0", LogConfig(index_interval_bytes=0), 0)
    assert log.log_end_offset == int(end)  # recovery kept every appended batch
    assert [r[0] for r in decode_records(log.read(0, 1 << 20).records)] == list(range(int(end)))
    log.close()
