"""Control-record payloads, the snapshot blob, and the voter-set history.

Theory of operation
-------------------
KRaft keeps its own configuration in the log as control records that clients
skip (KIP-595, KIP-853):

* ``LEADER_CHANGE`` is written by every new leader as the first entry of its
  epoch.  Committing it is how the leader commits an entry of its own epoch,
  which is what allows the high watermark to move (Raft paper section 5.4.2).
* ``KRAFT_VOTERS`` holds the complete voter set.  A replica uses the *latest*
  voter set in its log, committed or not (Raft thesis section 4.1); when the
  log is truncated, the voter set reverts with it.  :class:`VoterHistory`
  remembers at which offset each voter set was written so that truncation and
  snapshots can find the set in force at any offset.

Payload formats (all integers big-endian):

* voters / leader change: ``int32 count`` then ``count`` x ``int32 id``; a
  leader change record first has ``int32 leader_id``.
* snapshot blob (FetchSnapshot's ``unaligned_records``): ``int64 end_offset``,
  ``int32 epoch``, the voters encoding, then the state machine's bytes.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterable

from broker.raft.log import Snapshot
from broker.raft.messages import SnapshotId

_I32 = struct.Struct(">i")
_SNAP_HEAD = struct.Struct(">qi")  # end_offset, epoch


def encode_voters(voters: Iterable[int]) -> bytes:
    ids = sorted(voters)
    return _I32.pack(len(ids)) + b"".join(_I32.pack(v) for v in ids)


def decode_voters(data: bytes, offset: int = 0) -> tuple[tuple[int, ...], int]:
    """Decode a voters encoding at ``offset``; return (voters, next offset)."""
    (count,) = _I32.unpack_from(data, offset)
    offset += 4
    ids = tuple(_I32.unpack_from(data, offset + 4 * i)[0] for i in range(count))
    return ids, offset + 4 * count


def encode_leader_change(leader_id: int, voters: Iterable[int]) -> bytes:
    return _I32.pack(leader_id) + encode_voters(voters)


def decode_leader_change(data: bytes) -> tuple[int, tuple[int, ...]]:
    (leader_id,) = _I32.unpack_from(data, 0)
    voters, _ = decode_voters(data, 4)
    return leader_id, voters


def encode_snapshot(snapshot: Snapshot) -> bytes:
    sid = snapshot.snapshot_id
    return (
        _SNAP_HEAD.pack(sid.end_offset, sid.epoch) + encode_voters(snapshot.voters) + snapshot.data
    )


def decode_snapshot(blob: bytes) -> Snapshot:
    end_offset, epoch = _SNAP_HEAD.unpack_from(blob, 0)
    voters, pos = decode_voters(blob, _SNAP_HEAD.size)
    return Snapshot(SnapshotId(end_offset, epoch), voters, bytes(blob[pos:]))


class VoterHistory:
    """Voter sets by the offset of the record that introduced them.

    ``base`` is the set in force below every recorded offset: the latest
    snapshot's set, or the bootstrap set of a fresh quorum.
    """

    __slots__ = ("_base", "_offsets", "_sets")

    def __init__(self, base: Iterable[int]) -> None:
        self._base = frozenset(base)
        self._offsets: list[int] = []
        self._sets: list[frozenset[int]] = []

    @property
    def latest(self) -> frozenset[int]:
        return self._sets[-1] if self._sets else self._base

    @property
    def latest_offset(self) -> int:
        """Offset of the latest voters record, or -1 if there is none."""
        return self._offsets[-1] if self._offsets else -1

    def record(self, offset: int, voters: Iterable[int]) -> None:
        if self._offsets and offset <= self._offsets[-1]:
            raise ValueError(f"voters record at {offset} not after {self._offsets[-1]}")
        self._offsets.append(offset)
        self._sets.append(frozenset(voters))

    def at(self, end_offset: int) -> frozenset[int]:
        """The voter set in force for a log ending at ``end_offset``."""
        index = bisect.bisect_left(self._offsets, end_offset) - 1
        return self._sets[index] if index >= 0 else self._base

    def truncate_to(self, offset: int) -> None:
        index = bisect.bisect_left(self._offsets, offset)
        del self._offsets[index:]
        del self._sets[index:]

    def compact_to(self, end_offset: int) -> None:
        """Forget records below ``end_offset`` (a snapshot now covers them)."""
        base = self.at(end_offset)
        index = bisect.bisect_left(self._offsets, end_offset)
        del self._offsets[:index]
        del self._sets[:index]
        self._base = base

    def reset(self, base: Iterable[int]) -> None:
        self._base = frozenset(base)
        self._offsets.clear()
        self._sets.clear()
