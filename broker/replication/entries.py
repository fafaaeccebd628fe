"""Raft log entries as Kafka record batches, and back.

One :class:`~broker.raft.LogEntry` is one record batch holding one record:
the batch's baseOffset is the entry's offset, its partitionLeaderEpoch the
Raft epoch, and the record's value the entry's payload. Control entries
(LEADER_CHANGE, KRAFT_VOTERS) are control batches (attribute bit 5) whose
record key is Kafka's control key (int16 version 0, int16 type), so clients
and our own readers skip them. The payload of a control entry is the core's
own encoding (broker/raft/control.py), not Kafka's LeaderChangeMessage /
VotersRecord schema: Kafka's tools would not decode those values.

Used both by the metadata log (what is on disk) and by the wire translation
(what Fetch carries), so a follower stores exactly what the leader stores.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from broker.raft.messages import ControlKind, LogEntry
from broker.recordbatch import CONTROL_ATTRIBUTE, build_batch, iter_records
from broker.storage.batch import BytesLike

_CONTROL_KEY = struct.Struct(">hh")


def entry_batch(entry: LogEntry, timestamp: int) -> bytes:
    """The record batch that stores ``entry``."""
    key = None
    if entry.control is not None:
        key = _CONTROL_KEY.pack(0, int(entry.control))
    return build_batch(
        [(key, entry.payload)],
        timestamp=timestamp,
        base_offset=entry.offset,
        leader_epoch=entry.epoch,
        control=entry.control is not None,
    )


def entries_blob(entries: Iterable[LogEntry], timestamp: int) -> bytes:
    return b"".join(entry_batch(e, timestamp) for e in entries)


def parse_entries(blob: BytesLike, from_offset: int = 0) -> list[LogEntry]:
    """The entries in a blob of batches written by :func:`entry_batch`
    (records below ``from_offset`` are skipped)."""
    from broker.storage.batch import split_batches

    view = memoryview(blob)
    out: list[LogEntry] = []
    epochs = {h.base_offset: h.partition_leader_epoch for _pos, h in split_batches(view)}
    for attributes, record in iter_records(view):
        if record.offset < from_offset:
            continue
        control: ControlKind | None = None
        if attributes & CONTROL_ATTRIBUTE:
            if record.key is None or len(record.key) < _CONTROL_KEY.size:
                raise ValueError(f"control record at {record.offset} without a control key")
            _version, kind = _CONTROL_KEY.unpack_from(record.key, 0)
            control = ControlKind(kind)
        epoch = epochs.get(record.offset)
        if epoch is None:
            raise ValueError(f"record at {record.offset} is not alone in its batch")
        out.append(LogEntry(record.offset, epoch, record.value or b"", control))
    return out


def parse_data_entries(blob: BytesLike) -> list[LogEntry]:
    """The entries of a data partition's fetched batches: one entry per data
    batch (its bytes, at its base offset), control batches as above
    (broker/replication/batch_log.py)."""
    from broker.storage.batch import split_batches

    view = memoryview(blob)
    out: list[LogEntry] = []
    for position, header in split_batches(view):
        batch = view[position : position + header.size_in_bytes]
        if header.is_control:
            out.extend(parse_entries(batch))
        else:
            out.append(LogEntry(header.base_offset, header.partition_leader_epoch, bytes(batch)))
    return out
