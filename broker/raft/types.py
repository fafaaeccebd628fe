"""Small value types shared by the Raft core's modules."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from broker.raft.log import Snapshot
from broker.raft.messages import Envelope, LogEntry


class RandomSource(Protocol):
    """The injected source of election-timeout jitter (``random.Random`` fits)."""

    def randrange(self, start: int, /) -> int: ...


class Role(enum.Enum):
    """KRaft's replica states (KIP-595, with KIP-996's Prospective)."""

    UNATTACHED = "unattached"
    PROSPECTIVE = "prospective"
    CANDIDATE = "candidate"
    LEADER = "leader"
    FOLLOWER = "follower"
    RESIGNED = "resigned"


class RaftInvariantError(Exception):
    """The core detected a broken Raft invariant: a bug, never a peer's error."""


@dataclass(frozen=True, slots=True)
class ElectionState:
    """What KRaft keeps in its quorum-state file; durable before any send."""

    epoch: int
    leader_id: int | None
    voted_for: int | None


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Timeouts are in ticks; the host decides how long a tick is."""

    election_timeout: int = 10
    """Base election timeout; each wait is uniform in [t, 2t)."""
    fetch_timeout: int = 15
    """A follower that has not heard from its leader this long starts an
    election; a leader that has not been fetched from by a majority for 1.5x
    this long resigns (check-quorum)."""
    fetch_backoff: int = 1
    """Ticks between fetches that returned nothing new."""
    request_timeout: int = 4
    """Ticks before an unanswered Fetch or FetchSnapshot is sent again."""
    begin_quorum_retry: int = 3
    max_fetch_records: int = 16
    max_snapshot_bytes: int = 1 << 20
    pre_vote: bool = True
    check_quorum: bool = True
    state_machine: bool = True
    """False for a data partition: the core applies nothing (``Ready.committed``
    stays empty) and only reports the high watermark; a follower below a log
    start that moved without a snapshot (retention, DeleteRecords) is reset
    with an empty snapshot at the leader's log start."""
    inject_bug: str = ""
    """Test-only mutants that show the checks bite (see docs/raft.md):
    "commit_old_epoch", "forget_vote", "live_ready",
    "prospective_follows_lost_leader", "ignore_log_start", ..."""


@dataclass(frozen=True, slots=True)
class ProposeResult:
    error_code: int
    offset: int
    epoch: int


@dataclass(slots=True)
class Ready:
    """What the host must do, in this order, before calling ``advance``:

    1. persist ``election_state`` if it is not None (the quorum-state file);
    2. flush the log through ``flush_offset`` if it is not None (an fsync
       that starts after ``ready()`` returned covers it);
    3. send ``messages``;
    4. apply ``installed_snapshot`` then ``committed`` to the state machine.

    The Ready owns its contents: the node keeps no reference to
    ``messages``, and the host may keep stepping and ticking the node while
    it works through the steps above.  Whatever those steps produce waits
    for the next Ready; ``advance()`` acknowledges only this one.
    """

    election_state: ElectionState | None
    flush_offset: int | None
    messages: list[Envelope]
    committed: list[LogEntry]
    installed_snapshot: Snapshot | None
    high_watermark: int


@dataclass(slots=True)
class ReplicaState:
    """The leader's view of one replica, rebuilt each epoch."""

    end_offset: int = 0
    last_fetch_tick: int = -(1 << 30)


@dataclass(slots=True)
class LeaderState:
    epoch_start_offset: int
    since_tick: int
    replicas: dict[int, ReplicaState] = field(default_factory=dict)
    begin_pending: set[int] = field(default_factory=set)
    next_begin_tick: int = 0
    transfer_target: int | None = None
    transfer_deadline: int = 0
