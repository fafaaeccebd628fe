"""Loading a partition directory at open, and crash recovery.

Theory of operation
-------------------
Durability is promised up to the *recovery point*: every batch below it was
fsynced. Above it, anything may be on disk: nothing, a prefix of the last
batch, zeros the filesystem allocated but never wrote, or stale bytes. So:

1. Leftovers of interrupted operations (``*.tmp``, ``*.deleted`` ...) and
   index files without a ``.log`` are removed.
2. With the clean-shutdown marker, the last close flushed and trimmed
   everything: every segment's indexes are sanity-checked and trusted.
3. Without it, segments wholly below the recovery point are sanity-checked
   and trusted (their indexes were flushed when they were rolled), and every
   segment from the one holding the recovery point on is rescanned: each
   batch's header and CRC32C is validated, both indexes are rebuilt, and the
   file is cut at the first invalid batch. Segments after a cut are deleted:
   their data depended on the lost bytes before them.
4. A segment whose indexes fail the sanity check, or are missing, is rescanned
   the same way, wherever it is.

Nothing after an invalid batch is ever served, because the cut happens before
the log accepts reads. The leader-epoch cache is then cut back to the
recovered log end offset. Recovery does not fsync what it kept (it may be
only in the page cache after a process crash): the recovery point stays
where the checkpoint put it until the log's next flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from broker.storage import files
from broker.storage.config import LogConfig
from broker.storage.epoch_cache import UNDEFINED_EPOCH, LeaderEpochCache
from broker.storage.errors import LogStateError
from broker.storage.segment import LogSegment


@dataclass(slots=True)
class LoadedSegments:
    segments: list[LogSegment]
    bytes_truncated: int
    # Rescanned (indexes rebuilt, maybe cut); not fsynced yet: the log's next
    # flush does that before the recovery point moves past them.
    recovered: list[LogSegment]


def _segment_bases(directory: Path) -> list[int]:
    bases: set[int] = set()
    index_only: list[Path] = []
    for path in directory.iterdir():
        base = files.base_offset_of(path)
        if base is None:
            continue
        if path.suffix == files.LOG_SUFFIX:
            bases.add(base)
        elif path.suffix in (files.INDEX_SUFFIX, files.TIME_INDEX_SUFFIX):
            index_only.append(path)
    for path in index_only:
        base = files.base_offset_of(path)
        if base not in bases:
            path.unlink()
    return sorted(bases)


def load_segments(
    directory: Path,
    config: LogConfig,
    now_ms: int,
    *,
    clean_shutdown: bool,
    recovery_point: int,
    epoch_cache: LeaderEpochCache,
    epoch_cache_trusted: bool,
    log_start_offset: int = 0,
) -> LoadedSegments:
    files.remove_stale_files(directory)
    bases = _segment_bases(directory)
    needs_rebuild = [
        not files.index_path(directory, base).exists()
        or not files.time_index_path(directory, base).exists()
        for base in bases
    ]
    segments = [LogSegment(directory, base, config, now_ms, new=False) for base in bases]

    if clean_shutdown:
        first_unflushed = len(segments)
    else:
        # The segment holding the recovery point, and everything after it.
        first_unflushed = 0
        for i, segment in enumerate(segments):
            if segment.base_offset <= recovery_point:
                first_unflushed = i

    # Offsets [start, end) that `epoch` covers in the cache: batches come in
    # order, so one range answers for many batches.
    covered = [0, -1, UNDEFINED_EPOCH]

    def accept_epoch(epoch: int, base_offset: int) -> bool:
        if epoch_cache_trusted:
            if covered[0] <= base_offset < covered[1]:
                return epoch == covered[2]
            # The checkpoint is written before the data, so it knows the
            # epoch of every batch; below its first entry (the log start
            # moved) only an older-or-equal epoch is possible.  Not after a
            # power loss: an fsync that began before an append (a flush in a
            # worker thread) or a truncation's fsync can make a batch durable
            # while the checkpoint naming its new epoch is not; an empty
            # checkpoint then knows no batch at or above the log start.
            entries = epoch_cache.entries
            expected = epoch_cache.epoch_for_offset(base_offset)
            if expected == UNDEFINED_EPOCH:
                if not entries:
                    return epoch < 0 or base_offset < log_start_offset
                return epoch <= entries[0].epoch
            slot = next(i for i, e in enumerate(entries) if e.epoch == expected)
            end = entries[slot + 1].start_offset if slot + 1 < len(entries) else 1 << 63
            covered[:] = [entries[slot].start_offset, end, expected]
            return epoch == expected
        if epoch < epoch_cache.latest_epoch:
            return False
        if epoch > epoch_cache.latest_epoch:
            epoch_cache.assign(epoch, base_offset)
        return True

    truncated_total = 0
    recovered: list[LogSegment] = []
    for i, segment in enumerate(segments):
        rebuild = i >= first_unflushed or needs_rebuild[i]
        if not rebuild:
            try:
                segment.sanity_check()
            except LogStateError:
                rebuild = True
        if not rebuild:
            continue
        recovered.append(segment)
        truncated = segment.recover(accept_epoch)
        truncated_total += truncated
        if truncated:
            # Whatever follows a cut was written after the lost bytes.
            for later in segments[i + 1 :]:
                truncated_total += later.size
                later.delete()
            del segments[i + 1 :]
            files.fsync_dir(directory)
            break
        if i < len(segments) - 1:
            segment.on_become_inactive()

    return LoadedSegments(segments, truncated_total, recovered)


def rebuild_epochs_from_headers(segments: list[LogSegment], epoch_cache: LeaderEpochCache) -> None:
    """Refill a lost leader-epoch checkpoint from the batch headers (no CRC)."""
    for segment in segments:
        for batch in segment.batches_from(0):
            epoch = batch.partition_leader_epoch
            if epoch >= 0 and epoch > epoch_cache.latest_epoch:
                epoch_cache.assign(epoch, batch.base_offset)
