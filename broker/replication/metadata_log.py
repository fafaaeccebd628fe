"""The metadata log as a :class:`~broker.raft.RaftLog` over a PartitionLog.

Theory of operation
-------------------
``__cluster_metadata-0`` is an ordinary partition log of the storage engine.
Each Raft entry is one record batch of one record (broker/replication/
entries.py): baseOffset = entry offset, partitionLeaderEpoch = Raft epoch, a
control batch for LEADER_CHANGE / KRAFT_VOTERS. The core today counts one
offset per entry, so an entry never spans offsets; several metadata records
of one controller operation travel in one entry's payload (see
broker/controller/quorum.py), which keeps an operation atomic.

* ``append`` uses the follower path of the storage engine
  (``append_as_follower``): the core has assigned offsets and epochs already,
  on the leader as on followers, and the engine checks they continue the log.
* ``truncate_to`` is the engine's (fsynced before it returns).
* ``end_offset_for_epoch`` follows :class:`~broker.raft.MemoryLog`'s rules
  (largest epoch not above the one asked for, and where it ends; (log start,
  0) below every epoch), computed from the engine's leader-epoch cache.
* Snapshots: the core's snapshot blob (broker/raft/control.py) in one file,
  ``raft-snapshot``, written atomically; ``create_snapshot`` then moves the
  log start up, ``install_snapshot`` restarts the log empty at its end.
  The node never creates snapshots yet, so a follower never needs one; the
  whole snapshot is held in memory (fine for metadata of this size). KRaft's
  ``.checkpoint`` files are issue 12's.
* ``flush`` is synchronous here; the driver uses ``begin_flush`` /
  ``end_flush`` around a worker thread instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from broker.raft.control import decode_snapshot, encode_snapshot
from broker.raft.log import LogCorruption, Snapshot
from broker.raft.messages import LogEntry, OffsetAndEpoch
from broker.replication.entries import entries_blob, parse_entries
from broker.storage import files
from broker.storage.log import PartitionLog, PendingFlush

SNAPSHOT_FILE = "raft-snapshot"
READ_BYTES = 1 << 20


class MetadataLog:
    """:class:`~broker.raft.RaftLog` over one :class:`PartitionLog`."""

    def __init__(self, plog: PartitionLog, now_ms: Callable[[], int]) -> None:
        self.plog = plog
        self._now_ms = now_ms
        self._snapshot: Snapshot | None = None
        path = plog.directory / SNAPSHOT_FILE
        if path.exists():
            self._snapshot = decode_snapshot(path.read_bytes())

    @property
    def directory(self) -> Path:
        return self.plog.directory

    @property
    def log_start_offset(self) -> int:
        return self.plog.log_start_offset

    @property
    def end_offset(self) -> int:
        return self.plog.log_end_offset

    @property
    def durable_end_offset(self) -> int:
        return self.plog.recovery_point

    @property
    def last_epoch(self) -> int:
        plog = self.plog
        if plog.log_end_offset > plog.log_start_offset and plog.latest_epoch >= 0:
            return plog.latest_epoch
        if self._snapshot is not None:
            return self._snapshot.snapshot_id.epoch
        return 0

    def append(self, entries: Sequence[LogEntry]) -> None:
        if not entries:
            return
        if entries[0].offset != self.end_offset:
            raise LogCorruption(f"append at {entries[0].offset}, end offset {self.end_offset}")
        self.plog.append_as_follower(entries_blob(entries, self._now_ms()), self._now_ms())

    def truncate_to(self, offset: int) -> None:
        if offset < self.log_start_offset:
            raise LogCorruption(f"truncate to {offset} below log start {self.log_start_offset}")
        self.plog.truncate_to(offset, self._now_ms())

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch:
        runs = [(e.epoch, e.start_offset) for e in self.plog.epoch_cache.entries]
        start = self.log_start_offset
        snapshot = self._snapshot
        if snapshot is not None and (not runs or runs[0][0] != snapshot.snapshot_id.epoch):
            runs.insert(0, (snapshot.snapshot_id.epoch, start))
        best = -1
        for i, (run_epoch, _offset) in enumerate(runs):
            if run_epoch <= epoch:
                best = i
        if best < 0:
            return OffsetAndEpoch(start, 0)
        end = runs[best + 1][1] if best + 1 < len(runs) else self.end_offset
        return OffsetAndEpoch(max(end, start), runs[best][0])

    def read(self, from_offset: int, max_entries: int) -> list[LogEntry]:
        if from_offset < self.log_start_offset:
            raise LogCorruption(f"read at {from_offset} below log start {self.log_start_offset}")
        out: list[LogEntry] = []
        offset = from_offset
        end = self.end_offset
        while offset < end and len(out) < max_entries:
            chunk = self.plog.read(offset, READ_BYTES)
            if not chunk.records:
                break
            got = parse_entries(chunk.records, offset)
            if not got:
                break
            out.extend(got[: max_entries - len(out)])
            offset = out[-1].offset + 1
        return out

    def latest_snapshot(self) -> Snapshot | None:
        return self._snapshot

    def create_snapshot(self, snapshot: Snapshot) -> None:
        end = snapshot.snapshot_id.end_offset
        if not self.log_start_offset < end <= self.end_offset:
            raise LogCorruption(
                f"snapshot end {end} outside ({self.log_start_offset}, {self.end_offset}]"
            )
        files.atomic_write(self.directory / SNAPSHOT_FILE, encode_snapshot(snapshot))
        self._snapshot = snapshot
        self.plog.advance_log_start_offset(end)
        self.plog.checkpoint()

    def install_snapshot(self, snapshot: Snapshot) -> None:
        files.atomic_write(self.directory / SNAPSHOT_FILE, encode_snapshot(snapshot))
        self._snapshot = snapshot
        self.plog.truncate_fully_and_start_at(snapshot.snapshot_id.end_offset, self._now_ms())

    def flush(self) -> int:
        self.plog.flush(self._now_ms())
        return self.plog.recovery_point

    def begin_flush(self) -> PendingFlush:
        return self.plog.begin_flush(self._now_ms())

    def end_flush(self, pending: PendingFlush) -> None:
        self.plog.end_flush(pending)

    def abort_flush(self, pending: PendingFlush) -> None:
        self.plog.abort_flush(pending)

    def close(self) -> None:
        self.plog.close()
