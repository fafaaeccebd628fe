"""`PartitionRaftLog`: the Raft core's `RaftLog` over the storage engine.

Theory of operation
-------------------
The Raft log of a partition (or of the cluster metadata) *is* its Kafka
segment log (broker/storage): one Raft entry is one record batch of one
record, at the entry's offset, whose ``partitionLeaderEpoch`` is the Raft
epoch. So a follower's log is byte for byte the leader's and Kafka's tools
read it. Entries map to batches like this:

* a data entry: a batch of one record, null key, the payload as its value;
* a control entry: a Kafka control batch (attribute bit 5) of one control
  record, key ``int16 version 0, int16 type`` (Kafka's ControlRecordType:
  LEADER_CHANGE 2, KRAFT_VOTERS 6), value the Kafka message: a
  LeaderChangeMessage (leader id, voters) or a VotersRecord (each voter with
  a zero directory id, no endpoints, kraft.version 0-1). Clients skip control
  batches. The core's own payload encoding (broker/raft/control.py) is
  translated at this boundary, in both directions.

Epochs: the storage says -1 (Kafka's UNDEFINED_EPOCH) where the core says 0
("no epoch": an empty log, an offset below every epoch); the mapping happens
here and nowhere else.

``end_offset_for_epoch`` answers from the storage's leader-epoch cache (the
``leader-epoch-checkpoint`` file), with the core's rules: the largest epoch
not above the one asked and where it ends; a snapshot contributes a run of
its epoch starting at the log start, so a log made only of a snapshot still
answers. (The storage's own ``end_offset_for_epoch`` follows Kafka's
OffsetsForLeaderEpoch rules, which differ below the first and above the last
epoch.)

Durability (the `RaftLog` contract):

* ``append`` writes to the page cache only.
* ``flush`` is the storage's three steps: ``begin_flush`` captures the log
  end offset *before* any fsync starts, the fsyncs run, ``end_flush`` moves
  the recovery point to the captured offset; the durable end returned is the
  recovery point, so an entry appended while the fsync ran is never counted.
  ``start_flush``/``complete_flush`` split the same steps for a host whose
  fsync runs while the core keeps going (the simulator's asynchronous host).
  The storage refuses to truncate or move the log start while a flush runs,
  so a truncation or a snapshot arriving meanwhile first completes the
  pending flush (what a Trio host does by waiting for its worker thread).
* ``truncate_to`` is fsynced by the storage before it returns.
* Snapshots are Kafka's ``<20-digit end offset>-<10-digit epoch>.checkpoint``
  files in the partition directory: a control batch with a SnapshotHeader,
  one with a KRaftVersionRecord and the VotersRecord, the state machine's
  bytes as one data record, and a control batch with a SnapshotFooter; batch
  offsets count from 0 within the file and carry the snapshot's epoch.
  Written as ``.checkpoint.part``, fsynced, renamed, directory fsynced.
  ``create_snapshot`` writes the file, then moves the log start to its end
  (the log-start checkpoint becomes durable at the next flush);
  ``install_snapshot`` writes the file, removes the other snapshots, then
  empties the log to start at the snapshot's end (fsynced by the storage).
* The voters index, ``raft-voters-checkpoint`` (ours; Kafka reads a
  partition's voters from its snapshot and log): ``version``, ``count``,
  then one line ``offset id id ...`` per KRAFT_VOTERS entry at or above the
  log start, so the core finds the voter history at start-up without
  reading the log (`broker.raft.log.VoterIndex`). Rewritten durably
  (atomically) *before* a voters entry is appended, after a truncation and
  after an install, so it never misses a voters entry the log holds; at
  open, records at or above the recovered log end are dropped (their
  entries were lost) and the rest checked against their batches; a missing
  or wrong index is rebuilt by one scan of the log.
* ``open`` reconciles: the latest snapshot file wins; a log that does not
  reach the snapshot's end, or whose entry just below it has another epoch
  (an install cut short by a crash), is emptied to start at the snapshot's
  end; otherwise the log start moves up to it (a create_snapshot whose log
  start checkpoint was not yet durable). Keeping the suffix of a log whose
  entry at ``end - 1`` has the snapshot's epoch is safe by Raft's log
  matching property: its prefix is the snapshot's. A log recovered after an
  unclean shutdown is flushed at once, because the core counts the whole
  log it finds at start as durable.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from broker.raft.control import (
    decode_leader_change,
    decode_voters,
    encode_leader_change,
    encode_voters,
)
from broker.raft.log import LogCorruption, Snapshot, end_offset_in_runs, with_snapshot_run
from broker.raft.messages import ControlKind, LogEntry, OffsetAndEpoch, SnapshotId
from broker.raft.types import ElectionState
from broker.recordbatch import CONTROL_ATTRIBUTE, build_batch, iter_records
from broker.replication.quorum_state import QuorumStateStore
from broker.storage import files
from broker.storage.batch import split_batches
from broker.storage.config import LogConfig
from broker.storage.epoch_cache import UNDEFINED_EPOCH
from broker.storage.log import PartitionLog, PendingFlush
from broker.storage.power_loss import PowerLossDisk
from broker.wire.codec import ZERO_UUID, Writer
from broker.wire.generated import (
    k_raft_version_record,
    leader_change_message,
    snapshot_footer_record,
    snapshot_header_record,
    voters_record,
)

# Kafka's ControlRecordType values.
LEADER_CHANGE = 2
SNAPSHOT_HEADER = 3
SNAPSHOT_FOOTER = 4
KRAFT_VERSION = 5
KRAFT_VOTERS = 6

SNAPSHOT_SUFFIX = ".checkpoint"
PARTIAL_SUFFIX = ".checkpoint.part"
VOTERS_INDEX = "raft-voters-checkpoint"
KRAFT_VERSION_LEVEL = 1
"""kraft.version written in snapshots: 1, the version with VotersRecord."""

_READ_BYTES = 1 << 20
_APPEND_BYTES = 1 << 20

Clock = Callable[[], int]


class SnapshotCorrupt(Exception):
    """A snapshot file that cannot be read back (names the file)."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def control_key(kind: int) -> bytes:
    return (0).to_bytes(2, "big") + kind.to_bytes(2, "big", signed=True)


def control_kind(key: bytes | None) -> int:
    if key is None or len(key) < 4:
        raise LogCorruption(f"control record key {key!r}")
    return int.from_bytes(key[2:4], "big", signed=True)


def _encode(module: object, message: object) -> bytes:
    writer = Writer()
    module.ENCODERS[0](message, writer)  # type: ignore[attr-defined]
    return writer.getvalue()


def _decode(module: object, value: bytes | None) -> object:
    if value is None:
        raise LogCorruption("control record without a value")
    message, _ = module.DECODERS[0](memoryview(value), 0)  # type: ignore[attr-defined]
    return message


def voters_record_value(voters: Iterable[int]) -> bytes:
    record = voters_record.VotersRecord(
        0,
        [
            voters_record.Voter(
                v, ZERO_UUID, [], voters_record.KRaftVersionFeature(0, KRAFT_VERSION_LEVEL)
            )
            for v in sorted(voters)
        ],
    )
    return _encode(voters_record, record)


def voters_from_value(value: bytes | None) -> tuple[int, ...]:
    record = _decode(voters_record, value)
    assert isinstance(record, voters_record.VotersRecord)
    return tuple(sorted(v.voter_id for v in record.voters))


def entry_record(entry: LogEntry) -> tuple[bytes | None, bytes]:
    """The (key, value) of the one record of ``entry``'s batch."""
    if entry.control is None:
        return None, entry.payload
    if entry.control is ControlKind.LEADER_CHANGE:
        leader_id, voters = decode_leader_change(entry.payload)
        message = leader_change_message.LeaderChangeMessage(
            0, leader_id, [leader_change_message.Voter(v) for v in voters], []
        )
        return control_key(LEADER_CHANGE), _encode(leader_change_message, message)
    if entry.control is ControlKind.KRAFT_VOTERS:
        voters, _ = decode_voters(entry.payload)
        return control_key(KRAFT_VOTERS), voters_record_value(voters)
    raise LogCorruption(f"control entry of kind {entry.control!r}")


def entry_payload(
    control: bool, key: bytes | None, value: bytes | None
) -> tuple[bytes, ControlKind | None]:
    """The core's (payload, control kind) of a stored record."""
    if not control:
        return (value or b""), None
    kind = control_kind(key)
    if kind == LEADER_CHANGE:
        message = _decode(leader_change_message, value)
        assert isinstance(message, leader_change_message.LeaderChangeMessage)
        voters = [v.voter_id for v in message.voters]
        return encode_leader_change(message.leader_id, voters), ControlKind.LEADER_CHANGE
    if kind == KRAFT_VOTERS:
        return encode_voters(voters_from_value(value)), ControlKind.KRAFT_VOTERS
    raise LogCorruption(f"control record type {kind} in a Raft log")


# -- the voters index -------------------------------------------------------------


def encode_voters_index(records: Sequence[tuple[int, tuple[int, ...]]]) -> bytes:
    lines = ["0", str(len(records))]
    lines += [" ".join(str(v) for v in (offset, *voters)) for offset, voters in records]
    return ("\n".join(lines) + "\n").encode()


def decode_voters_index(data: bytes) -> list[tuple[int, tuple[int, ...]]]:
    """ValueError if the file is not a whole index."""
    lines = data.decode("ascii").split("\n")
    if len(lines) < 3 or lines[0] != "0" or lines[-1] != "":
        raise ValueError("not a voters index")
    count = int(lines[1])
    if count != len(lines) - 3:
        raise ValueError("voters index count mismatch")
    records = []
    for line in lines[2:-1]:
        fields = [int(f) for f in line.split(" ")]
        records.append((fields[0], tuple(fields[1:])))
    if any(a[0] >= b[0] for a, b in itertools.pairwise(records)):
        raise ValueError("voters index offsets not increasing")
    return records


# -- snapshot files ---------------------------------------------------------------


def snapshot_name(snapshot_id: SnapshotId) -> str:
    return f"{snapshot_id.end_offset:020d}-{snapshot_id.epoch:010d}{SNAPSHOT_SUFFIX}"


def parse_snapshot_name(name: str) -> SnapshotId | None:
    if not name.endswith(SNAPSHOT_SUFFIX):
        return None
    stem = name[: -len(SNAPSHOT_SUFFIX)]
    offset, sep, epoch = stem.partition("-")
    if sep != "-" or len(offset) != 20 or len(epoch) != 10:
        return None
    if not (offset.isdigit() and epoch.isdigit()):
        return None
    return SnapshotId(int(offset), int(epoch))


def encode_snapshot_file(snapshot: Snapshot, timestamp: int) -> bytes:
    """Kafka's snapshot layout: header, kraft.version + voters, data, footer."""
    epoch = snapshot.snapshot_id.epoch
    header = snapshot_header_record.SnapshotHeaderRecord(0, timestamp)
    batches = [
        build_batch(
            [(control_key(SNAPSHOT_HEADER), _encode(snapshot_header_record, header))],
            timestamp=timestamp,
            base_offset=0,
            leader_epoch=epoch,
            control=True,
        ),
        build_batch(
            [
                (
                    control_key(KRAFT_VERSION),
                    _encode(
                        k_raft_version_record,
                        k_raft_version_record.KRaftVersionRecord(0, KRAFT_VERSION_LEVEL),
                    ),
                ),
                (control_key(KRAFT_VOTERS), voters_record_value(snapshot.voters)),
            ],
            timestamp=timestamp,
            base_offset=1,
            leader_epoch=epoch,
            control=True,
        ),
    ]
    next_offset = 3
    if snapshot.data:
        batches.append(
            build_batch(
                [(None, snapshot.data)],
                timestamp=timestamp,
                base_offset=next_offset,
                leader_epoch=epoch,
            )
        )
        next_offset += 1
    footer = snapshot_footer_record.SnapshotFooterRecord(0)
    batches.append(
        build_batch(
            [(control_key(SNAPSHOT_FOOTER), _encode(snapshot_footer_record, footer))],
            timestamp=timestamp,
            base_offset=next_offset,
            leader_epoch=epoch,
            control=True,
        )
    )
    return b"".join(batches)


def decode_snapshot_file(data: bytes, snapshot_id: SnapshotId, path: Path) -> Snapshot:
    """Read back a snapshot file; :class:`SnapshotCorrupt` names the file."""
    try:
        kinds: list[int] = []
        voters: tuple[int, ...] | None = None
        chunks: list[bytes] = []
        for attributes, record in iter_records(data):
            if attributes & CONTROL_ATTRIBUTE:
                kind = control_kind(record.key)
                kinds.append(kind)
                if kind == KRAFT_VOTERS:
                    voters = voters_from_value(record.value)
            else:
                chunks.append(record.value or b"")
    except Exception as exc:  # a damaged file, whatever the decoder tripped on
        raise SnapshotCorrupt(f"snapshot {path} is corrupt: {exc}") from exc
    if not kinds or kinds[0] != SNAPSHOT_HEADER or kinds[-1] != SNAPSHOT_FOOTER:
        raise SnapshotCorrupt(f"snapshot {path} lacks its SnapshotHeader or SnapshotFooter")
    if voters is None:
        raise SnapshotCorrupt(f"snapshot {path} holds no VotersRecord")
    return Snapshot(snapshot_id, voters, b"".join(chunks))


def write_snapshot_file(directory: Path, snapshot: Snapshot, timestamp: int) -> Path:
    """Write atomically: ``.part``, fsync, rename, fsync the directory."""
    path = directory / snapshot_name(snapshot.snapshot_id)
    partial = PARTIAL_SUFFIX[len(SNAPSHOT_SUFFIX) :]  # X.checkpoint -> X.checkpoint.part
    files.atomic_write(path, encode_snapshot_file(snapshot, timestamp), partial)
    return path


def snapshot_files(directory: Path) -> list[tuple[SnapshotId, Path]]:
    """The snapshot files of ``directory``, oldest first (by end offset, epoch)."""
    found = []
    for path in directory.iterdir():
        sid = parse_snapshot_name(path.name)
        if sid is not None:
            found.append((sid, path))
    found.sort(key=lambda item: (item[0].end_offset, item[0].epoch))
    return found


# -- the log ----------------------------------------------------------------------


class PartitionRaftLog:
    """:class:`broker.raft.log.RaftLog` over a :class:`PartitionLog`."""

    __slots__ = ("_clock", "_dir", "_log", "_pending", "_snapshot", "_voters")

    def __init__(self, log: PartitionLog, snapshot: Snapshot | None, clock: Clock) -> None:
        self._log = log
        self._dir = log.directory
        self._snapshot = snapshot
        self._clock = clock
        self._pending: PendingFlush | None = None
        self._voters = self._load_voters_index()

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        config: LogConfig | None = None,
        *,
        clock: Clock = wall_clock_ms,
    ) -> PartitionRaftLog:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for leftover in path.glob("*" + PARTIAL_SUFFIX):
            leftover.unlink()
        now = clock()
        log = PartitionLog.open(path, config or LogConfig(), now)
        snapshot = None
        found = snapshot_files(path)
        if found:
            sid, latest = found[-1]
            snapshot = decode_snapshot_file(latest.read_bytes(), sid, latest)
            for _, older in found[:-1]:
                older.unlink()
            if len(found) > 1:
                files.fsync_dir(path)
            end = sid.end_offset
            if log.log_end_offset < end or (
                log.log_start_offset < end and log.epoch_for_offset(end - 1) != sid.epoch
            ):
                log.truncate_fully_and_start_at(end, now)
            elif log.log_start_offset < end:
                log.advance_log_start_offset(end)
        if log.recovery_point < log.log_end_offset:
            log.flush(now)  # the core counts what it finds at start as durable
        return cls(log, snapshot, clock)

    @property
    def storage(self) -> PartitionLog:
        return self._log

    @property
    def directory(self) -> Path:
        return self._dir

    # -- offsets -------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._log.log_start_offset

    @property
    def end_offset(self) -> int:
        return self._log.log_end_offset

    @property
    def durable_end_offset(self) -> int:
        """Below it, every entry is fsynced or covered by a snapshot."""
        return max(self._log.recovery_point, self._log.log_start_offset)

    @property
    def last_epoch(self) -> int:
        log = self._log
        if log.log_end_offset > log.log_start_offset and log.latest_epoch != UNDEFINED_EPOCH:
            return log.latest_epoch
        if self._snapshot is not None:
            return self._snapshot.snapshot_id.epoch
        return 0

    # -- entries -------------------------------------------------------------

    def append(self, entries: Sequence[LogEntry]) -> None:
        if not entries:
            return
        end, last = self.end_offset, self.last_epoch
        for entry in entries:
            if entry.offset != end:
                raise LogCorruption(f"append at {entry.offset}, end offset {end}")
            if entry.epoch < last:
                raise LogCorruption(f"epoch {entry.epoch} after {last}")
            end, last = end + 1, entry.epoch
        added = [
            (e.offset, decode_voters(e.payload)[0])
            for e in entries
            if e.control is ControlKind.KRAFT_VOTERS
        ]
        if added:  # the index first: it never misses a voters entry the log has
            self._voters = [*self._voters, *added]
            self._write_voters_index(self._voters)
        now = self._clock()
        run: list[bytes] = []
        run_epoch, run_size = entries[0].epoch, 0
        for entry in entries:
            key, value = entry_record(entry)
            batch = build_batch([(key, value)], timestamp=now, control=entry.control is not None)
            if run and (entry.epoch != run_epoch or run_size + len(batch) > _APPEND_BYTES):
                self._log.append(b"".join(run), run_epoch, now)
                run, run_size = [], 0
            run.append(batch)
            run_epoch, run_size = entry.epoch, run_size + len(batch)
        self._log.append(b"".join(run), run_epoch, now)

    def read(self, from_offset: int, max_entries: int) -> list[LogEntry]:
        log = self._log
        if from_offset < log.log_start_offset:
            raise LogCorruption(f"read at {from_offset} below log start {log.log_start_offset}")
        out: list[LogEntry] = []
        offset = from_offset
        while len(out) < max_entries and offset < log.log_end_offset:
            found = log.read(offset, _READ_BYTES)
            if not found.records:
                break
            before = len(out)
            view = found.records
            for position, header in split_batches(view):
                if header.last_offset < offset:
                    continue
                batch = view[position : position + header.size_in_bytes]
                for attributes, record in iter_records(batch):
                    if record.offset < offset:
                        continue
                    if record.offset != offset:
                        raise LogCorruption(f"gap in the log: {record.offset} after {offset - 1}")
                    payload, control = entry_payload(
                        bool(attributes & CONTROL_ATTRIBUTE), record.key, record.value
                    )
                    epoch = max(header.partition_leader_epoch, 0)
                    out.append(LogEntry(offset, epoch, payload, control))
                    offset += 1
                    if len(out) == max_entries:
                        return out
            if len(out) == before:
                break
        return out

    def truncate_to(self, offset: int) -> None:
        if offset < self.log_start_offset:
            raise LogCorruption(f"truncate to {offset} below log start {self.log_start_offset}")
        if offset >= self.end_offset:
            return
        self._settle_flush()
        self._log.truncate_to(offset, self._clock())
        self._cut_voters_index(self.end_offset)

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch:
        start, end = self.log_start_offset, self.end_offset
        runs = [
            (e.epoch, max(e.start_offset, start))
            for e in self._log.epoch_cache.entries
            if e.start_offset < end
        ]
        runs = with_snapshot_run(runs, self._snapshot, start)
        return end_offset_in_runs(runs, epoch, start, end)

    # -- the voters index ----------------------------------------------------

    def voter_records(self, from_offset: int) -> list[tuple[int, tuple[int, ...]]]:
        return [r for r in self._voters if r[0] >= from_offset]

    def _load_voters_index(self) -> list[tuple[int, tuple[int, ...]]]:
        start, end = self.log_start_offset, self.end_offset
        try:
            stored = decode_voters_index((self._dir / VOTERS_INDEX).read_bytes())
        except (OSError, ValueError):
            stored = None
        if stored is not None:
            records = [r for r in stored if start <= r[0] < end]
            if all(self._voters_at(offset) == voters for offset, voters in records):
                if len(records) != len(stored):
                    self._write_voters_index(records)
                return records
        records = [
            (e.offset, decode_voters(e.payload)[0])
            for e in self._read_all(start)
            if e.control is ControlKind.KRAFT_VOTERS
        ]
        self._write_voters_index(records)
        return records

    def _voters_at(self, offset: int) -> tuple[int, ...] | None:
        found = self.read(offset, 1)
        if not found or found[0].control is not ControlKind.KRAFT_VOTERS:
            return None
        return decode_voters(found[0].payload)[0]

    def _read_all(self, start: int) -> list[LogEntry]:
        out: list[LogEntry] = []
        while start < self.end_offset:
            batch = self.read(start, 4096)
            if not batch:
                break
            out += batch
            start = batch[-1].offset + 1
        return out

    def _write_voters_index(self, records: list[tuple[int, tuple[int, ...]]]) -> None:
        files.atomic_write(self._dir / VOTERS_INDEX, encode_voters_index(records))

    def _cut_voters_index(self, end: int) -> None:
        kept = [r for r in self._voters if r[0] < end]
        if len(kept) != len(self._voters):
            self._voters = kept
            self._write_voters_index(kept)

    # -- snapshots -----------------------------------------------------------

    def latest_snapshot(self) -> Snapshot | None:
        return self._snapshot

    def create_snapshot(self, snapshot: Snapshot) -> None:
        end = snapshot.snapshot_id.end_offset
        if not self.log_start_offset < end <= self.end_offset:
            raise LogCorruption(
                f"snapshot end {end} outside ({self.log_start_offset}, {self.end_offset}]"
            )
        self._settle_flush()
        write_snapshot_file(self._dir, snapshot, self._clock())
        self._remove_snapshots_except(snapshot.snapshot_id)
        self._snapshot = snapshot
        self._log.advance_log_start_offset(end)

    def delete_before(self, offset: int) -> None:
        """Move the log start up to ``offset`` without a snapshot (a data
        partition's retention or DeleteRecords), keeping at least one entry;
        durable on return (the log-start checkpoint is fsynced)."""
        if not self.log_start_offset < offset < self.end_offset:
            raise LogCorruption(
                f"delete before {offset} outside ({self.log_start_offset}, {self.end_offset})"
            )
        self._settle_flush()
        self._log.advance_log_start_offset(offset)
        self._log.flush(self._clock())

    def install_snapshot(self, snapshot: Snapshot) -> None:
        self._settle_flush()
        write_snapshot_file(self._dir, snapshot, self._clock())
        self._remove_snapshots_except(snapshot.snapshot_id)
        self._snapshot = snapshot
        self._log.truncate_fully_and_start_at(snapshot.snapshot_id.end_offset, self._clock())
        self._cut_voters_index(-1)

    def _remove_snapshots_except(self, keep: SnapshotId) -> None:
        removed = False
        for sid, path in snapshot_files(self._dir):
            if sid != keep:
                path.unlink(missing_ok=True)
                removed = True
        if removed:
            files.fsync_dir(self._dir)

    # -- durability ----------------------------------------------------------

    def flush(self) -> int:
        self.start_flush()
        return self.complete_flush()

    def start_flush(self) -> None:
        """Capture what an fsync covers (the log end now); run it with
        :meth:`complete_flush`."""
        self._settle_flush()
        self._pending = self._log.begin_flush(self._clock())

    def complete_flush(self) -> int:
        """Run the captured fsyncs; return the durable end offset (the log
        end captured by :meth:`start_flush`, cut by any truncation since)."""
        self._settle_flush()
        return self.durable_end_offset

    def _settle_flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.run()
        except BaseException:
            self._log.abort_flush(pending)
            raise
        self._log.end_flush(pending)

    def close(self) -> None:
        self._settle_flush()
        self._log.close()

    def abandon(self) -> None:
        """Drop file handles without flushing (a crash, in tests)."""
        self._pending = None
        self._log.abandon()


# -- the simulator's disks ----------------------------------------------------------

SIM_CONFIG = LogConfig(segment_bytes=2048, index_interval_bytes=128, segment_index_bytes=4096)
"""Small segments, so a simulated log rolls, and its snapshots delete whole
segments, every few dozen entries."""


class PowerLossLogs:
    """The simulator's disks (``broker.raft.sim.SimDisk``) as real files: node
    ``i`` keeps its log and its quorum-state file in ``root/node-i/__raft-0``;
    a crash is a power loss of ``root/node-i`` (every file back to its last
    fsync), after which the log is opened again (recovery included)."""

    def __init__(self, disk: PowerLossDisk, root: Path, config: LogConfig = SIM_CONFIG) -> None:
        self.disk = disk
        self.root = root
        self.config = config
        self.logs: dict[int, PartitionRaftLog] = {}

    def _node(self, i: int) -> Path:
        return self.root / f"node-{i}"

    def _log_dir(self, i: int) -> Path:
        return self._node(i) / "__raft-0"

    def open(self, i: int) -> PartitionRaftLog:
        self._node(i).mkdir(parents=True, exist_ok=True)
        log = self.logs[i] = PartitionRaftLog.open(self._log_dir(i), self.config, clock=lambda: 0)
        return log

    def crash(self, i: int, keep_unflushed: int) -> PartitionRaftLog:
        self.logs[i].abandon()
        self.disk.crash(self._node(i))
        return self.open(i)

    def lose(self, i: int) -> PartitionRaftLog:
        self.logs[i].abandon()
        shutil.rmtree(self._node(i))
        self.disk.forget(self._node(i))
        return self.open(i)

    def save_state(self, i: int, state: ElectionState) -> None:
        QuorumStateStore(self._log_dir(i)).save(state)

    def load_state(self, i: int) -> ElectionState | None:
        return QuorumStateStore(self._log_dir(i)).load()

    def close(self) -> None:
        for log in self.logs.values():
            log.abandon()


@contextlib.contextmanager
def power_loss_logs(
    parent: str | os.PathLike[str] | None = None, config: LogConfig = SIM_CONFIG
) -> Iterator[PowerLossLogs]:
    """Disks for one simulated seed in a temporary directory, removed after
    (on tmpfs if there is one: the power-loss model needs no real disk)."""
    if parent is None and os.path.isdir("/dev/shm"):
        parent = "/dev/shm"
    with (
        tempfile.TemporaryDirectory(prefix="raft-sim-", dir=parent) as tmp,
        PowerLossDisk(tmp) as disk,
    ):
        logs = PowerLossLogs(disk, Path(tmp).resolve(), config)
        try:
            yield logs
        finally:
            logs.close()
