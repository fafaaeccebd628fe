"""File names and durable file operations, in one place.

A partition's directory holds, per segment, three files named by the
segment's base offset zero-padded to 20 digits (Kafka's layout)::

    00000000000000000000.log        record batches v2, byte for byte
    00000000000000000000.index      offset index (offset_index.py)
    00000000000000000000.timeindex  time index (time_index.py)

plus the partition's checkpoints (checkpoint.py). Writes that must survive a
crash whole go through `atomic_write`: write a temporary file, fsync it, rename
it over the target, fsync the directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

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


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove_stale_files(directory: Path) -> None:
    for path in directory.iterdir():
        if path.name.endswith(STALE_SUFFIXES):
            path.unlink()
