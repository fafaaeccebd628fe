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
remapped at will: `resize` does both, for trimming and for re-growing a
segment that becomes active again after a truncation.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import ClassVar

from broker.storage.errors import LogStateError

# Bytes of the index that a binary search looks at first. Appends and reads of
# a live partition hit the newest entries: a consumer at the tail, a follower,
# the append path itself. Searching the last few kilobytes first means the
# common lookup touches only the index's last page or two, which are hot in the
# page cache, and takes a dozen probes instead of twenty; a lookup for an old
# offset falls back to the whole array and pays the cold pages once. (Kafka's
# AbstractIndex makes the same choice with an 8 KiB warm section.)
_WARM_BYTES = 8192


class AbstractIndex:
    ENTRY: ClassVar[struct.Struct]

    def __init__(self, path: Path, base_offset: int, max_index_size: int, *, new: bool) -> None:
        self.path = path
        self.base_offset = base_offset
        self._entry_size = self.ENTRY.size
        self._max_size = max_index_size - max_index_size % self._entry_size
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if new else 0)
        self._fd = os.open(path, flags, 0o644)
        if new:
            os.ftruncate(self._fd, self._max_size)
            self._length = self._max_size
            self.entries = 0
            self.misaligned = False
        else:
            length = os.fstat(self._fd).st_size
            self.misaligned = length % self._entry_size != 0
            self._length = length - length % self._entry_size
            self.entries = self._length // self._entry_size
        self._mm: mmap.mmap | None = None
        self._last: tuple[int, int] | None = None
        self._last_slot = -1
        self._map()

    # -- mapping -----------------------------------------------------------

    def _map(self) -> None:
        self._mm = mmap.mmap(self._fd, self._length) if self._length else None

    def _unmap(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None

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
        """Set the file length (rounded down to whole entries) and remap."""
        new_length = new_size - new_size % self._entry_size
        if new_length == self._length:
            return
        self._unmap()
        os.ftruncate(self._fd, new_length)
        self._length = new_length
        self.entries = min(self.entries, new_length // self._entry_size)
        self._map()

    def trim(self) -> None:
        """Cut the file to the valid entries (when the segment is rolled)."""
        self.resize(self.entries * self._entry_size)

    def preallocate(self) -> None:
        """Grow back to the full size (when the segment becomes active again)."""
        self.resize(self._max_size)

    def reset(self) -> None:
        """Forget every entry (before a rebuild)."""
        self.entries = 0
        self.preallocate()

    def flush(self) -> None:
        if self._mm is not None and self.entries:
            # msync only the pages holding entries: a preallocated 10 MiB
            # index costs milliseconds to msync whole, even when sparse.
            used = self.entries * self._entry_size
            used += -used % mmap.PAGESIZE
            self._mm.flush(0, min(used, self._length))
        os.fsync(self._fd)

    def close(self) -> None:
        self._unmap()
        os.close(self._fd)

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    # -- entries -------------------------------------------------------------

    def entry(self, slot: int) -> tuple[int, int]:
        assert self._mm is not None
        fields: tuple[int, int] = self.ENTRY.unpack_from(self._mm, slot * self._entry_size)
        return fields

    def last_raw(self) -> tuple[int, int] | None:
        """The newest entry as stored (cached: the append path reads it every time)."""
        if self._last_slot != self.entries:
            self._last = self.entry(self.entries - 1) if self.entries else None
            self._last_slot = self.entries
        return self._last

    def _append_raw(self, first: int, second: int) -> None:
        if self.entries >= self.max_entries:
            raise LogStateError(f"{self.path} is full ({self.entries} entries)")
        assert self._mm is not None
        self.ENTRY.pack_into(self._mm, self.entries * self._entry_size, first, second)
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
