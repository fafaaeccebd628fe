"""One log segment: a .log file of record batches and its two indexes.

Theory of operation
-------------------
Writes go through a file descriptor opened ``O_APPEND``: one ``writev`` per
append carries the stamped 16-byte prefix and the caller's own buffer for each
batch, so batch bodies are never copied in Python. Reads and scans go through
a read-only ``mmap`` of the file: a read returns a ``memoryview`` slice of the
mapping, which the server can ``sendmsg`` without a copy.

Mapping lifetime. A memoryview pins its mapping: the mapping cannot be closed
while any view of it is alive (``BufferError``), and the bytes a view covers
must stay inside the file, or touching them is a SIGBUS. So:

* Growth: the file grows under existing mappings, which stay valid. A read
  past the mapped length maps the file again at its new size; the old mapping
  is *retired*, not closed: it is closed as soon as no view pins it.
* Deletion (retention, truncation of whole segments): unlinking a mapped file
  is safe; the inode lives until the last view is gone.
* Shrinking (Raft truncation of the tail): if any mapping of the segment is
  still pinned, the file is not shrunk in place. The kept prefix is copied
  (in the kernel, ``copy_file_range``) to a new file that is renamed over the
  old name; pinned views keep reading the old, unlinked inode. If nothing is
  pinned the file is simply ``ftruncate``'d.

Handles. A segment opens its append descriptor and maps its log and indexes
on first use, and forgets them when the process-wide open-file budget
(``files.OPEN_FILES``) finds it idle; a forgotten handle closes itself once no
caller and no view uses it. Flushes open their own descriptor. So a broker
with 10,000 partitions holds descriptors only for the segments in use.

Indexing. Every batch goes through `_index_batch`, on append and on recovery
alike, so an index rebuilt by recovery equals the one built by appends.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final, NamedTuple

from crc32c import crc32c

from broker.storage import errors, files
from broker.storage.batch import (
    ATTRIBUTES_OFFSET,
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_V2,
    SCAN_HEADER,
    BytesLike,
    parse_header,
)
from broker.storage.config import LogConfig
from broker.storage.errors import KafkaStorageError, LogStateError
from broker.storage.offset_index import OffsetIndex
from broker.storage.records import record_timestamps
from broker.storage.time_index import NO_TIMESTAMP, TimeIndex

_MAX_RELATIVE_OFFSET: Final = (1 << 31) - 1
_IOV_MAX: Final = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


class BatchInfo(NamedTuple):
    """Where one batch is in a segment, from its header."""

    position: int
    base_offset: int
    last_offset: int
    size: int
    partition_leader_epoch: int


class LogSegment:
    def __init__(
        self,
        directory: Path,
        base_offset: int,
        config: LogConfig,
        now_ms: int,
        *,
        new: bool,
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.config = config
        self.log_path = files.log_path(directory, base_offset)
        self._handles = files.OPEN_FILES
        if new:
            os.close(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
            self.size = 0
        else:
            self.size = os.stat(self.log_path).st_size
        self.offset_index = OffsetIndex(
            files.index_path(directory, base_offset),
            base_offset,
            config.segment_index_bytes,
            new=new,
            on_map=self._touch,
        )
        self.time_index = TimeIndex(
            files.time_index_path(directory, base_offset),
            base_offset,
            config.segment_index_bytes,
            new=new,
            on_map=self._touch,
        )
        self.next_offset = base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = -1
        self.rolling_based_timestamp: int | None = None
        self.created_ms = now_ms
        self.bytes_since_last_index_entry = 0
        self.unflushed = False
        # Handles, opened on demand and forgotten when the segment is idle
        # (`release_handles`, files.OPEN_FILES): the append descriptor, the
        # read-only mapping of the log and the mappings no longer current.
        self._file: files.Descriptor | None = None
        self._map: mmap.mmap | None = None
        self._mapped_size = 0
        self._retired: list[weakref.ref[mmap.mmap]] = []

    # -- handles -----------------------------------------------------------------

    def _touch(self) -> None:
        self._handles.touch(self)

    def _writer(self) -> int:
        """The log's O_APPEND descriptor (the caller keeps the number only
        for the call: `release_handles` may forget the object meanwhile,
        but the object stays referenced here until it returns)."""
        f = self._file
        if f is None:
            f = self._file = self._handles.open(self.log_path, os.O_WRONLY | os.O_APPEND)
            self._touch()
        return f.fd

    def release_handles(self) -> None:
        """Forget every handle (the segment is idle); each closes once no
        caller uses it, and the next use opens or maps again."""
        mm, self._map = self._map, None
        if mm is not None:
            self._retired.append(weakref.ref(mm))
        self._file = None
        self.offset_index.release()
        self.time_index.release()

    @property
    def holds_handles(self) -> bool:
        return (
            self._file is not None
            or self._map is not None
            or self.offset_index.is_mapped
            or self.time_index.is_mapped
        )

    # -- mapping ---------------------------------------------------------------

    def mapped(self) -> mmap.mmap | None:
        """A read-only mapping covering the whole file (None while it is empty)."""
        mm = self._map
        if self._mapped_size != self.size or (mm is None and self.size):
            if mm is not None:
                self._retired.append(weakref.ref(mm))
            mm = self._map = self._map_file() if self.size else None
            self._mapped_size = self.size
            self._close_unpinned()
        return mm

    def _map_file(self) -> mmap.mmap:
        fd = os.open(self.log_path, os.O_RDONLY)
        try:
            mm = mmap.mmap(fd, self.size, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        self._touch()
        return self._handles.track(mm)

    def _close_unpinned(self) -> bool:
        """Close retired mappings no view pins; True if none is left."""
        still_pinned = []
        for ref in self._retired:
            old = ref()
            if old is None:
                continue
            try:
                old.close()
            except BufferError:
                still_pinned.append(ref)
        self._retired = still_pinned
        return not still_pinned

    def _release_all_maps(self) -> bool:
        """Retire the current mapping too; True if no view pins any mapping."""
        mm, self._map = self._map, None
        if mm is not None:
            self._retired.append(weakref.ref(mm))
        self._mapped_size = 0
        del mm
        return self._close_unpinned()

    # -- writing ---------------------------------------------------------------

    def append(
        self, pieces: Sequence[BytesLike], batches: Sequence[tuple[int, int, int]], total: int
    ) -> None:
        """Write `pieces` (the stamped batches, in order, `total` bytes) and
        index them. `batches` holds (last_offset, max_timestamp, size) each.
        """
        position = self.size
        # Room for the index entries first: once the batches are written
        # their entries must not fail for lack of space.
        entries = self._index_entries_for(batches)
        if entries:
            self.offset_index.reserve(entries)
            self.time_index.reserve(entries)
        self._write_all(pieces, total)
        if self.size == 0 and batches:
            self.rolling_based_timestamp = batches[0][1]
        for last_offset, max_timestamp, size in batches:
            if last_offset - self.base_offset > _MAX_RELATIVE_OFFSET:
                raise LogStateError(f"offset {last_offset} overflows segment {self.base_offset}")
            self._index_batch(position, last_offset, max_timestamp, size)
            position += size
            self.next_offset = last_offset + 1
        self.size = position
        self.unflushed = True

    def _write_all(self, pieces: Sequence[BytesLike], total: int) -> None:
        self._touch()
        try:
            fd = self._writer()
            written = os.writev(fd, pieces) if len(pieces) <= _IOV_MAX else 0
            if written == total:
                return
            # Rare: many pieces, or a short write (a signal, a nearly full
            # disk). Skip what was written and write the rest.
            remaining = [memoryview(p) for p in pieces if len(p)]
            while written and remaining:
                if written >= len(remaining[0]):
                    written -= len(remaining.pop(0))
                else:
                    remaining[0] = remaining[0][written:]
                    written = 0
            while remaining:
                chunk = remaining[:_IOV_MAX]
                written = os.writev(fd, chunk)
                consumed = 0
                while consumed < len(chunk) and written >= len(chunk[consumed]):
                    written -= len(chunk[consumed])
                    consumed += 1
                remaining = remaining[consumed:]
                if written:
                    remaining[0] = remaining[0][written:]
        except OSError as exc:
            # Cut any partial batch so the file matches what we think it holds.
            with contextlib.suppress(OSError):
                os.truncate(self.log_path, self.size)
            raise KafkaStorageError(errors.KAFKA_STORAGE_ERROR, f"append failed: {exc}") from exc

    def _index_entries_for(self, batches: Sequence[tuple[int, int, int]]) -> int:
        """How many index entries `_index_batch` will add for these batches."""
        since, count = self.bytes_since_last_index_entry, 0
        for _, _, size in batches:
            if since > self.config.index_interval_bytes:
                count, since = count + 1, 0
            since += size
        return count

    def _index_batch(self, position: int, last_offset: int, max_timestamp: int, size: int) -> None:
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = last_offset
        if self.bytes_since_last_index_entry > self.config.index_interval_bytes:
            self.offset_index.append(last_offset, position)
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self.bytes_since_last_index_entry = 0
        self.bytes_since_last_index_entry += size

    def flush(self) -> None:
        if self.unflushed:
            # Cleared before the fdatasync, which may run in a worker thread:
            # an append made meanwhile sets it again for the next flush.
            self.unflushed = False
            try:
                self._fdatasync()
            except BaseException:
                self.unflushed = True
                raise

    def _fdatasync(self) -> None:
        # Its own descriptor: any descriptor of the file syncs its data, and
        # a worker thread then shares no handle with the owner or eviction.
        fd = os.open(self.log_path, os.O_RDONLY)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def flush_all(self) -> None:
        """The log and both indexes (a rolled or closing segment)."""
        self._fdatasync()
        self.unflushed = False
        self.offset_index.flush()
        self.time_index.flush()

    # -- rolling ----------------------------------------------------------------

    def should_roll(
        self, append_size: int, max_timestamp: int, last_offset: int, now_ms: int
    ) -> bool:
        if self.size == 0:
            return False
        if self.size > self.config.segment_bytes - append_size:
            return True
        if self.rolling_based_timestamp is not None and self.rolling_based_timestamp >= 0:
            waited = max_timestamp - self.rolling_based_timestamp
        else:
            waited = now_ms - self.created_ms
        return (
            waited > self.config.segment_ms
            or self.offset_index.is_full
            or self.time_index.is_full
            or last_offset - self.base_offset > _MAX_RELATIVE_OFFSET
        )

    def on_become_inactive(self) -> None:
        """Seal a segment that is no longer the last one."""
        self._append_final_time_entry()
        self.offset_index.trim()
        self.time_index.trim()

    def _append_final_time_entry(self) -> None:
        # No room for it (a full disk, and the page it needs was never
        # allocated): a reopen then finds the largest timestamp by scanning
        # from the last offset index entry, as it does anyway.
        with contextlib.suppress(KafkaStorageError):
            self.time_index.maybe_append(
                self.max_timestamp, self.offset_of_max_timestamp, final=True
            )

    def on_become_active(self) -> None:
        self.offset_index.preallocate()
        self.time_index.preallocate()

    # -- reading ------------------------------------------------------------------

    def batches_from(self, position: int, end: int | None = None) -> Iterator[BatchInfo]:
        """Walk batch headers from a batch boundary (headers only, no CRC)."""
        mm = self.mapped()
        end = self.size if end is None else end
        unpack = SCAN_HEADER.unpack_from
        while position < end:
            assert mm is not None
            base_offset, length, epoch, _, _, _, last_delta = unpack(mm, position)
            size = length + LOG_OVERHEAD
            yield BatchInfo(position, base_offset, base_offset + last_delta, size, epoch)
            position += size

    def find_batch(self, offset: int, start_position: int = 0) -> BatchInfo | None:
        """The first batch whose last offset is >= `offset`, or None."""
        _, position = self.offset_index.lookup(offset)
        for batch in self.batches_from(max(position, start_position)):
            if batch.last_offset >= offset:
                return batch
        return None

    def read(
        self, offset: int, max_bytes: int, max_offset: int | None, min_one_batch: bool
    ) -> tuple[memoryview, BatchInfo] | None:
        """Whole batches from the one holding `offset`, within `max_bytes`,
        ending before the batch holding `max_offset`. None if `offset` is past
        this segment; an empty view if the limits leave nothing."""
        first = self.find_batch(offset)
        if first is None:
            return None
        limit = self.size
        if max_offset is not None:
            bound = self.find_batch(max_offset, first.position)
            if bound is not None:
                limit = bound.position
        end = first.position + max_bytes
        if end >= limit:
            end = limit
        else:
            end = self._last_boundary_at_or_before(end, first.position)
            if end == first.position and min_one_batch and first.position + first.size <= limit:
                end = first.position + first.size
        mm = self.mapped()
        if end <= first.position or mm is None:
            return memoryview(b""), first
        self._touch()
        if self._handles.crowded:
            # Views in flight pin too many mappings (each holds a
            # descriptor): copy rather than pin one more.
            return memoryview(mm[first.position : end]), first
        return memoryview(mm)[first.position : end], first

    def _last_boundary_at_or_before(self, position: int, start: int) -> int:
        _, indexed = self.offset_index.lookup_by_position(position)
        boundary = max(indexed, start)
        for batch in self.batches_from(boundary):
            if batch.position + batch.size > position:
                break
            boundary = batch.position + batch.size
        return boundary

    def batches_for_timestamp(self, timestamp: int, starting_offset: int) -> Iterator[BatchInfo]:
        """Batches with maxTimestamp >= `timestamp` holding offsets >= `starting_offset`,
        in log order, starting from where the time index points."""
        _, indexed_offset = self.time_index.lookup(timestamp)
        _, position = self.offset_index.lookup(max(indexed_offset, starting_offset))
        mm = self.mapped()
        for batch in self.batches_from(position):
            assert mm is not None
            if batch.last_offset < starting_offset:
                continue
            if parse_header(mm, batch.position).max_timestamp >= timestamp:
                yield batch

    def max_timestamp_from(self, starting_offset: int) -> int:
        """The largest record timestamp at or after `starting_offset` (the
        log start offset may cut this segment, even its first batch)."""
        if starting_offset <= self.base_offset:
            return self.max_timestamp
        _, position = self.offset_index.lookup(starting_offset)
        mm = self.mapped()
        best = NO_TIMESTAMP
        for batch in self.batches_from(position):
            assert mm is not None
            if batch.last_offset < starting_offset:
                continue
            if batch.base_offset >= starting_offset:
                best = max(best, parse_header(mm, batch.position).max_timestamp)
                continue
            view = memoryview(mm)[batch.position : batch.position + batch.size]
            for offset, timestamp in record_timestamps(view):
                if offset >= starting_offset:
                    best = max(best, timestamp)
            view.release()
        return best

    @property
    def largest_timestamp(self) -> int:
        """For retention.ms: the largest batch timestamp, else the file's mtime."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return os.stat(self.log_path).st_mtime_ns // 1_000_000

    # -- recovery and truncation ----------------------------------------------------

    def load_tail_state(self) -> None:
        """Derive next offset, max timestamp and index spacing of a segment whose
        indexes are trusted: scan only from the last offset index entry."""
        position = self.offset_index.last_position
        self.max_timestamp, self.offset_of_max_timestamp = self.time_index.last_entry()
        if self.max_timestamp == NO_TIMESTAMP:
            self.offset_of_max_timestamp = -1
        self.next_offset = max(self.next_offset, self.base_offset)
        mm = self.mapped()
        for batch in self.batches_from(position):
            assert mm is not None
            max_timestamp = parse_header(mm, batch.position).max_timestamp
            if max_timestamp > self.max_timestamp:
                self.max_timestamp = max_timestamp
                self.offset_of_max_timestamp = batch.last_offset
            self.next_offset = batch.last_offset + 1
        self.bytes_since_last_index_entry = self.size - position
        if self.size >= HEADER_SIZE and mm is not None:
            self.rolling_based_timestamp = parse_header(mm, 0).max_timestamp
        else:
            self.rolling_based_timestamp = None

    def sanity_check(self) -> None:
        """Cheap checks before trusting the indexes of a cleanly closed segment."""
        self.offset_index.sanity_check(self.size)
        if self.offset_index.entries:
            offset, position = self.offset_index.lookup(self.offset_index.last_offset)
            headers = self.batches_from(position)
            batch = next(headers, None)
            if (
                batch is None
                or batch.last_offset != offset
                or batch.position + batch.size > self.size
            ):
                raise LogStateError(f"offset index of {self.log_path} does not match the log")
        self.load_tail_state()
        self.time_index.sanity_check(self.next_offset)

    def recover(self, accept_epoch: Callable[[int, int], bool]) -> int:
        """Rebuild both indexes from the log, validating every batch, and cut
        the file at the first invalid byte. Returns the number of bytes cut.

        A batch is valid if its header is sane, its CRC32C matches, its base
        offset is exactly the next expected offset (the log has no gaps, so a
        damaged baseOffset, which the CRC does not cover, is caught here), and
        `accept_epoch(partition_leader_epoch, base_offset)` agrees (the other
        field the CRC does not cover; checked against the epoch cache).
        """
        self.offset_index.reset()
        self.time_index.reset()
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = -1
        self.bytes_since_last_index_entry = 0
        self.rolling_based_timestamp = None
        self.next_offset = self.base_offset
        self.size = size_on_disk = os.stat(self.log_path).st_size
        mm = self.mapped()
        position = 0
        # The hot loop of a recovery: one unpack, one CRC over a view of the
        # mapping (no copy), a few comparisons per batch.
        view = memoryview(mm) if mm is not None else memoryview(b"")
        unpack = HEADER.unpack_from
        next_offset = self.base_offset
        max_offset = self.base_offset + _MAX_RELATIVE_OFFSET
        while size_on_disk - position >= HEADER_SIZE:
            (base, length, epoch, magic, crc, _, last_delta, _, max_timestamp, *_) = unpack(
                view, position
            )
            size = length + LOG_OVERHEAD
            end = position + size
            if (
                size < HEADER_SIZE
                or end > size_on_disk
                or magic != MAGIC_V2
                or base != next_offset
                or last_delta < 0
                or base + last_delta > max_offset
                or crc32c(view[position + ATTRIBUTES_OFFSET : end]) != crc
                or not accept_epoch(epoch, base)
            ):
                break
            if position == 0:
                self.rolling_based_timestamp = max_timestamp
            next_offset = base + last_delta + 1
            self._index_batch(position, next_offset - 1, max_timestamp, size)
            position = end
        view.release()
        self.next_offset = next_offset
        truncated = self.size - position
        if truncated:
            self._shrink_file(position)
        self._append_final_time_entry()
        return truncated

    def truncate_to(self, offset: int) -> int:
        """Remove every batch whose last offset is >= `offset`; returns the new
        next offset (the base offset of the first removed batch, or `offset`
        if that is smaller). Whole batches only: a batch straddling `offset` goes."""
        first_removed = self.find_batch(offset)
        if first_removed is None:
            return self.next_offset
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        self._shrink_file(first_removed.position)
        self.load_tail_state()
        self.next_offset = min(offset, first_removed.base_offset)
        return self.next_offset

    def _shrink_file(self, new_size: int) -> None:
        if self._release_all_maps():
            os.truncate(self.log_path, new_size)
        else:
            self._copy_prefix_to_new_file(new_size)
        self.size = new_size
        self.unflushed = True

    def _copy_prefix_to_new_file(self, new_size: int) -> None:
        tmp = self.log_path.with_name(self.log_path.name + files.TMP_SUFFIX)
        # copy_file_range refuses an O_APPEND destination: copy, then reopen.
        src_fd = os.open(self.log_path, os.O_RDONLY)
        try:
            tmp_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                copied = 0
                while copied < new_size:
                    n = os.copy_file_range(src_fd, tmp_fd, new_size - copied, copied, copied)
                    if n == 0:
                        raise LogStateError(f"{self.log_path} ended while copying")
                    copied += n
                os.fdatasync(tmp_fd)
            finally:
                os.close(tmp_fd)
        finally:
            os.close(src_fd)
        os.replace(tmp, self.log_path)
        files.fsync_dir(self.directory)
        self._file = None  # appends go to the new file

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        self._release_all_maps()
        self._retired.clear()  # pinned ones are closed when their last view dies
        self._file = None
        self.offset_index.close()
        self.time_index.close()
        self._handles.forget(self)

    def delete(self) -> None:
        self.close()
        self.offset_index.delete()
        self.time_index.delete()
        self.log_path.unlink(missing_ok=True)
