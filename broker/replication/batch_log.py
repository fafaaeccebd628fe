"""`BatchRaftLog`: a data partition's Raft log, one entry per Kafka batch.

Theory of operation
-------------------
The metadata log stores one Raft entry per offset (a batch of one record,
broker/replication/raft_log.py). A data partition cannot: a producer's batch
of N records takes N offsets and must be stored, and replicated, as the
producer sent it. So here a *data* entry is one whole record batch:

* its ``offset`` is the batch's base offset, its ``epoch`` the batch's
  partitionLeaderEpoch, its ``payload`` the batch's bytes;
* the log's ``end_offset`` is the storage's log end (the next batch's base
  offset), so it moves by the batch's record count, not by one.

The core never counts entries to find offsets: it checks that a fetched
run starts at ``end_offset``, appends, and reads ``end_offset`` back, and it
truncates only at epoch boundaries (``end_offset_for_epoch``), which are
batch boundaries. Control entries (LEADER_CHANGE, KRAFT_VOTERS) stay the
one-record control batches of the parent class; clients skip them.

Appending a data entry: a batch already stamped with the entry's offset and
epoch (a follower appending what the leader sent) goes in byte for byte
(``append_as_follower``: CRC checked, offsets kept); any other (the leader
proposing a producer's batch) is stamped by the storage with the log end
offset and the entry's epoch (``append``; LogAppendTime too), and the
:class:`~broker.storage.log.AppendInfo` is kept in :attr:`last_append` for
the produce path. ``read`` returns whole batches, at most ``max_entries``
and about ``READ_BYTES``, at least one.

The flush verbs the driver runs in a worker thread (``begin_flush``,
``end_flush``, ``abort_flush``) are the storage's.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.raft.log import LogCorruption
from broker.raft.messages import LogEntry
from broker.recordbatch import CONTROL_ATTRIBUTE, iter_records
from broker.replication.raft_log import PartitionRaftLog, entry_payload
from broker.storage.batch import split_batches
from broker.storage.log import AppendInfo, PartitionLog, PendingFlush

READ_BYTES = 1 << 20


class BatchRaftLog(PartitionRaftLog):
    __slots__ = ("last_append",)

    def __init__(self, log: PartitionLog, clock: object) -> None:
        super().__init__(log, None, clock)  # type: ignore[arg-type]
        self.last_append: AppendInfo | None = None

    def append(self, entries: Sequence[LogEntry]) -> None:
        if not entries:
            return
        if entries[0].offset != self.end_offset:
            raise LogCorruption(f"append at {entries[0].offset}, end offset {self.end_offset}")
        for entry in entries:
            if entry.control is not None:
                super().append(
                    [LogEntry(self.end_offset, entry.epoch, entry.payload, entry.control)]
                )
                continue
            payload = memoryview(entry.payload)
            batches = split_batches(payload)
            if not batches:
                raise LogCorruption(f"data entry at {entry.offset} without a record batch")
            header = batches[0][1]
            now = self._clock()
            if (
                header.base_offset == self.end_offset
                and header.partition_leader_epoch == entry.epoch
            ):
                self.last_append = self._log.append_as_follower(payload, now)
            else:
                if entry.epoch < self.last_epoch:
                    raise LogCorruption(f"epoch {entry.epoch} after {self.last_epoch}")
                self.last_append = self._log.append(payload, entry.epoch, now)

    def read(self, from_offset: int, max_entries: int) -> list[LogEntry]:
        log = self._log
        if from_offset < log.log_start_offset:
            raise LogCorruption(f"read at {from_offset} below log start {log.log_start_offset}")
        out: list[LogEntry] = []
        size = 0
        offset = from_offset
        while len(out) < max_entries and offset < log.log_end_offset and size < READ_BYTES:
            found = log.read(offset, READ_BYTES)
            if not found.records:
                break
            view = found.records
            before = len(out)
            for position, header in split_batches(view):
                if header.last_offset < offset:
                    continue
                if header.base_offset != offset:
                    raise LogCorruption(
                        f"read at {offset} inside the batch at {header.base_offset}"
                    )
                batch = view[position : position + header.size_in_bytes]
                epoch = max(header.partition_leader_epoch, 0)
                if header.is_control:
                    for attributes, record in iter_records(batch):
                        payload, control = entry_payload(
                            bool(attributes & CONTROL_ATTRIBUTE), record.key, record.value
                        )
                        out.append(LogEntry(offset, epoch, payload, control))
                else:
                    out.append(LogEntry(offset, epoch, bytes(batch)))
                offset = header.last_offset + 1
                size += header.size_in_bytes
                if len(out) >= max_entries or size >= READ_BYTES:
                    return out
            if len(out) == before:
                break
        return out

    # -- the driver's threaded flush ----------------------------------------------

    def begin_flush(self) -> PendingFlush:
        return self._log.begin_flush(self._clock())

    def end_flush(self, pending: PendingFlush) -> None:
        self._log.end_flush(pending)

    def abort_flush(self, pending: PendingFlush) -> None:
        self._log.abort_flush(pending)
