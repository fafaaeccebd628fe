"""Crash recovery: torn tails, flipped bytes, lost or damaged index and checkpoint files."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from broker.storage import PartitionLog
from broker.storage.config import LogConfig
from tests.storage.batches import build_batch, decode_batches

NOW = 1_700_000_000_000


def _config() -> LogConfig:
    return LogConfig(
        segment_bytes=4 * len(build_batch(3, value_size=40)),
        index_interval_bytes=60,
        segment_index_bytes=4096,
    )


def _all_records(log: PartitionLog) -> list[tuple[int, int, bytes]]:
    """Every record, reading segment after segment as a consumer would."""
    out: list[tuple[int, int, bytes]] = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        batches = decode_batches(log.read(offset, 1 << 20).records)
        out += [(r.offset, r.timestamp, bytes(r.value)) for b in batches for r in b]
        offset = batches[-1].last_offset + 1
    return out


class Tail:
    """A log of 10 batches (3 records each, two segments+) whose recovery
    point is the start of the last batch, closed without a clean shutdown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.source = root / "source" / "t-0"
        log = PartitionLog.open(self.source, _config(), NOW)
        for i in range(9):
            log.append(build_batch(3, timestamp=NOW + i, value_size=40), 1 + i // 5, NOW)
        log.flush()
        log.checkpoint()
        self.last_base = log.log_end_offset
        self.last_epoch = 4
        log.append(build_batch(3, timestamp=NOW + 9, value_size=40), self.last_epoch, NOW)
        active = log.active_segment
        self.log_file = active.log_path.name
        self.last_end = active.size
        self.last_start = active.size - len(build_batch(3, value_size=40))
        self.expected = self.all_records(log)
        log.abandon()
        self.runs = 0

    def copy(self) -> Path:
        self.runs += 1
        target = self.root / f"run{self.runs}" / "t-0"
        shutil.copytree(self.source, target)
        return target

    @staticmethod
    def all_records(log: PartitionLog) -> list[tuple[int, int, bytes]]:
        return _all_records(log)

    def check_last_batch_dropped(self, directory: Path, *, then_append: bool = False) -> None:
        log = PartitionLog.open(directory, _config(), NOW)
        assert not log.recovery.clean_shutdown
        assert log.log_end_offset == self.last_base
        assert os.path.getsize(directory / self.log_file) == self.last_start
        assert self.all_records(log) == [r for r in self.expected if r[0] < self.last_base]
        assert log.latest_epoch < self.last_epoch
        if then_append:  # the log is writable again, and reopens cleanly
            info = log.append(build_batch(1), 7, NOW)
            assert info.base_offset == self.last_base
            log.close()
            reopened = PartitionLog.open(directory, _config(), NOW)
            assert reopened.recovery.clean_shutdown
            assert reopened.log_end_offset == self.last_base + 1
            reopened.close()
        else:
            log.abandon()


@pytest.fixture(scope="module")
def tail(tmp_path_factory: pytest.TempPathFactory) -> Tail:
    return Tail(tmp_path_factory.mktemp("tail"))


def test_intact_tail_is_kept(tail: Tail) -> None:
    directory = tail.copy()
    log = PartitionLog.open(directory, _config(), NOW)
    assert log.log_end_offset == tail.last_base + 3
    assert tail.all_records(log) == tail.expected
    assert log.recovery.segments_recovered == 1 and log.recovery.bytes_truncated == 0
    # Recovery fsyncs nothing; the recovery point moves at the next flush.
    assert log.recovery_point == tail.last_base
    log.flush()
    assert log.recovery_point == log.log_end_offset
    log.close()


def test_log_cut_at_every_byte_of_the_last_batch(tail: Tail) -> None:
    for cut in range(tail.last_start, tail.last_end):
        directory = tail.copy()
        os.truncate(directory / tail.log_file, cut)
        # Appending after recovery costs fsyncs; do it at a few cuts.
        tail.check_last_batch_dropped(directory, then_append=cut % 50 == 0)
        shutil.rmtree(directory.parent)


def test_every_byte_of_the_last_batch_flipped(tail: Tail) -> None:
    """Including the 12 header bytes the CRC does not cover: baseOffset is
    checked by contiguity and partitionLeaderEpoch against the epoch cache."""
    rng = random.Random(20240611)
    for position in range(tail.last_start, tail.last_end):
        directory = tail.copy()
        with open(directory / tail.log_file, "r+b") as f:
            f.seek(position)
            byte = f.read(1)[0]
            f.seek(position)
            f.write(bytes([byte ^ rng.randrange(1, 256)]))
        tail.check_last_batch_dropped(directory, then_append=position % 50 == 0)
        shutil.rmtree(directory.parent)


def test_zero_filled_tail_is_cut(tail: Tail) -> None:
    directory = tail.copy()
    with open(directory / tail.log_file, "ab") as f:
        f.write(bytes(4096))
    log = PartitionLog.open(directory, _config(), NOW)
    assert log.log_end_offset == tail.last_base + 3
    assert os.path.getsize(directory / tail.log_file) == tail.last_end
    log.close()


def test_corruption_before_the_last_segment_drops_later_segments(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "t-0", _config(), NOW)
    for i in range(12):
        log.append(build_batch(3, timestamp=NOW + i, value_size=40), 1, NOW)
    assert log.segment_base_offsets == [0, 12, 24]
    first_segment_size = log.size_in_bytes // 3
    log.abandon()  # recovery point 0: everything is rescanned
    with open(tmp_path / "t-0" / "00000000000000000012.log", "r+b") as f:
        f.seek(first_segment_size - 5)
        f.write(b"\xde\xad")
    reopened = PartitionLog.open(tmp_path / "t-0", _config(), NOW)
    assert reopened.segment_base_offsets == [0, 12]
    assert reopened.log_end_offset == 21
    assert not (tmp_path / "t-0" / "00000000000000000024.log").exists()
    assert reopened.recovery.bytes_truncated == first_segment_size + len(
        build_batch(3, value_size=40)
    )
    reopened.close()


def _filled(tmp_path: Path) -> tuple[PartitionLog, list[tuple[int, int, bytes]]]:
    log = PartitionLog.open(tmp_path / "t-0", _config(), NOW)
    for i in range(14):
        log.append(build_batch(3, timestamp=NOW + i, value_size=40), 1 + i // 4, NOW)
    return log, _all_records(log)


def _lookups(log: PartitionLog) -> list[object]:
    return [
        [decode_batches(log.read(o, 1).records)[0].base_offset for o in range(log.log_end_offset)],
        [log.offset_for_timestamp(NOW + i) for i in range(-1, 16)],
        [log.end_offset_for_epoch(e) for e in range(6)],
        log.max_timestamp_and_offset(),
    ]


def test_missing_and_damaged_indexes_are_rebuilt_even_after_clean_shutdown(tmp_path: Path) -> None:
    log, _ = _filled(tmp_path)
    expected = _lookups(log)
    log.close()
    directory = tmp_path / "t-0"
    (directory / "00000000000000000000.index").unlink()
    (directory / "00000000000000000012.timeindex").unlink()
    (directory / "00000000000000000024.index").write_bytes(b"\x00\x00\x00\x05\x7f\x00\x00\x00")
    reopened = PartitionLog.open(directory, _config(), NOW)
    assert reopened.recovery.clean_shutdown and reopened.recovery.segments_recovered == 3
    assert _lookups(reopened) == expected
    reopened.close()


def test_lost_checkpoints(tmp_path: Path) -> None:
    log, records = _filled(tmp_path)
    expected = _lookups(log)
    log.flush()
    log.checkpoint()
    log.abandon()
    directory = tmp_path / "t-0"
    (directory / "recovery-point-offset-checkpoint").unlink()
    (directory / "leader-epoch-checkpoint").write_bytes(b"garbage")
    reopened = PartitionLog.open(directory, _config(), NOW)
    assert reopened.recovery.segments_recovered == len(reopened.segment_base_offsets)
    assert _lookups(reopened) == expected
    assert _all_records(reopened) == records
    reopened.close()


def test_leftover_files_are_removed(tmp_path: Path) -> None:
    log, _ = _filled(tmp_path)
    log.close()
    directory = tmp_path / "t-0"
    for name in ("00000000000000000012.log.tmp", "00000000000000000099.index", "x.deleted"):
        (directory / name).write_bytes(b"junk")
    reopened = PartitionLog.open(directory, _config(), NOW)
    names = {p.name for p in directory.iterdir()}
    assert not names & {"00000000000000000012.log.tmp", "00000000000000000099.index", "x.deleted"}
    reopened.close()


@pytest.mark.parametrize("how", ["late_flush", "truncation"])
def test_power_loss_never_leaves_a_batch_of_an_epoch_the_checkpoint_lacks(
    tmp_path: Path, how: str
) -> None:
    """A batch can reach the disk without its epoch's checkpoint: an fsync
    that began before the append (a flush running in a worker thread)
    covers it, or a truncation fsyncs the segment; the epoch checkpoint,
    written after the flush captured its files, is not synced.  After a
    power loss recovery must not keep that batch with an epoch cache that
    does not know its epoch (found by the Raft simulator on the storage
    engine: a leader answered every fetch with a divergence to offset 0)."""
    from broker.storage.power_loss import PowerLossDisk

    with PowerLossDisk(tmp_path) as disk:
        path = tmp_path / "node" / "t-0"
        path.parent.mkdir()
        log = PartitionLog.open(path, LogConfig(), NOW)
        # A durable epoch checkpoint that knows no epoch (a log cut back to 0).
        log.append(build_batch(1), 1, NOW)
        log.flush()
        log.truncate_to(0, NOW)
        log.flush()
        if how == "late_flush":
            pending = log.begin_flush(NOW)  # captures log end 0 and no checkpoint
            log.append(build_batch(1), 11, NOW)
            pending.run()  # the fdatasync covers the batch appended meanwhile
            log.end_flush(pending)
        else:
            log.append(build_batch(2), 11, NOW)
            log.append(build_batch(1), 11, NOW)
            log.truncate_to(2, NOW)  # fsyncs the segment
        log.abandon()
        disk.crash(path.parent)
        log = PartitionLog.open(path, LogConfig(), NOW)
        epochs = {batch.leader_epoch for batch in decode_batches(log.read(0, 1 << 20).records)}
        known = {entry.epoch for entry in log.epoch_cache.entries}
        assert epochs <= known, (epochs, known, log.log_end_offset)
