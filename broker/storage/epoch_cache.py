"""The leader-epoch cache: which epoch wrote which range of offsets.

Theory of operation
-------------------
Every batch carries the epoch of the leader that appended it in
``partitionLeaderEpoch``; that epoch is the Raft term. The cache keeps one
entry ``(epoch, start_offset)`` per epoch, the offset of the first batch that
epoch wrote; entries increase in both fields. From it,
`end_offset_for` answers "where does epoch E end in this log", which is what a
Raft leader tells a follower whose log diverges (``DivergingEpoch``) and what
OffsetsForLeaderEpoch returns.

The entries are written to ``leader-epoch-checkpoint`` (checkpoint.py) before
the first batch of a new epoch is written to the log, so the file never misses
an epoch the log has. The write fsyncs nothing (``unsynced`` becomes True):
the log's next flush fsyncs the file before the batches it covers, in a
worker thread, so that an append never waits on the disk. It may be ahead of the log after a crash; the log
corrects that at open by truncating the cache to the recovered log end offset,
and re-assigns the epochs of every batch it rescans.
"""

from __future__ import annotations

import bisect
import itertools
from pathlib import Path
from typing import Final, NamedTuple

from broker.storage.checkpoint import CheckpointError, read_checkpoint, write_checkpoint

UNDEFINED_EPOCH: Final = -1
UNDEFINED_EPOCH_OFFSET: Final = -1


class EpochEntry(NamedTuple):
    epoch: int
    start_offset: int


class EpochEndOffset(NamedTuple):
    epoch: int
    end_offset: int


class LeaderEpochCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.unsynced = False  # written since the last fsync of the file
        self._entries: list[EpochEntry] = []
        try:
            stored = read_checkpoint(path, 2)
        except (CheckpointError, ValueError):
            stored = None  # rebuilt from the batch headers by the log
        entries = [EpochEntry(epoch, start) for epoch, start in stored or ()]
        valid = all(e.epoch >= 0 and e.start_offset >= 0 for e in entries) and all(
            a.epoch < b.epoch and a.start_offset < b.start_offset
            for a, b in itertools.pairwise(entries)
        )
        # True if the checkpoint was read whole and sane: it then knows every
        # epoch the log holds (recovery relies on it to check batch epochs).
        self.loaded = stored is not None and valid
        if self.loaded:
            self._entries = entries

    @property
    def entries(self) -> list[EpochEntry]:
        return list(self._entries)

    @property
    def latest_epoch(self) -> int:
        return self._entries[-1].epoch if self._entries else UNDEFINED_EPOCH

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that `epoch` starts at `start_offset` (no-op if already so)."""
        if self._assign(EpochEntry(epoch, start_offset)):
            self.flush()

    def _assign(self, entry: EpochEntry) -> bool:
        if entry.epoch < 0 or entry.start_offset < 0:
            raise ValueError(f"invalid epoch entry {entry}")
        if self._entries:
            latest = self._entries[-1]
            if latest.epoch == entry.epoch and latest.start_offset <= entry.start_offset:
                return False
        # Drop entries the new one contradicts (same or later epoch, or same or
        # later offset): they were written by a leader whose tail was lost.
        while self._entries and (
            self._entries[-1].epoch >= entry.epoch
            or self._entries[-1].start_offset >= entry.start_offset
        ):
            self._entries.pop()
        self._entries.append(entry)
        return True

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> EpochEndOffset:
        """(largest epoch <= requested, start offset of the next epoch), Kafka's rules:

        * undefined epoch -> (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        * the latest epoch -> (it, log_end_offset);
        * above the latest -> undefined;
        * below the earliest -> (requested, start of the earliest), since
          the older history was deleted;
        * otherwise -> (floor epoch, start offset of the next higher epoch).
        """
        if requested_epoch == UNDEFINED_EPOCH or not self._entries:
            return EpochEndOffset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        if requested_epoch == self.latest_epoch:
            return EpochEndOffset(requested_epoch, log_end_offset)
        epochs = [e.epoch for e in self._entries]
        higher = bisect.bisect_right(epochs, requested_epoch)
        if higher == len(epochs):
            return EpochEndOffset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        if higher == 0:
            return EpochEndOffset(requested_epoch, self._entries[0].start_offset)
        return EpochEndOffset(self._entries[higher - 1].epoch, self._entries[higher].start_offset)

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch that wrote `offset`, or UNDEFINED_EPOCH if unknown."""
        starts = [e.start_offset for e in self._entries]
        slot = bisect.bisect_right(starts, offset) - 1
        return self._entries[slot].epoch if slot >= 0 else UNDEFINED_EPOCH

    def truncate_from_end(self, end_offset: int) -> None:
        """Drop entries starting at or after `end_offset` (log truncation)."""
        before = len(self._entries)
        while self._entries and self._entries[-1].start_offset >= end_offset:
            self._entries.pop()
        if len(self._entries) != before:
            self.flush()

    def truncate_from_start(self, start_offset: int) -> None:
        """Drop entries wholly below `start_offset`; the epoch covering it now
        starts there (log start offset moved)."""
        slot = bisect.bisect_right([e.start_offset for e in self._entries], start_offset) - 1
        if slot < 0 or (slot == 0 and self._entries[0].start_offset == start_offset):
            return
        kept = self._entries[slot]
        self._entries[: slot + 1] = [EpochEntry(kept.epoch, start_offset)]
        self.flush()

    def clear(self) -> None:
        if not self._entries and not self.path.exists():
            return  # nothing to write (and no space may be left to write it)
        self._entries.clear()
        self.flush()

    def flush(self) -> None:
        write_checkpoint(self.path, self._entries, durable=False)
        self.unsynced = True
