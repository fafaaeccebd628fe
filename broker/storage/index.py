"""What the offset index and the time index share: a preallocated, mmap'd
array of fixed-size entries sorted on every field.

Theory of operation
-------------------
An index file of the active segment is created at its full size
(``segment.index.bytes`` rounded down to a whole number of entries) as a
sparse file and mapped read-write; entries are written into the mapping, so
appending an entry is a `pack_into`, not a syscall. ``entries`` counts the
valid ones; bytes past them are garbage (zeros, or older entries left by a
truncation) and are never read. When the segment is rolled the file is trimmed
to the valid entries, which is also what lets a clean reopen know the count
from the file length alone. An untrimmed file after a crash belongs to a
segment that recovery rebuilds anyway.

Both indexes are sparse and sorted by both of their fields, so one binary
search (`_floor_slot`) serves lookups by offset, by position and by timestamp.

The mapping is never handed out (callers get tuples), so it can be closed and
remapped at will: `resize` closes it, for trimming and for re-growing a
segment that becomes active again after a truncation, and `release` forgets
it when the segment goes idle (the open-file budget, ``files.OPEN_FILES``);
the next lookup maps the file again. No descriptor is kept: the mapping is
made from a descriptor closed at once, and flush opens the file by name.

Space. The sparse file has no blocks behind its holes, and a store into a
hole of a mapping on a full file system (tmpfs included) is a SIGBUS that
kills the process. So space is allocated for real (`posix_fallocate`) a page
ahead of the entries before any store, and a full disk is an error the
append reports (KAFKA_STORAGE_ERROR), on append and on recovery alike.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Final

from broker.storage import errors, files
from broker.storage.errors import KafkaStorageError, LogStateError

# Bytes of the index that a binary search looks at first. Appends and reads of
# a live partition hit the newest entries: a consumer at the tail, a follower,
# the append path itself. Searching the last few kilobytes first means the
# common lookup touches only the index's last page or two, which are hot in the
# page cache, and takes a dozen probes instead of twenty; a lookup for an old
# offset falls back to the whole array and pays the cold pages once. (Kafka's
# AbstractIndex makes the same choice with an 8 KiB warm section.)
_WARM_BYTES = 8192

# Index space is allocated this far ahead of the entries (see `reserve`): one
# fallocate per page of entries, and an idle partition holds two pages.
_ALLOCATE_AHEAD: Final = mmap.PAGESIZE


class AbstractIndex:
    ENTRY: ClassVar[struct.Struct]
    # Entries beyond the next one to keep allocated: the time index keeps one
    # for the entry a roll or close appends (`final`), so that it finds room.
    _SLACK: ClassVar[int] = 0

    def __init__(
        self,
        path: Path,
        base_offset: int,
        max_index_size: int,
        *,
        new: bool,
        on_map: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.base_offset = base_offset
        self._entry_size = self.ENTRY.size
        self._max_size = max_index_size - max_index_size % self._entry_size
        self._on_map = on_map
        if new:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.ftruncate(fd, self._max_size)
            finally:
                os.close(fd)
            self._length = self._max_size
            self.entries = 0
            self.misaligned = False
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # missing: rebuilt empty
            try:
                length = os.fstat(fd).st_size
            finally:
                os.close(fd)
            self.misaligned = length % self._entry_size != 0
            self._length = length - length % self._entry_size
            self.entries = self._length // self._entry_size
        # Bytes from the start of the file that are backed by allocated space
        # (fallocate'd by this object); writes into the mapping stay below it.
        self._allocated = 0
        self._mm: mmap.mmap | None = None
        self._last: tuple[int, int] | None = None
        self._last_slot = -1

    # -- mapping -----------------------------------------------------------

    def _mapping(self) -> mmap.mmap:
        """The read-write mapping of the file, mapped on first use after a
        release. Callers keep the returned object for the whole operation:
        `release` (from any thread) only forgets it."""
        mm = self._mm
        if mm is None:
            fd = os.open(self.path, os.O_RDWR)
            try:
                mm = mmap.mmap(fd, self._length)
            finally:
                os.close(fd)
            self._mm = files.OPEN_FILES.track(mm)
            if self._on_map is not None:
                self._on_map()
        return mm

    def release(self) -> None:
        """Forget the mapping (an idle segment); the next use maps again."""
        self._mm = None

    def _unmap(self) -> None:
        mm, self._mm = self._mm, None
        if mm is not None:
            mm.close()

    @property
    def is_mapped(self) -> bool:
        return self._mm is not None

    @property
    def max_entries(self) -> int:
        return self._length // self._entry_size

    @property
    def is_full(self) -> bool:
        return self.entries >= self.max_entries

    @property
    def size_in_bytes(self) -> int:
        return self.entries * self._entry_size

    def resize(self, new_size: int) -> None:
        """Set the file length (rounded down to whole entries)."""
        new_length = new_size - new_size % self._entry_size
        if new_length == self._length:
            return
        self._unmap()
        os.truncate(self.path, new_length)
        self._length = new_length
        self._allocated = min(self._allocated, new_length)
        self.entries = min(self.entries, new_length // self._entry_size)

    def trim(self) -> None:
        """Cut the file to the valid entries (when the segment is rolled)."""
        self.resize(self.entries * self._entry_size)

    def preallocate(self) -> None:
        """Grow back to the full size (when the segment becomes active again).
        The growth is sparse; `reserve` allocates space before it is written."""
        self.resize(self._max_size)

    def reset(self) -> None:
        """Forget every entry (before a rebuild)."""
        self.entries = 0
        self.preallocate()

    def reserve(self, count: int) -> None:
        """Allocate room for `count` more entries (and the slack) before they
        are written. The file is sparse, and touching a hole of a mapping on a
        full disk is a SIGBUS, not an error: so space is allocated for real,
        a few pages ahead, and a full disk fails here with KAFKA_STORAGE_ERROR."""
        needed = min(self._length, (self.entries + count + self._SLACK) * self._entry_size)
        if needed <= self._allocated:
            return
        target = min(self._length, needed + _ALLOCATE_AHEAD - needed % _ALLOCATE_AHEAD)
        try:
            fd = os.open(self.path, os.O_RDWR)
            try:
                os.posix_fallocate(fd, self._allocated, target - self._allocated)
            finally:
                os.close(fd)
        except OSError as exc:
            raise KafkaStorageError(
                errors.KAFKA_STORAGE_ERROR, f"no space for index {self.path}: {exc}"
            ) from exc
        self._allocated = target

    def flush(self) -> None:
        # fsync of any descriptor of the file writes the pages dirtied through
        # the mapping too (one page cache), so the mapping is not needed here
        # and a worker thread never touches it.
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._unmap()

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    # -- entries -------------------------------------------------------------

    def entry(self, slot: int) -> tuple[int, int]:
        mm = self._mm or self._mapping()
        fields: tuple[int, int] = self.ENTRY.unpack_from(mm, slot * self._entry_size)
        return fields

    def last_raw(self) -> tuple[int, int] | None:
        """The newest entry as stored (cached: the append path reads it every time)."""
        if self._last_slot != self.entries:
            self._last = self.entry(self.entries - 1) if self.entries else None
            self._last_slot = self.entries
        return self._last

    def _append_raw(self, first: int, second: int, *, final: bool = False) -> None:
        if self.entries >= self.max_entries:
            raise LogStateError(f"{self.path} is full ({self.entries} entries)")
        if (self.entries + 1) * self._entry_size > self._allocated:
            self.reserve(0 if final else 1)
        mm = self._mm or self._mapping()
        self.ENTRY.pack_into(mm, self.entries * self._entry_size, first, second)
        self.entries += 1
        self._last, self._last_slot = (first, second), self.entries

    def _floor_slot(self, target: int, field: int) -> int:
        """The last slot whose `field` is <= target, or -1 if there is none."""
        n = self.entries
        if n == 0 or self.entry(0)[field] > target:
            return -1
        lo, hi = 0, n - 1
        warm_start = max(0, n - 1 - _WARM_BYTES // self._entry_size)
        if self.entry(warm_start)[field] <= target:
            lo = warm_start
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if self.entry(mid)[field] <= target:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _ceiling_slot(self, target: int, field: int) -> int:
        """The first slot whose `field` is >= target (== entries if none)."""
        slot = self._floor_slot(target, field)
        if slot >= 0 and self.entry(slot)[field] == target:
            return slot
        return slot + 1

    def _truncate_to_slot(self, slot: int) -> None:
        self.entries = max(0, min(self.entries, slot))

    def _check(self, condition: bool, what: str) -> None:
        if not condition:
            raise LogStateError(f"corrupt index {self.path}: {what}")
