"""The classic consumer-group coordinator (JoinGroup, SyncGroup, Heartbeat,
LeaveGroup, OffsetCommit/Fetch/Delete, List/Describe/DeleteGroups) as a
sans-I/O state machine, and its ``__consumer_offsets`` records.

See :mod:`broker.group.coordinator` for the theory of operation and
``docs/groups.md`` for the state machine, timers and records.
"""

from broker.group.coordinator import CoordinatorStatistics, GroupCoordinator
from broker.group.errors import ErrorCode
from broker.group.records import partition_for
from broker.group.responses import commit_response, offset_fetch_response
from broker.group.types import (
    CommittedOffset,
    Effect,
    GroupConfig,
    GroupInvariantError,
    GroupState,
    Persist,
    Record,
    Respond,
)
from broker.group.views import GroupSnapshot, MemberSnapshot

__all__ = [
    "CommittedOffset",
    "CoordinatorStatistics",
    "Effect",
    "ErrorCode",
    "GroupConfig",
    "GroupCoordinator",
    "GroupInvariantError",
    "GroupSnapshot",
    "GroupState",
    "MemberSnapshot",
    "Persist",
    "Record",
    "Respond",
    "commit_response",
    "offset_fetch_response",
    "partition_for",
]
