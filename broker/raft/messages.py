"""Per-partition KRaft messages spoken by the Raft core.

Theory of operation
-------------------
Kafka batches many partitions into one wire request (a Fetch names topics and
partitions; a Vote carries a list of topics with partitions).  The Raft core
replicates exactly one log, so it speaks *per-partition* messages: frozen,
slotted dataclasses whose names and fields follow KRaft's RPC schemas
(``VoteRequest``, ``BeginQuorumEpochRequest``, ``EndQuorumEpochRequest``,
``FetchRequest``, ``FetchSnapshotRequest`` and their responses).  A Trio driver
translates between these and the generated multi-partition wire messages, so
the same core later runs over real connections (see ``docs/raft.md``).

Every message travels inside an :class:`Envelope` carrying the source and
destination node ids and a ``correlation_id``.  That mirrors what the Kafka
connection layer provides (the peer of a connection, the request header's
correlation id): a response echoes the id of its request, which lets the core
ignore late or duplicated responses to requests it no longer waits for.

Error codes are Kafka's numeric codes; errors are data in responses, never
exceptions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Kafka error codes used by the Raft RPCs (values from Kafka's Errors.java).
NONE = 0
OFFSET_OUT_OF_RANGE = 1
NOT_LEADER_OR_FOLLOWER = 6
REQUEST_TIMED_OUT = 7
INVALID_REQUEST = 42
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75
INCONSISTENT_VOTER_SET = 94
SNAPSHOT_NOT_FOUND = 98
POSITION_OUT_OF_RANGE = 99
DUPLICATE_VOTER = 126
VOTER_NOT_FOUND = 127

NO_LEADER = -1
"""Kafka's sentinel for "leader unknown" in ``leader_id`` fields."""


class ControlKind(enum.IntEnum):
    """Kafka control record types the Raft layer writes (ControlRecordType)."""

    LEADER_CHANGE = 2
    KRAFT_VOTERS = 6


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One Raft log entry: in the real log, one record batch.

    ``epoch`` is the batch's partitionLeaderEpoch.  Control entries (leader
    change, voter set) carry ``control``; clients skip them.
    """

    offset: int
    epoch: int
    payload: bytes
    control: ControlKind | None = None


@dataclass(frozen=True, slots=True, order=True)
class OffsetAndEpoch:
    offset: int
    epoch: int


@dataclass(frozen=True, slots=True)
class SnapshotId:
    """A snapshot covers offsets below ``end_offset``; ``epoch`` is that of
    the last entry it covers."""

    end_offset: int
    epoch: int


@dataclass(frozen=True, slots=True)
class EpochEndOffset:
    """FetchResponse.DivergingEpoch: the leader's largest epoch not above the
    follower's LastFetchedEpoch, and where that epoch ends on the leader."""

    epoch: int
    end_offset: int


@dataclass(frozen=True, slots=True)
class LeaderIdAndEpoch:
    leader_id: int
    leader_epoch: int


@dataclass(frozen=True, slots=True)
class VoteRequest:
    candidate_epoch: int
    candidate_id: int
    voter_id: int
    last_offset_epoch: int
    last_offset: int
    pre_vote: bool


@dataclass(frozen=True, slots=True)
class VoteResponse:
    error_code: int
    leader_id: int
    leader_epoch: int
    vote_granted: bool


@dataclass(frozen=True, slots=True)
class BeginQuorumEpochRequest:
    leader_id: int
    leader_epoch: int
    voter_id: int


@dataclass(frozen=True, slots=True)
class BeginQuorumEpochResponse:
    error_code: int
    leader_id: int
    leader_epoch: int


@dataclass(frozen=True, slots=True)
class EndQuorumEpochRequest:
    leader_id: int
    leader_epoch: int
    preferred_successors: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EndQuorumEpochResponse:
    error_code: int
    leader_id: int
    leader_epoch: int


@dataclass(frozen=True, slots=True)
class FetchRequest:
    replica_id: int
    replica_epoch: int
    current_leader_epoch: int
    fetch_offset: int
    last_fetched_epoch: int
    log_start_offset: int
    max_records: int


@dataclass(frozen=True, slots=True)
class FetchResponse:
    error_code: int
    high_watermark: int
    log_start_offset: int
    current_leader: LeaderIdAndEpoch
    diverging_epoch: EpochEndOffset | None = None
    snapshot_id: SnapshotId | None = None
    records: tuple[LogEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchSnapshotRequest:
    replica_id: int
    current_leader_epoch: int
    snapshot_id: SnapshotId
    position: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class FetchSnapshotResponse:
    error_code: int
    current_leader: LeaderIdAndEpoch
    snapshot_id: SnapshotId
    size: int
    position: int
    unaligned_records: bytes


Message = (
    VoteRequest
    | VoteResponse
    | BeginQuorumEpochRequest
    | BeginQuorumEpochResponse
    | EndQuorumEpochRequest
    | EndQuorumEpochResponse
    | FetchRequest
    | FetchResponse
    | FetchSnapshotRequest
    | FetchSnapshotResponse
)

REQUEST_TYPES = (
    VoteRequest,
    BeginQuorumEpochRequest,
    EndQuorumEpochRequest,
    FetchRequest,
    FetchSnapshotRequest,
)


@dataclass(frozen=True, slots=True)
class Envelope:
    source: int
    destination: int
    correlation_id: int
    message: Message
