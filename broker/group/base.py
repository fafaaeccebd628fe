"""State and helpers shared by the coordinator's parts (see
:mod:`broker.group.coordinator` for the theory of operation).

The coordinator is one object assembled from :class:`CoordinatorBase`,
:class:`~broker.group.membership.Membership` (JoinGroup, SyncGroup,
Heartbeat, LeaveGroup, rebalances) and :class:`~broker.group.offsets.Offsets`
(OffsetCommit, deletion, retention). A ``Persist`` the coordinator emits is
remembered here with what to do once the shell reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeAlias, Union

from broker.group.errors import ErrorCode
from broker.group.group import Group, Member, Waiter
from broker.group.responses import join_error
from broker.group.types import (
    CommittedOffset,
    Effect,
    GroupConfig,
    GroupInvariantError,
    GroupState,
    Persist,
    Record,
    Respond,
    T,
    TopicPartition,
)
from broker.wire.generated.delete_groups_response import DeleteGroupsResponse
from broker.wire.generated.group_metadata_value import GroupMetadataValue
from broker.wire.generated.offset_commit_request import OffsetCommitRequest
from broker.wire.generated.offset_delete_response import OffsetDeleteResponse

_S = GroupState
_E = ErrorCode


# What to do when a Persist is reported; one class per kind of write.


@dataclass(slots=True)
class SyncStored(Generic[T]):
    """The leader's assignment: on success the group becomes Stable."""

    group: Group[T]
    generation_id: int
    assignment: dict[str, bytes]


@dataclass(slots=True)
class StaticRejoinStored(Generic[T]):
    """A static member took a new member id without a rebalance."""

    group: Group[T]
    member: Member[T]
    waiter: Waiter[T]
    old_member_id: str
    instance_id: str
    old_protocols: list[tuple[str, bytes]]
    old_rebalance_timeout_ms: int
    old_session_timeout_ms: int
    leader_before: str | None


@dataclass(slots=True)
class OffsetsStored(Generic[T]):
    group: Group[T]
    token: T
    request: OffsetCommitRequest
    staged: dict[TopicPartition, CommittedOffset]
    too_large: set[TopicPartition]


@dataclass(slots=True)
class TombstonesStored(Generic[T]):
    """DeleteGroups or OffsetDelete: the response waits for the tombstones."""

    token: T
    response: DeleteGroupsResponse | OffsetDeleteResponse


@dataclass(slots=True)
class Unanswered:
    """A write nobody waits for (an emptied group, expired offsets)."""


Stored: TypeAlias = Union[  # noqa: UP007
    SyncStored[T], StaticRejoinStored[T], OffsetsStored[T], TombstonesStored[T], Unanswered
]


class CoordinatorBase(Generic[T]):
    def __init__(self, config: GroupConfig, new_member_suffix: Callable[[], str]) -> None:
        self.config = config
        self._new_member_suffix = new_member_suffix
        self._groups: dict[str, Group[T]] = {}
        self._stored: dict[int, Stored[T]] = {}
        self._next_persist_id = 1
        self._now_ms = 0
        self._next_retention_check_ms: int | None = None
        self._loading = True
        self._unloaded = False
        # Replay buffers, latest record per key wins (Kafka's loader).
        self._load_order: dict[str, None] = {}
        self._loaded_groups: dict[str, GroupMetadataValue | None] = {}
        self._loaded_offsets: dict[str, dict[TopicPartition, CommittedOffset]] = {}

    def _new_member_id(self, group: Group[T], prefix: str) -> str:
        for _ in range(100):
            candidate = f"{prefix}-{self._new_member_suffix()}"
            if candidate not in group.members and candidate not in group.pending_members:
                return candidate
        raise GroupInvariantError("new_member_suffix keeps repeating itself")

    def _persist(self, out: list[Effect[T]], records: list[Record], stored: Stored[T]) -> None:
        persist_id = self._next_persist_id
        self._next_persist_id += 1
        self._stored[persist_id] = stored
        out.append(Persist(persist_id, tuple(records)))

    def _answer_join(
        self, out: list[Effect[T]], waiter: Waiter[T], member_id: str, code: int
    ) -> None:
        out.append(Respond(waiter.token, join_error(waiter.version, member_id, code)))


def validate_member(group: Group[T], member_id: str, instance_id: str | None) -> int:
    """A static member's instance id must map to its member id (else it is
    fenced: another process took the instance over); the member must exist."""
    if instance_id is not None:
        current = group.static_members.get(instance_id)
        if current is None:
            return _E.UNKNOWN_MEMBER_ID
        if current != member_id:
            return _E.FENCED_INSTANCE_ID
    if member_id not in group.members:
        return _E.UNKNOWN_MEMBER_ID
    return _E.NONE
