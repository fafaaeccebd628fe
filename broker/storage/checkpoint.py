"""Checkpoint files and the clean-shutdown marker.

Kafka's checkpoint text format, used for every checkpoint here::

    0                 version
    2                 number of entries
    3 0               one entry per line, fields separated by one space
    5 1200

Files in a partition directory:

* ``leader-epoch-checkpoint``: entries ``<epoch> <start_offset>`` (epoch_cache.py).
* ``recovery-point-offset-checkpoint``: one entry ``<offset>``: every batch
  below it is known to be on disk (fsynced). Recovery rescans from there.
* ``log-start-offset-checkpoint``: one entry ``<offset>``: the log start offset
  moved by DeleteRecords, which segment names alone cannot tell.
* ``.kafka_cleanshutdown``: empty; present only while the partition is closed
  cleanly. Its presence at open means "no rescan needed".

Kafka keeps the recovery-point and log-start-offset checkpoints and the marker
once per log directory for all partitions; we keep them per partition so that
each partition's owner task can write its own without coordinating.

A checkpoint written with ``durable=False`` replaces the file through a
temporary one but fsyncs nothing, so the owner's thread never waits on the
disk; the log's next flush fsyncs it (`sync_file`) and the directory before
any data that depends on it, in a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from broker.storage.files import TMP_SUFFIX, atomic_write, fsync_dir

LEADER_EPOCH_CHECKPOINT: Final = "leader-epoch-checkpoint"
RECOVERY_POINT_CHECKPOINT: Final = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT: Final = "log-start-offset-checkpoint"
CLEAN_SHUTDOWN_MARKER: Final = ".kafka_cleanshutdown"

VERSION: Final = 0


class CheckpointError(Exception):
    """A checkpoint file exists but does not parse."""


def encode_checkpoint(entries: Sequence[Sequence[int]]) -> bytes:
    lines = [str(VERSION), str(len(entries))]
    lines.extend(" ".join(str(field) for field in entry) for entry in entries)
    return ("\n".join(lines) + "\n").encode("ascii")


def decode_checkpoint(data: bytes, fields: int) -> list[tuple[int, ...]]:
    try:
        lines = data.decode("ascii").splitlines()
        version, count = int(lines[0]), int(lines[1])
        if version != VERSION or count != len(lines) - 2:
            raise CheckpointError(f"version {version}, {count} entries, {len(lines) - 2} lines")
        entries = [tuple(int(f) for f in line.split(" ")) for line in lines[2:]]
    except (UnicodeDecodeError, ValueError, IndexError) as exc:
        raise CheckpointError(str(exc)) from exc
    if any(len(entry) != fields for entry in entries):
        raise CheckpointError(f"expected {fields} fields per entry")
    return entries


def write_checkpoint(path: Path, entries: Sequence[Sequence[int]], *, durable: bool = True) -> None:
    data = encode_checkpoint(entries)
    if durable:
        atomic_write(path, data)
        return
    tmp = path.with_name(path.name + TMP_SUFFIX)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def sync_file(path: Path) -> None:
    """fsync a file written with ``durable=False`` (its directory is the caller's)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint(path: Path, fields: int) -> list[tuple[int, ...]] | None:
    """The entries, or None if the file does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return decode_checkpoint(data, fields)


def read_offset(path: Path) -> int | None:
    """A single-offset checkpoint; None if missing or unreadable (callers then
    fall back to the safe value: rescan everything / the first segment)."""
    try:
        entries = read_checkpoint(path, 1)
    except CheckpointError:
        return None
    if not entries:
        return None
    return entries[0][0]


def write_offset(path: Path, offset: int, *, durable: bool = True) -> None:
    write_checkpoint(path, [(offset,)], durable=durable)


def has_clean_shutdown_marker(directory: Path) -> bool:
    return (directory / CLEAN_SHUTDOWN_MARKER).exists()


def write_clean_shutdown_marker(directory: Path) -> None:
    """Create the marker durably; call only after everything else is flushed."""
    fd = os.open(directory / CLEAN_SHUTDOWN_MARKER, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(directory)


def remove_clean_shutdown_marker(directory: Path) -> None:
    """Remove the marker durably, before the log is changed in any way."""
    try:
        (directory / CLEAN_SHUTDOWN_MARKER).unlink()
    except FileNotFoundError:
        return
    fsync_dir(directory)
