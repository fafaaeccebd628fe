"""The narrow log-storage interface the Raft core consults, and an in-memory
implementation.

Theory of operation
-------------------
The Raft log *is* the partition log: every entry is (in the real engine) a
record batch whose partitionLeaderEpoch is the Raft epoch.  The core needs
few verbs from storage, named after Kafka's ``ReplicatedLog``:

* ``append`` entries at the end (volatile until ``flush``);
* ``truncate_to(offset)`` removes every entry at or above ``offset``;
* ``end_offset_for_epoch(epoch)`` answers "what is the largest epoch not above
  ``epoch`` that I hold, and where does it end?" -- the question behind
  Fetch's DivergingEpoch;
* snapshots: ``create_snapshot`` records a snapshot of the committed prefix and
  deletes the entries it covers (``log_start_offset`` moves up);
  ``install_snapshot`` replaces the whole log with a snapshot fetched from the
  leader.

``flush`` is the host's verb, not the core's: the core says in ``Ready`` that
the log must be flushed before messages go out, and the host does it.  The
in-memory log separates what is durable from what is merely written, so the
simulator can crash a node and keep only part of the unflushed suffix, as a
real disk may after power loss.

Epoch bookkeeping: ``_epoch_starts`` lists (epoch, first offset) for each run
of entries of one epoch, the analogue of Kafka's leader-epoch checkpoint file.
A snapshot contributes a virtual run starting at its end offset, so a log
made only of a snapshot still answers ``end_offset_for_epoch``.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from broker.raft.messages import ControlKind, LogEntry, OffsetAndEpoch, SnapshotId


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot of the state machine after applying offsets below
    ``snapshot_id.end_offset``, plus the voter set in force at that point."""

    snapshot_id: SnapshotId
    voters: tuple[int, ...]
    data: bytes


class RaftLog(Protocol):
    """What the Raft core needs from a replicated log's storage.

    Durability on return (what a crash right after the call may not undo):

    * ``append``: nothing; entries are volatile until a ``flush`` that
      *started* after the append returned.  A crash keeps a prefix of them.
    * ``truncate_to``: the truncation.  After a crash the log never again
      holds an entry at or above ``offset`` that was there before the call
      (a later flush may make *new* entries there durable).  The core
      truncates only above its high watermark, and reports fetch offsets
      only after flushing what it appended after truncating.
    * ``create_snapshot``: the snapshot, and the log start moving up to its
      end (the entries it covers may linger on disk until deleted).
    * ``install_snapshot``: the snapshot replacing the whole log: after a
      crash the log is the snapshot (plus what was flushed after it), never
      the old log; the core counts the snapshot's end as durable at once.
    * ``flush``: every entry appended before the call.
    """

    @property
    def log_start_offset(self) -> int: ...

    @property
    def end_offset(self) -> int: ...

    @property
    def last_epoch(self) -> int:
        """Epoch of the last entry, else of the latest snapshot, else 0."""
        ...

    def append(self, entries: Sequence[LogEntry]) -> None:
        """Append at ``end_offset``; volatile until flushed."""
        ...

    def truncate_to(self, offset: int) -> None:
        """Remove every entry at or above ``offset``; durable on return."""
        ...

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch: ...

    def read(self, from_offset: int, max_entries: int) -> list[LogEntry]: ...

    def latest_snapshot(self) -> Snapshot | None: ...

    def create_snapshot(self, snapshot: Snapshot) -> None:
        """Record ``snapshot`` and drop the entries below its end; durable on
        return."""
        ...

    def install_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log with ``snapshot``; durable on return."""
        ...

    def flush(self) -> int:
        """Make every entry appended before the call durable; return the
        durable end offset."""
        ...


def end_offset_in_runs(
    runs: Sequence[tuple[int, int]], epoch: int, start: int, end: int
) -> OffsetAndEpoch:
    """``end_offset_for_epoch`` over a log's epoch runs, (epoch, first offset)
    in increasing order: the largest epoch not above ``epoch`` and where its
    run ends (the next run's start, or ``end``); (``start``, 0) if none."""
    index = bisect.bisect_right(runs, (epoch, 1 << 62)) - 1
    if index < 0:
        return OffsetAndEpoch(start, 0)
    run_end = runs[index + 1][1] if index + 1 < len(runs) else end
    return OffsetAndEpoch(run_end, runs[index][0])


def with_snapshot_run(
    runs: list[tuple[int, int]], snapshot: Snapshot | None, start: int
) -> list[tuple[int, int]]:
    """A snapshot ending at the log start contributes a run of its epoch
    there, so a log made only of a snapshot still answers."""
    if snapshot is None or snapshot.snapshot_id.end_offset != start:
        return runs
    snap = (snapshot.snapshot_id.epoch, start)
    if runs and runs[0][0] == snap[0]:
        return runs
    return [snap, *runs]


@runtime_checkable
class VoterIndex(Protocol):
    """Optional for a `RaftLog`: the KRAFT_VOTERS records it holds, so the
    core need not read the whole log at start-up to find them."""

    def voter_records(self, from_offset: int) -> list[tuple[int, tuple[int, ...]]]:
        """(offset, voters) of every voters record at or above ``from_offset``."""
        ...


class LogCorruption(Exception):
    """A caller broke the log's contract (non-contiguous append, bad offset)."""


class MemoryLog:
    """In-memory :class:`RaftLog` with an explicit durable prefix."""

    __slots__ = ("_durable", "_entries", "_epoch_starts", "_flushing", "_snapshot", "_start")

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []
        self._start = 0
        self._epoch_starts: list[tuple[int, int]] = []
        self._snapshot: Snapshot | None = None
        self._durable = 0
        self._flushing: int | None = None

    @property
    def log_start_offset(self) -> int:
        return self._start

    @property
    def end_offset(self) -> int:
        return self._start + len(self._entries)

    @property
    def durable_end_offset(self) -> int:
        return self._durable

    @property
    def last_epoch(self) -> int:
        if self._entries:
            return self._entries[-1].epoch
        if self._snapshot is not None:
            return self._snapshot.snapshot_id.epoch
        return 0

    def append(self, entries: Sequence[LogEntry]) -> None:
        for entry in entries:
            if entry.offset != self.end_offset:
                raise LogCorruption(f"append at {entry.offset}, end offset {self.end_offset}")
            if entry.epoch < self.last_epoch:
                raise LogCorruption(f"epoch {entry.epoch} after {self.last_epoch}")
            if not self._epoch_starts or self._epoch_starts[-1][0] != entry.epoch:
                self._epoch_starts.append((entry.epoch, entry.offset))
            self._entries.append(entry)

    def truncate_to(self, offset: int) -> None:
        if offset < self._start:
            raise LogCorruption(f"truncate to {offset} below log start {self._start}")
        if offset >= self.end_offset:
            return
        del self._entries[offset - self._start :]
        while self._epoch_starts and self._epoch_starts[-1][1] >= offset:
            self._epoch_starts.pop()
        self._durable = min(self._durable, offset)
        if self._flushing is not None:
            self._flushing = min(self._flushing, offset)

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch:
        runs = with_snapshot_run(self._epoch_starts, self._snapshot, self._start)
        return end_offset_in_runs(runs, epoch, self._start, self.end_offset)

    def read(self, from_offset: int, max_entries: int) -> list[LogEntry]:
        if from_offset < self._start:
            raise LogCorruption(f"read at {from_offset} below log start {self._start}")
        first = from_offset - self._start
        return self._entries[first : first + max_entries]

    def latest_snapshot(self) -> Snapshot | None:
        return self._snapshot

    def create_snapshot(self, snapshot: Snapshot) -> None:
        end = snapshot.snapshot_id.end_offset
        if not self._start < end <= self.end_offset:
            raise LogCorruption(f"snapshot end {end} outside ({self._start}, {self.end_offset}]")
        self._snapshot = snapshot
        del self._entries[: end - self._start]
        self._start = end
        self._epoch_starts = [(e, max(o, end)) for e, o in self._epoch_starts]
        # Keep only the last run that begins at or below the new start.
        while len(self._epoch_starts) > 1 and self._epoch_starts[1][1] <= end:
            self._epoch_starts.pop(0)
        if not self._entries:
            self._epoch_starts = []
        self._durable = max(self._durable, end)

    def voter_records(self, from_offset: int) -> list[tuple[int, tuple[int, ...]]]:
        first = max(from_offset, self._start) - self._start
        found = []
        for e in self._entries[first:]:
            if e.control is ControlKind.KRAFT_VOTERS:
                (count,) = struct.unpack_from(">i", e.payload, 0)  # control.py's encoding
                found.append((e.offset, struct.unpack_from(f">{count}i", e.payload, 4)))
        return found

    def delete_before(self, offset: int) -> None:
        """Move the log start up to ``offset`` without a snapshot (a data
        partition's retention or DeleteRecords; the host calls it, below its
        high watermark).  At least one entry stays, so the log keeps its last
        epoch.  Durable on return."""
        if not self._start < offset < self.end_offset:
            raise LogCorruption(
                f"delete before {offset} outside ({self._start}, {self.end_offset})"
            )
        del self._entries[: offset - self._start]
        self._start = offset
        index = bisect.bisect_right([o for _, o in self._epoch_starts], offset) - 1
        self._epoch_starts = [
            (self._epoch_starts[index][0], offset),
            *self._epoch_starts[index + 1 :],
        ]
        self._durable = max(self._durable, offset)

    def install_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._entries = []
        self._epoch_starts = []
        self._start = snapshot.snapshot_id.end_offset
        self._durable = self._start
        if self._flushing is not None:
            self._flushing = min(self._flushing, self._start)

    def flush(self) -> int:
        self.start_flush()
        return self.complete_flush()

    def start_flush(self) -> None:
        """An asynchronous fsync starts: it covers what is written now."""
        self._flushing = self.end_offset

    def complete_flush(self) -> int:
        """The fsync started by :meth:`start_flush` completes.  Entries
        appended since it started are not covered, nor anything truncated
        meanwhile (a truncation lowers what it covers)."""
        if self._flushing is not None:
            self._durable = max(self._durable, min(self._flushing, self.end_offset))
            self._flushing = None
        return self._durable

    def crash(self, keep_unflushed: int) -> None:
        """Simulate a crash: keep the durable prefix and at most
        ``keep_unflushed`` of the entries written after it."""
        self.truncate_to(min(self.end_offset, self._durable + keep_unflushed))
        self._durable = self.end_offset
        self._flushing = None
