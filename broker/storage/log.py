"""A partition's log: an ordered list of segments, and the Raft log.

Theory of operation
-------------------
The log is a list of segments with increasing base offsets; only the last
one, the *active* segment, is appended to. Offsets are assigned here: the
leader path (`append`) gives each batch the next offset and stamps it with the
leader epoch; the follower path (`append_as_follower`) keeps the offsets and
epochs the leader assigned, so that a Raft follower's log is byte for byte the
leader's. Either way the leader-epoch cache learns a new epoch before the
first batch of that epoch reaches the file.

Offsets kept here:

* ``log_start_offset``: the first offset a reader may ask for. Moved forward
  by DeleteRecords and by retention; never backward except by a truncation
  below it.
* ``log_end_offset``: one past the last appended offset.
* ``recovery_point``: everything below it is fsynced. It moves when the log is
  flushed (by the owner, when the fsync policy or a roll asks for it) and is
  checkpointed by `checkpoint` and `close`; a stale checkpoint only costs
  rescanning.

The high watermark belongs to Raft; it is passed in where it matters (read
bounds, retention). The class is synchronous and single-owner: one task calls
it, on its own thread.

Flushing without blocking the owner. Appends, rolls and checkpoints never
fsync: they write to the page cache and note what needs an fsync (the active
segment, rolled segments, the directory after a segment was created or
deleted, checkpoint files). A flush is three steps: `begin_flush` (owner's
thread) captures the log end offset and that list; `PendingFlush.run` does the
fsyncs and may run in a worker thread while the owner keeps appending;
`end_flush` (owner's thread) moves the recovery point to the offset captured
at the start, never further, since a batch appended while the fsync ran may
not be covered by it. `flush_due` tells the owner when the fsync policy
(``flush.messages``) or a roll (``flush_on_roll``) wants a flush. `flush` does
the three steps in one call. While a flush runs, the owner must not delete or
truncate segments (`delete_old_segments`, `advance_log_start_offset`,
`truncate_to`, `close`): the worker is using their files.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from broker.storage import checkpoint, errors, files
from broker.storage.batch import (
    HEADER_SIZE,
    MAGIC_V2,
    PREFIX,
    BytesLike,
    crc_matches,
    log_append_time_header,
    split_batches,
)
from broker.storage.config import LOG_APPEND_TIME, LogConfig
from broker.storage.epoch_cache import EpochEndOffset, LeaderEpochCache
from broker.storage.errors import KafkaStorageError, LogStateError
from broker.storage.records import first_offset_with_timestamp
from broker.storage.recovery import load_segments, rebuild_epochs_from_headers
from broker.storage.segment import LogSegment

NO_TIMESTAMP = -1

_SegmentPredicate = Callable[[LogSegment, int], bool]


class AppendInfo(NamedTuple):
    base_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    log_append_time: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int
    record_count: int
    size_in_bytes: int


@dataclass(frozen=True, slots=True)
class ReadResult:
    records: memoryview  # whole batches, a view of the segment's mapping
    first_offset: int  # base offset of the first batch (<= the offset asked for); -1 if empty
    log_start_offset: int
    log_end_offset: int


class TimestampAndOffset(NamedTuple):
    timestamp: int
    offset: int
    leader_epoch: int


@dataclass(frozen=True, slots=True)
class RecoveryStats:
    clean_shutdown: bool
    segments_recovered: int
    bytes_truncated: int


class PendingFlush:
    """The fsyncs that make a log durable up to ``end_offset``, captured by
    `PartitionLog.begin_flush`. `run` touches only the files captured here, so
    it may run in a worker thread while the owner appends to the log."""

    __slots__ = ("active", "directory", "end_offset", "files", "messages", "rolled", "sync_dir")

    def __init__(
        self,
        directory: Path,
        end_offset: int,
        rolled: list[LogSegment],
        active: LogSegment,
        files: list[Path],
        sync_dir: bool,
        messages: int,
    ) -> None:
        self.directory = directory
        self.end_offset = end_offset
        self.rolled = rolled
        self.active = active
        self.files = files
        self.sync_dir = sync_dir
        self.messages = messages

    def run(self) -> None:
        # Checkpoints and segment names first: data is only durable once its
        # file's name is, and the epochs it carries are in the epoch checkpoint.
        for path in self.files:
            checkpoint.sync_file(path)
        if self.sync_dir or self.files:
            files.fsync_dir(self.directory)
        for segment in self.rolled:
            segment.flush_all()
        self.active.flush()


class PartitionLog:
    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        segments: list[LogSegment],
        log_start_offset: int,
        recovery_point: int,
        epoch_cache: LeaderEpochCache,
        now_ms: int,
        recovery: RecoveryStats,
    ) -> None:
        self.directory = directory
        self.config = config
        self._segments = segments
        self._bases = [s.base_offset for s in segments]
        self._log_start_offset = log_start_offset
        self._recovery_point = recovery_point
        self.epoch_cache = epoch_cache
        self._unflushed_messages = 0
        self._unflushed_segments: list[LogSegment] = []
        self._roll_flush_due = False
        self._dir_unsynced = False  # a segment was created or deleted since the last flush
        self._files_unsynced: set[Path] = set()  # checkpoints written since the last flush
        self._flushing: PendingFlush | None = None
        self._last_flush_ms = now_ms
        self.recovery = recovery
        self._closed = False

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], config: LogConfig, now_ms: int
    ) -> PartitionLog:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        clean = checkpoint.has_clean_shutdown_marker(path)
        checkpoint.remove_clean_shutdown_marker(path)
        recovery_point = checkpoint.read_offset(path / checkpoint.RECOVERY_POINT_CHECKPOINT) or 0
        log_start_offset = (
            checkpoint.read_offset(path / checkpoint.LOG_START_OFFSET_CHECKPOINT) or 0
        )
        epoch_cache = LeaderEpochCache(path / checkpoint.LEADER_EPOCH_CHECKPOINT)
        epoch_cache_trusted = epoch_cache.loaded
        loaded = load_segments(
            path,
            config,
            now_ms,
            clean_shutdown=clean,
            recovery_point=recovery_point,
            epoch_cache=epoch_cache,
            epoch_cache_trusted=epoch_cache_trusted,
            log_start_offset=log_start_offset,
        )
        segments = loaded.segments
        if not segments:
            segments.append(LogSegment(path, log_start_offset, config, now_ms, new=True))
            # An fsynced append is only durable if its file's name is.
            files.fsync_dir(path)
            files.fsync_dir(path.parent)
        elif not epoch_cache_trusted:
            epoch_cache.clear()
            rebuild_epochs_from_headers(segments, epoch_cache)
        log_end_offset = segments[-1].next_offset
        log_start_offset = max(log_start_offset, segments[0].base_offset)
        segments[-1].on_become_active()
        stats = RecoveryStats(clean, len(loaded.recovered), loaded.bytes_truncated)
        durable = log_end_offset if clean else min(recovery_point, log_end_offset)
        log = cls(path, config, segments, log_start_offset, durable, epoch_cache, now_ms, stats)
        for segment in loaded.recovered:
            if segment is segments[-1]:
                segment.unflushed = True
            else:
                log._unflushed_segments.append(segment)
        epoch_cache.truncate_from_end(log_end_offset)
        if log_start_offset > log_end_offset:
            log.truncate_fully_and_start_at(log_start_offset, now_ms)
        epoch_cache.truncate_from_start(log.log_start_offset)
        return log

    # -- offsets ---------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._segments[-1].next_offset

    @property
    def recovery_point(self) -> int:
        return self._recovery_point

    @property
    def latest_epoch(self) -> int:
        return self.epoch_cache.latest_epoch

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def segment_base_offsets(self) -> list[int]:
        return list(self._bases)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments[-1]

    def update_config(self, config: LogConfig) -> None:
        """Apply changed topic configs (AlterConfigs). They take effect from
        the next append, roll or retention pass; index files already created
        keep their size."""
        self.config = config
        for segment in self._segments:
            segment.config = config

    # -- appending --------------------------------------------------------------

    def append(self, records: BytesLike, leader_epoch: int, now_ms: int) -> AppendInfo:
        """Append validated batches as leader: assign offsets from the log end
        offset and stamp `leader_epoch` (and LogAppendTime if configured)."""
        view = memoryview(records)
        batches = split_batches(view)
        if not batches:
            raise KafkaStorageError(errors.INVALID_RECORD, "no record batch to append")
        if leader_epoch < self.epoch_cache.latest_epoch:
            raise LogStateError(f"append in epoch {leader_epoch} after {self.latest_epoch}")
        log_append_time = now_ms if self.config.message_timestamp_type == LOG_APPEND_TIME else -1
        next_offset = self.log_end_offset
        base_offset = next_offset
        pieces: list[BytesLike] = []
        metas: list[tuple[int, int, int]] = []
        max_timestamp, offset_of_max, record_count = NO_TIMESTAMP, -1, 0
        for position, header in batches:
            size = header.size_in_bytes
            last_offset = next_offset + header.last_offset_delta
            if log_append_time >= 0:
                stamped = log_append_time_header(
                    view, position, header, next_offset, leader_epoch, log_append_time
                )
                pieces += (stamped, view[position + HEADER_SIZE : position + size])
                batch_max_timestamp = log_append_time
            else:
                prefix = PREFIX.pack(next_offset, header.batch_length, leader_epoch)
                pieces += (prefix, view[position + PREFIX.size : position + size])
                batch_max_timestamp = header.max_timestamp
            if batch_max_timestamp > max_timestamp:
                max_timestamp, offset_of_max = batch_max_timestamp, last_offset
            metas.append((last_offset, batch_max_timestamp, size))
            record_count += header.last_offset_delta + 1
            next_offset = last_offset + 1
        self._append_stamped(
            pieces,
            metas,
            len(view),
            base_offset,
            next_offset - 1,
            max_timestamp,
            now_ms,
            [(leader_epoch, base_offset)],
        )
        self._after_append(record_count, now_ms)
        return AppendInfo(
            base_offset,
            next_offset - 1,
            max_timestamp,
            offset_of_max,
            log_append_time,
            self._log_start_offset,
            record_count,
            len(view),
        )

    def append_as_follower(self, records: BytesLike, now_ms: int) -> AppendInfo:
        """Append batches exactly as the leader stored them (offsets, epochs,
        CRC untouched). Each batch is checked (magic, CRC32C, increasing
        offsets from the log end offset) since it came over the network."""
        view = memoryview(records)
        batches = split_batches(view)
        if not batches:
            raise KafkaStorageError(errors.INVALID_RECORD, "no record batch to append")
        expected = self.log_end_offset
        metas: list[tuple[int, int, int]] = []
        epochs: list[tuple[int, int]] = []
        max_timestamp, offset_of_max, record_count = NO_TIMESTAMP, -1, 0
        for position, header in batches:
            if header.magic != MAGIC_V2:
                raise KafkaStorageError(errors.CORRUPT_MESSAGE, f"magic {header.magic}")
            if not crc_matches(view, position, header):
                raise KafkaStorageError(errors.CORRUPT_MESSAGE, f"CRC mismatch at {position}")
            if header.base_offset != expected or header.last_offset_delta < 0:
                raise LogStateError(
                    f"follower batch at offset {header.base_offset}, expected {expected}"
                )
            epoch = header.partition_leader_epoch
            if epoch < (epochs[-1][0] if epochs else self.epoch_cache.latest_epoch):
                # Raft truncates a diverging suffix before appending the leader's.
                raise LogStateError(f"follower batch epoch {epoch} after a later epoch")
            if header.max_timestamp > max_timestamp:
                max_timestamp, offset_of_max = header.max_timestamp, header.last_offset
            metas.append((header.last_offset, header.max_timestamp, header.size_in_bytes))
            epochs.append((header.partition_leader_epoch, header.base_offset))
            record_count += header.last_offset_delta + 1
            expected = header.next_offset
        first_offset = batches[0][1].base_offset
        self._append_stamped(
            [view], metas, len(view), first_offset, expected - 1, max_timestamp, now_ms, epochs
        )
        self._after_append(record_count, now_ms)
        return AppendInfo(
            first_offset,
            expected - 1,
            max_timestamp,
            offset_of_max,
            -1,
            self._log_start_offset,
            record_count,
            len(view),
        )

    def _append_stamped(
        self,
        pieces: list[BytesLike],
        metas: list[tuple[int, int, int]],
        size: int,
        first_offset: int,
        last_offset: int,
        max_timestamp: int,
        now_ms: int,
        epochs: list[tuple[int, int]],
    ) -> None:
        if size > self.config.segment_bytes:
            raise KafkaStorageError(
                errors.RECORD_LIST_TOO_LARGE,
                f"{size} bytes exceed segment.bytes {self.config.segment_bytes}",
            )
        self._check_open()
        active = self._segments[-1]
        if active.should_roll(size, max_timestamp, last_offset, now_ms):
            self._roll(max(first_offset, self.log_end_offset), now_ms)
        elif active.size == 0 and active.base_offset != first_offset:
            # An empty active segment takes the base offset of its first batch.
            self._replace_empty_active(first_offset, now_ms)
        # The epoch cache must know an epoch before the log holds it.
        for epoch, base in epochs:
            if epoch >= 0 and epoch > self.epoch_cache.latest_epoch:
                self.epoch_cache.assign(epoch, base)
        try:
            self._segments[-1].append(pieces, metas, size)
        except KafkaStorageError:
            # Nothing was appended: an epoch assigned for it has no batch.
            self.epoch_cache.truncate_from_end(self.log_end_offset)
            raise

    def _after_append(self, record_count: int, now_ms: int) -> None:
        self._unflushed_messages += record_count

    # -- reading -----------------------------------------------------------------

    def read(
        self,
        offset: int,
        max_bytes: int,
        max_offset: int | None = None,
        *,
        min_one_batch: bool = True,
    ) -> ReadResult:
        """Whole batches starting with the one that holds `offset`, at most
        `max_bytes` (but at least one batch if `min_one_batch`), none holding
        an offset >= `max_offset` (pass the high watermark for consumers).

        The first batch may start before `offset` (clients skip the records
        below what they asked for, as with Kafka). One segment per read.
        """
        self._check_open()
        log_end_offset = self.log_end_offset
        if offset < self._log_start_offset or offset > log_end_offset:
            raise KafkaStorageError(
                errors.OFFSET_OUT_OF_RANGE,
                f"offset {offset} outside [{self._log_start_offset}, {log_end_offset}]",
            )
        empty = ReadResult(memoryview(b""), -1, self._log_start_offset, log_end_offset)
        if offset == log_end_offset or (max_offset is not None and offset >= max_offset):
            return empty
        for i in range(max(0, bisect.bisect_right(self._bases, offset) - 1), len(self._segments)):
            found = self._segments[i].read(offset, max_bytes, max_offset, min_one_batch)
            if found is not None:
                view, first = found
                if not view:
                    return empty
                return ReadResult(view, first.base_offset, self._log_start_offset, log_end_offset)
        return empty

    def offset_for_timestamp(self, timestamp: int) -> TimestampAndOffset | None:
        """ListOffsets by time: the first record at or after the log start
        offset whose timestamp is >= `timestamp`; None if there is none."""
        for segment in self._segments:
            if segment.max_timestamp >= timestamp:
                found = self._search_segment(segment, timestamp)
                if found is not None:
                    return found
        return None

    def max_timestamp_and_offset(self) -> TimestampAndOffset | None:
        """ListOffsets MAX_TIMESTAMP: the largest timestamp in the log and the
        first record carrying it (None if no batch has a timestamp)."""
        best: LogSegment | None = None
        best_timestamp = NO_TIMESTAMP
        for segment in self._segments:  # ties: the earliest segment wins
            timestamp = segment.max_timestamp_from(self._log_start_offset)
            if timestamp > best_timestamp:
                best, best_timestamp = segment, timestamp
        return None if best is None else self._search_segment(best, best_timestamp)

    def _search_segment(self, segment: LogSegment, timestamp: int) -> TimestampAndOffset | None:
        mm = segment.mapped()
        for batch in segment.batches_for_timestamp(timestamp, self._log_start_offset):
            assert mm is not None
            view = memoryview(mm)[batch.position : batch.position + batch.size]
            found = first_offset_with_timestamp(view, timestamp, self._log_start_offset)
            view.release()
            if found is not None:
                return TimestampAndOffset(found[0], found[1], batch.partition_leader_epoch)
        return None

    def end_offset_for_epoch(self, epoch: int) -> EpochEndOffset:
        """OffsetsForLeaderEpoch / Raft divergence: where `epoch` ends here."""
        return self.epoch_cache.end_offset_for(epoch, self.log_end_offset)

    def epoch_for_offset(self, offset: int) -> int:
        return self.epoch_cache.epoch_for_offset(offset)

    # -- truncation and log start ----------------------------------------------------

    def truncate_to(self, offset: int, now_ms: int) -> bool:
        """Remove every batch holding an offset >= `offset` (Raft divergence).
        A batch straddling `offset` is removed whole, so the new log end offset
        may be below `offset`. The truncation is fsynced before returning."""
        self._check_not_flushing()
        if offset < 0:
            raise ValueError(f"negative truncation offset {offset}")
        if offset >= self.log_end_offset:
            return False
        if offset < self._segments[0].base_offset:
            self.truncate_fully_and_start_at(offset, now_ms)
            return True
        while len(self._segments) > 1 and self._segments[-1].base_offset > offset:
            self._drop_last_segment()
        active = self._segments[-1]
        if active in self._unflushed_segments:
            self._unflushed_segments.remove(active)
        active.on_become_active()
        new_end = active.truncate_to(offset)
        active.flush()
        files.fsync_dir(self.directory)
        self.epoch_cache.truncate_from_end(new_end)
        self._recovery_point = min(self._recovery_point, new_end)
        if self._log_start_offset > new_end:
            self._log_start_offset = new_end
            self.checkpoint()
        return True

    def _drop_last_segment(self) -> None:
        segment = self._segments.pop()
        self._bases.pop()
        if segment in self._unflushed_segments:
            self._unflushed_segments.remove(segment)
        segment.delete()

    def truncate_fully_and_start_at(self, offset: int, now_ms: int) -> None:
        """Delete everything; the log restarts empty at `offset` (a follower
        far behind a leader whose log now starts later)."""
        self._check_not_flushing()
        for segment in self._segments:
            segment.delete()
        self._unflushed_segments.clear()
        self._segments = [LogSegment(self.directory, offset, self.config, now_ms, new=True)]
        self._bases = [offset]
        files.fsync_dir(self.directory)
        self.epoch_cache.clear()
        self._log_start_offset = offset
        self._recovery_point = offset
        self._unflushed_messages = 0
        self.checkpoint()

    def advance_log_start_offset(self, offset: int) -> bool:
        """DeleteRecords: make `offset` the first readable offset and delete
        the segments wholly below it. The caller checks `offset` against the
        high watermark; here it may not pass the log end offset. The new log
        start offset is checkpointed, durably once the log is next flushed."""
        self._check_not_flushing()
        if offset > self.log_end_offset:
            raise KafkaStorageError(
                errors.OFFSET_OUT_OF_RANGE,
                f"log start offset {offset} > log end offset {self.log_end_offset}",
            )
        if offset <= self._log_start_offset:
            return False
        self._log_start_offset = offset
        self._truncate_epochs_from_start()
        path = self.directory / checkpoint.LOG_START_OFFSET_CHECKPOINT
        checkpoint.write_offset(path, offset, durable=False)
        self._files_unsynced.add(path)  # durable at the next flush
        self._delete_prefix(self._deletable_count(lambda seg, upper: upper <= offset, offset))
        return True

    def _truncate_epochs_from_start(self) -> None:
        self.epoch_cache.truncate_from_start(self._log_start_offset)
        # An epoch starting at the log end offset has no batch left (the log
        # start caught up with the end); reopening would drop it, so drop it now.
        self.epoch_cache.truncate_from_end(self.log_end_offset)

    # -- roll and retention ---------------------------------------------------------

    def _roll(self, base_offset: int, now_ms: int) -> None:
        old = self._segments[-1]
        if old.size == 0:
            self._replace_empty_active(base_offset, now_ms)
            return
        old.on_become_inactive()
        new = LogSegment(self.directory, base_offset, self.config, now_ms, new=True)
        self._segments.append(new)
        self._bases.append(base_offset)
        self._dir_unsynced = True
        self._unflushed_segments.append(old)
        if self.config.flush_on_roll:
            self._roll_flush_due = True

    def _replace_empty_active(self, base_offset: int, now_ms: int) -> None:
        if self._segments[-1].base_offset == base_offset:
            return
        self._segments.pop().delete()
        self._bases.pop()
        self._segments.append(
            LogSegment(self.directory, base_offset, self.config, now_ms, new=True)
        )
        self._bases.append(base_offset)
        self._dir_unsynced = True

    def roll(self, now_ms: int) -> None:
        """Start a new segment at the log end offset (no-op if the active one is empty)."""
        self._check_open()
        self._roll(self.log_end_offset, now_ms)

    def delete_old_segments(self, now_ms: int, high_watermark: int) -> int:
        """Retention: delete whole segments below the log start offset, then
        by ``retention.bytes``, then by ``retention.ms``; only segments whose
        every offset is below `high_watermark`. Returns how many went."""
        self._check_not_flushing()
        deleted = self._delete_prefix(
            self._deletable_count(
                lambda seg, upper: upper <= self._log_start_offset, high_watermark
            )
        )
        if self.config.retention_bytes >= 0:
            excess = self.size_in_bytes - self.config.retention_bytes

            def over_size(segment: LogSegment, upper: int) -> bool:
                nonlocal excess
                if excess - segment.size < 0:
                    return False
                excess -= segment.size
                return True

            if excess >= 0:
                deleted += self._delete_prefix(self._deletable_count(over_size, high_watermark))
        if self.config.retention_ms >= 0:
            retention_ms = self.config.retention_ms
            deleted += self._delete_prefix(
                self._deletable_count(
                    lambda seg, upper: now_ms - seg.largest_timestamp > retention_ms,
                    high_watermark,
                )
            )
        if deleted:
            self.checkpoint()
        return deleted

    def _deletable_count(self, predicate: _SegmentPredicate, high_watermark: int) -> int:
        count = 0
        last = len(self._segments) - 1
        for i, segment in enumerate(self._segments):
            upper = self._segments[i + 1].base_offset if i < last else self.log_end_offset
            if i == last and segment.size == 0:
                break
            if upper > high_watermark or not predicate(segment, upper):
                break
            count += 1
        return count

    def _delete_prefix(self, count: int) -> int:
        if count == 0:
            return 0
        if count == len(self._segments):
            self._roll(self.log_end_offset, self._segments[-1].created_ms)
        for _ in range(count):
            segment = self._segments.pop(0)
            self._bases.pop(0)
            if segment in self._unflushed_segments:
                self._unflushed_segments.remove(segment)
            segment.delete()
        self._dir_unsynced = True
        if self._segments[0].base_offset > self._log_start_offset:
            self._log_start_offset = self._segments[0].base_offset
            self._truncate_epochs_from_start()
        return count

    # -- durability -----------------------------------------------------------------

    @property
    def flush_due(self) -> bool:
        """The fsync policy wants a flush now: ``flush.messages`` messages
        were appended since the last one, or a segment was rolled (with
        ``flush_on_roll``). The owner flushes; appends never do."""
        return self._roll_flush_due or self._unflushed_messages >= self.config.flush_messages

    @property
    def flushing(self) -> bool:
        return self._flushing is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def begin_flush(self, now_ms: int | None = None) -> PendingFlush:
        """Capture what a flush must fsync to make everything appended so far
        durable. Run the result (in a worker thread if you like), then pass it
        to `end_flush`, or to `abort_flush` if it raised."""
        self._check_open()
        if self._flushing is not None:
            raise LogStateError(f"log {self.directory} is already being flushed")
        files_unsynced = self._files_unsynced
        if self.epoch_cache.unsynced:
            files_unsynced.add(self.epoch_cache.path)
            self.epoch_cache.unsynced = False
        pending = PendingFlush(
            self.directory,
            self.log_end_offset,
            list(self._unflushed_segments),
            self._segments[-1],
            sorted(files_unsynced),
            self._dir_unsynced,
            self._unflushed_messages,
        )
        self._files_unsynced = set()
        self._dir_unsynced = False
        self._roll_flush_due = False
        self._unflushed_messages = 0
        self._flushing = pending
        if now_ms is not None:
            self._last_flush_ms = now_ms
        return pending

    def end_flush(self, pending: PendingFlush) -> None:
        """The fsyncs of `pending` returned: everything below the log end
        offset it captured is durable (not what was appended since)."""
        self._expect_flushing(pending)
        self._recovery_point = max(self._recovery_point, pending.end_offset)
        for segment in pending.rolled:
            if segment in self._unflushed_segments:
                self._unflushed_segments.remove(segment)
        self._flushing = None

    def abort_flush(self, pending: PendingFlush) -> None:
        """The fsyncs of `pending` failed: everything it covered is due again."""
        self._expect_flushing(pending)
        self._files_unsynced.update(pending.files)
        self._dir_unsynced = self._dir_unsynced or pending.sync_dir
        self._roll_flush_due = self._roll_flush_due or bool(pending.rolled)
        self._unflushed_messages += pending.messages
        pending.active.unflushed = True
        self._flushing = None

    def _expect_flushing(self, pending: PendingFlush) -> None:
        if self._flushing is not pending:
            raise LogStateError(f"log {self.directory}: not the flush in progress")

    def flush(self, now_ms: int | None = None) -> None:
        """fsync everything appended so far, on this thread; the recovery point
        becomes the log end offset."""
        pending = self.begin_flush(now_ms)
        try:
            pending.run()
        except BaseException:
            self.abort_flush(pending)
            raise
        self.end_flush(pending)

    def flush_interval_elapsed(self, now_ms: int) -> bool:
        """The ``flush.ms`` policy, checked by the owner on its timer: True if
        there is something to flush and ``flush.ms`` passed since the last flush."""
        if self._flushing is not None:
            return False
        if (
            self._recovery_point >= self.log_end_offset
            and not self._unflushed_segments
            and not self._dir_unsynced
        ):
            self._last_flush_ms = now_ms
            return False
        return now_ms - self._last_flush_ms >= self.config.flush_ms

    def maybe_flush(self, now_ms: int) -> bool:
        """`flush` if `flush_interval_elapsed`."""
        if not self.flush_interval_elapsed(now_ms):
            return False
        self.flush(now_ms)
        return True

    def checkpoint(self) -> None:
        """Write the recovery point and the log start offset (Kafka does this
        every ``log.flush.offset.checkpoint.interval.ms``). Nothing is fsynced
        here: the next flush makes them durable."""
        self._write_checkpoints(durable=False)

    def _write_checkpoints(self, *, durable: bool) -> None:
        for name, offset in (
            (checkpoint.RECOVERY_POINT_CHECKPOINT, self._recovery_point),
            (checkpoint.LOG_START_OFFSET_CHECKPOINT, self._log_start_offset),
        ):
            checkpoint.write_offset(self.directory / name, offset, durable=durable)
            if not durable:
                self._files_unsynced.add(self.directory / name)

    def close(self) -> None:
        """Flush, seal the indexes, checkpoint, and leave the clean-shutdown marker."""
        if self._closed:
            return
        self.flush()
        active = self._segments[-1]
        active.on_become_inactive()
        active.flush_all()
        self._write_checkpoints(durable=True)
        for segment in self._segments:
            segment.close()
        self._closed = True
        checkpoint.write_clean_shutdown_marker(self.directory)

    def abandon(self) -> None:
        """Close file handles without flushing or marking a clean shutdown
        (tests use it to simulate a crash)."""
        if self._closed:
            return
        for segment in self._segments:
            segment.close()
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise LogStateError(f"log {self.directory} is closed")

    def _check_not_flushing(self) -> None:
        self._check_open()
        if self._flushing is not None:
            raise LogStateError(f"log {self.directory} is being flushed")
