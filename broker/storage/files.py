"""File names and durable file operations, in one place.

A partition's directory holds, per segment, three files named by the
segment's base offset zero-padded to 20 digits (Kafka's layout)::

    00000000000000000000.log        record batches v2, byte for byte
    00000000000000000000.index      offset index (offset_index.py)
    00000000000000000000.timeindex  time index (time_index.py)

plus the partition's checkpoints (checkpoint.py). Writes that must survive a
crash whole go through `atomic_write`: write a temporary file, fsync it, rename
it over the target, fsync the directory.

Open files. A segment holds up to four descriptors while in use: its log's
append handle, the mapping of its log (CPython's ``mmap`` keeps a duplicate
descriptor) and the mappings of its two indexes. `OPEN_FILES` bounds what
idle segments hold, process-wide since the limit is the process's: segments
register every descriptor-holding object they create with `OpenFiles.track`
and report use with `OpenFiles.touch`; when more than `capacity` are alive,
the least recently used segments drop their handles (they reopen them on
demand, as Kafka's lazy indexes do). Dropping means forgetting the reference,
never closing: a handle still in use (a scan in progress, a worker thread's
fsync, a memoryview in a response being sent) stays valid and closes itself
when its last user lets go. So eviction is safe from any thread, and the
descriptors alive are at most `capacity` plus those pinned by in-flight views;
reads switch to copying while that sum is over the capacity.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Final, Protocol, TypeVar

LOG_SUFFIX: Final = ".log"
INDEX_SUFFIX: Final = ".index"
TIME_INDEX_SUFFIX: Final = ".timeindex"
TMP_SUFFIX: Final = ".tmp"
# Suffixes of files left behind by an interrupted operation; removed at open.
STALE_SUFFIXES: Final = (TMP_SUFFIX, ".deleted", ".cleaned", ".swap")

_DIGITS: Final = 20


def segment_name(base_offset: int) -> str:
    return f"{base_offset:0{_DIGITS}d}"


def log_path(directory: Path, base_offset: int) -> Path:
    return directory / (segment_name(base_offset) + LOG_SUFFIX)


def index_path(directory: Path, base_offset: int) -> Path:
    return directory / (segment_name(base_offset) + INDEX_SUFFIX)


def time_index_path(directory: Path, base_offset: int) -> Path:
    return directory / (segment_name(base_offset) + TIME_INDEX_SUFFIX)


def base_offset_of(path: Path) -> int | None:
    """The base offset a segment file's name encodes, or None if it is not one."""
    stem = path.name.split(".", 1)[0]
    if len(stem) != _DIGITS or not stem.isdigit():
        return None
    return int(stem)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, tmp_suffix: str = TMP_SUFFIX) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file
    (written first as `path` + `tmp_suffix`)."""
    tmp = path.with_name(path.name + tmp_suffix)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: give the space back
        raise
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove_stale_files(directory: Path) -> None:
    for path in directory.iterdir():
        if path.name.endswith(STALE_SUFFIXES):
            path.unlink()


# -- open-file budget --------------------------------------------------------------

# The share of the soft RLIMIT_NOFILE that idle segments may hold; the rest
# is for connections, the metadata log, checkpoint writes and the runtime.
STORAGE_SHARE: Final = 0.5
_MIN_CAPACITY: Final = 16

_T = TypeVar("_T")


class HandleHolder(Protocol):
    def release_handles(self) -> None:
        """Forget every descriptor-holding object (they close once unused)."""


def open_fd_count() -> int | None:
    """Descriptors this process has open (None where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def soft_fd_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class Descriptor:
    """An open file descriptor that closes itself when garbage (so that
    forgetting it is enough, and a thread still using it keeps it valid)."""

    __slots__ = ("__weakref__", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class OpenFiles:
    """Counts the descriptors storage holds and evicts idle holders (LRU)."""

    def __init__(self, capacity: int | None = None) -> None:
        self._lock = threading.Lock()
        self._holders: OrderedDict[int, HandleHolder] = OrderedDict()
        self._live = 0
        self._most_recent = 0
        self._fixed_capacity = capacity
        self._capacity = capacity if capacity is not None else self._from_limit()
        self.evictions = 0

    def _from_limit(self) -> int:
        return max(_MIN_CAPACITY, int(soft_fd_limit() * STORAGE_SHARE))

    @property
    def capacity(self) -> int:
        """Descriptors storage may keep open: a share of the soft limit."""
        return self._capacity

    def set_capacity(self, capacity: int | None) -> None:
        """A fixed capacity (tests), or None: follow the soft limit again."""
        self._fixed_capacity = capacity
        self._capacity = capacity if capacity is not None else self._from_limit()

    def open(self, path: Path, flags: int) -> Descriptor:
        return self.track(Descriptor(os.open(path, flags, 0o644)))

    @property
    def live(self) -> int:
        """Descriptors alive in objects made through `track`."""
        return self._live

    @property
    def crowded(self) -> bool:
        """More alive than the capacity (views in flight pin them): readers copy."""
        return self._live > self._capacity

    def track(self, handle: _T) -> _T:
        """Count `handle` (an mmap or a file object) until it is garbage."""
        with self._lock:
            self._live += 1
        weakref.finalize(handle, self._untrack)
        return handle

    def _untrack(self) -> None:
        with self._lock:
            self._live -= 1

    def touch(self, holder: HandleHolder) -> None:
        """`holder` is in use: make it the most recent, and if too many
        descriptors are alive, make the least recent holders drop theirs."""
        key = id(holder)
        if key == self._most_recent and self._live <= self._capacity:
            return  # the common case, a busy partition: no lock, no reordering
        with self._lock:
            self._most_recent = key
            if key in self._holders:
                self._holders.move_to_end(key)
            else:
                self._holders[key] = holder
            if self._live <= self._capacity:
                return
            if self._fixed_capacity is None:
                # Start-up may have raised the soft limit since: read it again.
                self._capacity = self._from_limit()
                if self._live <= self._capacity:
                    return
            # Evict down to 3/4 of the capacity, so that eviction is not paid
            # on every open once the budget is reached.
            # A holder has one to four descriptors: count two each.
            wanted = (self._live - self._capacity * 3 // 4 + 1) // 2
            victims: list[tuple[int, HandleHolder]] = []
            for other_key, other in self._holders.items():
                if len(victims) >= wanted or other_key == key:
                    continue
                victims.append((other_key, other))
            for other_key, _ in victims:
                del self._holders[other_key]
            self.evictions += len(victims)
        # Outside the lock: dropping handles runs their finalizers.
        for _, other in victims:
            other.release_handles()

    def forget(self, holder: HandleHolder) -> None:
        with self._lock:
            self._holders.pop(id(holder), None)
            if self._most_recent == id(holder):
                self._most_recent = 0


OPEN_FILES: Final = OpenFiles()
