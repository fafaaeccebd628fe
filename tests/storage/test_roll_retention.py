"""Segment rolling, retention, and the log start offset."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from crc32c import crc32c

from broker.storage import PartitionLog, errors
from broker.storage.config import LogConfig
from broker.storage.errors import KafkaStorageError
from tests.storage.batches import build_batch, decode_records

NOW = 1_700_000_000_000
HOUR = 3_600_000


def _open(tmp_path: Path, config: LogConfig, now_ms: int = NOW) -> PartitionLog:
    return PartitionLog.open(tmp_path / "t-0", config, now_ms)


def _without_timestamps(data: bytes) -> bytes:
    out = bytearray(data)
    struct.pack_into(">qq", out, 27, -1, -1)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def test_roll_by_segment_bytes(tmp_path: Path) -> None:
    size = len(build_batch(2, value_size=100))
    config = LogConfig(segment_bytes=3 * size, index_interval_bytes=1)
    log = _open(tmp_path, config)
    for i in range(7):
        log.append(build_batch(2, timestamp=NOW + 10 * i, value_size=100), 0, NOW)
    assert log.segment_base_offsets == [0, 6, 12]
    first = log.directory / "00000000000000000000"
    # A rolled segment's indexes are trimmed to their entries; the roll asks
    # the owner for a flush, which moves the recovery point.
    assert log.flush_due and log.recovery_point == 0
    log.flush()
    assert os.path.getsize(f"{first}.log") == 3 * size
    # The first batch of a segment is never indexed (position 0 is implied).
    assert os.path.getsize(f"{first}.index") == 2 * 8
    # The roll's final time entry repeats the last one's timestamp: not added.
    assert os.path.getsize(f"{first}.timeindex") == 2 * 12
    assert log.recovery_point == 14
    assert [r[0] for r in decode_records(log.read(5, 10_000).records)] == [4, 5]
    log.close()


def test_roll_without_flush_on_roll(tmp_path: Path) -> None:
    batch = build_batch(2, value_size=100)
    config = LogConfig(segment_bytes=2 * len(batch), flush_on_roll=False)
    log = _open(tmp_path, config)
    for _ in range(5):
        log.append(batch, 0, NOW)
    assert len(log.segment_base_offsets) == 3 and log.recovery_point == 0
    assert not log.flush_due
    log.flush()
    assert log.recovery_point == 10
    log.close()


def test_roll_by_segment_ms_uses_record_time(tmp_path: Path) -> None:
    log = _open(tmp_path, LogConfig(segment_ms=HOUR))
    log.append(build_batch(1, timestamp=NOW), 0, NOW)
    log.append(build_batch(1, timestamp=NOW + HOUR), 0, NOW + 10 * HOUR)
    assert log.segment_base_offsets == [0]  # waited exactly segment.ms: not yet
    log.append(build_batch(1, timestamp=NOW + HOUR + 1), 0, NOW)
    assert log.segment_base_offsets == [0, 2]
    log.close()


def test_roll_by_segment_ms_without_timestamps_uses_creation_time(tmp_path: Path) -> None:
    log = _open(tmp_path, LogConfig(segment_ms=HOUR), now_ms=0)
    log.append(_without_timestamps(build_batch(1)), 0, 10)
    log.append(_without_timestamps(build_batch(1)), 0, HOUR)
    assert log.segment_base_offsets == [0]
    log.append(_without_timestamps(build_batch(1)), 0, HOUR + 1)
    assert log.segment_base_offsets == [0, 2]
    assert decode_records(log.read(0, 10_000).records)[0][1] == -1
    log.close()


def test_roll_when_an_index_is_full(tmp_path: Path) -> None:
    config = LogConfig(segment_index_bytes=8 * 3, index_interval_bytes=0)
    log = _open(tmp_path, config)
    for i in range(8):
        log.append(build_batch(1, timestamp=NOW + i), 0, NOW)
    # 3 offset-index entries, but the time index (2 slots, one reserved)
    # fills first: every other batch starts a segment.
    assert log.segment_base_offsets == [0, 2, 4, 6]
    assert [r[0] for r in decode_records(log.read(0, 1 << 20).records)] == [0, 1]
    log.close()


def _three_segments(tmp_path: Path, config: LogConfig) -> tuple[PartitionLog, int]:
    batch_size = len(build_batch(2, value_size=100))
    log = _open(tmp_path, config)
    for i in range(9):
        epoch = 1 + i // 4
        log.append(build_batch(2, timestamp=NOW + i * HOUR, value_size=100), epoch, NOW)
    assert log.segment_base_offsets == [0, 6, 12]
    return log, batch_size


def _config(retention_bytes: int = -1) -> LogConfig:
    batch_size = len(build_batch(2, value_size=100))
    return LogConfig(segment_bytes=3 * batch_size, retention_ms=-1, retention_bytes=retention_bytes)


def test_retention_bytes_deletes_oldest_whole_segments(tmp_path: Path) -> None:
    size = len(build_batch(2, value_size=100))
    log, _ = _three_segments(tmp_path, _config(retention_bytes=6 * size - 1))
    assert log.delete_old_segments(NOW, high_watermark=log.log_end_offset) == 1
    assert log.segment_base_offsets == [6, 12] and log.log_start_offset == 6
    assert not (log.directory / "00000000000000000000.log").exists()
    # Batches 0-3 were epoch 1 (offsets 0-7): epoch 1 now starts at the log start.
    assert log.epoch_cache.entries == [(1, 6), (2, 8), (3, 16)]
    with pytest.raises(KafkaStorageError) as exc:
        log.read(5, 100)
    assert exc.value.error_code == errors.OFFSET_OUT_OF_RANGE
    assert log.delete_old_segments(NOW, high_watermark=log.log_end_offset) == 0
    log.close()


def test_retention_never_reaches_the_high_watermark(tmp_path: Path) -> None:
    log, _ = _three_segments(tmp_path, _config(retention_bytes=0))
    assert log.delete_old_segments(NOW, high_watermark=11) == 1  # segment 6..11 holds 11
    assert log.segment_base_offsets == [6, 12]
    assert log.delete_old_segments(NOW, high_watermark=12) == 1
    assert log.delete_old_segments(NOW, high_watermark=17) == 0  # the log end is 18
    # Everything below the high watermark: the active segment goes too, after a roll.
    assert log.delete_old_segments(NOW, high_watermark=18) == 1
    assert log.segment_base_offsets == [18] and log.log_start_offset == 18
    assert log.log_end_offset == 18
    info = log.append(build_batch(1), 3, NOW)
    assert info.base_offset == 18
    log.close()


def test_retention_ms_by_largest_timestamp(tmp_path: Path) -> None:
    log, _ = _three_segments(tmp_path, _config())
    log.close()
    config = LogConfig(segment_bytes=log.config.segment_bytes, retention_ms=2 * HOUR)
    reopened = _open(tmp_path, config)  # largest timestamps come from the time index
    # Segment 0's largest timestamp is NOW+2h+1, segment 6's NOW+5h+1.
    assert reopened.delete_old_segments(NOW + 4 * HOUR + 1, high_watermark=18) == 0
    assert reopened.delete_old_segments(NOW + 4 * HOUR + 2, high_watermark=18) == 1
    assert reopened.delete_old_segments(NOW + 7 * HOUR + 2, high_watermark=18) == 1
    assert reopened.segment_base_offsets == [12] and reopened.log_start_offset == 12
    reopened.close()


def test_advance_log_start_offset(tmp_path: Path) -> None:
    log, _ = _three_segments(tmp_path, _config())
    assert log.advance_log_start_offset(7)
    assert not log.advance_log_start_offset(3)
    assert log.segment_base_offsets == [6, 12] and log.log_start_offset == 7
    with pytest.raises(KafkaStorageError) as exc:
        log.read(6, 100)
    assert exc.value.error_code == errors.OFFSET_OUT_OF_RANGE
    result = log.read(7, 10_000)
    assert result.first_offset == 6  # the batch holding 7 starts at 6
    with pytest.raises(KafkaStorageError) as exc:
        log.advance_log_start_offset(19)
    assert exc.value.error_code == errors.OFFSET_OUT_OF_RANGE
    del result
    log.abandon()  # persisted even without a clean shutdown
    reopened = _open(tmp_path, _config())
    assert reopened.log_start_offset == 7
    assert reopened.epoch_cache.entries[0].start_offset == 7
    reopened.close()


def test_update_config_applies_to_the_active_segment(tmp_path: Path) -> None:
    log = _open(tmp_path, LogConfig())
    log.append(build_batch(2, value_size=100), 0, NOW)
    log.append(build_batch(2, value_size=100), 0, NOW)
    assert log.segment_base_offsets == [0]
    log.update_config(LogConfig(segment_bytes=len(build_batch(2, value_size=100)) * 2))
    log.append(build_batch(2, value_size=100), 0, NOW)
    assert log.segment_base_offsets == [0, 4]
    log.close()
