"""Truncation to an offset (Raft divergence) and full truncation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from broker.storage import PartitionLog
from broker.storage.config import LogConfig
from tests.storage.batches import build_batch, decode_batches, decode_records

NOW = 1_700_000_000_000
REPO = Path(__file__).resolve().parents[2]


def _config() -> LogConfig:
    return LogConfig(segment_bytes=3 * len(build_batch(3, value_size=60)), index_interval_bytes=50)


def _log(tmp_path: Path, batches: int = 10) -> PartitionLog:
    """`batches` batches of 3 records; epoch 1 for the first 4, then 2."""
    log = PartitionLog.open(tmp_path / "t-0", _config(), NOW)
    for i in range(batches):
        log.append(build_batch(3, timestamp=NOW + i, value_size=60), 1 if i < 4 else 2, NOW)
    return log


def test_truncate_at_batch_boundary_in_active_segment(tmp_path: Path) -> None:
    log = _log(tmp_path)
    assert log.segment_base_offsets == [0, 9, 18, 27]
    assert log.truncate_to(27, NOW) is True
    assert log.log_end_offset == 27 and log.segment_base_offsets == [0, 9, 18, 27]
    assert log.truncate_to(30, NOW) is False
    log.append(build_batch(1), 5, NOW)
    assert [r[0] for r in decode_records(log.read(24, 10_000).records)] == [24, 25, 26]
    assert [b.base_offset for b in decode_batches(log.read(27, 10_000).records)] == [27]
    log.close()


def test_truncate_removes_a_straddling_batch_whole(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.truncate_to(23, NOW)  # batch 21..23 holds 23: it goes
    assert log.log_end_offset == 21
    assert log.segment_base_offsets == [0, 9, 18]
    assert [r[0] for r in decode_records(log.read(18, 10_000).records)] == [18, 19, 20]
    log.close()


def test_truncate_across_segments_then_append_and_lookup(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.truncate_to(12, NOW)
    assert log.segment_base_offsets == [0, 9] and log.log_end_offset == 12
    assert not (log.directory / "00000000000000000018.log").exists()
    # The epoch that started at 12 is gone; epoch 1 ended there.
    assert log.epoch_cache.entries == [(1, 0)]
    assert log.end_offset_for_epoch(1) == (1, 12)
    assert log.recovery_point <= 12
    # The old segment is active again: its index grows back and works.
    for i in range(4):
        log.append(build_batch(3, timestamp=NOW + 100 + i, value_size=60), 3, NOW)
    assert log.segment_base_offsets == [0, 9, 18]
    for offset in range(0, log.log_end_offset):
        first = decode_batches(log.read(offset, 1).records)[0]
        assert first.base_offset <= offset <= first.last_offset
    assert log.offset_for_timestamp(NOW + 100) == (NOW + 100, 12, 3)
    assert log.end_offset_for_epoch(1) == (1, 12)
    log.close()


def test_truncate_below_first_segment_restarts_the_log(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.advance_log_start_offset(10)
    log.delete_old_segments(NOW, high_watermark=30)
    assert log.segment_base_offsets[0] == 9
    log.truncate_to(5, NOW)
    assert log.segment_base_offsets == [5]
    assert (log.log_start_offset, log.log_end_offset) == (5, 5)
    assert log.epoch_cache.entries == []
    info = log.append(build_batch(2), 7, NOW)
    assert info.base_offset == 5
    log.close()


def test_truncation_survives_a_crash(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.flush()
    log.checkpoint()
    log.truncate_to(13, NOW)
    log.abandon()  # no clean shutdown, recovery point file still says 30
    reopened = PartitionLog.open(tmp_path / "t-0", _config(), NOW)
    assert reopened.log_end_offset == 12
    assert reopened.epoch_cache.entries == [(1, 0)]
    reopened.close()


def test_truncate_fully_and_start_at(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.truncate_fully_and_start_at(1_000, NOW)
    assert log.segment_base_offsets == [1_000]
    assert (log.log_start_offset, log.log_end_offset, log.recovery_point) == (1_000,) * 3
    fetched = build_batch(2)
    stamped = (1_000).to_bytes(8, "big") + fetched[8:12] + (9).to_bytes(4, "big") + fetched[16:]
    log.append_as_follower(stamped, NOW)
    log.close()
    reopened = PartitionLog.open(tmp_path / "t-0", _config(), NOW)
    assert (reopened.log_start_offset, reopened.log_end_offset) == (1_000, 1_002)
    assert reopened.epoch_cache.entries == [(9, 1_000)]
    reopened.close()


PINNED_VIEW_SCRIPT = textwrap.dedent(
    """
    import sys
    from broker.storage import PartitionLog, LogConfig
    from tests.storage.batches import build_batch

    log = PartitionLog.open(sys.argv[1], LogConfig(), 0)
    for i in range(50):
        log.append(build_batch(5, value_size=4000), 1, 0)
    view = log.read(100, 1 << 30).records       # pins the mapping of the tail
    before = bytes(view)
    log.truncate_to(10, 0)                      # shrinks the file under the view
    for i in range(3):
        log.append(build_batch(1, value_size=10), 2, 0)
    assert bytes(view) == before                # would be SIGBUS if shrunk in place
    assert log.log_end_offset == 13
    del view
    log.truncate_to(5, 0)                       # nothing pinned: truncated in place
    log.close()
    print("ok")
    """
)


def test_truncation_under_a_pinned_view_never_faults(tmp_path: Path) -> None:
    """A SIGBUS would kill the interpreter, so this runs in a child process."""
    result = subprocess.run(
        [sys.executable, "-c", PINNED_VIEW_SCRIPT, str(tmp_path / "t-0")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    reopened = PartitionLog.open(tmp_path / "t-0", LogConfig(), 0)
    assert reopened.recovery.clean_shutdown and reopened.log_end_offset == 5
    assert [r[0] for r in decode_records(reopened.read(0, 1 << 20).records)] == [0, 1, 2, 3, 4]
    reopened.close()
