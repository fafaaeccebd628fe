"""PartitionLog: append, read, lookups, fsync policy, follower appends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.storage import PartitionLog, errors
from broker.storage.batch import parse_header
from broker.storage.config import LOG_APPEND_TIME, LogConfig
from broker.storage.errors import KafkaStorageError, LogStateError
from tests.storage.batches import GZIP, LZ4, ZSTD, build_batch, decode_batches, decode_records

NOW = 1_700_000_000_000
SMALL = LogConfig(segment_bytes=4_000, index_interval_bytes=300, segment_index_bytes=8 * 64)


def _open(tmp_path: Path, config: LogConfig = SMALL, now_ms: int = NOW) -> PartitionLog:
    return PartitionLog.open(tmp_path / "topic-0", config, now_ms)


def _fill(log: PartitionLog, batches: int, per_batch: int = 3, epoch: int = 1) -> None:
    for i in range(batches):
        log.append(build_batch(per_batch, timestamp=NOW + 10 * i, value_size=50), epoch, NOW)


def test_new_log_layout(tmp_path: Path) -> None:
    log = _open(tmp_path)
    assert (log.log_start_offset, log.log_end_offset, log.recovery_point) == (0, 0, 0)
    names = sorted(p.name for p in log.directory.iterdir())
    assert names == [
        "00000000000000000000.index",
        "00000000000000000000.log",
        "00000000000000000000.timeindex",
    ]
    assert os.path.getsize(log.directory / "00000000000000000000.index") == 8 * 64
    log.close()


def test_append_assigns_offsets_and_stamps_epoch(tmp_path: Path) -> None:
    log = _open(tmp_path)
    first = log.append(build_batch(3, timestamp=NOW), 5, NOW)
    second = log.append(build_batch(2, timestamp=NOW + 9), 5, NOW)
    assert (first.base_offset, first.last_offset, first.record_count) == (0, 2, 3)
    assert (second.base_offset, second.last_offset) == (3, 4)
    assert second.max_timestamp == NOW + 9 + 1 and second.offset_of_max_timestamp == 4
    assert second.log_append_time == -1
    assert log.log_end_offset == 5 and log.latest_epoch == 5
    batches = decode_batches(log.read(0, 10_000).records)
    assert [(b.base_offset, b.leader_epoch) for b in batches] == [(0, 5), (3, 5)]
    assert [r[0] for r in decode_records(log.read(0, 10_000).records)] == [0, 1, 2, 3, 4]
    log.close()


def test_append_of_several_batches_in_one_blob(tmp_path: Path) -> None:
    log = _open(tmp_path)
    blob = build_batch(2) + build_batch(4) + build_batch(1)
    info = log.append(memoryview(blob), 0, NOW)
    assert (info.base_offset, info.last_offset, info.record_count) == (0, 6, 7)
    assert [b.base_offset for b in decode_batches(log.read(0, 10_000).records)] == [0, 2, 6]
    log.close()


def test_append_rejects_bad_input(tmp_path: Path) -> None:
    log = _open(tmp_path)
    with pytest.raises(KafkaStorageError) as exc:
        log.append(b"", 0, NOW)
    assert exc.value.error_code == errors.INVALID_RECORD
    big = build_batch(1, value_size=5_000)
    with pytest.raises(KafkaStorageError) as exc:
        log.append(big, 0, NOW)
    assert exc.value.error_code == errors.RECORD_LIST_TOO_LARGE
    log.append(build_batch(1), 3, NOW)
    with pytest.raises(LogStateError):
        log.append(build_batch(1), 2, NOW)  # epochs never go back
    assert log.log_end_offset == 1
    log.close()


@pytest.mark.parametrize("compression", [0, GZIP, LZ4, ZSTD])
def test_log_append_time(tmp_path: Path, compression: int) -> None:
    log = _open(tmp_path, LogConfig(message_timestamp_type=LOG_APPEND_TIME))
    log.append(build_batch(2, timestamp=5, compression=compression, value_size=200), 0, NOW)
    info = log.append(build_batch(3, timestamp=5, compression=compression), 0, NOW + 1)
    assert info.log_append_time == NOW + 1 and info.max_timestamp == NOW + 1
    records = decode_records(log.read(0, 100_000).records)  # CRCs valid
    assert [(o, t) for o, t, _ in records] == [(0, NOW), (1, NOW)] + [
        (o, NOW + 1) for o in (2, 3, 4)
    ]
    assert log.offset_for_timestamp(NOW + 1) == (NOW + 1, 2, 0)
    assert log.max_timestamp_and_offset() == (NOW + 1, 2, 0)
    log.close()


def test_read_limits_return_whole_batches(tmp_path: Path) -> None:
    log = _open(tmp_path, LogConfig(index_interval_bytes=100))
    sizes = []
    for i in range(10):
        data = build_batch(2, timestamp=NOW + i, value_size=40 + 10 * i)
        sizes.append(len(data))
        log.append(data, 0, NOW)
    everything = log.read(0, 1 << 20)
    assert len(everything.records) == sum(sizes) and everything.first_offset == 0
    # The first batch holding offset 5 starts at 4 and is returned whole.
    result = log.read(5, sizes[2] + sizes[3] + 1)
    assert result.first_offset == 4
    assert [b.base_offset for b in decode_batches(result.records)] == [4, 6]
    # max_bytes below one batch: still one batch, unless min_one_batch is off.
    assert len(log.read(5, 1).records) == sizes[2]
    assert len(log.read(5, 1, min_one_batch=False).records) == 0
    # max_offset (the high watermark) excludes the batch holding it and after.
    bounded = log.read(0, 1 << 20, max_offset=7)
    assert [b.base_offset for b in decode_batches(bounded.records)] == [0, 2, 4]
    assert len(log.read(7, 1 << 20, max_offset=7).records) == 0
    assert log.read(20, 100).records.nbytes == 0  # at the log end: empty
    for bad in (-1, 21):
        with pytest.raises(KafkaStorageError) as exc:
            log.read(bad, 100)
        assert exc.value.error_code == errors.OFFSET_OUT_OF_RANGE
    del everything, result, bounded
    log.close()


def test_read_returns_views_of_the_file_mapping(tmp_path: Path) -> None:
    log = _open(tmp_path)
    log.append(build_batch(2), 0, NOW)
    view = log.read(0, 1 << 20).records
    assert view.readonly and view.obj is not None and type(view.obj).__name__ == "mmap"
    log.append(build_batch(2), 0, NOW)  # file grows: the view stays valid
    assert decode_records(view)[0][0] == 0
    assert len(log.read(0, 1 << 20).records) == 2 * len(view)
    log.close()  # closing with a pinned view is fine
    assert decode_records(view)[1][0] == 1


def test_read_moves_across_segments(tmp_path: Path) -> None:
    log = _open(tmp_path)
    _fill(log, 40)
    assert len(log.segment_base_offsets) >= 3
    offsets = []
    next_offset = 0
    while next_offset < log.log_end_offset:
        result = log.read(next_offset, 700)
        batches = decode_batches(result.records)
        assert batches and batches[0].base_offset <= next_offset <= batches[0].last_offset
        offsets += [r.offset for b in batches for r in b if r.offset >= next_offset]
        next_offset = batches[-1].last_offset + 1
    assert offsets == list(range(120))
    log.close()


def test_flush_messages_policy_asks_the_owner_to_flush(tmp_path: Path) -> None:
    log = _open(tmp_path, LogConfig(flush_messages=5))
    log.append(build_batch(3), 0, NOW)
    assert not log.flush_due and log.recovery_point == 0
    log.append(build_batch(3), 0, NOW)
    # The append itself never fsyncs (it runs on the owner's thread).
    assert log.flush_due and log.recovery_point == 0
    log.flush()
    assert not log.flush_due and log.recovery_point == 6
    every = _open(tmp_path / "b", LogConfig(flush_messages=1))
    every.append(build_batch(1), 0, NOW)
    assert every.flush_due
    every.flush()
    assert every.recovery_point == 1
    log.close()
    every.close()


def test_recovery_point_stops_where_the_flush_began(tmp_path: Path) -> None:
    """A batch appended while a flush runs (in a worker thread) is not
    covered by it: the recovery point moves to the end captured at its start."""
    log = _open(tmp_path, LogConfig(flush_messages=1))
    log.append(build_batch(2), 0, NOW)
    pending = log.begin_flush()
    log.append(build_batch(3), 0, NOW)  # the owner keeps appending meanwhile
    pending.run()
    log.end_flush(pending)
    assert log.recovery_point == 2 and log.flush_due
    log.flush()
    assert log.recovery_point == 5
    log.close()


def test_a_flush_started_before_a_roll_leaves_the_rolled_segment_due(tmp_path: Path) -> None:
    batch = build_batch(2, value_size=100)
    log = _open(tmp_path, LogConfig(segment_bytes=2 * len(batch)))
    log.append(batch, 0, NOW)
    pending = log.begin_flush()
    for _ in range(2):
        log.append(batch, 0, NOW)  # rolls while the flush runs
    assert log.segment_base_offsets == [0, 4]
    with pytest.raises(LogStateError):  # the worker may be using the segments' files
        log.delete_old_segments(NOW, log.log_end_offset)
    pending.run()
    log.end_flush(pending)
    assert log.recovery_point == 2 and log.flush_due  # the roll still wants its flush
    log.flush()
    assert log.recovery_point == 6 and not log.flush_due
    log.close()


def test_a_failed_flush_leaves_everything_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _open(tmp_path, LogConfig(flush_messages=1))
    log.append(build_batch(2), 0, NOW)
    pending = log.begin_flush()

    def fail(fd: int) -> None:
        raise OSError(5, "EIO")

    monkeypatch.setattr(os, "fdatasync", fail)
    with pytest.raises(OSError):
        pending.run()
    log.abort_flush(pending)
    monkeypatch.undo()
    assert log.flush_due and log.recovery_point == 0
    log.flush()
    assert log.recovery_point == 2
    log.close()


def test_flush_ms_policy_is_driven_by_the_caller(tmp_path: Path) -> None:
    log = _open(tmp_path, LogConfig(flush_ms=1_000), now_ms=0)
    assert not log.maybe_flush(5_000)  # nothing to flush
    log.append(build_batch(2), 0, 5_100)
    assert not log.maybe_flush(5_999)
    assert log.recovery_point == 0
    assert log.maybe_flush(6_000)
    assert log.recovery_point == 2
    never = _open(tmp_path / "b", LogConfig(), now_ms=0)
    never.append(build_batch(2), 0, 0)
    assert not never.maybe_flush(10**15)
    assert never.recovery_point == 0
    never.flush()
    assert never.recovery_point == 2
    log.close()
    never.close()


def test_checkpoint_and_clean_reopen(tmp_path: Path) -> None:
    log = _open(tmp_path)
    _fill(log, 30, epoch=2)
    log.append(build_batch(1), 4, NOW)
    end, bases = log.log_end_offset, log.segment_base_offsets
    log.close()
    assert (log.directory / ".kafka_cleanshutdown").exists()
    reopened = _open(tmp_path)
    assert not (reopened.directory / ".kafka_cleanshutdown").exists()
    assert reopened.recovery.clean_shutdown and reopened.recovery.segments_recovered == 0
    assert (reopened.log_end_offset, reopened.segment_base_offsets) == (end, bases)
    assert reopened.recovery_point == end
    assert [(e.epoch, e.start_offset) for e in reopened.epoch_cache.entries] == [(2, 0), (4, 90)]
    reopened.append(build_batch(1), 4, NOW)
    assert [r[0] for r in decode_records(reopened.read(90, 10_000).records)] == [90, 91]
    reopened.close()


def test_follower_append_keeps_leader_bytes(tmp_path: Path) -> None:
    leader = _open(tmp_path / "leader")
    leader.append(build_batch(3), 1, NOW)
    leader.append(build_batch(2), 3, NOW)
    leader.append(build_batch(4), 3, NOW)
    fetched = bytes(leader.read(0, 1 << 20).records)
    follower = _open(tmp_path / "follower")
    info = follower.append_as_follower(fetched, NOW)
    assert (info.base_offset, info.last_offset, info.record_count) == (0, 8, 9)
    assert bytes(follower.read(0, 1 << 20).records) == fetched
    assert follower.epoch_cache.entries == leader.epoch_cache.entries
    assert follower.end_offset_for_epoch(1) == (1, 3)
    with pytest.raises(LogStateError):
        follower.append_as_follower(fetched, NOW)  # offsets must continue the log
    corrupt = bytearray(bytes(leader.read(3, 1, min_one_batch=True).records))
    corrupt[-1] ^= 0xFF
    with pytest.raises(KafkaStorageError) as exc:
        _open(tmp_path / "other").append_as_follower(bytes(corrupt), NOW)
    assert exc.value.error_code == errors.CORRUPT_MESSAGE
    leader.close()
    follower.close()


def test_indexes_built_by_appends_equal_rebuilt_ones(tmp_path: Path) -> None:
    log = _open(tmp_path, LogConfig(index_interval_bytes=200))
    for i in range(60):
        log.append(build_batch(1 + i % 3, timestamp=NOW + (i * 37) % 50, value_size=i), 0, NOW)
    active = log.active_segment
    by_append = [active.offset_index.entry(i) for i in range(active.offset_index.entries)]
    times_by_append = [active.time_index.entry(i) for i in range(active.time_index.entries)]
    assert len(by_append) > 10
    log.abandon()
    reopened = _open(tmp_path, LogConfig(index_interval_bytes=200))
    assert reopened.recovery.segments_recovered == 1
    active = reopened.active_segment
    assert [active.offset_index.entry(i) for i in range(active.offset_index.entries)] == by_append
    rebuilt_times = [active.time_index.entry(i) for i in range(active.time_index.entries)]
    assert rebuilt_times[: len(times_by_append)] == times_by_append
    reopened.close()


def test_timestamp_lookups(tmp_path: Path) -> None:
    log = _open(tmp_path)
    log.append(build_batch(3, timestamps=[100, 300, 200]), 0, NOW)
    log.append(build_batch(2, timestamps=[250, 260]), 1, NOW)
    log.append(build_batch(1, timestamps=[300]), 1, NOW)
    assert log.offset_for_timestamp(0) == (100, 0, 0)
    assert log.offset_for_timestamp(101) == (300, 1, 0)
    assert log.offset_for_timestamp(255) == (300, 1, 0)
    assert log.offset_for_timestamp(301) is None
    assert log.max_timestamp_and_offset() == (300, 1, 0)
    log.advance_log_start_offset(2)
    assert log.offset_for_timestamp(101) == (200, 2, 0)
    assert log.offset_for_timestamp(255) == (260, 4, 1)
    assert log.max_timestamp_and_offset() == (300, 5, 1)
    log.close()


def test_leader_epoch_end_offsets(tmp_path: Path) -> None:
    log = _open(tmp_path)
    for epoch, count in ((1, 3), (1, 2), (3, 4), (6, 1)):
        log.append(build_batch(count), epoch, NOW)
    assert log.end_offset_for_epoch(1) == (1, 5)
    assert log.end_offset_for_epoch(2) == (1, 5)
    assert log.end_offset_for_epoch(3) == (3, 9)
    assert log.end_offset_for_epoch(6) == (6, 10)
    assert log.end_offset_for_epoch(7) == (-1, -1)
    assert [log.epoch_for_offset(o) for o in (0, 4, 5, 8, 9)] == [1, 1, 3, 3, 6]
    log.close()


def test_header_of_stored_batch(tmp_path: Path) -> None:
    log = _open(tmp_path)
    log.append(build_batch(2, producer_id=9, producer_epoch=1, base_sequence=4), 2, NOW)
    header = parse_header(log.read(0, 1000).records)
    assert (header.base_offset, header.partition_leader_epoch, header.producer_id) == (0, 2, 9)
    log.close()


def test_append_of_more_batches_than_one_writev_takes(tmp_path: Path) -> None:
    log = _open(tmp_path, LogConfig())
    one = build_batch(1, value_size=1)
    info = log.append(one * 700, 0, NOW)  # 1400 pieces: more than IOV_MAX (1024)
    assert (info.base_offset, info.last_offset) == (0, 699)
    records = decode_records(log.read(0, 1 << 20).records)
    assert [r[0] for r in records] == list(range(700))
    assert log.active_segment.size == 700 * len(one)
    log.close()


def test_follower_append_rejects_an_epoch_going_back(tmp_path: Path) -> None:
    leader = _open(tmp_path / "leader")
    leader.append(build_batch(1), 2, NOW)
    old_epoch = bytes(leader.read(0, 1 << 20).records)
    follower = _open(tmp_path / "follower")
    follower.append_as_follower(old_epoch, NOW)
    newer = bytearray(build_batch(1))
    newer[0:8] = (1).to_bytes(8, "big")
    newer[12:16] = (1).to_bytes(4, "big")  # epoch 1 after epoch 2
    with pytest.raises(LogStateError):
        follower.append_as_follower(bytes(newer), NOW)
    assert follower.log_end_offset == 1 and follower.epoch_cache.entries == [(2, 0)]
    leader.close()
    follower.close()
